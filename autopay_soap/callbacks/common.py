"""What the RBS and T-Bank receivers share: the body limit, the receiver's mode, the confirmation
of an order against the gateway's answer."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ..errors import CallbackVerificationError, OrderNotFound, ValidationError
from ..models import OrderDetails

__all__ = ["MAX_NOTIFICATION_BYTES", "confirm_order", "receiver_mode"]

MAX_NOTIFICATION_BYTES = 64 * 1024
"""The largest notification body a receiver reads (a real one is well under 2 KiB)."""


def receiver_mode(gateway: Any, offline: bool) -> None:
    """Refuse a receiver that neither confirms (``gateway``) nor says it will not (``offline``), or both."""
    if gateway is None and not offline:
        raise ValidationError("gateway: a receiver confirms each notification with the gateway; pass gateway=... "
                              "(or offline=True to hand the handler unconfirmed claims)", field="gateway")
    if gateway is not None and offline:
        raise ValidationError("offline: give a gateway or offline=True, not both", field="offline")


def confirm_order(gateway: Any, *, order_id: str, order_number: Optional[str], amount: Optional[int],
                   context: Dict[str, Any]) -> OrderDetails:
    """The order as the gateway describes it now; refused when the claimed id, number or amount differs."""
    try:
        details: OrderDetails = gateway.order_status(order_id=order_id)
    except OrderNotFound:
        raise CallbackVerificationError("the gateway knows no such order", **context) from None
    if details.order_id is not None and str(details.order_id) != order_id:
        raise CallbackVerificationError("the gateway does not confirm the claimed order id", **context)
    if order_number is not None and details.order_number is not None and details.order_number != order_number:
        raise CallbackVerificationError("the gateway does not confirm the claimed order number", **context)
    if amount is not None and details.amount.minor != amount:
        raise CallbackVerificationError("the gateway does not confirm the claimed amount", **context)
    return details
