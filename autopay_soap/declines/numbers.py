"""Order numbers of retries: derived from the original, so the attempts of one charge stay linked.

Attempt 1 is the original order number; attempt *n* (n >= 2) is ``<original>/r<n-1>``
(``SUB-42-0002`` -> ``SUB-42-0002/r1``, ``/r2``...). When that is longer than the gateway allows
(RBS 32 characters, T-Bank 36), the original is cut and a short digest of the whole of it
keeps the number unique: ``<start>.<6 hex>/r1``. A first payment asking a customer to bind
again uses ``/b<n>`` the same way. Every derived number uses only characters every gateway
accepts, and the same inputs always give the same number (a re-run charges nothing twice).
"""

from __future__ import annotations

import hashlib

from ..errors import ValidationError
from ..validation import ORDER_NUMBER_MAX, check_order_number

__all__ = ["first_payment_order_number", "retry_order_number", "root_and_attempt"]


def _derive(original: str, suffix: str, max_len: int) -> str:
    check_order_number(original, "original_order_number", max_len=max_len)
    if len(original) + len(suffix) <= max_len:
        return original + suffix
    digest = hashlib.sha256(original.encode("utf-8")).hexdigest()[:6]
    keep = max_len - len(suffix) - len(digest) - 1
    return f"{original[:keep]}.{digest}{suffix}"


def retry_order_number(original: str, attempt: int, *, max_len: int = ORDER_NUMBER_MAX) -> str:
    """The order number of attempt ``attempt`` of the charge first made as ``original``
    (attempt 1 is ``original`` itself)."""
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValidationError("attempt: a whole number of at least 1", field="attempt")
    if attempt == 1:
        return check_order_number(original, "original_order_number", max_len=max_len)
    return _derive(original, f"/r{attempt - 1}", max_len)


def first_payment_order_number(original: str, count: int = 1, *, max_len: int = ORDER_NUMBER_MAX) -> str:
    """The order number of the ``count``-th first payment that asks the customer of ``original``
    to bind a card (or an account) again."""
    return _derive(original, f"/b{count}", max_len)


def root_and_attempt(order_number: str, original: str, attempt: int, *, max_len: int = ORDER_NUMBER_MAX) -> None:
    """Check that ``order_number`` is attempt ``attempt`` of ``original``; raise
    :class:`ValidationError` (field ``order_number``) if a hand-edited row broke the link."""
    expected = retry_order_number(original, attempt, max_len=max_len)
    if order_number != expected:
        raise ValidationError(f"order_number: attempt {attempt} of {original!r} must be numbered {expected!r}, "
                              f"got {order_number!r}", field="order_number")
