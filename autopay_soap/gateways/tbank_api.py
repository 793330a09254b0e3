"""T-Bank Internet Acquiring API v2 on the wire (``/v2/<Method>``, JSON POST), method by method.

:class:`TBankApi` sends each method and reads its answer; :class:`~autopay_soap.gateways.tbank.TBankGateway`
adapts it to the :class:`~autopay_soap.gateways.base.Gateway` protocol the client speaks.

Every request carries a ``Token`` computed by :func:`make_token` from exactly the body that
is sent: the root-level scalars (nested objects such as ``DATA`` and ``Receipt`` are left
out), plus ``Password``, sorted by key, the values joined, SHA-256 in lower-case hex.
Booleans are ``true``/``false``, numbers their decimal text; ``None`` values are dropped
from both the body and the token input, so the two can never disagree.

The card-on-file rules of the operation initiator type (``DATA.OperationInitiatorType``,
the initiator compatibility table) are checked by :func:`check_initiator` before a request leaves, so this client
never provokes error 1125 or 1126.

Replies are normalised into :mod:`autopay_soap.models` and :mod:`autopay_soap.errors`:
``Success: false`` with an ``ErrorCode`` becomes the exception of the same meaning
(:func:`error_for_tbank_code`); a payment ``Status`` becomes an
:class:`~autopay_soap.models.OrderStatus` (:data:`STATUS_MAP`), the gateway's own word is
kept in ``OrderDetails.gateway_status``.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple, TypedDict, Union

import requests

from .. import validation as v
from ..codes.tbank import error_for_tbank_code
from ..errors import (
    BadResponse,
    PaymentDeclined,
    ValidationError,
)
from ..http import DEFAULT_MAX_REPLY_BYTES, Timeouts
from ..models import (
    SbpAccount,
    SbpQr,
)
from ..money import Money
from ..redact import excerpt
from ..secret import Secret
from ..signing import encrypt_pkcs1v15, make_token, token_value
from .base import guard_replies, normalise_error_code, optional_text
from .http_gateway import HttpGateway
from .tbank_initiator import TERMINAL_TYPES, InitiatorType, check_initiator

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["MOSCOW", "PROD_URL", "TEST_URL", "InitOptions", "TBankApi", "encrypt_card_data"]

CASHBOX_METHODS = frozenset({"SendClosingReceipt"})
"""Methods served under ``/cashbox/`` rather than ``/v2/``."""

log = logging.getLogger(__name__)

AMOUNT_LIMIT = 10 ** 10
"""T-Bank's ``Amount`` has at most 10 digits of kopecks."""
REDIRECT_DUE_MIN = 60
"""``RedirectDueDate`` at the earliest a minute ahead..."""
REDIRECT_DUE_MAX = 90 * 24 * 3600
"""...and at the latest 90 days ahead."""
MOSCOW = dt.timezone(dt.timedelta(hours=3), "MSK")
"""The time zone T-Bank's dates are written in (UTC+3, no daylight saving)."""

PROD_URL = "https://securepay.tinkoff.ru/v2/"
"""T-Bank's production API base."""
TEST_URL = "https://rest-api-test.tinkoff.ru/v2/"
"""T-Bank's test API base (behind an IP allow-list)."""
ORDER_ID_MAX = 36
CHECK_TYPES = ("NO", "HOLD", "3DS", "3DSHOLD")
"""T-Bank AddCard's ``CheckType`` values."""
DESCRIPTION_MAX = 140
CUSTOMER_KEY_MAX = 36
_FORM_METHODS = ("Submit3DSAuthorization", "Submit3DSAuthorizationV2")
_PAYMENT_METHODS = _FORM_METHODS + ("Charge", "ChargeQr", "FinishAuthorize")


# -- card data for PCI DSS merchants -------------------------------------------------------------


