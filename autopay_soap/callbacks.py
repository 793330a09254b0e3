"""Gateway callbacks (notifications): verification and a small WSGI receiver.

RBS (facts §4.3): every parameter except ``checksum`` and ``sign_alias``, sorted by name,
joined as ``name;value;``. Symmetric: HMAC-SHA256 keyed with the merchant's secret (its
UTF-8 bytes), upper-case hex. Asymmetric: an RSA PKCS#1 v1.5 signature of the same string
(SHA-512 in the gateway's examples; SHA-256 is accepted too), upper-case hex. All
comparisons are constant-time. RSA is verified with the standard library alone.

T-Bank (facts §5): a JSON POST whose ``Token`` is computed like a request's (every root
scalar received except ``Token``, plus ``Password``, sorted, values joined, SHA-256). The
receiver must answer HTTP 200 with exactly ``OK``; anything else makes T-Bank send again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union
from urllib.parse import parse_qs

import attr

from .errors import CallbackVerificationError, ValidationError
from .gateways.base import optional_text

__all__ = [
    "TBankAccountNotification",
    "TBankCallbackApp",
    "TBankPaymentNotification",
    "verify_tbank_notification",
    "RbsCallbackApp",
    "RbsNotification",
    "RsaPublicKey",
    "load_rsa_public_key",
    "rbs_hmac_checksum",
    "rbs_signed_string",
    "verify_rbs_callback",
    "verify_rbs_hmac",
]

log = logging.getLogger("autopay_soap.callbacks")
_EXCLUDED = ("checksum", "sign_alias")
_DIGEST_INFO = {  # DER prefixes of DigestInfo (RFC 8017 §9.2)
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
}
_RSA_OID = bytes.fromhex("2a864886f70d010101")


def rbs_signed_string(params: Mapping[str, str]) -> str:
    """The string RBS signs: ``name;value;`` for each parameter but checksum/sign_alias, by name."""
    return "".join(f"{name};{params[name]};" for name in sorted(params) if name not in _EXCLUDED)


def rbs_hmac_checksum(params: Mapping[str, str], secret: str) -> str:
    """The HMAC-SHA256 checksum (upper-case hex) of a callback's parameters."""
    digest = hmac.new(secret.encode("utf-8"), rbs_signed_string(params).encode("utf-8"), hashlib.sha256)
    return digest.hexdigest().upper()


def verify_rbs_hmac(params: Mapping[str, str], secret: str) -> bool:
    """True when ``params['checksum']`` is the HMAC-SHA256 checksum (compared in constant time)."""
    given = params.get("checksum") or ""
    expected = rbs_hmac_checksum(params, secret)
    return hmac.compare_digest(given.upper().encode("ascii", "replace"), expected.encode("ascii"))


# -- RSA ---------------------------------------------------------------------------------------


@attr.s(frozen=True, slots=True, auto_attribs=True, repr=False)
class RsaPublicKey:
    """An RSA public key (modulus and exponent)."""

    n: int
    e: int

    def __repr__(self) -> str:
        return f"RsaPublicKey({self.n.bit_length()} bits)"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is a PKCS#1 v1.5 signature of ``message`` (SHA-512 or SHA-256)."""
        k = (self.n.bit_length() + 7) // 8
        if len(signature) != k:
            return False
        s = int.from_bytes(signature, "big")
        if s >= self.n:
            return False
        em = pow(s, self.e, self.n).to_bytes(k, "big")
        ok = False
        for name, prefix in _DIGEST_INFO.items():
            digest_info = prefix + hashlib.new(name, message).digest()
            expected = b"\x00\x01" + b"\xff" * (k - len(digest_info) - 3) + b"\x00" + digest_info
            ok |= hmac.compare_digest(em, expected)
        return ok


def _der(data: bytes, pos: int) -> Tuple[int, bytes, int]:
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, data[pos:pos + length], pos + length


def _children(content: bytes) -> Iterator[Tuple[int, bytes]]:
    pos = 0
    while pos < len(content):
        tag, value, pos = _der(content, pos)
        yield tag, value


def _rsa_from_spki(spki: bytes) -> Optional[RsaPublicKey]:
    parts = list(_children(spki))
    if len(parts) != 2 or parts[0][0] != 0x30 or parts[1][0] != 0x03 or _RSA_OID not in parts[0][1]:
        return None
    return _rsa_from_pkcs1(parts[1][1][1:])  # skip the BIT STRING's unused-bits byte


def _rsa_from_pkcs1(der: bytes) -> RsaPublicKey:
    tag, seq, _ = _der(der, 0)
    n_e = [int.from_bytes(v, "big") for t, v in _children(seq) if t == 0x02]
    if tag != 0x30 or len(n_e) != 2:
        raise ValueError("not an RSA public key")
    return RsaPublicKey(n_e[0], n_e[1])


def _find_spki(content: bytes, depth: int = 0) -> Optional[RsaPublicKey]:
    for tag, value in _children(content):
        if tag == 0x30:
            key = _rsa_from_spki(value)
            if key is not None:
                return key
            if depth < 2:
                key = _find_spki(value, depth + 1)
                if key is not None:
                    return key
    return None


