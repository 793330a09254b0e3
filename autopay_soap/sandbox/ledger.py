"""The sandbox's books: its records and the ``Ledger`` that keeps them.

The records are an :class:`Order` (an immutable value, replaced on every change), a
:class:`BindingRecord` (a saved card), a :class:`Movement` of money and an :class:`Event` for the
front ends. The ``Ledger`` keeps them under one lock: it stores an order's changes (the one
``_transition`` through the table of :mod:`.lifecycle`), announces the events once the lock is
released, answers the look-ups (orders, bindings, movements, the listed window) and hands the
state file what changed (``export_changed``) and takes it back (``import_records``). The
``Engine`` of :mod:`.engine` adds the payment operations on top.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import attr

from ..codes.reasons import DeclineReason
from ..models import OrderStatus
from ._dirty import mark_dirty
from .cards import Behaviour
from .lifecycle import TRANSITIONS, EventKind, Refusal, Step, Transition

__all__ = ["AUTO_PAYMENT", "VERIFY", "BindingRecord", "EngineError",
           "Event", "Ledger", "Movement", "Order", "PaymentResult"]

AUTO_PAYMENT = "AUTO_PAYMENT"
VERIFY = "VERIFY"


class EngineError(Exception):
    """A refusal: why (a :class:`~.lifecycle.Refusal`, each front end maps it) and the text."""

    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(f"[{refusal.name}] {message}")
        self.refusal = refusal
        self.message = message


@attr.s(slots=True, auto_attribs=True, on_setattr=mark_dirty)
class BindingRecord:
    """A saved card of a client: created by a successful first payment with a clientId."""

    binding_id: str
    client_id: str
    masked_pan: str
    expiry: str  # YYYYMM
    behaviour: Behaviour
    active: bool = True
    created_at: float = 0.0
    category: str = "COMMON"  # getBindings' bindingCategory (bindingType C); the sandbox makes COMMON ones
    declined_since: Optional[float] = None  # RECOVERING_FUNDS: when its first autopayment was declined
    dirty: bool = attr.ib(default=True, eq=False, repr=False)  # changed since written to a state file

    def expired(self, now: float) -> bool:
        """True when the card's expiry month is over."""
        today = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y%m")
        return self.expiry < today


