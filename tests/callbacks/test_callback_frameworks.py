"""The receivers mounted in Django, Flask and Starlette, driven through each framework's own test
client: genuine notifications reach the handler once, confirmed; forged, shifted, repeated and
replayed-after-refund ones never do; T-Bank gets exactly ``OK``."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from autopay_soap import Money
from autopay_soap.callbacks import RbsReceiver, TBankReceiver
from autopay_soap.client import AutopayClient
from autopay_soap.gateways.rbs_rest import RbsRestGateway
from autopay_soap.sandbox import Sandbox, TestCards
from autopay_soap.signing import make_token, rbs_hmac_checksum, rbs_signed_string

SECRET = "callback-secret-for-tests"
FRAMEWORKS = ["django", "flask", "starlette"]


@pytest.fixture(scope="module")
def world():
    """A sandbox with a paid and a refunded RBS order, a paid and a refunded T-Bank payment, and
    the genuine notifications of each."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    with Sandbox() as sb:
        rbs = RbsRestGateway(sb.rest_url, sb.username, sb.password)
        notes = {}
        for number in ("RBS-PAID", "RBS-REFUNDED"):
            order = rbs.register_order(number, Money.of("10.00", "RUB"), sb.return_url)
            assert sb.pay(order.form_url, TestCards.SUCCESS).paid
            notes[number] = {"mdOrder": order.order_id, "orderNumber": number, "operation": "deposited",
                             "status": "1", "amount": "1000"}
        sb.cabinet.refund("RBS-REFUNDED")
        tbank = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport="tbank", return_url=sb.return_url)
        for number in ("T-PAID", "T-REFUNDED"):
            started = tbank.start_first_payment(number, Money.of("12.34", "RUB"), f"cust-{number}")
            sb.pay(started.form_url, TestCards.TBANK_SUCCESS)
            notes[number] = {"TerminalKey": sb.tbank_terminal_key, "OrderId": number, "Success": True,
                             "Status": "CONFIRMED", "PaymentId": int(started.order_id), "ErrorCode": "0",
                             "Amount": 1234}
            notes[number]["Token"] = make_token(notes[number], sb.tbank_password)
        sb.cabinet.refund("T-REFUNDED")
        yield {"sb": sb, "rbs": rbs, "tbank": tbank.gateway, "notes": notes, "key": key, "public_pem": public_pem}
        rbs.close()
        tbank.close()


def hmac_signed(params):
    return {**params, "checksum": rbs_hmac_checksum(params, SECRET)}


def rsa_signed(params, key):
    signature = key.sign(rbs_signed_string(params).encode(), padding.PKCS1v15(), hashes.SHA256())
    return {**params, "checksum": signature.hex().upper()}


# -- each framework's test client, behind one call --------------------------------------------------


def django_client(routes):
    from .. import django_urls

    django_urls.configure()
    from django.test import Client
    from django.urls import path

    from autopay_soap.callbacks.django import callback_view

    django_urls.use([path(route.lstrip("/"), callback_view(receiver)) for route, receiver in routes.items()])
    client = Client(enforce_csrf_checks=True)  # the gateway holds no CSRF token: the view must not ask

    def call(method, route, query="", body=b"", content_type="application/x-www-form-urlencoded"):
        url = route + ("?" + query if query else "")
        answer = client.get(url) if method == "GET" else client.post(url, data=body, content_type=content_type)
        return answer.status_code, answer.content
    return call


def flask_client(routes):
    from flask import Flask

    from autopay_soap.callbacks.flask import add_callback_route

    app = Flask("callbacks-under-test")
    for route, receiver in routes.items():
        add_callback_route(app, route, receiver)
    client = app.test_client()

    def call(method, route, query="", body=b"", content_type="application/x-www-form-urlencoded"):
        if method == "GET":
            answer = client.get(route, query_string=query)
        else:
            answer = client.post(route, query_string=query, data=body, content_type=content_type)
        return answer.status_code, answer.data
    return call


def starlette_client(routes):
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from autopay_soap.callbacks.asgi import CallbackAsgiApp

    app = Starlette(routes=[Route(route, endpoint=CallbackAsgiApp(receiver)) for route, receiver in routes.items()])
    client = TestClient(app)

    def call(method, route, query="", body=b"", content_type="application/x-www-form-urlencoded"):
        url = route + ("?" + query if query else "")
        answer = client.get(url) if method == "GET" else client.post(url, content=body,
                                                                     headers={"content-type": content_type})
        return answer.status_code, answer.content
    return call


def mounted(framework, world, got):
    routes = {
        "/rbs-hmac": RbsReceiver(got.append, secret=SECRET, gateway=world["rbs"]),
        "/rbs-rsa": RbsReceiver(got.append, public_key=world["public_pem"], gateway=world["rbs"]),
        "/tbank": TBankReceiver(got.append, password=world["sb"].tbank_password, gateway=world["tbank"]),
    }
    return {"django": django_client, "flask": flask_client, "starlette": starlette_client}[framework](routes)


