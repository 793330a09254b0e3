"""The building blocks every scenario of :class:`~autopay_soap.client.AutopayClient` is made of:
the one retry loop (``_attempts``), the look-up that settles an ambiguous step (``_lookup``),
registration and payment with their reconciliation (``_register``, ``_pay``), the result of
an order as the gateway describes it, and the ``scenario`` wrapper (the client's deadline and
its event hooks around each public call).
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, TypeVar, Union, cast

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

__all__ = ["ScenarioSteps", "scenario"]

log = logging.getLogger("autopay_soap.client")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


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
        for _attempt in self._attempts():
            try:
                if order_id is not None:
                    return self.gateway.order_status(order_id=order_id)
                return self.gateway.order_status(order_number=order_number)
            except OrderNotFound:
                return NOT_FOUND
            except AutopayError as exc:
                if not self.retry.retryable(exc):
                    raise
                log.info("status look-up of %s failed (%s); retrying", order_id or order_number, type(exc).__name__)
        return None

    def _register(self, order_number: str, amount: Money, *, binding_id: Optional[str] = None,
                  **options: Any) -> Tuple[Optional[RegisteredOrder], Optional[OrderDetails], str]:
        """Register exactly once. Returns the order (or None if unknown), its details if looked up,
        and a note of what happened. An existing order found by number must be this charge
        (:meth:`_same_charge`), else :class:`OrderMismatch`."""
        note = ""
        if not self.gateway.features.order_number_unique:
            # the gateway may accept a repeated number: look before registering, never rely on a refusal
            found = self._lookup(order_number=order_number)
            if isinstance(found, OrderDetails):
                self._same_charge(found, order_number, amount, options.get("client_id"), binding_id)
                log.info("order %s found by number before registering it again", order_number)
                return RegisteredOrder(found.order_id or "", order_number, None), found, "found by number"
            if found is None:
                return None, None, "could not look the order number up before registering it again"
        not_sent: Optional[ConnectError] = None  # the last attempt's, while no attempt has reached the gateway
        reached = False
        for _attempt in self._attempts():
            try:
                return self.gateway.register_order(order_number, amount, **options), None, ""
            except ConnectError as exc:
                if not self.retry.retryable(exc):
                    raise  # a TLS error: never retried
                note = f"not sent ({type(exc).__name__})"
                not_sent = exc
                continue
            except DuplicateOrderNumber:
                note = "order number already registered"
            except AutopayError as exc:
                if not exc.ambiguous:
                    raise
                note = f"registration outcome unknown ({type(exc).__name__})"
            reached = True
            found = self._lookup(order_number=order_number)
            if isinstance(found, OrderDetails):
                self._same_charge(found, order_number, amount, options.get("client_id"), binding_id)
                log.info("order %s found by number after: %s", order_number, note)
                return RegisteredOrder(found.order_id or "", order_number, None), found, note
            # not found: registering again is safe; unknown: registering again is safe too,
            # because a second registration of a registered number answers code 1.
            if found is None and not self.gateway.features.order_number_unique:
                return None, None, note or "registration outcome unknown"  # no code 1 to rely on
        if not_sent is not None and not reached:  # nothing left: an error to retry, not an unknown outcome
            raise not_sent
        return None, None, note or "registration failed"

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
        note = ""
        declined: Optional[PaymentDeclined] = None
        for _attempt in self._attempts():
            try:
                if account_token is not None:
                    step = self._sbp_gateway().pay_with_account(order_id, account_token, ip=self.payer_ip)
                else:
                    step = self.gateway.pay_with_binding(order_id, binding_id or "", ip=self.payer_ip, cvc=cvc,
                                                         **({"tii": tii} if tii else {}))
                note = "payment step answered" + (" with 3-D Secure" if step.needs_3ds else "")
            except PaymentDeclined as exc:
                declined = exc
                note = exc.gateway_message or "declined"
            except ConnectError as exc:
                if not self.retry.retryable(exc):
                    raise  # a TLS error: never retried
                note = f"payment not sent ({type(exc).__name__})"
                continue
            except InvalidOrderState as exc:  # a wrong state may be "paid already": look
                note = f"payment outcome unknown ({type(exc).__name__})"
            except AutopayError as exc:
                if not exc.ambiguous:
                    raise
                note = f"payment outcome unknown ({type(exc).__name__})"
            found = self._lookup(order_id=order_id)
            if isinstance(found, OrderDetails):
                if found.status is OrderStatus.CREATED:
                    continue  # not paid: paying again is safe
                if declined is not None and found.status is OrderStatus.DECLINED and found.action_code is None:
                    found = attr.evolve(found, action_code=declined.action_code or declined.gateway_code,
                                        action_code_description=found.action_code_description
                                        or declined.gateway_message)
                return found
            if found is NOT_FOUND:
                raise OrderNotFound("the order vanished during payment", order_id=order_id)
        return note or "payment outcome unknown"

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