def _pairs(rows: Any) -> Tuple[Tuple[int, float], ...]:
    """Refunds as a tuple of pairs (a state file gives lists)."""
    return tuple((int(amount), float(at)) for amount, at in rows)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Order:
    """One gateway order and everything the sandbox knows about it: an immutable value (the
    engine replaces it on every change, with ``dirty`` set for the state file)."""

    order_id: str
    order_number: str
    amount: int
    currency: str
    two_stage: bool
    return_url: Optional[str]
    fail_url: Optional[str]
    description: Optional[str]
    client_id: Optional[str]
    features: Tuple[str, ...]
    restrict_binding_id: Optional[str]
    created_at: float
    expires_at: float
    callback_url: Optional[str] = None
    status: OrderStatus = OrderStatus.CREATED
    decline_reason: Optional[DeclineReason] = None  # why it ended DECLINED, in no gateway's words
    approved: int = 0
    deposited: int = 0
    refunded: int = 0
    reversed: bool = False
    masked_pan: Optional[str] = None
    card_expiry: Optional[str] = None
    cardholder: Optional[str] = None
    approval_code: Optional[str] = None
    binding_id: Optional[str] = None
    binding_created: bool = False
    pending_3ds: Optional[Dict[str, Any]] = None  # what to finish after the ACS (a copy per change)
    refund_ids: Dict[str, int] = attr.ib(factory=dict)  # replaced, never changed in place
    refunds: Tuple[Tuple[int, float], ...] = attr.ib(default=(), converter=_pairs)  # (amount, at) each
    paid_at: Optional[float] = None
    updated_at: float = 0.0
    card_check: Optional[str] = None  # a card saved without a payment: see sandbox.card_check
    params: Dict[str, str] = attr.ib(factory=dict)  # jsonParams (REST) / params (SOAP) of the registration
    tii: Optional[str] = None  # the initiator its payment by binding was sent with (RBS REST)
    dirty: bool = attr.ib(default=True, eq=False, repr=False)  # changed since written to a state file

    @property
    def auto_payment(self) -> bool:
        """True when registered with ``features=AUTO_PAYMENT``."""
        return AUTO_PAYMENT in self.features

    @property
    def payment_state(self) -> str:
        """``paymentAmountInfo.paymentState`` for this status."""
        return {
            OrderStatus.CREATED: "CREATED", OrderStatus.ACS_AUTH: "CREATED",
            OrderStatus.APPROVED: "APPROVED", OrderStatus.DEPOSITED: "DEPOSITED",
            OrderStatus.REVERSED: "REVERSED", OrderStatus.REFUNDED: "REFUNDED",
            OrderStatus.DECLINED: "DECLINED",
        }.get(self.status, "CREATED")


    def as_json(self) -> Dict[str, Any]:
        """A JSON-ready copy (no card number, no CVC: the sandbox never stores them)."""
        return {
            "orderId": self.order_id, "orderNumber": self.order_number, "amount": self.amount,
            "currency": self.currency, "status": int(self.status), "statusName": self.status.name,
            "twoStage": self.two_stage, "clientId": self.client_id, "features": list(self.features),
            "declineReason": self.decline_reason.value if self.decline_reason else None,
            "approvedAmount": self.approved,
            "depositedAmount": self.deposited, "refundedAmount": self.refunded,
            "maskedPan": self.masked_pan, "bindingId": self.binding_id, "callbackUrl": self.callback_url,
            "createdAt": int(self.created_at * 1000), "expiresAt": int(self.expires_at * 1000),
        }


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Movement:
    """A change of the customer's money: ``hold``, ``deposit``, ``reverse`` or ``refund``."""

    kind: str
    order_id: str
    order_number: str
    amount: int
    currency: str
    at: float

    def as_dict(self) -> dict:
        """A JSON-ready copy."""
        return {"kind": self.kind, "orderId": self.order_id, "orderNumber": self.order_number,
                "amount": self.amount, "currency": self.currency, "at": int(self.at * 1000)}

    def as_state(self) -> dict:
        """Every field, for a state file."""
        return attr.asdict(self)

    @classmethod
    def from_state(cls, data: dict) -> "Movement":
        """Back from :meth:`as_state`."""
        return cls(**data)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Event:
    """Something a notification is sent for: what happened, to the order as it then was."""

    kind: EventKind
    order: Order
    extra: Dict[str, str] = attr.ib(factory=dict)

    @property
    def success(self) -> bool:
        """False when the event ends the order unpaid."""
        return self.kind.success


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PaymentResult:
    """The outcome of a payment attempt: paid, declined, or 3-D Secure to do."""

    order: Order
    paid: bool
    declined: bool = False
    needs_3ds: bool = False
    pa_req: Optional[str] = None
    message: str = ""