def load_rsa_public_key(data: Union[str, bytes, RsaPublicKey]) -> RsaPublicKey:
    """An RSA public key from an X.509 certificate or a public key, PEM or DER (or base64 DER)."""
    if isinstance(data, RsaPublicKey):
        return data
    raw = data.encode("ascii") if isinstance(data, str) else data
    pem = re.search(rb"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", raw, re.S)
    try:
        if pem:
            kind, der = pem.group(1), base64.b64decode(b"".join(pem.group(2).split()))
        elif raw[:1] == b"\x30":
            kind, der = b"", raw
        else:
            kind, der = b"", base64.b64decode(b"".join(raw.split()), validate=True)
        if kind == b"RSA PUBLIC KEY":
            return _rsa_from_pkcs1(der)
        tag, content, _ = _der(der, 0)
        key = _rsa_from_spki(content) or _find_spki(content)
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"public_key: cannot read an RSA key ({exc})", field="public_key") from None
    if key is None:
        raise ValidationError("public_key: no RSA public key found", field="public_key")
    return key


# -- notifications -----------------------------------------------------------------------------


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RbsNotification:
    """A verified RBS callback."""

    order_id: str
    order_number: Optional[str]
    operation: str
    success: bool
    amount: Optional[int] = None
    binding_id: Optional[str] = None
    client_id: Optional[str] = None
    params: Dict[str, str] = attr.ib(factory=dict, repr=False)

    @property
    def is_payment(self) -> bool:
        """True for a successful ``approved`` (hold) or ``deposited`` notification."""
        return self.success and self.operation in ("approved", "deposited")


def verify_rbs_callback(params: Mapping[str, Any], *, secret: Optional[str] = None,
                        public_key: Union[str, bytes, RsaPublicKey, None] = None) -> RbsNotification:
    """Verify an RBS callback and return it typed.

    Give exactly one of ``secret`` (HMAC-SHA256) and ``public_key`` (RSA: a certificate or
    key, PEM or DER). A missing, forged or tampered checksum raises
    :class:`~autopay_soap.errors.CallbackVerificationError`; so does a callback without
    ``mdOrder`` or ``operation``.
    """
    if (secret is None) == (public_key is None):
        raise ValidationError("give exactly one of secret and public_key", field="secret")
    flat = {str(k): (v[0] if isinstance(v, (list, tuple)) and v else str(v)) for k, v in params.items()}
    checksum = flat.get("checksum") or ""
    context: Dict[str, Any] = {"order_id": flat.get("mdOrder"), "order_number": flat.get("orderNumber"),
                               "operation": "callback"}
    if not checksum:
        raise CallbackVerificationError("callback without a checksum", **context)
    if secret is not None:
        ok = verify_rbs_hmac(flat, secret)
    else:
        try:
            signature = bytes.fromhex(checksum)
        except ValueError:
            raise CallbackVerificationError("callback checksum is not hex", **context) from None
        key = load_rsa_public_key(public_key)  # type: ignore[arg-type]
        ok = key.verify(rbs_signed_string(flat).encode("utf-8"), signature)
    if not ok:
        raise CallbackVerificationError("callback checksum does not verify", **context)
    if not flat.get("mdOrder") or not flat.get("operation"):
        raise CallbackVerificationError("callback without mdOrder or operation", **context)
    amount = flat.get("amount")
    return RbsNotification(
        order_id=flat["mdOrder"], order_number=flat.get("orderNumber"), operation=flat["operation"],
        success=flat.get("status") == "1", amount=int(amount) if amount and amount.isdigit() else None,
        binding_id=flat.get("bindingId"), client_id=flat.get("clientId"), params=flat,
    )


