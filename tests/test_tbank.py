"""T-Bank: the Token, initiator-type rules, error mapping, notifications, PCI flows, SBP, terminals."""

import hashlib
import itertools
import json
import re
import threading
from urllib.parse import urljoin
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
import responses

from autopay_soap import Money
from autopay_soap.callbacks import (
    TBankAccountNotification,
    TBankCallbackApp,
    TBankPaymentNotification,
    verify_tbank_notification_offline,
)
from autopay_soap.client import AutopayClient, ChargeOutcome
from autopay_soap.errors import (
    AccessDenied,
    BadResponse,
    BindingStateError,
    CallbackVerificationError,
    DuplicateOrderNumber,
    GatewaySystemError,
    HTTPStatusError,
    InvalidOrderState,
    InvalidRequest,
    OrderNotFound,
    PaymentDeclined,
    ValidationError,
)
from autopay_soap.gateways.tbank import (
    TBankGateway,
    check_initiator,
    encrypt_card_data,
    error_for_tbank_code,
    make_token,
    token_value,
)
from autopay_soap.retry import RetryPolicy
from autopay_soap.sandbox import SANDBOX_CARD_KEY_PEM, FaultPlan, Sandbox, TBankTerminal, TestCards
from autopay_soap.sandbox.faults import FAULT_KINDS

from .conftest import no_wait
from .ledger import assert_exactly_once

RUB = lambda text: Money.of(text, "RUB")  # noqa: E731
API = "https://tbank.test/v2/"

# -- the Token (facts §2.2) ---------------------------------------------------------------------

V1 = {"TerminalKey": "MerchantTerminalKey", "Amount": 19200, "OrderId": "21090",
      "Description": "Подарочная карта на 1000 рублей", "DATA": {"Phone": "+71234567890", "Email": "a@test.com"},
      "Receipt": {"Email": "a@test.com", "Taxation": "osn", "Items": [{"Name": "x", "Amount": 19200}]}}
V3 = {"TerminalKey": "1321054611234DEMO", "OrderId": "201709", "Success": True, "Status": "AUTHORIZED",
      "PaymentId": 8742591, "ErrorCode": "0", "Amount": 9855, "CardId": 322264, "Pan": "430000******0777",
      "ExpDate": "1122", "RebillId": 101709}
V3_TOKEN = "b906d28e76c6428e37b25fcf86c0adc52c63d503013fdd632e300593d165766b"


def test_token_vectors_of_the_facts():
    assert make_token(V1, "usaf8fw8fsw21g") == "0024a00af7c350a3a67ca168ce06502aa72772456662e38696d48b56ee9c97d9"
    assert make_token(dict(V1, OrderId="00000"), "1" * 14) == \
        "72dd466f8ace0a37a1f740ce5fb78101712bc0665d91a8108c7c8a0ccd426db2"
    assert make_token(V3, "Dfsfh56dgKl") == V3_TOKEN


def test_token_renders_values_like_the_gateway():
    assert [token_value(x) for x in (True, False, 19200, "Y")] == ["true", "false", "19200", "Y"]
    with pytest.raises(ValidationError) as info:
        make_token({"Amount": 100.0}, "p")
    assert info.value.field == "Amount"
    # nested objects, None and an old Token never enter; every root scalar does (Recurrent, DataType...)
    base = {"TerminalKey": "T", "Amount": 1}
    assert make_token(dict(base, DATA={"QR": "true"}, Shops=[{"x": 1}], Token="old", Email=None), "p") == \
        make_token(base, "p")
    expected = hashlib.sha256("1pYT".encode()).hexdigest()
    assert make_token(dict(base, Recurrent="Y"), "p") == expected


