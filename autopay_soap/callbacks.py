"""Gateway callbacks (notifications): verification, confirmation and small WSGI receivers.

A notification is a **claim**, not a fact. Its checksum or Token proves only that someone
holding the key built it; a forger who has one genuine notification can still shift
characters between fields (the T-Bank Token joins values without keys, RBS joins
``name;value;`` without escaping), and a genuine one may be late or out of order. So:

1. *Offline verification* (:func:`verify_rbs_callback_offline`,
   :func:`verify_tbank_notification_offline`) checks the signature in constant time and the
   shape of every field: no unknown root key (T-Bank; ``extra_keys=`` admits new ones), no
   empty value, digits where digits belong, a known ``Status``, a boolean ``Success``; for RBS
   no parameter name or value that could shift the ``name;value;`` framing, no repeated
   parameter.
2. *Confirmation* (:func:`confirm_rbs_callback`, :func:`confirm_tbank_notification`) looks
   the order up at the gateway (``getOrderStatusExtended``, ``GetState``,
   ``GetAddAccountQrState``): the order id, order number and amount claimed must match
   exactly, or the notification is refused. The result carries the state the gateway reports
   **now** (``details``), never the claimed one; ``claimed_status`` keeps what was said.
3. The receivers (:class:`RbsCallbackApp`, :class:`TBankCallbackApp`) do both when given a
   gateway, the normal case. Without one they must be told ``offline=True``, and hand the
   handler unconfirmed notifications (``confirmed`` is False).

RBS: HMAC-SHA256 keyed with the merchant's secret, upper-case hex, or an RSA
PKCS#1 v1.5 signature of the same string (SHA-512 in the gateway's examples, SHA-256 too).
T-Bank: the Token of every root scalar received, like a request's. The receiver
answers HTTP 200 with exactly ``OK``; anything else makes T-Bank send again.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union
from urllib.parse import parse_qs

import attr

from . import json_input
from .errors import AutopayError, CallbackVerificationError, OrderNotFound, ValidationError
from .gateways.base import optional_text
from .models import OrderDetails
from .secret import Secret, reveal
from .signing import (
    PublicKeyInput,
    load_rsa_public_key,
    make_token,
    rbs_hmac_checksum,
    rbs_signed_string,
    tokens_equal,
    verify_rbs_hmac,
    verify_rbs_rsa,
)

__all__ = [
    "MAX_NOTIFICATION_BYTES",
    "RbsCallbackApp",
    "RbsNotification",
    "TBankAccountNotification",
    "TBankCallbackApp",
    "TBankPaymentNotification",
    "TBankReceiptNotification",
    "confirm_rbs_callback",
    "confirm_tbank_notification",
    "load_rsa_public_key",
    "rbs_hmac_checksum",
    "rbs_signed_string",
    "verify_rbs_callback_offline",
    "verify_rbs_hmac",
    "verify_tbank_notification_offline",
]

log = logging.getLogger(__name__)
MAX_NOTIFICATION_BYTES = 64 * 1024
"""The largest notification body a receiver reads (a real one is well under 2 KiB)."""
_RBS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")


# -- notifications -----------------------------------------------------------------------------


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RbsNotification:
    """An RBS callback: verified offline, and confirmed when ``confirmed`` is True.

    Confirmed, ``details`` is the order as the gateway describes it now, and ``success`` means
    the order is paid (held or deposited) **now**, as on T-Bank: a replayed "deposited" callback
    of an order refunded since has ``success`` False. Unconfirmed, ``operation``/``success``
    are only what the callback claimed.
    """

    order_id: str
    order_number: Optional[str]
    operation: str
    success: bool
    amount: Optional[int] = None
    binding_id: Optional[str] = None
    client_id: Optional[str] = None
    params: Dict[str, str] = attr.ib(factory=dict, repr=False)
    confirmed: bool = False
    details: Optional[OrderDetails] = None

    @property
    def is_payment(self) -> bool:
        """True for a paid order: by the gateway's current state when confirmed, else by the claim."""
        if self.details is not None:
            return self.details.is_paid
        return self.success and self.operation in ("approved", "deposited")


