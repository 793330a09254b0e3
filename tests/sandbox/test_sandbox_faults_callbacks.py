"""Fault plans and callbacks of the sandbox, asserted on the ledger and on a real receiver."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from autopay_soap import (
    BadResponse,
    ConnectionDropped,
    Money,
    OutcomeUnknown,
    ResponseTimeout,
    SoapFaultError,
    Timeouts,
)
from autopay_soap.callbacks import rbs_hmac_checksum, verify_rbs_hmac
from autopay_soap.gateways.rbs_soap import RbsSoapGateway
from autopay_soap.sandbox import FaultPlan, Sandbox, TestCards

RUB10 = Money.of("10.00", "RUB")


def _bound_order(sb, gw, number="F"):
    first = gw.register_order(number + "-first", RUB10, sb.return_url, client_id="c1")
    sb.pay(first.form_url, TestCards.SUCCESS)
    binding = gw.order_status(order_id=first.order_id).binding.binding_id
    auto = gw.register_order(number + "-auto", RUB10, sb.return_url, client_id="c1", auto_payment=True)
    return auto, binding


@pytest.mark.parametrize("kind, error, committed", [
    ("drop_after", ConnectionDropped, True),
    ("garbage", BadResponse, True),
    ("truncated", BadResponse, True),
    ("http500", BadResponse, False),
    ("http503", BadResponse, False),
    ("refuse", ConnectionDropped, False),
    ("soap_fault", SoapFaultError, False),
])
def test_each_fault_kind_on_the_payment_step(kind, error, committed):
    plan = FaultPlan()
    with Sandbox(faults=plan) as sb:
        gw = RbsSoapGateway(sb.soap_url, sb.username, sb.password)
        auto, binding = _bound_order(sb, gw)
        plan.add("paymentOrderBinding", kind, 1.0)
        with pytest.raises(error):
            gw.pay_with_binding(auto.order_id, binding)
        charged = sb.engine.charges_by_order_number().get("F-auto", 0)
    assert charged == (1 if committed else 0)
    assert plan.injected == {kind: 1}


@pytest.mark.sandbox(faults="paymentOrderBinding:drop_after=1")
def test_drop_after_commit_charges_while_the_client_sees_a_dropped_connection(sb):
    gw = RbsSoapGateway(sb.soap_url, sb.username, sb.password)
    auto, binding = _bound_order(sb, gw)
    with pytest.raises(OutcomeUnknown):
        gw.pay_with_binding(auto.order_id, binding)
    holds = [m for m in sb.ledger() if m.order_number == "F-auto" and m.kind == "hold"]
    assert len(holds) == 1
    assert gw.order_status(order_id=auto.order_id).is_paid


def test_slow_answer_is_a_timeout_after_commit():
    with Sandbox(faults=FaultPlan(slow_seconds=1.0)) as sb:
        gw = RbsSoapGateway(sb.soap_url, sb.username, sb.password, timeouts=Timeouts(connect=2, read=0.3))
        auto, binding = _bound_order(sb, gw)
        sb.faults.add("paymentOrderBinding", "slow", 1.0)
        with pytest.raises(ResponseTimeout):
            gw.pay_with_binding(auto.order_id, binding)
        assert sb.engine.charges_by_order_number()["F-auto"] == 1


def test_plans_are_seeded_and_parsed():
    spec = "registerOrder:http500=0.3,drop_after=0.2;*:slow=0.1"
    a, b, c = (FaultPlan.parse(spec, seed=seed) for seed in (7, 7, 8))
    seq_a = [a.draw("registerOrder") for _ in range(200)]
    assert seq_a == [b.draw("registerOrder") for _ in range(200)]  # same seed, same faults
    assert seq_a != [c.draw("registerOrder") for _ in range(200)]  # another seed, other faults
    assert set(a.injected) == {"http500", "drop_after", "slow"}
    other = FaultPlan.parse(spec, seed=7)
    kinds = [other.draw("getBindings") for _ in range(1000)]
    assert set(kinds) == {None, "slow"} and 50 < kinds.count("slow") < 150
    with pytest.raises(ValueError):
        FaultPlan.parse("x:explode=1")
    with pytest.raises(ValueError):
        FaultPlan.parse("x:slow=2")


class Receiver:
    """A merchant's callback endpoint on loopback, answering the statuses it is given."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                receiver.received.append({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_callbacks_are_signed_and_cover_the_life_of_an_order():
    receiver = Receiver()
    try:
        with Sandbox(callback_url=receiver.url, callback_secret="merchant-secret") as sb:
            gw = RbsSoapGateway(sb.soap_url, sb.username, sb.password)
            order = gw.register_order("CB1", RUB10, sb.return_url, client_id="c1", two_stage=True)
            sb.pay(order.form_url, TestCards.SUCCESS)
            gw.deposit(order.order_id)
            gw.refund(order.order_id, Money.of("1.00", "RUB"))
            held = gw.register_order("CB2", RUB10, sb.return_url, two_stage=True)
            sb.pay(held.form_url, TestCards.SUCCESS)
            gw.reverse(held.order_id)
            assert sb.wait_for_callbacks()
    finally:
        receiver.close()
    operations = [(p["orderNumber"], p["operation"], p["status"]) for p in receiver.received]
    assert operations == [("CB1", "approved", "1"), ("CB1", "bindingCreated", "1"), ("CB1", "deposited", "1"),
                          ("CB1", "refunded", "1"), ("CB2", "approved", "1"), ("CB2", "reversed", "1")]
    for params in receiver.received:
        assert verify_rbs_hmac(params, "merchant-secret")
        assert not verify_rbs_hmac({**params, "amount": "1"}, "merchant-secret")
    created = receiver.received[1]
    assert created["bindingId"] and created["clientId"] == "c1"