@responses.activate
def test_the_token_is_computed_from_exactly_the_body_sent():
    responses.post(API + "Init", json={"Success": True, "ErrorCode": "0", "TerminalKey": "T1", "Status": "NEW",
                                       "PaymentId": "3093639567", "OrderId": "O-1", "Amount": 1000,
                                       "PaymentURL": "https://securepay.tinkoff.ru/new/abc"})
    gw = TBankGateway("T1", "secret-pw", base_url=API, notification_url="https://shop.test/notify")
    order = gw.register_order("O-1", RUB("10.00"), "https://shop.test/ok", client_id="cust-1", two_stage=True,
                              description="Подписка", session_timeout_secs=3600)
    assert order.order_id == "3093639567" and order.form_url.endswith("/new/abc")
    body = json.loads(responses.calls[0].request.body)
    assert body["Token"] == make_token(body, "secret-pw")
    assert body["Recurrent"] == "Y" and body["CustomerKey"] == "cust-1" and body["PayType"] == "T"
    assert body["DATA"] == {"OperationInitiatorType": "1"} and body["Amount"] == 1000
    assert body["NotificationURL"] == "https://shop.test/notify" and "RedirectDueDate" in body
    assert "Password" not in body and "secret-pw" not in responses.calls[0].request.body.decode()
    assert responses.calls[0].request.headers["Content-Type"] == "application/json"


# -- the operation initiator type (facts §6.2) ------------------------------------------------------

TABLE = {  # type: (Recurrent in Init, RebillId in Charge, allowed on AFT, allowed on ECOM)
    "0": (False, False, True, True), "1": (True, False, True, True), "2": (False, True, False, True),
    "R": (False, True, False, True), "I": (False, True, True, False),
}


@pytest.mark.parametrize("initiator, recurrent, rebill, terminal",
                         list(itertools.product(["0", "1", "2", "R", "I", "X", "3"], [True, False], [True, False],
                                                ["ECOM", "AFT"])))
def test_every_initiator_combination_follows_the_table(initiator, recurrent, rebill, terminal):
    row = TABLE.get(initiator)
    allowed = row is not None and row[0] == recurrent and row[1] == rebill and row[2 if terminal == "AFT" else 3]
    if allowed:
        assert check_initiator(initiator, recurrent=recurrent, rebill=rebill, terminal_type=terminal) == initiator
        return
    with pytest.raises(ValidationError) as info:
        check_initiator(initiator, recurrent=recurrent, rebill=rebill, terminal_type=terminal)
    message = str(info.value)
    assert info.value.field == "initiator"
    if row is None:
        assert "1125" in message and "0, 1, 2, R, I" in message
    else:  # the message names the rule that is broken
        assert "1126" in message
        assert any(rule in message for rule in ("Recurrent=Y", "RebillId", "AFT terminal", "ECOM terminal"))


@pytest.fixture
def sandbox():
    with Sandbox(callback_retry_interval=0.01) as sb:
        yield sb


def tbank_client(sb, **settings):
    return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport="tbank", return_url=sb.return_url,
                                      sleep=no_wait, **settings)


def card_binding(sb, client, number="FP-1", customer="cust-1", card=TestCards.TBANK_SUCCESS, **kwargs):
    started = client.start_first_payment(number, RUB("100.00"), customer, **kwargs)
    sb.pay(started.form_url, card)
    return client.finish_first_payment(order_id=started.order_id, client_id=customer)


@pytest.mark.parametrize("initiator, terminal_type", [("0", "ECOM"), ("1", "ECOM"), ("I", "ECOM"), ("R", "AFT"),
                                                      ("2", "AFT"), ("Z", "ECOM")])
def test_the_facade_never_sends_an_invalid_initiator(sandbox, initiator, terminal_type):
    client = tbank_client(sandbox, terminal_type=terminal_type)
    with pytest.raises(ValidationError) as info:
        client.autopay("AP-1", RUB("10.00"), binding_id="123", initiator=initiator)
    assert info.value.field == "initiator" and ("1126" in str(info.value) or "1125" in str(info.value))
    with pytest.raises(ValidationError):
        client.start_first_payment("FP-9", RUB("10.00"), "cust-1", initiator="R")  # a parent payment is type 1
    assert sandbox.engine.orders() == []


def test_charging_a_parent_payment_is_refused_before_sending(sandbox):
    gw = tbank_client(sandbox).gateway
    parent = gw.init("P-1", RUB("10.00"), customer_key="c1", recurrent=True, initiator="1")
    with pytest.raises(ValidationError, match="Recurrent=Y"):
        gw.charge(parent["PaymentId"], "12345")
    plain = gw.init("P-2", RUB("10.00"), initiator="0")
    with pytest.raises(ValidationError, match="cannot be charged"):
        gw.charge(plain["PaymentId"], "12345")


