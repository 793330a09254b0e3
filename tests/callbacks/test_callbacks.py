"""Callback verification: the facts' vectors, tampered variants, the WSGI receiver, end to end."""

import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from autopay_soap import CallbackVerificationError, Money, ValidationError
from autopay_soap.callbacks import (
    RbsCallbackApp,
    load_rsa_public_key,
    rbs_signed_string,
    verify_rbs_callback_offline,
)
from autopay_soap.gateways.rbs_soap import RbsSoapGateway
from autopay_soap.sandbox import Sandbox, TestCards

V1_KEY = "ooc7slpvc61k7sf7ma7p4hrefr"
V1 = {"mdOrder": "06cf5599-3f17-7c86-bdbc-bd7d00a8b38b", "operation": "approved", "orderNumber": "2003",
      "status": "1", "checksum": "EAF2FB72CAB99FD5067F4BA493DD84F4D79C1589FDE8ED29622F0F07215AA972"}
V2_CERT = (
    "MIICcTCCAdqgAwIBAgIGAWAnZt3aMA0GCSqGSIb3DQEBCwUAMHwxIDAeBgkqhkiG9w0BCQEWEWt6bnRlc3RAeWFuZGV4LnJ1MQswCQYDVQQG"
    "EwJSVTESMBAGA1UECBMJVGF0YXJzdGFuMQ4wDAYDVQQHEwVLYXphbjEMMAoGA1UEChMDUkJTMQswCQYDVQQLEwJRQTEMMAoGA1UEAxMDUkJT"
    "MB4XDTE3MTIwNTE2MDEyMFoXDTE4MTIwNTE2MDExOVowfDEgMB4GCSqGSIb3DQEJARYRa3pudGVzdEB5YW5kZXgucnUxCzAJBgNVBAYTAlJV"
    "MRIwEAYDVQQIEwlUYXRhcnN0YW4xDjAMBgNVBAcTBUthemFuMQwwCgYDVQQKEwNSQlMxCzAJBgNVBAsTAlFBMQwwCgYDVQQDEwNSQlMwgZ8w"
    "DQYJKoZIhvcNAQEBBQADgY0AMIGJAoGBAJNgxgtWRFe8zhF6FE1C8s1t/dnnC8qzNN+uuUOQ3hBx1CHKQTEtZFTiCbNLMNkgWtJ/CRBBiFXQ"
    "byza0/Ks7FRgSD52qFYUV05zRjLLoEyzG6LAfihJwTEPddNxBNvCxqdBeVdDThG81zC0DiAhMeSwvcPCtejaDDSEYcQBLLhDAgMBAAEwDQYJ"
    "KoZIhvcNAQELBQADgYEAfRP54xwuGLW/Cg08ar6YqhdFNGq5TgXMBvQGQfRvL7W6oH67PcvzgvzN8XCL56dcpB7S8ek6NGYfPQ4K2zhgxhxp"
    "FEDHPcgU4vswnhhWbGVMoVgmTA0hEkwq86CA5ZXJkJm6f3E/J6lYoPQaKatKF24706T6iH2htG4BkjregUA="
)
V2_PEM = "-----BEGIN CERTIFICATE-----\n" + "\n".join(V2_CERT[i:i + 64] for i in range(0, len(V2_CERT), 64)) + \
    "\n-----END CERTIFICATE-----\n"
V2 = {"amount": "35000099", "sign_alias": "SHA-256 with RSA", "mdOrder": "12b59da8-f68f-7c8d-12b5-9da8000826ea",
      "operation": "deposited", "status": "1", "checksum": (
          "163BD9FAE437B5DCDAAC4EB5ECEE5E533DAC7BD2C8947B0719F7A8BD17C101EBDBEACDB295C10BF041E903AF3FF1E6101FF7DB9BD"
          "024C6272912D86382090D5A7614E174DC034EBBB541435C80869CEED1F1E1710B71D6EE7F52AE354505A83A1E279FBA02572DC466"
          "1C1D75ABF5A7130B70306CAFA69DABC2F6200A698198F8")}


def test_hmac_vector_v1():
    assert rbs_signed_string(V1) == ("mdOrder;06cf5599-3f17-7c86-bdbc-bd7d00a8b38b;operation;approved;"
                                     "orderNumber;2003;status;1;")
    note = verify_rbs_callback_offline(V1, secret=V1_KEY)
    assert (note.order_id, note.order_number, note.operation, note.success) == (V1["mdOrder"], "2003", "approved", True)
    assert note.is_payment
    assert verify_rbs_callback_offline({**V1, "checksum": V1["checksum"].lower()}, secret=V1_KEY)


