"""docs/saving-cards.rst's snippet runs as written on every transport of the sandbox."""

import re
from pathlib import Path

import pytest

from autopay_soap.sandbox import TestCards

CHAPTER = Path(__file__).resolve().parent.parent.parent / "docs" / "saving-cards.rst"


def snippet():
    text = CHAPTER.read_text("utf-8")
    block = re.search(r"\.\. code-block:: python\n\n(.*?)\n\n(?=\S)", text, re.S).group(1)
    return "\n".join(line[4:] for line in block.splitlines())


@pytest.mark.parametrize("transport", ["soap", "rest", "tbank"])
def test_the_saving_cards_chapter_runs_as_written(sandbox, monkeypatch, transport):
    monkeypatch.setenv("SANDBOX_URL", sandbox.url)
    monkeypatch.setenv("TRANSPORT", transport)
    printed = []

    def customer(*words):  # the snippet's print: the customer saves the card on the page it names
        printed.append(words)
        if words[0] == "send the customer to":
            assert sandbox.pay(words[1], TestCards.SUCCESS_3DS).paid

    exec(compile(snippet(), str(CHAPTER), "exec"), {"print": customer})
    assert printed[-1] == ("paid", TestCards.SUCCESS_3DS.masked_pan.replace("**", "******" if transport == "tbank"
                                                                                  else "**"), "203012")
    assert sandbox.engine.charges_by_order_number() == {"SUB-7-0001": 1}
    assert [(m.kind, m.amount) for m in sandbox.ledger()][-2:] == [("hold", 29900), ("deposit", 29900)]
