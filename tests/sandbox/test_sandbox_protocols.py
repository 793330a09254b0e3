"""The sandbox's SOAP and REST front ends over loopback HTTP."""

import pytest
import requests
import zeep
from lxml import etree

from autopay_soap import AuthenticationError, Money, OrderStatus
from autopay_soap.gateways.rbs_soap import RbsSoapGateway
from autopay_soap.sandbox import Sandbox, TestCards
from autopay_soap.wsdl_bundle import SOAP_ENV_NS, envelope_schema, wsdl_path

from ..support.wire import envelope, rest


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


def zeep_service(sb, password=None):
    from zeep.wsse.username import UsernameToken

    client = zeep.Client(str(wsdl_path()), wsse=UsernameToken(sb.username, password or sb.password))
    return client.create_service(
        "{http://soap.merchant.api.web.phoenix.bpc.ru/}MerchantServiceImplServiceSoapBinding", sb.soap_url)


def test_zeep_from_bundled_wsdl_runs_all_three_scenarios(sandbox):
    svc = zeep_service(sandbox)
    first = svc.registerOrder(order={"merchantOrderNumber": "Z1", "amount": 49900, "currency": "643",
                                     "returnUrl": sandbox.return_url, "clientId": "cust-1"})
    assert first.errorCode == 0 and first.formUrl
    assert sandbox.pay(first.formUrl, TestCards.SUCCESS_3DS).paid
    status = svc.getOrderStatusExtended(order={"orderId": first.orderId})
    assert status.orderStatus == 2 and status.bindingInfo.bindingId
    binding = status.bindingInfo.bindingId

    auto = svc.registerOrder(order={"merchantOrderNumber": "Z2", "amount": 49900, "currency": "643",
                                    "returnUrl": sandbox.return_url, "clientId": "cust-1",
                                    "features": {"feature": ["AUTO_PAYMENT"]}})
    paid = svc.paymentOrderBinding(order={"mdOrder": auto.orderId, "bindingId": binding, "ip": "127.0.0.1"})
    assert paid.errorCode == 0 and not paid.acsUrl
    assert svc.getOrderStatusExtended(order={"merchantOrderNumber": "Z2"}).orderStatus == 2

    pre = svc.registerOrderPreAuth(order={"merchantOrderNumber": "Z3", "amount": 10000, "currency": "643",
                                          "returnUrl": sandbox.return_url})
    sandbox.pay(pre.formUrl, TestCards.SUCCESS)
    assert svc.getOrderStatusExtended(order={"orderId": pre.orderId}).orderStatus == 1
    assert svc.depositOrder(order={"orderId": pre.orderId, "depositAmount": 0}).errorCode == 0
    assert svc.refundOrder(order={"orderId": pre.orderId, "refundAmount": 2500}).errorCode == 0
    final = svc.getOrderStatusExtended(order={"orderId": pre.orderId})
    info = final.paymentAmountInfo
    assert final.orderStatus == 2
    assert (info.approvedAmount, info.depositedAmount, info.refundedAmount) == (10000, 10000, 2500)


def test_wsdl_is_served_with_its_own_address(sandbox):
    client = zeep.Client(sandbox.wsdl_url)
    assert client.wsdl.services["MerchantServiceImplService"].ports  # a WSDL zeep can read
    text = requests.get(sandbox.wsdl_url, timeout=5).text
    assert f'location="{sandbox.soap_url}"' in text


@pytest.mark.parametrize("password", ["wrong-password", None])
def test_missing_or_wrong_credentials_get_the_wss_fault(sandbox, password):
    if password is None:
        body = (f'<s:Envelope xmlns:s="{SOAP_ENV_NS}"><s:Body><m:reverseOrder '
                'xmlns:m="http://engine.paymentgate.ru/webservices/merchant"><order orderId="x"/>'
                '</m:reverseOrder></s:Body></s:Envelope>')
        answer = requests.post(sandbox.soap_url, data=body, headers={"Content-Type": "text/xml"}, timeout=5)
        assert answer.status_code == 500
        assert "An error was discovered processing the &lt;wsse:Security&gt; header" in answer.text
    else:
        gw = RbsSoapGateway(sandbox.soap_url, sandbox.username, password)
        with pytest.raises(AuthenticationError):
            gw.reverse("x")


