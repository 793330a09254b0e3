"""The engine's lifecycle table: orders are values, every move is a row, refusals and events are
the engine's own words that each front end maps (no HTTP)."""

import attr
import pytest

from autopay_soap.models import OrderStatus
from autopay_soap.sandbox import EngineError, TestCards
from autopay_soap.sandbox.lifecycle import TRANSITIONS, EventKind, Refusal, Step
from autopay_soap.sandbox.rbs_words import CALLBACK_OPERATION, ERROR_CODE

from ..support.engine import bound, pay, register


def refusal_of(call):
    with pytest.raises(EngineError) as info:
        call()
    return info.value.refusal


def test_an_order_held_by_a_caller_never_moves_under_it(engine):
    order = register(engine, "V-1", two_stage=True)
    pay(engine, order)
    assert order.status is OrderStatus.CREATED and order.approved == 0  # the value handed out earlier
    assert engine.order(order.order_id).status is OrderStatus.APPROVED
    with pytest.raises(attr.exceptions.FrozenInstanceError):
        order.status = OrderStatus.DEPOSITED  # type: ignore[misc]


def test_reading_an_order_changes_nothing(engine):
    order = register(engine, "V-2")
    pay(engine, order)
    first = engine.order(order.order_id)
    assert engine.order(order.order_id) is first  # no copy, no new state: the same value
    assert engine.order(order_number="V-2") is first


def test_each_payment_step_announces_its_event_with_the_new_order(engine):
    events = []
    engine.on_event = events.append
    one = register(engine, "E-1", client_id="c9")
    pay(engine, one)
    two = register(engine, "E-2", two_stage=True)
    pay(engine, two)
    engine.deposit(two.order_id, 0)
    engine.refund(two.order_id, 100)
    engine.refund(two.order_id, 0)
    kinds = [(e.kind, e.order.order_number, e.order.status) for e in events]
    assert kinds == [
        (EventKind.CHARGED, "E-1", OrderStatus.DEPOSITED),
        (EventKind.BINDING_CREATED, "E-1", OrderStatus.DEPOSITED),
        (EventKind.HELD, "E-2", OrderStatus.APPROVED),
        (EventKind.DEPOSITED, "E-2", OrderStatus.DEPOSITED),
        (EventKind.REFUNDED, "E-2", OrderStatus.DEPOSITED),  # in part
        (EventKind.REFUNDED, "E-2", OrderStatus.REFUNDED),  # the rest
    ]
    assert events[0].order.binding_id and events[1].extra == {"bindingId": events[0].order.binding_id}
    assert [e.extra.get("refundedAmount") for e in events[-2:]] == ["100", "900"]


@pytest.mark.parametrize("step, make", [
    (Step.DEPOSIT, lambda e, o: e.deposit(o.order_id, 0)),
    (Step.REVERSE, lambda e, o: e.reverse(o.order_id)),
    (Step.REFUND_PART, lambda e, o: e.refund(o.order_id, 1)),
])
def test_a_step_from_a_status_outside_its_row_is_a_wrong_state_refusal(engine, step, make):
    created = register(engine, f"W-{step.value}")
    assert OrderStatus.CREATED not in TRANSITIONS[step].sources
    assert refusal_of(lambda: make(engine, created)) is Refusal.WRONG_STATE
    assert engine.order(created.order_id).status is OrderStatus.CREATED  # nothing half-done
    assert engine.movements() == []


def test_declined_and_expired_orders_cannot_be_paid(engine, clock):
    declined = register(engine, "D-1")
    pay(engine, declined, TestCards.DECLINED)
    assert refusal_of(lambda: pay(engine, declined)) is Refusal.WRONG_STATE
    binding = bound(engine, client="c2")
    expiring = register(engine, "D-2", session_timeout_secs=60, client_id="c2", features=["AUTO_PAYMENT"])
    clock.now += 61
    assert engine.order(expiring.order_id).status is OrderStatus.DECLINED
    assert refusal_of(lambda: engine.pay_with_binding(expiring.order_id, binding)) is Refusal.WRONG_STATE


def test_every_refusal_and_event_has_its_rbs_word():
    assert set(ERROR_CODE) == set(Refusal)
    assert set(CALLBACK_OPERATION) == set(EventKind)


def test_the_table_matches_the_statuses_it_names():
    for step, row in TRANSITIONS.items():
        assert row.target not in (OrderStatus.CREATED,), step
        assert row.sources and row.refused, step
    assert TRANSITIONS[Step.HOLD].target is OrderStatus.APPROVED
    assert TRANSITIONS[Step.CHARGE].target is OrderStatus.DEPOSITED
    assert not EventKind.DECLINED.success and not EventKind.EXPIRED.success and EventKind.CHARGED.success