class RbsCallbackApp:
    """A WSGI app that receives RBS callbacks (GET query or POST form), verifies them and hands
    each :class:`RbsNotification` to ``handler``.

    Answers 200 ``OK`` when the handler returned, 403 when verification failed, and 500 when
    the handler raised, so that the gateway tries again.
    """

    def __init__(self, handler: Callable[[RbsNotification], Any], *, secret: Optional[str] = None,
                 public_key: Union[str, bytes, RsaPublicKey, None] = None) -> None:
        if (secret is None) == (public_key is None):
            raise ValidationError("give exactly one of secret and public_key", field="secret")
        self.handler = handler
        self._secret = secret
        self._key = load_rsa_public_key(public_key) if public_key is not None else None

    def __repr__(self) -> str:
        return f"RbsCallbackApp(handler={self.handler!r})"

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Handle one WSGI request."""
        query = environ.get("QUERY_STRING", "")
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            query = environ["wsgi.input"].read(length).decode("utf-8", "replace") if length else ""
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        try:
            notification = verify_rbs_callback(params, secret=self._secret, public_key=self._key)
        except CallbackVerificationError as exc:
            log.warning("refused a callback: %s", exc)
            return self._answer(start_response, "403 Forbidden", b"forbidden")
        try:
            self.handler(notification)
        except Exception:  # the gateway must retry: answer 500
            log.exception("callback handler failed for order %s", notification.order_id)
            return self._answer(start_response, "500 Internal Server Error", b"error")
        return self._answer(start_response, "200 OK", b"OK")

    @staticmethod
    def _answer(start_response: Callable[..., Any], status: str, body: bytes) -> List[bytes]:
        start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]


# -- T-Bank ----------------------------------------------------------------------------------------


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TBankPaymentNotification:
    """A verified T-Bank payment notification (``AUTHORIZED``, ``CONFIRMED``, ``REJECTED``...).

    ``rebill_id`` is set on the parent payment of a card autopayment: keep it, it is the
    binding that ``Charge`` uses. ``amount`` is in kopecks: compare it with the order's.
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


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TBankAccountNotification:
    """A verified SBP account-binding notification (``NotificationType=LINKACCOUNT``).

    ``account_token`` is set when ``status`` is ``ACTIVE``: keep it, ``ChargeQr`` uses it.
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


TBankNotification = Union[TBankPaymentNotification, TBankAccountNotification]


def verify_tbank_notification(payload: Mapping[str, Any], password: str, *,
                              terminal_key: Optional[str] = None) -> TBankNotification:
    """Verify a T-Bank notification's ``Token`` (constant time) and return it typed.

    :param payload: the JSON object received (already parsed).
    :param password: the terminal password.
    :param terminal_key: when given, the notification must be for this terminal.

    Raises :class:`CallbackVerificationError` when the token is missing or wrong, or the
    terminal differs. The token covers every root scalar received, so new fields T-Bank adds
    later do not break verification.
    """
    from .gateways.tbank import make_token

    context: Dict[str, Any] = {"operation": "notification", "order_number": optional_text(payload.get("OrderId")),
                               "order_id": optional_text(payload.get("PaymentId"))}
    given = payload.get("Token")
    if not isinstance(given, str) or not given:
        raise CallbackVerificationError("notification without a Token", **context)
    try:
        expected = make_token(payload, password)
    except ValidationError:
        raise CallbackVerificationError("notification with a value that cannot be signed", **context) from None
    if not hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode("ascii")):
        raise CallbackVerificationError("notification Token does not verify", **context)
    if terminal_key is not None and not hmac.compare_digest(str(payload.get("TerminalKey") or "").encode(),
                                                            terminal_key.encode()):
        raise CallbackVerificationError("notification for another terminal", **context)
    flat = {k: x for k, x in payload.items() if k != "Token"}
    success = payload.get("Success") in (True, "true")

    def text(key: str) -> Optional[str]:
        return optional_text(payload.get(key))

    terminal, status = text("TerminalKey") or "", text("Status") or ""
    if payload.get("NotificationType") == "LINKACCOUNT" or ("RequestKey" in payload and "PaymentId" not in payload):
        return TBankAccountNotification(
            terminal, text("RequestKey") or "", status, success, account_token=text("AccountToken"),
            bank_member_id=text("BankMemberId"), bank_member_name=text("BankMemberName"),
            error_code=text("ErrorCode"), payload=flat)
    amount = text("Amount")
    return TBankPaymentNotification(
        terminal, text("OrderId"), text("PaymentId") or "", status, success,
        amount=int(amount) if amount and amount.isdigit() else None, error_code=text("ErrorCode"),
        rebill_id=text("RebillId"), card_id=text("CardId"), masked_pan=text("Pan"), exp_date=text("ExpDate"),
        customer_key=text("CustomerKey"), payload=flat)


class TBankCallbackApp:
    """A WSGI app that receives T-Bank notifications (JSON POST), verifies each and hands it to
    ``handler``.

    Answers HTTP 200 with exactly ``OK`` when the handler returned (what T-Bank requires);
    403 when the token does not verify; 500 when the handler raised, so that T-Bank sends
    the notification again.
    """

    def __init__(self, handler: Callable[[TBankNotification], Any], *, password: str,
                 terminal_key: Optional[str] = None) -> None:
        if not password:
            raise ValidationError("password: the terminal password is required", field="password")
        self.handler = handler
        self._password = password
        self.terminal_key = terminal_key

    def __repr__(self) -> str:
        return f"TBankCallbackApp(handler={self.handler!r}, terminal_key={self.terminal_key!r})"

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Handle one WSGI request."""
        if environ.get("REQUEST_METHOD") != "POST":
            return RbsCallbackApp._answer(start_response, "405 Method Not Allowed", b"POST only")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            payload = json.loads(raw.decode("utf-8"))
            if not isinstance(payload, dict):
                raise ValueError("not an object")
            notification = verify_tbank_notification(payload, self._password, terminal_key=self.terminal_key)
        except (ValueError, CallbackVerificationError) as exc:
            log.warning("refused a T-Bank notification: %s", exc)
            return RbsCallbackApp._answer(start_response, "403 Forbidden", b"forbidden")
        try:
            self.handler(notification)
        except Exception:  # T-Bank must send it again: anything but OK
            log.exception("notification handler failed")
            return RbsCallbackApp._answer(start_response, "500 Internal Server Error", b"error")
        return RbsCallbackApp._answer(start_response, "200 OK", b"OK")
