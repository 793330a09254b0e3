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

import logging
import random
import uuid
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar, Union

import attr

from . import observe
from .declines import DeclineKind, classify_error
from .errors import DeadlineExceeded, GatewayError, OrderNotFound, ValidationError
from .gateways.base import Gateway
from .http import pause
from .initiators import Initiator, RecurringTerms, rbs_options, tbank_code
from .models import Autopayment, BindingInfo, OrderDetails, OrderStatus
from .money import Money
from .receipts import Receipt, check_receipt_for
from .retry import RetryPolicy
from .scenarios.cards import CardsAndBindings
from .scenarios.money_back import MoneyBack
from .scenarios.results import NOT_FOUND, ChargeOutcome, ChargeResult, outcome_of
from .scenarios.sbp_receipts import SbpAndReceipts
from .scenarios.steps import AGAIN, GaveUp, Sending, scenario
from .validation import check_binding_id, check_text

__all__ = ["AutopayClient", "ChargeOutcome", "ChargeResult"]

log = logging.getLogger(__name__)
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_DEADLINE = 180.0
"""Seconds one scenario call may take, its retries, waits and look-ups included."""

def _check_deadline(_inst: Any, _attribute: Any, value: Optional[float]) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
        raise ValidationError("deadline: a positive number of seconds, or None for no deadline", field="deadline")


@attr.s(slots=True)
class AutopayClient(MoneyBack, CardsAndBindings, SbpAndReceipts):
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

    # -- scenarios -------------------------------------------------------------------------
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
            options.update(rbs_options(initiator, tii_mode=self.gateway.features.tii_mode, first=first,
                                       two_stage=two_stage, recurring=recurring))
        if sbp:
            if not self.gateway.features.sbp:
                raise ValidationError(f"sbp: the {self.gateway.name} transport has no SBP autopayments (T-Bank only)",
                                      field="sbp")
            options["sbp"] = True
        return options

    @scenario
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
        if details is not None and outcome_of(details) is not ChargeOutcome.PENDING:
            return self._result(order_number, details)
        if sbp:
            qr = self._sbp_gateway().get_qr(order.order_id)
            return ChargeResult(order_number, ChargeOutcome.PENDING, order.order_id, details, form_url=qr.data,
                                message=note or None, sbp_request_key=qr.request_key)
        return ChargeResult(order_number, ChargeOutcome.PENDING, order.order_id, details, form_url=order.form_url,
                            message=note or None)

    @scenario
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

    @scenario
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

        A declined result carries its :attr:`~autopay_soap.scenarios.results.ChargeResult.decline`; a
        refusal of the payment step (a binding the gateway does not know...) is raised with
        ``decline`` set on the exception.
        """
        return self._charge(self.check_autopay(
            order_number, amount, client_id=client_id, binding_id=binding_id, account_token=account_token,
            two_stage=two_stage, description=description, return_url=return_url, initiator=initiator,
            receipt=receipt), retry_of)

    @scenario
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
            outcome = outcome_of(found)
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

    @scenario
    def check_access(self) -> None:
        """Authenticate against the gateway without touching any order.

        Looks up an order number that cannot exist (``preflight-`` and 20 random hex digits):
        "not found" means the endpoint answers and the credentials are accepted. Raises
        :class:`~autopay_soap.errors.AccessDenied` or
        :class:`~autopay_soap.errors.AuthenticationError` for refused credentials, a
        :class:`~autopay_soap.errors.TransportError` when the gateway cannot be reached.
        """
        number = "preflight-" + uuid.uuid4().hex[:20]
        # "not found": the endpoint answers and the credentials work; an answer about a number
        # nobody used is odd, but says the same
        def settle(sending: Sending) -> Any:
            failed = sending.error is not None and not isinstance(sending.error, OrderNotFound)
            return AGAIN if failed else None

        found = self._reconcile(lambda: self.gateway.order_status(order_number=number), settle,
                                settles=(OrderNotFound,), read=True)
        if not isinstance(found, GaveUp):
            return
        if found.last is not None and found.last.error is not None:
            raise found.last.error
        raise DeadlineExceeded("check_access: no attempt fitted in the deadline", operation="check_access")
