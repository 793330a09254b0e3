"""One reconciliation: the journal's rows against the gateway's records for a window.

Three passes, each streaming (memory flat in the number of orders):

1. **Settle** the rows of unknown outcome (``in_flight``, ``unknown``): each is looked up by order
   number; a paid, held or declined answer for the same amount is written to the journal — the
   only change this makes there. Anything else is reported as ``still_unknown``.
2. **List** the gateway's orders of the window (RBS ``getLastOrdersForMerchants``, page by page)
   and compare each with the journal's row of its number.
3. **Look up** each row the journal holds as charged in the window that the list did not show
   (or, on a gateway without a list call — T-Bank — every such row), paced, and compare it.

Every difference is reported once, as found; nothing but step 1 writes to the journal's rows.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import attr

from ..batch.journal import Journal, JournalEntry
from ..batch.states import RowState
from ..declines.schedule import DEFAULT_SCHEDULE
from ..errors import AutopayError, OrderNotFound
from ..gateways.order_list import OrderListGateway, UnreadableOrder
from ..models import OrderDetails
from .compare import compare, settlement
from .differences import Difference, Kind
from .listing import Entry, Listing
from .seen import SeenOrders

__all__ = ["EXIT_DIFFERENCES", "EXIT_INCOMPLETE", "EXIT_OK", "ReconcileSummary", "reconcile"]

log = logging.getLogger(__name__)

EXIT_OK = 0
"""No difference: the journal and the gateway agree on the window."""
EXIT_DIFFERENCES = 10
"""Differences were found and reported (the report has at least one line)."""
EXIT_INCOMPLETE = 11
"""The gateway's list could not be read in full: what was found is reported, but an order missing
from the list proves nothing, so no "not paid at the gateway" is concluded from it. Run again."""


@attr.s(slots=True, auto_attribs=True)
class ReconcileSummary:
    """What one reconciliation found."""

    transport: str
    since: dt.datetime
    until: dt.datetime
    counts: Dict[str, int] = attr.ib(factory=lambda: {kind.value: 0 for kind in Kind})
    gateway_orders: int = 0
    journal_rows: int = 0
    lookups: int = 0
    ignored: int = 0
    """Listed orders whose number matched an ``ignore`` pattern."""
    complete: bool = True
    problem: Optional[str] = None
    cannot_see: Tuple[str, ...] = ()
    """Kinds this gateway cannot show (T-Bank has no list call: ``gateway_only``)."""

    @property
    def differences(self) -> int:
        """How many lines were reported."""
        return sum(self.counts.values())

    @property
    def exit_code(self) -> int:
        """:data:`EXIT_INCOMPLETE`, else :data:`EXIT_DIFFERENCES` or :data:`EXIT_OK`."""
        if not self.complete:
            return EXIT_INCOMPLETE
        return EXIT_DIFFERENCES if self.differences else EXIT_OK

    def as_dict(self) -> Dict[str, Any]:
        """The JSON summary ``autopay-soap reconcile`` prints."""
        return {"transport": self.transport, "from": self.since.isoformat(), "to": self.until.isoformat(),
                "complete": self.complete, "problem": self.problem, "gateway_orders": self.gateway_orders,
                "journal_rows_checked": self.journal_rows, "lookups": self.lookups, "ignored": self.ignored,
                "differences": dict(self.counts), "cannot_see": list(self.cannot_see), "exit_code": self.exit_code}


class _Pace:
    """At most ``per_second`` look-ups a second (None: no limit)."""

    def __init__(self, per_second: Optional[float], clock: Callable[[], float],
                 sleep: Callable[[float], None]) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self.clock, self.sleep, self.next_at = clock, sleep, 0.0

    def wait(self) -> None:
        now = self.clock()
        if self.next_at > now:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


class _Reconciliation:
    """The state of one run (see :func:`reconcile`)."""

    def __init__(self, client: Any, journal: Journal, summary: ReconcileSummary,
                 report: Callable[[Difference], None], pace: _Pace, clock: Callable[[], float],
                 ignore: Tuple[str, ...] = ()) -> None:
        self.client, self.gateway, self.summary = client, client.gateway, summary
        self.ledger = journal.ledger()
        self.journal, self.report, self.pace, self.clock = journal, report, pace, clock
        self.page_was_new = True
        self.ignore = ignore

    def ignored(self, order_number: Optional[str]) -> bool:
        """True for an order number matching one of the ``ignore`` patterns (another system's orders)."""
        return bool(order_number) and any(fnmatch.fnmatchcase(order_number or "", p) for p in self.ignore)

    def emit(self, difference: Difference) -> None:
        self.summary.counts[difference.kind.value] += 1
        self.report(difference)

    def look_up(self, order_number: str) -> Tuple[Optional[OrderDetails], Optional[str]]:
        """The order by number: ``(details, None)``, ``(None, None)`` when the gateway has none,
        ``(None, why)`` when it would not say."""
        why = "no answer"
        for _attempt in range(3):
            self.pace.wait()
            self.summary.lookups += 1
            try:
                return self.gateway.order_status(order_number=order_number), None
            except OrderNotFound:
                return None, None
            except AutopayError as exc:
                why = f"{type(exc).__name__}: {exc}"
                if not self.client.retry.retryable(exc):
                    break
        return None, why

    # -- 1. rows of unknown outcome ------------------------------------------------------------

    def settle_unknown(self) -> None:
        for entry in self.ledger.resolvable():
            details, why = self.look_up(entry.order_number)
            state = settlement(details, entry) if details is not None else None
            if details is None or state is None:
                what = (f"the look-up failed ({why})" if why else "the gateway has no order with this number"
                        if details is None else f"the gateway says {details.status.name} for "
                        f"{details.amount.minor} {details.amount.currency.alpha}")
                self.emit(Difference(Kind.STILL_UNKNOWN, entry.order_number, journal_state=entry.state.value,
                                     journal_amount=entry.amount_minor, currency=entry.currency,
                                     gateway_status=details.status.name if details else None,
                                     detail=f"{what}; left as it is: the next run with this journal settles it"))
                continue
            if self.ledger.resolve(entry.order_number, state, **self._settled_fields(details, entry, state)):
                self.emit(Difference(Kind.RESOLVED, entry.order_number, details.order_id, entry.state.value,
                                     entry.amount_minor, details.status.name, details.amount.minor,
                                     entry.currency, detail=f"recorded as {state.value} by the gateway's answer"))

    def _settled_fields(self, details: OrderDetails, entry: JournalEntry, state: RowState) -> Dict[str, Any]:
        now = self.clock()
        fields: Dict[str, Any] = {"order_id": details.order_id, "action_code": details.action_code,
                                  "finished_at": now,
                                  "message": f"settled by reconciliation: the gateway says {details.status.name}"}
        if state is RowState.DECLINED:
            decline = self.client.classify(details.action_code, details.action_code_description)
            fields.update(decline_kind=decline.kind.value,
                          decline_code=None if decline.code is None else str(decline.code),
                          next_attempt_at=DEFAULT_SCHEDULE.next_attempt(decline, entry.attempt or 1, now, now))
        return fields

    # -- 2. the gateway's list -------------------------------------------------------------------

    def compare_page(self, orders: List[Entry], seen: SeenOrders) -> None:
        kept = [o for o in orders if not self.ignored(o.order_number)]
        self.summary.ignored += len(orders) - len(kept)
        orders = kept
        readable = [o for o in orders if isinstance(o, OrderDetails) and o.order_number]
        for order in orders:
            if isinstance(order, UnreadableOrder):
                self.emit(Difference(Kind.UNREADABLE, order.order_number,
                                     detail=f"a listed order could not be read ({order.reason}); nothing concluded"))
        numbers = [o.order_number for o in readable if o.order_number]
        fresh = sorted({number for number in numbers if number not in seen})  # a repeat is compared once only
        self.page_was_new = not numbers or bool(fresh)
        for number in seen.add(numbers):
            self.emit(Difference(Kind.DUPLICATE, number, detail="listed more than once in the window"))
        entries, looked = self.journal.entries(fresh), self.ledger.looked(fresh)
        left = set(fresh)
        for details in readable:
            number = details.order_number or ""
            if number in left:
                left.discard(number)
                self.compare_one(details, entries.get(number), looked.get(number, (0, False)))

    def compare_one(self, details: OrderDetails, entry: Optional[JournalEntry],
                    looked: Tuple[int, bool]) -> None:
        found, remember = compare(details, entry, looked)
        for difference in found:
            self.emit(difference)
        if remember is not None and details.order_number:
            self.ledger.set_looked(details.order_number, remember[0], remember[1], self.clock())

    # -- 3. the journal's rows -------------------------------------------------------------------

    def check_journal(self, seen: Optional[SeenOrders], since: float, until: float) -> None:
        for entry in self.ledger.settled_between(since, until):
            self.summary.journal_rows += 1
            if (seen is not None and entry.order_number in seen) or self.ignored(entry.order_number):
                continue
            details, why = self.look_up(entry.order_number)
            if why is not None:
                self.emit(Difference(Kind.UNREADABLE, entry.order_number, journal_state=entry.state.value,
                                     journal_amount=entry.amount_minor, currency=entry.currency,
                                     detail=f"the look-up failed ({why}); nothing concluded"))
            elif details is None:
                self.emit(Difference(Kind.NOT_PAID_AT_GATEWAY, entry.order_number, journal_state=entry.state.value,
                                     journal_amount=entry.amount_minor, currency=entry.currency,
                                     detail="the gateway has no order with this number"))
            else:
                self.compare_one(details, entry, self.ledger.looked([entry.order_number]).get(
                    entry.order_number, (0, False)))


def reconcile(client: Any, journal: Journal, since: dt.datetime, until: dt.datetime, *,
              report: Optional[Callable[[Difference], None]] = None, lookups_per_second: Optional[float] = 5.0,
              clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
              page_size: int = 200, max_pages: int = 50_000, ignore: Iterable[str] = ()) -> ReconcileSummary:
    """Reconcile ``journal`` (open) with the gateway of ``client`` (an
    :class:`~autopay_soap.client.AutopayClient`) for the window ``[since, until)`` (timezone-aware).

    ``report`` receives each :class:`~autopay_soap.reconcile.differences.Difference` as it is
    found (a :class:`~autopay_soap.reconcile.report.ReportWriter`, or any callable);
    ``lookups_per_second`` paces the per-order look-ups (T-Bank's ``CheckOrder``...); ``ignore``:
    order-number patterns (``fnmatch``: ``"WEB-*"``) of orders another system makes — the website's
    first payments — which are neither listed nor looked up. The module
    docstring tells the three passes; docs/reconciliation.rst what each kind means.
    """
    if since.tzinfo is None or until.tzinfo is None or not since < until:
        from ..errors import ValidationError

        raise ValidationError("since/until: a timezone-aware window that starts before it ends", field="since")
    summary = ReconcileSummary(client.gateway.name, since, until)
    run = _Reconciliation(client, journal, summary, report or (lambda difference: None),
                          _Pace(lookups_per_second, clock, sleep), clock, tuple(ignore))
    run.settle_unknown()
    seen: Optional[SeenOrders] = None
    try:
        if isinstance(client.gateway, OrderListGateway):
            seen = SeenOrders()
            listing = Listing(client.gateway, since, until, page_size=page_size, max_pages=max_pages)
            for orders in listing.pages_of_orders(lambda orders: run.page_was_new):
                run.compare_page(orders, seen)
            summary.gateway_orders, summary.complete, summary.problem = listing.listed, listing.complete, \
                listing.problem
            if not listing.complete:
                run.emit(Difference(Kind.UNREADABLE, detail=f"the order list stopped: {listing.problem}"))
                return summary  # an order missing from a list cut short proves nothing
        else:
            summary.cannot_see = (Kind.GATEWAY_ONLY.value,)
        run.check_journal(seen, since.timestamp(), until.timestamp())
    finally:
        if seen is not None:
            seen.close()
    return summary

