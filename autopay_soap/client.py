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
   a refund carries ``expectedDepositedAmount`` (and ``externalRefundId`` over REST); on
   T-Bank it carries ``ExternalRequestId``, the same key on every attempt.
5. Still unsure after the retry budget or the scenario's ``deadline``: the outcome is
   **unknown**, never "failed".
6. An order number that leads to an existing order is only "this charge" when the order's
   amount, currency, client and binding match the request; otherwise :class:`OrderMismatch`
   is raised and nothing is paid or reported paid.

On T-Bank the same rules read: Init ambiguous → ``CheckOrder`` by OrderId; Charge or
ChargeQr ambiguous → ``GetState`` by PaymentId (``NEW``: charging again is safe;
a second ChargeQr answers 3037 and is looked up, never repeated blindly). T-Bank does not
document refusing a repeated ``OrderId``, so every order number is looked up with
``CheckOrder`` before its ``Init`` (any call may be a re-run: a retry, a resumed batch row, a
batch started on a new journal), and the client continues from what exists. That costs one
request per T-Bank scenario and is never skipped.
"""

from __future__ import annotations

import enum
import functools
import inspect
import logging
import random
import uuid
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, TypeVar, Union, cast

import attr

from . import observe
from .card_saving import check_card_save, finish_rbs, retried, start_rbs
from .declines import Decline, DeclineKind, classify, classify_error
from .errors import (
    AutopayError,
    BadResponse,
    ConnectError,
    DeadlineExceeded,
    DuplicateOrderNumber,
    GatewayError,
    Interrupted,
    InvalidOrderState,
    OrderMismatch,
    OrderNotFound,
    OutcomeUnknown,
    PaymentDeclined,
    UnsupportedOperation,
    ValidationError,
)
from .gateways.base import Gateway, SbpGateway
from .gateways.receipt_wire import tbank_receipt
from .http import deadline_scope, pause, read_only, stop_requested, time_left
from .initiators import Initiator, RecurringTerms, rbs_options, tbank_code
from .models import (
    Autopayment,
    Binding,
    BindingInfo,
    CardCheck,
    CardSave,
    CardSaveOutcome,
    OperationResult,
    OrderDetails,
    OrderStatus,
    RegisteredOrder,
    SbpAccount,
    SbpQr,
)
from .money import Money
from .receipts import Receipt, ReceiptStatus, check_receipt_for
from .retry import RetryPolicy
from .validation import check_binding_id, check_client_id, check_order_number, check_text

__all__ = ["AutopayClient", "ChargeOutcome", "ChargeResult"]

log = logging.getLogger(__name__)
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_DEADLINE = 180.0
"""Seconds one scenario call may take, its retries, waits and look-ups included."""


def _scenario(method: F) -> F:
    """Run a public scenario within the client's deadline (see :attr:`AutopayClient.deadline`),
    its gateway exchanges observed by the client's :attr:`~AutopayClient.events` hooks."""
    parameters = list(inspect.signature(method).parameters)
    first = parameters[1] if len(parameters) > 1 else None  # the order number, or an Autopayment carrying it

    @functools.wraps(method)
    def run(self: "AutopayClient", *args: Any, **kwargs: Any) -> Any:
        number = None
        if first in ("order_number", "payment"):
            given = kwargs.get(first, args[0] if args else None)
            number = getattr(given, "order_number", None) if first == "payment" else given
        with deadline_scope(self.deadline), observe.scenario(self.events, number):
            return method(self, *args, **kwargs)

    return cast(F, run)


