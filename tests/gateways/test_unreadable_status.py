"""A status reply we cannot read is an unknown outcome, never "no such order" and never a paid
order of 0.00 (issue 25, items 10 and 11), on every transport, and a batch row stays unresolved."""

import json

import pytest
import responses

from autopay_soap import BadResponse, Money
from autopay_soap.batch.charge import outcome_of_row
from autopay_soap.batch.rows import ChargeRow
from autopay_soap.client import AutopayClient
from autopay_soap.gateways.rbs_rest import RbsRestGateway
from autopay_soap.gateways.tbank import _details

from ..support import SOAP_URL, no_wait, soap_reply

BASE = "https://gw.test/payment/rest/"
PAID = {"errorCode": "0", "orderNumber": "N1", "orderStatus": 2, "amount": 49900, "currency": "643"}


@pytest.mark.parametrize("change", [
    {"orderStatus": None},  # the attribute the schema requires, missing
    {"amount": ""},
    {"amount": None},
    {"amount": "5" * 5000},
    {"amount": "-100"},
    {"amount": "499.00"},
])
def test_rest_status_replies_that_cannot_be_read_are_unknown(change):
    body = {k: v for k, v in {**PAID, **change}.items() if v is not None}
    gw = RbsRestGateway(BASE, "shop-api", "secret")
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, f"{BASE}getOrderStatusExtended.do", body=json.dumps(body),
               content_type="application/json")
        with pytest.raises(BadResponse):
            gw.order_status(order_id="o-1")


@pytest.mark.parametrize("attributes", [
    'orderNumber="N1" amount="49900"',  # no orderStatus
    'orderNumber="N1" orderStatus="2" amount=""',
    'orderNumber="N1" orderStatus="2"',
    'orderNumber="N1" orderStatus="2" amount="' + "9" * 5000 + '"',
    'orderNumber="N1" orderStatus="4" amount="x"',
])
def test_soap_status_replies_that_cannot_be_read_are_unknown(soap_gateway, attributes):
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, SOAP_URL, body=soap_reply("getOrderStatusExtended", f'<return {attributes}/>'),
               content_type="text/xml")
        with pytest.raises(BadResponse):
            soap_gateway.order_status(order_id="o-1")


def test_a_created_order_without_an_amount_still_reads():
    gw = RbsRestGateway(BASE, "shop-api", "secret")
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, f"{BASE}getOrderStatusExtended.do",
               body=json.dumps({"errorCode": "0", "orderNumber": "N1", "orderStatus": 0}),
               content_type="application/json")
        assert gw.order_status(order_id="o-1").amount == Money.from_minor(0, "RUB")


@pytest.mark.parametrize("amount", [None, "", "12.5", True, "1" * 30])
def test_tbank_paid_state_without_a_readable_amount_is_refused(amount):
    reply = {"Status": "CONFIRMED", "OrderId": "N1", "PaymentId": "1"}
    if amount is not None:
        reply["Amount"] = amount
    with pytest.raises(ValueError):
        _details(reply)


def test_a_batch_row_whose_status_replies_are_garbled_stays_unknown():
    """The payment step answers 500 (ambiguous) and every status reply lacks orderStatus: the row
    is unknown (reconciled by the next run), not a merchant decline that stops the run."""
    client = AutopayClient(RbsRestGateway(BASE, "shop-api", "secret"), return_url="https://shop/ok", sleep=no_wait)
    row = ChargeRow(line=2, order_number="G-1", client_id="c1", binding_id="b-1", amount=Money.of("499.00", "RUB"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        rs.add(responses.POST, f"{BASE}register.do", body=json.dumps({"orderId": "o-1", "formUrl": "https://f"}),
               content_type="application/json")
        rs.add(responses.POST, f"{BASE}paymentOrderBinding.do", body="oops", status=500)
        rs.add(responses.POST, f"{BASE}getOrderStatusExtended.do", body=json.dumps({"errorCode": "0"}),
               content_type="application/json")
        state, fields = outcome_of_row(client, row)
    assert state == "unknown", fields
    assert fields.get("decline_kind") is None


def test_a_tbank_order_found_by_number_without_its_amount_is_read_by_payment():
    """CheckOrder may leave a payment's Amount out (T-Bank's schema does not require it): the
    payment is then read with GetState, which must give it, instead of being unknown for ever."""
    from autopay_soap.gateways.tbank import TBankGateway

    gw = TBankGateway("ShopDEMO", "pw", base_url="https://tb.test/v2/")
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, "https://tb.test/v2/CheckOrder", content_type="application/json", body=json.dumps(
            {"TerminalKey": "ShopDEMO", "OrderId": "N1", "Success": True, "ErrorCode": "0",
             "Payments": [{"PaymentId": "7001", "Status": "CONFIRMED", "Success": True, "ErrorCode": "0"}]}))
        rs.add(responses.POST, "https://tb.test/v2/GetState", content_type="application/json", body=json.dumps(
            {"TerminalKey": "ShopDEMO", "OrderId": "N1", "PaymentId": "7001", "Status": "CONFIRMED",
             "Amount": 49900, "Success": True, "ErrorCode": "0"}))
        details = gw.order_status(order_number="N1")
        assert [call.request.url.rsplit("/", 1)[1] for call in rs.calls] == ["CheckOrder", "GetState"]
    assert details.is_paid and details.amount == Money.from_minor(49900, "RUB") and details.order_id == "7001"
