"""T-Bank's error codes and payment statuses, as this library's exceptions and statuses."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ..errors import (
    AccessDenied,
    BindingStateError,
    DuplicateOrderNumber,
    GatewayError,
    GatewaySystemError,
    InvalidOrderState,
    InvalidRequest,
    OrderNotFound,
    PaymentDeclined,
)
from ..models import OrderStatus

__all__ = ["STATUS_MAP", "error_for_tbank_code", "status_of"]


_TOKEN_CODES = {204, 205, 236, 501}
_DUPLICATE_CODES = {20}
_NOT_FOUND_CODES = {255}
_BINDING_CODES = {7, 107, 223, 235, 503, 3012, 3014, 3015, 5031}
_STATE_CODES = {4, 8, 3037}
_SYSTEM_CODES = {3, 999, 903, 9001, 9999, 3040}
_DECLINE_CODES = {99, 100, 101, 102, 103, 104, 105, 106, 108, 116, 119, 252, 262, 507, 600, 2014, 2200,
                  3013, 3041, 3042} | set(range(1001, 1100)) | set(range(5032, 5068))


def error_for_tbank_code(code: int, message: Optional[str], details: Optional[str] = None,
                         **context: Any) -> GatewayError:
    """Map a T-Bank ``ErrorCode`` (not 0) to the exception of the same meaning.

    204/205 (token), 501 → :class:`AccessDenied`; 20 → :class:`DuplicateOrderNumber`;
    255 → :class:`OrderNotFound`; 7, 107, 503, 3012, 3014, 3015 → :class:`BindingStateError`;
    4, 8, 3037 → :class:`InvalidOrderState`; 10 (Charge disabled), 1125, 1126 and the
    validation codes → :class:`InvalidRequest`; issuer and SBP declines (1051, 104, 262,
    3013...) → :class:`PaymentDeclined`; 3, 9999... and unknown codes → :class:`GatewaySystemError`.
    """
    text = " ".join(x for x in (message, details) if x) or ""
    context.setdefault("gateway_code", code)
    context.setdefault("gateway_message", text or None)
    operation = context.get("operation") or "the request"
    summary = f"T-Bank refused {operation}: [{code}] {text}".rstrip()
    if code in _TOKEN_CODES:
        return AccessDenied(summary + " (check the terminal key and password)", **context)
    if code in _DUPLICATE_CODES:
        return DuplicateOrderNumber(summary, **context)
    if code in _NOT_FOUND_CODES:
        return OrderNotFound(summary, **context)
    if code in _BINDING_CODES:
        return BindingStateError(summary, **context)
    if code in _STATE_CODES:
        return InvalidOrderState(summary, **context)
    if code == 10:
        return InvalidRequest(summary + " (Charge is disabled for this terminal: ask T-Bank to enable it)",
                              **context)
    if code in _DECLINE_CODES:
        return PaymentDeclined(summary, action_code=code, **context)
    if code in _SYSTEM_CODES:
        return GatewaySystemError(summary, **context)
    if code in (1, 2, 5, 9, 11, 12, 14, 1125, 1126) or 200 <= code <= 251 or 300 <= code <= 399 \
            or 3001 <= code <= 3039:
        return InvalidRequest(summary, **context)
    return GatewaySystemError(summary, **context)


STATUS_MAP: Dict[str, OrderStatus] = {
    "NEW": OrderStatus.CREATED,
    "FORM_SHOWED": OrderStatus.ACS_AUTH, "AUTHORIZING": OrderStatus.ACS_AUTH,
    "3DS_CHECKING": OrderStatus.ACS_AUTH, "3DS_CHECKED": OrderStatus.ACS_AUTH,
    "PAY_CHECKING": OrderStatus.ACS_AUTH, "CHECKING": OrderStatus.ACS_AUTH, "CHECKED": OrderStatus.ACS_AUTH,
    "PREAUTHORIZING": OrderStatus.ACS_AUTH, "PROCESSING": OrderStatus.ACS_AUTH, "UNKNOWN": OrderStatus.ACS_AUTH,
    "AUTHORIZED": OrderStatus.APPROVED, "PARTIAL_REVERSED": OrderStatus.APPROVED, "REVERSING": OrderStatus.APPROVED,
    "CONFIRMING": OrderStatus.DEPOSITED, "CONFIRMED": OrderStatus.DEPOSITED, "COMPLETING": OrderStatus.DEPOSITED,
    "COMPLETED": OrderStatus.DEPOSITED, "REFUNDING": OrderStatus.DEPOSITED, "ASYNC_REFUNDING": OrderStatus.DEPOSITED,
    "PARTIAL_REFUNDED": OrderStatus.DEPOSITED,
    "REVERSED": OrderStatus.REVERSED, "REFUNDED": OrderStatus.REFUNDED,
    "CANCELED": OrderStatus.DECLINED, "REJECTED": OrderStatus.DECLINED, "AUTH_FAIL": OrderStatus.DECLINED,
    "DEADLINE_EXPIRED": OrderStatus.DECLINED, "ATTEMPTS_EXPIRED": OrderStatus.DECLINED,
}
"""T-Bank payment statuses as the client's :class:`OrderStatus`.

Everything still moving (``FORM_SHOWED``, ``AUTHORIZING``, ``3DS_CHECKING``...) is
``ACS_AUTH``: *in progress, do not pay again*; only ``NEW`` means "not paid, paying is safe".
"""
_PAID_RANK = {OrderStatus.DEPOSITED: 0, OrderStatus.APPROVED: 0, OrderStatus.REFUNDED: 0,
              OrderStatus.REVERSED: 0, OrderStatus.ACS_AUTH: 1, OrderStatus.CREATED: 2, OrderStatus.DECLINED: 3}


def status_of(word: Any) -> OrderStatus:
    """A T-Bank status word as an :class:`OrderStatus` (an unknown word: in progress)."""
    return STATUS_MAP.get(str(word or "").upper(), OrderStatus.ACS_AUTH)
