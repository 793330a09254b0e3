"""How the SOAP gateway treats odd replies and broken exchanges."""

import logging
import socket
import threading

import pytest
import responses

from autopay_soap import (
    AuthenticationError,
    BadResponse,
    ConnectError,
    DuplicateOrderNumber,
    HTTPStatusError,
    Money,
    OrderNotFound,
    OrderStatus,
    OutcomeUnknown,
    ResponseTimeout,
    SoapFaultError,
    Timeouts,
)
from autopay_soap.gateways.rbs_soap import RbsSoapGateway

from ..support import SOAP_URL, soap_reply

SECRET = "pa55-w0rd-secret"
RUB = Money.from_minor(100, "RUB")


def _reply(rs, body, status=200, content_type="text/xml"):
    rs.add(responses.POST, SOAP_URL, body=body, status=status, content_type=content_type)


def test_error_code_absent_string_or_int_all_mean_zero(soap_gateway):
    status = ('<return orderNumber="N1" orderStatus="1" amount="100"><paymentAmountInfo paymentState="APPROVED" '
              'approvedAmount="100" depositedAmount="0" refundedAmount="0"/></return>')
    with responses.RequestsMock() as rs:
        _reply(rs, soap_reply("getOrderStatusExtended", status))  # errorCode absent
        _reply(rs, soap_reply("getOrderStatusExtended", status.replace("<return ", '<return errorCode="0" ')))
        first = soap_gateway.order_status(order_id="o-1")
        second = soap_gateway.order_status(order_id="o-1")
    assert first == second
    assert first.status is OrderStatus.APPROVED and first.is_paid
    assert first.approved == RUB and first.deposited == Money.from_minor(0, "RUB")


def test_nonzero_codes_raise_by_meaning(soap_gateway):
    with responses.RequestsMock() as rs:
        duplicate = '<return errorCode="1" errorMessage="Заказ с таким номером уже обработан"/>'
        _reply(rs, soap_reply("registerOrder", duplicate))
        _reply(rs, soap_reply("getOrderStatusExtended", '<return errorCode="6" errorMessage="Заказ не найден"/>'))
        with pytest.raises(DuplicateOrderNumber) as dup:
            soap_gateway.register_order("N1", RUB, "https://s/ok")
        with pytest.raises(OrderNotFound):
            soap_gateway.order_status(order_number="N1")
    assert dup.value.order_number == "N1" and dup.value.gateway_code == 1


def test_no_bindings_is_an_empty_list(soap_gateway):
    with responses.RequestsMock() as rs:
        _reply(rs, soap_reply("getBindings", '<return errorCode="2" errorMessage="not found"><bindings/></return>'))
        assert soap_gateway.bindings("c1") == ()


def test_wsse_fault_is_an_authentication_error(soap_gateway):
    fault = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
             '<faultcode xmlns:ns1="http://ws.apache.org/wss4j">ns1:SecurityError</faultcode>'
             '<faultstring>An error was discovered processing the &lt;wsse:Security&gt; header</faultstring>'
             '</soap:Fault></soap:Body></soap:Envelope>')
    with responses.RequestsMock() as rs:
        _reply(rs, fault, status=500)
        with pytest.raises(AuthenticationError) as info:
            soap_gateway.reverse("o-1")
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert info.value.operation == "reverseOrder"


def test_other_fault_is_a_soap_fault_error(soap_gateway):
    fault = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
             '<faultcode>soap:Client</faultcode><faultstring>Unmarshalling Error</faultstring>'
             '</soap:Fault></soap:Body></soap:Envelope>')
    with responses.RequestsMock() as rs:
        _reply(rs, fault, status=500)
        with pytest.raises(SoapFaultError) as info:
            soap_gateway.reverse("o-1")
    assert "Unmarshalling" in str(info.value)


def test_http_500_with_html_is_outcome_unknown(soap_gateway):
    with responses.RequestsMock() as rs:
        _reply(rs, "<html><body><h1>502 Bad Gateway</h1></body></html>", status=500, content_type="text/html")
        with pytest.raises(BadResponse) as info:
            soap_gateway.pay_with_binding("o-1", "b-1")
    assert isinstance(info.value, OutcomeUnknown)
    assert info.value.http_status == 500 and info.value.order_id == "o-1"


def test_http_404_means_nothing_was_done(soap_gateway):
    with responses.RequestsMock() as rs:
        _reply(rs, "not here", status=404, content_type="text/plain")
        with pytest.raises(HTTPStatusError) as info:
            soap_gateway.reverse("o-1")
    assert not isinstance(info.value, OutcomeUnknown)


@pytest.mark.parametrize("body", [
    soap_reply("registerOrder", '<return errorCode="0" orderId="o-1">')[:-40],  # truncated
    "garbage \x00 not xml",
    "",
])
def test_malformed_replies_are_outcome_unknown(soap_gateway, body):
    with responses.RequestsMock() as rs:
        _reply(rs, body)
        with pytest.raises(OutcomeUnknown):
            soap_gateway.register_order("N1", RUB, "https://s/ok")


def test_reply_with_dtd_is_refused(soap_gateway):
    body = ('<?xml version="1.0"?><!DOCTYPE x [<!ELEMENT x ANY>]>'
            + soap_reply("reverseOrder", '<return errorCode="0"/>'))
    with responses.RequestsMock() as rs:
        _reply(rs, body)
        with pytest.raises(BadResponse, match="unsafe XML"):
            soap_gateway.reverse("o-1")


def test_entity_expansion_bomb_is_refused_without_expanding(soap_gateway):
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
            + ']>' + soap_reply("reverseOrder", '<return errorCode="0" errorMessage="&lol9;"/>'))
    with responses.RequestsMock() as rs:
        _reply(rs, bomb)
        with pytest.raises(BadResponse) as info:
            soap_gateway.reverse("o-1")
    assert "lollol" not in str(info.value)


def test_connection_refused_never_reached():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gw = RbsSoapGateway(f"http://127.0.0.1:{port}/payment/webservices/merchant-ws", "shop-api", SECRET,
                        timeouts=Timeouts(connect=2, read=2))
    with pytest.raises(ConnectError) as info:
        gw.register_order("N1", RUB, "https://s/ok")
    assert not isinstance(info.value, OutcomeUnknown)
    assert info.value.order_number == "N1"


def test_read_timeout_after_sending_is_outcome_unknown():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    received = threading.Event()
    done = threading.Event()

    def swallow():
        conn, _ = server.accept()
        conn.recv(65536)
        received.set()
        done.wait(10)  # hold the connection open, never answer
        conn.close()

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    gw = RbsSoapGateway(f"http://127.0.0.1:{server.getsockname()[1]}/ws", "shop-api", SECRET,
                        timeouts=Timeouts(connect=2, read=0.3))
    try:
        with pytest.raises(ResponseTimeout) as info:
            gw.pay_with_binding("o-1", "b-1")
    finally:
        done.set()
        thread.join()
        server.close()
    assert received.is_set()
    assert isinstance(info.value, OutcomeUnknown) and info.value.operation == "paymentOrderBinding"


def test_password_never_in_repr_or_debug_logs(soap_gateway, caplog):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as rs:
        _reply(rs, soap_reply("paymentOrderBinding", '<return errorCode="0" info="ok"/>'))
        soap_gateway.pay_with_binding("o-1", "b-1", cvc="123")
    assert SECRET not in repr(soap_gateway)
    text = caplog.text
    assert "paymentOrderBinding" in text and "<wsse:Password" in text  # the envelope was logged...
    assert SECRET not in text  # ...masked
    assert 'cvc="123"' not in text
