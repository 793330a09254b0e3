"""T-Bank notifications: the Token vector, the receiver's exact OK, and the sandbox's deliveries."""

import threading
from wsgiref.simple_server import WSGIServer, make_server

import pytest

from autopay_soap.callbacks import (
    TBankCallbackApp,
    TBankPaymentNotification,
    verify_tbank_notification_offline,
)
from autopay_soap.errors import (
    CallbackVerificationError,
)
from autopay_soap.gateways.tbank import (
    make_token,
)
from autopay_soap.sandbox import Sandbox, TestCards

from ..support import QuietHandler
from ..support.tbank import RUB, V3, V3_TOKEN, _wsgi, card_binding, tbank_client


def test_notification_vector_verifies_and_tampering_is_refused():
    payload = dict(V3, Token=V3_TOKEN)
    note = verify_tbank_notification_offline(payload, "Dfsfh56dgKl")
    assert isinstance(note, TBankPaymentNotification)
    assert (note.payment_id, note.status, note.rebill_id, note.amount, note.success) == \
        ("8742591", "AUTHORIZED", "101709", 9855, True)
    with pytest.raises(CallbackVerificationError):
        verify_tbank_notification_offline(dict(payload, Amount=98550), "Dfsfh56dgKl")
    with pytest.raises(CallbackVerificationError):
        verify_tbank_notification_offline({k: x for k, x in payload.items() if k != "Token"}, "Dfsfh56dgKl")
    with pytest.raises(CallbackVerificationError, match="another terminal"):
        verify_tbank_notification_offline(payload, "Dfsfh56dgKl", terminal_key="OtherDEMO")
    # a field T-Bank adds later is refused until admitted (a field of its own could shift the values)
    extended = dict(V3, NewField="x")
    with pytest.raises(CallbackVerificationError, match="NewField"):
        verify_tbank_notification_offline(dict(extended, Token=make_token(extended, "pw")), "pw")
    admitted = verify_tbank_notification_offline(dict(extended, Token=make_token(extended, "pw")), "pw",
                                                 extra_keys=["NewField"])
    assert admitted.status == "AUTHORIZED" and not admitted.confirmed


def test_the_receiver_answers_exactly_ok():
    got = []
    app = TBankCallbackApp(got.append, password="Dfsfh56dgKl", offline=True)
    assert _wsgi(app, dict(V3, Token=V3_TOKEN)) == ("200 OK", b"OK")
    assert _wsgi(app, dict(V3, Token=V3_TOKEN, Status="CONFIRMED"))[0] == "403 Forbidden"
    assert _wsgi(app, b"not json")[0] == "403 Forbidden"
    assert len(got) == 1 and got[0].status == "AUTHORIZED"

    def failing(note):
        raise RuntimeError("database down")

    assert _wsgi(TBankCallbackApp(failing, password="Dfsfh56dgKl", offline=True),
                 dict(V3, Token=V3_TOKEN))[0].startswith("500")


@pytest.mark.sandbox(callback_retry_interval=0.01)
def test_sandbox_notifications_carry_the_rebill_id_and_verify(receiver, sb):
    url, got = receiver
    client = tbank_client(sb, notification_url=url)
    result = card_binding(sb, client, two_stage=True)
    client.capture(result.order_id)
    client.gateway.cancel(client.start_first_payment("FP-C", RUB("5.00"), "cust-1").order_id)
    declined = client.start_first_payment("FP-D", RUB("5.00"), "cust-1")
    sb.pay(declined.form_url, TestCards.TBANK_INSUFFICIENT_FUNDS)
    assert sb.wait_for_callbacks()
    assert [(n.status, n.success, n.error_code) for n in got] == [
        ("AUTHORIZED", True, "0"), ("CONFIRMED", True, "0"), ("CANCELED", False, "1012"),
        ("REJECTED", False, "1051")]
    got = got[:2]
    assert {n.rebill_id for n in got} == {result.binding.binding_id}
    assert got[0].customer_key == "cust-1" and got[0].amount == 10000
    assert all(d["status"] == 200 and d["delivered"] and d["attempts"] == 1 for d in sb.callbacks)


def test_a_notification_answered_without_ok_is_sent_again():
    """HTTP 200 is not enough: T-Bank (and the sandbox) want the body ``OK``."""
    def almost(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Received"]

    server = make_server("127.0.0.1", 0, almost, server_class=WSGIServer, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with Sandbox(callback_retry_interval=0.01) as sb:
            client = tbank_client(sb, notification_url=f"http://127.0.0.1:{server.server_port}/n")
            card_binding(sb, client)
            assert sb.wait_for_callbacks()
            sent = sb.callbacks
    finally:
        server.shutdown()
        server.server_close()
    assert [(d["status"], d["delivered"], d["attempts"]) for d in sent] == [(200, False, 3)]
