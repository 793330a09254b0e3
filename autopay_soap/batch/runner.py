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
   the same journal; one process's CPU (its GIL) then no longer caps the run.
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

import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, Optional, TextIO, Tuple, Union

import attr

from ..client import AutopayClient, ChargeOutcome
from ..declines import DEFAULT_SCHEDULE, DeclineKind, RetrySchedule, retry_order_number
from ..declines.schedule import DAY, next_day_start
from ..errors import (
    AccessDenied,
    AuthenticationError,
    AutopayError,
    ConfigurationError,
    GatewayError,
    Interrupted,
    OrderMismatch,
    TLSError,
    ValidationError,
)
from ..http import stop_scope
from ..redact import describe_callable
from .card_memory import CardMemory
from .errors import BatchAborted, BatchConfigError, BatchInputError, BatchWorkerError
from .gate import _Gate, _RateLimiter
from .journal import UNRESOLVED_STATES
from .journal_pg import PostgresJournal
from .journals import AnyJournal, is_url, open_journal
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
from .preflight import check_access, check_report, check_row, describe
from .progress import Progress
from .report import open_report, report_record
from .rows import ChargeRow, RowError, file_digest, read_rows, validate_file

__all__ = [
    "EXIT_CONFIG", "EXIT_DECLINED", "EXIT_INTERRUPTED", "EXIT_INVALID_INPUT", "EXIT_JOURNAL_BUSY", "EXIT_MISMATCH",
    "EXIT_OK", "EXIT_TERMINATED", "EXIT_UNKNOWN",
    "BatchAborted", "BatchConfigError", "BatchInputError", "BatchRunner", "BatchSummary", "BatchWorkerError",
]

log = logging.getLogger(__name__)

_STATE_OF = {ChargeOutcome.PAID: "paid", ChargeOutcome.HELD: "held", ChargeOutcome.DECLINED: "declined",
             ChargeOutcome.UNKNOWN: "unknown", ChargeOutcome.PENDING: "unknown"}
_CONFIG_ERRORS = (AuthenticationError, AccessDenied, TLSError, ConfigurationError)
"""Errors that are about the settings, not the row: the run stops and the row is left for the next run."""


_OUTCOME_OF_STATE = {"in_flight": "unknown", "pending": "not_started", "postponed": "not_started"}
"""Journal states that are not outcomes: in flight is unknown, queued for a worker (a cluster run)
is not started."""


def outcome_of_row(client: AutopayClient, row: ChargeRow, *, schedule: RetrySchedule = DEFAULT_SCHEDULE,
                   clock: Callable[[], float] = time.time,
                   first_failed_at: Optional[float] = None) -> Tuple[str, Dict[str, Any]]:
    """Charge one row; its journal state and fields, whatever happens (no exception escapes).

    A declined (or refused) row gets its ``decline_kind`` and ``decline_code`` and, by
    ``schedule``, its ``next_attempt_at`` (``first_failed_at``: when the charge's first attempt
    failed; this attempt's time for a first charge). A retry row (``attempt`` 2 or more) looks the
    attempt before it up first (:meth:`AutopayClient.autopay`'s ``retry_of``).
    """
    state, fields = _charge_outcome(client, row)
    now = clock()
    fields["finished_at"] = now
    decline = fields.pop("decline", None)
    if decline is not None:
        fields["decline_kind"] = decline.kind.value
        fields["decline_code"] = None if decline.code is None else str(decline.code)
        fields["next_attempt_at"] = schedule.next_attempt(decline, row.attempt, first_failed_at or now, now)
        if fields.get("message") is None:
            fields["message"] = decline.reason
    return state, fields


