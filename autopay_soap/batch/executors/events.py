"""How an executor reports to its run: one small protocol (:class:`RunEvents`), the run's own
record of it (:class:`RunTracker`), and one pass over the file as an executor is asked to charge it
(:class:`ChargePass`).

A run makes one :class:`RunTracker`; every executor — threads, worker processes (through a queue
to their parent), Celery — reports each recorded row, a refused setting, a failure and a message
for the operator through the same calls, and reads the same start gate.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Protocol

import attr

from ...client import AutopayClient
from ...declines import RetrySchedule
from ...redact import describe_callable
from ..card_memory import CardMemory
from ..gate import StartGate
from ..journal import Journal
from ..rows import ChargeRow, chunks
from ..spool import spooled_rows
from ..states import RowState

__all__ = ["ChargePass", "RunEvents", "RunTracker"]

log = logging.getLogger(__name__)


class RunEvents(Protocol):
    """What every executor reports, and the start gate it obeys."""

    gate: StartGate

    @property
    def aborted(self) -> bool:
        """True after a second signal: leave at once, write nothing more."""

    def charged(self, state: RowState) -> None:
        """A row's result was recorded."""

    def setting_refused(self, reason: str) -> None:
        """A setting broke mid-run (credentials, a merchant decline): no charge starts after this."""

    def failed(self, reason: str) -> None:
        """The run cannot go on (a journal that cannot be written, a worker that cannot start)."""

    def say(self, text: str) -> None:
        """A message for the operator, on its own line under the progress (logged too)."""

    def when_stopped(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` once when the run stops (at once if it has stopped already)."""


@attr.s(slots=True)
class RunTracker:
    """One run's counts, stop and errors (the parent's :class:`RunEvents`). Thread-safe."""

    gate: StartGate = attr.ib()
    counts: Dict[str, int] = attr.ib(factory=dict, init=False)
    config_error: Optional[str] = attr.ib(default=None, init=False)
    worker_error: Optional[str] = attr.ib(default=None, init=False)
    stopped_by: Optional[str] = attr.ib(default=None, init=False)
    in_flight_at_stop: Optional[int] = attr.ib(default=None, init=False)
    aborted: bool = attr.ib(default=False, init=False)
    on_stop: List[Callable[[], None]] = attr.ib(factory=list, init=False)
    """Called once when the run stops (a cluster marks its batch stopped)."""
    notice: Callable[[str], None] = attr.ib(default=lambda text: None, init=False)
    """Where a stop is said to the operator (the progress display)."""
    _lock: threading.Lock = attr.ib(factory=threading.Lock, init=False)

    def charged(self, state: RowState) -> None:
        """Count a recorded row."""
        with self._lock:
            self.counts[state.value] = self.counts.get(state.value, 0) + 1

    def snapshot(self) -> Dict[str, int]:
        """This run's rows per state so far."""
        with self._lock:
            return dict(self.counts)

    def in_flight(self) -> int:
        """Charges started and not yet recorded."""
        return max(self.gate.started_count() - sum(self.snapshot().values()), 0)

    def setting_refused(self, reason: str) -> None:
        """Remember the first refused setting and stop starting charges."""
        if self.config_error is None:
            self.config_error = reason
            log.error("batch run stopped by a setting: %s", reason)
        self.request_stop("configuration")

    def failed(self, reason: str) -> None:
        """Remember the first failure and close the gate."""
        log.error("batch run stopped: %s", reason)
        self.worker_error = self.worker_error or reason
        self.gate.close()

    def say(self, text: str) -> None:
        """Log ``text`` and show it to the operator."""
        log.warning("%s", text)
        self.notice(text)

    def when_stopped(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when the run stops (at once if it has)."""
        if hook in self.on_stop:
            return
        self.on_stop.append(hook)
        if self.stopped_by is not None:
            hook()

    def request_stop(self, reason: str) -> None:
        """Close the start gate (once): no charge starts after this; note what was in flight."""
        with self._lock:
            if self.stopped_by is not None:
                return
            self.stopped_by = reason
        started = self.gate.close()
        in_flight = self.in_flight_at_stop = max(started - sum(self.snapshot().values()), 0)
        text = (f"{reason}: stopping; no new charge starts, {in_flight} in flight finish"
                + ("" if reason in ("configuration", "stop()") else " (a second signal stops at once)"))
        self.say(text)
        for hook in self.on_stop:
            hook()


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ChargePass:
    """One pass over the rows of the input file: what an executor needs to charge them. The rows
    come from the run's :class:`~autopay_soap.batch.spool.RowSpool` (``rows_from``, its path), as
    the pre-flight checked them: the file is read once per run.

    ``reconcile``: charge only the rows an earlier run left unresolved (looked up first);
    otherwise only the rows the journal does not know. ``fresh``: the journal was empty when
    the run began, so no row needs a look-up.
    """

    rows_from: str
    journal: Journal
    events: RunEvents
    reconcile: bool
    fresh: bool
    client_factory: Callable[[], AutopayClient] = attr.ib(repr=describe_callable)
    schedule: RetrySchedule
    clock: Callable[[], float]
    memory: Optional[CardMemory] = None

    def rows(self, states: Any, *, shard: "tuple[int, int]" = (0, 1)) -> Iterator[ChargeRow]:
        """The file's rows this pass charges, in file order (``states``: those an earlier run's
        row may be in to be charged again; ``shard`` ``(k, n)``: only positions ``k`` mod ``n``).
        The journal is asked about ``LOOKAHEAD`` (500) rows at a time. Stops when the gate closes."""
        for chunk in chunks(self._share(shard), LOOKAHEAD):
            known = {} if self.fresh else self.journal.entries([item.order_number for item in chunk])
            for item in chunk:
                if self.events.gate.stop.is_set():
                    return
                entry = known.get(item.order_number)
                wanted = (entry is not None and entry.state in states
                          and not entry.differences(item)) if self.reconcile else (entry is None)
                if wanted:
                    yield item

    def _share(self, shard: "tuple[int, int]") -> Iterator[ChargeRow]:
        for item in spooled_rows(self.rows_from, shard):
            if self.events.gate.stop.is_set():
                return
            yield item


LOOKAHEAD = 500
"""Rows read ahead of the one charged, so the journal is asked about them in one look-up."""

