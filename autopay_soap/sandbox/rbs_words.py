"""The RBS front ends' words for the engine's refusals, declines and events (SOAP and REST alike):
each refusal as the ``errorCode`` that :mod:`autopay_soap.codes.rbs` names, an order's decline
reason as its ``actionCode`` and description, each event as a callback ``operation``."""

from __future__ import annotations

from typing import Dict, Optional

from ..codes import rbs
from ..codes.reasons import DeclineReason
from .ledger import Order
from .lifecycle import EventKind, Refusal

__all__ = ["CALLBACK_OPERATION", "ERROR_CODE", "action_code", "action_text", "error_code", "reason_of_action"]

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


def action_code(order: Order) -> Optional[int]:
    """The order's ``actionCode``: its decline reason's code, 0 once it was paid (or its card
    checked), None while nothing has happened to it."""
    if order.decline_reason is not None:
        return rbs.ACTION_OF[order.decline_reason]
    return rbs.ACTION_OK if order.paid_at is not None else None


def action_text(order: Order) -> str:
    """The order's ``actionCodeDescription`` (empty where its code has none)."""
    code = action_code(order)
    return "" if code is None else rbs.ACTION_TEXT.get(code, "")


def reason_of_action(code: Optional[int]) -> Optional[DeclineReason]:
    """The decline reason an ``actionCode`` the sandbox gives stands for (None for none, or 0);
    ``ValueError`` for a code it never gives."""
    if code is None or code == rbs.ACTION_OK:
        return None
    reason = rbs.REASON_OF.get(code)
    if reason is None:
        raise ValueError(f"actionCode {code} is not one the sandbox gives")
    return reason
