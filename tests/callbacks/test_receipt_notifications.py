"""T-Bank fiscal notifications (``Status=RECEIPT``): the sandbox sends one per registered receipt,
the receiver verifies, confirms and hands each to the handler as its own type; forged or shifted
ones are refused."""

import io
import json
import threading
from decimal import Decimal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from autopay_soap import Money, Receipt, ReceiptItem
from autopay_soap.callbacks import TBankCallbackApp, TBankPaymentNotification, TBankReceiptNotification
from autopay_soap.sandbox import Sandbox, TestCards
from autopay_soap.signing import make_token

from ..support.tbank import tbank_client

RUB = lambda text: Money.of(text, "RUB")  # noqa: E731


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def confirming_receiver():
    """The library's receiver, confirming each notification with the sandbox's gateway (set later)."""
    got, done = [], threading.Condition()

    def handler(note):
        with done:
            got.append(note)
            done.notify_all()

    holder = {}
    app = TBankCallbackApp(handler, password="sandbox-password", offline=True)
    server = make_server("127.0.0.1", 0, app, server_class=WSGIServer, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    holder.update(url=f"http://127.0.0.1:{server.server_port}/notify", got=got, app=app, done=done)
    yield holder
    server.shutdown()
    server.server_close()


def test_receipts_come_back_as_fiscal_notifications_confirmed_by_the_gateway(confirming_receiver):
    url, got, app = confirming_receiver["url"], confirming_receiver["got"], confirming_receiver["app"]
    receipt = Receipt([ReceiptItem("Коврик", RUB("1000.00"), tax="vat20"),
                       ReceiptItem("Доставка", RUB("250.00"), Decimal(2), tax="vat20", payment_object="service")],
                      taxation="osn", email="buyer@example.com")
    with Sandbox(receipts_required=True, callback_retry_interval=0.01) as sb:
        client = tbank_client(sb, notification_url=url)
        app.gateway, app.offline = client.gateway, False  # confirm each with GetState
        started = client.start_first_payment("FN-1", receipt.total, "fn-client", receipt=receipt)
        assert sb.pay(started.payment_url(), TestCards.TBANK_SUCCESS).paid
        client.refund(started.order_id, RUB("250.00"), receipt=receipt.part({2: 1}))
        assert sb.wait_for_callbacks(30)
        kept = [entry["number"] for entry in sb.fiscal.receipts(sb.tbank.payment_of(started.order_id))]
        client.close()
    receipts = [note for note in got if isinstance(note, TBankReceiptNotification)]
    payments = [note for note in got if isinstance(note, TBankPaymentNotification)]
    assert [note.fiscal_document_number for note in receipts] == [str(number) for number in kept]  # one numbering
    assert payments and [(r.receipt_type, r.amount, r.confirmed, r.success) for r in receipts] == [
        ("Income", 150000, True, True), ("IncomeReturn", 25000, True, True)]
    assert receipts[0].order_id == "FN-1" and receipts[0].receipt["Items"][1]["Quantity"] == 2
    assert receipts[0].details is not None and receipts[0].details.order_number == "FN-1"


def _call(app, body):
    raw = json.dumps(body).encode()
    seen = []
    answer = b"".join(app({"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)},
                          lambda status, headers: seen.append(status)))
    return seen[0], answer


def _fiscal(**changes):
    body = {"TerminalKey": "SandboxDEMO", "OrderId": "FN-2", "Success": True, "Status": "RECEIPT",
            "PaymentId": 7000000001, "ErrorCode": "0", "Amount": 1000, "FiscalNumber": 1, "ShiftNumber": 1,
            "FiscalDocumentNumber": 1, "FiscalDocumentAttribute": 1000001, "Type": "Income",
            "Receipt": {"Taxation": "osn", "Items": []}}
    body.update(changes)
    body.pop("Token", None)
    body["Token"] = make_token(body, "sandbox-password")
    return body


@pytest.mark.parametrize("forge", [
    lambda b: {**b, "Token": "0" * 64},  # not signed with the password
    lambda b: {**b, "Amount": 999999},  # shifted after signing
    lambda b: {**b, "Receipt": "a string"},  # the receipt must be an object
    lambda b: {k: x for k, x in _fiscal(Bogus="1").items()},  # a field T-Bank does not send
    lambda b: {k: x for k, x in _fiscal(FiscalNumber="x12").items()},  # digits where digits belong
])
def test_a_forged_or_shifted_fiscal_notification_is_refused(forge):
    got = []
    app = TBankCallbackApp(got.append, password="sandbox-password", offline=True)
    status, answer = _call(app, forge(_fiscal()))
    assert status == "403 Forbidden" and got == []


def test_a_fiscal_notification_for_more_than_the_payment_is_not_confirmed():
    with Sandbox(receipts_required=True) as sb:
        client = tbank_client(sb)
        receipt = Receipt.single_item("x", RUB("10.00"), tax="none", taxation="osn", email="a@b.ru")
        started = client.start_first_payment("FN-3", RUB("10.00"), "c", receipt=receipt)
        got = []
        app = TBankCallbackApp(got.append, password="sandbox-password", gateway=client.gateway)
        status, _ = _call(app, _fiscal(OrderId="FN-3", PaymentId=int(started.order_id), Amount=100000))
        fine, answer = _call(app, _fiscal(OrderId="FN-3", PaymentId=int(started.order_id), Amount=1000))
        client.close()
    assert status == "403 Forbidden"
    assert (fine, answer) == ("200 OK", b"OK") and len(got) == 1 and got[0].confirmed


def test_a_two_stage_payment_registers_its_sale_with_the_capture_receipt(confirming_receiver):
    url, got = confirming_receiver["url"], confirming_receiver["got"]
    receipt = Receipt([ReceiptItem("Коврик", RUB("1000.00"), tax="vat20"),
                       ReceiptItem("Доставка", RUB("250.00"), tax="vat20", payment_object="service")],
                      taxation="osn", email="buyer@example.com")
    with Sandbox(receipts_required=True, callback_retry_interval=0.01) as sb:
        client = tbank_client(sb, notification_url=url)
        held = client.start_first_payment("FN-4", receipt.total, "fn-client", receipt=receipt, two_stage=True)
        assert sb.pay(held.payment_url(), TestCards.TBANK_SUCCESS).paid
        client.capture(held.order_id, receipt=receipt.part({1: 1}))
        assert sb.wait_for_callbacks(30)
        client.close()
    receipts = [(note.receipt_type, note.amount) for note in got if isinstance(note, TBankReceiptNotification)]
    assert receipts == [("Income", 100000)]  # the part captured, once; the hold registers nothing
