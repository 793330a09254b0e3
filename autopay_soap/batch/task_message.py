"""The task message of a cluster batch: it names a queued row, it is not a charge order.

``{"merchant": ..., "batch": ..., "order_number": ...}`` and, with a key shared by producers
and workers (``AUTOPAY_CELERY_SIGNING_KEY``), ``sig``: :func:`~autopay_soap.signing.task_signature`
of the three names. The worker (:mod:`autopay_soap.celery`) reads what to charge from the journal
row the message names; :func:`read_message` refuses everything else. Nothing here needs Celery.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

from ..signing import task_signature, task_signature_valid

__all__ = ["MESSAGE_KEYS", "MessageRefused", "read_message", "row_message", "signing_key"]

MESSAGE_KEYS = ("merchant", "batch", "order_number")
"""What a task message carries: the names of a queued row, nothing to charge with (and ``sig``)."""
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


class MessageRefused(ValueError):
    """A task message that names no row this worker may charge (forged, garbled, unsigned where a
    signature is required): it is logged and nothing is charged."""


def read_message(message: Any, key: Optional[bytes]) -> Tuple[str, str, str]:
    """``(merchant, batch, order_number)`` of a task message, or :class:`MessageRefused`.

    The message must be an object of exactly :data:`MESSAGE_KEYS` (plus ``sig``), each a short
    printable string; with ``key`` its ``sig`` must match (compared in constant time). Anything
    else, however plausible (an amount, a binding), is refused.
    """
    if not isinstance(message, dict):
        raise MessageRefused(f"the message is a {type(message).__name__}, not an object naming a row")
    extra = set(message) - set(MESSAGE_KEYS) - {"sig"}
    if extra:
        raise MessageRefused(f"the message carries {', '.join(sorted(map(str, extra)))[:200]}: a message names a "
                             "row, what to charge comes from the journal")
    names = []
    for name in MESSAGE_KEYS:
        value = message.get(name)
        if not isinstance(value, str) or not value or len(value) > _MAX_NAME or not value.isprintable():
            raise MessageRefused(f"{name}: missing or not a short printable string")
        names.append(value)
    if key is not None and not task_signature_valid(key, names, message.get("sig")):
        raise MessageRefused("the signature is missing or wrong (AUTOPAY_CELERY_SIGNING_KEY)")
    return names[0], names[1], names[2]