def _check_deadline(_inst: Any, _attribute: Any, value: Optional[float]) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
        raise ValidationError("deadline: a positive number of seconds, or None for no deadline", field="deadline")


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

    ``outcome`` is ``ChargeOutcome.UNKNOWN`` when the gateway could not be asked after
    an ambiguous step: reconcile later by ``order_number``; never treat it as failed.
    """

    order_number: str
    outcome: ChargeOutcome
    order_id: Optional[str] = None
    details: Optional[OrderDetails] = None
    action_code: Optional[int] = None
    message: Optional[str] = None
    form_url: Optional[str] = None
    sbp_request_key: Optional[str] = None
    """T-Bank SBP bind-and-pay: the ``RequestKey`` whose account binding the payment creates."""
    decline: Optional[Decline] = None
    """For a DECLINED outcome: what kind of decline it is (soft, hard, rebind, merchant), the
    gateway's code and text and a reason in plain words (see "Declines and retries" in the docs)."""

    @property
    def ok(self) -> bool:
        """True when the money is taken or held."""
        return self.outcome in (ChargeOutcome.PAID, ChargeOutcome.HELD)

    @property
    def binding(self) -> Optional[BindingInfo]:
        """The binding the payment created or used, when the gateway reported one."""
        return self.details.binding if self.details else None

    def payment_url(self) -> str:
        """The page to send the payer to (``form_url``; on T-Bank SBP, the QR payload), as a
        ``str`` a type checker accepts. Raises :class:`OutcomeUnknown` when there is none: the
        registration's answer was lost (run :meth:`~AutopayClient.start_first_payment` again
        with the same order number: the order is found, never registered twice) or the order
        is already past its payment page (see ``outcome``)."""
        if self.form_url is None:
            raise OutcomeUnknown(f"no payment page: outcome {self.outcome.value}"
                                 + (f" ({self.message})" if self.message else ""),
                                 order_number=self.order_number, order_id=self.order_id)
        return self.form_url

    def new_binding(self) -> BindingInfo:
        """The binding a paid first payment created, for a type checker as much as for people.
        Raises :class:`PaymentDeclined` or :class:`OutcomeUnknown` (see :meth:`raise_for_outcome`)
        unless paid or held, and :class:`OutcomeUnknown` when the gateway named no binding (the
        first payment was started without ``client_id``; on T-Bank give ``client_id`` to
        :meth:`~AutopayClient.finish_first_payment`)."""
        self.raise_for_outcome()
        if self.binding is None or not self.binding.binding_id:
            raise OutcomeUnknown("paid, but the gateway named no binding (was client_id given?)",
                                 order_number=self.order_number, order_id=self.order_id)
        return self.binding

    def raise_for_outcome(self) -> "ChargeResult":
        """Raise :class:`PaymentDeclined` or :class:`OutcomeUnknown` unless paid or held."""
        detail = f": {self.message}" if self.message else ""
        if self.outcome is ChargeOutcome.DECLINED:
            raise PaymentDeclined(f"payment declined{detail}", action_code=self.action_code,
                                  order_number=self.order_number, order_id=self.order_id, decline=self.decline)
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
    :param decline_overrides: decline codes of this gateway mapped to the kind you want instead of
        the table's (``{5: DeclineKind.HARD}``); see "Declines and retries" in the docs.
    :param events: hooks called with an :class:`~autopay_soap.observe.Event` for every gateway
        exchange of a scenario (:mod:`autopay_soap.observe`); none by default.
    :param deadline: seconds one scenario call (``autopay``, ``capture``...) may take with all its
        retries, waits and status look-ups (default :data:`DEFAULT_DEADLINE`); after it the
        outcome is UNKNOWN (``autopay``) or :class:`OutcomeUnknown` is raised. ``None``: no bound
        but the retry policy's.
    """

    gateway: Gateway = attr.ib()
    return_url: Optional[str] = attr.ib(default=None)
    retry: RetryPolicy = attr.ib(factory=RetryPolicy)
    payer_ip: Optional[str] = attr.ib(default=None)
    sleep: Callable[[float], None] = attr.ib(default=pause, repr=False)
    deadline: Optional[float] = attr.ib(default=DEFAULT_DEADLINE, validator=_check_deadline)
    decline_overrides: Optional[Dict[object, DeclineKind]] = attr.ib(default=None)
    events: Tuple[observe.Hook, ...] = attr.ib(default=(), converter=tuple, repr=False)
    _rng: random.Random = attr.ib(factory=random.Random, repr=False)
    _key: Optional[Tuple[Any, ...]] = attr.ib(default=None, init=False, repr=False, eq=False)
    """The last :meth:`_check_key`, kept while the default return URL stays (the gateway's
    settings are fixed when it is built): one object for every payment this client checks."""

    @classmethod
    def from_profile(cls, name: Optional[str] = None, **settings: Any) -> "AutopayClient":
        """Build from a named profile (``sber-test``, ``alfa-prod``, ``sandbox``...).

        Settings come from arguments or ``AUTOPAY_*`` environment variables; see
        :func:`autopay_soap.profiles.build_gateway`.
        """
        from .profiles import build_gateway

        return_url = settings.pop("return_url", None)
        retry = settings.pop("retry", None) or RetryPolicy()
        options = {key: settings.pop(key) for key in ("deadline", "sleep", "payer_ip", "events") if key in settings}
        return cls(build_gateway(name, **settings), return_url=return_url, retry=retry, **options)

    def close(self) -> None:
        """Close the gateway's HTTP session."""
        self.gateway.close()

    def __enter__(self) -> "AutopayClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building blocks -------------------------------------------------------------------

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
                order_number: Optional[str] = None) -> Union[OrderDetails, _NotFound, None]:
        """The order as the gateway describes it, NOT_FOUND, or None when it would not say.

        A look-up only reads: it goes on after a stop (:func:`~autopay_soap.http.read_only`)."""
        with read_only():
            return self._lookup_with_retries(order_id=order_id, order_number=order_number)

    def _lookup_with_retries(self, *, order_id: Optional[str],
                             order_number: Optional[str]) -> Union[OrderDetails, _NotFound, None]:
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
        outcome = _outcome_of(details)
        message = details.action_code_description if outcome is ChargeOutcome.DECLINED else None
        decline = self.classify(details.action_code, message) if outcome is ChargeOutcome.DECLINED else None
        return ChargeResult(order_number, outcome, details.order_id, details, details.action_code, message, form_url,
                            decline=decline)

    def classify(self, code: object, text: Optional[str] = None) -> Decline:
        """The :class:`~autopay_soap.declines.model.Decline` of a code of this client's gateway, with its
        ``decline_overrides`` applied."""
        return classify(self.gateway.name, code, text, self.decline_overrides)

    # -- scenarios -------------------------------------------------------------------------

    def _sbp_gateway(self) -> SbpGateway:
        """The gateway as an :class:`~autopay_soap.gateways.base.SbpGateway`, or a ValidationError."""
        if not isinstance(self.gateway, SbpGateway) or not self.gateway.features.sbp:
            raise ValidationError(f"sbp: the {self.gateway.name} transport has no SBP autopayments (T-Bank only)",
                                  field="sbp")
        return self.gateway

    def _transport_options(self, initiator: Any = None, sbp: bool = False, *, first: bool = False,
                           two_stage: bool = False, recurring: Optional[RecurringTerms] = None) -> dict:
        """The initiator (and a chain's recurring terms) in the transport's words, checked
        (:mod:`autopay_soap.initiators`): T-Bank's ``OperationInitiatorType``; RBS's ``tii`` (only
        where the gateway's profile takes it) and ``recurring``."""
        options: dict = {}
        if self.gateway.features.initiator_types:
            if recurring is not None:
                raise ValidationError(f"recurring: the {self.gateway.name} transport carries no recurring terms "
                                      "(T-Bank chains autopayments by RebillId alone)", field="recurring")
            if initiator is not None:
                options["initiator"] = tbank_code(initiator)
        elif not sbp:
            options.update(rbs_options(initiator, tii_mode=getattr(self.gateway, "tii_mode", "none"), first=first,
                                       two_stage=two_stage, recurring=recurring))
        if sbp:
            if not self.gateway.features.sbp:
                raise ValidationError(f"sbp: the {self.gateway.name} transport has no SBP autopayments (T-Bank only)",
                                      field="sbp")
            options["sbp"] = True
        return options

    @_scenario
    def start_first_payment(
        self, order_number: str, amount: Money, client_id: Optional[str] = None, *, two_stage: bool = False,
        return_url: Optional[str] = None, fail_url: Optional[str] = None, description: Optional[str] = None,
        language: Optional[str] = None, session_timeout_secs: Optional[int] = None,
        initiator: Union[Initiator, str, None] = None, sbp: bool = False, receipt: Optional[Receipt] = None,
        recurring: Optional[RecurringTerms] = None,
    ) -> ChargeResult:
        """Register the first payment of a client (creates a binding once paid).

        ``initiator``: a chain-starting :class:`~autopay_soap.initiators.Initiator` (or T-Bank's
        ``1``); ``recurring``: the chain's :class:`~autopay_soap.initiators.RecurringTerms`, sent
        with the registration on RBS (required there with CUSTOMER_STARTS_RECURRING or
        _INSTALMENTS), refused on T-Bank. See "Who initiates a charge" in the docs.

        ``receipt``: the 54-FZ receipt of the payment (:class:`~autopay_soap.receipts.Receipt`),
        checked against ``amount`` before anything is sent; sent with the registration.

        Returns outcome ``PENDING`` with ``form_url``: send the payer there. After an
        ambiguous registration the order is recovered by number, without a form URL.

        T-Bank: the Init carries ``Recurrent=Y``, ``CustomerKey`` and initiator type 1. With
        ``sbp=True`` (no ``client_id``; ``description`` required) it is an SBP payment that binds
        the payer's account: ``form_url`` is the QR payload and ``sbp_request_key`` the key to
        ask :meth:`sbp_account` for the ``AccountToken`` once paid.
        """
        options = self._transport_options(initiator, sbp, first=True, two_stage=two_stage, recurring=recurring)
        if check_receipt_for(receipt, amount) is not None:
            options["receipt"] = receipt
        order, details, note = self._register(
            order_number, amount, return_url=return_url or self.return_url, two_stage=two_stage,
            client_id=None if sbp else client_id, fail_url=fail_url, description=description, language=language,
            session_timeout_secs=session_timeout_secs, **options)
        if order is None:
            return ChargeResult(order_number, ChargeOutcome.UNKNOWN, message=note)
        if details is not None and _outcome_of(details) is not ChargeOutcome.PENDING:
            return self._result(order_number, details)
        if sbp:
            qr = self._sbp_gateway().get_qr(order.order_id)
            return ChargeResult(order_number, ChargeOutcome.PENDING, order.order_id, details, form_url=qr.data,
                                message=note or None, sbp_request_key=qr.request_key)
        return ChargeResult(order_number, ChargeOutcome.PENDING, order.order_id, details, form_url=order.form_url,
                            message=note or None)

    @_scenario
    def finish_first_payment(self, *, order_id: Optional[str] = None, order_number: Optional[str] = None,
                             client_id: Optional[str] = None) -> ChargeResult:
        """After the payer came back: the order's status and, when paid, its binding.

        On T-Bank the status does not name the binding: give ``client_id`` and the binding
        (RebillId) is read from the customer's card list, the card of this payment when the
        gateway shows its number, else the most recent one. The RebillId of the payment
        notification is the authoritative source (see the T-Bank chapter of the docs).
        """
        found = self._lookup(order_id=order_id, order_number=order_number)
        number = order_number or ""
        if isinstance(found, OrderDetails):
            if (found.binding is None and client_id and found.is_paid
                    and self.gateway.features.binding_via_card_list):
                found = self._binding_from_card_list(found, client_id)
            return self._result(found.order_number or number, found)
        if found is NOT_FOUND:
            raise OrderNotFound("no such order", order_id=order_id, order_number=order_number)
        return ChargeResult(number, ChargeOutcome.UNKNOWN, order_id, message="status look-up failed")

    def _binding_from_card_list(self, details: OrderDetails, client_id: str) -> OrderDetails:
        cards = self.gateway.bindings(client_id)
        pan = details.card.masked_pan if details.card else None
        matching = [b for b in cards if pan and b.masked_pan == pan] or list(cards)
        if not matching:
            return details
        return attr.evolve(details, binding=BindingInfo(matching[-1].binding_id, client_id))

    @_scenario
    def autopay(
        self, order_number: str, amount: Money, *, client_id: Optional[str] = None,
        binding_id: Optional[str] = None, account_token: Optional[str] = None, two_stage: bool = False,
        description: Optional[str] = None, return_url: Optional[str] = None,
        initiator: Union[Initiator, str, None] = None, retry_of: Optional[str] = None,
        receipt: Optional[Receipt] = None,
    ) -> ChargeResult:
        """Charge a saved card (or, on T-Bank, a bound SBP account) without the customer.

        ``receipt``: the charge's 54-FZ receipt, checked against ``amount`` first; on RBS it goes
        with the registration, on T-Bank with the Init before ``Charge`` / ``ChargeQr``.

        RBS: register with AUTO_PAYMENT (``client_id`` required), pay with ``binding_id`` (and
        ``tii`` for ``initiator`` where the profile's gateway takes it: see
        :mod:`autopay_soap.initiators`), confirm. T-Bank: a fresh Init (no Recurrent, no CustomerKey, initiator type
        ``initiator`` or the gateway's default ``R``), then ``Charge`` with the RebillId
        ``binding_id``; or, with ``account_token``, an SBP Init then ``ChargeQr`` (one-stage).

        Safe to call again with the same ``order_number`` after a crash or an unknown
        outcome: an order already paid is reported, never paid twice. If the number leads to an
        order with another amount, currency, client or binding, :class:`OrderMismatch` is raised
        and nothing is charged. On T-Bank the order number is looked up (``CheckOrder``) before
        every ``Init``, whatever the gateway does with a repeated ``OrderId``.

        ``retry_of``: the order number of the declined attempt this charge retries (see
        :func:`autopay_soap.declines.retry_order_number`). That order is looked up first: if it
        turned out paid or held after all (a timeout decline that reached the issuer), nothing is
        charged and its result is returned; if the look-up fails, the outcome is UNKNOWN.

        A declined result carries its :attr:`ChargeResult.decline`; a refusal of the payment step
        (a binding the gateway does not know...) is raised with ``decline`` set on the exception.
        """
        return self._charge(self.check_autopay(
            order_number, amount, client_id=client_id, binding_id=binding_id, account_token=account_token,
            two_stage=two_stage, description=description, return_url=return_url, initiator=initiator,
            receipt=receipt), retry_of)

    @_scenario
    def charge(self, payment: Autopayment, *, retry_of: Optional[str] = None) -> ChargeResult:
        """:meth:`autopay` of an :class:`~autopay_soap.models.Autopayment` that
        :meth:`check_autopay` built: sent without checking its fields again when it was checked
        for this client's transport and settings, checked again first otherwise (a client of
        another gateway, profile or default return URL). Everything else is as :meth:`autopay`:
        a number already paid is reported, never paid twice."""
        if not isinstance(payment, Autopayment):
            raise ValidationError(f"payment: expected an Autopayment from check_autopay(), got "
                                  f"{type(payment).__name__}", field="payment")
        if payment.checked_for != self._check_key():
            payment = self.check_autopay(**payment.arguments())
        return self._charge(payment, retry_of)

    def _charge(self, payment: Autopayment, retry_of: Optional[str]) -> ChargeResult:
        if retry_of is not None:
            earlier = self._earlier_attempt(retry_of)
            if earlier is not None:
                return earlier
        order_number, binding_id = payment.order_number, payment.binding_id
        options = dict(payment.options)
        tii = options.pop("tii", None)  # RBS: sent with the payment by binding, not the registration
        order, details, note = self._register(
            order_number, payment.amount, binding_id=binding_id,
            return_url=payment.return_url or self.return_url, two_stage=payment.two_stage,
            client_id=payment.client_id, auto_payment=True, description=payment.description, **options)
        if order is None:
            return ChargeResult(order_number, ChargeOutcome.UNKNOWN, message=note)
        if details is not None and details.status is not OrderStatus.CREATED:
            return self._result(order_number, details)
        try:
            paid = self._pay(order.order_id, binding_id, None, payment.account_token, tii)
        except GatewayError as exc:
            if not exc.ambiguous:
                exc.decline = classify_error(exc, self.gateway.name, self.decline_overrides)
            raise
        if isinstance(paid, str):
            return ChargeResult(order_number, ChargeOutcome.UNKNOWN, order.order_id, message=paid)
        return self._result(order_number, paid)

    def _earlier_attempt(self, retry_of: str) -> Optional[ChargeResult]:
        """Before a retry: the earlier attempt's result if it was paid after all, or if it cannot be
        read (UNKNOWN); None when charging again is safe (declined, never paid, or not found)."""
        found = self._lookup(order_number=retry_of)
        if found is None:
            return ChargeResult(retry_of, ChargeOutcome.UNKNOWN,
                                message=f"the earlier attempt {retry_of} could not be looked up; not retried")
        if isinstance(found, OrderDetails):
            outcome = _outcome_of(found)
            if outcome in (ChargeOutcome.PAID, ChargeOutcome.HELD):
                log.warning("earlier attempt %s turned out %s: the retry charges nothing", retry_of, outcome.value)
                return attr.evolve(self._result(retry_of, found),
                                   message=f"the earlier attempt {retry_of} turned out {outcome.value}; nothing "
                                           "charged again")
            if outcome is ChargeOutcome.PENDING and found.status is not OrderStatus.CREATED:
                return ChargeResult(retry_of, ChargeOutcome.UNKNOWN, found.order_id,
                                    message=f"the earlier attempt {retry_of} is still in progress; not retried")
        return None

    def check_autopay(
        self, order_number: str, amount: Money, *, client_id: Optional[str] = None,
        binding_id: Optional[str] = None, account_token: Optional[str] = None, two_stage: bool = False,
        description: Optional[str] = None, return_url: Optional[str] = None,
        initiator: Union[Initiator, str, None] = None, receipt: Optional[Receipt] = None,
    ) -> Autopayment:
        """Every check :meth:`autopay` makes before sending anything, for this transport: raises
        :class:`ValidationError` (or :class:`~autopay_soap.errors.ConfigurationError`) naming the
        field, else returns the checked :class:`~autopay_soap.models.Autopayment`, which
        :meth:`charge` sends without checking it again. Nothing is sent. The batch runner runs
        it on every row first."""
        options = self._autopay_checks(order_number, amount, client_id=client_id, binding_id=binding_id,
                                       account_token=account_token, two_stage=two_stage, description=description,
                                       return_url=return_url, initiator=initiator, receipt=receipt)
        return Autopayment(order_number, amount, client_id, binding_id, account_token, two_stage, description,
                           return_url, initiator, receipt, options, self._check_key())

    def _check_key(self) -> Tuple[Any, ...]:
        """What :meth:`check_autopay` depends on: the gateway's checks (its ``check_key``; a
        gateway without one never shares a check) and the default return URL."""
        if self._key is None or self._key[1] != self.return_url:
            found = getattr(self.gateway, "check_key", None)
            self._key = (found() if callable(found) else ("unshared", id(self)), self.return_url)
        return self._key  # the same object each time: a spooled page of rows pickles it once

    def _autopay_checks(
        self, order_number: str, amount: Money, *, client_id: Optional[str], binding_id: Optional[str],
        account_token: Optional[str], two_stage: bool, description: Optional[str], return_url: Optional[str],
        initiator: Union[Initiator, str, None], receipt: Optional[Receipt] = None,
    ) -> dict:
        """Check an autopayment's arguments against this transport; the transport's options."""
        if (binding_id is None) == (account_token is None):
            raise ValidationError("binding_id: give exactly one of binding_id and account_token", field="binding_id")
        # all checked here, before the registration, so that a bad one leaves nothing half-done
        if binding_id is not None:
            check_binding_id(binding_id)
        else:
            check_text(account_token, "account_token", 64)
        options = self._transport_options(initiator, sbp=account_token is not None, two_stage=two_stage)
        if check_receipt_for(receipt, amount) is not None:
            options["receipt"] = receipt
        self.gateway.check_registration(order_number, amount, return_url or self.return_url,
                                        two_stage=two_stage, client_id=client_id, auto_payment=True,
                                        description=description, **{k: x for k, x in options.items() if k != "tii"})
        return options

    @_scenario
    def check_access(self) -> None:
        """Authenticate against the gateway without touching any order.

        Looks up an order number that cannot exist (``preflight-`` and 20 random hex digits):
        "not found" means the endpoint answers and the credentials are accepted. Raises
        :class:`~autopay_soap.errors.AccessDenied` or
        :class:`~autopay_soap.errors.AuthenticationError` for refused credentials, a
        :class:`~autopay_soap.errors.TransportError` when the gateway cannot be reached.
        """
        number = "preflight-" + uuid.uuid4().hex[:20]
        last: Optional[AutopayError] = None
        for _attempt in self._attempts():
            try:
                self.gateway.order_status(order_number=number)
                return  # an answer about a number nobody used: odd, but the credentials work
            except OrderNotFound:
                return
            except AutopayError as exc:
                if not self.retry.retryable(exc):
                    raise
                last = exc
        if last is not None:
            raise last
        raise DeadlineExceeded("check_access: no attempt fitted in the deadline", operation="check_access")

    # -- SBP (T-Bank) ------------------------------------------------------------------------

    @_scenario
    def bind_sbp_account(self, description: str) -> SbpQr:
        """Bind the payer's bank account by SBP without a payment (T-Bank ``AddAccountQr``).

        Returns an :class:`~autopay_soap.models.SbpQr`: show ``data`` (the QR payload)
        to the payer, then ask :meth:`sbp_account` with ``request_key`` (or wait for the
        account-binding notification) for the ``AccountToken``.
        """
        return self._sbp_gateway().add_account_qr(description)

    @_scenario
    def sbp_account(self, request_key: str) -> SbpAccount:
        """The state of an SBP account binding (``GetAddAccountQrState``): ``account_token`` once ``ACTIVE``."""
        return self._sbp_gateway().get_add_account_qr_state(request_key)

    @_scenario
    def send_closing_receipt(self, order_id: str, receipt: Receipt) -> None:
        """The closing (full-settlement) receipt of a prepaid payment: T-Bank's
        ``/cashbox/SendClosingReceipt`` for a ``CONFIRMED`` payment whose receipt had a prepayment
        line. Other transports raise :class:`~autopay_soap.errors.UnsupportedOperation`, nothing sent."""
        check_receipt_for(receipt, None)
        send = getattr(self.gateway, "send_closing_receipt", None)
        if send is None:
            raise UnsupportedOperation(f"send_closing_receipt: not built for the {self.gateway.name} transport (RBS "
                                       "closeOfdReceipt is not in this version)", operation="closeOfdReceipt")
        send(order_id, tbank_receipt(receipt))

    @_scenario
    def receipt_status(self, *, order_id: Optional[str] = None,
                       order_number: Optional[str] = None) -> Tuple[ReceiptStatus, ...]:
        """The order's 54-FZ receipts and where each stands at the cash register (RBS REST
        ``getReceiptStatus``). T-Bank reports receipts by fiscal notification instead
        (:class:`~autopay_soap.callbacks.TBankReceiptNotification`), and the SOAP transport has no
        such call: both raise :class:`~autopay_soap.errors.UnsupportedOperation`, nothing sent."""
        ask = getattr(self.gateway, "receipt_status", None)
        if ask is None:
            hint = "T-Bank sends fiscal notifications (Status=RECEIPT) instead" if self.gateway.name == "tbank" \
                else "use transport='rest'"
            raise UnsupportedOperation(f"receipt_status: the {self.gateway.name} transport has no receipt status "
                                       f"call; {hint}", operation="getReceiptStatus")
        statuses: Tuple[ReceiptStatus, ...] = ask(order_id=order_id, order_number=order_number)
        return statuses

    @_scenario
    def capture(self, order_id: str, amount: Optional[Money] = None, *,
                receipt: Optional[Receipt] = None) -> OrderDetails:
        """Deposit a hold (all of it by default). Checks the state first and after doubt.

        ``receipt``: the lines captured (:meth:`Receipt.part <autopay_soap.receipts.Receipt.part>`
        of the first payment's receipt for a part); ``amount`` defaults to their total."""
        cart = check_receipt_for(receipt, amount, "the amount captured")
        if cart is not None and amount is None:
            amount = cart.total  # the receipt says what is captured
        return self._money_step(order_id, lambda d: d.status is OrderStatus.APPROVED,
                                lambda d: d.status is OrderStatus.DEPOSITED,
                                lambda: self.gateway.deposit(order_id, amount, receipt=receipt), "capture")

    @_scenario
    def reverse(self, order_id: str) -> OrderDetails:
        """Cancel a hold (or, on RBS, a same-day payment). Checks the state first and after doubt."""
        reversible = (OrderStatus.APPROVED, OrderStatus.DEPOSITED) if self.gateway.features.reverse_after_capture \
            else (OrderStatus.APPROVED,)
        return self._money_step(order_id, lambda d: d.status in reversible,
                                lambda d: d.status is OrderStatus.REVERSED,
                                lambda: self.gateway.reverse(order_id), "reverse")

    @_scenario
    def refund(self, order_id: str, amount: Money, *, refund_id: Optional[str] = None,
               receipt: Optional[Receipt] = None) -> OrderDetails:
        """Refund part or all of a deposited order, at most once per call.

        ``receipt``: the lines refunded, adding up to ``amount`` (a partial refund on a terminal
        that fiscalises; a full refund needs none: the gateway uses the stored cart).

        The refund is sent with the amount still deposited as ``expectedDepositedAmount``,
        so a retry after an ambiguous answer cannot refund twice; ``refund_id`` adds
        ``externalRefundId`` where the transport has it (REST).
        """
        check_receipt_for(receipt, amount, "the amount refunded")
        if self.gateway.features.refund_by_key:
            return self._refund_by_key(order_id, amount, refund_id or str(uuid.uuid4()), receipt)
        before = self._must_lookup(order_id)
        nothing = amount.zero()
        deposited, refunded = before.deposited or nothing, before.refunded or nothing
        if refunded > deposited:
            raise BadResponse(f"refund: the gateway says {refunded} refunded of {deposited} deposited",
                              operation="refund", order_id=order_id)
        expected = deposited - refunded
        if amount > expected and before.status in (OrderStatus.DEPOSITED, OrderStatus.REFUNDED):
            raise InvalidOrderState(f"refund: {amount} is more than the {expected} still deposited",
                                    operation="refund", order_id=order_id)
        target = refunded + amount
        kwargs: dict = {"expected_deposited": expected, "receipt": receipt}
        if refund_id is not None and self.gateway.features.external_refund_id:  # not in SOAP's refundOrder
            kwargs["external_refund_id"] = refund_id
        return self._money_step(
            order_id, lambda d: d.status in (OrderStatus.DEPOSITED, OrderStatus.REFUNDED),
            lambda d: (d.refunded or nothing) >= target,
            lambda: self.gateway.refund(order_id, amount, **kwargs), "refund", first=before)

    def _refund_by_key(self, order_id: str, amount: Money, key: str,
                       receipt: Optional[Receipt] = None) -> OrderDetails:
        """T-Bank: Cancel with ``ExternalRequestId``; a repeated key never refunds twice."""
        before = self._must_lookup(order_id)
        if before.status is not OrderStatus.DEPOSITED:
            raise InvalidOrderState(f"refund: not possible in status {before.gateway_status or before.status.name}",
                                    operation="refund", order_id=order_id)
        result: Optional[OperationResult] = None
        for _attempt in self._attempts():
            try:
                result = self.gateway.refund(order_id, amount, external_refund_id=key, receipt=receipt)
                break
            except ConnectError as exc:
                if not self.retry.retryable(exc):
                    raise
            except AutopayError as exc:
                if not exc.ambiguous:
                    raise
                log.info("refund of %s: outcome unknown; sending again with the same key", order_id)
        if result is None:
            raise OutcomeUnknown(f"refund: no answer after {self.retry.attempts} attempts; call again with "
                                 f"refund_id={key!r}", operation="refund", order_id=order_id)
        after = self._must_lookup(order_id)
        if result.remaining is not None:
            after = attr.evolve(after, deposited=after.amount, refunded=after.amount - result.remaining)
        return after

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
        refusal: Optional[InvalidOrderState] = None
        for _attempt in self._attempts():
            try:
                call()
            except ConnectError as exc:
                if not self.retry.retryable(exc):
                    raise  # a TLS error: never retried
                continue
            except InvalidOrderState as exc:  # code 7: a wrong state, or a system error
                refusal = exc
            except AutopayError as exc:
                if not exc.ambiguous:
                    raise
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

    # -- saving a card without a payment -----------------------------------------------------

    @_scenario
    def start_card_save(
        self, order_number: str, client_id: str, *, check: Union[CardCheck, str, None] = None,
        return_url: Optional[str] = None, fail_url: Optional[str] = None, description: Optional[str] = None,
        language: Optional[str] = None, currency: str = "RUB", initiator: Union[Initiator, str, None] = None,
        recurring: Optional[RecurringTerms] = None,
    ) -> CardSave:
        """Save a client's card without charging it: returns a PENDING :class:`~autopay_soap.models.CardSave`
        whose ``form_url`` is the page to send the payer to; then :meth:`finish_card_save`.

        RBS (SOAP, REST): an order of zero with ``features=VERIFY`` (``check`` VERIFY, the only
        one), registered exactly once by ``order_number`` like a first payment. ``recurring``
        (:class:`~autopay_soap.initiators.RecurringTerms`) goes with it as ``recurringFrequency`` /
        ``recurringExpiry``; ``initiator`` CUSTOMER_STARTS_RECURRING or _INSTALMENTS requires it.
        T-Bank: ``AddCustomer`` if new, then ``AddCard`` with ``check`` (default ``3DSHOLD``; ``NO``
        saves a card without a RebillId, which cannot be autopaid); ``order_number`` is only kept
        in the result, and the page returns to the terminal's Success/Fail Add Card URLs (set in
        the merchant cabinet: ``AddCard`` has no URL fields, so ``return_url``, ``fail_url``,
        ``description`` and ``language`` are not sent). Every argument is checked before anything
        is sent.
        """
        chosen = check_card_save(self, client_id, check, initiator, recurring)
        if "VERIFY" in self.gateway.features.card_checks:
            options: Dict[str, Any] = {"return_url": return_url or self.return_url, "fail_url": fail_url,
                                       "description": description, "language": language}
            self.gateway.check_registration(order_number, Money.of(0, currency), client_id=client_id,
                                            **{"verify": True, "recurring": recurring, **options})
            return start_rbs(self, order_number, client_id, currency, recurring=recurring, **options)
        check_order_number(order_number)  # only kept on T-Bank, but a bad one is still refused by name
        started = retried(self, lambda: self.gateway.start_card_save(  # type: ignore[attr-defined]
            client_id, chosen, ip=self.payer_ip))
        if started is None:  # no attempt fitted in the deadline: nothing was asked
            return CardSave(CardSaveOutcome.UNKNOWN, client_id, chosen, order_number=order_number,
                            message="no attempt fitted in the deadline; start again")
        return attr.evolve(started, order_number=order_number)

    @_scenario
    def finish_card_save(self, reference: Optional[str] = None, *, client_id: str,
                         order_number: Optional[str] = None, check: Union[CardCheck, str, None] = None) -> CardSave:
        """Where a card save stands: SAVED (with the :class:`~autopay_soap.models.Binding` that
        :meth:`autopay` takes as ``binding_id``), PENDING, REFUSED, or UNKNOWN when the gateway
        could not be asked. ``reference`` is the ``reference`` of the card save that
        :meth:`start_card_save` returned (RBS: or give ``order_number``); T-Bank also wants the
        ``check`` it was started with when not the default."""
        chosen = check_card_save(self, client_id, check, None, None)
        if "VERIFY" in self.gateway.features.card_checks:
            if reference is None and order_number is None:
                raise ValidationError("reference: give the card save's reference or its order number",
                                      field="reference")
            return finish_rbs(self, reference, order_number, client_id)
        if not reference:
            raise ValidationError("reference: T-Bank's RequestKey of the card save is required", field="reference")
        with read_only():
            state = retried(self, lambda: self.gateway.card_save_state(  # type: ignore[attr-defined]
                reference, client_id, chosen), give_up=True)
        if state is None:
            return CardSave(CardSaveOutcome.UNKNOWN, client_id, chosen, reference, order_number=order_number,
                            message="status look-up failed")
        return attr.evolve(state, order_number=order_number)

    @_scenario
    def list_cards(self, client_id: str, *, show_expired: bool = False) -> Tuple[Binding, ...]:
        """A client's saved cards that can be autopaid (RBS ``getBindings``, T-Bank ``GetCardList``);
        the same as :meth:`bindings`."""
        return self.gateway.bindings(client_id, show_expired=show_expired)

    @_scenario
    def remove_card(self, binding_id: str, *, client_id: str) -> OperationResult:
        """Remove a saved card: RBS ``unBindCard``, T-Bank ``RemoveCard`` (the card whose RebillId
        is ``binding_id``); it can no longer be charged."""
        check_client_id(client_id, required=True)
        return self.gateway.unbind_card(binding_id, client_id=client_id)

    @_scenario
    def status(self, *, order_id: Optional[str] = None, order_number: Optional[str] = None) -> OrderDetails:
        """An order by gateway id or by merchant order number."""
        if order_id is not None:
            return self.gateway.order_status(order_id=order_id)
        return self.gateway.order_status(order_number=order_number)

    @_scenario
    def bindings(self, client_id: str, *, show_expired: bool = False) -> Tuple[Binding, ...]:
        """A client's saved cards."""
        return self.gateway.bindings(client_id, show_expired=show_expired)

    @_scenario
    def unbind(self, binding_id: str, *, client_id: Optional[str] = None) -> OperationResult:
        """Deactivate a binding: it can no longer be charged (T-Bank needs the ``client_id``)."""
        return self.gateway.unbind_card(binding_id, client_id=client_id)

    @_scenario
    def bind(self, binding_id: str) -> OperationResult:
        """Re-activate a binding."""
        return self.gateway.bind_card(binding_id)

    @_scenario
    def extend_binding(self, binding_id: str, new_expiry: str) -> OperationResult:
        """Set a binding's expiry (``YYYYMM``)."""
        return self.gateway.extend_binding(binding_id, new_expiry)

