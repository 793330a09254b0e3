"""The RBS money operations, written once (gateways/rbs_operations.py), over both bindings."""

import pytest

from autopay_soap import Money
from autopay_soap.errors import ValidationError
from autopay_soap.gateways.base import GatewayFeatures
from autopay_soap.gateways.rbs_rest import RbsRestGateway
from autopay_soap.gateways.rbs_soap import RbsSoapGateway
from autopay_soap.sandbox import TestCards

RUB = lambda text: Money.of(text, "RUB")  # noqa: E731


def paid_order(sb, gateway, number, two_stage=False):
    order = gateway.register_order(number, RUB("10.00"), sb.return_url, two_stage=two_stage)
    assert sb.pay(order.form_url, TestCards.SUCCESS).paid
    return order.order_id


@pytest.mark.parametrize("binding", [RbsSoapGateway, RbsRestGateway])
def test_capture_reverse_and_refund_move_the_same_money_over_both_bindings(binding, sb):
    gateway = binding(sb.soap_url if binding is RbsSoapGateway else sb.rest_url, sb.username, sb.password)
    held = paid_order(sb, gateway, "OPS-HOLD", two_stage=True)
    captured = gateway.deposit(held, RUB("6.00"))
    assert (captured.operation, captured.order_id, captured.amount) == ("deposit", held, RUB("6.00"))
    refunded = gateway.refund(held, RUB("2.00"), expected_deposited=RUB("6.00"))
    assert refunded.amount == RUB("2.00")
    other = paid_order(sb, gateway, "OPS-REV")
    assert gateway.reverse(other).operation == "reverse"
    moves = [(m.kind, m.amount) for m in sb.ledger() if m.order_number == "OPS-HOLD"]
    assert moves == [("hold", 1000), ("deposit", 600), ("refund", 200)]
    assert [m.kind for m in sb.ledger() if m.order_number == "OPS-REV"] == ["hold", "deposit", "reverse"]


@pytest.mark.parametrize("binding", [RbsSoapGateway, RbsRestGateway])
def test_a_bad_argument_is_refused_by_the_shared_checks_before_anything_is_sent(binding, sb):
    gateway = binding(sb.soap_url if binding is RbsSoapGateway else sb.rest_url, sb.username, sb.password)
    order_id = paid_order(sb, gateway, "OPS-BAD")
    before = sb.ledger()
    for call, field in ((lambda: gateway.refund(order_id, RUB("-1.00")), "amount"),
                        (lambda: gateway.refund(order_id, RUB("1.00"), external_refund_id="x" * 33),
                         "external_refund_id"),
                        (lambda: gateway.deposit("", RUB("1.00")), "order_id"),
                        (lambda: gateway.reverse("not an id\n"), "order_id")):
        with pytest.raises(ValidationError) as refused:
            call()
        assert refused.value.field == field
    assert sb.ledger() == before


def test_soap_refuses_the_rest_only_refund_key_and_rest_sends_it(sb):
    soap = RbsSoapGateway(sb.soap_url, sb.username, sb.password)
    rest = RbsRestGateway(sb.rest_url, sb.username, sb.password)
    order_id = paid_order(sb, soap, "OPS-KEY")
    with pytest.raises(ValidationError) as refused:
        soap.refund(order_id, RUB("1.00"), external_refund_id="refund-1")
    assert refused.value.field == "external_refund_id"
    rest.refund(order_id, RUB("1.00"), external_refund_id="refund-1")
    rest.refund(order_id, RUB("1.00"), external_refund_id="refund-1")  # the same key: refunded once
    assert [m.amount for m in sb.ledger() if m.kind == "refund"] == [100]


@pytest.mark.parametrize("binding", [RbsSoapGateway, RbsRestGateway])
def test_a_binding_is_deactivated_reactivated_and_extended_alike_over_both_bindings(binding, sb):
    gateway = binding(sb.soap_url if binding is RbsSoapGateway else sb.rest_url, sb.username, sb.password)
    order = gateway.register_order("OPS-CARD", RUB("1.00"), sb.return_url, client_id="cust")
    sb.pay(order.form_url, TestCards.SUCCESS)
    binding_id = gateway.order_status(order_id=order.order_id).binding.binding_id
    assert gateway.unbind_card(binding_id).operation == "unbind_card"
    assert gateway.bindings("cust") == ()
    gateway.bind_card(binding_id)
    gateway.extend_binding(binding_id, "203512")
    assert [(b.binding_id, b.expiry) for b in gateway.bindings("cust")] == [(binding_id, "203512")]
    with pytest.raises(ValidationError) as refused:
        gateway.extend_binding(binding_id, "203513")  # no 13th month: refused before sending
    assert refused.value.field == "new_expiry"


def test_a_tii_is_refused_where_the_gateway_takes_none_and_sent_where_it_does(sb):
    soap = RbsSoapGateway(sb.soap_url, sb.username, sb.password)
    rest = RbsRestGateway(sb.rest_url, sb.username, sb.password, tii_mode="optional")
    first = rest.register_order("OPS-TII-0", RUB("1.00"), sb.return_url, client_id="cust")
    sb.pay(first.form_url, TestCards.SUCCESS)
    binding_id = rest.order_status(order_id=first.order_id).binding.binding_id
    order = soap.register_order("OPS-TII-1", RUB("1.00"), sb.return_url, client_id="cust", auto_payment=True)
    with pytest.raises(ValidationError) as refused:  # SOAP carries no tii: refused, nothing sent
        soap.pay_with_binding(order.order_id, binding_id, tii="R")
    assert refused.value.field == "initiator" and sb.engine.order(order.order_id).status.value == 0
    with pytest.raises(ValidationError):
        rest.pay_with_binding(order.order_id, binding_id, tii="X")
    rest.pay_with_binding(order.order_id, binding_id, tii="R")
    assert sb.engine.order(order.order_id).tii == "R"


def test_a_rest_gateways_tii_mode_is_its_own_declared_feature():
    """``tii_mode`` is a feature the gateway declares (the client reads ``features``, never probes
    for an attribute); one gateway's setting does not leak into another's or into the class."""
    taking = RbsRestGateway("https://rbs.invalid/payment/rest/", "u", "p", tii_mode="required")
    plain = RbsRestGateway("https://rbs.invalid/payment/rest/", "u", "p")
    assert (taking.features.tii_mode, taking.tii_mode) == ("required", "required")
    assert (plain.features.tii_mode, RbsRestGateway.features.tii_mode) == ("none", "none")
    assert taking.features.receipt_reports == "call" and not taking.features.closing_receipts
    assert RbsSoapGateway.features.tii_mode == "none" and RbsSoapGateway.features.receipt_reports == "none"


def test_a_feature_declared_with_a_word_the_client_does_not_know_is_refused_when_declared():
    """A gateway of your own that declares ``tii_mode="sometimes"`` or ``receipt_reports="mail"``
    is refused where it is declared, not read later as some other mode."""
    for wrong in ({"tii_mode": "sometimes"}, {"receipt_reports": "mail"}):
        with pytest.raises(ValueError, match=next(iter(wrong))):
            GatewayFeatures(**wrong)
    assert GatewayFeatures(tii_mode="optional", receipt_reports="call").tii_mode == "optional"
