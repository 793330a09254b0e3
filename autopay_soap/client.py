"""AutopayClient: the scenarios of first payments and autopayments, exactly once.

The client speaks in the caller's words (order number, amount, client, binding) and
follows the reconciliation rules below on every ambiguous step, whatever the transport:

1. The caller fixes the order number before the first call; the same logical charge always
   uses the same number (it is the idempotency key).
2. Registration fails ambiguously (timeout, reset, 5xx, garbage, fault): look the order up
   by number before any retry. Found: continue with it. "Number already used" (code 1):
   the same. Not found: registering again is safe.
3. The payment step fails ambiguously: look the order up by id. Paid or held: done.
   Still created: paying again is safe (an order can be paid once). Declined: final.
4. Capture, reverse and refund check the state first and after an ambiguous answer;
   a refund carries ``expectedDepositedAmount`` (and ``externalRefundId`` over REST).
5. Still unsure after the retry budget: the outcome is **unknown**, never "failed".
"""

from __future__ import annotations

import enum
import logging
import random
import time
from typing import Any, Callable, Optional, Tuple, TypeVar, Union

import attr

from .errors import (
    AutopayError,
    ConnectError,
    DuplicateOrderNumber,
    GatewaySystemError,
    InvalidOrderState,
    OrderNotFound,
    OutcomeUnknown,
    PaymentDeclined,
    SoapFaultError,
)
from .gateways.base import Gateway
from .models import Binding, BindingInfo, OperationResult, OrderDetails, OrderStatus, RegisteredOrder
from .money import Money
from .retry import RetryPolicy

__all__ = ["AutopayClient", "ChargeOutcome", "ChargeResult"]

log = logging.getLogger("autopay_soap.client")
T = TypeVar("T")
_AMBIGUOUS = (OutcomeUnknown, SoapFaultError, GatewaySystemError)


class ChargeOutcome(enum.Enum):
    """Where a charge ended: paid, held (two-stage), declined, pending (payer) or unknown."""

    PAID = "paid"
    HELD = "held"
    DECLINED = "declined"
    PENDING = "pending"
    UNKNOWN = "unknown"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ChargeResult:
    """The outcome of a payment scenario, with the order as the gateway last described it.

    ``outcome`` is :attr:`ChargeOutcome.UNKNOWN` when the gateway could not be asked after
    an ambiguous step: reconcile later by ``order_number``; never treat it as failed.
    """

    order_number: str
    outcome: ChargeOutcome
    order_id: Optional[str] = None
    details: Optional[OrderDetails] = None
    action_code: Optional[int] = None
    message: Optional[str] = None
    form_url: Optional[str] = None

    @property
    def ok(self) -> bool:
        """True when the money is taken or held."""
        return self.outcome in (ChargeOutcome.PAID, ChargeOutcome.HELD)

    @property
    def binding(self) -> Optional[BindingInfo]:
        """The binding the payment created or used, when the gateway reported one."""
        return self.details.binding if self.details else None

    def raise_for_outcome(self) -> "ChargeResult":
        """Raise :class:`PaymentDeclined` or :class:`OutcomeUnknown` unless paid or held."""
        detail = f": {self.message}" if self.message else ""
        if self.outcome is ChargeOutcome.DECLINED:
            raise PaymentDeclined(f"payment declined{detail}", action_code=self.action_code,
                                  order_number=self.order_number, order_id=self.order_id)
        if self.outcome in (ChargeOutcome.UNKNOWN, ChargeOutcome.PENDING):
            raise OutcomeUnknown(f"payment outcome {self.outcome.value}{detail}",
                                 order_number=self.order_number, order_id=self.order_id)
        return self


class _NotFound:
    """Marker: the gateway said there is no such order."""


NOT_FOUND = _NotFound()


def _outcome_of(details: OrderDetails) -> ChargeOutcome:
    if details.status is OrderStatus.APPROVED:
        return ChargeOutcome.HELD
    if details.status.is_paid or details.status in (OrderStatus.REFUNDED, OrderStatus.REVERSED):
        return ChargeOutcome.PAID
    if details.status is OrderStatus.DECLINED:
        return ChargeOutcome.DECLINED
    return ChargeOutcome.PENDING


