"""The building blocks every scenario of :class:`~autopay_soap.client.AutopayClient` is made of:
the one reconcile step (``_reconcile``: send; not sent, send again; sent, let the step settle it,
usually by a look-up; see :class:`Sending`, :data:`AGAIN`, :class:`GaveUp`) over the retry
policy's attempts (``_attempts``), the look-up that settles an ambiguous step (``_lookup``),
registration and payment with their reconciliation (``_register``, ``_pay``), the result of
an order as the gateway describes it, and the ``scenario`` wrapper (the client's deadline and
its event hooks around each public call).
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Type, TypeVar, Union, cast

import attr

from .. import observe
from ..declines import Decline, DeclineKind, classify
from ..errors import (
    AutopayError,
    ConnectError,
    DuplicateOrderNumber,
    Interrupted,
    InvalidOrderState,
    OrderMismatch,
    OrderNotFound,
    PaymentDeclined,
    ValidationError,
)
from ..gateways.base import Gateway, SbpGateway
from ..http import deadline_scope, read_only, stop_requested, time_left
from ..models import OrderDetails, OrderStatus, RegisteredOrder
from ..money import Money
from ..retry import RetryPolicy
from .results import NOT_FOUND, ChargeOutcome, ChargeResult, NotFound, outcome_of

__all__ = ["AGAIN", "GaveUp", "ScenarioSteps", "Sending", "scenario"]

log = logging.getLogger("autopay_soap.client")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class _Again:
    """The type of :data:`AGAIN`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "AGAIN"


