"""The compiled SOAP codecs against zeep, the reference: envelopes identical after C14N for
generated arguments, and for generated replies (valid per the schema, and broken ones) the same
parsed values, the same gateway results and the same errors."""

import datetime as dt
import os
from xml.sax.saxutils import escape, quoteattr

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from zeep.helpers import serialize_object

from autopay_soap import Money
from autopay_soap.gateways.rbs_soap import BINDING_NAME, RbsSoapGateway
from autopay_soap.gateways.soap_codec import FALLBACK, HOT_OPERATIONS, codecs_for

from ..support import SOAP_URL, soap_reply

SAFE = st.text(alphabet="abcXYZ019 -_.:/#&<>\"'йж", min_size=1, max_size=12)
NUMBER = st.text(alphabet="ABCxyz019_-./:#", min_size=1, max_size=32)
PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class _Wire:
    """Stands in for the network: keeps what was posted, answers ``reply``."""

    def __init__(self, gateway):
        self.sent = []
        self.reply = b""
        self.status = 200
        gateway._transport.post = self.post

    def post(self, address, message, headers):
        self.sent.append((message if isinstance(message, bytes) else message.encode(), dict(headers)))
        response = requests.models.Response()
        response._content, response.status_code, response.encoding = self.reply, self.status, "utf-8"
        response.headers["Content-Type"] = "text/xml; charset=utf-8"
        return response


@pytest.fixture(scope="module")
def pair():
    fast = RbsSoapGateway(SOAP_URL, "shop-api", "pa55-w0rd-secret")
    slow = RbsSoapGateway(SOAP_URL, "shop-api", "pa55-w0rd-secret", compiled=False)
    yield (fast, _Wire(fast)), (slow, _Wire(slow))
    fast.close()
    slow.close()


def _outcome(call):
    try:
        return "ok", call()
    except Exception as exc:  # noqa: BLE001 - the outcome compared is the exception itself
        return "error", type(exc).__name__, str(exc)


def _both(pair, call, reply=None):
    outcomes, sent = [], []
    for gateway, wire in pair:
        wire.sent.clear()
        if reply is not None:
            wire.reply = reply.encode("utf-8") if isinstance(reply, str) else reply
        outcomes.append(_outcome(lambda g=gateway: call(g)))
        sent.append(list(wire.sent))
    return outcomes, sent


def _c14n(message):
    return etree.tostring(etree.fromstring(message), method="c14n")


OK_REPLY = {
    "registerOrder": soap_reply("registerOrder", '<return errorCode="0" orderId="o-1"><formUrl>https://f/1</formUrl>'
                                                 '</return>'),
    "registerOrderPreAuth": soap_reply("registerOrderPreAuth", '<return errorCode="0" orderId="o-1"/>'),
    "paymentOrderBinding": soap_reply("paymentOrderBinding", '<return errorCode="0" info="ok"/>'),
    "getOrderStatusExtended": soap_reply("getOrderStatusExtended", '<return errorCode="0" orderStatus="2" '
                                         'amount="100" currency="643" orderNumber="N-1"/>'),
    "depositOrder": soap_reply("depositOrder", '<return errorCode="0"/>'),
}

registrations = st.fixed_dictionaries({
    "order_number": NUMBER, "amount": st.integers(1, 10**9), "currency": st.sampled_from(["RUB", "USD", "EUR"]),
    "return_url": st.sampled_from(["https://shop.example/ok", "https://s.test/r?a=1&b=<2>"]),
    "two_stage": st.booleans(), "client_id": st.none() | SAFE, "auto_payment": st.booleans(),
    "binding_id": st.none() | st.uuids().map(str), "fail_url": st.none() | st.just("https://shop.example/fail"),
    "description": st.none() | SAFE, "language": st.none() | st.sampled_from(["ru", "en"]),
    "session_timeout_secs": st.none() | st.integers(60, 86400), "email": st.none() | st.just("a@b.example"),
})