@pytest.mark.parametrize("body, expected", [
    (b"<not-xml", "faultstring"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "faultstring"),
    (b"just text", "faultstring"),
])
def test_malformed_requests_get_a_fault_not_a_traceback(sandbox, body, expected):
    answer = requests.post(sandbox.soap_url, data=body, headers={"Content-Type": "text/xml"}, timeout=5)
    assert answer.status_code == 500 and expected in answer.text and "Traceback" not in answer.text
    etree.fromstring(answer.content)  # a well-formed envelope


def test_unknown_operation_and_schema_invalid_request_get_faults(sandbox):
    unknown = requests.post(sandbox.soap_url, data=envelope(sandbox, "stealMoney", "<order/>"), timeout=5)
    assert unknown.status_code == 500 and "stealMoney" in unknown.text
    invalid = requests.post(sandbox.soap_url, timeout=5, data=envelope(
        sandbox, "registerOrder", '<order merchantOrderNumber="A" amount="ten"/>'))
    assert invalid.status_code == 500 and "Unmarshalling Error" in invalid.text


def test_every_soap_answer_is_schema_valid(sandbox, monkeypatch):
    from autopay_soap.gateways import rbs_soap

    gw = RbsSoapGateway(sandbox.soap_url, sandbox.username, sandbox.password)
    seen = []
    original = rbs_soap.post_bounded

    def capture(session, address, **kwargs):
        response = original(session, address, **kwargs)
        seen.append(etree.fromstring(response.content).find(f"{{{SOAP_ENV_NS}}}Body")[0])
        return response

    monkeypatch.setattr(rbs_soap, "post_bounded", capture)
    order = gw.register_order("V1", Money.of("10.00", "RUB"), sandbox.return_url, client_id="c", two_stage=True)
    sandbox.pay(order.form_url, TestCards.SUCCESS)
    gw.order_status(order_id=order.order_id)
    binding = gw.order_status(order_number="V1").binding.binding_id
    gw.deposit(order.order_id, Money.of("5.00", "RUB"))
    gw.refund(order.order_id, Money.of("1.00", "RUB"))
    auto = gw.register_order("V2", Money.of("10.00", "RUB"), sandbox.return_url, client_id="c", auto_payment=True)
    gw.pay_with_binding(auto.order_id, binding)
    gw.reverse(auto.order_id)
    gw.bindings("c")
    gw.bindings("nobody")
    gw.bindings_by_card_or_id(binding_id=binding)
    gw.extend_binding(binding, "203101")
    gw.unbind_card(binding)
    gw.bind_card(binding)
    from autopay_soap import InvalidOrderState, OrderNotFound

    with pytest.raises(InvalidOrderState):
        gw.reverse(auto.order_id)
    with pytest.raises(OrderNotFound):
        gw.order_status(order_id="nope")
    assert len(seen) >= 15
    for answer in seen:
        envelope_schema().validate(answer)


def test_rest_scenarios_with_plain_requests(sandbox):
    first = rest(sandbox, "register", orderNumber="R1", amount="49900", currency="643",
                 returnUrl=sandbox.return_url, clientId="cust-1")
    assert "errorCode" not in first and first["orderId"] and first["formUrl"]
    sandbox.pay(first["formUrl"], TestCards.SUCCESS)
    status = rest(sandbox, "getOrderStatusExtended", orderId=first["orderId"])
    assert status["errorCode"] == "0" and status["orderStatus"] == 2
    assert isinstance(status["date"], int) and status["date"] > 10**12  # epoch milliseconds
    binding = status["bindingInfo"]["bindingId"]

    auto = rest(sandbox, "register", orderNumber="R2", amount="49900", returnUrl=sandbox.return_url,
                clientId="cust-1", features="AUTO_PAYMENT")
    paid = rest(sandbox, "paymentOrderBinding", mdOrder=auto["orderId"], bindingId=binding, ip="127.0.0.1")
    assert paid["errorCode"] == 0 and "error" not in paid
    assert rest(sandbox, "getOrderStatusExtended", orderNumber="R2")["orderStatus"] == 2

    pre = rest(sandbox, "registerPreAuth", orderNumber="R3", amount="10000", returnUrl=sandbox.return_url)
    sandbox.pay(pre["formUrl"], TestCards.SUCCESS)
    assert rest(sandbox, "getOrderStatusExtended", orderId=pre["orderId"])["orderStatus"] == 1
    assert rest(sandbox, "deposit", orderId=pre["orderId"], amount="0")["errorCode"] == "0"
    assert rest(sandbox, "refund", orderId=pre["orderId"], amount="2500", externalRefundId="RF-1")["errorCode"] == "0"
    assert rest(sandbox, "refund", orderId=pre["orderId"], amount="2500", externalRefundId="RF-1")["errorCode"] == "0"
    info = rest(sandbox, "getOrderStatusExtended", orderId=pre["orderId"])["paymentAmountInfo"]
    assert (info["approvedAmount"], info["depositedAmount"], info["refundedAmount"]) == (10000, 10000, 2500)