def signed(sb, body, terminal=None):
    terminal = terminal or sb.tbank_terminals[0]
    body = dict(body, TerminalKey=terminal.key)
    body["Token"] = make_token(body, terminal.password)
    return body


def post(sb, method, body):
    return requests.post(sb.tbank_url + method, json=body, timeout=5).json()


def test_the_sandbox_answers_1125_1126_and_the_token_codes_like_the_gateway(sandbox):
    assert post(sandbox, "Init", signed(sandbox, {"Amount": 100, "OrderId": "S-1",
                                                  "DATA": {"OperationInitiatorType": "9"}}))["ErrorCode"] == "1125"
    assert post(sandbox, "Init", signed(sandbox, {"Amount": 100, "OrderId": "S-2", "Recurrent": "Y",
                                                  "CustomerKey": "c", "DATA": {"OperationInitiatorType": "R"}})
                )["ErrorCode"] == "1126"
    assert post(sandbox, "Init", signed(sandbox, {"Amount": 100, "OrderId": "S-3",
                                                  "DATA": {"OperationInitiatorType": "I"}}))["ErrorCode"] == "1126"
    bad = signed(sandbox, {"Amount": 100, "OrderId": "S-4"})
    bad["Amount"] = 1  # tampered after signing
    assert post(sandbox, "Init", bad)["ErrorCode"] == "204"
    assert post(sandbox, "Init", {"TerminalKey": "Nobody", "Token": "x", "Amount": 1, "OrderId": "S-5"}
                )["ErrorCode"] == "501"
    ok = post(sandbox, "Init", signed(sandbox, {"Amount": 100, "OrderId": "S-6",
                                                "DATA": {"OperationInitiatorType": "0"}}))
    assert ok["Success"] is True and ok["Status"] == "NEW" and ok["PaymentURL"].startswith(sandbox.url + "/new/")
    assert [o.order_number for o in sandbox.engine.orders()] == ["S-6"]


def test_wrong_password_is_access_denied(sandbox):
    client = tbank_client(sandbox, password="wrong")
    with pytest.raises(AccessDenied) as info:
        client.start_first_payment("FP-1", RUB("1.00"), "cust-1")
    assert info.value.gateway_code == 204 and "wrong" not in str(info.value)


# -- error mapping --------------------------------------------------------------------------------

@pytest.mark.parametrize("code, error", [
    (204, AccessDenied), (205, AccessDenied), (20, DuplicateOrderNumber), (255, OrderNotFound),
    (7, BindingStateError), (3014, BindingStateError), (3015, BindingStateError), (8, InvalidOrderState),
    (3037, InvalidOrderState), (10, InvalidRequest), (1125, InvalidRequest), (1126, InvalidRequest),
    (212, InvalidRequest), (1051, PaymentDeclined), (104, PaymentDeclined), (262, PaymentDeclined),
    (3013, PaymentDeclined), (5060, PaymentDeclined), (9999, GatewaySystemError), (3, GatewaySystemError),
    (4242, GatewaySystemError),
])
def test_error_codes_map_by_meaning(code, error):
    exc = error_for_tbank_code(code, "msg", operation="Charge", order_id="1")
    assert type(exc) is error and exc.gateway_code == code and exc.operation == "Charge"
    if code == 10:
        assert "disabled for this terminal" in str(exc)


@responses.activate
def test_odd_replies_are_classified():
    gw = TBankGateway("T1", "pw", base_url=API)
    responses.post(API + "GetState", status=403, body="<html>Forbidden</html>")
    with pytest.raises(HTTPStatusError, match="allow-list"):
        gw.get_state("1")
    responses.replace(responses.POST, API + "GetState", status=502, body="bad gateway")
    with pytest.raises(BadResponse):
        gw.get_state("1")
    responses.replace(responses.POST, API + "GetState", body="{not json")
    with pytest.raises(BadResponse):
        gw.get_state("1")
    responses.post(API + "GetCardList", json=[{"CardId": "5", "Pan": "220077******7761", "Status": "A",
                                               "RebillId": "777", "CardType": 0, "ExpDate": "1230"},
                                              {"CardId": "6", "Pan": "220138******0013", "Status": "A",
                                               "RebillId": "", "CardType": 0, "ExpDate": "1230"}])
    cards = gw.bindings("cust")
    assert [(b.binding_id, b.expiry, b.masked_pan) for b in cards] == [("777", "203012", "220077******7761")]
    responses.post(API + "Charge", json={"Success": False, "ErrorCode": "1051", "Status": "REJECTED",
                                         "Message": "Недостаточно средств", "PaymentId": "9"})
    with pytest.raises(PaymentDeclined) as info:
        gw.pay_with_binding("9", "777")
    assert info.value.action_code == 1051