class InitOptions(TypedDict, total=False):
    """The keywords of :meth:`TBankApi.init` (all optional), written once.

    ``description`` (at most 140 characters), ``customer_key`` (the buyer: T-Bank's
    ``CustomerKey``), ``recurrent`` (a parent payment, ``Recurrent=Y``), ``two_stage`` (``PayType``
    T or O; None leaves the terminal's), ``initiator`` (``OperationInitiatorType``), ``qr`` (an SBP
    payment), ``success_url``, ``fail_url``, ``notification_url``, ``redirect_due`` (the payment
    form's end), ``language``, ``data`` (``DATA``) and ``receipt`` (``Receipt`` in T-Bank's form).
    """

    description: Optional[str]
    customer_key: Optional[str]
    recurrent: bool
    two_stage: Optional[bool]
    initiator: Union[str, InitiatorType, None]
    qr: bool
    success_url: Optional[str]
    fail_url: Optional[str]
    notification_url: Optional[str]
    redirect_due: Optional[dt.datetime]
    language: Optional[str]
    data: Optional[Mapping[str, str]]
    receipt: Optional[Mapping[str, Any]]


def encrypt_card_data(public_key: Any, *, pan: str, expiry: str, cvv: Optional[str] = None,
                      cardholder: Optional[str] = None) -> str:
    """``CardData`` for Check3dsVersion and FinishAuthorize (PCI DSS merchants only).

    ``PAN=...;ExpDate=MMYY;CardHolder=...;CVV=...`` encrypted with the bank's RSA public key
    (PKCS#1 v1.5), base64. ``public_key``: PEM/DER text or bytes of the key T-Bank issued.
    The card data never appears in logs, reprs or exceptions.
    """
    digits = pan.replace(" ", "") if isinstance(pan, str) else ""
    if not digits.isdigit() or not 13 <= len(digits) <= 19:
        raise ValidationError("pan: must be 13 to 19 digits", field="pan")
    if not isinstance(expiry, str) or len(expiry) != 4 or not expiry.isdigit() or not 1 <= int(expiry[:2]) <= 12:
        raise ValidationError("expiry: must be MMYY", field="expiry")
    v.check_cvc(cvv, "cvv")
    parts = [f"PAN={digits}", f"ExpDate={expiry}"]
    if cardholder:
        parts.append(f"CardHolder={cardholder}")
    if cvv:
        parts.append(f"CVV={cvv}")
    return encrypt_pkcs1v15(public_key, ";".join(parts).encode("utf-8"))


