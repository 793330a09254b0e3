"""T-Bank notifications: the Token and the shape of every root field checked offline, then the
payment (or the SBP account binding) confirmed with the gateway (see :mod:`autopay_soap.callbacks`)."""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Union

import attr

from ..errors import CallbackVerificationError, ValidationError
from ..gateways.base import optional_text
from ..models import OrderDetails
from ..secret import Secret, reveal
from ..signing import make_token, tokens_equal
from .common import confirm_order

__all__ = ["ACCOUNT_NOTIFICATION_KEYS", "ACCOUNT_STATUSES", "CARD_NOTIFICATION_KEYS", "CARD_STATUSES",
           "PAYMENT_NOTIFICATION_KEYS", "PAYMENT_STATUSES", "RECEIPT_NOTIFICATION_KEYS", "TBankAccountNotification",
           "TBankCardNotification", "TBankNotification", "TBankPaymentNotification",
           "TBankReceiptNotification", "confirm_tbank_notification", "verify_tbank_notification_offline"]

log = logging.getLogger("autopay_soap.callbacks")

PAYMENT_NOTIFICATION_KEYS = frozenset({
    "TerminalKey", "Amount", "OrderId", "Success", "Status", "PaymentId", "ErrorCode", "Message", "Details",
    "RebillId", "CardId", "Pan", "ExpDate", "Token", "Data", "CustomerKey"})
"""The root fields of a payment notification (T-Bank's ``NotificationPayment``)."""
ACCOUNT_NOTIFICATION_KEYS = frozenset({
    "TerminalKey", "RequestKey", "AccountToken", "BankMemberId", "BankMemberName", "NotificationType", "Success",
    "ErrorCode", "Message", "Token", "Status"})
"""The root fields of an SBP account-binding notification (``NotificationQr``, ``LINKACCOUNT``)."""
PAYMENT_STATUSES = frozenset({
    "AUTHORIZED", "CONFIRMED", "PARTIAL_REVERSED", "REVERSED", "CANCELED", "PARTIAL_REFUNDED", "REFUNDED",
    "REJECTED", "DEADLINE_EXPIRED", "AUTH_FAIL", "3DS_CHECKING", "3DS_CHECKED", "FORM_SHOWED", "NEW",
    "AUTHORIZING", "CONFIRMING", "REFUNDING", "REVERSING", "ASYNC_REFUNDING", "ATTEMPTS_EXPIRED"})
ACCOUNT_STATUSES = frozenset({"ACTIVE", "INACTIVE", "NEW", "PROCESSING"})
CARD_NOTIFICATION_KEYS = frozenset({
    "TerminalKey", "CustomerKey", "RequestKey", "Success", "Status", "PaymentId", "ErrorCode", "Message", "Details",
    "RebillId", "CardId", "Pan", "ExpDate", "Token"})
"""The root fields of a card-binding notification (T-Bank's ``NotificationAddCard``)."""
CARD_STATUSES = frozenset({"COMPLETED", "REJECTED"})
RECEIPT_NOTIFICATION_KEYS = frozenset({
    "TerminalKey", "OrderId", "Success", "Status", "PaymentId", "ErrorCode", "ErrorMessage", "Amount",
    "FiscalNumber", "ShiftNumber", "ReceiptDatetime", "FnNumber", "EcrRegNumber", "FiscalDocumentNumber",
    "FiscalDocumentAttribute", "Receipt", "Type", "Token", "Ofd", "Url", "QrCodeUrl", "CalculationPlace",
    "CashierName", "SettlePlace"})
"""The root fields of a fiscal notification (T-Bank's ``NotificationFiscalization``, ``Status=RECEIPT``)."""
_OPTIONAL_TEXT = frozenset({"Message", "Details", "BankMemberName", "BankMemberId", "ErrorMessage", "Ofd", "Url",
                            "QrCodeUrl", "CalculationPlace", "CashierName", "SettlePlace", "Type"})  # may be empty
_DIGITS = {"PaymentId": 20, "Amount": 12, "CardId": 20, "RebillId": 20, "ErrorCode": 6, "FiscalNumber": 12,
           "ShiftNumber": 12, "FiscalDocumentNumber": 12, "FiscalDocumentAttribute": 12}
