"""The sandbox's ledger and state machine, independent of any protocol.

Theory of operation
-------------------
An :class:`Order` moves through the RBS statuses::

    CREATED(0) ──pay──► DEPOSITED(2)            one-stage
         │     ──pay──► APPROVED(1)             two-stage (hold)
         │     ──pay──► ACS_AUTH(5) ──3DS──► 1 / 2 / DECLINED(6)
         │     ──decline / expiry / declined card──► DECLINED(6)
    APPROVED(1) ──deposit──► DEPOSITED(2);  ──reverse──► REVERSED(3)
    DEPOSITED(2) ──refund (partial, repeatable)──► REFUNDED(4) when all is refunded
    DEPOSITED(2) ──reverse (same day)──► REVERSED(3)

Every change of money is a :class:`Movement` (hold, deposit, reverse, refund). The list of
movements is the oracle for "charged exactly once": a test counts holds and deposits per
order number. All methods take one lock, so concurrent calls never lose an update and an
order is never paid twice.

The engine speaks no protocol: an order moves only through the table of
:mod:`.lifecycle` (one ``Engine._transition``), announces :class:`~.lifecycle.EventKind`
events and refuses with a :class:`~.lifecycle.Refusal`; each front end maps both to its own
gateway's words. An :class:`Order` is an immutable value: a change makes a new one, so what a
caller holds never moves under it, and reading an order never changes anything but a pending
expiry, which is itself a transition.

Time comes from an injectable clock, so expiry is tested without waiting.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import attr

from ..models import OrderStatus
from ._dirty import mark_dirty
from .card_check import CHECKS, CheckStep, first_step, holds_after_3ds
from .cards import RECOVERY_DAYS, THREE_DS_CODE, Behaviour, card_behaviour, luhn_ok
from .lifecycle import TRANSITIONS, EventKind, Refusal, Step, Transition

__all__ = [
    "AUTO_PAYMENT",
    "BindingRecord",
    "Engine",
    "EngineError",
    "Event",
    "Movement",
    "Order",
    "PaymentResult",
]

AUTO_PAYMENT = "AUTO_PAYMENT"
VERIFY = "VERIFY"
KNOWN_CURRENCIES = {"643", "810", "840", "978", "398", "933", "156", "051"}
DEFAULT_SESSION_TIMEOUT = 1200
ACTION_OK = 0
ACTION_DECLINED = 5
ACTION_EXPIRED_CARD = 101
ACTION_INSUFFICIENT = 116
ACTION_3DS_FAILED = 151017
ACTION_SESSION_EXPIRED = -2007
ACTION_STOLEN = 823
ACTION_NO_CVC_RIGHTS = -2004
_ACTION_TEXT = {
    ACTION_OK: "Request processed successfully",
    ACTION_DECLINED: "Declined by issuer",
    ACTION_EXPIRED_CARD: "Card expired",
    ACTION_INSUFFICIENT: "Insufficient funds",
    ACTION_3DS_FAILED: "3-D Secure authentication failed",
    ACTION_SESSION_EXPIRED: "Payment session expired",
    ACTION_STOLEN: "Card reported stolen",
    ACTION_NO_CVC_RIGHTS: "Payment via SSL without CVC is forbidden",
}
AUTOPAY_DECLINE = {
    Behaviour.APPROVE_THEN_INSUFFICIENT: ACTION_INSUFFICIENT,
    Behaviour.RECOVERING_FUNDS: ACTION_INSUFFICIENT,
    Behaviour.RECURRING_STOLEN: ACTION_STOLEN,
    Behaviour.RECURRING_EXPIRED: ACTION_EXPIRED_CARD,
    Behaviour.RECURRING_MERCHANT: ACTION_NO_CVC_RIGHTS,
}
"""The action code of an autopayment declined by a card (or SBP account) of each behaviour."""


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
    action_code: Optional[int] = None
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

    @property
    def action_text(self) -> str:
        """The description of ``action_code``."""
        return _ACTION_TEXT.get(self.action_code or 0, "") if self.action_code is not None else ""

    def as_json(self) -> Dict[str, Any]:
        """A JSON-ready copy (no card number, no CVC: the sandbox never stores them)."""
        return {
            "orderId": self.order_id, "orderNumber": self.order_number, "amount": self.amount,
            "currency": self.currency, "status": int(self.status), "statusName": self.status.name,
            "twoStage": self.two_stage, "clientId": self.client_id, "features": list(self.features),
            "actionCode": self.action_code, "approvedAmount": self.approved,
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


class Engine:
    """The sandbox's thread-safe ledger and state machine.

    :param clock: seconds since the epoch (``time.time`` by default; tests pass a fake).
    :param on_event: called (outside the lock) with each :class:`Event`, for callbacks.
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
            return self._transition(order, Step.EXPIRE, action_code=ACTION_SESSION_EXPIRED)
        return order

    def _settle(self, order: Order, *, masked_pan: str, expiry: str, cardholder: Optional[str],
                behaviour: Behaviour, binding: Optional[BindingRecord]) -> Order:
        """Take the money: hold (two-stage) or charge, and create a binding if due."""
        now = self.clock()
        step = Step.HOLD if order.two_stage else Step.CHARGE
        self._allowed(order, step)  # before anything is created: nothing half-done
        created: Optional[BindingRecord] = None
        if binding is None and order.client_id:
            binding = next((b for b in self._bindings.values()
                            if b.client_id == order.client_id and b.masked_pan == masked_pan
                            and b.expiry == expiry), None)
            if binding is None:
                binding = created = BindingRecord(str(uuid.uuid4()), order.client_id, masked_pan, expiry,
                                                  behaviour, created_at=now)
                self._bindings[created.binding_id] = created
        order = self._transition(
            order, step, masked_pan=masked_pan, card_expiry=expiry, cardholder=cardholder, action_code=ACTION_OK,
            approval_code=hashlib.sha1(order.order_id.encode()).hexdigest()[:6].upper(), approved=order.amount,
            deposited=0 if order.two_stage else order.amount, paid_at=now, pending_3ds=None,
            binding_id=binding.binding_id if binding else order.binding_id, binding_created=created is not None)
        self._move("hold", order, order.amount)
        if step is Step.CHARGE:
            self._move("deposit", order, order.amount)
        if created is not None:
            self._emit(EventKind.BINDING_CREATED, order, bindingId=created.binding_id)
        return order

    def _save_checked(self, order: Order, *, masked_pan: str, expiry: str, cardholder: Optional[str],
                      behaviour: Behaviour, hold: bool) -> Order:
        """End a card check: the binding is made (or found), the order ends REVERSED, and a zero
        hold, if the check makes one, is in the ledger with its release: no money moves."""
        self._allowed(order, Step.VERIFY)
        binding = next((b for b in self._bindings.values() if b.client_id == order.client_id
                        and b.masked_pan == masked_pan and b.expiry == expiry), None)
        created = None
        if binding is None:
            binding = created = BindingRecord(str(uuid.uuid4()), order.client_id or "", masked_pan, expiry, behaviour,
                                              created_at=self.clock())
            self._bindings[created.binding_id] = created
        elif not binding.active:
            binding.active = True  # the card checked again: its binding can be charged again
        order = self._transition(order, Step.VERIFY, masked_pan=masked_pan, card_expiry=expiry, cardholder=cardholder,
                                 action_code=ACTION_OK, approved=0, deposited=0, paid_at=self.clock(),
                                 pending_3ds=None, binding_id=binding.binding_id, binding_created=created is not None,
                                 reversed=hold)
        if hold:
            self._move("hold", order, 0)
            self._move("reverse", order, 0)
        if created is not None:
            self._emit(EventKind.BINDING_CREATED, order, bindingId=created.binding_id)
        return order

    def _check_card(self, order: Order, masked: str, expiry: str, cardholder: Optional[str],
                    behaviour: Behaviour) -> PaymentResult:
        """The payer submitted a card to a card check (see :mod:`.card_check`)."""
        step = first_step(order.card_check or VERIFY, behaviour)
        if step is CheckStep.THREE_DS:
            return self._start_3ds(order, masked, expiry, cardholder, behaviour, None)
        if step in (CheckStep.DECLINE, CheckStep.NOT_3DS):
            order = self._decline(order, ACTION_DECLINED)
            text = "Card does not support 3-D Secure" if step is CheckStep.NOT_3DS else _ACTION_TEXT[ACTION_DECLINED]
            return PaymentResult(order, paid=False, declined=True, message=text)
        order = self._save_checked(order, masked_pan=masked, expiry=expiry, cardholder=cardholder,
                                   behaviour=behaviour, hold=step is CheckStep.SAVE_AFTER_HOLD)
        return PaymentResult(order, paid=True)

    def _decline(self, order: Order, action_code: int) -> Order:
        return self._transition(order, Step.DECLINE, action_code=action_code, pending_3ds=None)

    # -- orders ----------------------------------------------------------------------------

    def register(
        self,
        *,
        order_number: Optional[str],
        amount: Optional[int],
        currency: Optional[str] = None,
        return_url: Optional[str] = None,
        fail_url: Optional[str] = None,
        description: Optional[str] = None,
        client_id: Optional[str] = None,
        features: Sequence[str] = (),
        binding_id: Optional[str] = None,
        session_timeout_secs: Optional[int] = None,
        two_stage: bool = False,
        callback_url: Optional[str] = None,
        max_number_length: int = 32,
        unique_number: bool = True,
        card_check: Optional[str] = None,
        params: Optional[Dict[str, str]] = None,
    ) -> Order:
        """Register an order; the number is unique per merchant (code 1) unless ``unique_number`` is
        false (a gateway that accepts a repeated number: the number then names the newest order).

        ``features=VERIFY`` (or a T-Bank ``card_check``) makes it a card check: amount 0, a
        client, one stage, no AUTO_PAYMENT (see :mod:`.card_check`)."""
        order_number, amount = _number_and_amount(order_number, amount, max_number_length)
        features = tuple(features)
        card_check = card_check or (VERIFY if VERIFY in features else None)
        if card_check is not None:
            self._check_card_check(card_check, features, amount, client_id, two_stage)
        elif amount <= 0:
            raise EngineError(Refusal.BAD_FIELD, "Wrong amount")
        currency = _return_url_and_currency(return_url, currency)
        _check_options(features, client_id, session_timeout_secs, params or {})
        with self._lock:
            if order_number in self._by_number and unique_number:
                raise EngineError(Refusal.NUMBER_USED, "Order with this number was already processed")
            now = self.clock()
            order = Order(
                order_id=str(uuid.uuid4()), order_number=order_number, amount=amount, currency=currency,
                two_stage=two_stage, return_url=return_url, fail_url=fail_url, description=description,
                client_id=client_id, features=features, restrict_binding_id=binding_id, created_at=now,
                expires_at=now + (session_timeout_secs or DEFAULT_SESSION_TIMEOUT),
                callback_url=callback_url, updated_at=now, card_check=card_check, params=dict(params or {}),
            )
            self._orders[order.order_id] = order
            self._by_number[order_number] = order.order_id
            self._version += 1
            return order

    @staticmethod
    def _check_card_check(check: str, features: Tuple[str, ...], amount: Optional[int], client_id: Optional[str],
                          two_stage: bool) -> None:
        if check not in CHECKS:
            raise EngineError(Refusal.BAD_FIELD, f"Unknown card check {check!r}")
        if AUTO_PAYMENT in features:
            raise EngineError(Refusal.FEATURE_CONFLICT, "VERIFY cannot be combined with AUTO_PAYMENT")
        if amount is not None and amount != 0:
            raise EngineError(Refusal.BAD_FIELD, "Amount must be 0 for a card verification")
        if not client_id:
            raise EngineError(Refusal.BAD_FIELD, "[clientId] is empty")
        if two_stage:
            raise EngineError(Refusal.BAD_FIELD, "A card verification has one stage")

    def order(self, order_id: Optional[str] = None, order_number: Optional[str] = None) -> Order:
        """An order by id or number (expiry applied first); code 6 if there is none."""
        with self._changing():  # a look-up applies a pending expiry, which is an event
            return self._get(order_id, order_number)

    def pay_with_card(self, order_id: str, *, pan: str, expiry: str, cvc: str,
                      cardholder: Optional[str] = None) -> PaymentResult:
        """The payer's page: pay ``order_id`` with card data (``expiry`` as ``MM/YY``)."""
        with self._changing():
            order = self._get(order_id)
            self._check_payable(order)
            pan = pan.replace(" ", "")
            if not pan.isdigit() or not 13 <= len(pan) <= 19 or not luhn_ok(pan):
                return PaymentResult(order, paid=False,
                                     message="Card number: 13 to 19 digits with a valid check digit")
            try:
                month, year = expiry.split("/")
                if not (month.strip().isdigit() and year.strip().isdigit() and 1 <= int(month) <= 12):
                    raise ValueError(expiry)
                expiry_yyyymm = f"20{int(year):02d}{int(month):02d}"
            except ValueError:
                return PaymentResult(order, paid=False, message="Expiry: the month and year as MM/YY")
            if not cvc.isdigit() or len(cvc) not in (3, 4):
                return PaymentResult(order, paid=False, message="CVC: the 3 digits on the back")
            masked = f"{pan[:6]}**{pan[-4:]}"
            behaviour = card_behaviour(pan)
            today = dt.datetime.fromtimestamp(self.clock(), dt.timezone.utc).strftime("%Y%m")
            if expiry_yyyymm < today:
                order = self._decline(order, ACTION_EXPIRED_CARD)
                return PaymentResult(order, paid=False, declined=True, message="Card expired")
            if order.card_check is not None:
                return self._check_card(order, masked, expiry_yyyymm, cardholder, behaviour)
            if behaviour in (Behaviour.DECLINE, Behaviour.INSUFFICIENT_FUNDS):
                code = ACTION_DECLINED if behaviour is Behaviour.DECLINE else ACTION_INSUFFICIENT
                order = self._decline(order, code)
                return PaymentResult(order, paid=False, declined=True, message=_ACTION_TEXT[code])
            if behaviour is Behaviour.APPROVE_3DS:
                return self._start_3ds(order, masked, expiry_yyyymm, cardholder, behaviour, None)
            order = self._settle(order, masked_pan=masked, expiry=expiry_yyyymm, cardholder=cardholder,
                                 behaviour=behaviour, binding=None)
            return PaymentResult(order, paid=True)

    def _check_payable(self, order: Order) -> None:
        if order.status is OrderStatus.DECLINED:
            raise EngineError(Refusal.WRONG_STATE, "Order is declined")
        self._allowed(order, Step.CHARGE)

    def _start_3ds(self, order: Order, masked: str, expiry: str, cardholder: Optional[str],
                   behaviour: Behaviour, binding: Optional[BindingRecord]) -> PaymentResult:
        pa_req = hashlib.sha256(f"pareq:{order.order_id}".encode()).hexdigest()
        order = self._transition(order, Step.START_3DS, pending_3ds={
            "masked": masked, "expiry": expiry, "cardholder": cardholder, "behaviour": behaviour,
            "binding": binding.binding_id if binding else None, "pa_req": pa_req})
        return PaymentResult(order, paid=False, needs_3ds=True, pa_req=pa_req)

    def finish_3ds(self, order_id: str, pa_res: str) -> PaymentResult:
        """The ACS's answer: ``pa_res`` is the code the payer typed (``12345678`` passes)."""
        with self._changing():
            order = self._get(order_id)
            pending = order.pending_3ds
            if order.status is not OrderStatus.ACS_AUTH or not pending:
                raise EngineError(Refusal.WRONG_STATE, "Order is not waiting for 3-D Secure")
            if pa_res != THREE_DS_CODE and pa_res != pares_for(order.order_id):
                order = self._decline(order, ACTION_3DS_FAILED)
                return PaymentResult(order, paid=False, declined=True,
                                     message=_ACTION_TEXT[ACTION_3DS_FAILED])
            if order.card_check is not None:
                order = self._save_checked(order, masked_pan=pending["masked"], expiry=pending["expiry"],
                                           cardholder=pending["cardholder"], behaviour=pending["behaviour"],
                                           hold=holds_after_3ds(order.card_check))
                return PaymentResult(order, paid=True)
            binding = self._bindings.get(pending["binding"]) if pending["binding"] else None
            order = self._settle(order, masked_pan=pending["masked"], expiry=pending["expiry"],
                                 cardholder=pending["cardholder"], behaviour=pending["behaviour"], binding=binding)
            return PaymentResult(order, paid=True)

    def pay_with_binding(self, order_id: str, binding_id: str, *, cvc: Optional[str] = None,
                         ip: Optional[str] = None, merchant_initiated: bool = False,
                         tii: Optional[str] = None) -> PaymentResult:
        """``paymentOrderBinding``: AUTO_PAYMENT orders pay without CVC or 3-D Secure.

        ``merchant_initiated`` (T-Bank ``Charge``): the binding is charged as a card on file,
        whoever the order was registered for; no CVC, no 3-D Secure.
        """
        with self._changing():
            order = self._get(order_id)
            binding = self._bindings.get(binding_id)
            if binding is None:
                raise EngineError(Refusal.BINDING_NOT_FOUND, "Binding not found")
            if not binding.active:
                raise EngineError(Refusal.BINDING_NOT_FOUND, "Binding is not active")
            if binding.client_id != order.client_id and not merchant_initiated:
                raise EngineError(Refusal.BAD_FIELD, "Binding belongs to another client")
            if order.card_check is not None:
                raise EngineError(Refusal.BAD_FIELD, "A card verification is paid on the payment page only")
            if order.restrict_binding_id and order.restrict_binding_id != binding_id:
                raise EngineError(Refusal.BAD_FIELD, "Order is restricted to another binding")
            self._check_payable(order)
            if order.status is OrderStatus.ACS_AUTH:
                raise EngineError(Refusal.WRONG_STATE, "Order is waiting for 3-D Secure")
            if tii is not None:
                order = self._replace(order, tii=tii)
            if binding.expired(self.clock()):
                order = self._decline(order, ACTION_EXPIRED_CARD)
                return PaymentResult(order, paid=False, declined=True,
                                     message=_ACTION_TEXT[ACTION_EXPIRED_CARD])
            if not order.auto_payment and not cvc and not merchant_initiated:
                raise EngineError(Refusal.BAD_FIELD, "[cvc] is empty")
            behaviour = binding.behaviour
            code = self.autopay_decline(behaviour, binding)
            if code is not None:
                order = self._decline(order, code)
                return PaymentResult(order, paid=False, declined=True, message=_ACTION_TEXT[code])
            if behaviour is Behaviour.APPROVE_3DS and not order.auto_payment and not merchant_initiated:
                return self._start_3ds(order, binding.masked_pan, binding.expiry, None, behaviour, binding)
            order = self._settle(order, masked_pan=binding.masked_pan, expiry=binding.expiry, cardholder=None,
                                 behaviour=behaviour, binding=binding)
            return PaymentResult(order, paid=True)

    def autopay_decline(self, behaviour: Behaviour, holder: Any) -> Optional[int]:
        """The action code an autopayment by a card (or account) of ``behaviour`` is declined with
        now, or None: it pays. ``holder`` (a binding, an SBP account) keeps ``declined_since``,
        the start of a RECOVERING_FUNDS card's bad days."""
        code = AUTOPAY_DECLINE.get(behaviour)
        if behaviour is Behaviour.RECOVERING_FUNDS:
            now = self.clock()
            if holder.declined_since is None:
                holder.declined_since = now
            elif now >= holder.declined_since + RECOVERY_DAYS * 86400:
                return None
        return code

    def pay_external(self, order_id: str, masked: str, *, decline_code: Optional[int] = None) -> PaymentResult:
        """A payment without a card (SBP): settle the order, or decline it with ``decline_code``."""
        with self._changing():
            order = self._get(order_id)
            self._check_payable(order)
            if decline_code is not None:
                order = self._decline(order, decline_code)
                return PaymentResult(order, paid=False, declined=True,
                                     message=_ACTION_TEXT.get(decline_code, "Declined"))
            order = self._settle(order, masked_pan=masked, expiry="", cardholder=None, behaviour=Behaviour.APPROVE,
                                 binding=None)
            return PaymentResult(order, paid=True)

    def decline(self, order_id: str, action_code: int = 10) -> Order:
        """``decline.do``: cancel an unpaid order."""
        with self._changing():
            return self._decline(self._get(order_id), action_code)

    def deposit(self, order_id: str, amount: int) -> Order:
        """Capture a hold, up to the held amount (0 = all). Only from APPROVED."""
        with self._changing():
            order = self._get(order_id)
            if order.status is OrderStatus.APPROVED and (amount < 0 or amount > order.approved):
                raise EngineError(Refusal.WRONG_STATE, "Deposit amount exceeds the approved amount")
            order = self._transition(order, Step.DEPOSIT, deposited=amount or order.approved)
            self._move("deposit", order, order.deposited)
            return order

    def reverse(self, order_id: str) -> Order:
        """Cancel a hold (or a deposit, same day). At most once per order."""
        with self._changing():
            order = self._get(order_id)
            if order.refunded:
                raise EngineError(Refusal.WRONG_STATE, TRANSITIONS[Step.REVERSE].refused)
            order = self._transition(order, Step.REVERSE, reversed=True)
            self._move("reverse", order, order.deposited or order.approved)
            return order

    def refund(self, order_id: str, amount: int, *, expected_deposited: Optional[int] = None,
               external_refund_id: Optional[str] = None) -> Order:
        """Refund up to what is deposited and not yet refunded (0 = all of that).

        ``expected_deposited``: refund only while the deposited amount (less refunds) equals
        it. ``external_refund_id``: a repeated id answers success without refunding again.
        """
        with self._changing():
            order = self._get(order_id)
            if external_refund_id and external_refund_id in order.refund_ids:
                return order
            if order.status not in (OrderStatus.DEPOSITED, OrderStatus.REFUNDED):
                raise EngineError(Refusal.WRONG_STATE, TRANSITIONS[Step.REFUND_PART].refused)
            left = order.deposited - order.refunded
            if expected_deposited is not None and expected_deposited != left:
                raise EngineError(Refusal.WRONG_STATE, "Deposited amount differs from expectedDepositedAmount")
            amount = amount or left
            if amount <= 0 or amount > left:
                raise EngineError(Refusal.WRONG_STATE, "Refund amount exceeds the deposited amount")
            refund_ids = dict(order.refund_ids, **({external_refund_id: amount} if external_refund_id else {}))
            order = self._transition(order, Step.REFUND_ALL if amount == left else Step.REFUND_PART,
                                     refunded=order.refunded + amount, refund_ids=refund_ids,
                                     refunds=order.refunds + ((amount, self.clock()),),
                                     event_extra={"refundedAmount": str(amount)})
            self._move("refund", order, amount)
            return order

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


