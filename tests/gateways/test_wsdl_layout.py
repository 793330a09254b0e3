"""An independent reader of wsdl/ (lxml only, no zeep) checks the gateway's layout."""

from pathlib import Path

import pytest
from lxml import etree

WSDL = Path(__file__).resolve().parent.parent.parent / "wsdl"
NS = {
    "wsdl": "http://schemas.xmlsoap.org/wsdl/",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    "xs": "http://www.w3.org/2001/XMLSchema",
}
MERCHANT = "http://engine.paymentgate.ru/webservices/merchant"
REQUIRED_OPERATIONS = {
    "registerOrder": "order", "registerOrderPreAuth": "order", "paymentOrderBinding": "order",
    "finishThreeDs": "request", "depositOrder": "order", "reverseOrder": "order", "refundOrder": "order",
    "getOrderStatus": "order", "getOrderStatusExtended": "order", "getBindings": "request",
    "getBindingsByCardOrId": "request", "bindCard": "bindingId", "unBindCard": "bindingId",
    "extendBinding": "request", "getLastOrdersForMerchants": "request",
}


@pytest.fixture(scope="module")
def concrete():
    return etree.parse(str(WSDL / "merchant-ws.wsdl")).getroot()


@pytest.fixture(scope="module")
def abstract():
    return etree.parse(str(WSDL / "MerchantService.wsdl")).getroot()


@pytest.fixture(scope="module")
def xsd():
    return etree.parse(str(WSDL / "merchant.xsd")).getroot()


def test_service_port_and_rpc_literal_binding(concrete):
    service = concrete.find("wsdl:service", NS)
    assert service.get("name") == "MerchantServiceImplService"
    port = service.find("wsdl:port", NS)
    assert port.get("name") == "MerchantServiceImplPort"
    binding = concrete.find("wsdl:binding", NS)
    soap_binding = binding.find("soap:binding", NS)
    assert soap_binding.get("style") == "rpc"
    assert soap_binding.get("transport") == "http://schemas.xmlsoap.org/soap/http"
    for op in binding.findall("wsdl:operation", NS):
        assert op.find("soap:operation", NS).get("soapAction") == ""
        for body in op.findall(".//soap:body", NS):
            assert body.get("use") == "literal"
            assert body.get("namespace") == MERCHANT


def test_operations_and_part_names(concrete, abstract):
    bound = {op.get("name") for op in concrete.find("wsdl:binding", NS).findall("wsdl:operation", NS)}
    assert set(REQUIRED_OPERATIONS) <= bound
    messages = {m.get("name"): m for m in abstract.findall("wsdl:message", NS)}
    for op, part in REQUIRED_OPERATIONS.items():
        assert [p.get("name") for p in messages[op].findall("wsdl:part", NS)] == [part]
        assert [p.get("name") for p in messages[op + "Response"].findall("wsdl:part", NS)] == ["return"]
        # RPC style: parts are typed, not elements
        assert messages[op].find("wsdl:part", NS).get("type")


def _type(xsd, name):
    return xsd.find(f"xs:complexType[@name='{name}']", NS)


def _attrs(t):
    return {a.get("name") for a in t.iter("{http://www.w3.org/2001/XMLSchema}attribute")}


def _elements(t):
    return [e.get("name") for e in t.iter("{http://www.w3.org/2001/XMLSchema}element")]


def test_schema_is_unqualified(xsd):
    assert xsd.get("targetNamespace") == MERCHANT
    assert xsd.get("elementFormDefault") == "unqualified"
    assert xsd.get("attributeFormDefault", "unqualified") == "unqualified"


def test_order_params_attribute_and_element_layout(xsd):
    t = _type(xsd, "orderParams")
    assert {"merchantOrderNumber", "amount", "currency", "description", "language", "pageView",
            "sessionTimeoutSecs", "bindingId", "expirationDate"} <= _attrs(t)
    assert _elements(t) == ["returnUrl", "failUrl", "merchantLogin", "email", "postAddress", "params",
                            "clientId", "orderBundle", "features"]
    assert "taxSystem" in _attrs(t)
    features = _type(xsd, "features_type0")
    feature = features.find(".//xs:element", NS)
    assert feature.get("name") == "feature" and feature.get("maxOccurs") == "unbounded"
    enum = xsd.find("xs:simpleType[@name='orderFeature']", NS)
    assert "AUTO_PAYMENT" in {e.get("value") for e in enum.iter("{http://www.w3.org/2001/XMLSchema}enumeration")}


def test_other_layouts(xsd):
    assert _attrs(_type(xsd, "paymentOrderBindingParams")) >= {"mdOrder", "bindingId", "ip", "cvc"}
    assert _attrs(_type(xsd, "registerOrderResponse")) == {"orderId"}
    assert _elements(_type(xsd, "registerOrderResponse")) == ["formUrl"]
    assert "merchantOrderNumber" in _elements(_type(xsd, "getOrderStatusExtendedRequest"))
    assert _elements(_type(xsd, "refundOrderParams"))[-1] == "expectedDepositedAmount"
    assert {"errorCode"} <= _attrs(_type(xsd, "abstractResponse"))
    code = _type(xsd, "abstractResponse").find("xs:attribute[@name='errorCode']", NS)
    assert (code.get("type"), code.get("use")) == ("xs:int", "required")
    code = _type(xsd, "abstractServiceResponse").find("xs:attribute[@name='errorCode']", NS)
    assert code.get("type") == "xs:string" and code.get("use") is None


def test_order_list_layout(xsd):
    """getLastOrdersForMerchants (facts/receipts.md 5.1): page and size as elements, the state
    and merchant filters as wrappers of repeated elements, the orders as getOrderStatusExtended
    answers with the paging fields after them."""
    types = {t.get("name"): t for t in xsd.findall("xs:complexType", NS)}
    request = types["getLastOrdersForMerchantsRequest"].find("xs:complexContent/xs:extension", NS)
    assert request.get("base") == "tns:abstractServiceRequest"
    names = [e.get("name") for e in request.findall("xs:sequence/xs:element", NS)]
    assert names == ["page", "size", "from", "to", "transactionStates", "merchants"]
    wrapper = types["transactionStateList"].find("xs:sequence/xs:element", NS)
    assert (wrapper.get("name"), wrapper.get("maxOccurs")) == ("transactionStates", "unbounded")
    response = types["getLastOrdersForMerchantsResponse"].find("xs:complexContent/xs:extension", NS)
    assert response.get("base") == "tns:abstractResponse"
    elements = response.findall("xs:sequence/xs:element", NS)
    assert [e.get("name") for e in elements] == ["orderStatuses", "totalCount", "page", "pageSize"]
    assert elements[0].get("type") == "tns:getOrderStatusExtendedResponse"
