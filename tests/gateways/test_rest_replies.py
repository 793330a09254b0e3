"""The REST gateway against replies the sandbox does not produce."""

import json
import logging

import pytest
import responses

from autopay_soap import (
    BadResponse,
    DuplicateOrderNumber,
    HTTPStatusError,
    Money,
    OrderStatus,
    OutcomeUnknown,
    PaymentDeclined,
)
from autopay_soap.gateways.rbs_rest import RbsRestGateway

BASE = "https://gw.test/payment/rest/"
SECRET = "rest-pass-secret"


@pytest.fixture
def gw():
    gateway = RbsRestGateway(BASE, "shop-api", SECRET)
    yield gateway
    gateway.close()


def reply(rs, method, body, status=200, content_type="application/json"):
    rs.add(responses.POST, f"{BASE}{method}.do", body=body if isinstance(body, str) else json.dumps(body),
           status=status, content_type=content_type)


def test_register_success_without_error_code_and_form_body(gw):
    with responses.RequestsMock() as rs:
        reply(rs, "register", {"orderId": "o-1", "formUrl": "https://gw/pay"})
        order = gw.register_order("N1", Money.of("1.50", "RUB"), "https://s/ok", client_id="c", auto_payment=True)
        sent = dict(x.split("=", 1) for x in rs.calls[0].request.body.split("&"))
    assert order.order_id == "o-1" and order.form_url == "https://gw/pay"
    assert sent["amount"] == "150" and sent["currency"] == "643" and sent["features"] == "AUTO_PAYMENT"
    assert sent["orderNumber"] == "N1" and sent["clientId"] == "c" and sent["userName"] == "shop-api"


@pytest.mark.parametrize("code", ["1", 1])
def test_error_code_as_string_or_number(gw, code):
    with responses.RequestsMock() as rs:
        reply(rs, "register", {"errorCode": code, "errorMessage": "Order number already used"})
        with pytest.raises(DuplicateOrderNumber):
            gw.register_order("N1", Money.of("1.00", "RUB"), "https://s/ok")


def test_old_casing_and_epoch_ms_dates(gw):
    body = {"ErrorCode": 0, "OrderNumber": "N1", "OrderStatus": 1, "Amount": 1000, "Currency": "643",
            "date": 1414485649233, "BindingInfo": {"ClientId": "c", "BindingId": "b-1"},
            "PaymentAmountInfo": {"paymentState": "APPROVED", "approvedAmount": 1000, "depositedAmount": 0,
                                  "refundedAmount": 0},
            "cardAuthInfo": {"pan": "411111**1111", "expiration": "203012"}}
    with responses.RequestsMock() as rs:
        reply(rs, "getOrderStatusExtended", body)
        details = gw.order_status(order_id="o-1")
    assert details.status is OrderStatus.APPROVED and details.binding.binding_id == "b-1"
    assert details.created_at.year == 2014 and details.card.masked_pan == "411111**1111"


def test_declined_binding_payment_with_error_code_zero(gw):
    with responses.RequestsMock() as rs:
        reply(rs, "paymentOrderBinding", {"errorCode": 0, "error": "Операция отклонена. Проверьте данные карты.",
                                          "processingErrorType": "CLIENT_ERROR"})
        with pytest.raises(PaymentDeclined) as info:
            gw.pay_with_binding("o-1", "b-1")
    assert "отклонена" in info.value.gateway_message


def test_3ds_binding_payment_returns_term_url(gw):
    with responses.RequestsMock() as rs:
        reply(rs, "paymentOrderBinding", {"errorCode": "0", "acsUrl": "https://acs/", "paReq": "PR",
                                          "termUrl": "https://gw/rest/finish3ds.do?lang=ru"})
        step = gw.pay_with_binding("o-1", "b-1", cvc="123")
    assert step.needs_3ds and step.term_url.endswith("finish3ds.do?lang=ru") and step.pa_req == "PR"


@pytest.mark.parametrize("status, body, content_type, error", [
    (500, "<html>oops</html>", "text/html", BadResponse),
    (502, "", "text/html", BadResponse),
    (200, "<html>login page</html>", "text/html", BadResponse),
    (200, '{"orderId": "o-1"', "application/json", BadResponse),
    (200, "[1, 2]", "application/json", BadResponse),
    (404, "not found", "text/plain", HTTPStatusError),
])
def test_broken_replies(gw, status, body, content_type, error):
    with responses.RequestsMock() as rs:
        reply(rs, "paymentOrderBinding", body, status=status, content_type=content_type)
        with pytest.raises(error) as info:
            gw.pay_with_binding("o-1", "b-1")
    assert isinstance(info.value, OutcomeUnknown) == (error is BadResponse)
    assert info.value.http_status == status


def test_password_is_masked_in_wire_logs(gw, caplog):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as rs:
        reply(rs, "reverse", {"errorCode": "0"})
        gw.reverse("o-1")
    assert "reverse" in caplog.text and SECRET not in caplog.text and SECRET not in repr(gw)