def _charge_outcome(client: AutopayClient, row: ChargeRow) -> Tuple[str, Dict[str, Any]]:
    retry_of = retry_order_number(row.root_order_number, row.attempt - 1, max_len=row.max_order_number) \
        if row.attempt > 1 else None
    try:
        result = client.autopay(row.order_number, row.amount, client_id=row.client_id or None,
                                binding_id=row.binding_id, account_token=row.account_token,
                                two_stage=row.two_stage, description=row.description, retry_of=retry_of,
                                receipt=row.receipt)
    except OrderMismatch as exc:  # the number is another charge's: nothing was charged for this row
        return "mismatch", {"order_id": exc.order_id, "message": exc.message}
    except Interrupted:  # the run is stopping: an earlier request of the row may have landed
        return "unknown", {"message": "the run stopped before this charge's next request; the next run with the "
                                      "same journal reconciles it"}
    except _CONFIG_ERRORS as exc:  # a setting, not the row: charged by the next run once it is fixed
        return "retry", {"order_id": exc.order_id, "gateway_code": exc.gateway_code,
                         "message": f"not charged: {describe(exc)}; fix the setting and run again"}
    except ValidationError as exc:  # refused before sending (cannot happen after the pre-flight's row checks)
        return "failed", {"message": exc.message}
    except GatewayError as exc:  # the gateway's word: a refusal (nothing charged), or a system error (ambiguous)
        fields = {"order_id": exc.order_id, "gateway_code": exc.gateway_code, "message": exc.message}
        if exc.ambiguous:
            return "unknown", fields
        if exc.decline is not None:  # the payment step was refused: a binding gone, a terminal setting
            return "declined", {**fields, "decline": exc.decline}
        return "failed", fields
    except AutopayError as exc:  # not sent, or unknown
        return "unknown", {"message": exc.message}
    except Exception as exc:  # noqa: BLE001 - a bug or a reply nobody foresaw: the row may have been charged
        log.error("row %s: unexpected %s; recorded as unknown, reconciled by the next run", row.order_number,
                  type(exc).__name__)
        return "unknown", {"message": f"unexpected error ({type(exc).__name__}); run again to reconcile"}
    return _STATE_OF[result.outcome], {"order_id": result.order_id, "action_code": result.action_code,
                                       "message": result.message, "decline": result.decline}


def merchant_declined(fields: Dict[str, Any]) -> bool:
    """True when a row's result is a merchant decline: the terminal's settings, not the card, so
    every later row would be refused the same way and the run stops."""
    return fields.get("decline_kind") == DeclineKind.MERCHANT.value


def merchant_stop_reason(where: str) -> str:
    """The stop reason of a run that met a merchant decline (``where``: the row or rows)."""
    return (f"the gateway refused an autopayment for the merchant's own settings ({where}); fix them, then retry "
            "those rows with autopay-soap dunning --include-merchant")


def blocked_or_charged(client: AutopayClient, journal: AnyJournal, row: ChargeRow, *,
                       schedule: RetrySchedule = DEFAULT_SCHEDULE,
                       clock: Callable[[], float] = time.time,
                       memory: Optional[CardMemory] = None) -> Tuple[str, Dict[str, Any]]:
    """The state and fields of a row whose intent is journaled: a card the journal (or the
    merchant's ``memory``, ``autopay_soap.batch.card_memory``) knows as hard-declined is not
    charged at all (``declined``, kind ``hard``, nothing sent); any other row is charged by
    :func:`outcome_of_row`, its retries scheduled from the first attempt's failure."""
    earlier = journal.hard_decline(row.instrument, row.order_number) or (
        memory.hard_decline(row.instrument, row.order_number) if memory is not None else None)
    if earlier is not None:
        log.warning("row %s: the card was declined hard on order %s; not charged", row.order_number, earlier)
        return "declined", {"decline_kind": DeclineKind.HARD.value,
                            "message": f"not sent: this card was declined hard on order {earlier}; it is never "
                                       "charged again (ask the customer for another card)"}
    now = clock()
    postponed = card_cap_reached(journal, row, schedule, now)
    if postponed is not None:
        log.warning("row %s: %s", row.order_number, postponed)
        return "postponed", {"message": postponed, "next_attempt_at": next_day_start(now)}
    root = journal.get(row.root_order_number) if row.attempt > 1 else None
    first = root.finished_at if root is not None else None
    return outcome_of_row(client, row, schedule=schedule, clock=clock, first_failed_at=first)


