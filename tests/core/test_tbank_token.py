"""T-Bank's Token, initiator types and error codes, checked before sending and on the wire."""

import hashlib
import itertools
import json

import pytest
import responses

from autopay_soap.errors import (
    AccessDenied,
    BadResponse,
    BindingStateError,
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
    error_for_tbank_code,
    make_token,
    token_value,
)

from ..support.tbank import API, RUB, V1, V3, V3_TOKEN, post, signed, tbank_client


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
