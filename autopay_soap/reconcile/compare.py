"""The rules: what one gateway order and one journal row say together (no I/O here).

:func:`compare` reads an order the gateway described (listed or looked up) against the journal's
row for its number; :func:`settlement` tells whether the gateway's answer settles a row of unknown
outcome. Both are pure functions, so every rule is tested without a gateway or a database.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from ..batch.journal import JournalEntry
from ..batch.journal.ledger import Looked
from ..batch.states import RESOLVABLE, SETTLED, RowState
from ..models import OrderDetails, OrderStatus
from .differences import Difference, Kind, gateway_fields

__all__ = ["compare", "money_moved", "settlement"]


def money_moved(details: OrderDetails) -> bool:
    """True when the order was paid at some point (held, deposited, refunded or reversed); never
    for an order of zero (a card saved without a payment, RBS ``VERIFY``, ends REVERSED)."""
    if details.amount.minor == 0:
        return False
    return details.status.is_paid or details.status in (OrderStatus.REFUNDED, OrderStatus.REVERSED)


def _refunded_minor(details: OrderDetails) -> int:
    if details.refunded is not None:
        return details.refunded.minor
    return details.amount.minor if details.status is OrderStatus.REFUNDED else 0


def _line(kind: Kind, details: OrderDetails, entry: Optional[JournalEntry], detail: str, **extra: object) -> Difference:
    journal = {"journal_state": entry.state.value, "journal_amount": entry.amount_minor} if entry else {}
    return Difference(kind, details.order_number or (entry.order_number if entry else None),  # type: ignore[arg-type]
                      detail=detail, **{**gateway_fields(details), **journal, **extra})


def compare(details: OrderDetails, entry: Optional[JournalEntry],
            looked: Looked = (0, False)) -> Tuple[List[Difference], Optional[Looked]]:
    """The differences between the gateway's ``details`` and the journal's ``entry`` (None: no row),
    and what to remember as reported of the order's refunds and reversal (None: nothing new).

    A row of unknown outcome is left to :func:`settlement` (nothing reported here).
    """
    if entry is not None and entry.state in RESOLVABLE:
        return [], None
    if entry is None or entry.state not in SETTLED:
        if not money_moved(details):
            return [], None
        why = ("the journal has no row for this order number" if entry is None
               else f"the journal holds it as {entry.state.value}, not as charged")
        return [_line(Kind.GATEWAY_ONLY, details, entry, f"paid at the gateway; {why}")], None
    found: List[Difference] = []
    if (details.amount.minor, details.amount.currency.alpha) != (entry.amount_minor, entry.currency):
        found.append(_line(Kind.AMOUNT_DIFFERS, details, entry,
                           f"the journal has {entry.amount_minor} {entry.currency}, the gateway "
                           f"{details.amount.minor} {details.amount.currency.alpha}"))
    refunded, reversed_ = _refunded_minor(details), details.status is OrderStatus.REVERSED
    if refunded > looked[0]:
        found.append(_line(Kind.REFUNDED, details, entry, "refunded at the gateway since the last report",
                           refunded=refunded, new_refunded=refunded - looked[0]))
    if reversed_ and not looked[1]:
        found.append(_line(Kind.REVERSED, details, entry, "reversed (cancelled) at the gateway"))
    if not money_moved(details):
        found.append(_line(Kind.NOT_PAID_AT_GATEWAY, details, entry,
                           f"the journal holds it as {entry.state.value}; the gateway says {details.status.name}"))
    remember = (refunded, reversed_) if (refunded, reversed_) != looked and (refunded or reversed_) else None
    return found, remember


def settlement(details: OrderDetails, entry: JournalEntry) -> Optional[RowState]:
    """The state the gateway's answer settles a row of unknown outcome in (``paid``, ``held`` or
    ``declined``), or None when it does not (not finished, or not this row's charge)."""
    if (details.amount.minor, details.amount.currency.alpha) != (entry.amount_minor, entry.currency):
        return None
    if details.status is OrderStatus.APPROVED:
        return RowState.HELD
    if money_moved(details):
        return RowState.PAID
    if details.status is OrderStatus.DECLINED:
        return RowState.DECLINED
    return None