def _flatten_rbs(params: Mapping[str, Any], context: Dict[str, Any]) -> Dict[str, str]:
    flat: Dict[str, str] = {}
    for key, value in params.items():
        name = str(key)
        if isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise CallbackVerificationError(f"callback parameter {name!r} given {len(value)} times", **context)
            value = value[0]
        text = str(value)
        if not _RBS_NAME.match(name):
            raise CallbackVerificationError("callback parameter name with characters outside A-Z a-z 0-9 _ . -",
                                            **context)
        if ";" in text or any(ord(ch) < 32 for ch in text):
            raise CallbackVerificationError(f"callback parameter {name!r} holds ';' or a control character, "
                                            "which would shift the signed name;value; framing", **context)
        flat[name] = text
    return flat


def verify_rbs_callback_offline(params: Mapping[str, Any], *, secret: Union[str, Secret, None] = None,
                                public_key: Optional[PublicKeyInput] = None) -> RbsNotification:
    """Verify an RBS callback's checksum and shape, **without** asking the gateway (``confirmed`` False).

    Give exactly one of ``secret`` (HMAC-SHA256) and ``public_key`` (RSA: a certificate or key,
    PEM or DER). A missing, forged or tampered checksum, a parameter that could shift the
    ``name;value;`` framing (a ``;`` or a control character in a value, an odd name), a
    repeated parameter, a callback without ``mdOrder`` or ``operation``, or an ``amount`` or
    ``status`` that is not a number raise :class:`~autopay_soap.errors.CallbackVerificationError`.
    What the checksum proves, and what it does not, is in the security chapter of the docs:
    confirm with :func:`confirm_rbs_callback` before acting on it.
    """
    if (secret is None) == (public_key is None):
        raise ValidationError("give exactly one of secret and public_key", field="secret")
    context: Dict[str, Any] = {"operation": "callback"}
    flat = _flatten_rbs(params, context)
    context.update(order_id=flat.get("mdOrder"), order_number=flat.get("orderNumber"))
    if not flat.get("checksum"):
        raise CallbackVerificationError("callback without a checksum", **context)
    if secret is not None:
        ok = verify_rbs_hmac(flat, reveal(secret) or "")
    else:
        ok = verify_rbs_rsa(flat, public_key)  # type: ignore[arg-type]
    if not ok:
        raise CallbackVerificationError("callback checksum does not verify", **context)
    if not flat.get("mdOrder") or not flat.get("operation"):
        raise CallbackVerificationError("callback without mdOrder or operation", **context)
    for name in ("amount", "status"):
        if name in flat and not (flat[name].isascii() and flat[name].isdigit()):
            raise CallbackVerificationError(f"callback {name} is not a number", **context)
    amount = flat.get("amount")
    return RbsNotification(
        order_id=flat["mdOrder"], order_number=flat.get("orderNumber"), operation=flat["operation"],
        success=flat.get("status") == "1", amount=int(amount) if amount else None,
        binding_id=flat.get("bindingId"), client_id=flat.get("clientId"), params=flat,
    )


def _confirm_order(gateway: Any, *, order_id: str, order_number: Optional[str], amount: Optional[int],
                   context: Dict[str, Any]) -> OrderDetails:
    """The order as the gateway describes it now; refused when the claimed id, number or amount differs."""
    try:
        details: OrderDetails = gateway.order_status(order_id=order_id)
    except OrderNotFound:
        raise CallbackVerificationError("the gateway knows no such order", **context) from None
    if details.order_id is not None and str(details.order_id) != order_id:
        raise CallbackVerificationError("the gateway does not confirm the claimed order id", **context)
    if order_number is not None and details.order_number is not None and details.order_number != order_number:
        raise CallbackVerificationError("the gateway does not confirm the claimed order number", **context)
    if amount is not None and details.amount.minor != amount:
        raise CallbackVerificationError("the gateway does not confirm the claimed amount", **context)
    return details


