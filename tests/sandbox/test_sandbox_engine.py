"""The sandbox engine's rules, codes and transitions (no HTTP)."""

import threading

import pytest

from autopay_soap.codes.reasons import DeclineReason
from autopay_soap.models import OrderStatus
from autopay_soap.sandbox import Engine, EngineError, TestCards
from autopay_soap.sandbox.rbs_words import error_code

from ..support.engine import bound, pay, register


def code_of(call):
    with pytest.raises(EngineError) as info:
        call()
    return error_code(info.value.refusal)  # the RBS front ends' code of the refusal


def test_registration_rules(engine):
    register(engine, "N1")
    assert code_of(lambda: register(engine, "N1")) == 1
    assert code_of(lambda: register(engine, "")) == 4
    assert code_of(lambda: register(engine, "N2", amount=None)) == 4
    assert code_of(lambda: register(engine, "N3", amount=0)) == 5
    assert code_of(lambda: register(engine, "N4", return_url=None)) == 4
    assert code_of(lambda: register(engine, "N5", currency="999")) == 3
    assert code_of(lambda: register(engine, "X" * 33)) == 5
    assert code_of(lambda: register(engine, "N6", features=["AUTO_PAYMENT", "FORCE_TDS"], client_id="c")) == 13
    assert code_of(lambda: register(engine, "N7", features=["AUTO_PAYMENT"])) == 5


def test_one_stage_pays_deposits_and_binds(engine):
    order = register(engine, client_id="c1")
    assert pay(engine, order).paid
    order = engine.order(order.order_id)
    assert order.status is OrderStatus.DEPOSITED and order.deposited == 1000
    assert order.binding_id and engine.bindings("c1")[0].binding_id == order.binding_id
    assert [m.kind for m in engine.movements()] == ["hold", "deposit"]


def test_no_binding_without_client_id(engine):
    order = register(engine)
    pay(engine, order)
    assert engine.order(order.order_id).binding_id is None and engine.all_bindings() == []


def test_two_stage_hold_deposit_partial_and_zero_means_all(engine):
    a = register(engine, "A", two_stage=True)
    pay(engine, a)
    assert engine.order(a.order_id).status is OrderStatus.APPROVED
    assert code_of(lambda: engine.deposit(a.order_id, 1001)) == 7
    engine.deposit(a.order_id, 600)
    assert engine.order(a.order_id).deposited == 600
    assert code_of(lambda: engine.deposit(a.order_id, 0)) == 7  # only from held
    b = register(engine, "B", two_stage=True)
    pay(engine, b)
    engine.deposit(b.order_id, 0)
    assert engine.order(b.order_id).deposited == 1000


def test_3ds_card_goes_through_the_acs(engine):
    order = register(engine)
    result = pay(engine, order, TestCards.SUCCESS_3DS)
    assert result.needs_3ds and engine.order(order.order_id).status is OrderStatus.ACS_AUTH
    assert engine.finish_3ds(order.order_id, "12345678").paid
    assert engine.order(order.order_id).status is OrderStatus.DEPOSITED


def test_wrong_3ds_code_declines(engine):
    order = register(engine)
    pay(engine, order, TestCards.SUCCESS_3DS)
    assert engine.finish_3ds(order.order_id, "000").declined
    assert engine.order(order.order_id).status is OrderStatus.DECLINED


@pytest.mark.parametrize("card, reason", [(TestCards.DECLINED, DeclineReason.ISSUER_DECLINED),
                                          (TestCards.INSUFFICIENT_FUNDS, DeclineReason.INSUFFICIENT_FUNDS),
                                          (TestCards.EXPIRED, DeclineReason.CARD_EXPIRED)])
def test_declining_cards(engine, card, reason):
    order = register(engine, client_id="c1")
    assert pay(engine, order, card).declined
    order = engine.order(order.order_id)
    assert order.status is OrderStatus.DECLINED and order.decline_reason is reason
    assert engine.movements() == [] and engine.all_bindings() == []


def test_order_is_paid_at_most_once(engine):
    order = register(engine)
    pay(engine, order)
    assert code_of(lambda: pay(engine, order)) == 7
    assert len(engine.movements()) == 2


def test_expiry_declines_by_timeout_without_waiting(engine, clock):
    order = register(engine, session_timeout_secs=60)
    clock.now += 61
    assert engine.order(order.order_id).status is OrderStatus.DECLINED
    assert engine.order(order.order_id).decline_reason is DeclineReason.SESSION_EXPIRED
    assert code_of(lambda: pay(engine, order)) == 7
    default = register(engine, "N2")
    clock.now += 1199
    assert engine.order(default.order_id).status is OrderStatus.CREATED
    clock.now += 2
    assert engine.order(default.order_id).status is OrderStatus.DECLINED


def test_auto_payment_needs_no_cvc_other_binding_payments_do(engine):
    binding = bound(engine)
    auto = register(engine, "AUTO", client_id="c1", features=["AUTO_PAYMENT"])
    assert engine.pay_with_binding(auto.order_id, binding).paid
    plain = register(engine, "PLAIN", client_id="c1")
    assert code_of(lambda: engine.pay_with_binding(plain.order_id, binding)) == 5
    assert engine.pay_with_binding(plain.order_id, binding, cvc="123").paid


def test_binding_payment_of_3ds_card(engine):
    binding = bound(engine, card=TestCards.SUCCESS_3DS)
    auto = register(engine, "AUTO", client_id="c1", features=["AUTO_PAYMENT"])
    assert engine.pay_with_binding(auto.order_id, binding).paid  # no 3-D Secure for AUTO_PAYMENT
    cit = register(engine, "CIT", client_id="c1")
    assert engine.pay_with_binding(cit.order_id, binding, cvc="123").needs_3ds


