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

import datetime as dt
import hashlib
import uuid
from typing import Any, Dict, Optional, Sequence, Tuple

from ..codes.reasons import DeclineReason
from ..models import OrderStatus
from .card_check import CHECKS, CheckStep, first_step, holds_after_3ds
from .cards import RECOVERY_DAYS, THREE_DS_CODE, Behaviour, card_behaviour, luhn_ok
from .ledger import (
    AUTO_PAYMENT,
    VERIFY,
    BindingRecord,
    EngineError,
    Event,
    Ledger,
    Movement,
    Order,
    PaymentResult,
)
from .lifecycle import TRANSITIONS, EventKind, Refusal, Step

__all__ = [  # the records live in .ledger; they are named here too, where the front ends import them
    "AUTO_PAYMENT",
    "BindingRecord",
    "Engine",
    "EngineError",
    "Event",
    "Movement",
    "Order",
    "PaymentResult",
]

KNOWN_CURRENCIES = {"643", "810", "840", "978", "398", "933", "156", "051"}
DEFAULT_SESSION_TIMEOUT = 1200
AUTOPAY_DECLINE = {
    Behaviour.APPROVE_THEN_INSUFFICIENT: DeclineReason.INSUFFICIENT_FUNDS,
    Behaviour.RECOVERING_FUNDS: DeclineReason.INSUFFICIENT_FUNDS,
    Behaviour.RECURRING_STOLEN: DeclineReason.CARD_STOLEN,
    Behaviour.RECURRING_EXPIRED: DeclineReason.CARD_EXPIRED,
    Behaviour.RECURRING_MERCHANT: DeclineReason.AUTOPAY_NOT_ALLOWED,
}
"""Why an autopayment by a card (or SBP account) of each behaviour is declined."""


class Engine(Ledger):
    """The sandbox's state machine: the payment operations (register, pay, 3-D Secure, deposit,
    reverse, refund, card checks) over the :class:`~.ledger.Ledger`'s books, under its lock."""

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
            order, step, masked_pan=masked_pan, card_expiry=expiry, cardholder=cardholder,
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
                                 approved=0, deposited=0, paid_at=self.clock(),
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
            order = self._decline(order, DeclineReason.ISSUER_DECLINED)
            text = ("Card does not support 3-D Secure" if step is CheckStep.NOT_3DS
                    else DeclineReason.ISSUER_DECLINED.text)
            return PaymentResult(order, paid=False, declined=True, message=text)
        order = self._save_checked(order, masked_pan=masked, expiry=expiry, cardholder=cardholder,
                                   behaviour=behaviour, hold=step is CheckStep.SAVE_AFTER_HOLD)
        return PaymentResult(order, paid=True)

    def _decline(self, order: Order, reason: DeclineReason) -> Order:
        return self._transition(order, Step.DECLINE, decline_reason=reason, pending_3ds=None)

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
                order = self._decline(order, DeclineReason.CARD_EXPIRED)
                return PaymentResult(order, paid=False, declined=True, message=DeclineReason.CARD_EXPIRED.text)
            if order.card_check is not None:
                return self._check_card(order, masked, expiry_yyyymm, cardholder, behaviour)
            if behaviour in (Behaviour.DECLINE, Behaviour.INSUFFICIENT_FUNDS):
                reason = (DeclineReason.ISSUER_DECLINED if behaviour is Behaviour.DECLINE
                          else DeclineReason.INSUFFICIENT_FUNDS)
                order = self._decline(order, reason)
                return PaymentResult(order, paid=False, declined=True, message=reason.text)
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
                order = self._decline(order, DeclineReason.AUTHENTICATION_FAILED)
                return PaymentResult(order, paid=False, declined=True,
                                     message=DeclineReason.AUTHENTICATION_FAILED.text)
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
                order = self._decline(order, DeclineReason.CARD_EXPIRED)
                return PaymentResult(order, paid=False, declined=True, message=DeclineReason.CARD_EXPIRED.text)
            if not order.auto_payment and not cvc and not merchant_initiated:
                raise EngineError(Refusal.BAD_FIELD, "[cvc] is empty")
            behaviour = binding.behaviour
            reason = self.autopay_decline(behaviour, binding)
            if reason is not None:
                order = self._decline(order, reason)
                return PaymentResult(order, paid=False, declined=True, message=reason.text)
            if behaviour is Behaviour.APPROVE_3DS and not order.auto_payment and not merchant_initiated:
                return self._start_3ds(order, binding.masked_pan, binding.expiry, None, behaviour, binding)
            order = self._settle(order, masked_pan=binding.masked_pan, expiry=binding.expiry, cardholder=None,
                                 behaviour=behaviour, binding=binding)
            return PaymentResult(order, paid=True)

    def autopay_decline(self, behaviour: Behaviour, holder: Any) -> Optional[DeclineReason]:
        """Why an autopayment by a card (or account) of ``behaviour`` is declined now, or None:
        it pays. ``holder`` (a binding, an SBP account) keeps ``declined_since``,
        the start of a RECOVERING_FUNDS card's bad days."""
        reason = AUTOPAY_DECLINE.get(behaviour)
        if behaviour is Behaviour.RECOVERING_FUNDS:
            now = self.clock()
            if holder.declined_since is None:
                holder.declined_since = now
            elif now >= holder.declined_since + RECOVERY_DAYS * 86400:
                return None
        return reason

    def pay_external(self, order_id: str, masked: str, *, decline: Optional[DeclineReason] = None) -> PaymentResult:
        """A payment without a card (SBP): settle the order, or decline it for ``decline``'s reason."""
        with self._changing():
            order = self._get(order_id)
            self._check_payable(order)
            if decline is not None:
                order = self._decline(order, decline)
                return PaymentResult(order, paid=False, declined=True, message=decline.text or "Declined")
            order = self._settle(order, masked_pan=masked, expiry="", cardholder=None, behaviour=Behaviour.APPROVE,
                                 binding=None)
            return PaymentResult(order, paid=True)

    def decline(self, order_id: str) -> Order:
        """``decline.do`` (T-Bank ``Cancel`` of an unpaid payment): cancel an unpaid order."""
        with self._changing():
            return self._decline(self._get(order_id), DeclineReason.CANCELLED)

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
