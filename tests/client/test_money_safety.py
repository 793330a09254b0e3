"""Money safety against a careless caller or a gateway that lies: reused order numbers, a gateway
that accepts a repeated OrderId, a reply nobody foresaw, a secret in a repr, a control character."""

from __future__ import annotations

import functools
import json

import pytest
import responses

from autopay_soap import Money
from autopay_soap.client import AutopayClient, ChargeOutcome
from autopay_soap.errors import AccessDenied, GatewayError, GatewaySystemError, OrderMismatch, ValidationError
from autopay_soap.gateways.rbs_rest import RbsRestGateway
from autopay_soap.retry import RetryPolicy
from autopay_soap.sandbox import Sandbox, TestCards
from autopay_soap.secret import Secret
from autopay_soap.validation import check_description, check_text

RUB = lambda text: Money.of(text, "RUB")  # noqa: E731
TRANSPORTS = ["soap", "rest", "tbank"]


def client_for(sb, transport, **kw):
    return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport=transport, return_url=sb.return_url,
                                      sleep=lambda s: None, **kw)


def first_payment(sb, client, number, client_id):
    started = client.start_first_payment(number, RUB("10.00"), client_id)
    sb.pay(started.form_url, TestCards.SUCCESS)
    return client.finish_first_payment(order_id=started.order_id, client_id=client_id).binding.binding_id


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_reused_order_number_with_another_amount_is_a_mismatch_never_paid(transport):
    with Sandbox() as sb, client_for(sb, transport) as client:
        alice = first_payment(sb, client, "FP-ALICE", "alice")
        bob = first_payment(sb, client, "FP-BOB", "bob")
        assert client.autopay("SUB-1", RUB("1.00"), client_id="alice", binding_id=alice).outcome is ChargeOutcome.PAID
        with pytest.raises(OrderMismatch) as info:
            client.autopay("SUB-1", RUB("500.00"), client_id="bob", binding_id=bob)
        assert info.value.requested["amount"] == 50000 and info.value.found["amount"] == 100
        assert "amount" in info.value.differs and info.value.order_number == "SUB-1"
        assert not isinstance(info.value, GatewayError) and not RetryPolicy.retryable(info.value)
        assert sb.engine.charges_by_order_number()["SUB-1"] == 1
        assert [(m.kind, m.amount) for m in sb.ledger() if m.order_number == "SUB-1"][0] == ("hold", 100)
        # the same charge asked again is still reported paid
        assert client.autopay("SUB-1", RUB("1.00"), client_id="alice", binding_id=alice).outcome is ChargeOutcome.PAID


@pytest.mark.parametrize("transport", ["soap", "rest"])
def test_a_reused_order_number_for_another_client_or_binding_is_a_mismatch(transport):
    # RBS names the client and the binding of a paid order; the same amount does not make it the same charge
    with Sandbox() as sb, client_for(sb, transport) as client:
        alice = first_payment(sb, client, "FP-ALICE", "alice")
        bob = first_payment(sb, client, "FP-BOB", "bob")
        client.autopay("SUB-2", RUB("1.00"), client_id="alice", binding_id=alice)
        with pytest.raises(OrderMismatch) as info:
            client.autopay("SUB-2", RUB("1.00"), client_id="bob", binding_id=bob)
        assert set(info.value.differs) == {"client_id", "binding_id"}
        assert sb.engine.charges_by_order_number()["SUB-2"] == 1


def test_tbank_never_relies_on_a_refused_repeated_order_id():
    # a gateway that accepts a repeated OrderId: before the fix a paid row run again was charged twice
    with Sandbox(tbank_repeated_order_ids=True) as sb, client_for(sb, "tbank") as client:
        rebill = first_payment(sb, client, "FP-1", "cust-1")
        first = client.autopay("AP-1", RUB("9.90"), binding_id=rebill)
        again = client.autopay("AP-1", RUB("9.90"), binding_id=rebill)
        assert first.outcome is again.outcome is ChargeOutcome.PAID and again.order_id == first.order_id
        assert sb.engine.charges_by_order_number()["AP-1"] == 1
        with pytest.raises(OrderMismatch):
            client.autopay("AP-1", RUB("99.00"), binding_id=rebill)
        assert sb.engine.charges_by_order_number()["AP-1"] == 1


