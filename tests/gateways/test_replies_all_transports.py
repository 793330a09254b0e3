"""One wire-reply suite over the three transports: every documented status and error code means
the same status, exception and outcome on SOAP, REST and T-Bank.

Each case is a meaning ("order not found", "credentials refused"...) written once, with the
reply each gateway's documentation gives for it; the gateway under test sees only that reply
(``responses``), never the sandbox, so a bug shared by a gateway and the sandbox cannot hide.
"""

from __future__ import annotations

import json

import pytest
import responses

from autopay_soap import (
    AccessDenied,
    BadResponse,
    DuplicateOrderNumber,
    GatewaySystemError,
    InvalidOrderState,
    Money,
    OrderNotFound,
    OrderStatus,
)
from autopay_soap.gateways.rbs_rest import RbsRestGateway
from autopay_soap.gateways.rbs_soap import RbsSoapGateway
from autopay_soap.gateways.tbank import TBankGateway

from ..support import soap_reply

SOAP_URL = "https://gw.test/payment/webservices/merchant-ws"
REST_URL = "https://gw.test/payment/rest/"
TBANK_URL = "https://tb.test/v2/"
TRANSPORTS = ["soap", "rest", "tbank"]
RUB = Money.of("10.00", "RUB")
ORDER = "5f1d2c3b-0000-4000-8000-000000000001"
PAYMENT = "7000000042"


def gateway(transport):
    if transport == "soap":
        return RbsSoapGateway(SOAP_URL, "shop-api", "pw")
    if transport == "rest":
        return RbsRestGateway(REST_URL, "shop-api", "pw")
    return TBankGateway("ShopDEMO", "pw", base_url=TBANK_URL)


def answer(rs, transport, method, body, status=200):
    """Serve ``body`` for the gateway's ``method`` (the SOAP operation, the REST method, the T-Bank method)."""
    if transport == "soap":
        text = soap_reply(method, body) if body.startswith("<return") else body
        rs.add(responses.POST, SOAP_URL, body=text, status=status, content_type="text/xml")
    elif transport == "rest":
        rs.add(responses.POST, f"{REST_URL}{method}.do", body=body if isinstance(body, str) else json.dumps(body),
               status=status, content_type="application/json")
    else:
        rs.add(responses.POST, f"{TBANK_URL}{method}", body=body if isinstance(body, str) else json.dumps(body),
               status=status, content_type="application/json")


# -- statuses -----------------------------------------------------------------------------------

RBS_CODE = {OrderStatus.CREATED: 0, OrderStatus.APPROVED: 1, OrderStatus.DEPOSITED: 2, OrderStatus.REVERSED: 3,
            OrderStatus.REFUNDED: 4, OrderStatus.DECLINED: 6}
TBANK_WORD = {OrderStatus.CREATED: "NEW", OrderStatus.APPROVED: "AUTHORIZED", OrderStatus.DEPOSITED: "CONFIRMED",
              OrderStatus.REVERSED: "REVERSED", OrderStatus.REFUNDED: "REFUNDED", OrderStatus.DECLINED: "REJECTED"}
AMOUNTS = {OrderStatus.CREATED: (0, 0, 0), OrderStatus.APPROVED: (1000, 0, 0), OrderStatus.DEPOSITED: (1000, 1000, 0),
           OrderStatus.REVERSED: (1000, 0, 0), OrderStatus.REFUNDED: (1000, 1000, 1000),
           OrderStatus.DECLINED: (0, 0, 0)}


def status_reply(transport, status):
    approved, deposited, refunded = AMOUNTS[status]
    if transport == "soap":
        return "getOrderStatusExtended", (
            f'<return errorCode="0" orderNumber="N-1" orderStatus="{RBS_CODE[status]}" amount="1000" '
            f'currency="643"><paymentAmountInfo paymentState="{status.name}" approvedAmount="{approved}" '
            f'depositedAmount="{deposited}" refundedAmount="{refunded}"/></return>')
    if transport == "rest":
        return "getOrderStatusExtended", {
            "errorCode": "0", "orderNumber": "N-1", "orderStatus": RBS_CODE[status], "amount": 1000,
            "currency": "643", "paymentAmountInfo": {"paymentState": status.name, "approvedAmount": approved,
                                                     "depositedAmount": deposited, "refundedAmount": refunded}}
    return "GetState", {"Success": True, "ErrorCode": "0", "TerminalKey": "ShopDEMO", "Status": TBANK_WORD[status],
                        "PaymentId": PAYMENT, "OrderId": "N-1", "Amount": 1000}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("status", list(RBS_CODE))
def test_every_status_means_the_same_on_every_transport(transport, status):
    gw = gateway(transport)
    method, body = status_reply(transport, status)
    with responses.RequestsMock() as rs:
        answer(rs, transport, method, body)
        details = gw.order_status(order_id=PAYMENT if transport == "tbank" else ORDER)
    gw.close()
    assert details.status is status
    assert details.amount == RUB and details.order_number == "N-1"
    assert details.is_paid is (status in (OrderStatus.APPROVED, OrderStatus.DEPOSITED))


# -- refusals -----------------------------------------------------------------------------------

def rbs_error(transport, operation, code, message):
    if transport == "soap":
        return operation, f'<return errorCode="{code}" errorMessage="{message}"/>'
    return operation, {"errorCode": str(code), "errorMessage": message}


def tbank_error(method, code, message, **fields):
    return method, {"Success": False, "ErrorCode": str(code), "TerminalKey": "ShopDEMO", "Message": message,
                    "Details": "", **fields}


