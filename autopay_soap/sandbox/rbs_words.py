"""The RBS front ends' words for the engine's refusals and events (SOAP and REST alike): each
refusal as the ``errorCode`` that :mod:`autopay_soap.codes.rbs` names, each event as a callback
``operation``."""

from __future__ import annotations

from typing import Dict

from ..codes import rbs
from .lifecycle import EventKind, Refusal

__all__ = ["CALLBACK_OPERATION", "ERROR_CODE", "error_code"]

#: ``errorCode`` of each refusal, as the RBS gateway documents them.
ERROR_CODE: Dict[Refusal, int] = {
    Refusal.NO_ORDER_KEY: rbs.DUPLICATE,
    Refusal.NUMBER_USED: rbs.DUPLICATE,
    Refusal.BINDING_NOT_FOUND: rbs.BINDING,
    Refusal.UNKNOWN_CURRENCY: rbs.UNKNOWN_CURRENCY,
    Refusal.MISSING_FIELD: rbs.MISSING,
    Refusal.BAD_FIELD: rbs.BAD_VALUE,
    Refusal.ORDER_NOT_FOUND: rbs.NOT_FOUND,
    Refusal.WRONG_STATE: rbs.STATE,
    Refusal.LIMIT_EXCEEDED: rbs.LIMIT,
    Refusal.FEATURE_CONFLICT: rbs.FEATURE_CONFLICT,
}

#: The callback's ``operation`` for each event.
CALLBACK_OPERATION: Dict[EventKind, str] = {
    EventKind.HELD: "approved",
    EventKind.CHARGED: "deposited",
    EventKind.DEPOSITED: "deposited",
    EventKind.DECLINED: "declinedCardpresent",
    EventKind.EXPIRED: "declinedByTimeout",
    EventKind.REVERSED: "reversed",
    EventKind.REFUNDED: "refunded",
    EventKind.BINDING_CREATED: "bindingCreated",
}


def error_code(refusal: Refusal) -> int:
    """The RBS ``errorCode`` of ``refusal``."""
    return ERROR_CODE[refusal]