def test_declined_by_timeout_callback_and_retries():
    now = [1_800_000_000.0]
    receiver = Receiver(statuses=[500, 503])
    try:
        with Sandbox(callback_url=receiver.url, callback_secret="s", callback_retry_interval=0,
                     clock=lambda: now[0]) as sb:
            gw = RbsSoapGateway(sb.soap_url, sb.username, sb.password)
            order = gw.register_order("EXP", RUB10, sb.return_url, session_timeout_secs=60)
            now[0] += 61
            assert gw.order_status(order_id=order.order_id).status.name == "DECLINED"
            assert sb.wait_for_callbacks()
            delivered = sb.callbacks
    finally:
        receiver.close()
    assert [p["operation"] for p in receiver.received] == ["declinedByTimeout"] * 3
    assert receiver.received[0]["status"] == "0"
    assert delivered[0]["attempts"] == 3 and delivered[0]["status"] == 200


def test_hmac_vector_from_the_facts():
    params = {"mdOrder": "06cf5599-3f17-7c86-bdbc-bd7d00a8b38b", "operation": "approved",
              "orderNumber": "2003", "status": "1"}
    assert rbs_hmac_checksum(params, "ooc7slpvc61k7sf7ma7p4hrefr") == \
        "EAF2FB72CAB99FD5067F4BA493DD84F4D79C1589FDE8ED29622F0F07215AA972"


def test_per_order_dynamic_callback_url_wins():
    import requests

    per_order, default = Receiver(), Receiver()
    try:
        with Sandbox(callback_url=default.url) as sb:
            auth = {"userName": sb.username, "password": sb.password}
            answer = requests.post(sb.rest_url + "register.do", timeout=5, data={
                **auth, "orderNumber": "DYN-1", "amount": "100", "returnUrl": sb.return_url,
                "dynamicCallbackUrl": per_order.url}).json()
            sb.pay(answer["formUrl"], TestCards.SUCCESS)
            other = requests.post(sb.rest_url + "register.do", timeout=5, data={
                **auth, "orderNumber": "DYN-2", "amount": "100", "returnUrl": sb.return_url}).json()
            sb.pay(other["formUrl"], TestCards.SUCCESS)
            assert sb.wait_for_callbacks()
    finally:
        per_order.close()
        default.close()
    assert [(p["orderNumber"], p["operation"]) for p in per_order.received] == [("DYN-1", "deposited")]
    assert [(p["orderNumber"], p["operation"]) for p in default.received] == [("DYN-2", "deposited")]
