"""The exact envelope of each SOAP operation, validated against the bundled schema."""

from urllib.parse import urlsplit

import pytest
import responses
from lxml import etree

from autopay_soap import Money, ValidationError
from autopay_soap.wsdl_bundle import MERCHANT_NS, SOAP_ENV_NS, WSSE_NS, envelope_schema, envelope_validator

from ..support import SOAP_URL, soap_reply

OK = '<return errorCode="0"/>'
CALLS = [
    ("registerOrder", lambda g: g.register_order(
        "ORD-1", Money.of("499.00", "RUB"), "https://shop.test/ok", client_id="cust-7",
        auto_payment=True, description="Subscription", fail_url="https://shop.test/fail",
        session_timeout_secs=1200, language="ru"),
     '<return errorCode="0" orderId="o-1"><formUrl>https://gw/pay?mdOrder=o-1</formUrl></return>'),
    ("registerOrderPreAuth", lambda g: g.register_order(
        "ORD-2", Money.from_minor(100, "RUB"), "https://shop.test/ok", two_stage=True, client_id="c"),
     '<return errorCode="0" orderId="o-2"/>'),
    ("paymentOrderBinding", lambda g: g.pay_with_binding("o-1", "b-1", ip="10.0.0.1"),
     '<return errorCode="0" info="ok" redirect="https://gw/finish"/>'),
    ("finishThreeDs", lambda g: g.finish_3ds("o-1", "PARES-BLOB"),
     '<return errorCode="0" returnUrl="https://shop.test/ok?orderId=o-1"/>'),
    ("depositOrder", lambda g: g.deposit("o-1", Money.from_minor(500, "RUB")), OK),
    ("reverseOrder", lambda g: g.reverse("o-1"), OK),
    ("refundOrder", lambda g: g.refund("o-1", Money.from_minor(300, "RUB"),
                                       expected_deposited=Money.from_minor(500, "RUB")), OK),
    ("getOrderStatusExtended", lambda g: g.order_status(order_number="ORD-1"),
     '<return errorCode="0" orderNumber="ORD-1" orderStatus="0" amount="100" currency="643"/>'),
    ("getBindings", lambda g: g.bindings("cust-7"),
     '<return errorCode="0"><bindings><binding bindingId="b-1" clientId="cust-7" '
     'maskedPan="411111**1111" expiryDate="203012"/></bindings></return>'),
    ("getBindingsByCardOrId", lambda g: g.bindings_by_card_or_id(binding_id="b-1"),
     '<return errorCode="0"><bindings/></return>'),
    ("bindCard", lambda g: g.bind_card("b-1"), OK),
    ("unBindCard", lambda g: g.unbind_card("b-1"), OK),
    ("extendBinding", lambda g: g.extend_binding("b-1", "203112"), '<return errorCode="0"/>'),
]


def _sent(rs):
    return etree.fromstring(rs.calls[-1].request.body)