_SHAPES = {
    "TerminalKey": re.compile(r"^[A-Za-z0-9_\-.]{1,20}$"),
    "OrderId": re.compile(r"^[^\x00-\x1f]{1,36}$"),
    "Pan": re.compile(r"^[0-9*+ ]{4,24}$"),
    "ExpDate": re.compile(r"^(0[1-9]|1[0-2])[0-9]{2}$"),
    "CustomerKey": re.compile(r"^[^\x00-\x1f]{1,36}$"),
    "RequestKey": re.compile(r"^[A-Za-z0-9\-]{1,64}$"),
    "AccountToken": re.compile(r"^[^\x00-\x1f]{1,64}$"),
    "NotificationType": re.compile(r"^LINKACCOUNT$"),
}


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TBankPaymentNotification:
    """A T-Bank payment notification (``AUTHORIZED``, ``CONFIRMED``, ``REJECTED``...).

    Confirmed (``confirmed`` True, the receiver's normal case), ``status`` and ``success`` are
    the payment's state **now** as ``GetState`` reports it (``success``: paid now, that is
    ``AUTHORIZED``, ``CONFIRMED`` or partly refunded; False for ``REFUNDED``, ``REVERSED``,
    ``REJECTED``, ``CANCELED`` and every state still in progress), and ``details`` the whole of it;
    ``claimed_status`` is what the notification said (older when it came late). ``rebill_id``
    is set on the parent payment of a card autopayment: keep it, it is the binding ``Charge``
    uses. ``amount`` is in kopecks and was checked against the gateway's.
    """

    terminal_key: str
    order_id: Optional[str]
    payment_id: str
    status: str
    success: bool
    amount: Optional[int] = None
    error_code: Optional[str] = None
    rebill_id: Optional[str] = None
    card_id: Optional[str] = None
    masked_pan: Optional[str] = None
    exp_date: Optional[str] = None
    customer_key: Optional[str] = None
    payload: Dict[str, Any] = attr.ib(factory=dict, repr=False)
    confirmed: bool = False
    claimed_status: Optional[str] = None
    details: Optional[OrderDetails] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TBankAccountNotification:
    """An SBP account-binding notification (``NotificationType=LINKACCOUNT``).

    ``account_token`` is set when ``status`` is ``ACTIVE``: keep it, ``ChargeQr`` uses it.
    Confirmed, ``status`` and ``account_token`` are what ``GetAddAccountQrState`` reports now.
    """

    terminal_key: str
    request_key: str
    status: str
    success: bool
    account_token: Optional[str] = None
    bank_member_id: Optional[str] = None
    bank_member_name: Optional[str] = None
    error_code: Optional[str] = None
    payload: Dict[str, Any] = attr.ib(factory=dict, repr=False)
    confirmed: bool = False
    claimed_status: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TBankReceiptNotification:
    """A fiscal notification (``Status=RECEIPT``): the cash register registered a receipt of a payment.

    ``success`` False with ``error_code`` / ``error_message`` when the register refused it (fix the
    cart or the register and send a correction: see the receipts chapter). ``amount`` is the
    receipt's sum in kopecks, ``receipt_type`` T-Bank's settlement sign (``Income``, ``IncomeReturn``),
    ``receipt`` the receipt as registered, ``url`` the buyer's copy. Confirmed (``confirmed`` True),
    the payment exists with this ``OrderId`` and its amount is at least the receipt's.
    """

    terminal_key: str
    order_id: Optional[str]
    payment_id: str
    success: bool
    amount: Optional[int] = None
    error_code: Optional[str] = None
    error_message: Optional[str] = None
    receipt_type: Optional[str] = None
    fiscal_number: Optional[str] = None
    shift_number: Optional[str] = None
    fiscal_document_number: Optional[str] = None
    fiscal_document_attribute: Optional[str] = None
    fn_number: Optional[str] = None
    receipt_datetime: Optional[str] = None
    url: Optional[str] = None
    receipt: Optional[Dict[str, Any]] = attr.ib(default=None, repr=False)
    payload: Dict[str, Any] = attr.ib(factory=dict, repr=False)
    confirmed: bool = False
    details: Optional[OrderDetails] = None

    status = "RECEIPT"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TBankCardNotification:
    """A card saved without a payment (``NotificationAddCard``, after ``AddCard``): ``COMPLETED``
    with the ``CardId`` and (every check but ``NO``) the ``RebillId`` to keep as the binding, or
    ``REJECTED``. Confirmed (``confirmed`` True), ``GetAddCardState`` reports the same customer,
    status, CardId and RebillId, and ``card_active`` says whether the card is still in the
    customer's ``GetCardList`` (a replay after ``RemoveCard`` is acknowledged, not handed over)."""

    terminal_key: str
    request_key: str
    customer_key: str
    status: str
    success: bool
    card_id: Optional[str] = None
    rebill_id: Optional[str] = None
    masked_pan: Optional[str] = None
    exp_date: Optional[str] = None
    error_code: Optional[str] = None
    payload: Dict[str, Any] = attr.ib(factory=dict, repr=False)
    confirmed: bool = False
    card_active: Optional[bool] = None