# -- RBS ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_genuine_rbs_callbacks_reach_the_handler_once_confirmed(framework, world):
    got = []
    call = mounted(framework, world, got)
    genuine = world["notes"]["RBS-PAID"]
    assert call("GET", "/rbs-hmac", urlencode(hmac_signed(genuine))) == (200, b"OK")
    assert call("POST", "/rbs-rsa", body=urlencode(rsa_signed(genuine, world["key"])).encode()) == (200, b"OK")
    assert len(got) == 2 and all(n.confirmed and n.is_payment and n.order_number == "RBS-PAID" for n in got)
    assert got[0].details.amount == Money.of("10.00", "RUB")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_forged_shifted_repeated_and_replayed_rbs_callbacks_never_reach_the_handler(framework, world):
    got = []
    call = mounted(framework, world, got)
    genuine = world["notes"]["RBS-PAID"]
    signed = hmac_signed(genuine)
    forged = {**signed, "amount": "100000"}  # the checksum of another amount
    # a ';' moves "deposited" into orderNumber while keeping the signed name;value; string
    shifted = {**{k: v for k, v in genuine.items() if k != "operation"},
               "orderNumber": "RBS-PAID;operation;deposited", "checksum": signed["checksum"]}
    repeated = urlencode(signed) + "&amount=999999"  # Flask keeps the first value, Django the last
    attempts = [("/rbs-hmac", "GET", urlencode(forged), b""), ("/rbs-hmac", "POST", "", urlencode(shifted).encode()),
                ("/rbs-hmac", "GET", repeated, b""), ("/rbs-hmac", "POST", "", repeated.encode()),
                ("/rbs-rsa", "GET", urlencode({**rsa_signed(genuine, world["key"]), "amount": "1"}), b"")]
    for route, method, query, body in attempts:
        status, answer = call(method, route, query, body)
        assert status == 403 and answer != b"OK", (route, method, query, body)
    replayed = hmac_signed(world["notes"]["RBS-REFUNDED"])  # genuine, but the order was refunded since
    assert call("GET", "/rbs-hmac", urlencode(replayed)) == (200, b"OK")  # acknowledged: stop sending it
    assert got == []


# -- T-Bank -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_tbank_notifications_get_exactly_ok_and_only_genuine_current_ones_reach_the_handler(framework, world):
    got = []
    call = mounted(framework, world, got)
    genuine = world["notes"]["T-PAID"]
    body = json.dumps(genuine).encode()
    assert call("POST", "/tbank", body=body, content_type="application/json") == (200, b"OK")
    assert len(got) == 1 and got[0].confirmed and got[0].status == "CONFIRMED"
    shifted = {**genuine, "Amount": 123, "ErrorCode": "40"}  # neighbours in the Token: "1234"+"0" == "123"+"40"
    assert make_token({k: v for k, v in shifted.items() if k != "Token"}, "x") == \
        make_token({k: v for k, v in genuine.items() if k != "Token"}, "x")
    wrong_token = {**genuine, "Token": "0" * 64}
    for forged in (shifted, wrong_token):
        status, answer = call("POST", "/tbank", body=json.dumps(forged).encode(), content_type="application/json")
        assert status == 403 and answer != b"OK"
    assert call("GET", "/tbank")[0] == 405
    replayed = json.dumps(world["notes"]["T-REFUNDED"]).encode()
    assert call("POST", "/tbank", body=replayed, content_type="application/json") == (200, b"OK")
    assert len(got) == 1  # the refunded payment's "CONFIRMED" was acknowledged, not handed over


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_an_oversized_body_is_refused(framework, world):
    got = []
    call = mounted(framework, world, got)
    status, _answer = call("POST", "/tbank", body=b"{" + b" " * (65 * 1024) + b"}", content_type="application/json")
    assert status == 413 and got == []


def test_the_asgi_app_stops_reading_an_undeclared_body_at_the_limit():
    """A body with no Content-Length that never ends: read up to the limit, then 413, handler unasked."""
    import asyncio

    from autopay_soap.callbacks.asgi import CallbackAsgiApp

    got, sent, chunks = [], [], {"n": 0}

    async def receive():
        chunks["n"] += 1
        return {"type": "http.request", "body": b" " * 8192, "more_body": True}  # endless

    async def send(message):
        sent.append(message)

    app = CallbackAsgiApp(TBankReceiver(got.append, password="pw", offline=True))
    scope = {"type": "http", "method": "POST", "headers": [], "query_string": b""}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and got == []
    assert chunks["n"] == 64 * 1024 // 8192 + 1  # one chunk past the limit, no more
