"""T-Bank as a :class:`~autopay_soap.gateways.base.Gateway`: card and SBP autopayments.

Every request carries a ``Token`` computed by :func:`make_token` from exactly the body that
is sent (:mod:`autopay_soap.gateways.tbank_api` sends them, method by method). The card-on-file
rules of the operation initiator type are checked by :func:`check_initiator` before a request
leaves (:mod:`autopay_soap.gateways.tbank_initiator`), so this client never provokes error 1125
or 1126. Replies become :mod:`autopay_soap.models` and :mod:`autopay_soap.errors`: an
``ErrorCode`` the exception of the same meaning (:func:`error_for_tbank_code`), a payment
``Status`` an :class:`~autopay_soap.models.OrderStatus` (:data:`STATUS_MAP`), the gateway's own
word kept in ``OrderDetails.gateway_status`` (:mod:`autopay_soap.codes.tbank`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from .. import validation as v
from ..codes.tbank import _PAID_RANK, STATUS_MAP, error_for_tbank_code
from ..codes.tbank import status_of as _status
from ..errors import BadResponse, BindingStateError, OrderNotFound, UnsupportedOperation, ValidationError
from ..models import (
    Binding,
    BindingInfo,
    CardCheck,
    CardInfo,
    CardSave,
    CardSaveOutcome,
    OperationResult,
    OrderDetails,
    OrderStatus,
    PaymentStep,
    RegisteredOrder,
    SbpAccount,
    SbpQr,
)
from ..money import Money
from ..receipts import Receipt, check_receipt_for
from ..signing import make_token, token_value
from .base import GatewayFeatures, expiry_yyyymm, guard_replies, normalise_error_code, optional_text, order_amount
from .receipt_wire import tbank_receipt
from .tbank_api import (
    CHECK_TYPES,
    MOSCOW,
    PROD_URL,
    REDIRECT_DUE_MAX,
    REDIRECT_DUE_MIN,
    TEST_URL,
    TBankApi,
    _money,
    encrypt_card_data,
)
from .tbank_initiator import InitiatorType, check_initiator

__all__ = [
    "PROD_URL",
    "STATUS_MAP",
    "TEST_URL",
    "InitiatorType",
    "SbpAccount",
    "SbpQr",
    "TBankApi",
    "TBankGateway",
    "check_initiator",
    "encrypt_card_data",
    "error_for_tbank_code",
    "make_token",
    "token_value",
]

log = logging.getLogger(__name__)


_REGISTRATION_OPTIONS = frozenset({"two_stage", "client_id", "auto_payment", "binding_id", "fail_url", "description",
                                   "language", "session_timeout_secs", "email", "initiator", "sbp"})
"""The keywords of :meth:`TBankGateway.register_order` besides the receipt."""


@guard_replies
class TBankGateway(TBankApi):
    """T-Bank's API as a :class:`~autopay_soap.gateways.base.Gateway` (the arguments are
    :class:`~autopay_soap.gateways.tbank_api.TBankApi`'s)."""

    name = "tbank"
    features = GatewayFeatures(reverse_after_capture=False, refund_by_key=True, sbp=True, initiator_types=True,
                               binding_via_card_list=True, order_number_unique=False, card_checks=CHECK_TYPES,
                               receipt_reports="notification", closing_receipts=True)

    # -- the Gateway protocol the client uses ---------------------------------------------------

    def register_order(
        self, order_number: str, amount: Money, return_url: Optional[str] = None, *, two_stage: bool = False,
        client_id: Optional[str] = None, auto_payment: bool = False, binding_id: Optional[str] = None,
        fail_url: Optional[str] = None, description: Optional[str] = None, language: Optional[str] = None,
        session_timeout_secs: Optional[int] = None, email: Optional[str] = None,
        initiator: Union[str, InitiatorType, None] = None, sbp: bool = False, receipt: Optional[Receipt] = None,
    ) -> RegisteredOrder:
        """Init for a scenario: a parent payment (``client_id`` → ``Recurrent=Y``, type 1), an
        autopayment (``auto_payment``: no Recurrent, no CustomerKey, type R/I/2) or, with ``sbp``,
        an SBP payment (``Recurrent=Y``, ``DATA.QR``) whose QR binds the account or that ChargeQr pays."""
        init_args = self._registration_init_args(order_number, amount, return_url, dict(
            two_stage=two_stage, client_id=client_id, auto_payment=auto_payment, binding_id=binding_id,
            fail_url=fail_url, description=description, language=language,
            session_timeout_secs=session_timeout_secs, email=email, initiator=initiator, sbp=sbp))
        reply = self.init(order_number, amount, receipt=_receipt(receipt, amount), **init_args)
        return RegisteredOrder(str(reply["PaymentId"]), order_number, optional_text(reply.get("PaymentURL")))

    def check_registration(self, order_number: str, amount: Money, return_url: Optional[str] = None, *,
                           receipt: Optional[Receipt] = None, **options: Any) -> None:
        """Every check :meth:`register_order` makes (RUB only, lengths, initiator rules...), nothing sent;
        ``options`` are :meth:`register_order`'s keywords."""
        init_args = self._registration_init_args(order_number, amount, return_url, options)
        self._init_payload(order_number, amount, dict(init_args, receipt=_receipt(receipt, amount)))

    def _registration_init_args(self, order_number: str, amount: Money, return_url: Optional[str],
                                options: Mapping[str, Any]) -> Dict[str, Any]:
        """The scenario's checks and the keyword arguments of :meth:`init` it makes (nothing sent);
        ``options``: :meth:`register_order`'s keywords (an unknown one is a TypeError, as in a call)."""
        unknown = sorted(set(options) - _REGISTRATION_OPTIONS)
        if unknown:
            raise TypeError(f"register_order() got unexpected keyword arguments: {', '.join(unknown)}")
        two_stage, auto_payment, sbp = (bool(options.get(k)) for k in ("two_stage", "auto_payment", "sbp"))
        client_id, initiator, description = (options.get(k) for k in ("client_id", "initiator", "description"))
        email = options.get("email")
        binding_id, session_timeout_secs = options.get("binding_id"), options.get("session_timeout_secs")
        if binding_id is not None:
            raise UnsupportedOperation("binding_id: T-Bank has no order restricted to a binding", operation="Init")
        if client_id is not None:  # checked even where it is not sent (an autopayment), like on RBS
            v.check_client_id(client_id)
        secs = v.check_positive_int(session_timeout_secs, "session_timeout_secs")
        if secs is not None and not REDIRECT_DUE_MIN <= secs <= REDIRECT_DUE_MAX:
            raise ValidationError("session_timeout_secs: T-Bank allows 1 minute to 90 days",
                                  field="session_timeout_secs")
        data: Dict[str, str] = {"Email": email} if v.check_email(email) and email else {}
        if sbp:
            if two_stage:
                raise ValidationError("two_stage: SBP payments are one-stage only", field="two_stage")
            if initiator is not None:
                raise ValidationError("initiator: SBP payments carry no card initiator type", field="initiator")
            if not auto_payment and not description:
                raise ValidationError("description: required for an SBP payment that binds the account",
                                      field="description")
            recurrent, customer, oit = True, None, None
        elif auto_payment:
            recurrent, customer = False, None
            oit = check_initiator(initiator or self.default_initiator, recurrent=False, rebill=True,
                                  terminal_type=self.terminal_type)
        elif client_id:
            recurrent, customer = True, client_id
            oit = check_initiator(initiator or InitiatorType.CIT_CREDENTIAL_CAPTURED, recurrent=True, rebill=False,
                                  terminal_type=self.terminal_type)
        else:
            recurrent, customer = False, None
            oit = check_initiator(initiator or InitiatorType.CIT_CREDENTIAL_NOT_CAPTURED, recurrent=False,
                                  terminal_type=self.terminal_type)
        due = (dt.datetime.now(MOSCOW) + dt.timedelta(seconds=secs)) if secs else None
        return {"description": description, "customer_key": customer, "recurrent": recurrent,
                "two_stage": None if sbp else two_stage, "initiator": oit, "qr": sbp, "success_url": return_url,
                "fail_url": options.get("fail_url"), "redirect_due": due, "language": options.get("language"),
                "data": data}

    def pay_with_binding(
        self, order_id: str, binding_id: str, *, ip: Optional[str] = None, cvc: Optional[str] = None,
        language: Optional[str] = None, email: Optional[str] = None,
    ) -> PaymentStep:
        """``Charge`` the payment ``order_id`` with the ``RebillId`` ``binding_id``."""
        if cvc is not None:
            raise ValidationError("cvc: T-Bank's Charge takes no CVC (the card is on file)", field="cvc")
        reply = self.charge(order_id, binding_id, ip=ip)
        return PaymentStep(order_id, info=optional_text(reply.get("Status")))

    def pay_with_account(self, order_id: str, account_token: str, *, ip: Optional[str] = None) -> PaymentStep:
        """``ChargeQr`` the SBP payment ``order_id`` from the bound account ``account_token``."""
        reply = self.charge_qr(order_id, account_token, ip=ip)
        return PaymentStep(order_id, info=optional_text(reply.get("Status")))

    def finish_3ds(self, order_id: str, pa_res: str) -> Optional[str]:
        """Not on T-Bank: use :meth:`~autopay_soap.gateways.tbank_api.TBankApi.submit_3ds_authorization`
        (it needs the ``MD`` as well)."""
        raise UnsupportedOperation("finish_3ds: on T-Bank call submit_3ds_authorization(md, pa_res, payment_id)",
                                   operation="Submit3DSAuthorization", order_id=order_id)

    def deposit(self, order_id: str, amount: Optional[Money] = None, *,
                receipt: Optional[Receipt] = None) -> OperationResult:
        """``Confirm`` a hold, in full or in part (``receipt``: what is captured)."""
        reply = self.confirm(order_id, amount, receipt=_receipt(receipt, amount, "the amount captured"))
        return OperationResult("deposit", str(reply.get("PaymentId") or order_id), amount)

    def reverse(self, order_id: str) -> OperationResult:
        """``Cancel`` a hold (``AUTHORIZED`` → ``REVERSED``)."""
        reply = self.cancel(order_id)
        return OperationResult("reverse", str(reply.get("PaymentId") or order_id), _money(reply.get("NewAmount")))

    def refund(self, order_id: str, amount: Money, *, expected_deposited: Optional[Money] = None,
               external_refund_id: Optional[str] = None, receipt: Optional[Receipt] = None) -> OperationResult:
        """``Cancel`` part or all of a ``CONFIRMED`` payment; ``external_refund_id`` is the idempotency
        key; ``receipt`` lists the lines refunded (a partial refund on a terminal with a register)."""
        v.check_money(amount)
        reply = self.cancel(order_id, amount, external_request_id=external_refund_id,
                            receipt=_receipt(receipt, amount, "the amount refunded"))
        return OperationResult("refund", str(reply.get("PaymentId") or order_id), amount,
                               remaining=_money(reply.get("NewAmount")))

    def order_status(self, *, order_id: Optional[str] = None, order_number: Optional[str] = None) -> OrderDetails:
        """``GetState`` by PaymentId, or ``CheckOrder`` by OrderId (the paid payment first, else the latest;
        read again with ``GetState`` when ``CheckOrder`` leaves its ``Amount`` out)."""
        if order_id is not None:
            return _details(self.get_state(order_id))
        if order_number is None:
            raise ValidationError("order_id or order_number is required", field="order_id")
        reply = self.check_order(order_number)
        payments = [p for p in reply.get("Payments") or [] if isinstance(p, dict)]
        if not payments:
            raise OrderNotFound("T-Bank has no payment for this OrderId", operation="CheckOrder",
                                order_number=order_number)
        ranked = sorted(enumerate(payments), key=lambda ip: (_PAID_RANK[_status(ip[1].get("Status"))], -ip[0]))
        best = ranked[0][1]
        if best.get("Amount") in (None, "") and best.get("PaymentId") not in (None, ""):
            # CheckOrder may leave a payment's Amount out (the schema allows it); GetState must give it
            return self.order_status(order_id=str(best["PaymentId"]))
        return _details({**best, "OrderId": reply.get("OrderId") or order_number})

    def bindings(self, client_id: str, *, show_expired: bool = False) -> Tuple[Binding, ...]:
        """A customer's chargeable cards (``GetCardList`` with a ``RebillId``); the binding id is the RebillId."""
        try:
            cards = self.get_card_list(client_id)
        except BindingStateError:  # error 7: the customer is unknown, so has no cards
            return ()
        found = []
        this_month = dt.date.today().strftime("%Y%m")
        for card in cards:
            if not card.get("RebillId") or str(card.get("Status") or "A") != "A":
                continue
            expiry = expiry_yyyymm(card.get("ExpDate"))
            if expiry and expiry < this_month and not show_expired:
                continue
            text = None if expiry or card.get("ExpDate") in (None, "") else str(card.get("ExpDate"))[:16]
            found.append(Binding(str(card["RebillId"]), client_id, optional_text(card.get("Pan")), expiry,
                                 active=not expiry or expiry >= this_month, expiry_text=text))
        return tuple(found)

    # -- saving a card without a payment ------------------------------------------------------------

    def start_card_save(self, client_id: str, check: CardCheck, *, ip: Optional[str] = None) -> CardSave:
        """``GetCustomer`` (``AddCustomer`` when unknown), then ``AddCard`` with ``check``: PENDING,
        with the payer's page (``PaymentURL``) and the ``RequestKey`` as ``reference``."""
        try:
            self.get_customer(client_id)
        except BindingStateError:  # error 7: not a customer yet
            self.add_customer(client_id, ip=ip)
        reply = self.add_card(client_id, check_type=check.value, ip=ip)
        key = optional_text(reply.get("RequestKey"))
        if not key:
            raise BadResponse("AddCard answered without a RequestKey", operation="AddCard")
        return CardSave(CardSaveOutcome.PENDING, client_id, check, key, optional_text(reply.get("PaymentURL")))

    def card_save_state(self, request_key: str, client_id: str, check: CardCheck) -> CardSave:
        """``GetAddCardState``: SAVED (with the card's binding when it has a RebillId), REFUSED or
        PENDING. The card's number and expiry come from ``GetCardList``."""
        reply = self.get_add_card_state(request_key)
        status = str(reply.get("Status") or "")
        if reply.get("CustomerKey") not in (None, "", client_id):
            raise BadResponse("GetAddCardState answered for another customer", operation="GetAddCardState")
        if status == "REJECTED":
            return CardSave(CardSaveOutcome.REFUSED, client_id, check, request_key,
                            message=optional_text(reply.get("Message")) or "the card was not saved")
        if status != "COMPLETED":
            return CardSave(CardSaveOutcome.PENDING, client_id, check, request_key, message=status or None)
        card_id, rebill = optional_text(reply.get("CardId")), optional_text(reply.get("RebillId"))
        card = next((c for c in self.get_card_list(client_id) if str(c.get("CardId") or "") == card_id), {})
        binding = None
        if rebill:
            binding = Binding(rebill, client_id, optional_text(card.get("Pan")), expiry_yyyymm(card.get("ExpDate")))
        note = None if rebill else f"saved with CheckType {check.value}: no RebillId, so no autopayments"
        return CardSave(CardSaveOutcome.SAVED, client_id, check, request_key, binding=binding, card_id=card_id,
                        message=note)

    def card_of_rebill(self, client_id: str, rebill_id: str) -> Optional[Dict[str, Any]]:
        """The ``GetCardList`` entry of a customer whose ``RebillId`` is ``rebill_id``, or None."""
        for card in self.get_card_list(client_id):
            if str(card.get("RebillId") or "") == str(rebill_id):
                return card
        return None

    def unbind_card(self, binding_id: str, *, client_id: Optional[str] = None) -> OperationResult:
        """``RemoveCard`` of the card whose RebillId is ``binding_id`` (T-Bank needs the ``client_id``)."""
        if not client_id:
            raise ValidationError("client_id: T-Bank removes a card by CustomerKey and CardId", field="client_id")
        card = self.card_of_rebill(client_id, binding_id)
        if card is None:
            raise BindingStateError("no active card with this RebillId", operation="RemoveCard")
        self.remove_card(client_id, str(card["CardId"]))
        return OperationResult("RemoveCard")

    def bind_card(self, binding_id: str) -> OperationResult:
        """Not on T-Bank: a removed card is bound again by a new parent payment."""
        raise UnsupportedOperation("bind_card: T-Bank has no such operation; make a new parent payment",
                                   operation="bindCard")

    def extend_binding(self, binding_id: str, new_expiry: str) -> OperationResult:
        """Not on T-Bank."""
        raise UnsupportedOperation("extend_binding: T-Bank has no such operation", operation="extendBinding")


