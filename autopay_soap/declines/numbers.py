"""Order numbers of retries: derived from the original, so the attempts of one charge stay linked.

Attempt 1 is the original order number; attempt *n* (n >= 2) is ``<original>/r<n-1>``
(``SUB-42-0002`` -> ``SUB-42-0002/r1``, ``/r2``...). When that is longer than the gateway allows
(RBS 32 characters, T-Bank 36), the original is cut and a digest of the whole of it keeps the
number unique: ``<start>.<12 hex>/r1``. Twelve hex digits are 48 bits: among 100,000 long numbers
that share their start, the chance that two retries meet is about 1 in 50,000 (with the six digits
of 0.1 it was near certain, and two customers' retries could get one number).

A chain begun with the old six digits keeps them: :func:`digest_length_of` tells which form a
number has, the batch runner looks an earlier attempt up in its own form, and the dunning finds a
later attempt in either form, so upgrading in the middle of a dunning cycle charges nothing twice.

A first payment asking a customer to bind again uses ``/b<n>`` the same way. Every derived number
uses only characters every gateway accepts, and the same inputs always give the same number (a
re-run charges nothing twice).
"""

from __future__ import annotations

import hashlib

from ..errors import ValidationError
from ..validation import ORDER_NUMBER_MAX, check_order_number

__all__ = ["DIGEST_LENGTH", "LEGACY_DIGEST_LENGTH", "digest_length_of", "first_payment_order_number",
           "retry_order_number", "root_and_attempt"]

DIGEST_LENGTH = 12
"""Hex digits of the digest in a cut number."""
LEGACY_DIGEST_LENGTH = 6
"""Hex digits of the digest in numbers derived by 0.1 (still read and continued)."""


def _derive(original: str, suffix: str, max_len: int, digest_length: int = DIGEST_LENGTH) -> str:
    check_order_number(original, "original_order_number", max_len=max_len)
    if len(original) + len(suffix) <= max_len:
        return original + suffix
    if digest_length not in (DIGEST_LENGTH, LEGACY_DIGEST_LENGTH):
        raise ValidationError(f"digest_length: {DIGEST_LENGTH} or {LEGACY_DIGEST_LENGTH}", field="digest_length")
    digest = hashlib.sha256(original.encode("utf-8")).hexdigest()[:digest_length]
    keep = max_len - len(suffix) - len(digest) - 1
    return f"{original[:keep]}.{digest}{suffix}"


def retry_order_number(original: str, attempt: int, *, max_len: int = ORDER_NUMBER_MAX,
                       digest_length: int = DIGEST_LENGTH) -> str:
    """The order number of attempt ``attempt`` of the charge first made as ``original``
    (attempt 1 is ``original`` itself); ``digest_length`` 6 continues a chain begun by 0.1."""
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValidationError("attempt: a whole number of at least 1", field="attempt")
    if attempt == 1:
        return check_order_number(original, "original_order_number", max_len=max_len)
    return _derive(original, f"/r{attempt - 1}", max_len, digest_length)


def first_payment_order_number(original: str, count: int = 1, *, max_len: int = ORDER_NUMBER_MAX,
                               digest_length: int = DIGEST_LENGTH) -> str:
    """The order number of the ``count``-th first payment that asks the customer of ``original``
    to bind a card (or an account) again."""
    return _derive(original, f"/b{count}", max_len, digest_length)


def digest_length_of(order_number: str, original: str, attempt: int, *, max_len: int = ORDER_NUMBER_MAX) -> int:
    """The digest length ``order_number`` was derived with as attempt ``attempt`` of ``original``
    (:data:`DIGEST_LENGTH`, or :data:`LEGACY_DIGEST_LENGTH` for a chain begun by 0.1); raise
    :class:`ValidationError` (field ``order_number``) if it is neither, as when a hand-edited row
    broke the link."""
    expected = retry_order_number(original, attempt, max_len=max_len)
    if order_number == expected:
        return DIGEST_LENGTH
    if attempt > 1 and order_number == retry_order_number(original, attempt, max_len=max_len,
                                                          digest_length=LEGACY_DIGEST_LENGTH):
        return LEGACY_DIGEST_LENGTH
    raise ValidationError(f"order_number: attempt {attempt} of {original!r} must be numbered {expected!r}, "
                          f"got {order_number!r}", field="order_number")


def root_and_attempt(order_number: str, original: str, attempt: int, *, max_len: int = ORDER_NUMBER_MAX) -> None:
    """Check that ``order_number`` is attempt ``attempt`` of ``original``; raise
    :class:`ValidationError` (field ``order_number``) if a hand-edited row broke the link."""
    digest_length_of(order_number, original, attempt, max_len=max_len)
