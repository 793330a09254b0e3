"""The RBS operations written once, for both bindings of the gateway (SOAP and REST).

An operation's arguments, its checks and its result are the same over SOAP and over REST; only
the wire differs. :class:`RbsOperations` holds the arguments and the checks and hands a checked
value (:class:`Registration`) to the binding, which says how it goes on the wire
(``_send_registration``), what its cart looks like there (``_wire_cart``) and what it cannot
carry (``_refuse_unsupported``). Registration is the first operation moved here; the others
follow the same shape.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import attr

from .. import validation as v
from ..errors import ValidationError
from ..initiators import RecurringTerms
from ..models import RegisteredOrder
from ..money import Money
from ..receipts import Receipt
from .base import guard_replies

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

    # -- what each binding says ------------------------------------------------------------------

    def _refuse_unsupported(self, checked: Dict[str, Any], verify: bool) -> None:
        """Refuse (a :class:`ValidationError` naming the field) what this binding cannot carry."""

    def _wire_cart(self, receipt: Optional[Receipt], amount: Money) -> Any:
        """The receipt checked against ``amount`` in the binding's wire form (None without one)."""
        raise NotImplementedError

    def _send_registration(self, registration: Registration) -> RegisteredOrder:
        """Send the checked registration; the order the gateway registered."""
        raise NotImplementedError
