"""docs/django.rst, docs/flask.rst and docs/asgi.rst run as written: a genuine RBS callback and a
genuine T-Bank notification reach ``grant_access`` through each framework's own test client."""

import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest

from autopay_soap import Money
from autopay_soap.client import AutopayClient
from autopay_soap.sandbox import Sandbox, TestCards
from autopay_soap.signing import make_token, rbs_hmac_checksum

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"
SECRET = "docs-callback-secret"


def snippet(page):
    text = (DOCS / page).read_text("utf-8")
    block = re.search(r"\.\. code-block:: python\n\n(.*?)\n\n(?=\S)", text, re.S).group(1)
    return "\n".join(line[3:] for line in block.splitlines())


@pytest.fixture
def paid(monkeypatch):
    """A sandbox with a paid RBS order and a paid T-Bank payment; the settings the pages read."""
    with Sandbox() as sb:
        monkeypatch.setenv("AUTOPAY_PROFILE", "sandbox")
        monkeypatch.setenv("AUTOPAY_SANDBOX_URL", sb.url)
        monkeypatch.setenv("RBS_CALLBACK_SECRET", SECRET)
        monkeypatch.setenv("TBANK_TERMINAL_PASSWORD", sb.tbank_password)
        with AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url) as rbs:
            started = rbs.start_first_payment("DOC-RBS", Money.of("3.00", "RUB"), "doc-cust")
            sb.pay(started.form_url, TestCards.SUCCESS)
            claim = {"mdOrder": started.order_id, "orderNumber": "DOC-RBS", "operation": "deposited", "status": "1",
                     "amount": "300"}
        with AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport="tbank",
                                        return_url=sb.return_url) as tbank:
            begun = tbank.start_first_payment("DOC-T", Money.of("4.00", "RUB"), "doc-cust-t")
            sb.pay(begun.form_url, TestCards.TBANK_SUCCESS)
        note = {"TerminalKey": sb.tbank_terminal_key, "OrderId": "DOC-T", "Success": True, "Status": "CONFIRMED",
                "PaymentId": int(begun.order_id), "ErrorCode": "0", "Amount": 400}
        note["Token"] = make_token(note, sb.tbank_password)
        yield urlencode({**claim, "checksum": rbs_hmac_checksum(claim, SECRET)}), json.dumps(note).encode()


def run_page(page):
    granted = []
    names = {"grant_access": granted.append, "__name__": "docs_app"}
    exec(compile(snippet(page), str(DOCS / page), "exec"), names)
    return names, granted


def test_the_django_page(paid):
    from .. import django_urls

    django_urls.configure()
    from django.test import Client

    query, body = paid
    names, granted = run_page("django.rst")
    django_urls.use(names["urlpatterns"])
    client = Client(enforce_csrf_checks=True)
    assert client.get("/callbacks/rbs?" + query).content == b"OK"
    assert client.post("/callbacks/tbank", data=body, content_type="application/json").content == b"OK"
    assert granted == ["DOC-RBS", "DOC-T"]


def test_the_flask_page(paid):
    query, body = paid
    names, granted = run_page("flask.rst")
    client = names["app"].test_client()
    assert client.get("/callbacks/rbs", query_string=query).data == b"OK"
    assert client.post("/callbacks/tbank", data=body, content_type="application/json").data == b"OK"
    assert granted == ["DOC-RBS", "DOC-T"]


def test_the_asgi_page(paid):
    from starlette.testclient import TestClient

    query, body = paid
    names, granted = run_page("asgi.rst")
    client = TestClient(names["app"])
    assert client.get("/callbacks/rbs/?" + query).content == b"OK"
    assert client.post("/callbacks/tbank/", content=body, headers={"content-type": "application/json"}).content \
        == b"OK"
    assert granted == ["DOC-RBS", "DOC-T"]


def test_the_watching_page_hook_runs_as_written(monkeypatch, sb):
    monkeypatch.setenv("AUTOPAY_PROFILE", "sandbox")
    monkeypatch.setenv("AUTOPAY_SANDBOX_URL", sb.url)
    names = {}
    exec(compile(snippet("observability.rst"), str(DOCS / "observability.rst"), "exec"), names)
    client = names["client"]
    from autopay_soap.observe import ROW, Event

    names["watch"](Event(ROW, "charge", "soap", 0.0, 0.1, "declined", "SUB-1", decline_kind="soft"))
    names["watch"](Event("exchange", "order_status", "soap", 0.0, 3.5, "ok", "SUB-2"))
    assert names["declined"] == [("SUB-1", "soft")] and names["slow"] == [("soap", "order_status", "SUB-2")]
    assert client.events == (names["watch"],)
    client.close()


def test_the_migrating_page_escape_hatch_runs_as_written(monkeypatch, sb):
    monkeypatch.setenv("AUTOPAY_PROFILE", "sandbox")
    monkeypatch.setenv("AUTOPAY_SANDBOX_URL", sb.url)
    with AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url) as client:
        started = client.start_first_payment("MIGRATE-1", Money.of("7.00", "RUB"), "m-cust")
        sb.pay(started.form_url, TestCards.SUCCESS)
    printed = []
    names = {"ORDER_ID": started.order_id, "print": lambda *words: printed.append(words)}
    exec(compile(snippet("migrating.rst"), str(DOCS / "migrating.rst"), "exec"), names)
    names["client"].close()
    assert printed == [("MIGRATE-1", 2, 700)]
