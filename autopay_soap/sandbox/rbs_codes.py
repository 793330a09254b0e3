"""The RBS front ends' words for the engine's refusals and events (SOAP and REST alike)."""

from __future__ import annotations

from typing import Dict

from .lifecycle import EventKind, Refusal

__all__ = ["CALLBACK_OPERATION", "ERROR_CODE", "error_code"]

#: ``errorCode`` of each refusal, as the RBS gateway documents them.
ERROR_CODE: Dict[Refusal, int] = {
    Refusal.NO_ORDER_KEY: 1,
    Refusal.NUMBER_USED: 1,
    Refusal.BINDING_NOT_FOUND: 2,
    Refusal.UNKNOWN_CURRENCY: 3,
    Refusal.MISSING_FIELD: 4,
    Refusal.BAD_FIELD: 5,
    Refusal.ORDER_NOT_FOUND: 6,
    Refusal.WRONG_STATE: 7,
    Refusal.LIMIT_EXCEEDED: 10,
    Refusal.FEATURE_CONFLICT: 13,
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