@guard_replies
class TBankApi(HttpGateway):
    """The T-Bank Internet Acquiring API v2 over HTTPS JSON.

    :param terminal_key: the terminal (``TerminalKey``); :param password: its password (never
        logged, shown or sent: only the Token derived from it travels).
    :param base_url: the API base ending in ``/v2/`` (:data:`PROD_URL` by default;
        :data:`TEST_URL` needs your IP on T-Bank's allow-list).
    :param terminal_type: ``ECOM`` (default) or ``AFT``; decides which initiator types are allowed.
    :param default_initiator: the initiator type of autopayments: ``R`` (``I`` on an AFT terminal)
        by default, or ``I``, ``2``.
    :param notification_url: sent as ``NotificationURL`` in every Init (the cabinet's URL otherwise).
    :param card_data_key: T-Bank's RSA public key, for ``CardData`` (PCI DSS merchants only).
    :param timeouts: connect/read/total timeouts; :param verify: ``True`` or a CA bundle path.
    :param max_reply_bytes: the largest reply read; a larger one is refused before parsing.
    """

    _repr_fields = ("base_url", "terminal_key")
    _check_fields = ("terminal_type", "default_initiator")
    _wire_label = "T-Bank"
    _status_hints = {403: ": the test host answers 403 unless your IP is on T-Bank's allow-list"}

    def __init__(
        self,
        terminal_key: str,
        password: Union[str, Secret],
        *,
        base_url: str = PROD_URL,
        terminal_type: str = "ECOM",
        default_initiator: Union[str, InitiatorType, None] = None,
        notification_url: Optional[str] = None,
        card_data_key: Any = None,
        timeouts: Optional[Timeouts] = None,
        verify: Union[bool, str] = True,
        session: Optional[requests.Session] = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        base = v.check_url(base_url, "base_url") or ""
        self.base_url = base if base.endswith("/") else base + "/"
        if not terminal_key or not password:
            raise ValidationError("terminal_key and password are required for T-Bank",
                                  field="terminal_key" if not terminal_key else "password")
        self.terminal_key = v.check_text(terminal_key, "terminal_key", 20)
        self._password = Secret(password)
        if terminal_type not in TERMINAL_TYPES:
            raise ValidationError(f"terminal_type: must be ECOM or AFT, got {terminal_type!r}", field="terminal_type")
        self.terminal_type = terminal_type
        if default_initiator is None:  # R is forbidden on AFT terminals, I on ECOM ones
            default_initiator = "I" if terminal_type == "AFT" else "R"
        self.default_initiator = check_initiator(default_initiator, recurrent=False, rebill=True,
                                                 terminal_type=terminal_type)
        self.notification_url = v.check_url(notification_url, "notification_url", required=False)
        self.card_data_key = card_data_key
        self._open_http(timeouts=timeouts, verify=verify, session=session, max_reply_bytes=max_reply_bytes)
        self._initiators: "collections.OrderedDict[str, Tuple[Optional[str], bool]]" = collections.OrderedDict()
        self._initiators_lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------

    def sign(self, payload: Mapping[str, Any]) -> Dict[str, Any]:
        """``payload`` with ``TerminalKey`` and ``Token`` added and ``None`` values dropped: the body sent."""
        body = {k: x for k, x in payload.items() if x is not None}
        body["TerminalKey"] = self.terminal_key
        body["Token"] = make_token(body, self._password.reveal())
        return body

    def call(self, method: str, payload: Mapping[str, Any], **context: Any) -> Any:
        """Sign and POST ``payload`` to ``/v2/<method>`` (``/cashbox/<method>`` for the cash-box
        methods); the reply (a dict, a list for GetCardList).

        Raises the mapped :mod:`~autopay_soap.errors` exception when ``Success`` is false.
        """
        context = {"operation": method, **{k: x for k, x in context.items() if x is not None}}
        body = self.sign(payload)
        url = self.base_url + method
        if method in CASHBOX_METHODS:  # beside /v2/, not under it
            url = (self.base_url[:-len("v2/")] if self.base_url.endswith("/v2/") else self.base_url) + "cashbox/" \
                + method
        started = time.perf_counter()
        if method in _FORM_METHODS:
            data: Any = {k: token_value(x) for k, x in body.items()}
            headers = None
        else:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers = {"Content-Type": "application/json"}
        data, response = self._exchange(method, url, data, context, shown=body, headers=headers)
        log.debug("%s order_number=%s order_id=%s duration_ms=%.1f", method, context.get("order_number"),
                  context.get("order_id"), (time.perf_counter() - started) * 1000)
        if isinstance(data, list) and method == "GetCardList":
            return data
        if not isinstance(data, dict):
            raise BadResponse(f"{method} answered with JSON that is not an object", http_status=200,
                              excerpt=excerpt(response.content), **context)
        code = normalise_error_code(data.get("ErrorCode"))
        success = data.get("Success")
        if success is False or str(success).lower() == "false" or code != 0:
            raise error_for_tbank_code(code if code else -1, optional_text(data.get("Message")),
                                       optional_text(data.get("Details")), **context)
        if method in _PAYMENT_METHODS and str(data.get("Status") or "").upper() == "REJECTED":
            raise PaymentDeclined(f"T-Bank rejected {method}", **context)
        return data

    def _remember(self, payment_id: str, initiator: Optional[str], recurrent: bool) -> None:
        with self._initiators_lock:
            self._initiators[payment_id] = (initiator, recurrent)
            while len(self._initiators) > 10000:
                self._initiators.popitem(last=False)

    def _known(self, payment_id: str) -> Optional[Tuple[Optional[str], bool]]:
        with self._initiators_lock:
            return self._initiators.get(payment_id)

    # -- the API, method by method ------------------------------------------------------------------

    def init(self, order_id: str, amount: Money, **options: Unpack[InitOptions]) -> Dict[str, Any]:
        """``Init``: create a payment (``options``: :class:`InitOptions`). ``recurrent`` makes it a
        parent payment (needs ``customer_key``); ``qr`` an SBP payment (``DATA.QR=true``, one-stage
        only); ``initiator`` goes to ``DATA.OperationInitiatorType`` after :func:`check_initiator`."""
        payload, oit = self._init_payload(order_id, amount, options)
        order_id = payload["OrderId"]
        reply = self.call("Init", payload, order_number=order_id)
        payment_id = str(reply.get("PaymentId") or "")
        if not payment_id:
            raise BadResponse("Init answered without a PaymentId", operation="Init", order_number=order_id)
        self._remember(payment_id, oit, bool(options.get("recurrent")))
        return dict(reply)

    def _init_payload(self, order_id: str, amount: Money,
                      options: Mapping[str, Any]) -> Tuple[Dict[str, Any], Optional[str]]:
        """Every check of :meth:`init`, nothing sent: the payload and the initiator type (an
        option :class:`InitOptions` does not name is a ``TypeError``, as in a call)."""
        unknown = sorted(set(options) - set(InitOptions.__annotations__))
        if unknown:
            raise TypeError(f"init() got unexpected keyword arguments: {', '.join(unknown)}")
        description, customer_key, initiator, language, data, receipt = (options.get(k) for k in (
            "description", "customer_key", "initiator", "language", "data", "receipt"))
        recurrent, qr, two_stage = bool(options.get("recurrent")), bool(options.get("qr")), options.get("two_stage")
        order_id = v.check_order_number(order_id, "order_number", max_len=ORDER_ID_MAX)
        v.check_money(amount)
        if amount.currency.alpha != "RUB":
            raise ValidationError(f"amount: T-Bank accepts RUB only, got {amount.currency.alpha}", field="amount")
        if amount.minor >= AMOUNT_LIMIT:
            raise ValidationError("amount: at most 10 digits of kopecks", field="amount")
        description = v.check_text(description, "description", DESCRIPTION_MAX) if description is not None else None
        customer_key = v.check_client_id(customer_key, "client_id") if customer_key is not None else None
        if customer_key is not None and len(customer_key) > CUSTOMER_KEY_MAX:
            raise ValidationError(f"client_id: at most {CUSTOMER_KEY_MAX} characters on T-Bank", field="client_id")
        if recurrent and not qr and not customer_key:
            raise ValidationError("client_id: a parent card payment (Recurrent=Y) needs the CustomerKey",
                                  field="client_id")
        if qr and two_stage:
            raise ValidationError("two_stage: SBP payments are one-stage only", field="two_stage")
        if qr and amount.minor < 1000:
            raise ValidationError("amount: SBP payments start at 10.00 RUB", field="amount")
        extra = dict(data or {})
        oit: Optional[str] = None
        if initiator is not None:
            if qr:
                raise ValidationError("initiator: SBP payments carry no card initiator type", field="initiator")
            oit = check_initiator(initiator, recurrent=recurrent, terminal_type=self.terminal_type)
            extra["OperationInitiatorType"] = oit
        if qr:
            extra["QR"] = "true"
        _check_data(extra)
        payload: Dict[str, Any] = {
            "Amount": amount.minor, "OrderId": order_id, "Description": description,
            "CustomerKey": customer_key, "Recurrent": "Y" if recurrent else None,
            "PayType": None if two_stage is None else ("T" if two_stage else "O"),
            "Language": v.check_language(language),
            "NotificationURL": v.check_url(options.get("notification_url"), "notification_url", required=False)
            or self.notification_url,
            "SuccessURL": v.check_url(options.get("success_url"), "return_url", required=False),
            "FailURL": v.check_url(options.get("fail_url"), "fail_url", required=False),
            "RedirectDueDate": _due_date(options["redirect_due"]) if options.get("redirect_due") else None,
            "DATA": extra or None, "Receipt": dict(receipt) if receipt else None,
        }
        return payload, oit

    def check_3ds_version(self, payment_id: str, card_data: str) -> Dict[str, Any]:
        """``Check3dsVersion`` (PCI DSS): the 3-D Secure version expected for the card."""
        return dict(self.call("Check3dsVersion", {"PaymentId": _pid(payment_id), "CardData": card_data},
                              order_id=payment_id))

    def finish_authorize(self, payment_id: str, card_data: str, *, ip: Optional[str] = None,
                         send_email: Optional[bool] = None, info_email: Optional[str] = None,
                         data: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        """``FinishAuthorize`` (PCI DSS): pay with encrypted card data (see :func:`encrypt_card_data`).

        The reply's ``Status`` is ``CONFIRMED``/``AUTHORIZED``, or ``3DS_CHECKING`` with ``ACSUrl``
        (``MD``, ``PaReq`` for 3-D Secure 1; ``TdsServerTransId``, ``AcsTransId`` for 2).
        """
        if send_email and not info_email:
            raise ValidationError("info_email: required with send_email", field="info_email")
        payload = {"PaymentId": _pid(payment_id), "CardData": card_data, "IP": v.check_ip(ip),
                   "SendEmail": send_email, "InfoEmail": info_email, "DATA": dict(data) if data else None}
        return dict(self.call("FinishAuthorize", payload, order_id=payment_id))

    def submit_3ds_authorization(self, md: str, pa_res: str, payment_id: Optional[str] = None) -> Dict[str, Any]:
        """``Submit3DSAuthorization`` (3-D Secure 1, form-encoded): the ``MD`` and ``PaRes`` the ACS posted."""
        payload = {"MD": v.check_text(md, "md", 1024), "PaRes": v.check_text(pa_res, "pa_res", 20000),
                   "PaymentId": payment_id}
        return dict(self.call("Submit3DSAuthorization", payload, order_id=payment_id))

    def submit_3ds_authorization_v2(self, payment_id: str) -> Dict[str, Any]:
        """``Submit3DSAuthorizationV2`` (3-D Secure 2, form-encoded): after the CRes came back."""
        return dict(self.call("Submit3DSAuthorizationV2", {"PaymentId": _pid(payment_id)}, order_id=payment_id))

    def charge(self, payment_id: str, rebill_id: str, *, ip: Optional[str] = None,
               send_email: Optional[bool] = None, info_email: Optional[str] = None) -> Dict[str, Any]:
        """``Charge``: pay a fresh Init's payment with a saved card's ``RebillId`` (no customer).

        When this gateway sent the Init, its initiator type is checked against a Charge
        first (types 0 and 1 cannot be charged).
        """
        payment_id = _pid(payment_id)
        rebill_id = v.check_binding_id(rebill_id, "binding_id")
        known = self._known(payment_id)
        if known is not None:
            initiator, recurrent = known
            if recurrent:
                raise ValidationError("binding_id: this payment was created with Recurrent=Y (a parent payment); "
                                      "a Charge needs a fresh Init without Recurrent (the gateway would answer "
                                      "1126)", field="initiator")
            if initiator is not None:
                check_initiator(initiator, recurrent=False, rebill=True, terminal_type=self.terminal_type)
        payload = {"PaymentId": payment_id, "RebillId": rebill_id, "IP": v.check_ip(ip), "SendEmail": send_email,
                   "InfoEmail": info_email}
        return dict(self.call("Charge", payload, order_id=payment_id))

    def confirm(self, payment_id: str, amount: Optional[Money] = None, *,
                receipt: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """``Confirm``: capture an ``AUTHORIZED`` payment, all of it or ``amount`` (``receipt``: what is captured)."""
        payload = {"PaymentId": _pid(payment_id), "Amount": v.check_money(amount).minor if amount else None,
                   "Receipt": dict(receipt) if receipt else None}
        return dict(self.call("Confirm", payload, order_id=payment_id))

    def cancel(self, payment_id: str, amount: Optional[Money] = None, *,
               external_request_id: Optional[str] = None,
               receipt: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """``Cancel``: NEW → CANCELED, AUTHORIZED → REVERSED, CONFIRMED → REFUNDED (or partial).

        ``external_request_id`` is the refund's idempotency key: a repeated id answers the
        current state instead of refunding again (not for SBP).
        """
        payload = {"PaymentId": _pid(payment_id), "Amount": v.check_money(amount).minor if amount else None,
                   "ExternalRequestId": v.check_text(external_request_id, "refund_id", 256)
                   if external_request_id is not None else None, "Receipt": dict(receipt) if receipt else None}
        return dict(self.call("Cancel", payload, order_id=payment_id))

    def send_closing_receipt(self, payment_id: str, receipt: Mapping[str, Any]) -> Dict[str, Any]:
        """``/cashbox/SendClosingReceipt``: the full-settlement receipt of a ``CONFIRMED`` payment
        whose receipt had a prepayment line (``full_prepayment``, ``prepayment``, ``advance``)."""
        return dict(self.call("SendClosingReceipt", {"PaymentId": _pid(payment_id), "Receipt": dict(receipt)},
                              order_id=payment_id))

    def get_state(self, payment_id: str) -> Dict[str, Any]:
        """``GetState``: a payment's status and amount."""
        return dict(self.call("GetState", {"PaymentId": _pid(payment_id)}, order_id=payment_id))

    def check_order(self, order_id: str) -> Dict[str, Any]:
        """``CheckOrder``: every payment made under the merchant's ``OrderId``."""
        order_id = v.check_order_number(order_id, "order_number", max_len=ORDER_ID_MAX)
        return dict(self.call("CheckOrder", {"OrderId": order_id}, order_number=order_id))

    def add_customer(self, customer_key: str, *, email: Optional[str] = None,
                     phone: Optional[str] = None, ip: Optional[str] = None) -> Dict[str, Any]:
        """``AddCustomer``: register a customer (Init with ``CustomerKey`` does it by itself)."""
        payload = {"CustomerKey": _customer(customer_key), "Email": email, "Phone": phone, "IP": v.check_ip(ip)}
        return dict(self.call("AddCustomer", payload))

    def get_customer(self, customer_key: str) -> Dict[str, Any]:
        """``GetCustomer``: a customer's e-mail and phone (error 7 when unknown)."""
        return dict(self.call("GetCustomer", {"CustomerKey": _customer(customer_key)}))

    def get_card_list(self, customer_key: str, *, saved_card: Optional[bool] = None) -> List[Dict[str, Any]]:
        """``GetCardList``: a customer's cards, each with ``CardId``, ``Pan``, ``Status``, ``RebillId``."""
        reply = self.call("GetCardList", {"CustomerKey": _customer(customer_key), "SavedCard": saved_card})
        return [dict(card) for card in (reply if isinstance(reply, list) else [])]

    def add_card(self, customer_key: str, *, check_type: str = "NO", ip: Optional[str] = None) -> Dict[str, Any]:
        """``AddCard``: start saving a card for a customer (who must exist: :meth:`add_customer`);
        the reply's ``PaymentURL`` is the payer's page, its ``RequestKey`` what
        :meth:`get_add_card_state` asks about. ``check_type``: ``NO``, ``HOLD``, ``3DS``, ``3DSHOLD``."""
        if check_type not in CHECK_TYPES:
            raise ValidationError(f"check: {check_type!r} is not a T-Bank CheckType; use one of "
                                  f"{', '.join(CHECK_TYPES)}", field="check")
        payload = {"CustomerKey": _customer(customer_key), "CheckType": check_type, "IP": v.check_ip(ip)}
        return dict(self.call("AddCard", payload))

    def get_add_card_state(self, request_key: str) -> Dict[str, Any]:
        """``GetAddCardState``: ``Status`` (``NEW`` ... ``COMPLETED``/``REJECTED``), ``CardId``, ``RebillId``."""
        return dict(self.call("GetAddCardState", {"RequestKey": v.check_text(str(request_key), "reference", 64)}))

    def remove_card(self, customer_key: str, card_id: str) -> Dict[str, Any]:
        """``RemoveCard``: the card can no longer be charged."""
        payload = {"CustomerKey": _customer(customer_key), "CardId": v.check_text(str(card_id), "card_id", 40)}
        return dict(self.call("RemoveCard", payload))

    def add_account_qr(self, description: str, *, data_type: str = "PAYLOAD",
                       data: Optional[Mapping[str, str]] = None,
                       redirect_due: Optional[dt.datetime] = None) -> SbpQr:
        """``AddAccountQr``: a QR that binds the payer's bank account (SBP) without a payment."""
        payload = {"Description": v.check_text(description, "description", DESCRIPTION_MAX),
                   "DataType": _data_type(data_type), "Data": dict(data) if data else None,
                   "RedirectDueDate": _due_date(redirect_due) if redirect_due else None}
        reply = self.call("AddAccountQr", payload)
        return SbpQr(str(reply.get("Data") or ""), optional_text(reply.get("RequestKey")))

    def get_add_account_qr_state(self, request_key: str) -> SbpAccount:
        """``GetAddAccountQrState``: the binding's status and, once ``ACTIVE``, its ``AccountToken``."""
        reply = self.call("GetAddAccountQrState", {"RequestKey": v.check_text(str(request_key), "request_key", 64)})
        return _account(reply, request_key)

    def get_account_qr_list(self) -> Tuple[SbpAccount, ...]:
        """``GetAccountQrList``: every account binding of the terminal."""
        reply = self.call("GetAccountQrList", {})
        return tuple(_account(item, str(item.get("RequestKey") or "")) for item in reply.get("AccountTokens") or [])

    def get_qr(self, payment_id: str, *, data_type: str = "PAYLOAD") -> SbpQr:
        """``GetQr``: the SBP QR of an Init; ``request_key`` is set for a payment that binds the account."""
        reply = self.call("GetQr", {"PaymentId": _pid(payment_id), "DataType": _data_type(data_type)},
                          order_id=payment_id)
        return SbpQr(str(reply.get("Data") or ""), optional_text(reply.get("RequestKey")),
                     optional_text(reply.get("PaymentId")))

    def charge_qr(self, payment_id: str, account_token: str, *, ip: Optional[str] = None,
                  send_email: Optional[bool] = None, info_email: Optional[str] = None) -> Dict[str, Any]:
        """``ChargeQr``: an SBP autopayment from a bound account (one-stage; a second call answers 3037)."""
        payload = {"PaymentId": _pid(payment_id), "AccountToken": v.check_text(account_token, "account_token", 64),
                   "IP": v.check_ip(ip), "SendEmail": send_email, "InfoEmail": info_email}
        return dict(self.call("ChargeQr", payload, order_id=payment_id))


def _pid(payment_id: Any) -> str:
    text = v.check_text(str(payment_id) if isinstance(payment_id, int) else payment_id, "order_id", 20)
    return text


def _customer(value: Any) -> str:
    text = v.check_text(value, "client_id", CUSTOMER_KEY_MAX)
    return text


def _data_type(value: str) -> str:
    if value not in ("PAYLOAD", "IMAGE"):
        raise ValidationError("data_type: PAYLOAD or IMAGE", field="data_type")
    return value


_SYSTEM_DATA_KEYS = ("OperationInitiatorType", "QR", "notificationEnableSource")


def _check_data(data: Mapping[str, Any]) -> None:
    if len(data) > 20:
        raise ValidationError("data: at most 20 pairs", field="data")
    for key, value in data.items():
        if key in _SYSTEM_DATA_KEYS:
            continue
        if not isinstance(key, str) or not 0 < len(key) <= 20:
            raise ValidationError("data: keys are 1 to 20 characters", field="data")
        if not isinstance(value, str) or len(value) > 100:
            raise ValidationError(f"data: the value of {key!r} must be a string of at most 100 characters",
                                  field="data")


def _due_date(when: dt.datetime) -> str:
    if when.tzinfo is None:
        raise ValidationError("redirect_due: must be timezone-aware", field="redirect_due")
    return when.replace(microsecond=0).isoformat()


def _money(value: Any) -> Optional[Money]:
    if value is None or value == "":
        return None
    return Money.from_minor(int(value), "RUB")


def _account(reply: Mapping[str, Any], request_key: str) -> SbpAccount:
    return SbpAccount(str(reply.get("RequestKey") or request_key), str(reply.get("Status") or ""),
                      optional_text(reply.get("AccountToken")), optional_text(reply.get("BankMemberId")),
                      optional_text(reply.get("BankMemberName")))
