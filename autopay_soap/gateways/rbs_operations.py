"""The RBS operations written once, for both bindings of the gateway (SOAP and REST).

An operation's arguments, its checks and its result are the same over SOAP and over REST; only
the wire differs. :class:`RbsOperations` holds the arguments and the checks of registration,
paying with a saved card, 3-D Secure's end, capture, reversal, refund and the bindings' state,
and hands checked values to the binding, which says only how they go on its wire:
``_send_registration`` (a checked :class:`Registration`), ``_send_payment``, ``_send_3ds``,
``_send_money`` (neutral fields ``amount``, ``items``, ``expected_deposited``,
``external_refund_id`` under its own names) and ``_send_binding_change``; what a receipt looks like
there (``_wire_cart``, ``_wire_items``) and what it cannot carry (``_refuse_unsupported``; SOAP's
``_send_money`` refuses ``externalRefundId``). Reading a status and listing bindings stay in each
binding: their replies differ more than their requests.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import attr

from .. import validation as v
from ..errors import ValidationError
from ..initiators import RBS_TII_CODES, RecurringTerms
from ..models import OperationResult, PaymentStep, RegisteredOrder
from ..money import Money
from ..receipts import Receipt
from .base import GatewayFeatures, guard_replies

__all__ = ["RbsOperations", "Registration"]


@attr.s(frozen=True, slots=True, auto_attribs=True, kw_only=True)
class Registration:
    """A registration every check passed: what the binding puts on the wire.

    :param feature: ``AUTO_PAYMENT`` (an autopayment's order), ``VERIFY`` (a card check) or None.
    :param cart: the receipt in the binding's own wire form (None without a receipt).
    """

    order_number: str
    amount: Money
    return_url: Optional[str]
    two_stage: bool
    feature: Optional[str]
    client_id: Optional[str]
    binding_id: Optional[str]
    fail_url: Optional[str]
    description: Optional[str]
    language: Optional[str]
    session_timeout_secs: Optional[int]
    email: Optional[str]
    callback_url: Optional[str]
    recurring: Optional[RecurringTerms]
    cart: Any = None

    @property
    def operation(self) -> str:
        """``registerOrderPreAuth`` for two stages, else ``registerOrder`` (SOAP's names)."""
        return "registerOrderPreAuth" if self.two_stage else "registerOrder"


@guard_replies
class RbsOperations:
    """The RBS operations' arguments and checks, the same over both bindings (see the module)."""

    def register_order(
        self,
        order_number: str,
        amount: Money,
        return_url: str,
        *,
        two_stage: bool = False,
        client_id: Optional[str] = None,
        auto_payment: bool = False,
        binding_id: Optional[str] = None,
        fail_url: Optional[str] = None,
        description: Optional[str] = None,
        language: Optional[str] = None,
        session_timeout_secs: Optional[int] = None,
        email: Optional[str] = None,
        callback_url: Optional[str] = None,
        receipt: Optional[Receipt] = None,
        verify: bool = False,
        recurring: Optional[RecurringTerms] = None,
    ) -> RegisteredOrder:
        """Register an order: ``registerOrder`` / ``register.do`` (the ``PreAuth`` one when
        ``two_stage``).

        ``auto_payment`` (an autopayment's order, feature ``AUTO_PAYMENT``) needs ``client_id``;
        ``verify`` (a card check, amount 0, one stage, feature ``VERIFY``) too. ``recurring``: the
        chain's terms (``recurringFrequency``, ``recurringExpiry``). A ``receipt`` goes as
        ``orderBundle`` and ``taxSystem`` (:mod:`~autopay_soap.gateways.receipt_wire`).
        ``callback_url``: the order's own callback URL (REST ``dynamicCallbackUrl``; refused
        over SOAP, which has no such field). Every check runs before anything is sent.
        """
        registration = self._checked_registration(
            order_number, amount, return_url, two_stage=two_stage, receipt=receipt, client_id=client_id,
            auto_payment=auto_payment, binding_id=binding_id, fail_url=fail_url, description=description,
            language=language, session_timeout_secs=session_timeout_secs, email=email, callback_url=callback_url,
            verify=verify, recurring=recurring)
        return self._send_registration(registration)

    def check_registration(self, order_number: str, amount: Money, return_url: Optional[str], *,
                           two_stage: bool = False, receipt: Optional[Receipt] = None, **options: Any) -> None:
        """Every check :meth:`register_order` makes with these arguments, nothing sent."""
        self._checked_registration(order_number, amount, return_url, two_stage=two_stage, receipt=receipt,
                                   **options)

    def _checked_registration(self, order_number: Any, amount: Any, return_url: Any, *, two_stage: bool,
                              receipt: Optional[Receipt], **options: Any) -> Registration:
        checked: Dict[str, Any] = v.check_registration(order_number, amount, return_url, **options)
        verify, auto_payment = bool(options.get("verify")), bool(options.get("auto_payment"))
        if verify and two_stage:
            raise ValidationError("two_stage: a card check has one stage", field="two_stage")
        self._refuse_unsupported(checked, verify)
        return Registration(two_stage=two_stage, feature="AUTO_PAYMENT" if auto_payment else "VERIFY" if verify
                            else None, cart=self._wire_cart(receipt, checked["amount"]), **checked)

    # -- paying with a saved card ---------------------------------------------------------------

    features: GatewayFeatures

    @property
    def tii_mode(self) -> str:
        """Whether this gateway takes ``tii`` on ``paymentOrderBinding`` (``none``, ``optional``,
        ``required``): the ``tii_mode`` of its :class:`~autopay_soap.gateways.base.GatewayFeatures`."""
        return self.features.tii_mode

    def pay_with_binding(
        self, order_id: str, binding_id: str, *, ip: Optional[str] = None, cvc: Optional[str] = None,
        language: Optional[str] = None, email: Optional[str] = None, tii: Optional[str] = None,
    ) -> PaymentStep:
        """Pay a registered order with a saved card (``paymentOrderBinding`` / ``.do``).

        ``tii``: who initiates it (``F``, ``U``, ``R``, ``I``), only where ``tii_mode`` takes it (never
        over SOAP). Without ``acs_url`` in the result, the payment was processed: confirm the
        outcome with ``order_status`` (a decline may come back with errorCode 0; over REST its
        ``error`` field raises :class:`~autopay_soap.errors.PaymentDeclined`).
        """
        if tii is not None and (self.tii_mode == "none" or tii not in RBS_TII_CODES):
            raise ValidationError(f"initiator: tii {tii!r} cannot be sent to this gateway (tii_mode "
                                  f"{self.tii_mode})", field="initiator")
        fields = {"mdOrder": v.check_order_id(order_id), "bindingId": v.check_binding_id(binding_id),
                  "ip": v.check_ip(ip), "cvc": v.check_cvc(cvc), "language": v.check_language(language),
                  "email": v.check_email(email), "tii": tii}
        return self._send_payment(order_id, {k: x for k, x in fields.items() if x is not None})

    def finish_3ds(self, order_id: str, pa_res: str) -> Optional[str]:
        """Hand the ACS's ``PaRes`` to the gateway (``finishThreeDs`` / ``finish3ds.do``); the return URL."""
        return self._send_3ds(v.check_order_id(order_id, "order_id"), v.check_text(pa_res, "pa_res", 100_000))

    # -- the money operations ------------------------------------------------------------------

    def deposit(self, order_id: str, amount: Optional[Money] = None, *,
                receipt: Optional[Receipt] = None) -> OperationResult:
        """Capture a hold (``depositOrder`` / ``deposit.do``): ``amount=None`` captures all of it;
        ``receipt`` (the lines captured, adding up to ``amount``) goes as ``depositItems``."""
        order_id = v.check_order_id(order_id)
        checked = None if amount is None else v.check_money(amount, "amount")
        items = self._wire_items(receipt, checked, "the amount captured", "deposit")
        self._send_money("deposit", order_id, {"amount": 0 if checked is None else checked.minor, "items": items})
        return OperationResult("deposit", order_id, amount)

    def reverse(self, order_id: str) -> OperationResult:
        """Cancel a hold or a same-day payment (``reverseOrder`` / ``reverse.do``). Only once per order."""
        order_id = v.check_order_id(order_id)
        self._send_money("reverse", order_id, {})
        return OperationResult("reverse", order_id)

    def refund(self, order_id: str, amount: Money, *, expected_deposited: Optional[Money] = None,
               external_refund_id: Optional[str] = None, receipt: Optional[Receipt] = None) -> OperationResult:
        """Refund part or all of a deposited order (``refundOrder`` / ``refund.do``); ``receipt``: the
        lines refunded, sent as ``refundItems``.

        ``expected_deposited`` makes a retried refund safe: the gateway refunds only while the
        deposited amount still equals it. ``external_refund_id`` (at most 32 characters) exists
        only over REST; SOAP refuses it before sending.
        """
        order_id = v.check_order_id(order_id)
        amount = v.check_money(amount)
        items = self._wire_items(receipt, amount, "the amount refunded", "refund")
        expected = (v.check_money(expected_deposited, "expected_deposited", allow_zero=True).minor
                    if expected_deposited is not None else None)
        key = v.check_text(external_refund_id, "external_refund_id", 32) if external_refund_id is not None else None
        self._send_money("refund", order_id, {"amount": amount.minor, "items": items, "expected_deposited": expected,
                                              "external_refund_id": key})
        return OperationResult("refund", order_id, amount)

    # -- the bindings' state -------------------------------------------------------------------

    def bind_card(self, binding_id: str) -> OperationResult:
        """Re-activate a binding (``bindCard`` / ``bindCard.do``)."""
        self._send_binding_change("bindCard", {"bindingId": v.check_binding_id(binding_id)})
        return OperationResult("bind_card")

    def unbind_card(self, binding_id: str, *, client_id: Optional[str] = None) -> OperationResult:
        """Deactivate a binding (``unBindCard`` / ``unBindCard.do``): it can no longer be charged.
        ``client_id`` is T-Bank's need; RBS names the binding alone."""
        self._send_binding_change("unBindCard", {"bindingId": v.check_binding_id(binding_id)})
        return OperationResult("unbind_card")

    def extend_binding(self, binding_id: str, new_expiry: str) -> OperationResult:
        """Set a binding's expiry to ``new_expiry`` (``YYYYMM``; ``extendBinding`` / ``extendBinding.do``)."""
        self._send_binding_change("extendBinding", {"bindingId": v.check_binding_id(binding_id),
                                                    "newExpiry": v.check_expiry(new_expiry)})
        return OperationResult("extend_binding")

    # -- what each binding says ------------------------------------------------------------------

    def _refuse_unsupported(self, checked: Dict[str, Any], verify: bool) -> None:
        """Refuse (a :class:`ValidationError` naming the field) what this binding cannot carry."""

    def _wire_cart(self, receipt: Optional[Receipt], amount: Money) -> Any:
        """The receipt checked against ``amount`` in the binding's wire form (None without one)."""
        raise NotImplementedError

    def _send_registration(self, registration: Registration) -> RegisteredOrder:
        """Send the checked registration; the order the gateway registered."""
        raise NotImplementedError

    def _wire_items(self, receipt: Optional[Receipt], amount: Optional[Money], what: str, kind: str) -> Any:
        """The lines of ``receipt`` (checked against ``amount``, ``what`` naming it) in the binding's
        wire form for the money operation ``kind``; None without a receipt."""
        raise NotImplementedError

    def _send_money(self, kind: str, order_id: str, fields: Dict[str, Any]) -> None:
        """Send the money operation ``kind`` (``deposit``, ``reverse``, ``refund``) with these checked
        fields under the binding's wire names (a field it cannot carry refused before sending)."""
        raise NotImplementedError

    def _send_binding_change(self, operation: str, fields: Dict[str, Any]) -> None:
        """Send ``operation`` (``bindCard``, ``unBindCard``, ``extendBinding``: one name on both wires)
        with these checked fields; an error code raises."""
        raise NotImplementedError

    def _send_payment(self, order_id: str, fields: Dict[str, Any]) -> PaymentStep:
        """Send ``paymentOrderBinding`` with these checked fields (wire names); the step it answered."""
        raise NotImplementedError

    def _send_3ds(self, order_id: str, pa_res: str) -> Optional[str]:
        """Send the checked ``PaRes`` of ``order_id``; the return URL the gateway answered."""
        raise NotImplementedError