TBankNotification = Union[TBankPaymentNotification, TBankAccountNotification, TBankReceiptNotification,
                          TBankCardNotification]


def _check_shape(payload: Mapping[str, Any], allowed: Iterable[str], statuses: Iterable[str],
                 context: Dict[str, Any]) -> None:
    unknown = sorted(set(payload) - set(allowed))
    if unknown:
        raise CallbackVerificationError(f"notification with fields T-Bank does not send: {', '.join(unknown)} "
                                        "(pass extra_keys= to admit new ones)", **context)
    for key, value in payload.items():
        if key in ("Data", "Token"):
            continue
        if key == "Receipt":  # the receipt as registered: an object (outside the Token)
            if not isinstance(value, dict):
                raise CallbackVerificationError("notification Receipt is not an object", **context)
            continue
        if isinstance(value, (dict, list)):
            raise CallbackVerificationError(f"notification field {key} is not a scalar", **context)
        if key == "Success":
            if value not in (True, False, "true", "false"):
                raise CallbackVerificationError("notification Success is not a boolean", **context)
            continue
        if value is None or isinstance(value, (bool, float)):
            raise CallbackVerificationError(f"notification field {key} has a value of the wrong type", **context)
        text = str(value)
        if not text and key not in _OPTIONAL_TEXT:
            raise CallbackVerificationError(f"notification field {key} is empty", **context)
        if key in _DIGITS and not (text.isascii() and text.isdigit() and len(text) <= _DIGITS[key]):
            raise CallbackVerificationError(f"notification field {key} is not a number", **context)
        if key in _SHAPES and not _SHAPES[key].match(text):
            raise CallbackVerificationError(f"notification field {key} has the wrong shape", **context)
        if key == "Status" and text not in statuses:
            raise CallbackVerificationError(f"notification Status {text!r} is not a known status", **context)
    for key in ("TerminalKey", "Status", "Success", "Token"):
        if key not in payload:
            raise CallbackVerificationError(f"notification without {key}", **context)