def card_cap_reached(journal: AnyJournal, row: ChargeRow, schedule: RetrySchedule, now: float) -> Optional[str]:
    """Why ``row`` may not be sent now under the schedule's per-card caps (None: it may); one
    look-up in the journal.

    Checked when the charge is about to be sent, whatever order files were planned and charged
    in: a retry (attempt 2 or more) needs room in the card's attempts of this UTC day and of 30
    days; a first charge is held back only on a card retried earlier this UTC day (the card is in
    dunning; several subscriptions charged on one card the same night are not held back)."""
    today = next_day_start(now) - DAY
    if row.attempt == 1:
        if journal.card_history(row.instrument, today, retries_only=True):
            return "not sent: the card was retried earlier today (dunning); postponed to the next UTC day"
        return None
    history = journal.card_history(row.instrument, now - 30 * DAY)
    tried_today = sum(1 for at in history if at >= today)
    if tried_today >= schedule.per_card_per_day:
        return (f"not sent: the card had {tried_today} attempt(s) today (at most {schedule.per_card_per_day} a "
                "day); postponed to the next UTC day")
    if len(history) >= schedule.per_card_30_days:
        return (f"not sent: the card had {len(history)} attempts in 30 days (at most "
                f"{schedule.per_card_30_days}); postponed to the next UTC day")
    return None