def _number_and_amount(order_number: Optional[str], amount: Optional[int], max_length: int) -> Tuple[str, int]:
    """A registration's order number and amount, present and the number short enough."""
    if not order_number:
        raise EngineError(Refusal.MISSING_FIELD, "Order number is empty")
    if len(order_number) > max_length:
        raise EngineError(Refusal.BAD_FIELD, "Order number is too long")
    if amount is None:
        raise EngineError(Refusal.MISSING_FIELD, "Amount is empty")
    return order_number, amount


def _return_url_and_currency(return_url: Optional[str], currency: Optional[str]) -> str:
    """A registration's return URL is given and its currency known (643 when absent)."""
    if not return_url:
        raise EngineError(Refusal.MISSING_FIELD, "Return URL is empty")
    currency = currency or "643"
    if currency not in KNOWN_CURRENCIES:
        raise EngineError(Refusal.UNKNOWN_CURRENCY, "Unknown currency")
    return currency


def _check_options(features: Tuple[str, ...], client_id: Optional[str], session_timeout_secs: Optional[int],
                   params: Dict[str, str]) -> None:
    """A registration's features, session timeout and ``recurringFrequency`` (1..9999 days) and
    ``recurringExpiry`` (a real ``YYYYMMDD``), when given."""
    if AUTO_PAYMENT in features and ("FORCE_TDS" in features or "FORCE_SSL" in features):
        raise EngineError(Refusal.FEATURE_CONFLICT, "AUTO_PAYMENT cannot be combined with FORCE_TDS or FORCE_SSL")
    if AUTO_PAYMENT in features and not client_id:
        raise EngineError(Refusal.BAD_FIELD, "[clientId] is empty")
    if session_timeout_secs is not None and session_timeout_secs <= 0:
        raise EngineError(Refusal.BAD_FIELD, "Wrong sessionTimeoutSecs")
    frequency, expiry = params.get("recurringFrequency"), params.get("recurringExpiry")
    if frequency is not None and not (frequency.isdigit() and 1 <= int(frequency) <= 9999):
        raise EngineError(Refusal.BAD_FIELD, "Invalid jsonParams: recurringFrequency")
    if expiry is not None:
        try:
            dt.datetime.strptime(expiry, "%Y%m%d")
        except ValueError:
            raise EngineError(Refusal.BAD_FIELD, "Invalid jsonParams: recurringExpiry") from None
        if len(expiry) != 8:
            raise EngineError(Refusal.BAD_FIELD, "Invalid jsonParams: recurringExpiry")


def pares_for(order_id: str) -> str:
    """The PaRes the sandbox ACS posts back for a passed challenge."""
    return hashlib.sha256(f"pares:{order_id}".encode()).hexdigest()
