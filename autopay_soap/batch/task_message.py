"""The task messages of a cluster batch: they name queued rows, they are not charge orders.

``{"merchant": ..., "batch": ..., "order_number": ...}`` names one row (the task
``autopay_soap.charge_row``); ``{"merchant": ..., "batch": ..., "order_numbers": [...]}`` names
up to :data:`MAX_ROWS` rows of one batch (``autopay_soap.charge_rows``, what a producer sends:
one message for many rows, so queueing a million rows is not a million broker round trips).
With a key shared by producers and workers (``AUTOPAY_CELERY_SIGNING_KEY``) each carries
``sig``: :func:`~autopay_soap.signing.task_signature` of the names, in order. The worker
(:mod:`autopay_soap.celery`) reads what to charge from the journal rows the message names;
:func:`read_message` and :func:`read_rows_message` refuse everything else. Nothing here needs Celery.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..signing import task_signature, task_signature_valid

__all__ = ["MAX_ROWS", "MESSAGE_KEYS", "ROWS_MESSAGE_KEYS", "MessageRefused", "read_message", "read_rows_message",
           "row_message", "rows_message", "signing_key"]

MESSAGE_KEYS = ("merchant", "batch", "order_number")
"""What a task message carries: the names of a queued row, nothing to charge with (and ``sig``)."""
ROWS_MESSAGE_KEYS = ("merchant", "batch", "order_numbers")
"""What a message naming many rows carries (and ``sig``)."""
MAX_ROWS = 1000
"""The most rows one message names."""
_MAX_NAME = 200


def signing_key(value: Optional[str] = None) -> Optional[bytes]:
    """The shared key as bytes: ``value``, else ``AUTOPAY_CELERY_SIGNING_KEY``; None when neither is set."""
    key = value or os.environ.get("AUTOPAY_CELERY_SIGNING_KEY")
    return key.encode("utf-8") if key else None


def row_message(merchant: str, batch: str, order_number: str, *, key: Optional[bytes] = None) -> Dict[str, str]:
    """The task message of a queued row: the merchant, the batch and the order number, signed
    (``sig``) when a key is given."""
    message = {"merchant": merchant, "batch": batch, "order_number": order_number}
    if key:
        message["sig"] = task_signature(key, (merchant, batch, order_number))
    return message


def rows_message(merchant: str, batch: str, order_numbers: Sequence[str], *,
                 key: Optional[bytes] = None) -> Dict[str, Any]:
    """The task message naming several queued rows of one batch, signed (``sig``) when a key is given."""
    numbers = list(order_numbers)
    message: Dict[str, Any] = {"merchant": merchant, "batch": batch, "order_numbers": numbers}
    if key:
        message["sig"] = task_signature(key, (merchant, batch, *numbers))
    return message


class MessageRefused(ValueError):
    """A task message that names no row this worker may charge (forged, garbled, unsigned where a
    signature is required): it is logged and nothing is charged."""


def read_message(message: Any, key: Optional[bytes]) -> Tuple[str, str, str]:
    """``(merchant, batch, order_number)`` of a task message, or :class:`MessageRefused`.

    The message must be an object of exactly :data:`MESSAGE_KEYS` (plus ``sig``), each a short
    printable string; with ``key`` its ``sig`` must match (compared in constant time). Anything
    else, however plausible (an amount, a binding), is refused.
    """
    _only(message, MESSAGE_KEYS, "a row")
    names = [_name(message.get(name), name) for name in MESSAGE_KEYS]
    if key is not None and not task_signature_valid(key, names, message.get("sig")):
        raise MessageRefused("the signature is missing or wrong (AUTOPAY_CELERY_SIGNING_KEY)")
    return names[0], names[1], names[2]


def read_rows_message(message: Any, key: Optional[bytes]) -> Tuple[str, str, List[str]]:
    """``(merchant, batch, order_numbers)`` of a message naming several rows, or :class:`MessageRefused`.

    The message must be an object of exactly :data:`ROWS_MESSAGE_KEYS` (plus ``sig``): two short
    printable strings and a list of 1 to :data:`MAX_ROWS` distinct ones; with ``key`` its ``sig``
    must match the names in their order (compared in constant time).
    """
    _only(message, ROWS_MESSAGE_KEYS, "rows")
    merchant, batch = _name(message.get("merchant"), "merchant"), _name(message.get("batch"), "batch")
    given = message.get("order_numbers")
    if not isinstance(given, list) or not 1 <= len(given) <= MAX_ROWS:
        raise MessageRefused(f"order_numbers: not a list of 1 to {MAX_ROWS} order numbers")
    numbers = [_name(number, "order_numbers") for number in given]
    if len(set(numbers)) != len(numbers):
        raise MessageRefused("order_numbers: an order number is named twice")
    if key is not None and not task_signature_valid(key, (merchant, batch, *numbers), message.get("sig")):
        raise MessageRefused("the signature is missing or wrong (AUTOPAY_CELERY_SIGNING_KEY)")
    return merchant, batch, numbers


def _only(message: Any, keys: Sequence[str], what: str) -> None:
    """Refuse anything but an object of ``keys`` (and ``sig``): ``what`` the message names."""
    if not isinstance(message, dict):
        raise MessageRefused(f"the message is a {type(message).__name__}, not an object naming {what}")
    extra = set(message) - set(keys) - {"sig"}
    if extra:
        raise MessageRefused(f"the message carries {', '.join(sorted(map(str, extra)))[:200]}: a message names "
                             f"{what}, what to charge comes from the journal")


def _name(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_NAME or not value.isprintable():
        raise MessageRefused(f"{name}: missing or not a short printable string")
    return value