class Ledger:
    """The sandbox's thread-safe books: orders, bindings and money movements under one lock.

    :param clock: seconds since the epoch (``time.time`` by default; tests pass a fake).
    :param on_event: called (outside the lock) with each :class:`~autopay_soap.sandbox.ledger.Event`, for
        callbacks.
    """

    def __init__(self, clock: Callable[[], float] = time.time,
                 on_event: Optional[Callable[[Event], None]] = None) -> None:
        self.clock = clock
        self.on_event = on_event
        self._lock = threading.RLock()
        self._orders: Dict[str, Order] = {}
        self._version = 0  # counts every change of an order (the listed window is kept while it stands)
        self._listed: Tuple[Any, List[Order]] = (None, [])
        self._by_number: Dict[str, str] = {}
        self._bindings: Dict[str, BindingRecord] = {}
        self._movements: List[Movement] = []
        self._pending_events: List[Event] = []

    @property
    def lock(self) -> threading.RLock:
        """The lock every change and look-up takes (the state file takes it to read or load)."""
        return self._lock

    # -- internals -------------------------------------------------------------------------

    def _emit(self, kind: EventKind, order: Order, **extra: str) -> None:
        self._pending_events.append(Event(kind, order, dict(extra)))

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Hold the lock for a change; the events it made are sent once the lock is released,
        whatever happens (the one place the lock and the events meet)."""
        try:
            with self._lock:
                yield
        finally:
            self._flush_events()

    def _flush_events(self) -> None:
        with self._lock:
            events, self._pending_events = self._pending_events, []
        if self.on_event:
            for event in events:
                self.on_event(event)

    def _move(self, kind: str, order: Order, amount: int) -> None:
        self._movements.append(Movement(kind, order.order_id, order.order_number, amount, order.currency,
                                        self.clock()))

    def _get(self, order_id: Optional[str] = None, order_number: Optional[str] = None) -> Order:
        if order_id is None and order_number is None:
            raise EngineError(Refusal.NO_ORDER_KEY, "orderId or orderNumber expected")
        if order_id is None:
            order_id = self._by_number.get(order_number or "")
        order = self._orders.get(order_id or "")
        if order is None:
            raise EngineError(Refusal.ORDER_NOT_FOUND, "Order not found")
        return self._expire(order)

    def _replace(self, order: Order, **changes: Any) -> Order:
        """Store a changed copy of ``order`` (marked for the state file) and return it."""
        new = attr.evolve(order, dirty=True, **changes)
        self._orders[new.order_id] = new
        self._version += 1
        return new

    def _transition(self, order: Order, step: Step, event_extra: Optional[Dict[str, str]] = None,
                    **changes: Any) -> Order:
        """The one way an order changes status: the row of ``step`` in the table says from where
        and to what; its event is announced with the new order."""
        row = self._allowed(order, step)
        new = self._replace(order, status=row.target, updated_at=self.clock(), **changes)
        if row.event is not None:
            self._emit(row.event, new, **(event_extra or {}))
        return new

    @staticmethod
    def _allowed(order: Order, step: Step) -> Transition:
        """The row of ``step``, if ``order`` may take it (else a ``WRONG_STATE`` refusal)."""
        row = TRANSITIONS[step]
        if order.status not in row.sources:
            raise EngineError(Refusal.WRONG_STATE, row.refused)
        return row

    def _expire(self, order: Order) -> Order:
        if order.status in TRANSITIONS[Step.EXPIRE].sources and self.clock() > order.expires_at:
            return self._transition(order, Step.EXPIRE, decline_reason=DeclineReason.SESSION_EXPIRED)
        return order

    def order(self, order_id: Optional[str] = None, order_number: Optional[str] = None) -> Order:
        """An order by id or number (expiry applied first); code 6 if there is none."""
        with self._changing():  # a look-up applies a pending expiry, which is an event
            return self._get(order_id, order_number)

    # -- bindings --------------------------------------------------------------------------

    def bindings(self, client_id: Optional[str] = None, *, binding_id: Optional[str] = None,
                 show_expired: bool = False) -> List[BindingRecord]:
        """Active bindings of a client (or one by id); expired ones only with ``show_expired``."""
        now = self.clock()
        with self._lock:
            found = [b for b in self._bindings.values()
                     if (client_id is None or b.client_id == client_id)
                     and (binding_id is None or b.binding_id == binding_id)
                     and b.active and (show_expired or not b.expired(now))]
        return sorted(found, key=lambda b: b.created_at)

    def _binding(self, binding_id: str) -> BindingRecord:
        binding = self._bindings.get(binding_id)
        if binding is None:
            raise EngineError(Refusal.BINDING_NOT_FOUND, "Binding not found")
        return binding

    def set_binding_active(self, binding_id: str, active: bool) -> BindingRecord:
        """bindCard (``active=True``) / unBindCard (``False``); code 2 if already so."""
        with self._lock:
            binding = self._binding(binding_id)
            if binding.active == active:
                raise EngineError(Refusal.BINDING_NOT_FOUND,
                                  "Binding is already active" if active else "Binding is not active")
            binding.active = active
            return binding

    def extend_binding(self, binding_id: str, new_expiry: str) -> BindingRecord:
        """Set a binding's expiry (``YYYYMM``)."""
        if len(new_expiry) != 6 or not new_expiry.isdigit() or not 1 <= int(new_expiry[4:]) <= 12:
            raise EngineError(Refusal.BAD_FIELD, "Wrong newExpiry")
        with self._lock:
            binding = self._binding(binding_id)
            binding.expiry = new_expiry
            return binding

    # -- inspection ------------------------------------------------------------------------

    def movements(self) -> List[Movement]:
        """Every money movement so far, oldest first."""
        with self._lock:
            return list(self._movements)

    def orders(self) -> List[Order]:
        """Every order, oldest first (expiry applied)."""
        with self._changing():  # expiries applied on the way are events
            for order in self._orders.values():
                self._expire(order)
            return sorted(self._orders.values(), key=lambda o: o.created_at)

    def listed_orders(self, since: float, until: float, states: Sequence[str], *, page: int,
                      size: int) -> Tuple[List[Order], int]:
        """``getLastOrdersForMerchants``: one page of the orders whose payment date (their creation
        date when never paid) is in ``[since, until)`` and whose ``paymentState`` is one of
        ``states``, oldest first; and how many there are in all. The window's list is built once
        and kept until an order changes, so paging through N orders costs one pass, not one a page."""
        key = (since, until, tuple(states))
        with self._lock:
            if self._listed[0] != (*key, self._version):
                wanted = frozenset(states)
                found = [o for o in self.orders()  # expiries applied first: they change orders
                         if since <= (o.paid_at or o.created_at) < until and o.payment_state in wanted]
                found.sort(key=lambda o: (o.paid_at or o.created_at, o.order_id))
                self._listed = ((*key, self._version), found)
            found = self._listed[1]
        return found[page * size:(page + 1) * size], len(found)

    def all_bindings(self) -> List[BindingRecord]:
        """Every binding, active or not."""
        with self._lock:
            return list(self._bindings.values())

    def charges_by_order_number(self) -> Dict[str, int]:
        """How many times each order number was charged (holds of money: a card check's zero hold
        is none), for exactly-once checks."""
        counts: Dict[str, int] = {}
        for movement in self.movements():
            if movement.kind == "hold" and movement.amount > 0:
                counts[movement.order_number] = counts.get(movement.order_number, 0) + 1
        return counts

    # -- the state file --------------------------------------------------------------------

    def export_changed(self) -> List[Tuple[str, str, Any]]:
        """``(kind, key, record)`` of every order and binding changed since last written, and the
        movements (all of them, oldest first, as the state file stores them); under :attr:`lock`."""
        with self._lock:
            changed: List[Tuple[str, str, Any]] = [("order", o.order_id, o) for o in self._orders.values() if o.dirty]
            changed += [("binding", b.binding_id, b) for b in self._bindings.values() if b.dirty]
            return changed

    def export_movements(self) -> List[Dict[str, Any]]:
        """Every movement in the state file's form, oldest first."""
        with self._lock:
            return [m.as_state() for m in self._movements]

    def import_records(self, orders: Iterable[Order], bindings: Iterable[BindingRecord],
                       movements: Sequence[Dict[str, Any]]) -> None:
        """Load stored records into these books (before they serve): the orders (found by id and
        number), the bindings and the movements (replacing any)."""
        with self._lock:
            for order in orders:
                self._orders[order.order_id] = order
                self._by_number[order.order_number] = order.order_id
            for binding in bindings:
                self._bindings[binding.binding_id] = binding
            self._movements[:] = [Movement.from_state(m) for m in movements]
            self._version += 1