@pytest.mark.parametrize("operation, call, reply", CALLS, ids=[c[0] for c in CALLS])
def test_each_envelope_is_schema_valid_and_carries_wsse(soap_gateway, operation, call, reply):
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, SOAP_URL, body=soap_reply(operation, reply), content_type="text/xml")
        call(soap_gateway)
        request = rs.calls[0].request
    assert request.headers["SOAPAction"] == '""'
    assert request.headers["Content-Type"].startswith("text/xml")
    envelope = etree.fromstring(request.body)
    body = envelope.find(f"{{{SOAP_ENV_NS}}}Body")
    wrapper = body[0]
    assert wrapper.tag == f"{{{MERCHANT_NS}}}{operation}"
    assert all(child.tag == etree.QName(child).localname for child in wrapper)  # unqualified parts
    envelope_schema().validate(wrapper)
    assert envelope_validator().first_error(wrapper) is None  # the sandbox's libxml2 copy agrees
    token = envelope.find(f"{{{SOAP_ENV_NS}}}Header/{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
    assert token.findtext(f"{{{WSSE_NS}}}Username") == "shop-api"
    password = token.find(f"{{{WSSE_NS}}}Password")
    assert password.get("Type").endswith("#PasswordText")
    # the reply the test gave must be schema-valid too, so the fixtures cannot drift
    answer = etree.fromstring(soap_reply(operation, reply).encode())[0][0]
    envelope_schema().validate(answer)
    assert envelope_validator().first_error(answer) is None


def _mutations(wrapper):
    """Invalid copies of a valid body element, each broken in one way, with the words one of which the error
    must name (an element with empty content is named itself, not the stray child)."""
    def copy():
        return etree.fromstring(etree.tostring(wrapper))

    found = []
    part = copy()
    part.remove(part[0])
    found.append(("part missing", part, None))
    extra = copy()
    etree.SubElement(extra[0], "noSuchElement").text = "x"
    found.append(("unknown child", extra, ("noSuchElement", wrapper[0].tag)))
    numeric = [name for name in wrapper[0].attrib if name in ("amount", "sessionTimeoutSecs")]
    for name in numeric:
        bad = copy()
        bad[0].set(name, "ten")
        found.append((f"{name} not a number", bad, (name,)))
    renamed = copy()
    renamed[0].tag = "notThePart"
    found.append(("part renamed", renamed, ("notThePart",)))
    return found


@pytest.mark.parametrize("operation, call, reply", CALLS, ids=[c[0] for c in CALLS])
def test_the_sandbox_validator_refuses_what_the_reference_refuses(soap_gateway, operation, call, reply):
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, SOAP_URL, body=soap_reply(operation, reply), content_type="text/xml")
        call(soap_gateway)
        wrapper = etree.fromstring(rs.calls[0].request.body).find(f"{{{SOAP_ENV_NS}}}Body")[0]
    for what, broken, named in _mutations(wrapper):
        assert not envelope_schema().is_valid(broken), what  # the mutation really is invalid
        error = envelope_validator().first_error(broken)
        assert error is not None, what
        if named is not None:
            assert any(word in error for word in named), (what, error)


def test_register_with_auto_payment_layout(soap_gateway):
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, SOAP_URL, body=soap_reply("registerOrder", CALLS[0][2]), content_type="text/xml")
        result = CALLS[0][1](soap_gateway)
        order = _sent(rs).find(f".//{{{MERCHANT_NS}}}registerOrder/order")
    assert result.order_id == "o-1" and result.form_url == "https://gw/pay?mdOrder=o-1"
    assert order.attrib == {
        "merchantOrderNumber": "ORD-1", "description": "Subscription", "amount": "49900",
        "currency": "643", "language": "ru", "sessionTimeoutSecs": "1200",
    }
    assert [c.tag for c in order] == ["returnUrl", "failUrl", "clientId", "features"]
    assert order.findtext("returnUrl") == "https://shop.test/ok"
    assert order.findtext("clientId") == "cust-7"
    assert [f.text for f in order.find("features")] == ["AUTO_PAYMENT"]


def test_status_by_number_puts_merchant_order_number_inside_order(soap_gateway):
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, SOAP_URL, body=soap_reply("getOrderStatusExtended", CALLS[7][2]),
               content_type="text/xml")
        soap_gateway.order_status(order_number="ORD-1")
        order = _sent(rs).find(f".//{{{MERCHANT_NS}}}getOrderStatusExtended/order")
    assert order.findtext("merchantOrderNumber") == "ORD-1"
    assert "orderId" not in order.attrib


def test_payment_and_refund_attributes(soap_gateway):
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, SOAP_URL, body=soap_reply("paymentOrderBinding", CALLS[2][2]), content_type="text/xml")
        rs.add(responses.POST, SOAP_URL, body=soap_reply("refundOrder", OK), content_type="text/xml")
        rs.add(responses.POST, SOAP_URL, body=soap_reply("bindCard", OK), content_type="text/xml")
        step = soap_gateway.pay_with_binding("o-1", "b-1", ip="10.0.0.1")
        pay = _sent_n(rs, 0).find(f".//{{{MERCHANT_NS}}}paymentOrderBinding/order")
        soap_gateway.refund("o-1", Money.from_minor(300, "RUB"), expected_deposited=Money.from_minor(500, "RUB"))
        refund = _sent_n(rs, 1).find(f".//{{{MERCHANT_NS}}}refundOrder/order")
        soap_gateway.bind_card("b-1")
        bind = _sent_n(rs, 2).find(f".//{{{MERCHANT_NS}}}bindCard/bindingId")
    assert pay.attrib == {"mdOrder": "o-1", "bindingId": "b-1", "ip": "10.0.0.1"}
    assert "cvc" not in pay.attrib
    assert not step.needs_3ds and step.redirect == "https://gw/finish"
    assert refund.attrib == {"orderId": "o-1", "refundAmount": "300"}
    assert refund.findtext("expectedDepositedAmount") == "500"
    assert bind.text == "b-1"


