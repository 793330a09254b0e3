"""RBS ``getLastOrdersForMerchants``: the orders of a date window, one page at a time.

Both RBS transports ask the same question (a window, the transaction states, a zero-based page
of at most :data:`MAX_PAGE_SIZE` orders) and read the same answer here: each listed order becomes
the :class:`~autopay_soap.models.OrderDetails` a status look-up returns, or an
:class:`UnreadableOrder` when that one entry cannot be read (the rest of the page still counts).
A page that does not fit the question (another page number, more orders than asked for, no
readable total) raises ValueError, which the transports report as
:class:`~autopay_soap.errors.BadResponse`: nothing of it is used.

The gateway's window is in Moscow time without a zone (UTC+3 all year since 2014); callers give
timezone-aware datetimes and this module converts them, so a naive ``datetime`` is refused
rather than guessed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Optional, Protocol, Tuple, Union, runtime_checkable

import attr

from ..errors import ValidationError
from ..models import OrderDetails
from ..money import Currency

__all__ = ["MAX_PAGE_SIZE", "MOSCOW", "TRANSACTION_STATES", "OrderListGateway", "OrderPage", "UnreadableOrder",
           "check_page_request", "read_page", "rest_time"]

MAX_PAGE_SIZE = 200
"""The gateway's largest page (``size`` above it is refused with error code 10)."""
MOSCOW = dt.timezone(dt.timedelta(hours=3), "MSK")
"""The zone of the gateway's dates."""
TRANSACTION_STATES = ("CREATED", "APPROVED", "DEPOSITED", "DECLINED", "REVERSED", "REFUNDED")
"""What ``transactionStates`` may name."""
MONEY_STATES = ("APPROVED", "DEPOSITED", "REVERSED", "REFUNDED")
"""The states of orders where money moved at some point: what reconciliation lists."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class UnreadableOrder:
    """A listed order whose entry could not be read (an amount that is not a number...): it is
    reported, never taken for paid or for absent."""

    order_number: Optional[str]
    reason: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class OrderPage:
    """One page of ``getLastOrdersForMerchants``."""

    orders: Tuple[Union[OrderDetails, UnreadableOrder], ...]
    page: int
    page_size: int
    total_count: int

    @property
    def last(self) -> bool:
        """True when no page follows (``(page + 1) × pageSize ≥ totalCount``)."""
        return (self.page + 1) * self.page_size >= self.total_count


@runtime_checkable
class OrderListGateway(Protocol):
    """A transport that lists a window's orders (RBS over SOAP and REST; T-Bank has no list call)."""

    def order_page(self, since: dt.datetime, until: dt.datetime, *, page: int = 0, size: int = MAX_PAGE_SIZE,
                   states: Iterable[str] = MONEY_STATES) -> OrderPage:
        """One page of the orders paid (or, unpaid, created) in ``[since, until)``."""
        ...


def check_page_request(since: Any, until: Any, page: Any, size: Any,
                       states: Iterable[str]) -> Tuple[dt.datetime, dt.datetime, Tuple[str, ...]]:
    """The window in Moscow time and the states, checked before anything is sent."""
    for name, value in (("since", since), ("until", until)):
        if not isinstance(value, dt.datetime):
            raise ValidationError(f"{name}: a datetime is expected", field=name)
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(f"{name}: give a timezone-aware datetime (the gateway's window is Moscow time; "
                                  "a naive one would be guessed)", field=name)
    if not since < until:
        raise ValidationError("since: the window must start before it ends", field="since")
    if isinstance(page, bool) or not isinstance(page, int) or not 0 <= page < 10_000_000:
        raise ValidationError("page: a whole number from 0", field="page")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationError(f"size: a whole number from 1 to {MAX_PAGE_SIZE}", field="size")
    chosen = tuple(states)
    if not chosen or any(state not in TRANSACTION_STATES for state in chosen):
        raise ValidationError(f"states: one or more of {', '.join(TRANSACTION_STATES)}", field="states")
    return since.astimezone(MOSCOW), until.astimezone(MOSCOW), chosen


def rest_time(moment: dt.datetime) -> str:
    """``yyyyMMddHHmmss`` in Moscow time, as the REST call takes ``from`` and ``to``."""
    return moment.astimezone(MOSCOW).strftime("%Y%m%d%H%M%S")


def _whole(value: Any, name: str, *, default: Optional[int] = None) -> int:
    if value is None or value == "":
        if default is None:
            raise ValueError(f"a list page without {name}")
        return default
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"a list page whose {name} is not a whole number")
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise ValueError(f"a list page whose {name} is not a whole number")
    return int(text)


def read_page(reply: Any, entries: Any, *, page: int, size: int, default_currency: Currency,
              read: Any) -> OrderPage:
    """An :class:`OrderPage` from a reply's paging fields and its ``entries``.

    ``read(entry)`` turns one entry into :class:`OrderDetails` (raising on what it cannot
    read). ValueError for a page that does not fit the question asked.
    """
    total = _whole(reply.get("totalCount"), "totalCount")
    answered_page = _whole(reply.get("page"), "page", default=page)
    page_size = _whole(reply.get("pageSize"), "pageSize", default=size)
    if answered_page != page:
        raise ValueError(f"page {page} was asked for and page {answered_page} answered")
    if not 1 <= page_size <= size:
        raise ValueError(f"a page size of {page_size} where at most {size} was asked for")
    entries = list(entries or [])
    if len(entries) > page_size:
        raise ValueError(f"{len(entries)} orders on a page of {page_size}")
    orders = []
    for entry in entries:
        try:
            orders.append(read(entry))
        except Exception as exc:  # noqa: BLE001 - one unreadable entry: reported, the page still counts
            number = entry.get("orderNumber") if hasattr(entry, "get") else None
            orders.append(UnreadableOrder(str(number)[:64] if number else None,
                                          f"{type(exc).__name__}: {str(exc)[:120]}"))
    return OrderPage(tuple(orders), answered_page, page_size, total)
