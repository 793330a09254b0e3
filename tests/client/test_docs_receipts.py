"""docs/receipts.rst's snippet runs as written against a sandbox whose terminals fiscalise."""

import re
from pathlib import Path

from autopay_soap.sandbox import Sandbox, TestCards

CHAPTER = Path(__file__).resolve().parent.parent.parent / "docs" / "receipts.rst"


def snippet():
    text = CHAPTER.read_text("utf-8")
    block = re.search(r"\.\. code-block:: python\n\n(.*?)\n\n(?=\S)", text, re.S).group(1)
    return "\n".join(line[4:] for line in block.splitlines())


def test_the_receipts_chapter_runs_as_written(monkeypatch):
    with Sandbox(receipts_required=True) as sb:
        monkeypatch.setenv("SANDBOX_URL", sb.url)

        def customer(*words):  # the snippet's print: the customer pays on the page it names
            if words[0] == "send the customer to":
                assert sb.pay(words[1], TestCards.SUCCESS).paid

        names = {"print": customer}
        exec(compile(snippet(), str(CHAPTER), "exec"), names)
        order = sb.engine.order(order_number="ORDER-7")
        kept = [r["operation"] for r in sb.fiscal.receipts(order.order_id)]
        charges = sb.engine.charges_by_order_number()
    assert names["paid"].ok and charges == {"SUB-42-0001": 1, "SUB-42-0002": 1, "ORDER-7": 1}
    assert (order.deposited, order.refunded) == (100000, 100000) and kept == ["sell", "capture", "refund"]