def test_rsa_vector_v2_with_pem_der_and_base64():
    import base64

    for key in (V2_PEM, V2_CERT, base64.b64decode(V2_CERT)):
        note = verify_rbs_callback_offline(V2, public_key=key)
        assert note.operation == "deposited" and note.amount == 35000099
    assert load_rsa_public_key(V2_PEM).key_size == 1024


@pytest.mark.parametrize("tamper", [
    lambda p: {**p, "status": "0"},
    lambda p: {**p, "orderNumber": "2004"},
    lambda p: {**p, "extra": "1"},
    lambda p: {k: v for k, v in p.items() if k != "status"},
    lambda p: {**p, "checksum": p["checksum"][:-1] + ("0" if p["checksum"][-1] != "0" else "1")},
    lambda p: {k: v for k, v in p.items() if k != "checksum"},
    lambda p: {**p, "checksum": ""},
])
def test_tampered_hmac_callbacks_are_refused(tamper):
    with pytest.raises(CallbackVerificationError):
        verify_rbs_callback_offline(tamper(V1), secret=V1_KEY)
    with pytest.raises(CallbackVerificationError):
        verify_rbs_callback_offline(V1, secret="another-secret")


@pytest.mark.parametrize("tamper", [
    lambda p: {**p, "amount": "35000100"},
    lambda p: {**p, "operation": "approved"},
    lambda p: {**p, "checksum": "00" + p["checksum"][2:]},
    lambda p: {**p, "checksum": "zz"},
    lambda p: {k: v for k, v in p.items() if k != "checksum"},
])
def test_tampered_rsa_callbacks_are_refused(tamper):
    with pytest.raises(CallbackVerificationError):
        verify_rbs_callback_offline(tamper(V2), public_key=V2_PEM)


def test_sign_alias_is_not_signed_and_arguments_are_checked():
    assert verify_rbs_callback_offline({**V2, "sign_alias": "other"}, public_key=V2_PEM)
    with pytest.raises(ValidationError):
        verify_rbs_callback_offline(V1)
    with pytest.raises(ValidationError):
        verify_rbs_callback_offline(V1, secret="a", public_key=V2_PEM)
    with pytest.raises(ValidationError):
        load_rsa_public_key("not a key")


def _serve(app):
    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/rbs"


def test_wsgi_receiver_end_to_end_with_the_sandbox():
    received = []
    current = {}

    class Forward:  # the sandbox of the moment confirms each callback
        def order_status(self, **kwargs):
            return current["gw"].order_status(**kwargs)

    server, url = _serve(RbsCallbackApp(received.append, secret="shop-secret", gateway=Forward()))
    try:
        with Sandbox(callback_url=url, callback_secret="shop-secret") as sb:
            gw = current["gw"] = RbsSoapGateway(sb.soap_url, sb.username, sb.password)
            order = gw.register_order("WSGI-1", Money.of("10.00", "RUB"), sb.return_url, client_id="c1")
            sb.pay(order.form_url, TestCards.SUCCESS)
            assert sb.wait_for_callbacks()
            statuses = [c["status"] for c in sb.callbacks]
        with Sandbox(callback_url=url, callback_secret="wrong-secret", callback_retry_interval=0) as sb:
            gw = current["gw"] = RbsSoapGateway(sb.soap_url, sb.username, sb.password)
            order = gw.register_order("WSGI-2", Money.of("10.00", "RUB"), sb.return_url)
            sb.pay(order.form_url, TestCards.SUCCESS)
            assert sb.wait_for_callbacks()
            forged = sb.callbacks
    finally:
        server.shutdown()
        server.server_close()
    assert [(n.order_number, n.operation) for n in received] == [("WSGI-1", "deposited"), ("WSGI-1", "bindingCreated")]
    assert all(n.confirmed and n.details.status.name == "DEPOSITED" for n in received)
    assert statuses == [200, 200]
    assert forged[0]["status"] == 403 and forged[0]["attempts"] == 3


def test_wsgi_receiver_answers_500_when_the_handler_fails():
    def broken(_notification):
        raise RuntimeError("database down")

    app = RbsCallbackApp(broken, secret=V1_KEY, offline=True)
    from urllib.parse import urlencode
    from wsgiref.util import setup_testing_defaults

    environ = {"QUERY_STRING": urlencode(V1)}
    setup_testing_defaults(environ)
    seen = []
    body = app(environ, lambda status, headers: seen.append(status))
    assert seen == ["500 Internal Server Error"] and body == [b"error"]
    ok_app = RbsCallbackApp(lambda n: None, secret=V1_KEY, offline=True)
    body = ok_app(environ, lambda status, headers: seen.append(status))
    assert seen[-1] == "200 OK" and body == [b"OK"]