def _sent_n(rs, n):
    return etree.fromstring(rs.calls[n].request.body)


def test_endpoint_is_the_configured_one(soap_gateway):
    with responses.RequestsMock() as rs:
        rs.add(responses.POST, SOAP_URL, body=soap_reply("reverseOrder", OK), content_type="text/xml")
        soap_gateway.reverse("o-1")
        assert urlsplit(rs.calls[0].request.url).netloc == "gw.test"


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda g: g.register_order("X" * 33, Money.from_minor(1, "RUB"), "https://s/ok"), "order_number"),
        (lambda g: g.register_order("bad number!", Money.from_minor(1, "RUB"), "https://s/ok"), "order_number"),
        (lambda g: g.register_order("N1", Money.from_minor(0, "RUB"), "https://s/ok"), "amount"),
        (lambda g: g.register_order("N1", 100, "https://s/ok"), "amount"),
        (lambda g: g.register_order("N1", Money.from_minor(1, "RUB"), "/relative"), "return_url"),
        (lambda g: g.register_order("N1", Money.from_minor(1, "RUB"), "https://s/ok",
                                    description="50% off"), "description"),
        (lambda g: g.register_order("N1", Money.from_minor(1, "RUB"), "https://s/ok",
                                    auto_payment=True), "client_id"),
        (lambda g: g.register_order("N1", Money.from_minor(1, "RUB"), "https://s/ok",
                                    callback_url="https://s/cb"), "callback_url"),  # REST's field only
        (lambda g: g.register_order("N1", Money.from_minor(0, "RUB"), "https://s/ok", client_id="c",
                                    verify=True, two_stage=True), "two_stage"),
        (lambda g: g.pay_with_binding("o-1", ""), "binding_id"),
        (lambda g: g.pay_with_binding("o-1", "b-1", cvc="12"), "cvc"),
        (lambda g: g.refund("o-1", Money.from_minor(1, "RUB"), external_refund_id="r1"), "external_refund_id"),
        (lambda g: g.extend_binding("b-1", "2031-12"), "new_expiry"),
        (lambda g: g.order_status(), "order_id"),
    ],
)
def test_bad_input_is_refused_before_sending(soap_gateway, call, field):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        with pytest.raises(ValidationError) as info:
            call(soap_gateway)
        assert len(rs.calls) == 0
    assert info.value.field == field
    assert field in str(info.value)


def test_a_keyword_no_registration_takes_is_refused_on_every_transport_before_sending(soap_gateway):
    """``check_registration`` takes ``register_order``'s keywords as ``**options``: one it does
    not know (a typo, an option of another transport) is a TypeError, never silently dropped."""
    from autopay_soap.gateways.rbs_rest import RbsRestGateway
    from autopay_soap.gateways.tbank import TBankGateway

    rest = RbsRestGateway("https://gw.test/payment/rest/", "shop-api", "pa55-w0rd-secret")
    tbank = TBankGateway("TerminalKey1", "terminal-password", base_url="https://tbank.test/v2/")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        for gateway in (soap_gateway, rest, tbank):
            with pytest.raises(TypeError, match="clientid|unexpected keyword"):
                gateway.check_registration("N1", Money.from_minor(100, "RUB"), "https://s/ok", clientid="c-1")
        with pytest.raises(TypeError):
            soap_gateway.register_order("N1", Money.from_minor(100, "RUB"), "https://s/ok", clientid="c-1")
        assert len(rs.calls) == 0
    rest.close()
    tbank.close()
