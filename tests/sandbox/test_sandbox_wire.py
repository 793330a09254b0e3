"""The sandbox on the wire, as other people's clients speak to it: raw HTTP, no client of ours.

Every T-Bank answer in every test is also checked against the published answer schemas
(``tests/support/tbank_schema.py``, through ``conftest.py``).
"""

import json

import pytest
import requests
from lxml import etree

from autopay_soap.sandbox import Sandbox, TestCards
from autopay_soap.signing import make_token
from autopay_soap.wsdl_bundle import MERCHANT_NS

from ..support.wire import envelope, rest, tbank


@pytest.fixture
def sb():
    with Sandbox() as sandbox:
        yield sandbox


def first_payment(sb, number="W-1", client="wire-client"):
    """A paid first payment over plain REST; its order id and the binding it created."""
    first = rest(sb, "register", orderNumber=number, amount="10100", currency="643", returnUrl=sb.return_url,
                 clientId=client)
    sb.pay(first["formUrl"], TestCards.SUCCESS)
    status = rest(sb, "getOrderStatusExtended", orderId=first["orderId"])
    return first["orderId"], status["bindingInfo"]["bindingId"]


# -- RBS ------------------------------------------------------------------------------------------


def test_rest_get_bindings_takes_an_empty_binding_id_as_absent_and_honours_binding_type(sb):
    _, binding = first_payment(sb)
    for params in ({}, {"bindingId": ""}, {"bindingType": ""}, {"bindingType": "C"}, {"bindingId": binding}):
        answer = rest(sb, "getBindings", clientId="wire-client", **params)
        assert answer["errorCode"] == "0", params
        assert [b["bindingId"] for b in answer["bindings"]] == [binding]
        assert answer["bindings"][0]["bindingCategory"] == "COMMON"
    assert rest(sb, "getBindings", clientId="wire-client", bindingType="R")["errorCode"] == "2"
    assert rest(sb, "getBindings", clientId="wire-client", bindingType="I")["errorCode"] == "2"
    wrong = rest(sb, "getBindings", clientId="wire-client", bindingType="X")
    assert wrong["errorCode"] == "5" and "bindingType" in wrong["errorMessage"]


def soap(sb, operation, inner):
    answer = requests.post(sb.soap_url, data=envelope(sb, operation, inner).encode(),
                           headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)
    return etree.fromstring(answer.content).find(f".//{{{MERCHANT_NS}}}{operation}Response/return")


def test_soap_get_bindings_takes_an_empty_binding_id_as_absent(sb):
    _, binding = first_payment(sb)
    for attrs in ('clientId="wire-client" showExpired="false"',
                  'clientId="wire-client" bindingId="" showExpired="false"'):
        ret = soap(sb, "getBindings", f"<request {attrs}/>")
        assert ret.get("errorCode") == "0", attrs
        assert [b.get("bindingId") for b in ret.iter("binding")] == [binding]


def test_rest_card_auth_info_carries_pan_and_masked_pan(sb):
    order_id, _ = first_payment(sb)
    card = rest(sb, "getOrderStatusExtended", orderId=order_id)["cardAuthInfo"]
    assert card["pan"] == card["maskedPan"] and "**" in card["pan"]


def test_an_unknown_order_cannot_be_read_as_a_created_one(sb):
    ret = soap(sb, "getOrderStatus", '<order orderId="00000000-0000-0000-0000-000000000000"/>')
    assert ret.get("errorCode") == "6" and ret.get("orderStatus") == "-1"  # required by the WSDL, and no status
    legacy = rest(sb, "getOrderStatus", orderId="00000000-0000-0000-0000-000000000000")
    assert legacy["ErrorCode"] == legacy["errorCode"] == "6" and "OrderStatus" not in legacy


# -- T-Bank ---------------------------------------------------------------------------------------


def raw_tbank(sb, method, data, content_type="application/json"):
    answer = requests.post(sb.tbank_url + method, data=data, headers={"Content-Type": content_type}, timeout=10)
    return answer.status_code, answer.json()


@pytest.mark.parametrize("data", [
    b"{not json", b"[1, 2, 3]", b'"a string"', b"\xff\xfe",
    json.dumps({"TerminalKey": "SandboxDEMO", "Amount": 12.34, "OrderId": "F-1", "Token": "x"}).encode(),
    json.dumps({"TerminalKey": "SandboxDEMO", "Amount": 1000, "OrderId": {"nested": 1}, "Token": "x"}).encode(),
    json.dumps({"TerminalKey": "SandboxDEMO", "Amount": 1000, "OrderId": "F-1", "DATA": "not an object",
                "Token": "x"}).encode(),
    json.dumps({"TerminalKey": ["SandboxDEMO"], "Amount": 1000, "OrderId": "F-1", "Token": "x"}).encode(),
    json.dumps({"Amount": 1000, "OrderId": "F-1", "Token": "x"}).encode(),
    json.dumps({"TerminalKey": "SandboxDEMO", "Amount": 1000, "OrderId": "F-1"}).encode(),
    json.dumps({"TerminalKey": "SandboxDEMO", "Amount": 1000, "OrderId": "F-1", "Token": 12345}).encode(),
])
def test_a_malformed_init_gets_a_t_bank_error_answer_not_a_reset(sb, data):
    status, answer = raw_tbank(sb, "Init", data)
    assert status == 200 and answer["Success"] is False
    assert answer["ErrorCode"] not in ("", "0") and isinstance(answer["ErrorCode"], str) and answer["Message"]
    assert sb.engine.orders() == []