def confirm_rbs_callback(notification: RbsNotification, gateway: Any) -> RbsNotification:
    """Confirm a verified callback with ``getOrderStatusExtended`` (any RBS gateway of this library).

    ``mdOrder``, ``orderNumber`` and ``amount`` (where the callback has them) must match the
    gateway's answer exactly, else :class:`CallbackVerificationError`. Returns the
    notification with ``confirmed`` set and ``details`` the order's state now. A gateway that
    cannot be asked raises its own error (the receiver answers 500, so the callback comes again).
    """
    context = {"operation": "callback", "order_id": notification.order_id, "order_number": notification.order_number}
    details = _confirm_order(gateway, order_id=notification.order_id, order_number=notification.order_number,
                             amount=notification.amount, context=context)
    return attr.evolve(notification, confirmed=True, success=details.is_paid, details=details)


def _answer(start_response: Callable[..., Any], status: str, body: bytes) -> List[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _read_body(environ: Dict[str, Any]) -> Optional[bytes]:
    """The request body, or None when its length is missing, wrong or over the limit."""
    text = str(environ.get("CONTENT_LENGTH") or "0").strip()
    if not text.isdigit() or int(text) > MAX_NOTIFICATION_BYTES:
        return None
    length = int(text)
    return environ["wsgi.input"].read(length) if length else b""


def _receiver_mode(gateway: Any, offline: bool) -> None:
    if gateway is None and not offline:
        raise ValidationError("gateway: a receiver confirms each notification with the gateway; pass gateway=... "
                              "(or offline=True to hand the handler unconfirmed claims)", field="gateway")
    if gateway is not None and offline:
        raise ValidationError("offline: give a gateway or offline=True, not both", field="offline")


class RbsCallbackApp:
    """A WSGI app that receives RBS callbacks (GET query or POST form), verifies and confirms each,
    and hands each :class:`RbsNotification` to ``handler``.

    :param gateway: an RBS gateway (SOAP or REST) to confirm each callback with; required
        unless ``offline=True``.

    Answers 200 ``OK`` when the handler returned; 403 when verification or confirmation failed
    (logged); 500 when the gateway could not be asked or the handler raised, so that the
    gateway tries again.
    """

    def __init__(self, handler: Callable[[RbsNotification], Any], *, secret: Union[str, Secret, None] = None,
                 public_key: Optional[PublicKeyInput] = None, gateway: Any = None, offline: bool = False) -> None:
        if (secret is None) == (public_key is None):
            raise ValidationError("give exactly one of secret and public_key", field="secret")
        _receiver_mode(gateway, offline)
        self.handler = handler
        self.gateway = gateway
        self._secret = Secret(secret) if secret is not None else None
        self._key = load_rsa_public_key(public_key) if public_key is not None else None

    def __repr__(self) -> str:
        return f"RbsCallbackApp(handler={self.handler!r}, confirmed={self.gateway is not None})"

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Handle one WSGI request."""
        query = environ.get("QUERY_STRING", "")
        if environ.get("REQUEST_METHOD") == "POST":
            raw = _read_body(environ)
            if raw is None:
                return _answer(start_response, "413 Payload Too Large", b"too large")
            query = raw.decode("utf-8", "replace")
        if len(query) > MAX_NOTIFICATION_BYTES:
            return _answer(start_response, "413 Payload Too Large", b"too large")
        params = parse_qs(query, keep_blank_values=True)
        try:
            notification = verify_rbs_callback_offline(params, secret=self._secret, public_key=self._key)
            if self.gateway is not None:
                notification = confirm_rbs_callback(notification, self.gateway)
        except CallbackVerificationError as exc:
            log.warning("refused a callback: %s", exc)
            return _answer(start_response, "403 Forbidden", b"forbidden")
        except AutopayError as exc:
            log.warning("could not confirm a callback (it will come again): %s", exc)
            return _answer(start_response, "500 Internal Server Error", b"error")
        try:
            self.handler(notification)
        except Exception:  # the gateway must retry: answer 500
            log.exception("callback handler failed for order %s", notification.order_id)
            return _answer(start_response, "500 Internal Server Error", b"error")
        return _answer(start_response, "200 OK", b"OK")


# -- T-Bank ----------------------------------------------------------------------------------------

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


TBankNotification = Union[TBankPaymentNotification, TBankAccountNotification, TBankReceiptNotification]


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
    account = payload.get("NotificationType") == "LINKACCOUNT"
    if payload.get("Status") == "RECEIPT":
        return _receipt_notification(payload, extra_keys, context)
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
    if isinstance(notification, TBankAccountNotification):
        context: Dict[str, Any] = {"operation": "notification"}
        state = gateway.get_add_account_qr_state(notification.request_key)
        if notification.account_token is not None and state.account_token != notification.account_token:
            raise CallbackVerificationError("the gateway does not confirm the claimed AccountToken", **context)
        return attr.evolve(notification, confirmed=True, status=state.status, success=state.status == "ACTIVE",
                           account_token=state.account_token, request_key=state.request_key)
    context = {"operation": "notification", "order_id": notification.payment_id, "order_number": notification.order_id}
    if isinstance(notification, TBankReceiptNotification):  # a receipt's sum may be a part (a refund)
        details = _confirm_order(gateway, order_id=notification.payment_id, order_number=notification.order_id,
                                 amount=None, context=context)
        if details.order_number is None or (notification.amount or 0) > details.amount.minor:
            raise CallbackVerificationError("the gateway does not confirm the receipt's order or amount", **context)
        return attr.evolve(notification, confirmed=True, details=details)
    details = _confirm_order(gateway, order_id=notification.payment_id, order_number=notification.order_id,
                             amount=notification.amount, context=context)
    if details.order_number is None:
        raise CallbackVerificationError("the gateway does not confirm the claimed OrderId", **context)
    status = details.gateway_status or notification.status
    if status != notification.status:
        log.info("notification of payment %s said %s; the gateway says %s now", notification.payment_id,
                 notification.status, status)
    return attr.evolve(notification, confirmed=True, status=status, success=details.is_paid, details=details)


class TBankCallbackApp:
    """A WSGI app that receives T-Bank notifications (JSON POST), verifies and confirms each, and
    hands it to ``handler``.

    :param gateway: the :class:`~autopay_soap.gateways.tbank.TBankGateway` of the terminal, to
        confirm each notification with; required unless ``offline=True``.
    :param extra_keys: root fields to admit beyond the documented ones.

    Answers HTTP 200 with exactly ``OK`` when the handler returned (what T-Bank requires);
    403 when the token, the shape or the confirmation fails (logged); 500 when the gateway
    could not be asked or the handler raised, so that T-Bank sends the notification again.
    """

    def __init__(self, handler: Callable[[TBankNotification], Any], *, password: Union[str, Secret],
                 terminal_key: Optional[str] = None, gateway: Any = None, offline: bool = False,
                 extra_keys: Sequence[str] = ()) -> None:
        if not password:
            raise ValidationError("password: the terminal password is required", field="password")
        _receiver_mode(gateway, offline)
        self.handler = handler
        self._password = Secret(password)
        self.terminal_key = terminal_key
        self.gateway = gateway
        self.extra_keys = tuple(extra_keys)

    def __repr__(self) -> str:
        return (f"TBankCallbackApp(handler={self.handler!r}, terminal_key={self.terminal_key!r}, "
                f"confirmed={self.gateway is not None})")

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Handle one WSGI request."""
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, "405 Method Not Allowed", b"POST only")
        raw = _read_body(environ)
        if raw is None:
            return _answer(start_response, "413 Payload Too Large", b"too large")
        try:
            payload = json_input.loads(raw.decode("utf-8"))
            if not isinstance(payload, dict):
                raise ValueError("not an object")
            notification = verify_tbank_notification_offline(payload, self._password, terminal_key=self.terminal_key,
                                                              extra_keys=self.extra_keys)
            if self.gateway is not None:
                notification = confirm_tbank_notification(notification, self.gateway)
        except (ValueError, CallbackVerificationError) as exc:  # not JSON, not an object, not genuine
            log.warning("refused a T-Bank notification: %s", exc if isinstance(exc, AutopayError)
                        else type(exc).__name__)
            return _answer(start_response, "403 Forbidden", b"forbidden")
        except AutopayError as exc:
            log.warning("could not confirm a T-Bank notification (it will come again): %s", exc)
            return _answer(start_response, "500 Internal Server Error", b"error")
        try:
            self.handler(notification)
        except Exception:  # T-Bank must send it again: anything but OK
            log.exception("notification handler failed")
            return _answer(start_response, "500 Internal Server Error", b"error")
        return _answer(start_response, "200 OK", b"OK")