@PROFILE
@given(registrations)
def test_registration_envelopes_are_zeeps(pair, args):
    args = dict(args)
    amount = Money.from_minor(args.pop("amount"), args.pop("currency"))
    if args["auto_payment"] and args["client_id"] is None:
        args["client_id"] = "c-1"
    operation = "registerOrderPreAuth" if args["two_stage"] else "registerOrder"
    outcomes, sent = _both(pair, lambda g: g.register_order(args["order_number"], amount, **{
        k: v for k, v in args.items() if k != "order_number"}), OK_REPLY[operation])
    assert outcomes[0] == outcomes[1]
    assert [(_c14n(m), h) for m, h in sent[0]] == [(_c14n(m), h) for m, h in sent[1]]


@PROFILE
@given(st.uuids().map(str), st.uuids().map(str), st.none() | st.sampled_from(["10.0.0.1", "2001:db8::1"]),
       st.none() | st.sampled_from(["123", "9999"]), st.none() | st.sampled_from(["ru", "en"]),
       st.none() | st.just("a@b.example"))
def test_payment_envelopes_are_zeeps(pair, order_id, binding_id, ip, cvc, language, email):
    outcomes, sent = _both(pair, lambda g: g.pay_with_binding(order_id, binding_id, ip=ip, cvc=cvc,
                                                             language=language, email=email),
                           OK_REPLY["paymentOrderBinding"])
    assert outcomes[0] == outcomes[1]
    assert [(_c14n(m), h) for m, h in sent[0]] == [(_c14n(m), h) for m, h in sent[1]]


@PROFILE
@given(st.booleans(), st.uuids().map(str), NUMBER, st.none() | st.integers(1, 10**9))
def test_status_and_deposit_envelopes_are_zeeps(pair, by_id, order_id, number, minor):
    status = (lambda g: g.order_status(order_id=order_id)) if by_id else (lambda g: g.order_status(order_number=number))
    outcomes, sent = _both(pair, status, OK_REPLY["getOrderStatusExtended"])
    assert outcomes[0] == outcomes[1] and [_c14n(m) for m, _h in sent[0]] == [_c14n(m) for m, _h in sent[1]]
    amount = None if minor is None else Money.from_minor(minor, "RUB")
    outcomes, sent = _both(pair, lambda g: g.deposit(order_id, amount), OK_REPLY["depositOrder"])
    assert outcomes[0] == outcomes[1] and [_c14n(m) for m, _h in sent[0]] == [_c14n(m) for m, _h in sent[1]]


# -- replies -------------------------------------------------------------------------------------------

def _value(simple):
    name = getattr(simple.xsd, "name", "") or ""
    if simple.integer:
        bound = 2**62 if name == "long" else 2**31 - 1
        return st.integers(-bound, bound).map(str)
    if name == "dateTime":
        return st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 1, 1)).map(
            lambda d: d.replace(microsecond=0).isoformat() + "+03:00")
    if name == "boolean":
        return st.sampled_from(["true", "false", "1", "0"])
    return SAFE | st.just("") | st.just(" padded ")


def _xml(plan, tag, depth=0):
    attributes = [st.tuples(st.just(f.tag), _value(f.simple) if f.required else st.none() | _value(f.simple))
                  for f in plan.attributes]
    children = []
    for field in plan.elements:
        most = 2 if field.many else 1
        least = 1 if field.required else 0
        if field.complex is not None:
            one = _xml(field.complex, field.tag, depth + 1) if depth < 3 else st.nothing()
        else:
            one = _value(field.simple).map(lambda v, t=field.tag: f"<{t}>{escape(v)}</{t}>")
        children.append(st.lists(one, min_size=least, max_size=most if depth < 3 else least).map("".join))

    def render(parts):
        attrs, inner = parts
        text = "".join(f" {name}={quoteattr(value)}" for name, value in attrs if value is not None)
        return f"<{tag}{text}>{''.join(inner)}</{tag}>"

    return st.tuples(st.tuples(*attributes), st.tuples(*children)).map(render)