@pytest.mark.parametrize("fields", [
    {"Amount": "abc", "OrderId": "F-2"}, {"Amount": True, "OrderId": "F-2"}, {"Amount": -5, "OrderId": "F-2"},
    {"Amount": 1000, "OrderId": ""}, {"Amount": 1000, "OrderId": "F-2", "PayType": "X"},
    {"Amount": 1000, "OrderId": "F-2", "RedirectDueDate": "tomorrow"},
])
def test_wrong_values_with_a_valid_token_get_an_error_answer(sb, fields):
    answer = tbank(sb, "Init", fields)
    assert answer["Success"] is False and answer["ErrorCode"] != "0" and answer["Message"]
    assert sb.engine.orders() == []


def test_error_answers_echo_what_the_sandbox_knows(sb):
    init = tbank(sb, "Init", {"Amount": 5000, "OrderId": "E-1"})
    payment = init["PaymentId"]
    confirm = tbank(sb, "Confirm", {"PaymentId": payment})  # nothing to confirm yet
    assert confirm["Success"] is False and confirm["ErrorCode"] == "8"
    assert (confirm["PaymentId"], confirm["OrderId"], confirm["Amount"], confirm["Status"]) == (payment, "E-1",
                                                                                                5000, "NEW")
    charge = tbank(sb, "Charge", {"PaymentId": payment, "RebillId": "999999"})
    assert charge["Success"] is False and (charge["OrderId"], charge["Amount"]) == ("E-1", 5000)
    state = tbank(sb, "GetState", {"PaymentId": "123"})
    assert state["Success"] is False and state["ErrorCode"] == "255" and state["PaymentId"] == "123"
    assert (state["OrderId"], state["Amount"], state["Status"]) == ("", 0, "UNKNOWN")  # required by its schema
    forged = tbank(sb, "GetState", {"PaymentId": payment, "Token": "forged"}, sign=False)  # tells nothing of it
    assert forged["ErrorCode"] == "204" and (forged["OrderId"], forged["Amount"], forged["Status"]) == ("", 0,
                                                                                                        "UNKNOWN")
    customer = tbank(sb, "GetCustomer", {"CustomerKey": "nobody"})
    assert customer["ErrorCode"] == "7" and customer["CustomerKey"] == "nobody"
    tbank(sb, "Cancel", {"PaymentId": payment})  # NEW → CANCELED
    cancel = tbank(sb, "Cancel", {"PaymentId": payment})
    assert cancel["Success"] is False and cancel["ErrorCode"] == "8"
    assert (cancel["OrderId"], cancel["Status"], cancel["OriginalAmount"], cancel["NewAmount"]) == (
        "E-1", "CANCELED", 5000, 5000)
    check = tbank(sb, "CheckOrder", {"OrderId": "no-such-order"})
    assert check["Success"] is False and check["OrderId"] == "no-such-order" and check["Payments"] == []


def test_a_declined_charge_echoes_order_and_amount(sb):
    parent = tbank(sb, "Init", {"Amount": 1000, "OrderId": "D-1", "CustomerKey": "dc", "Recurrent": "Y"})
    sb.pay(parent["PaymentURL"], TestCards.RECURRING_INSUFFICIENT)
    rebill = tbank(sb, "GetState", {"PaymentId": parent["PaymentId"]})
    cards = requests.post(sb.tbank_url + "GetCardList", json={
        "TerminalKey": sb.tbank_terminal_key, "CustomerKey": "dc",
        "Token": make_token({"TerminalKey": sb.tbank_terminal_key, "CustomerKey": "dc"}, sb.tbank_password)},
        timeout=10).json()
    assert rebill["Status"] == "CONFIRMED" and cards and cards[0]["RebillId"]
    child = tbank(sb, "Init", {"Amount": 2500, "OrderId": "D-2", "DATA": {"OperationInitiatorType": "R"}})
    declined = tbank(sb, "Charge", {"PaymentId": child["PaymentId"], "RebillId": cards[0]["RebillId"]})
    assert declined["Success"] is False and declined["ErrorCode"] == "1051" and declined["Status"] == "REJECTED"
    assert (declined["PaymentId"], declined["OrderId"], declined["Amount"]) == (child["PaymentId"], "D-2", 2500)
