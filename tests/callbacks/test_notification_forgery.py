"""Forged and shifted notifications, as an attacker who holds one genuine notification (but no
password) builds them: every one keeps a valid Token or checksum, and every one is refused.
Late genuine notifications are answered OK with the gateway's state of now."""

from __future__ import annotations

import io
import json

import pytest

from autopay_soap import Money
from autopay_soap.callbacks import (
    RbsCallbackApp,
    TBankCallbackApp,
    confirm_rbs_callback,
    verify_rbs_callback_offline,
)
from autopay_soap.client import AutopayClient
from autopay_soap.errors import CallbackVerificationError
from autopay_soap.gateways.rbs_rest import RbsRestGateway
from autopay_soap.sandbox import Sandbox, TestCards
from autopay_soap.signing import make_token, rbs_hmac_checksum

RUB = lambda text: Money.of(text, "RUB")  # noqa: E731


def post(app, body):
    raw = json.dumps(body).encode()
    seen = {}
    answer = b"".join(app({"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)},
                          lambda status, headers: seen.update(status=status)))
    return seen["status"], answer


@pytest.fixture(scope="module")
def tbank_world():
    """A paid parent payment ORDER-1001 of 12.34 RUB in the sandbox, and the genuine notification of it."""
    with Sandbox() as sb:
        client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport="tbank",
                                            return_url=sb.return_url)
        started = client.start_first_payment("ORDER-1001", RUB("12.34"), "cust-1")
        sb.pay(started.form_url, TestCards.SUCCESS)
        paid = client.finish_first_payment(order_id=started.order_id, client_id="cust-1")
        card = client.gateway.card_of_rebill("cust-1", paid.binding.binding_id)
        genuine = {"TerminalKey": sb.tbank_terminal_key, "OrderId": "ORDER-1001", "Success": True,
                   "Status": "CONFIRMED", "PaymentId": int(paid.order_id), "ErrorCode": "0", "Amount": 1234,
                   "CardId": int(card["CardId"]), "Pan": card["Pan"], "ExpDate": card["ExpDate"],
                   "RebillId": int(paid.binding.binding_id)}
        genuine["Token"] = make_token(genuine, sb.tbank_password)
        yield sb, client, genuine
        client.close()


def shifted(genuine, **changes):
    """A forgery: the genuine body with values moved; the Token is the genuine one, still valid."""
    forged = {k: v for k, v in genuine.items() if k not in changes or changes[k] is not None}
    forged.update({k: v for k, v in changes.items() if v is not None})
    assert make_token({k: v for k, v in forged.items() if k != "Token"}, "x") == \
        make_token({k: v for k, v in genuine.items() if k != "Token"}, "x"), "not a token-preserving shift"
    return forged


def forgeries(genuine):
    card, rebill, pid = str(genuine["CardId"]), str(genuine["RebillId"]), str(genuine["PaymentId"])
    return {
        "OrderId ORDER-1001 -> ORDER-100 with OrderIdx=1": shifted(genuine, OrderId="ORDER-100", OrderIdx="1"),
        "Amount 1234 -> 1234d taking CardId's first digit": shifted(genuine, Amount=int(f"1234{card[0]}"),
                                                                    CardId=card[1:]),
        "PaymentId taking a digit of RebillId": shifted(genuine, PaymentId=pid + rebill[0], RebillId=rebill[1:]),
        "Status emptied into RebillId": shifted(genuine, RebillId=rebill + "CONFIRMED", Status=""),
        "Status emptied into Success": shifted(genuine, Status="", Success="CONFIRMEDtrue"),
    }


def test_the_genuine_notification_is_confirmed_and_handed_over(tbank_world):
    sb, client, genuine = tbank_world
    got = []
    app = TBankCallbackApp(got.append, password=sb.tbank_password, gateway=client.gateway)
    assert post(app, genuine) == ("200 OK", b"OK")
    assert got[0].confirmed and got[0].status == "CONFIRMED" and got[0].details.amount == RUB("12.34")


@pytest.mark.parametrize("name", ["OrderId ORDER-1001 -> ORDER-100 with OrderIdx=1",
                                  "Amount 1234 -> 1234d taking CardId's first digit",
                                  "PaymentId taking a digit of RebillId", "Status emptied into RebillId",
                                  "Status emptied into Success"])
def test_every_token_preserving_forgery_is_refused(tbank_world, name, caplog):
    sb, client, genuine = tbank_world
    forged = forgeries(genuine)[name]
    got = []
    app = TBankCallbackApp(got.append, password=sb.tbank_password, gateway=client.gateway)
    status, body = post(app, forged)
    assert status == "403 Forbidden" and body != b"OK" and got == []
    assert "refused a T-Bank notification" in caplog.text
    assert sb.tbank_password not in caplog.text


def test_a_late_notification_is_genuine_and_the_handler_gets_the_state_of_now(tbank_world):
    sb, client, genuine = tbank_world
    late = {k: v for k, v in genuine.items() if k != "Token"}
    late.update(Status="AUTHORIZED")  # sent before the capture, delivered after it
    late["Token"] = make_token(late, sb.tbank_password)
    got = []
    app = TBankCallbackApp(got.append, password=sb.tbank_password, gateway=client.gateway)
    assert post(app, late) == ("200 OK", b"OK")
    assert (got[0].claimed_status, got[0].status, got[0].confirmed) == ("AUTHORIZED", "CONFIRMED", True)


def test_a_receiver_must_confirm_or_say_offline():
    from autopay_soap.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        TBankCallbackApp(lambda n: None, password="pw")
    assert info.value.field == "gateway"
    with pytest.raises(ValidationError):
        RbsCallbackApp(lambda n: None, secret="s")


