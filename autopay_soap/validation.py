"""Checks run on every argument before a request is built.

Each check raises :class:`~autopay_soap.errors.ValidationError` naming the field, so that
nothing is sent, and nothing is half-done, when an input is wrong.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Optional
from urllib.parse import urlsplit

from .errors import ValidationError
from .initiators import RecurringTerms
from .money import Money

__all__ = [
    "check_binding_id",
    "check_client_id",
    "check_email",
    "check_positive_int",
    "check_recurring",
    "check_registration",
    "check_text",
    "check_cvc",
    "check_description",
    "check_expiry",
    "check_ip",
    "check_language",
    "check_money",
    "check_order_id",
    "check_order_number",
    "check_url",
]

ORDER_NUMBER_MAX = 32
DESCRIPTION_MAX = 598
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 control characters (U+0085 NEL among them), the Unicode line and paragraph
separators, and the bidirectional marks and overrides that make a log line or a receipt read
differently from what is stored (``docs/security.rst``)."""
_ORDER_NUMBER = re.compile(r"^[A-Za-z0-9_\-./:#]+$")


def _text(value: object, field: str, max_len: int, *, required: bool = True) -> Optional[str]:
    if value is None:
        if required:
            raise ValidationError(f"{field}: is required", field=field)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field}: must be a str, got {type(value).__name__}", field=field)
    if not value.strip():
        raise ValidationError(f"{field}: must not be empty", field=field)
    if len(value) > max_len:
        raise ValidationError(f"{field}: at most {max_len} characters, got {len(value)}", field=field)
    if _CONTROL.search(value):
        raise ValidationError(f"{field}: control characters (C0, C1, U+2028, U+2029, bidi controls) are not "
                              "allowed", field=field)
    return value


def check_order_number(value: object, field: str = "order_number", *, max_len: int = ORDER_NUMBER_MAX) -> str:
    """The merchant's order number: 1–32 (T-Bank: 36) of ``A-Z a-z 0-9 _ - . / : #``, the idempotency key."""
    text = _text(value, field, max_len)
    assert text is not None
    if not _ORDER_NUMBER.match(text):
        raise ValidationError(
            f"{field}: only letters, digits and _ - . / : # are allowed", field=field
        )
    return text


def check_order_id(value: object, field: str = "order_id") -> str:
    """A gateway order id (``mdOrder``, a UUID on RBS): 1–36 printable characters."""
    text = _text(value, field, 36)
    assert text is not None
    return text


def check_binding_id(value: object, field: str = "binding_id") -> str:
    """A binding id: required, at most 255 characters."""
    text = _text(value, field, 255)
    assert text is not None
    return text


def check_client_id(value: object, field: str = "client_id", *, required: bool = False) -> Optional[str]:
    """The merchant's customer id that bindings belong to: at most 255 characters."""
    return _text(value, field, 255, required=required)


def check_description(value: object, field: str = "description") -> Optional[str]:
    """Free text for the order: no ``%``, ``+``, CR or LF (the gateway forbids them)."""
    text = _text(value, field, DESCRIPTION_MAX, required=False)
    if text is not None and any(ch in text for ch in "%+\r\n"):
        raise ValidationError(f"{field}: the characters % + CR LF are not allowed", field=field)
    return text


def check_url(value: object, field: str, *, required: bool = True) -> Optional[str]:
    """An absolute http(s) URL (the gateway resolves relative ones against its own host)."""
    text = _text(value, field, 2048, required=required)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(f"{field}: must be an absolute http(s) URL", field=field)
    return text


def check_money(value: object, field: str = "amount", *, allow_zero: bool = False) -> Money:
    """A :class:`Money`; zero only where the gateway reads it as "all" (deposit, refund)."""
    if not isinstance(value, Money):
        raise ValidationError(
            f"{field}: must be a Money (use Money.of('499.00', 'RUB')), got {type(value).__name__}",
            field=field,
        )
    if value.minor == 0 and not allow_zero:
        raise ValidationError(f"{field}: must be more than zero", field=field)
    return value


def check_cvc(value: object, field: str = "cvc") -> Optional[str]:
    """A CVC of 3 or 4 digits, or None. The value itself never appears in the message."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{3,4}", value):
        raise ValidationError(f"{field}: must be 3 or 4 digits", field=field)
    return value


def check_ip(value: object, field: str = "ip") -> Optional[str]:
    """The payer's IP address, at most 39 characters."""
    return _text(value, field, 39, required=False)


def check_language(value: object, field: str = "language") -> Optional[str]:
    """An ISO 639-1 language code (``ru``, ``en``)."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[a-z]{2}", value):
        raise ValidationError(f"{field}: must be a two-letter ISO 639-1 code", field=field)
    return value


def check_expiry(value: object, field: str = "new_expiry") -> str:
    """A card expiry as ``YYYYMM``."""
    if not isinstance(value, str) or not re.fullmatch(r"20\d\d(0[1-9]|1[0-2])", value):
        raise ValidationError(f"{field}: must be YYYYMM", field=field)
    return value


def check_text(value: object, field: str, max_len: int) -> str:
    """Required free text of at most ``max_len`` characters, without control characters."""
    text = _text(value, field, max_len)
    assert text is not None
    return text


def check_email(value: object, field: str = "email") -> Optional[str]:
    """An e-mail for the gateway's notifications, at most 40 characters."""
    return _text(value, field, 40, required=False)


def check_positive_int(value: object, field: str) -> Optional[int]:
    """None, or a positive ``int`` (not a bool)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(f"{field}: must be a positive int", field=field)
    return value


def check_registration(
    order_number: object, amount: object, return_url: object, *, client_id: object = None,
    auto_payment: bool = False, binding_id: object = None, fail_url: object = None, description: object = None,
    language: object = None, session_timeout_secs: object = None, email: object = None,
    callback_url: object = None, verify: bool = False, recurring: object = None,
) -> "dict[str, Any]":
    """Every argument of a registration checked, under its own name; the same for every transport.

    ``auto_payment`` needs ``client_id`` (the gateway's autopayments belong to a client).
    ``verify`` (a card saved without a payment, ``features=VERIFY``) needs ``client_id`` and an
    amount of zero, and cannot be an autopayment. ``recurring``: the chain's
    :class:`~autopay_soap.initiators.RecurringTerms`, not in the past.
    """
    if verify and auto_payment:
        raise ValidationError("verify: a card check cannot be an autopayment", field="verify")
    if verify and isinstance(amount, Money) and amount.minor != 0:
        raise ValidationError("amount: a card check is registered for zero (nothing is charged)", field="amount")
    return {
        "order_number": check_order_number(order_number),
        "amount": check_money(amount, allow_zero=verify),
        "recurring": check_recurring(recurring),
        "return_url": check_url(return_url, "return_url"),
        "client_id": check_client_id(client_id, required=auto_payment or verify),
        "binding_id": check_binding_id(binding_id) if binding_id is not None else None,
        "fail_url": check_url(fail_url, "fail_url", required=False),
        "description": check_description(description),
        "language": check_language(language),
        "session_timeout_secs": check_positive_int(session_timeout_secs, "session_timeout_secs"),
        "email": check_email(email),
        "callback_url": check_url(callback_url, "callback_url", required=False),
    }


def check_recurring(value: object) -> Any:
    """A chain's :class:`~autopay_soap.initiators.RecurringTerms` not in the past, or None."""
    if value is None:
        return None
    if not isinstance(value, RecurringTerms):
        raise ValidationError(f"recurring: must be a RecurringTerms, got {type(value).__name__}", field="recurring")
    return value.check_future(datetime.date.today())
