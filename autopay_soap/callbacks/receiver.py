"""The receiving core every adapter shares: verify → confirm → handler, and the answer to give.

A receiver takes what arrived — the method, the raw query string, the raw body — and returns an
:class:`Answer`; the WSGI apps (:mod:`.wsgi`) and the Django, Flask and ASGI adapters only read
the request their framework hands them and write the answer back. Each reads the **raw** query
string or body, never the framework's parsed dictionary: a framework that keeps only the first
(Flask) or the last (Django) of a repeated parameter would hide the repetition the verification
refuses.

A genuine notification that claims a payment the gateway has since undone — a ``deposited``
callback or a ``CONFIRMED`` notification replayed after the order was refunded or reversed in full —
is acknowledged (``OK``, so the gateway stops sending it) and **not** handed to the handler: it
would tell the handler "paid" about an order that is not. The refund's own notification tells the
handler what happened. A late notification whose order moved on but stays paid (``AUTHORIZED``
delivered after the capture) is handed over with the state of now.

Answers: 200 ``OK`` once the handler returned (exactly ``OK``: what T-Bank requires); 403 when
the signature, the shape or the gateway's confirmation refuses the notification (logged); 413
for a body over :data:`~autopay_soap.callbacks.MAX_NOTIFICATION_BYTES`; 405 for another
method; 500 when the gateway could not be asked or the handler raised, so that the gateway sends
the notification again.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Sequence, Union
from urllib.parse import parse_qs

import attr

from .. import json_input
from ..errors import AutopayError, CallbackVerificationError, ValidationError
from ..models import OrderDetails, OrderStatus
from ..secret import Secret
from ..signing import PublicKeyInput, load_rsa_public_key
from .common import MAX_NOTIFICATION_BYTES, receiver_mode
from .rbs import RbsNotification, confirm_rbs_callback, verify_rbs_callback_offline
from .tbank import TBankNotification, confirm_tbank_notification, verify_tbank_notification_offline

__all__ = ["Answer", "RbsReceiver", "TBankReceiver"]

log = logging.getLogger("autopay_soap.callbacks")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Answer:
    """What to answer the gateway: an HTTP status and a short plain-text body."""

    status: int
    body: bytes

    @property
    def status_line(self) -> str:
        """``"200 OK"``: the status as WSGI writes it."""
        from http import HTTPStatus

        return f"{self.status} {HTTPStatus(self.status).phrase}"


OK = Answer(200, b"OK")
FORBIDDEN = Answer(403, b"forbidden")
TOO_LARGE = Answer(413, b"too large")
NOT_ALLOWED = Answer(405, b"method not allowed")
RETRY = Answer(500, b"error")


_UNDONE = (OrderStatus.REFUNDED, OrderStatus.REVERSED)
_RBS_PAYMENT_OPERATIONS = ("approved", "deposited")
_TBANK_PAYMENT_STATUSES = ("AUTHORIZED", "CONFIRMED")


def superseded(claimed_payment: bool, details: Optional[OrderDetails]) -> bool:
    """True for a confirmed notification that claims a payment the gateway has since refunded or
    reversed in full (a replay): acknowledged, never handed to the handler."""
    return claimed_payment and details is not None and details.status in _UNDONE


def hand_over(handler: Callable[[Any], Any], notification: Any, failure: str) -> Answer:
    """Call ``handler``: ``OK`` when it returned, 500 when it raised (logged as ``failure``), so that
    the gateway sends the notification again."""
    try:
        handler(notification)
    except Exception:  # noqa: BLE001 - whatever the application's handler raises
        log.exception("%s", failure)
        return RETRY
    return OK


def too_large(declared: Optional[str]) -> bool:
    """True when a request's declared ``Content-Length`` is not a number or is over the limit (it is
    refused before anything is read)."""
    text = str(declared or "0").strip()
    return not text.isdigit() or int(text) > MAX_NOTIFICATION_BYTES


class RbsReceiver:
    """Receives RBS callbacks (GET query or POST form): verifies, confirms, hands each
    :class:`~autopay_soap.callbacks.RbsNotification` to ``handler``.

    :param secret: the HMAC key, or :param public_key: the gateway's RSA certificate or key.
    :param gateway: an RBS gateway (SOAP or REST) to confirm each callback with; required unless
        ``offline=True`` (the handler then gets unconfirmed claims).
    """

    methods = ("GET", "POST")

    def __init__(self, handler: Callable[[RbsNotification], Any], *, secret: Union[str, Secret, None] = None,
                 public_key: Optional[PublicKeyInput] = None, gateway: Any = None, offline: bool = False) -> None:
        if (secret is None) == (public_key is None):
            raise ValidationError("give exactly one of secret and public_key", field="secret")
        receiver_mode(gateway, offline)
        self.handler = handler
        self.gateway = gateway
        self._secret = Secret(secret) if secret is not None else None
        self._key = load_rsa_public_key(public_key) if public_key is not None else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(handler={self.handler!r}, confirmed={self.gateway is not None})"

    def receive(self, method: str, query: str, body: Optional[bytes]) -> Answer:
        """Answer one request: ``query`` the raw query string, ``body`` the raw body of a POST."""
        if method not in self.methods:
            return NOT_ALLOWED
        if method == "POST":
            query = (body or b"").decode("utf-8", "replace")
        if len(query) > MAX_NOTIFICATION_BYTES:
            return TOO_LARGE
        try:
            notification = verify_rbs_callback_offline(parse_qs(query, keep_blank_values=True), secret=self._secret,
                                                       public_key=self._key)
            if self.gateway is not None:
                notification = confirm_rbs_callback(notification, self.gateway)
                claimed = notification.params.get("operation") in _RBS_PAYMENT_OPERATIONS and \
                    notification.params.get("status") == "1"
                if superseded(claimed, notification.details):
                    log.info("a payment callback for order %s, since refunded or reversed: acknowledged, not handed "
                             "over", notification.order_id)
                    return OK
        except CallbackVerificationError as exc:
            log.warning("refused a callback: %s", exc)
            return FORBIDDEN
        except AutopayError as exc:
            log.warning("could not confirm a callback (it will come again): %s", exc)
            return RETRY
        return hand_over(self.handler, notification, f"callback handler failed for order {notification.order_id}")


class TBankReceiver:
    """Receives T-Bank notifications (JSON POST): verifies, confirms, hands each to ``handler``.

    :param password: the terminal password; :param terminal_key: when given, notifications for
        another terminal are refused.
    :param gateway: the terminal's :class:`~autopay_soap.gateways.tbank.TBankGateway`, to confirm
        each notification with; required unless ``offline=True``.
    :param extra_keys: root fields to admit beyond the documented ones.
    """

    methods = ("POST",)

    def __init__(self, handler: Callable[[TBankNotification], Any], *, password: Union[str, Secret],
                 terminal_key: Optional[str] = None, gateway: Any = None, offline: bool = False,
                 extra_keys: Sequence[str] = ()) -> None:
        if not password:
            raise ValidationError("password: the terminal password is required", field="password")
        receiver_mode(gateway, offline)
        self.handler = handler
        self._password = Secret(password)
        self.terminal_key = terminal_key
        self.gateway = gateway
        self.extra_keys = tuple(extra_keys)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(handler={self.handler!r}, terminal_key={self.terminal_key!r}, "
                f"confirmed={self.gateway is not None})")

    def receive(self, method: str, query: str, body: Optional[bytes]) -> Answer:
        """Answer one request (``query`` is not read: T-Bank posts JSON)."""
        if method not in self.methods:
            return NOT_ALLOWED
        if body is not None and len(body) > MAX_NOTIFICATION_BYTES:
            return TOO_LARGE
        try:
            payload = json_input.loads((body or b"").decode("utf-8"))
            if not isinstance(payload, dict):
                raise ValueError("not an object")
            notification = verify_tbank_notification_offline(payload, self._password, terminal_key=self.terminal_key,
                                                              extra_keys=self.extra_keys)
            if self.gateway is not None:
                notification = confirm_tbank_notification(notification, self.gateway)
                if getattr(notification, "card_active", None) is False:
                    log.info("a card notification for a card since removed: acknowledged, not handed over")
                    return OK
                claimed = getattr(notification, "claimed_status", None) in _TBANK_PAYMENT_STATUSES
                if superseded(claimed, getattr(notification, "details", None)):
                    log.info("a payment notification for payment %s, since refunded or reversed: acknowledged, not "
                             "handed over", getattr(notification, "payment_id", None))
                    return OK
        except (ValueError, CallbackVerificationError) as exc:  # not JSON, not an object, not genuine
            log.warning("refused a T-Bank notification: %s", exc if isinstance(exc, AutopayError)
                        else type(exc).__name__)
            return FORBIDDEN
        except AutopayError as exc:
            log.warning("could not confirm a T-Bank notification (it will come again): %s", exc)
            return RETRY
        return hand_over(self.handler, notification, "notification handler failed")