def test_an_oversized_or_lying_body_is_refused_before_reading():
    app = TBankCallbackApp(lambda n: None, password="pw", offline=True)
    seen = []
    for length in ("-1", "abc", str(10 * 1024 * 1024)):
        app({"REQUEST_METHOD": "POST", "CONTENT_LENGTH": length, "wsgi.input": io.BytesIO(b"{}")},
            lambda status, headers: seen.append(status))
    assert len(seen) == 3 and all(status.startswith("413") for status in seen)


# -- RBS -------------------------------------------------------------------------------------------

SECRET = "ooc7slpvc61k7sf7ma7p4hrefr"
GENUINE = {"mdOrder": "06cf5599-3f17-7c86-bdbc-bd7d00a8b38b", "operation": "approved", "orderNumber": "2003",
           "status": "1"}


@pytest.mark.parametrize("forged", [
    {"mdOrder": "06cf5599-3f17-7c86-bdbc-bd7d00a8b38b;operation;approved", "orderNumber": "2003", "status": "1"},
    {"mdOrder": "06cf5599-3f17-7c86-bdbc-bd7d00a8b38b", "operation": "approved;orderNumber;2003", "status": "1"},
])
def test_a_semicolon_cannot_merge_two_rbs_parameters(forged):
    checksum = rbs_hmac_checksum(GENUINE, SECRET)
    assert rbs_hmac_checksum(forged, SECRET) == checksum  # the framing alone would accept it
    with pytest.raises(CallbackVerificationError, match="framing"):
        verify_rbs_callback_offline({**forged, "checksum": checksum}, secret=SECRET)


def test_a_repeated_rbs_parameter_is_refused():
    params = {k: [v] for k, v in GENUINE.items()}
    params["checksum"] = [rbs_hmac_checksum(GENUINE, SECRET)]
    assert verify_rbs_callback_offline(params, secret=SECRET).order_number == "2003"
    params["status"] = ["1", "0"]
    with pytest.raises(CallbackVerificationError, match="2 times"):
        verify_rbs_callback_offline(params, secret=SECRET)


def test_rbs_confirmation_refuses_a_claimed_amount_and_reports_the_state_of_now(sb):
    gw = RbsRestGateway(sb.rest_url, sb.username, sb.password)
    order = gw.register_order("RBS-1", RUB("10.00"), sb.return_url)
    sb.pay(order.form_url, TestCards.INSUFFICIENT_FUNDS)  # declined
    claim = {"mdOrder": order.order_id, "orderNumber": "RBS-1", "operation": "deposited", "status": "1",
             "amount": "1000"}
    note = verify_rbs_callback_offline({**claim, "checksum": rbs_hmac_checksum(claim, SECRET)}, secret=SECRET)
    assert note.is_payment and not note.confirmed  # what the claim says
    confirmed = confirm_rbs_callback(note, gw)
    assert confirmed.confirmed and not confirmed.is_payment and confirmed.details.status.name == "DECLINED"
    bigger = dict(claim, amount="100000")
    note = verify_rbs_callback_offline({**bigger, "checksum": rbs_hmac_checksum(bigger, SECRET)}, secret=SECRET)
    with pytest.raises(CallbackVerificationError, match="amount"):
        confirm_rbs_callback(note, gw)
    other = dict(claim, orderNumber="RBS-2")
    note = verify_rbs_callback_offline({**other, "checksum": rbs_hmac_checksum(other, SECRET)}, secret=SECRET)
    with pytest.raises(CallbackVerificationError, match="order number"):
        confirm_rbs_callback(note, gw)
    gw.close()


def test_an_sbp_account_notification_is_confirmed_and_a_shifted_token_refused(tbank_world):
    sb, client, _ = tbank_world
    qr = client.bind_sbp_account("Подписка")
    sb.sbp_bind(qr.request_key)
    account = client.sbp_account(qr.request_key)
    genuine = {"TerminalKey": sb.tbank_terminal_key, "RequestKey": qr.request_key,
               "AccountToken": account.account_token, "BankMemberId": account.bank_member_id,
               "NotificationType": "LINKACCOUNT", "Success": True, "ErrorCode": "0", "Status": "ACTIVE"}
    genuine["Token"] = make_token(genuine, sb.tbank_password)
    got = []
    app = TBankCallbackApp(got.append, password=sb.tbank_password, gateway=client.gateway)
    assert post(app, genuine) == ("200 OK", b"OK")
    assert got[0].confirmed and got[0].account_token == account.account_token
    # AccountToken and BankMemberId are neighbours in the Token: move a character across
    forged = shifted(genuine, AccountToken=account.account_token[:-1],
                     BankMemberId=account.account_token[-1] + account.bank_member_id)
    assert post(app, forged)[0] == "403 Forbidden" and len(got) == 1


def test_the_rbs_receiver_refuses_an_oversized_post_and_retries_when_the_gateway_is_down():
    from urllib.parse import urlencode

    from autopay_soap.errors import ConnectError

    class Down:
        def order_status(self, **kwargs):
            raise ConnectError("gateway unreachable")

    app = RbsCallbackApp(lambda n: None, secret=SECRET, gateway=Down())
    seen = []
    huge = b"a=" + b"1" * (70 * 1024)
    app({"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(huge)), "wsgi.input": io.BytesIO(huge)},
        lambda status, headers: seen.append(status))
    body = urlencode({**GENUINE, "checksum": rbs_hmac_checksum(GENUINE, SECRET)}).encode()
    app({"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)},
        lambda status, headers: seen.append(status))
    assert seen[0].startswith("413") and seen[1].startswith("500")