@pytest.mark.sandbox(tbank_repeated_order_ids=True)
def test_the_sandbox_switch_does_accept_a_repeated_order_id(sb):
    from autopay_soap.gateways.tbank import TBankGateway

    gw = TBankGateway(sb.tbank_terminal_key, sb.tbank_password, base_url=sb.tbank_url)
    one = gw.init("SAME-1", RUB("10.00"))
    two = gw.init("SAME-1", RUB("10.00"))
    assert one["PaymentId"] != two["PaymentId"]
    assert len(gw.check_order("SAME-1")["Payments"]) == 2
    gw.close()


@responses.activate
def test_an_order_status_outside_the_known_set_is_unknown_not_a_crash():
    base = "https://gw.test/payment/rest/"
    responses.add(responses.POST, base + "register.do", json={"orderId": "o-1", "formUrl": "https://f"})
    responses.add(responses.POST, base + "paymentOrderBinding.do", json={"errorCode": "0", "redirect": "https://r"})
    responses.add(responses.POST, base + "getOrderStatusExtended.do",
                  json={"errorCode": "0", "orderStatus": 42, "orderNumber": "N-1", "amount": 100})
    gw = RbsRestGateway(base, "u", "p")
    client = AutopayClient(gw, return_url="https://shop/ok", retry=RetryPolicy(attempts=2), sleep=lambda s: None)
    result = client.autopay("N-1", RUB("1.00"), client_id="c", binding_id="b")
    assert result.outcome is ChargeOutcome.UNKNOWN


@pytest.mark.parametrize("transport", ["soap", "rest"])
@pytest.mark.parametrize("code,message,error", [
    (5, "Access denied", AccessDenied), (7, "System error", GatewaySystemError),
    (99, "Something new", GatewaySystemError)])
def test_get_bindings_errors_map_alike_on_both_rbs_transports(transport, code, message, error):
    # getBindings over SOAP raised TypeError for any errorCode but 0 and 2
    from ..support import soap_reply

    with responses.RequestsMock() as mock:
        if transport == "soap":
            from autopay_soap.gateways.rbs_soap import RbsSoapGateway

            gw = RbsSoapGateway("https://gw.test/payment/webservices/merchant-ws", "u", "p")
            mock.add(responses.POST, "https://gw.test/payment/webservices/merchant-ws",
                     body=soap_reply("getBindings", f'<return errorCode="{code}" errorMessage="{message}"/>'))
        else:
            gw = RbsRestGateway("https://gw.test/payment/rest/", "u", "p")
            mock.add(responses.POST, "https://gw.test/payment/rest/getBindings.do",
                     json={"errorCode": str(code), "errorMessage": message})
        with pytest.raises(error) as info:
            gw.bindings("client-1")
    assert info.value.gateway_code == code and info.value.operation == "getBindings"


def test_no_password_in_the_repr_of_a_runner_a_gateway_or_a_secret(tmp_path):
    from autopay_soap.batch import BatchRunner
    from autopay_soap.gateways.tbank import TBankGateway

    factory = functools.partial(AutopayClient.from_profile, "sandbox", password="hunter2-secret")
    runner = BatchRunner(factory, tmp_path / "j.sqlite")
    shown = [repr(runner), str(runner), repr(RbsRestGateway("https://gw.test/", "u", "hunter2-secret")),
             repr(TBankGateway("T", Secret("hunter2-secret"), base_url="https://gw.test/v2/")),
             repr(Secret("hunter2-secret")), str(Secret("hunter2-secret")), f"{Secret('hunter2-secret')}"]
    assert not any("hunter2" in text for text in shown), shown
    assert "AutopayClient.from_profile" in repr(runner)
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b") and Secret("a") != "a"
    import pickle

    assert pickle.loads(pickle.dumps(Secret("x"))).reveal() == "x"


@pytest.mark.parametrize("char", ["\x85", "\x9b", "\u2028", "\u2029", "\u202e", "\x00", "\x1b"])
def test_control_characters_of_every_kind_are_refused(char):
    with pytest.raises(ValidationError) as info:
        check_text(f"Subscription{char}March", "description", 100)
    assert info.value.field == "description"
    with pytest.raises(ValidationError):
        check_description(f"a{char}b")


def test_json_reply_of_floats_and_nesting_never_escapes_the_error_tree():
    # a concrete case of the property test below, kept as an example that reads
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "https://gw.test/payment/rest/getOrderStatusExtended.do",
                 body=json.dumps({"orderStatus": [1], "amount": {"x": 1.5}}))
        gw = RbsRestGateway("https://gw.test/payment/rest/", "u", "p")
        from autopay_soap.errors import BadResponse

        with pytest.raises(BadResponse):
            gw.order_status(order_id="o-1")