# -- notifications -----------------------------------------------------------------------------------

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


def _wsgi(app, body):
    import io

    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    seen = {}

    def start_response(status, headers):
        seen["status"] = status

    answer = b"".join(app({"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(raw)),
                           "wsgi.input": io.BytesIO(raw)}, start_response))
    return seen["status"], answer


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


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    """A loopback notification receiver: the library's own WSGI app behind wsgiref."""
    got = []
    done = threading.Condition()

    def handler(note):
        with done:
            got.append(note)
            done.notify_all()

    app = TBankCallbackApp(handler, password="sandbox-password", offline=True)  # the sandbox's claims as sent
    server = make_server("127.0.0.1", 0, app, server_class=WSGIServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/notify", got
    server.shutdown()
    server.server_close()


def test_sandbox_notifications_carry_the_rebill_id_and_verify(receiver):
    url, got = receiver
    with Sandbox(callback_retry_interval=0.01) as sb:
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


# -- PCI DSS: CardData and 3-D Secure ----------------------------------------------------------------

def test_card_data_is_encrypted_and_never_shown():
    data = encrypt_card_data(SANDBOX_CARD_KEY_PEM, pan="2200770239097761", expiry="1230", cvv="123")
    assert "2200770239097761" not in data and len(data) == 344  # 2048-bit RSA in base64
    assert data != encrypt_card_data(SANDBOX_CARD_KEY_PEM, pan="2200770239097761", expiry="1230", cvv="123")
    with pytest.raises(ValidationError) as info:
        encrypt_card_data(SANDBOX_CARD_KEY_PEM, pan="2200770239097761", expiry="13/30", cvv="123")
    assert info.value.field == "expiry" and "2200770239097761" not in str(info.value)


def _card(card):
    month, year = card.expiry.split("/")
    return encrypt_card_data(SANDBOX_CARD_KEY_PEM, pan=card.pan, expiry=month + year, cvv=card.cvc)


def test_pci_parent_payment_without_3ds(sandbox):
    gw = tbank_client(sandbox).gateway
    init = gw.init("PCI-1", RUB("10.00"), customer_key="c1", recurrent=True, initiator="1")
    assert gw.check_3ds_version(init["PaymentId"], _card(TestCards.TBANK_SUCCESS))["Version"] == "1.0.0"
    paid = gw.finish_authorize(init["PaymentId"], _card(TestCards.TBANK_SUCCESS), ip="127.0.0.1")
    assert paid["Status"] == "CONFIRMED" and paid["RebillId"] and paid["CardId"]
    assert [b.binding_id for b in gw.bindings("c1")] == [paid["RebillId"]]


def _acs(sb, acs_url, md, pa_req, term_url, code):
    page = requests.get(acs_url, params={"MD": md, "PaReq": pa_req, "TermUrl": term_url}, timeout=5).text
    action = re.search(r'<form id="acs" method="post" action="([^"]+)"', page).group(1)
    answer = requests.post(urljoin(acs_url, action), data={"MD": md, "PaReq": pa_req, "TermUrl": term_url,
                                                           "code": code}, timeout=5).text
    return dict(re.findall(r"name='(MD|PaRes)' value='([^']*)'", answer))


def test_pci_3ds_v1_challenge_then_submit(sandbox):
    gw = tbank_client(sandbox).gateway
    init = gw.init("PCI-2", RUB("10.00"), customer_key="c1", recurrent=True, initiator="1")
    card = TestCards.TBANK_3DS_CHALLENGE
    assert gw.check_3ds_version(init["PaymentId"], _card(card))["Version"] == "2.1.0"
    step = gw.finish_authorize(init["PaymentId"], _card(card))
    assert step["Status"] == "3DS_CHECKING" and step["ACSUrl"] and step["MD"] and step["PaReq"]
    posted = _acs(sandbox, step["ACSUrl"], step["MD"], step["PaReq"], "https://shop.test/term", card.three_ds_code)
    done = gw.submit_3ds_authorization(posted["MD"], posted["PaRes"], init["PaymentId"])
    assert done["Status"] == "CONFIRMED" and done["RebillId"]
    # a wrong code at the ACS: rejected
    init = gw.init("PCI-3", RUB("10.00"), customer_key="c1", recurrent=True, initiator="1")
    step = gw.finish_authorize(init["PaymentId"], _card(card))
    posted = _acs(sandbox, step["ACSUrl"], step["MD"], step["PaReq"], "https://shop.test/term", "000000")
    with pytest.raises(PaymentDeclined) as info:
        gw.submit_3ds_authorization(posted["MD"], posted["PaRes"], init["PaymentId"])
    assert info.value.action_code == 101
    assert sandbox.engine.charges_by_order_number() == {"PCI-2": 1}


def test_pci_3ds_v2_submit_waits_for_the_challenge(sandbox):
    gw = tbank_client(sandbox).gateway
    init = gw.init("PCI-4", RUB("10.00"), two_stage=True)
    card = TestCards.TBANK_3DS_CHALLENGE
    step = gw.finish_authorize(init["PaymentId"], _card(card),
                               data={"cresCallbackUrl": "https://shop.test/cres", "threeDSCompInd": "Y"})
    assert step["Status"] == "3DS_CHECKING" and step["TdsServerTransId"] and step["AcsTransId"]
    with pytest.raises(GatewaySystemError, match="RReq not found"):
        gw.submit_3ds_authorization_v2(init["PaymentId"])
    _acs(sandbox, step["ACSUrl"], step["AcsTransId"], "", "https://shop.test/cres", card.three_ds_code)
    assert gw.submit_3ds_authorization_v2(init["PaymentId"])["Status"] == "AUTHORIZED"


# -- card autopayments: terminals and options --------------------------------------------------------

def test_charge_disabled_on_the_terminal_is_error_10(sandbox):
    sandbox.tbank_terminals[0].charge_enabled = False
    client = tbank_client(sandbox)
    binding = card_binding(sandbox, client).binding.binding_id
    with pytest.raises(InvalidRequest) as info:
        client.autopay("AP-1", RUB("10.00"), binding_id=binding)
    assert info.value.gateway_code == 10 and "enable" in str(info.value)
    assert "AP-1" not in sandbox.engine.charges_by_order_number()


def test_installment_initiator_on_an_aft_terminal(sandbox):
    sandbox.tbank_terminals[0].terminal_type = "AFT"
    client = tbank_client(sandbox, terminal_type="AFT")
    binding = card_binding(sandbox, client).binding.binding_id
    assert client.gateway.default_initiator == "I"
    assert client.autopay("AP-I", RUB("10.00"), binding_id=binding).outcome is ChargeOutcome.PAID


def test_repeat_runs_and_3037_never_charge_twice(sandbox):
    client = tbank_client(sandbox)
    binding = card_binding(sandbox, client).binding.binding_id
    first = client.autopay("AP-1", RUB("10.00"), binding_id=binding, initiator="2")
    again = client.autopay("AP-1", RUB("10.00"), binding_id=binding, initiator="2")  # Init answers 20, found
    assert first.outcome is again.outcome is ChargeOutcome.PAID and again.order_id == first.order_id
    with pytest.raises(InvalidOrderState):
        client.gateway.charge(first.order_id, binding)  # already CONFIRMED: error 8
    assert sandbox.engine.charges_by_order_number()["AP-1"] == 1


def test_two_merchants_and_a_second_terminal():
    terminals = [TBankTerminal("ShopADEMO", "pa", merchant="m1"), TBankTerminal("ShopBDEMO", "pb", merchant="m1"),
                 TBankTerminal("OtherDEMO", "po", merchant="m2")]
    with Sandbox(tbank_terminals=terminals) as sb:
        a = tbank_client(sb, terminal_key="ShopADEMO", password="pa")
        b = tbank_client(sb, terminal_key="ShopBDEMO", password="pb")
        other = tbank_client(sb, terminal_key="OtherDEMO", password="po")
        qr = a.bind_sbp_account("Подписка")
        sb.sbp_bind(qr.request_key, terminal_key="ShopADEMO")
        token = a.sbp_account(qr.request_key).account_token
        # the account bound on terminal A is charged from terminal B of the same merchant (seed 004)
        assert b.autopay("B-1", RUB("15.00"), account_token=token).outcome is ChargeOutcome.PAID
        with pytest.raises(BindingStateError) as info:  # another merchant: 3014
            other.autopay("O-1", RUB("15.00"), account_token=token)
        assert info.value.gateway_code == 3014
        # a card RebillId belongs to the terminal of its parent payment
        rebill = card_binding(sb, a).binding.binding_id
        with pytest.raises(BindingStateError):
            b.autopay("B-2", RUB("15.00"), binding_id=rebill)
        assert set(sb.engine.charges_by_order_number()) == {"B-1", "FP-1"}


# -- SBP ---------------------------------------------------------------------------------------------

def test_sbp_binding_before_a_payment_notifies_the_terminal_url(receiver):
    url, got = receiver
    terminal = TBankTerminal("SandboxDEMO", "sandbox-password", notification_url=url)
    with Sandbox(tbank_terminals=[terminal], callback_retry_interval=0.01) as sb:
        client = tbank_client(sb, notification_url=url + "?from=init")
        qr = client.bind_sbp_account("Подписка на журнал")
        assert qr.data.startswith("https://qr.nspk.ru/") and client.sbp_account(qr.request_key).status == "NEW"
        sb.sbp_bind(qr.request_key)
        account = client.sbp_account(qr.request_key)
        assert account.active and account.account_token and account.bank_member_id
        paid = client.autopay("SBP-1", RUB("99.00"), account_token=account.account_token)
        assert paid.outcome is ChargeOutcome.PAID and paid.details.gateway_status == "CONFIRMED"
        assert sb.wait_for_callbacks()
        links = [n for n in got if isinstance(n, TBankAccountNotification)]
        assert [(n.status, n.account_token) for n in links] == [("ACTIVE", account.account_token)]
        account_posts = [d["url"] for d in sb.callbacks if "RequestKey" in d["params"]]
        payment_posts = [d["url"] for d in sb.callbacks if "PaymentId" in d["params"]]
        assert account_posts == [url] and payment_posts == [url + "?from=init"]
        for wrong in ({"two_stage": True}, {"initiator": "R"}):
            with pytest.raises(ValidationError) as info:
                client.autopay("SBP-2", RUB("99.00"), account_token=account.account_token, **wrong)
            assert info.value.field == next(iter(wrong))
        assert "SBP-2" not in [o.order_number for o in sb.engine.orders()]  # refused before the Init
        assert [m.kind for m in sb.ledger()] == ["hold", "deposit"]


def test_sbp_binding_after_a_payment(sandbox):
    client = tbank_client(sandbox)
    with pytest.raises(ValidationError) as info:
        client.start_first_payment("SBP-F0", RUB("100.00"), sbp=True)
    assert info.value.field == "description"
    started = client.start_first_payment("SBP-F1", RUB("100.00"), sbp=True, description="Подписка")
    assert started.outcome is ChargeOutcome.PENDING and started.sbp_request_key
    assert started.form_url.startswith("https://qr.nspk.ru/")
    assert client.status(order_id=started.order_id).gateway_status == "FORM_SHOWED"
    sandbox.sbp_pay(started.order_id)
    assert client.finish_first_payment(order_id=started.order_id).outcome is ChargeOutcome.PAID
    token = client.sbp_account(started.sbp_request_key).account_token
    assert client.autopay("SBP-A1", RUB("50.00"), account_token=token).ok
    with pytest.raises(InvalidOrderState) as info:  # ChargeQr twice on one payment: 3037
        client.gateway.charge_qr(client.status(order_number="SBP-A1").order_id, token)
    assert info.value.gateway_code == 3037
    assert sandbox.engine.charges_by_order_number() == {"SBP-F1": 1, "SBP-A1": 1}


def test_sbp_rejected_binding_and_declined_account(sandbox):
    client = tbank_client(sandbox)
    rejected = client.start_first_payment("SBP-R", RUB("100.00"), sbp=True, description="x")
    sandbox.sbp_pay(rejected.order_id, rejected=True)
    assert client.finish_first_payment(order_id=rejected.order_id).outcome is ChargeOutcome.DECLINED
    assert client.sbp_account(rejected.sbp_request_key).status == "INACTIVE"
    expired = client.start_first_payment("SBP-E", RUB("100.00"), sbp=True, description="x")
    sandbox.sbp_pay(expired.order_id, deadline_expired=True)
    assert client.status(order_id=expired.order_id).gateway_status == "DEADLINE_EXPIRED"
    qr = client.bind_sbp_account("x")
    sandbox.sbp_bind(qr.request_key, insufficient_funds=True)
    result = client.autopay("SBP-D", RUB("10.00"), account_token=client.sbp_account(qr.request_key).account_token)
    assert result.outcome is ChargeOutcome.DECLINED and result.action_code == 5060
    pending = client.bind_sbp_account("x")
    with pytest.raises(BindingStateError) as info:  # no such token: 3014
        client.autopay("SBP-N", RUB("10.00"), account_token="no-such-token")
    assert info.value.gateway_code == 3014 and client.sbp_account(pending.request_key).status == "NEW"
    assert sandbox.engine.charges_by_order_number() == {}


# -- exactly once under faults -------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("method", ["card", "sbp"])
def test_200_autopayments_with_faults_on_init_charge_and_chargeqr(method):
    """Every fault kind on Init, Charge/ChargeQr and the look-ups: no double and no lost charge."""
    per_kind = 0.3 / len(FAULT_KINDS)
    with Sandbox(callback_retry_interval=0.01) as sb:
        client = tbank_client(sb, timeout=0.4)
        client.retry = RetryPolicy(attempts=8)
        if method == "card":
            good = {"binding_id": card_binding(sb, client).binding.binding_id}
            bad = {"binding_id": card_binding(sb, client, "FP-2", "cust-2", TestCards.RECURRING_INSUFFICIENT)
                   .binding.binding_id}
        else:
            tokens = []
            for flag in (False, True):
                qr = client.bind_sbp_account("Подписка")
                sb.sbp_bind(qr.request_key, insufficient_funds=flag)
                tokens.append(client.sbp_account(qr.request_key).account_token)
            good, bad = {"account_token": tokens[0]}, {"account_token": tokens[1]}
        plan = FaultPlan(seed=5, slow_seconds=0.6)
        for operation in ("Init", "Charge" if method == "card" else "ChargeQr", "GetState", "CheckOrder"):
            for kind in FAULT_KINDS:
                plan.add(operation, kind, per_kind)
        sb.faults = plan
        results = [client.autopay(f"AP-{i:04d}", RUB("12.00"), **(bad if i % 10 == 0 else good)) for i in range(200)]
        sb.faults = None
        assert_exactly_once(f"tbank {method}", results, sb, plan, client)


def test_a_notification_answered_without_ok_is_sent_again():
    """HTTP 200 is not enough: T-Bank (and the sandbox) want the body ``OK``."""
    def almost(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Received"]

    server = make_server("127.0.0.1", 0, almost, server_class=WSGIServer, handler_class=_Quiet)
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


def test_operation_results_use_one_vocabulary_on_every_transport():
    with Sandbox() as sb:
        results = {}
        for transport in ("rest", "tbank"):
            client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport=transport,
                                                return_url=sb.return_url)
            first = client.start_first_payment(f"VOC-{transport}", Money.of("10.00", "RUB"), "voc", two_stage=True)
            sb.pay(first.form_url, TestCards.TBANK_SUCCESS if transport == "tbank" else TestCards.SUCCESS)
            gateway = client.gateway
            results[transport] = [gateway.deposit(first.order_id).operation,
                                  gateway.refund(first.order_id, Money.of("1.00", "RUB"),
                                                 external_refund_id="voc-1").operation]
            client.close()
    assert results["rest"] == results["tbank"] == ["deposit", "refund"]