@attr.s(slots=True)
class AutopayClient:
    """First payments and autopayments over any :class:`~autopay_soap.gateways.base.Gateway`.

    :param gateway: the transport (SOAP, REST or T-Bank).
    :param return_url: default return URL of registrations.
    :param retry: attempts and backoff per step.
    :param payer_ip: the ``ip`` sent with binding payments (the merchant server's address).
    :param sleep: how to wait between attempts (tests pass a no-op).
    """

    gateway: Gateway = attr.ib()
    return_url: Optional[str] = attr.ib(default=None)
    retry: RetryPolicy = attr.ib(factory=RetryPolicy)
    payer_ip: Optional[str] = attr.ib(default=None)
    sleep: Callable[[float], None] = attr.ib(default=time.sleep, repr=False)
    _rng: random.Random = attr.ib(factory=random.Random, repr=False)

    @classmethod
    def from_profile(cls, name: Optional[str] = None, **settings: Any) -> "AutopayClient":
        """Build from a named profile (``sber-test``, ``alfa-prod``, ``sandbox``...).

        Settings come from arguments or ``AUTOPAY_*`` environment variables; see
        :func:`autopay_soap.profiles.build_gateway`.
        """
        from .profiles import build_gateway

        return_url = settings.pop("return_url", None)
        retry = settings.pop("retry", None) or RetryPolicy()
        return cls(build_gateway(name, **settings), return_url=return_url, retry=retry)

    def close(self) -> None:
        """Close the gateway's HTTP session."""
        self.gateway.close()

    def __enter__(self) -> "AutopayClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building blocks -------------------------------------------------------------------

    def _waits(self) -> "Callable[[], None]":
        delays = self.retry.delays(self._rng)

        def wait() -> None:
            self.sleep(next(delays, self.retry.max_delay))

        return wait

    def _lookup(self, *, order_id: Optional[str] = None,
                order_number: Optional[str] = None) -> Union[OrderDetails, _NotFound, None]:
        """The order as the gateway describes it, NOT_FOUND, or None when it would not say."""
        wait = self._waits()
        for attempt in range(self.retry.attempts):
            if attempt:
                wait()
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

    def _register(self, order_number: str, amount: Money, **options: Any) -> Tuple[Optional[RegisteredOrder],
                                                                                  Optional[OrderDetails], str]:
        """Register exactly once. Returns the order (or None if unknown), its details if looked up,
        and a note of what happened."""
        wait = self._waits()
        note = ""
        for attempt in range(self.retry.attempts):
            if attempt:
                wait()
            try:
                return self.gateway.register_order(order_number, amount, **options), None, ""
            except ConnectError as exc:
                if not self.retry.retryable(exc):
                    raise  # a TLS error: never retried
                note = f"not sent ({type(exc).__name__})"
                continue
            except DuplicateOrderNumber:
                note = "order number already registered"
            except _AMBIGUOUS as exc:
                note = f"registration outcome unknown ({type(exc).__name__})"
            found = self._lookup(order_number=order_number)
            if isinstance(found, OrderDetails):
                log.info("order %s found by number after: %s", order_number, note)
                return RegisteredOrder(found.order_id or "", order_number, None), found, note
            # not found: registering again is safe; unknown: registering again is safe too,
            # because a second registration of a registered number answers code 1.
        return None, None, note or "registration failed"

    def _pay(self, order_id: str, binding_id: str, cvc: Optional[str]) -> Union[OrderDetails, str]:
        """Pay once with the binding; the order's final details, or a note when unknown."""
        wait = self._waits()
        note = ""
        for attempt in range(self.retry.attempts):
            if attempt:
                wait()
            try:
                step = self.gateway.pay_with_binding(order_id, binding_id, ip=self.payer_ip, cvc=cvc)
                note = "payment step answered" + (" with 3-D Secure" if step.needs_3ds else "")
            except PaymentDeclined as exc:
                note = exc.gateway_message or "declined"
            except ConnectError as exc:
                if not self.retry.retryable(exc):
                    raise  # a TLS error: never retried
                note = f"payment not sent ({type(exc).__name__})"
                continue
            except _AMBIGUOUS + (InvalidOrderState,) as exc:
                note = f"payment outcome unknown ({type(exc).__name__})"
            found = self._lookup(order_id=order_id)
            if isinstance(found, OrderDetails):
                if found.status is OrderStatus.CREATED:
                    continue  # not paid: paying again is safe
                return found
            if found is NOT_FOUND:
                raise OrderNotFound("the order vanished during payment", order_id=order_id)
        return note or "payment outcome unknown"

    @staticmethod
    def _result(order_number: str, details: OrderDetails, form_url: Optional[str] = None) -> ChargeResult:
        outcome = _outcome_of(details)
        message = details.action_code_description if outcome is ChargeOutcome.DECLINED else None
        return ChargeResult(order_number, outcome, details.order_id, details, details.action_code, message, form_url)

    # -- scenarios -------------------------------------------------------------------------

    def start_first_payment(
        self, order_number: str, amount: Money, client_id: str, *, two_stage: bool = False,
        return_url: Optional[str] = None, fail_url: Optional[str] = None, description: Optional[str] = None,
        language: Optional[str] = None, session_timeout_secs: Optional[int] = None,
    ) -> ChargeResult:
        """Register the first payment of a client (creates a binding once paid).

        Returns outcome ``PENDING`` with ``form_url``: send the payer there. After an
        ambiguous registration the order is recovered by number, without a form URL.
        """
        order, details, note = self._register(
            order_number, amount, return_url=return_url or self.return_url, two_stage=two_stage,
            client_id=client_id, fail_url=fail_url, description=description, language=language,
            session_timeout_secs=session_timeout_secs)
        if order is None:
            return ChargeResult(order_number, ChargeOutcome.UNKNOWN, message=note)
        if details is not None and _outcome_of(details) is not ChargeOutcome.PENDING:
            return self._result(order_number, details)
        return ChargeResult(order_number, ChargeOutcome.PENDING, order.order_id, details, form_url=order.form_url,
                            message=note or None)

    def finish_first_payment(self, *, order_id: Optional[str] = None,
                             order_number: Optional[str] = None) -> ChargeResult:
        """After the payer came back: the order's status and, when paid, its binding."""
        found = self._lookup(order_id=order_id, order_number=order_number)
        number = order_number or ""
        if isinstance(found, OrderDetails):
            return self._result(found.order_number or number, found)
        if found is NOT_FOUND:
            raise OrderNotFound("no such order", order_id=order_id, order_number=order_number)
        return ChargeResult(number, ChargeOutcome.UNKNOWN, order_id, message="status look-up failed")

    def autopay(
        self, order_number: str, amount: Money, *, client_id: str, binding_id: str, two_stage: bool = False,
        description: Optional[str] = None, return_url: Optional[str] = None,
    ) -> ChargeResult:
        """Charge a saved card without the customer: register with AUTO_PAYMENT, pay, confirm.

        Safe to call again with the same ``order_number`` after a crash or an unknown
        outcome: an order already paid is reported, never paid twice.
        """
        order, details, note = self._register(
            order_number, amount, return_url=return_url or self.return_url, two_stage=two_stage,
            client_id=client_id, auto_payment=True, description=description)
        if order is None:
            return ChargeResult(order_number, ChargeOutcome.UNKNOWN, message=note)
        if details is not None and details.status is not OrderStatus.CREATED:
            return self._result(order_number, details)
        paid = self._pay(order.order_id, binding_id, None)
        if isinstance(paid, str):
            return ChargeResult(order_number, ChargeOutcome.UNKNOWN, order.order_id, message=paid)
        return self._result(order_number, paid)

    def capture(self, order_id: str, amount: Optional[Money] = None) -> OrderDetails:
        """Deposit a hold (all of it by default). Checks the state first and after doubt."""
        return self._money_step(order_id, lambda d: d.status is OrderStatus.APPROVED,
                                lambda d: d.status is OrderStatus.DEPOSITED,
                                lambda: self.gateway.deposit(order_id, amount), "capture")

    def reverse(self, order_id: str) -> OrderDetails:
        """Cancel a hold (or a same-day payment). Checks the state first and after doubt."""
        return self._money_step(order_id, lambda d: d.status in (OrderStatus.APPROVED, OrderStatus.DEPOSITED),
                                lambda d: d.status is OrderStatus.REVERSED,
                                lambda: self.gateway.reverse(order_id), "reverse")

    def refund(self, order_id: str, amount: Money, *, refund_id: Optional[str] = None) -> OrderDetails:
        """Refund part or all of a deposited order, at most once per call.

        The refund is sent with the amount still deposited as ``expectedDepositedAmount``,
        so a retry after an ambiguous answer cannot refund twice; ``refund_id`` adds
        ``externalRefundId`` where the transport has it (REST).
        """
        before = self._must_lookup(order_id)
        deposited = before.deposited.minor if before.deposited else 0
        refunded = before.refunded.minor if before.refunded else 0
        expected = Money.from_minor(deposited - refunded, amount.currency)
        if amount.minor > expected.minor and before.status in (OrderStatus.DEPOSITED, OrderStatus.REFUNDED):
            raise InvalidOrderState(f"refund: {amount} is more than the {expected} still deposited",
                                    operation="refund", order_id=order_id)
        target = refunded + amount.minor
        kwargs: dict = {"expected_deposited": expected}
        if refund_id is not None and self.gateway.name == "rest":  # SOAP's refundOrder has no such field
            kwargs["external_refund_id"] = refund_id
        return self._money_step(
            order_id, lambda d: d.status in (OrderStatus.DEPOSITED, OrderStatus.REFUNDED),
            lambda d: (d.refunded.minor if d.refunded else 0) >= target,
            lambda: self.gateway.refund(order_id, amount, **kwargs), "refund", first=before)

    def _must_lookup(self, order_id: str) -> OrderDetails:
        found = self._lookup(order_id=order_id)
        if isinstance(found, OrderDetails):
            return found
        if found is NOT_FOUND:
            raise OrderNotFound("no such order", order_id=order_id)
        raise OutcomeUnknown("could not read the order's state", order_id=order_id)

    def _money_step(self, order_id: str, allowed: Callable[[OrderDetails], bool],
                    done: Callable[[OrderDetails], bool], call: Callable[[], OperationResult], name: str,
                    first: Optional[OrderDetails] = None) -> OrderDetails:
        details = first or self._must_lookup(order_id)
        if done(details):
            return details
        if not allowed(details):
            raise InvalidOrderState(f"{name}: not possible in status {details.status.name}", operation=name,
                                    order_id=order_id)
        wait = self._waits()
        refusal: Optional[InvalidOrderState] = None
        for attempt in range(self.retry.attempts):
            if attempt:
                wait()
            try:
                call()
            except ConnectError as exc:
                if not self.retry.retryable(exc):
                    raise  # a TLS error: never retried
                continue
            except InvalidOrderState as exc:  # code 7: a wrong state, or a system error
                refusal = exc
            except _AMBIGUOUS:
                refusal = None
            details = self._must_lookup(order_id)
            if done(details):
                return details
            if not allowed(details):
                raise InvalidOrderState(f"{name}: not possible in status {details.status.name}", operation=name,
                                        order_id=order_id)
        if refusal is not None:
            raise refusal
        raise OutcomeUnknown(f"{name}: still not done after {self.retry.attempts} attempts", operation=name,
                             order_id=order_id)

    def status(self, *, order_id: Optional[str] = None, order_number: Optional[str] = None) -> OrderDetails:
        """An order by gateway id or by merchant order number."""
        if order_id is not None:
            return self.gateway.order_status(order_id=order_id)
        return self.gateway.order_status(order_number=order_number)

    def bindings(self, client_id: str, *, show_expired: bool = False) -> Tuple[Binding, ...]:
        """A client's saved cards."""
        return self.gateway.bindings(client_id, show_expired=show_expired)

    def unbind(self, binding_id: str) -> OperationResult:
        """Deactivate a binding: it can no longer be charged."""
        return self.gateway.unbind_card(binding_id)

    def bind(self, binding_id: str) -> OperationResult:
        """Re-activate a binding."""
        return self.gateway.bind_card(binding_id)

    def extend_binding(self, binding_id: str, new_expiry: str) -> OperationResult:
        """Set a binding's expiry (``YYYYMM``)."""
        return self.gateway.extend_binding(binding_id, new_expiry)