def test_binding_rules(engine, clock):
    binding = bound(engine)
    other = register(engine, "OTHER", client_id="c2", features=["AUTO_PAYMENT"])
    assert code_of(lambda: engine.pay_with_binding(other.order_id, binding)) == 5
    assert code_of(lambda: engine.pay_with_binding(other.order_id, "nope")) == 2
    engine.set_binding_active(binding, False)
    assert code_of(lambda: engine.set_binding_active(binding, False)) == 2
    assert engine.bindings("c1") == []
    auto = register(engine, "AUTO", client_id="c1", features=["AUTO_PAYMENT"])
    assert code_of(lambda: engine.pay_with_binding(auto.order_id, binding)) == 2
    engine.set_binding_active(binding, True)
    assert code_of(lambda: engine.set_binding_active(binding, True)) == 2
    engine.extend_binding(binding, "202001")
    assert engine.bindings("c1") == [] and len(engine.bindings("c1", show_expired=True)) == 1
    assert engine.pay_with_binding(auto.order_id, binding).declined  # expired card
    assert code_of(lambda: engine.extend_binding(binding, "203013")) == 5
    engine.extend_binding(binding, "203512")
    assert engine.bindings("c1")[0].expiry == "203512"


def test_recurring_card_declines_autopayments(engine):
    binding = bound(engine, card=TestCards.RECURRING_INSUFFICIENT)
    auto = register(engine, "AUTO", client_id="c1", features=["AUTO_PAYMENT"])
    result = engine.pay_with_binding(auto.order_id, binding)
    assert result.declined and engine.order(auto.order_id).decline_reason is DeclineReason.INSUFFICIENT_FUNDS


def test_reverse_once_and_refund_rules(engine):
    held = register(engine, "H", two_stage=True)
    pay(engine, held)
    engine.reverse(held.order_id)
    assert engine.order(held.order_id).status is OrderStatus.REVERSED
    assert code_of(lambda: engine.reverse(held.order_id)) == 7
    assert code_of(lambda: engine.deposit(held.order_id, 0)) == 7
    paid = register(engine, "P", amount=1000)
    pay(engine, paid)
    engine.refund(paid.order_id, 300)
    assert code_of(lambda: engine.refund(paid.order_id, 701)) == 7
    assert code_of(lambda: engine.refund(paid.order_id, 100, expected_deposited=1000)) == 7
    engine.refund(paid.order_id, 200, expected_deposited=700, external_refund_id="R-2")
    engine.refund(paid.order_id, 200, external_refund_id="R-2")  # repeated id: no second refund
    order = engine.order(paid.order_id)
    assert order.refunded == 500 and order.status is OrderStatus.DEPOSITED
    engine.refund(paid.order_id, 0)
    assert engine.order(paid.order_id).status is OrderStatus.REFUNDED
    assert code_of(lambda: engine.reverse(paid.order_id)) == 7
    kinds = [(m.kind, m.amount) for m in engine.movements() if m.order_number == "P"]
    assert kinds == [("hold", 1000), ("deposit", 1000), ("refund", 300), ("refund", 200), ("refund", 500)]


def test_decline_unpaid_order(engine):
    order = register(engine)
    engine.decline(order.order_id)
    assert engine.order(order.order_id).status is OrderStatus.DECLINED
    assert code_of(lambda: engine.decline(order.order_id)) == 7


def test_lookup_by_number_and_not_found(engine):
    order = register(engine, "LOOK")
    assert engine.order(order_number="LOOK").order_id == order.order_id
    assert code_of(lambda: engine.order("missing")) == 6
    assert code_of(lambda: engine.order(order_number="missing")) == 6
    assert code_of(lambda: engine.order()) == 1


def test_concurrent_payments_of_one_order_charge_once(engine):
    binding = bound(engine)
    order = register(engine, "RACE", client_id="c1", features=["AUTO_PAYMENT"])
    barrier = threading.Barrier(16)
    outcomes = []

    def attempt():
        barrier.wait()
        try:
            outcomes.append(engine.pay_with_binding(order.order_id, binding).paid)
        except EngineError as exc:
            outcomes.append(error_code(exc.refusal))

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(True) == 1 and outcomes.count(7) == 15
    assert engine.charges_by_order_number()["RACE"] == 1


def test_concurrent_registration_of_same_and_different_numbers(engine):
    barrier = threading.Barrier(20)
    results = []

    def attempt(i):
        barrier.wait()
        try:
            register(engine, "SAME")
            results.append("ok")
        except EngineError as exc:
            results.append(error_code(exc.refusal))
        register(engine, f"DIFF-{i}")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and results.count(1) == 19
    assert len(engine.orders()) == 21


def test_the_books_export_what_changed_and_a_fresh_engine_imports_it_whole(engine):
    """``export_changed`` names each order and binding changed since written (not the others);
    ``import_records`` gives a fresh engine the same orders (by id and number), bindings and money."""
    binding_id = bound(engine)
    order = engine.order(order_number="FIRST-c1")
    register(engine, "N2", 700)
    changed = engine.export_changed()
    assert sorted(kind for kind, _, _ in changed) == ["binding", "order", "order"]
    for _, _, record in changed:
        object.__setattr__(record, "dirty", False)
    assert engine.export_changed() == []  # nothing changed since
    fresh = Engine()
    fresh.import_records([o for o in engine.orders()], engine.all_bindings(), engine.export_movements())
    assert fresh.order(order_number="N2").amount == 700
    assert fresh.order(order.order_id).binding_id == binding_id == fresh.bindings("c1")[0].binding_id
    assert fresh.movements() == engine.movements() and fresh.charges_by_order_number() == {order.order_number: 1}
