"""gateway.call(): the operations the facade does not wrap, under the facade's limits."""

import logging

import pytest

from autopay_soap import Money
from autopay_soap.errors import BadResponse, OrderNotFound, TransportError, ValidationError
from autopay_soap.gateways.rbs_rest import RbsRestGateway
from autopay_soap.gateways.rbs_soap import RbsSoapGateway
from autopay_soap.http import Timeouts
from autopay_soap.sandbox import Sandbox, TestCards

from ..support.hostile_server import HostileServer


def test_soap_call_reaches_any_wsdl_operation_with_ws_security_and_a_masked_wire_log(caplog):
    with Sandbox() as sb:
        gateway = RbsSoapGateway(sb.soap_url, sb.username, sb.password)
        order = gateway.register_order("HATCH-1", Money.of("5.00", "RUB"), sb.return_url)
        sb.pay(order.form_url, TestCards.SUCCESS)
        with caplog.at_level(logging.DEBUG, logger="autopay_soap.wire"):
            result = gateway.call("getOrderStatusExtended", order={"orderId": order.order_id})
        assert (result.orderNumber, result.orderStatus, result.amount) == ("HATCH-1", 2, 500)
        with pytest.raises(OrderNotFound):  # errorCode 6 raises as the facade's calls do
            gateway.call("getOrderStatusExtended", order={"orderId": "00000000-0000-0000-0000-000000000000"})
        with pytest.raises(ValidationError) as refused:  # not in the WSDL: nothing is sent
            gateway.call("getLastOrders", request={})
        assert refused.value.field == "operation" and "getOrderStatusExtended" in str(refused.value)
        wire = caplog.text
        gateway.close()
    assert "getOrderStatusExtended" in wire and sb.password not in wire


def test_soap_call_keeps_the_reply_limit():
    with HostileServer("huge_chunked") as server:
        gateway = RbsSoapGateway(server.url + "/merchant-ws", "api", "pw", max_reply_bytes=100_000,
                                 timeouts=Timeouts(connect=2, read=5, total=20))
        with pytest.raises((TransportError, BadResponse)) as refused:
            gateway.call("getOrderStatusExtended", order={"orderId": "x"})
        gateway.close()
    assert "pw" not in str(refused.value)


def test_rest_call_uses_the_credentials_and_refuses_to_replace_them(sb):
    gateway = RbsRestGateway(sb.rest_url, sb.username, sb.password)
    order = gateway.register_order("HATCH-2", Money.of("5.00", "RUB"), sb.return_url)
    found = gateway.call("getOrderStatusExtended", orderId=order.order_id)
    assert found.get("OrderNumber") == "HATCH-2" and found.get("orderStatus") == 0
    for field in ("password", "userName", "token"):
        with pytest.raises(ValidationError) as refused:
            gateway.call("getOrderStatusExtended", orderId=order.order_id, **{field: "x"})
        assert refused.value.field == field
    with pytest.raises(ValidationError):
        gateway.call("../admin")
    gateway.close()
