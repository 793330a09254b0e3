"""BatchRunner: charge a file of autopayments exactly once, resumably.

1. **Pre-flight**, before the first charge: the input file must exist, the journal's folder
   too, the report path must be writable (and not the input or the journal); one client is
   built; every row is read and checked, first by the file's own rules, then by the chosen
   transport's (:meth:`AutopayClient.check_autopay`: RUB only and description length on
   T-Bank, a return URL on RBS...); then the gateway is asked about an order number that
   cannot exist (:meth:`AutopayClient.check_access`), which proves the endpoint and the
   credentials. Bad rows raise :class:`BatchInputError`, a bad setting
   :class:`BatchConfigError`; nothing is charged. ``dry_run`` stops after the pre-flight.
2. The journal is locked (a second runner is refused) and rows left in flight, unknown or
   for retry by an earlier run are reconciled first: the same order number is charged again
   through :meth:`AutopayClient.autopay`, which finds a paid order and never pays it twice.
3. The other rows are charged with ``concurrency`` requests in flight and at most
   ``rate_limit`` charges started per second; rows already final in the journal are skipped.
   With ``processes`` > 1 the rows are dealt out to that many worker processes (row *i* to
   process *i* mod *N*), each with its share of the concurrency and the rate, each writing
   the same journal; one process's CPU (its GIL) then no longer caps the run. Who charges is an
   executor (:mod:`autopay_soap.batch.executors`): threads, processes, or Celery workers
   (``autopay_soap.celery.ClusterRunner``); every one charges a row through
   :func:`~autopay_soap.batch.charge.charge_one`.
4. **Stopping.** SIGINT (Ctrl-C) or SIGTERM closes the *start gate*: no charge starts after
   it, in any process; rows queued stay not started; a charge already started sends no
   further request (:func:`autopay_soap.http.stop_scope`), while a request already on the
   wire is read to its end and recorded. The run ends with :data:`EXIT_INTERRUPTED` (130) or
   :data:`EXIT_TERMINATED` (143). A second signal ends the run at once
   (:class:`BatchAborted`): worker processes are killed, and what was in flight stays
   ``in_flight`` in the journal for the next run to reconcile.
5. **A setting that breaks mid-run** (a password rotated: the gateway refuses the
   credentials, or a TLS trust problem) closes the gate the same way; the refused rows are
   journaled as ``retry`` and charged by the next run once the setting is fixed; the exit
   code is :data:`EXIT_CONFIG`, never the "some rows declined" code.
6. A report has one row per input row (order number, outcome, order id, codes, message).
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, TextIO, Tuple, Union

import attr

from ..client import AutopayClient
from ..declines import DEFAULT_SCHEDULE, RetrySchedule
from ..errors import ValidationError
from ..observe import Hook
from ..redact import describe_callable
from .card_memory import CardMemory
from .errors import BatchAborted, BatchConfigError, BatchInputError, BatchWorkerError
from .executors import ChargePass, Executor, ProcessExecutor, RunTracker, ThreadExecutor
from .journal import Journal, open_journal
from .outcome import (
    EXIT_CONFIG,
    EXIT_DECLINED,
    EXIT_INTERRUPTED,
    EXIT_INVALID_INPUT,
    EXIT_JOURNAL_BUSY,
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_UNKNOWN,
    BatchSummary,
)
from .preflight import check_file, check_paths
from .progress import Progress
from .report import summarise
from .signals import StopOnSignals
from .spool import FileDigest, RowSpool
from .states import QUEUED

__all__ = [
    "EXIT_CONFIG", "EXIT_DECLINED", "EXIT_INTERRUPTED", "EXIT_INVALID_INPUT", "EXIT_JOURNAL_BUSY", "EXIT_MISMATCH",
    "EXIT_OK", "EXIT_TERMINATED", "EXIT_UNKNOWN",
    "BatchAborted", "BatchConfigError", "BatchInputError", "BatchRunner", "BatchSummary", "BatchWorkerError",
]

log = logging.getLogger(__name__)


def _positive_int(_inst: Any, attribute: "attr.Attribute[int]", value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{attribute.name}: must be a whole number of at least 1", field=attribute.name)


def _positive_rate(_inst: Any, attribute: "attr.Attribute[Optional[float]]", value: Optional[float]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValidationError(f"{attribute.name}: must be a number of charges per second above 0 (or None)",
                              field=attribute.name)


def with_events(factory: Callable[[], AutopayClient], events: Sequence[Hook]) -> AutopayClient:
    """A client from ``factory`` that also calls ``events`` (:attr:`BatchRunner.factory`)."""
    client = factory()
    client.events = tuple(client.events) + tuple(events)
    return client


@attr.s(slots=True)
class BatchRunner:
    """Runs a batch file of autopayments against a gateway, exactly once per order number.

    :param client_factory: builds one :class:`AutopayClient` per worker thread (and one for
        the pre-flight).
    :param journal: path of the SQLite journal (one per batch; reuse it to resume). Its folder
        must exist.
    :param concurrency: charges in flight at once (over all processes).
    :param rate_limit: charges started per second at most (None: no limit).
    :param progress: where to show progress (default: standard error). A terminal gets a
        line redrawn four times a second, anything else a status line every
        ``progress_interval`` seconds.
    :param quiet: show no progress at all.
    :param processes: worker processes (default 1: threads in this process only). With more,
        ``client_factory`` must be picklable (a module-level function or a
        ``functools.partial``), since each process is started afresh ("spawn") and builds its
        own clients. Worth it when one process's CPU is the limit: a fast gateway and
        ``concurrency`` of 16 or more (see the performance page of the docs).
    :param delimiter: the CSV separator (default: found from the header line).
    :param check_access: authenticate against the gateway in the pre-flight (default True).
    :param progress_interval: seconds between status lines when ``progress`` is not a terminal.
    :param schedule: when soft declines fall due again (``next_attempt_at`` in the journal and the
        report; ``autopay-soap dunning`` reads it).
    :param clock: seconds since the epoch, for ``finished_at`` and ``next_attempt_at`` (tests pass
        the sandbox's clock).
    :param card_memory: the merchant's hard-decline memory, which outlives one file and its
        journal (``autopay_soap.batch.card_memory``); default ``$AUTOPAY_STATE_DIR/
        hard-declines.sqlite``. Not used with a PostgreSQL journal, whose look-up spans the database.
    :param executor: who charges the rows (:mod:`autopay_soap.batch.executors`); by default
        threads, or worker processes when ``processes`` > 1.
    :param events: hooks given every client the factory makes (:mod:`autopay_soap.observe`): an
        event per gateway exchange and per row. With worker processes they must be picklable, and
        each process calls its own copy.
    """

    client_factory: Callable[[], AutopayClient] = attr.ib(repr=describe_callable)
    journal: Union[str, Path] = attr.ib()
    concurrency: int = attr.ib(default=8, validator=_positive_int)
    rate_limit: Optional[float] = attr.ib(default=None, validator=_positive_rate)
    progress: Optional[TextIO] = attr.ib(default=None)
    processes: int = attr.ib(default=1, validator=_positive_int)
    quiet: bool = attr.ib(default=False)
    delimiter: Optional[str] = attr.ib(default=None)
    check_access: bool = attr.ib(default=True)
    progress_interval: float = attr.ib(default=30.0)
    schedule: RetrySchedule = attr.ib(factory=lambda: DEFAULT_SCHEDULE)
    clock: Callable[[], float] = attr.ib(default=time.time, repr=False)
    card_memory: Union[str, Path, None] = attr.ib(default=None, kw_only=True)
    executor: Optional[Executor] = attr.ib(default=None, kw_only=True)
    events: Tuple[Hook, ...] = attr.ib(default=(), converter=tuple, kw_only=True, repr=False)
    _tracker: Optional[RunTracker] = attr.ib(default=None, init=False, repr=False)
    """The run in progress (a new one per :meth:`run`)."""

    @property
    def factory(self) -> Callable[[], AutopayClient]:
        """``client_factory``, its clients given :attr:`events` too (picklable when both parts are)."""
        return functools.partial(with_events, self.client_factory, self.events) if self.events else self.client_factory

    def stop(self) -> None:
        """Stop the run as SIGINT does: no charge starts after this call; what is in flight
        finishes and is recorded. Thread-safe."""
        if self._tracker is not None:
            self._tracker.request_stop("stop()")

    def chosen_executor(self) -> Executor:
        """The executor this runner charges with: the one given, else threads, or worker
        processes when ``processes`` > 1 (never more processes than ``concurrency``)."""
        if self.executor is not None:
            return self.executor
        count = min(self.processes, self.concurrency)
        if count > 1:
            return ProcessExecutor(count, self.concurrency, self.rate_limit)
        return ThreadExecutor(self.concurrency, self.rate_limit)

    def run(self, path: Union[str, Path], *, dry_run: bool = False,
            report: Union[str, Path, None] = None) -> BatchSummary:
        """Pre-flight, then (unless ``dry_run``) charge the file; writes ``report`` if given.

        Raises :class:`BatchInputError` (bad file), :class:`BatchConfigError` (bad setting),
        :class:`~autopay_soap.batch.JournalBusy`, :class:`BatchWorkerError` (a worker could not
        start or died) and, on a second signal, :class:`BatchAborted`.
        """
        started = time.monotonic()
        path = Path(path)
        executor = self.chosen_executor()
        executor.check(str(self.journal), self.factory)
        check_paths(path, report, self.journal, self.card_memory)
        if dry_run:
            rows = check_file(self.factory, path, delimiter=self.delimiter, access=self.check_access)
            return BatchSummary(rows=rows, dry_run=True, elapsed=time.monotonic() - started)
        with RowSpool() as spool:  # the file is read here only; every later pass reads the rows checked
            rows = check_file(self.factory, path, delimiter=self.delimiter, access=self.check_access, spool=spool)
            summary = self._charge_file(executor, path, spool.finish(), rows, report)
        summary.elapsed = time.monotonic() - started
        return summary

    def _charge_file(self, executor: Executor, path: Path, spool: RowSpool, rows: int,
                     report: Union[str, Path, None]) -> BatchSummary:
        """Charge the rows the pre-flight checked (``spool``); the summary."""
        tracker = self._tracker = RunTracker(executor.gate())
        with open_journal(self.journal) as journal:
            memory = None if journal.shared else CardMemory(self.card_memory)
            try:
                self._bind_file(journal, spool.digest)
                earlier = {state: count for state, count in journal.counts().items() if state not in QUEUED}
                display = self._make_display(rows, earlier, tracker)
                tracker.notice = display.notice
                job = functools.partial(ChargePass, spool.path, journal, tracker, client_factory=self.factory,
                                        schedule=self.schedule, clock=self.clock, memory=memory)
                reconciled = self._charge(executor, tracker, journal, job, display)
                summary = summarise(spool.rows(), journal, report)
            finally:
                if memory is not None:
                    memory.close()
        if tracker.worker_error is not None:
            raise BatchWorkerError(f"the run was stopped: {tracker.worker_error}; run again with the same journal "
                                   f"to go on ({summary.paid + summary.held} paid or held so far)")
        summary.reconciled = reconciled
        summary.charged_this_run = sum(tracker.snapshot().values())  # recorded by this run, not merely queued
        summary.stopped_by = tracker.stopped_by
        summary.interrupted = tracker.stopped_by is not None and tracker.stopped_by != "configuration"
        summary.in_flight_at_stop = tracker.in_flight_at_stop
        summary.config_error = tracker.config_error
        return summary

    @staticmethod
    def _charge(executor: Executor, tracker: RunTracker, journal: Journal, job: Callable[..., ChargePass],
                display: Progress) -> int:
        """The two passes: rows an earlier run left unresolved, then the rows the journal does
        not know; SIGINT and SIGTERM stop them. How many rows the first pass handed on."""
        with StopOnSignals(tracker):
            display.start()
            try:
                fresh = journal.is_empty()
                reconciled = executor.charge(job(reconcile=True, fresh=False)) if journal.unresolved_count() else 0
                if not tracker.gate.stop.is_set():
                    executor.charge(job(reconcile=False, fresh=fresh))
            finally:
                display.finish()
        return reconciled

    @staticmethod
    def _bind_file(journal: Journal, digest: FileDigest) -> None:
        """A batch in PostgreSQL is one file: another (an edited one) under its name is refused.
        The digest is of the bytes the pre-flight read and checked (no second read)."""
        try:
            journal.bind_file(digest.hexdigest())
        except ValueError as exc:
            raise BatchConfigError(f"journal: {exc}; nothing was charged", setting="journal") from None

    def _make_display(self, rows: int, earlier: Dict[str, int], tracker: RunTracker) -> Progress:
        import sys

        target = self.progress if self.progress is not None else sys.stderr
        stream = None if self.quiet else target
        tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        return Progress(stream, rows, tracker.snapshot, tracker.in_flight, earlier=earlier, tty=tty,
                        interval=self.progress_interval, notices=target)