CASES = {
    # meaning: (exception, call, {transport: (method, reply)})
    "order not found": (OrderNotFound, "status", {
        "soap": rbs_error("soap", "getOrderStatusExtended", 6, "Заказ не найден"),
        "rest": rbs_error("rest", "getOrderStatusExtended", 6, "Order not found"),
        "tbank": tbank_error("GetState", 255, "Платеж не найден", PaymentId=PAYMENT)}),
    "credentials refused": (AccessDenied, "status", {
        "soap": rbs_error("soap", "getOrderStatusExtended", 5, "Access denied"),
        "rest": rbs_error("rest", "getOrderStatusExtended", 5, "Access denied"),
        "tbank": tbank_error("GetState", 204, "Неверный токен. Проверьте пару TerminalKey/SecretKey.")}),
    "order number already used": (DuplicateOrderNumber, "register", {
        "soap": rbs_error("soap", "registerOrder", 1, "Order with this number was already processed"),
        "rest": rbs_error("rest", "register", 1, "Order with this number was already processed"),
        "tbank": tbank_error("Init", 20, "Ошибка: дублирование идентификатора заказа")}),
    "wrong state for a capture": (InvalidOrderState, "deposit", {
        "soap": rbs_error("soap", "depositOrder", 7, "Payment must be in a correct state"),
        "rest": rbs_error("rest", "deposit", 7, "Payment must be in a correct state"),
        "tbank": tbank_error("Confirm", 8, "Неверный статус транзакции", PaymentId=PAYMENT, Status="NEW")}),
    "system error": (GatewaySystemError, "status", {
        "soap": rbs_error("soap", "getOrderStatusExtended", 7, "System error"),
        "rest": rbs_error("rest", "getOrderStatusExtended", 7, "System error"),
        "tbank": tbank_error("GetState", 9999, "Внутренняя ошибка системы")}),
}


def call(gw, transport, what):
    order = PAYMENT if transport == "tbank" else ORDER
    if what == "status":
        return gw.order_status(order_id=order)
    if what == "register":
        return gw.register_order("N-1", RUB, "https://shop.test/ok", client_id="c-1")
    return gw.deposit(order, RUB)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("meaning", list(CASES))
def test_every_refusal_raises_the_same_exception_on_every_transport(transport, meaning):
    error, what, replies = CASES[meaning]
    method, body = replies[transport]
    gw = gateway(transport)
    with responses.RequestsMock() as rs:
        answer(rs, transport, method, body)
        with pytest.raises(error) as info:
            call(gw, transport, what)
    gw.close()
    assert type(info.value) is error
    assert info.value.ambiguous is (error is GatewaySystemError)  # only a system error may have done it


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("status, body", [(500, "<html>Internal Server Error</html>"), (502, "Bad gateway"),
                                          (200, "\x00\x17 not what you expected"), (200, "")])
def test_a_broken_reply_is_an_unknown_outcome_on_every_transport(transport, status, body):
    gw = gateway(transport)
    method = {"soap": "getOrderStatusExtended", "rest": "getOrderStatusExtended", "tbank": "GetState"}[transport]
    with responses.RequestsMock() as rs:
        if transport == "soap":
            rs.add(responses.POST, SOAP_URL, body=body, status=status, content_type="text/html")
        else:
            answer(rs, transport, method, body, status=status)
        with pytest.raises(BadResponse) as info:
            call(gw, transport, "status")
    gw.close()
    assert info.value.ambiguous and info.value.retryable


NO_BINDINGS = {
    "soap": ("getBindings", '<return errorCode="2" errorMessage="Information not found"><bindings/></return>'),
    "rest": ("getBindings", {"errorCode": "2", "errorMessage": "Information not found"}),
    "tbank": ("GetCardList", []),
}
ONE_BINDING = {
    "soap": ("getBindings", '<return errorCode="0"><bindings><binding bindingId="b-1" maskedPan="411111**1111" '
                            'expiryDate="203012" clientId="c-1"/></bindings></return>'),
    "rest": ("getBindings", {"errorCode": "0", "bindings": [{"bindingId": "b-1", "maskedPan": "411111**1111",
                                                             "expiryDate": "203012", "clientId": "c-1"}]}),
    "tbank": ("GetCardList", [{"CardId": "55", "Pan": "411111******1111", "Status": "A", "RebillId": "b-1",
                               "CardType": 0, "ExpDate": "1230"}]),
}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_bindings_and_one_binding_read_the_same_on_every_transport(transport):
    gw = gateway(transport)
    with responses.RequestsMock() as rs:
        answer(rs, transport, *NO_BINDINGS[transport])
        answer(rs, transport, *ONE_BINDING[transport])
        none = gw.bindings("c-1")
        one = gw.bindings("c-1")
    gw.close()
    assert none == ()
    assert [(b.binding_id, b.client_id, b.expiry) for b in one] == [("b-1", "c-1", "203012")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_unusable_reply_is_quoted_masked_in_the_error(transport):
    page = "<html><body>Proxy error: password=hunter2 card 4111111111111111 upstream down</body></html>"
    gw = gateway(transport)
    method = {"soap": "getOrderStatusExtended", "rest": "getOrderStatusExtended", "tbank": "GetState"}[transport]
    with responses.RequestsMock() as rs:
        if transport == "soap":
            rs.add(responses.POST, SOAP_URL, body=page, status=502, content_type="text/html")
        else:
            answer(rs, transport, method, page, status=502)
        with pytest.raises(BadResponse) as info:
            call(gw, transport, "status")
    gw.close()
    error = info.value
    assert error.http_status == 502 and "Proxy error" in error.excerpt and "upstream down" in error.excerpt
    assert "hunter2" not in str(error) and "4111111111111111" not in str(error)
    assert "411111******1111" in error.excerpt and error.context()["excerpt"] == error.excerpt