def _positive_int(_inst: Any, attribute: "attr.Attribute[int]", value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{attribute.name}: must be a whole number of at least 1", field=attribute.name)


def _positive_rate(_inst: Any, attribute: "attr.Attribute[Optional[float]]", value: Optional[float]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValidationError(f"{attribute.name}: must be a number of charges per second above 0 (or None)",
                              field=attribute.name)


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
    _memory: Optional[CardMemory] = attr.ib(default=None, init=False)
    _gate: _Gate = attr.ib(factory=_Gate.for_threads, init=False)
    _counts: Dict[str, int] = attr.ib(factory=dict, init=False)
    _counts_lock: threading.Lock = attr.ib(factory=threading.Lock, init=False)
    _events: Any = attr.ib(default=None, init=False)  # in a worker process: the queue to its parent
    _worker_error: Optional[str] = attr.ib(default=None, init=False)
    _config_error: Optional[str] = attr.ib(default=None, init=False)
    _stopped_by: Optional[str] = attr.ib(default=None, init=False)
    _in_flight_at_stop: Optional[int] = attr.ib(default=None, init=False)
    _stop_lock: threading.Lock = attr.ib(factory=threading.Lock, init=False)
    _signal: Optional[int] = attr.ib(default=None, init=False)
    _wake: threading.Event = attr.ib(factory=threading.Event, init=False)
    _aborted: bool = attr.ib(default=False, init=False)
    _display: Optional[Progress] = attr.ib(default=None, init=False)

    @property
    def _stop(self) -> Any:
        return self._gate.stop

    def stop(self) -> None:
        """Stop the run as SIGINT does: no charge starts after this call; what is in flight
        finishes and is recorded. Thread-safe."""
        self._request_stop("stop()")

    def run(self, path: Union[str, Path], *, dry_run: bool = False,
            report: Union[str, Path, None] = None) -> BatchSummary:
        """Pre-flight, then (unless ``dry_run``) charge the file; writes ``report`` if given.

        Raises :class:`BatchInputError` (bad file), :class:`BatchConfigError` (bad setting),
        :class:`~autopay_soap.batch.JournalBusy`, :class:`BatchWorkerError` (a worker could not
        start or died) and, on a second signal, :class:`BatchAborted`.
        """
        started = time.monotonic()
        path = Path(path)
        in_processes = min(self.processes, self.concurrency) > 1
        if in_processes:
            self._check_picklable()
        self._check_paths(path, report)
        rows = self._preflight(path)
        if dry_run:
            return BatchSummary(rows=rows, dry_run=True, elapsed=time.monotonic() - started)
        context = multiprocessing.get_context("spawn") if in_processes else None
        self._gate = _Gate.for_processes(context) if context is not None else _Gate.for_threads()
        self._counts = {}
        self._worker_error = self._config_error = self._stopped_by = None
        self._in_flight_at_stop = self._signal = None
        self._aborted = False
        self._wake = threading.Event()
        self._memory = None if is_url(self.journal) else CardMemory(self.card_memory)
        with open_journal(self.journal) as journal:
            self._bind_file(journal, path)
            earlier = {state: count for state, count in journal.counts().items()
                       if state not in UNRESOLVED_STATES}
            display = self._display = self._make_display(rows, earlier)
            stopper = threading.Thread(target=self._await_signal, name="batch-stopper", daemon=True)
            stopper.start()
            previous = self._install_signals()
            display.start()
            try:
                fresh = journal.is_empty()
                charge = self._charge_in_processes if context is not None else self._charge
                reconciled = charge(path, journal, reconcile=True) if journal.unresolved_count() else 0
                charged = 0
                if not self._stop.is_set():
                    charged = charge(path, journal, reconcile=False, fresh=fresh)
            finally:
                self._restore_signals(previous)
                self._wake.set()  # release the stopper thread (after the handlers are gone)
                display.finish()
            stopper.join()
            summary = self._summarise(path, journal, report)
        if self._memory is not None:
            self._memory.close()
        if self._worker_error is not None:
            raise BatchWorkerError(f"the run was stopped: {self._worker_error}; run again with the same journal "
                                   f"to go on ({summary.paid + summary.held} paid or held so far)")
        summary.reconciled = reconciled
        summary.charged_this_run = reconciled + charged
        summary.stopped_by = self._stopped_by
        summary.interrupted = self._stopped_by is not None and self._stopped_by != "configuration"
        summary.in_flight_at_stop = self._in_flight_at_stop
        summary.config_error = self._config_error
        summary.elapsed = time.monotonic() - started
        return summary

    # -- pre-flight ------------------------------------------------------------------------

    def _check_paths(self, path: Path, report: Union[str, Path, None]) -> None:
        if not path.is_file():
            problem = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise BatchInputError([RowError(0, "file", f"{path} {problem}")], path=path)
        if not os.access(path, os.R_OK):
            raise BatchInputError([RowError(0, "file", f"{path} cannot be read (permission denied)")], path=path)
        if is_url(self.journal):
            self._check_journal_url()
            if report is not None:
                check_report(Path(report), path, None)
            return
        self._check_card_memory()
        journal = Path(self.journal)
        if not journal.parent.is_dir():
            raise BatchConfigError(f"journal: the folder {journal.parent} does not exist (it is not created: a "
                                   "mistyped path would start a new journal and lose the record of earlier runs)",
                                   setting="journal")
        if report is not None:
            check_report(Path(report), path, journal)

    def _check_card_memory(self) -> None:
        """The merchant's hard-decline memory opens and reads (a garbage file, a folder or a FIFO
        in its place is a setting to fix, found before anything is charged)."""
        memory = CardMemory(self.card_memory)
        try:
            memory.check()
        except (OSError, sqlite3.Error) as exc:
            raise BatchConfigError(f"card_memory: {memory.path} cannot be used ({exc}); give another with "
                                   "--card-memory or AUTOPAY_STATE_DIR (nothing was charged)",
                                   setting="card_memory") from None

    @staticmethod
    def _bind_file(journal: AnyJournal, path: Path) -> None:
        """A batch in PostgreSQL is one file: another (an edited one) under its name is refused."""
        if isinstance(journal, PostgresJournal):
            try:
                journal.bind_file(file_digest(path))
            except ValueError as exc:
                raise BatchConfigError(f"journal: {exc}; nothing was charged", setting="journal") from None

    def _check_journal_url(self) -> None:
        """A PostgreSQL journal: the URL reads, psycopg is there and the server answers."""
        try:
            with open_journal(self.journal, runner_lock=False):
                pass
        except (ValueError, RuntimeError) as exc:
            raise BatchConfigError(f"journal: {exc}", setting="journal") from None
        except Exception as exc:  # noqa: BLE001 - psycopg's errors: the server did not answer or refused us
            raise BatchConfigError(f"journal: the PostgreSQL server cannot be used ({type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else 'no details'})",
                                   setting="journal") from None

    def _preflight(self, path: Path) -> int:
        """Build a client, check every row for the file and the transport, authenticate; the row count."""
        try:
            client = self.client_factory()
        except (AutopayError, ValueError) as exc:
            text = describe(exc) if isinstance(exc, AutopayError) else str(exc)
            raise BatchConfigError(f"the client could not be built: {text}", setting="client") from None
        try:
            found = validate_file(path, delimiter=self.delimiter, check=lambda row: check_row(client, row))
            if found.errors:
                raise BatchInputError(found.errors, bad_rows=found.bad_rows, path=path)
            if self.check_access:
                check_access(client)
        finally:
            client.close()
        return found.rows

    # -- signals ---------------------------------------------------------------------------

    def _install_signals(self) -> Optional[Dict[int, Any]]:
        """SIGINT and SIGTERM: the first closes the gate (through the stopper thread: a handler
        takes no lock), the second raises :class:`BatchAborted`. Main thread only."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_signal(signum: int, _frame: Any) -> None:
            if self._signal is not None:
                self._aborted = True
                raise BatchAborted(signum)
            self._signal = signum
            self._wake.set()  # only the stopper thread waits on this event: no lock is held here

        return {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def _restore_signals(previous: Optional[Dict[int, Any]]) -> None:
        for signum, handler in (previous or {}).items():
            signal.signal(signum, handler)

    def _await_signal(self) -> None:
        """The stopper thread: closes the gate when a signal arrives (or returns at the end of the run)."""
        self._wake.wait()
        if self._signal is not None:
            self._request_stop(signal.Signals(self._signal).name)

    def _request_stop(self, reason: str) -> None:
        """Close the start gate (once): no charge starts after this; note what was in flight."""
        with self._stop_lock:
            if self._stopped_by is not None:
                return
            self._stopped_by = reason
        started = self._gate.close()
        in_flight = max(started - sum(self._snapshot().values()), 0)
        self._in_flight_at_stop = in_flight
        text = (f"{reason}: stopping; no new charge starts, {in_flight} in flight finish"
                + ("" if reason in ("configuration", "stop()") else " (a second signal stops at once)"))
        log.warning("%s", text)
        if self._display is not None:
            self._display.notice(text)

    # -- charging --------------------------------------------------------------------------

    def _charge(self, path: Union[str, Path], journal: AnyJournal, *, reconcile: bool, fresh: bool = False,
                shard: Tuple[int, int] = (0, 1), parent_pid: Optional[int] = None) -> int:
        """Charge the rows of one pass with threads; returns how many were handed to workers.

        ``fresh``: the journal was empty when the run began, so no row needs a look-up.
        ``shard`` ``(k, n)``: only the rows whose position modulo ``n`` is ``k`` (a worker
        process's share). ``parent_pid``: stop feeding if that process is gone.
        """
        work: "queue.Queue[Optional[ChargeRow]]" = queue.Queue(maxsize=self.concurrency)
        limiter = _RateLimiter(self.rate_limit)
        submitted = 0
        workers = [threading.Thread(target=self._worker, args=(work, journal, limiter), daemon=True,
                                    name=f"batch-{i}") for i in range(self.concurrency)]
        for worker in workers:
            worker.start()
        position = -1
        try:
            for item in read_rows(path, delimiter=self.delimiter):
                if self._stop.is_set():
                    break
                if isinstance(item, RowError):  # validated already; cannot happen unless the file changed
                    continue
                position += 1
                if position % shard[1] != shard[0]:
                    continue
                if self._orphaned(parent_pid):
                    break
                entry = None if fresh else journal.get(item.order_number)
                wanted = (entry is not None and entry.state in UNRESOLVED_STATES
                          and not entry.differences(item)) if reconcile else (entry is None)
                if not wanted:
                    continue
                while not self._stop.is_set() and not self._orphaned(parent_pid):
                    try:
                        work.put(item, timeout=0.2)
                        submitted += 1
                        break
                    except queue.Full:
                        if not any(worker.is_alive() for worker in workers):  # cannot happen; never hang
                            self._fail("every worker thread ended")
        finally:
            if not self._aborted:  # a second signal: leave at once, the daemon threads die with the process
                for _ in workers:
                    work.put(None)
                for worker in workers:
                    worker.join()
        return submitted

    def _orphaned(self, parent_pid: Optional[int]) -> bool:
        """In a worker process: True (and stop) once the runner that started it is gone."""
        if parent_pid is None or os.getppid() == parent_pid:
            return False
        if not self._stop.is_set():
            log.error("the batch runner process %d is gone; this worker stops feeding rows", parent_pid)
            self._gate.close()
        return True

    def _bump(self, state: str) -> None:
        with self._counts_lock:
            self._counts[state] = self._counts.get(state, 0) + 1
        if self._events is not None:
            self._events.put(("state", state))

    def _snapshot(self) -> Dict[str, int]:
        with self._counts_lock:
            return dict(self._counts)

    def _worker(self, work: "queue.Queue[Optional[ChargeRow]]", journal: AnyJournal, limiter: _RateLimiter) -> None:
        try:
            client = self.client_factory()
        except Exception as exc:  # noqa: BLE001 - any failure: stop the run, say why, charge nothing more
            self._fail(f"a worker could not build its client ({describe(exc)})")
            while work.get() is not None:  # drain so the feeder never blocks on a full queue
                pass
            return
        try:
            with stop_scope(self._stop):
                while True:
                    row = work.get()
                    if row is None:
                        return
                    limiter.wait(self._stop)
                    if self._aborted or not self._gate.enter():
                        continue  # stopped: the row stays not started
                    self._charge_row(client, journal, row)
        finally:
            client.close()

    def _charge_row(self, client: AutopayClient, journal: AnyJournal, row: ChargeRow) -> None:
        """Intent, charge, result: one row. Never raises, so no worker is lost to any row."""
        try:
            journal.intend(row)
        except Exception as exc:  # noqa: BLE001 - a journal that cannot be written: nothing may be charged
            if not self._aborted:
                self._fail(f"the journal could not be written ({describe(exc)})")
            return
        try:
            state, fields = blocked_or_charged(client, journal, row, schedule=self.schedule, clock=self.clock,
                                               memory=self._memory)
        except Exception as exc:  # noqa: BLE001 - the journal could not be read: nothing was sent
            if not self._aborted:
                self._fail(f"the journal could not be read ({describe(exc)})")
            return
        if state == "retry":
            self._config_stop(fields["message"])
        try:
            journal.record(row.order_number, state, **fields)
        except Exception as exc:  # noqa: BLE001 - the row stays in flight and is reconciled by the next run
            if not self._aborted:
                self._fail(f"the journal could not be written ({describe(exc)})")
            return
        self._bump(state)
        if fields.get("decline_kind") == DeclineKind.HARD.value and self._memory is not None:
            try:
                self._memory.remember(row.instrument, row.order_number)
            except Exception as exc:  # noqa: BLE001 - the journal has it; the run stops: the memory must not miss it
                self._fail(f"the hard-decline memory {self._memory.path} could not be written ({describe(exc)})")
        if merchant_declined(fields):
            self._config_stop(merchant_stop_reason(f"row {row.order_number}: {fields.get('message')}"))

    def _config_stop(self, reason: str) -> None:
        """A setting broke mid-run: stop starting charges, remember why (the exit code says so)."""
        if self._config_error is None:
            self._config_error = reason
            log.error("batch run stopped by a setting: %s", reason)
        if self._events is not None:
            self._events.put(("config", reason))
        self._request_stop("configuration")

    def _fail(self, reason: str) -> None:
        log.error("batch run stopped: %s", reason)
        self._worker_error = self._worker_error or reason
        self._gate.close()
        if self._events is not None:
            self._events.put(("error", reason))

    # -- worker processes ------------------------------------------------------------------

    def _check_picklable(self) -> None:
        try:
            pickle.dumps(self.client_factory)
        except Exception as exc:  # noqa: BLE001 - pickle raises several types
            raise ValidationError(
                "client_factory: with processes > 1 it must be picklable (a module-level function or a "
                f"functools.partial), this one is not ({type(exc).__name__})", field="client_factory") from None

    def _charge_in_processes(self, path: Union[str, Path], journal: AnyJournal, *, reconcile: bool,
                             fresh: bool = False) -> int:
        """Charge the rows of one pass in worker processes (see the class docstring)."""
        context = multiprocessing.get_context("spawn")
        count = min(self.processes, self.concurrency)
        events = context.Queue()
        rate = self.rate_limit / count if self.rate_limit else None
        shares = [self.concurrency // count + (1 if k < self.concurrency % count else 0) for k in range(count)]
        memory = str(self._memory.path) if self._memory is not None else None
        tasks = [_ShardTask(self.client_factory, journal.location, str(path), k, count, shares[k], rate, reconcile,
                            fresh, os.getpid(), self.delimiter, self.schedule, self.clock, memory)
                 for k in range(count)]
        gate = (self._gate.stop, self._gate.lock, self._gate.started)
        workers = [context.Process(target=_charge_shard, args=(task, gate, events), daemon=True,
                                   name=f"autopay-batch-{task.index}") for task in tasks]
        for worker in workers:
            worker.start()
        submitted = finished = 0
        try:
            while finished < count:
                try:
                    kind, value = events.get(timeout=0.25)
                except queue.Empty:
                    if not any(worker.is_alive() for worker in workers):
                        break  # a process that died never reports
                    continue
                if kind == "state":
                    self._bump(value)
                elif kind == "submitted":
                    submitted += value
                    finished += 1
                elif kind == "config":
                    if self._config_error is None:
                        self._config_error = value
                    self._request_stop("configuration")
                elif kind == "error":  # the worker logged it and closed the shared gate already
                    self._worker_error = self._worker_error or value
        finally:
            if self._aborted:
                for worker in workers:
                    worker.kill()  # a second signal: at once; their rows in flight stay in the journal
            for worker in workers:
                worker.join()
            events.close()
        for worker in workers:
            if worker.exitcode != 0:
                self._fail(f"worker process {worker.name} exited with code {worker.exitcode}")
        return submitted

    # -- progress and the report -----------------------------------------------------------

    def _make_display(self, rows: int, earlier: Dict[str, int]) -> Progress:
        target = self.progress if self.progress is not None else sys.stderr
        stream = None if self.quiet else target
        tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        return Progress(stream, rows, self._snapshot,
                        lambda: max(self._gate.started_count() - sum(self._snapshot().values()), 0),
                        earlier=earlier, tty=tty, interval=self.progress_interval, notices=target)

    def _summarise(self, path: Union[str, Path], journal: AnyJournal,
                   report: Union[str, Path, None]) -> BatchSummary:
        summary = BatchSummary()
        out: Optional[IO[str]] = None
        writer: Optional[Callable[[Dict[str, Any]], None]] = None
        if report is not None:
            try:
                out, writer = open_report(Path(report))
            except OSError as exc:
                summary.report_error = f"{report}: {exc.strerror or exc}"
        try:
            for item in read_rows(path, delimiter=self.delimiter):
                if isinstance(item, RowError):
                    continue
                summary.rows += 1
                entry = journal.get(item.order_number)
                outcome = _OUTCOME_OF_STATE.get(entry.state, entry.state) if entry is not None else "not_started"
                message = entry.message if entry else None
                edits = entry.differences(item) if entry is not None and entry.state != "mismatch" else []
                if edits:  # the row was edited after its order number was charged (or tried)
                    message = (f"the row differs from what this order number was charged with: {'; '.join(edits)} "
                               f"(journal state: {outcome}); not charged again")
                    outcome = "mismatch"
                setattr(summary, outcome, getattr(summary, outcome) + 1)
                kind = entry.decline_kind if entry is not None and outcome in ("declined", "failed") else None
                if kind:
                    summary.decline_kinds[kind] = summary.decline_kinds.get(kind, 0) + 1
                if writer is not None and summary.report_error is None:
                    try:
                        writer(report_record(item, entry, outcome, message, kind))
                    except OSError as exc:  # a full disk: the summary is still worth having
                        summary.report_error = f"{report}: {exc.strerror or exc}"
        finally:
            if out is not None:
                try:
                    out.close()
                except OSError as exc:
                    summary.report_error = summary.report_error or f"{report}: {exc.strerror or exc}"
        return summary


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _ShardTask:
    """What a worker process needs to charge its share of one pass (picklable)."""

    client_factory: Callable[[], AutopayClient] = attr.ib(repr=describe_callable)
    journal: str
    path: str
    index: int
    count: int
    concurrency: int
    rate_limit: Optional[float]
    reconcile: bool
    fresh: bool
    parent_pid: int
    delimiter: Optional[str]
    schedule: RetrySchedule = DEFAULT_SCHEDULE
    clock: Callable[[], float] = time.time
    card_memory: Optional[str] = None


def _charge_shard(task: _ShardTask, gate: Tuple[Any, Any, Any], events: Any) -> None:
    """The body of a worker process: charge rows ``index`` mod ``count`` with threads, then report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # so does a service manager's SIGTERM
    runner = BatchRunner(task.client_factory, task.journal, concurrency=task.concurrency,
                         rate_limit=task.rate_limit, delimiter=task.delimiter, schedule=task.schedule, clock=task.clock)
    runner._gate = _Gate(*gate)
    runner._events = events
    runner._memory = CardMemory(task.card_memory) if task.card_memory is not None else None
    with open_journal(task.journal, runner_lock=False) as journal:
        submitted = runner._charge(task.path, journal, reconcile=task.reconcile, fresh=task.fresh,
                                   shard=(task.index, task.count), parent_pid=task.parent_pid)
    events.put(("submitted", submitted))