def test_rest_declined_binding_payment_is_error_code_zero_with_error(sandbox):
    first = rest(sandbox, "register", orderNumber="D1", amount="100", returnUrl=sandbox.return_url, clientId="c9")
    sandbox.pay(first["formUrl"], TestCards.RECURRING_INSUFFICIENT)
    binding = rest(sandbox, "getBindings", clientId="c9")["bindings"][0]["bindingId"]
    auto = rest(sandbox, "register", orderNumber="D2", amount="100", returnUrl=sandbox.return_url, clientId="c9",
                features="AUTO_PAYMENT")
    declined = rest(sandbox, "paymentOrderBinding", mdOrder=auto["orderId"], bindingId=binding)
    assert declined["errorCode"] == 0 and "declined" in declined["error"].lower()
    status = rest(sandbox, "getOrderStatusExtended", orderId=auto["orderId"])
    assert status["orderStatus"] == 6 and status["actionCode"] == 116


@pytest.mark.parametrize("method, params, code", [
    ("register", {"orderNumber": "B1", "amount": "100"}, "4"),                          # no returnUrl
    ("register", {"orderNumber": "B2", "amount": "100", "returnUrl": "https://s", "currency": "999"}, "3"),
    ("register", {"orderNumber": "B3", "amount": "-5", "returnUrl": "https://s"}, "5"),
    ("register", {"orderNumber": "B4", "amount": "abc", "returnUrl": "https://s"}, "5"),
    ("getOrderStatusExtended", {}, "1"),
    ("getOrderStatusExtended", {"orderId": "nope"}, "6"),
    ("deposit", {"orderId": "nope", "amount": "0"}, "6"),
    ("getBindings", {"clientId": "nobody"}, "2"),
    ("unBindCard", {"bindingId": "nope"}, "2"),
    ("register", {"orderNumber": "B5", "amount": "100", "returnUrl": "https://s", "password": "bad"}, "5"),
])
def test_rest_bad_requests_get_gateway_codes_not_500(sandbox, method, params, code):
    answer = requests.post(f"{sandbox.rest_url}{method}.do",
                           data={"userName": sandbox.username, "password": sandbox.password, **params}, timeout=5)
    assert answer.status_code == 200
    assert answer.json()["errorCode"] == code


def test_duplicate_number_is_code_1_over_both_front_ends(sandbox):
    rest(sandbox, "register", orderNumber="DUP", amount="100", returnUrl=sandbox.return_url)
    assert rest(sandbox, "register", orderNumber="DUP", amount="100", returnUrl=sandbox.return_url)["errorCode"] == "1"
    svc = zeep_service(sandbox)
    again = svc.registerOrder(order={"merchantOrderNumber": "DUP", "amount": 100, "returnUrl": sandbox.return_url})
    assert again.errorCode == 1


def test_ledger_json_and_dashboard(sandbox):
    first = rest(sandbox, "register", orderNumber="L1", amount="100", returnUrl=sandbox.return_url, clientId="c")
    sandbox.pay(first["formUrl"], TestCards.SUCCESS)
    ledger = requests.get(sandbox.url + "/_sandbox/ledger", timeout=5).json()
    assert [m["kind"] for m in ledger["movements"]] == ["hold", "deposit"]
    order = requests.get(f"{sandbox.url}/_sandbox/orders/{first['orderId']}", timeout=5).json()
    assert order["status"] == 2 and order["orderNumber"] == "L1"
    page = requests.get(sandbox.url + "/_sandbox/", timeout=5).text
    assert "L1" in page and "444455**3333" in page and "4444555511113333" not in page
    assert OrderStatus(order["status"]) is OrderStatus.DEPOSITED


def test_sandbox_refuses_non_loopback_without_opt_in():
    with pytest.raises(ValueError):
        Sandbox(host="0.0.0.0")