def verify_tbank_notification_offline(payload: Mapping[str, Any], password: Union[str, Secret], *,
                                      terminal_key: Optional[str] = None,
                                      extra_keys: Sequence[str] = ()) -> TBankNotification:
    """Verify a T-Bank notification's ``Token`` and shape, **without** asking the gateway.

    :param payload: the JSON object received (already parsed).
    :param password: the terminal password.
    :param terminal_key: when given, the notification must be for this terminal.
    :param extra_keys: root fields to admit beyond the documented ones (when T-Bank adds one).

    Raises :class:`CallbackVerificationError` when the token is missing or wrong, the terminal
    differs, a root field is not one T-Bank documents for that notification, a value is empty
    or of the wrong shape (``PaymentId``, ``Amount``, ``CardId``, ``RebillId`` digits; a known
    ``Status``; a boolean ``Success``). The Token joins values without their keys, so digits
    can still move between neighbouring documented fields: confirm with
    :func:`confirm_tbank_notification` before acting on it (``confirmed`` is False here).
    """
    context: Dict[str, Any] = {"operation": "notification", "order_number": optional_text(payload.get("OrderId")),
                               "order_id": optional_text(payload.get("PaymentId"))}
    _check_token(payload, password, terminal_key, context)
    account = payload.get("NotificationType") == "LINKACCOUNT"
    if payload.get("Status") == "RECEIPT":
        return _receipt_notification(payload, extra_keys, context)
    if not account and "RequestKey" in payload and "OrderId" not in payload:
        return _card_notification(payload, extra_keys, context)
    if account:
        _check_shape(payload, ACCOUNT_NOTIFICATION_KEYS | set(extra_keys), ACCOUNT_STATUSES, context)
    else:
        _check_shape(payload, PAYMENT_NOTIFICATION_KEYS | set(extra_keys), PAYMENT_STATUSES, context)
        for key in ("PaymentId", "OrderId", "Amount"):
            if key not in payload:
                raise CallbackVerificationError(f"payment notification without {key}", **context)
    flat = {k: x for k, x in payload.items() if k != "Token"}
    success = payload.get("Success") in (True, "true")

    def text(key: str) -> Optional[str]:
        return optional_text(payload.get(key))

    terminal, status = text("TerminalKey") or "", text("Status") or ""
    if account:
        return TBankAccountNotification(
            terminal, text("RequestKey") or "", status, success, account_token=text("AccountToken"),
            bank_member_id=text("BankMemberId"), bank_member_name=text("BankMemberName"),
            error_code=text("ErrorCode"), payload=flat, claimed_status=status)
    return TBankPaymentNotification(
        terminal, text("OrderId"), text("PaymentId") or "", status, success,
        amount=int(str(payload["Amount"])), error_code=text("ErrorCode"),
        rebill_id=text("RebillId"), card_id=text("CardId"), masked_pan=text("Pan"), exp_date=text("ExpDate"),
        customer_key=text("CustomerKey"), payload=flat, claimed_status=status)


def _check_token(payload: Mapping[str, Any], password: Union[str, Secret], terminal_key: Optional[str],
                 context: Dict[str, Any]) -> None:
    """The notification's Token verifies with ``password`` (compared in constant time) and it is
    for ``terminal_key`` when one is given; :class:`CallbackVerificationError` otherwise."""
    given = payload.get("Token")
    if not isinstance(given, str) or not given:
        raise CallbackVerificationError("notification without a Token", **context)
    try:
        expected = make_token(payload, reveal(password) or "")
    except ValidationError:
        raise CallbackVerificationError("notification with a value that cannot be signed", **context) from None
    if not tokens_equal(given, expected):
        raise CallbackVerificationError("notification Token does not verify", **context)
    if terminal_key is not None and not hmac.compare_digest(str(payload.get("TerminalKey") or "").encode("utf-8"),
                                                            terminal_key.encode("utf-8")):
        raise CallbackVerificationError("notification for another terminal", **context)


def _card_notification(payload: Mapping[str, Any], extra_keys: Sequence[str],
                       context: Dict[str, Any]) -> TBankCardNotification:
    """An AddCard notification whose Token verified: its shape checked, its fields read."""
    _check_shape(payload, CARD_NOTIFICATION_KEYS | set(extra_keys), CARD_STATUSES, context)
    for key in ("RequestKey", "CustomerKey"):
        if key not in payload:
            raise CallbackVerificationError(f"card notification without {key}", **context)
    success = payload.get("Success") in (True, "true")
    if success != (payload.get("Status") == "COMPLETED"):
        raise CallbackVerificationError("card notification whose Success and Status disagree", **context)

    def text(key: str) -> Optional[str]:
        return optional_text(payload.get(key))

    return TBankCardNotification(
        text("TerminalKey") or "", text("RequestKey") or "", text("CustomerKey") or "", text("Status") or "", success,
        card_id=text("CardId"), rebill_id=text("RebillId"), masked_pan=text("Pan"), exp_date=text("ExpDate"),
        error_code=text("ErrorCode"), payload={k: x for k, x in payload.items() if k != "Token"})


def _confirm_card(notification: TBankCardNotification, gateway: Any) -> TBankCardNotification:
    """``GetAddCardState`` must report this notification's customer, status, CardId and RebillId;
    ``GetCardList`` tells whether the card is still there."""
    context: Dict[str, Any] = {"operation": "notification"}
    state = gateway.get_add_card_state(notification.request_key)
    for name, claimed in (("CustomerKey", notification.customer_key), ("Status", notification.status),
                          ("CardId", notification.card_id), ("RebillId", notification.rebill_id)):
        found = optional_text(state.get(name))
        if claimed is not None and claimed != found and (found is not None or name in ("Status", "RebillId")):
            raise CallbackVerificationError(f"the gateway does not confirm the claimed {name}", **context)
    active = None
    if notification.success:
        cards = gateway.get_card_list(notification.customer_key)
        active = any(str(c.get("CardId") or "") == notification.card_id and str(c.get("Status") or "A") == "A"
                     for c in cards)
    return attr.evolve(notification, confirmed=True, card_active=active)


