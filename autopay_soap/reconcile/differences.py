"""What reconciliation reports: one :class:`Difference` per line, of one :class:`Kind`."""

from __future__ import annotations

import enum
from typing import Any, Dict, Optional

import attr

from ..models import OrderDetails

__all__ = ["COLUMNS", "Difference", "Kind"]


class Kind(str, enum.Enum):
    """The kinds of difference, as the report and the summary name them (docs/reconciliation.rst)."""

    GATEWAY_ONLY = "gateway_only"
    """Money moved at the gateway for an order the journal does not hold as charged (no row: a
    charge made elsewhere, by hand, or a row deleted; or a row the journal holds as declined...)."""
    NOT_PAID_AT_GATEWAY = "not_paid_at_gateway"
    """The journal holds the order as paid; the gateway has no such order, or it is not paid there."""
    AMOUNT_DIFFERS = "amount_differs"
    """The journal's amount or currency is not the gateway's."""
    REFUNDED = "refunded"
    """A refund the journal has not reported yet (``new_refunded``: since the last report)."""
    REVERSED = "reversed"
    """A reversal (cancellation) the journal has not reported yet."""
    RESOLVED = "resolved"
    """A row of unknown outcome settled by the gateway's answer: the one journal change made."""
    STILL_UNKNOWN = "still_unknown"
    """A row of unknown outcome the gateway's answer does not settle (no order, or not finished)."""
    UNREADABLE = "unreadable"
    """An answer that could not be read (one listed order, a page, a look-up): nothing was concluded."""
    DUPLICATE = "duplicate"
    """The gateway listed the same order number more than once in the window."""

    def __str__(self) -> str:
        return self.value


COLUMNS = ("kind", "order_number", "order_id", "journal_state", "journal_amount", "gateway_status",
           "gateway_amount", "currency", "refunded", "new_refunded", "detail")
"""The report's columns, in order (amounts in minor units)."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Difference:
    """One reported line. Amounts are minor units; no card data is ever carried."""

    kind: Kind
    order_number: Optional[str] = None
    order_id: Optional[str] = None
    journal_state: Optional[str] = None
    journal_amount: Optional[int] = None
    gateway_status: Optional[str] = None
    gateway_amount: Optional[int] = None
    currency: Optional[str] = None
    refunded: Optional[int] = None
    new_refunded: Optional[int] = None
    detail: str = ""

    def as_dict(self) -> Dict[str, Any]:
        """The line as the report writes it (:data:`COLUMNS`)."""
        return {name: (str(getattr(self, name)) if name == "kind" else getattr(self, name)) for name in COLUMNS}


def gateway_fields(details: OrderDetails) -> Dict[str, Any]:
    """The gateway's side of a line."""
    return {"order_id": details.order_id, "gateway_status": details.gateway_status or details.status.name,
            "gateway_amount": details.amount.minor, "currency": details.amount.currency.alpha}
