"""The README's sandbox example runs as written."""

import re
from pathlib import Path


def test_readme_sandbox_example_runs(capsys):
    text = (Path(__file__).resolve().parent.parent.parent / "README.md").read_text("utf-8")
    example = next(block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "Sandbox()" in block)
    exec(compile(example, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out == ["DEPOSITED", "['hold', 'deposit', 'hold', 'deposit']"]


def test_ci_runs_the_readme_docs_command_from_the_docs_extra_alone():
    root = Path(__file__).resolve().parent.parent.parent
    readme = (root / "README.md").read_text("utf-8")
    (command,) = re.findall(r'`(pip install "\.\[docs\]" && sphinx-build [^`]+)`', readme)
    ci = (root / ".ci" / "run").read_text("utf-8")
    step = ci[ci.index("the README's docs command"):]
    step = step[:step.index("\necho ")]
    assert 'python3 -m venv "$WORK/venv-docs"' in step and f"&& {command})" in step  # a venv of its own: no test extra


ROOT = Path(__file__).resolve().parent.parent.parent


def quick_start():
    text = (ROOT / "README.md").read_text("utf-8")
    return next(block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "sber-test" in block)


def test_the_docs_quick_start_is_the_readme_one():
    text = (ROOT / "docs" / "quickstart.rst").read_text("utf-8")
    block = text[text.index("In your code"):].split("::\n\n", 1)[1]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    assert "\n".join(lines).strip() == quick_start().strip()


def test_the_quick_start_runs_as_written_with_a_customer_who_pays(monkeypatch):
    from autopay_soap import ChargeOutcome
    from autopay_soap.sandbox import Sandbox, TestCards

    with Sandbox(username="shop-api", password="quick-start-pw") as sb:
        monkeypatch.setenv("RBS_PASSWORD", "quick-start-pw")
        monkeypatch.setenv("AUTOPAY_SOAP_URL", sb.soap_url)  # the sber-test profile, pointed at the sandbox
        printed = []

        def customer(*words):  # the snippet's print: the customer pays on the page it names
            printed.append(words)
            if words[0] == "send the customer to":
                assert sb.pay(words[1], TestCards.SUCCESS).paid

        names = {"print": customer}
        exec(compile(quick_start(), "README.md", "exec"), names)
        charged = sb.engine.charges_by_order_number()
        kept = sb.fiscal.receipts(sb.engine.order(order_number="SUB-42-0002").order_id)
    assert [words[0] for words in printed] == ["send the customer to"] and printed[0][1].startswith(sb.url)
    assert names["result"].outcome is ChargeOutcome.PAID and names["binding_id"]
    assert charged == {"SUB-42-0001": 1, "SUB-42-0002": 1}
    assert [(r["operation"], r["amount"]) for r in kept] == [("sell", 49900)]  # the receipt went with the charge


def test_the_quick_start_against_a_gateway_that_cannot_be_reached_raises_a_connect_error(monkeypatch):
    import socket

    import pytest

    from autopay_soap import ConnectError

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/payment/webservices/merchant-ws"
    monkeypatch.setenv("RBS_PASSWORD", "pw")
    monkeypatch.setenv("AUTOPAY_SOAP_URL", url)
    printed = []
    with pytest.raises(ConnectError) as refused:
        exec(compile(quick_start(), "README.md", "exec"), {"print": lambda *words: printed.append(words)})
    assert printed == []  # never "send the customer to None"
    assert f"could not connect to {url}: connection refused" in str(refused.value)
    assert "the request was not sent" in str(refused.value)