AGAIN = _Again()
"""What a step's ``settle`` returns to send again (see :meth:`ScenarioSteps._reconcile`)."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Sending:
    """What one send of a step came to: the gateway's ``answer``, or the ``error`` it raised (a
    :class:`~autopay_soap.errors.ConnectError` when the request never left)."""

    answer: Any = None
    error: Optional[AutopayError] = None

    @property
    def reached(self) -> bool:
        """True when the request reached the gateway (or may have)."""
        return not isinstance(self.error, ConnectError)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class GaveUp:
    """A step whose attempts (or deadline) ran out before ``settle`` decided: ``last`` the last
    attempt's :class:`Sending` (None when no attempt fitted), ``last_reached`` the last one that
    reached the gateway (None when none did: nothing was sent)."""

    last: Optional[Sending]
    last_reached: Optional[Sending]


def _registration_note(sending: Sending) -> str:
    """What a registration attempt came to, in a few words (a result's ``message``)."""
    error = sending.error
    if error is None:
        return "registered"
    if not sending.reached:
        return f"not sent ({type(error).__name__})"
    if isinstance(error, DuplicateOrderNumber):
        return "order number already registered"
    return f"registration outcome unknown ({type(error).__name__})"


def _payment_note(sending: Sending) -> str:
    """What a payment attempt came to, in a few words (an unknown result's ``message``)."""
    error = sending.error
    if error is None:
        return "payment step answered" + (" with 3-D Secure" if getattr(sending.answer, "needs_3ds", False) else "")
    if isinstance(error, PaymentDeclined):
        return error.gateway_message or "declined"
    if not sending.reached:
        return f"payment not sent ({type(error).__name__})"
    return f"payment outcome unknown ({type(error).__name__})"


def scenario(method: F) -> F:
    """Run a public scenario within the client's deadline (see :attr:`AutopayClient.deadline`),
    its gateway exchanges observed by the client's :attr:`~AutopayClient.events` hooks."""
    parameters = list(inspect.signature(method).parameters)
    first = parameters[1] if len(parameters) > 1 else None  # the order number, or an Autopayment carrying it

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        number = None
        if first in ("order_number", "payment"):
            given = kwargs.get(first, args[0] if args else None)
            number = getattr(given, "order_number", None) if first == "payment" else given
        with deadline_scope(self.deadline), observe.scenario(self.events, number):
            return method(self, *args, **kwargs)

    return cast(F, run)



class ScenarioSteps:
    """What the scenarios share (see the module): a base of :class:`~autopay_soap.client.AutopayClient`,
    whose attributes these read."""

    __slots__ = ()
    gateway: Gateway
    return_url: Optional[str]
    retry: RetryPolicy
    payer_ip: Optional[str]
    sleep: Callable[[float], None]
    deadline: Optional[float]
    decline_overrides: Optional[Dict[object, DeclineKind]]
    events: Tuple[observe.Hook, ...]
    _rng: random.Random


    def _attempts(self) -> Iterator[int]:
        """The one retry loop: attempt numbers, with the policy's waits between them, ending early
        when the scenario's deadline leaves no time for another attempt."""
        delays = self.retry.delays(self._rng)
        for attempt in range(self.retry.attempts):
            if attempt:
                delay = next(delays, self.retry.max_delay)
                left = time_left()
                if left is not None and left <= delay:
                    log.info("scenario deadline reached after %d attempt(s)", attempt)
                    return
                if stop_requested():
                    raise Interrupted("stopped before retrying: no further request was sent")
                self.sleep(delay)
            left = time_left()
            if left is not None and left <= 0:
                return
            yield attempt

    def _lookup(self, *, order_id: Optional[str] = None,
                order_number: Optional[str] = None) -> Union[OrderDetails, NotFound, None]:
        """The order as the gateway describes it, NOT_FOUND, or None when it would not say.

        A look-up only reads: it goes on after a stop (:func:`~autopay_soap.http.read_only`)."""
        with read_only():
            return self._lookup_with_retries(order_id=order_id, order_number=order_number)

    def _lookup_with_retries(self, *, order_id: Optional[str],
                             order_number: Optional[str]) -> Union[OrderDetails, NotFound, None]:
        def look() -> OrderDetails:
            if order_id is not None:
                return self.gateway.order_status(order_id=order_id)
            return self.gateway.order_status(order_number=order_number)

        def settle(sending: Sending) -> Any:
            if isinstance(sending.error, OrderNotFound):
                return NOT_FOUND
            if sending.error is None:
                return sending.answer
            log.info("status look-up of %s failed (%s); retrying", order_id or order_number,
                     type(sending.error).__name__)
            return AGAIN

        found = self._reconcile(look, settle, settles=(OrderNotFound,), read=True)
        return None if isinstance(found, GaveUp) else found

    def _reconcile(self, send: Callable[[], Any], settle: Callable[["Sending"], Any], *,
                   settles: Tuple[Type[AutopayError], ...] = (), read: bool = False) -> Any:
        """The one reconcile step every scenario is made of: ``send``; not sent (a connection
        error before the request left), send again; sent, ``settle`` decides from what came back
        (the answer, an ambiguous error, or one of the refusals in ``settles``), usually by looking
        the order up: a value to return, or :data:`AGAIN` to send again. Any other error is
        raised as it is: a refusal the gateway made for sure, or a TLS error (never retried).

        ``read``: the step only reads (a status look-up), so every error
        :meth:`RetryPolicy.retryable <autopay_soap.retry.RetryPolicy.retryable>` allows is worth
        another attempt, not only an ambiguous one. When the attempts (or the deadline) run
        out: a :class:`GaveUp`, for the scenario to turn into an unknown outcome or an error."""
        last: Optional[Sending] = None
        last_reached: Optional[Sending] = None
        for _attempt in self._attempts():
            try:
                last = Sending(answer=send())
            except ConnectError as exc:
                if not self.retry.retryable(exc):
                    raise  # a TLS error: never retried
                last = Sending(error=exc)
                continue
            except settles as exc:
                last = Sending(error=exc)
            except AutopayError as exc:
                if not (self.retry.retryable(exc) if read else exc.ambiguous):
                    raise
                last = Sending(error=exc)
            last_reached = last
            decided = settle(last)
            if decided is not AGAIN:
                return decided
        return GaveUp(last, last_reached)

    def _register(self, order_number: str, amount: Money, *, binding_id: Optional[str] = None,
                  **options: Any) -> Tuple[Optional[RegisteredOrder], Optional[OrderDetails], str]:
        """Register exactly once. Returns the order (or None if unknown), its details if looked up,
        and a note of what happened. An existing order found by number must be this charge
        (:meth:`_same_charge`), else :class:`OrderMismatch`."""
        client_id = options.get("client_id")
        if not self.gateway.features.order_number_unique:
            # the gateway may accept a repeated number: look before registering, never rely on a refusal
            found = self._lookup(order_number=order_number)
            if isinstance(found, OrderDetails):
                self._same_charge(found, order_number, amount, client_id, binding_id)
                log.info("order %s found by number before registering it again", order_number)
                return RegisteredOrder(found.order_id or "", order_number, None), found, "found by number"
            if found is None:
                return None, None, "could not look the order number up before registering it again"

        def settle(sending: Sending) -> Any:
            if sending.error is None:
                return sending.answer, None, ""
            note = _registration_note(sending)
            found = self._lookup(order_number=order_number)
            if isinstance(found, OrderDetails):
                self._same_charge(found, order_number, amount, client_id, binding_id)
                log.info("order %s found by number after: %s", order_number, note)
                return RegisteredOrder(found.order_id or "", order_number, None), found, note
            # not found: registering again is safe; unknown: registering again is safe too,
            # because a second registration of a registered number answers code 1.
            if found is None and not self.gateway.features.order_number_unique:
                return None, None, note  # no code 1 to rely on
            return AGAIN

        done = self._reconcile(lambda: self.gateway.register_order(order_number, amount, **options), settle,
                               settles=(DuplicateOrderNumber,))
        if not isinstance(done, GaveUp):
            return cast(Tuple[Optional[RegisteredOrder], Optional[OrderDetails], str], done)
        if done.last_reached is None and done.last is not None and done.last.error is not None:
            raise done.last.error  # nothing reached the gateway: an error to retry, not an unknown outcome
        return None, None, _registration_note(done.last) if done.last is not None else "registration failed"

    @staticmethod
    def _same_charge(found: OrderDetails, order_number: str, amount: Money, client_id: Optional[str],
                     binding_id: Optional[str]) -> None:
        """Raise :class:`OrderMismatch` unless the order found by number is the charge asked for.

        Compared: the amount and the currency always; the client and the binding where the
        gateway's answer names them (an order not yet paid names no binding).
        """
        requested: Dict[str, Any] = {"amount": amount.minor, "currency": amount.currency.alpha}
        existing: Dict[str, Any] = {"amount": found.amount.minor, "currency": found.amount.currency.alpha}
        if client_id is not None and found.binding is not None and found.binding.client_id:
            requested["client_id"], existing["client_id"] = client_id, found.binding.client_id
        if binding_id is not None and found.binding is not None and found.binding.binding_id:
            requested["binding_id"], existing["binding_id"] = binding_id, found.binding.binding_id
        if requested != existing:
            differs = ", ".join(k for k in requested if requested[k] != existing[k])
            raise OrderMismatch(
                f"order number {order_number!r} is already used by another charge ({differs} differ: asked "
                f"{amount}, found {found.amount}); nothing was charged",
                requested=requested, found=existing, order_number=order_number, order_id=found.order_id)

    def _pay(self, order_id: str, binding_id: Optional[str], cvc: Optional[str],
             account_token: Optional[str] = None, tii: Optional[str] = None) -> Union[OrderDetails, str]:
        """Pay once with the binding (or the SBP account); the order's final details, or a note when unknown."""
        declined: Optional[PaymentDeclined] = None

        def send() -> Any:
            if account_token is not None:
                return self._sbp_gateway().pay_with_account(order_id, account_token, ip=self.payer_ip)
            return self.gateway.pay_with_binding(order_id, binding_id or "", ip=self.payer_ip, cvc=cvc,
                                                 **({"tii": tii} if tii else {}))

        def settle(sending: Sending) -> Any:
            nonlocal declined
            if isinstance(sending.error, PaymentDeclined):
                declined = sending.error
            found = self._lookup(order_id=order_id)  # a wrong state may be "paid already": look
            if isinstance(found, OrderDetails):
                if found.status is OrderStatus.CREATED:
                    return AGAIN  # not paid: paying again is safe
                if declined is not None and found.status is OrderStatus.DECLINED and found.action_code is None:
                    found = attr.evolve(found, action_code=declined.action_code or declined.gateway_code,
                                        action_code_description=found.action_code_description
                                        or declined.gateway_message)
                return found
            if found is NOT_FOUND:
                raise OrderNotFound("the order vanished during payment", order_id=order_id)
            return AGAIN

        paid = self._reconcile(send, settle, settles=(PaymentDeclined, InvalidOrderState))
        if not isinstance(paid, GaveUp):
            return cast(OrderDetails, paid)
        return _payment_note(paid.last) if paid.last is not None else "payment outcome unknown"

    def _result(self, order_number: str, details: OrderDetails, form_url: Optional[str] = None) -> ChargeResult:
        outcome = outcome_of(details)
        message = details.action_code_description if outcome is ChargeOutcome.DECLINED else None
        decline = self.classify(details.action_code, message) if outcome is ChargeOutcome.DECLINED else None
        return ChargeResult(order_number, outcome, details.order_id, details, details.action_code, message, form_url,
                            decline=decline)

    def classify(self, code: object, text: Optional[str] = None) -> Decline:
        """The :class:`~autopay_soap.declines.model.Decline` of a code of this client's gateway, with its
        ``decline_overrides`` applied."""
        return classify(self.gateway.name, code, text, self.decline_overrides)

    def _sbp_gateway(self) -> SbpGateway:
        """The gateway as an :class:`~autopay_soap.gateways.base.SbpGateway`, or a ValidationError."""
        if not isinstance(self.gateway, SbpGateway) or not self.gateway.features.sbp:
            raise ValidationError(f"sbp: the {self.gateway.name} transport has no SBP autopayments (T-Bank only)",
                                  field="sbp")
        return self.gateway