_CODECS = {}


def _codec(operation):
    if not _CODECS:
        gateway = RbsSoapGateway(SOAP_URL, "u", "p")
        _CODECS.update(codecs_for(gateway._client.wsdl.bindings[BINDING_NAME]))
        gateway.close()
    return _CODECS[operation]


CALLS = {
    "registerOrder": lambda g: g.register_order("N-1", Money.from_minor(100, "RUB"), "https://s/ok"),
    "registerOrderPreAuth": lambda g: g.register_order("N-1", Money.from_minor(100, "RUB"), "https://s/ok",
                                                       two_stage=True),
    "paymentOrderBinding": lambda g: g.pay_with_binding("o-1", "b-1"),
    "getOrderStatusExtended": lambda g: g.order_status(order_id="o-1"),
    "depositOrder": lambda g: g.deposit("o-1"),
}


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("operation", HOT_OPERATIONS)
def test_every_hot_operation_is_compiled(operation):
    assert _codec(operation).name == operation


@pytest.mark.parametrize("operation", HOT_OPERATIONS)
@settings(max_examples=int(os.environ.get("CODEC_EXAMPLES", "30")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_valid_replies_parse_as_zeep_parses_them(pair, operation, data):
    codec = _codec(operation)
    tag, plan = codec.result
    inner = data.draw(_xml(plan, tag))
    reply = soap_reply(codec.response_tag.split("}")[1][:-len("Response")], inner)
    (fast, _w1), (slow, _w2) = pair
    binding = slow._binding
    response = requests.models.Response()
    response._content, response.status_code, response.encoding = reply.encode(), 200, "utf-8"
    theirs = _outcome(lambda: _plain(serialize_object(binding.process_reply(slow._client, binding.get(operation),
                                                                               response))))
    try:
        mine = ("ok", codec.read(reply.encode()).as_dict())
    except FALLBACK:
        mine = None  # zeep reads it: equal by construction, checked below at the gateway
    if mine is not None:
        assert mine == theirs
    outcomes, _sent = _both(pair, CALLS[operation], reply)
    assert outcomes[0] == outcomes[1]


BROKEN = [
    ('<return errorCode="0" foo="1"/>', "an unknown attribute"),
    ('<return errorCode="0"><zzz/></return>', "an unknown element"),
    ('<return errorCode="x"/>', "a number that is not one"),
    ('<return errorCode=" 5 "/>', "a number with spaces"),
    ('<return errorCode="1_0"/>', "a number with an underscore"),
    ('<return errorCode=""/>', "an empty number"),
    ("<return/>", "an empty answer"),
    ('<return errorCode="0"><!-- c --></return>', "a comment"),
    ('<return errorCode="0">text</return>', "text in a complex element"),
    ('<return errorCode="0" orderId="o-1">\n  <formUrl>https://f</formUrl>\n</return>', "whitespace between"),
    ('<return errorCode="0" orderId="o-1"><formUrl/></return>', "an empty simple element"),
    ('<return errorCode="0" orderId="o-1"><formUrl>a</formUrl><formUrl>b</formUrl></return>', "a repeated element"),
]


@pytest.mark.parametrize("operation", HOT_OPERATIONS)
@pytest.mark.parametrize("inner,why", BROKEN)
def test_broken_replies_end_as_they_do_with_zeep(pair, operation, inner, why):
    name = operation
    outcomes, _sent = _both(pair, CALLS[name], soap_reply(name, inner))
    assert outcomes[0] == outcomes[1], why


@pytest.mark.parametrize("body", [
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
    b"<faultcode>soap:Server</faultcode><faultstring>boom</faultstring></soap:Fault></soap:Body></soap:Envelope>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><soap:Envelope '
    b'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>',
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/><soap:Body>'
    b'<ns1:depositOrderResponse xmlns:ns1="http://engine.paymentgate.ru/webservices/merchant"><return errorCode="0"/>'
    b"</ns1:depositOrderResponse></soap:Body></soap:Envelope>",
    b"<not-closed",
    b"",
])
def test_faults_dtds_headers_and_garbage_end_as_they_do_with_zeep(pair, body):
    for call in CALLS.values():
        outcomes, _sent = _both(pair, call, body)
        assert outcomes[0] == outcomes[1]


def test_every_request_the_gateway_makes_takes_the_compiled_path(pair, monkeypatch):
    """The gateway's own arguments never fall back to zeep (a value of an unexpected Python type
    would, silently, and the hot path would be slow again)."""
    (fast, wire), (slow, _w) = pair
    assert fast.compiled and not slow.compiled and slow._codecs == {}
    assert sorted(fast._codecs) == sorted(HOT_OPERATIONS)
    called = []
    monkeypatch.setattr(type(fast._service), "__getattr__", lambda self, name: called.append(name), raising=False)
    calls = [("registerOrder", lambda: fast.register_order("N-1", Money.of("1.00", "RUB"), "https://s/ok",
                                                           client_id="c", auto_payment=True, description="d")),
             ("registerOrderPreAuth", lambda: fast.register_order("N-1", Money.of("1.00", "USD"), "https://s/ok",
                                                                  two_stage=True, session_timeout_secs=600)),
             ("paymentOrderBinding", lambda: fast.pay_with_binding("o-1", "b-1", ip="10.0.0.1", cvc="123")),
             ("getOrderStatusExtended", lambda: fast.order_status(order_number="N-1")),
             ("depositOrder", lambda: fast.deposit("o-1", Money.of("1.00", "RUB")))]
    for operation, call in calls:
        wire.reply = OK_REPLY[operation].encode()
        call()
    assert called == []  # zeep's service proxy was never used


RICH_STATUS = soap_reply("getOrderStatusExtended", (
    '<return errorCode="0" errorMessage="Успешно" orderNumber="N-1" orderStatus="2" actionCode="0" '
    'actionCodeDescription="" amount="49900" currency="643" date="2026-12-04T03:00:00+03:00" ip="10.0.0.1">'
    '<attributes name="mdOrder" value="o-1"/><cardAuthInfo maskedPan="411111**1111" expiration="203012" '
    'cardholderName="CARD HOLDER" approvalCode="123456" paymentSystem="VISA"><secureAuthInfo><eci>5</eci>'
    '</secureAuthInfo></cardAuthInfo><bindingInfo clientId="c-1" bindingId="b-1"/>'
    '<paymentAmountInfo paymentState="DEPOSITED" approvedAmount="49900" depositedAmount="49900" refundedAmount="0"/>'
    '<bankInfo bankName="BANK" bankCountryCode="RU" bankCountryName="Россия"/>'
    '<refunds amount="100" date="2026-12-05T10:00:00+03:00"/><chargeback>false</chargeback></return>'))


@pytest.mark.parametrize("operation,reply", [*OK_REPLY.items(), ("getOrderStatusExtended", RICH_STATUS)])
def test_plain_answers_take_the_fast_path_and_equal_zeeps(pair, operation, reply):
    (_fast, _w1), (slow, _w2) = pair
    response = requests.models.Response()
    response._content, response.status_code, response.encoding = reply.encode(), 200, "utf-8"
    theirs = _plain(serialize_object(slow._binding.process_reply(slow._client, slow._binding.get(operation),
                                                                   response)))
    assert _codec(operation).read(reply.encode()).as_dict() == theirs  # no FALLBACK raised


def test_profiles_pass_the_switch():
    from autopay_soap import AutopayClient

    plain = AutopayClient.from_profile("sandbox", sandbox_url="http://127.0.0.1:9", soap_compiled=False)
    fast = AutopayClient.from_profile("sandbox", sandbox_url="http://127.0.0.1:9")
    assert (plain.gateway.compiled, fast.gateway.compiled) == (False, True)
    plain.close()
    fast.close()