def _receipt_notification(payload: Mapping[str, Any], extra_keys: Sequence[str],
                          context: Dict[str, Any]) -> TBankReceiptNotification:
    """A fiscal notification whose Token verified: its shape checked, its fields read."""
    _check_shape(payload, RECEIPT_NOTIFICATION_KEYS | set(extra_keys), {"RECEIPT"}, context)
    for key in ("PaymentId", "OrderId"):
        if key not in payload:
            raise CallbackVerificationError(f"fiscal notification without {key}", **context)

    def text(key: str) -> Optional[str]:
        return optional_text(payload.get(key))

    receipt = payload.get("Receipt")
    return TBankReceiptNotification(
        text("TerminalKey") or "", text("OrderId"), text("PaymentId") or "", payload.get("Success") in (True, "true"),
        amount=int(str(payload["Amount"])) if "Amount" in payload else None, error_code=text("ErrorCode"),
        error_message=text("ErrorMessage"), receipt_type=text("Type"), fiscal_number=text("FiscalNumber"),
        shift_number=text("ShiftNumber"), fiscal_document_number=text("FiscalDocumentNumber"),
        fiscal_document_attribute=text("FiscalDocumentAttribute"), fn_number=text("FnNumber"),
        receipt_datetime=text("ReceiptDatetime"), url=text("Url"),
        receipt=dict(receipt) if isinstance(receipt, dict) else None,
        payload={k: x for k, x in payload.items() if k != "Token"})


def confirm_tbank_notification(notification: TBankNotification, gateway: Any) -> TBankNotification:
    """Confirm a verified notification with the gateway (a :class:`~autopay_soap.gateways.tbank.TBankGateway`).

    A payment: ``GetState``; ``PaymentId``, ``OrderId`` and ``Amount`` must match exactly, else
    :class:`CallbackVerificationError`. An account binding: ``GetAddAccountQrState``; the
    ``AccountToken`` claimed must be the one the gateway reports. The result has
    ``confirmed`` set and the state **now** (a late notification with an older ``Status`` is
    genuine: its ``status`` becomes the current one, ``claimed_status`` keeps the old).
    """
    if isinstance(notification, TBankCardNotification):
        return _confirm_card(notification, gateway)
    if isinstance(notification, TBankAccountNotification):
        context: Dict[str, Any] = {"operation": "notification"}
        state = gateway.get_add_account_qr_state(notification.request_key)
        if notification.account_token is not None and state.account_token != notification.account_token:
            raise CallbackVerificationError("the gateway does not confirm the claimed AccountToken", **context)
        return attr.evolve(notification, confirmed=True, status=state.status, success=state.status == "ACTIVE",
                           account_token=state.account_token, request_key=state.request_key)
    context = {"operation": "notification", "order_id": notification.payment_id, "order_number": notification.order_id}
    if isinstance(notification, TBankReceiptNotification):  # a receipt's sum may be a part (a refund)
        details = confirm_order(gateway, order_id=notification.payment_id, order_number=notification.order_id,
                                 amount=None, context=context)
        if details.order_number is None or (notification.amount or 0) > details.amount.minor:
            raise CallbackVerificationError("the gateway does not confirm the receipt's order or amount", **context)
        return attr.evolve(notification, confirmed=True, details=details)
    details = confirm_order(gateway, order_id=notification.payment_id, order_number=notification.order_id,
                             amount=notification.amount, context=context)
    if details.order_number is None:
        raise CallbackVerificationError("the gateway does not confirm the claimed OrderId", **context)
    status = details.gateway_status or notification.status
    if status != notification.status:
        log.info("notification of payment %s said %s; the gateway says %s now", notification.payment_id,
                 notification.status, status)
    return attr.evolve(notification, confirmed=True, status=status, success=details.is_paid, details=details)