def _details(reply: Mapping[str, Any]) -> OrderDetails:
    """:class:`OrderDetails` from a GetState reply or a CheckOrder payment."""
    word = str(reply.get("Status") or "").upper()
    status = _status(word)
    amount = Money.from_minor(order_amount(status, reply.get("Amount")), "RUB")
    code = normalise_error_code(reply.get("ErrorCode"))
    declined = status is OrderStatus.DECLINED
    captured = word in ("CONFIRMED", "COMPLETED")  # nothing refunded yet
    pan, rebill = optional_text(reply.get("Pan")), optional_text(reply.get("RebillId"))
    return OrderDetails(
        order_number=optional_text(reply.get("OrderId")),
        status=status,
        amount=amount,
        order_id=optional_text(reply.get("PaymentId")),
        action_code=code if declined and code > 0 else None,
        action_code_description=optional_text(reply.get("Message")) if declined else None,
        approved=amount if status in (OrderStatus.APPROVED, OrderStatus.DEPOSITED) else None,
        deposited=amount if captured or word in ("PARTIAL_REFUNDED", "REFUNDED") else None,
        refunded=amount if status is OrderStatus.REFUNDED else Money.from_minor(0, "RUB") if captured else None,
        card=CardInfo(pan, optional_text(reply.get("ExpDate"))) if pan else None,
        binding=BindingInfo(rebill, optional_text(reply.get("CustomerKey"))) if rebill else None,
        gateway_status=word or None,
    )


def _receipt(receipt: Optional[Receipt], amount: Optional[Money], what: str = "the charge") -> Optional[Dict[str, Any]]:
    """The ``Receipt`` object of a request, checked against its amount (None without a receipt)."""
    if receipt is None:
        return None
    check_receipt_for(receipt, amount, what)
    return tbank_receipt(receipt)
