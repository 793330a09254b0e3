"""BatchRunner: charge a file of autopayments exactly once, resumably.

1. The whole file is validated (streamed) before the first charge; bad rows are reported with
   line numbers and nothing is charged. ``dry_run`` stops there.
2. The journal is locked (a second runner is refused) and rows left in flight or unknown by
   an earlier run are reconciled first: the same order number is charged again through
   :meth:`AutopayClient.autopay`, which finds a paid order and never pays it twice.
3. The other rows are charged with ``concurrency`` requests in flight and at most
   ``rate_limit`` charges started per second; rows already final in the journal are skipped.
   With ``processes`` > 1 the rows are dealt out to that many worker processes (row *i* to
   process *i* mod *N*), each with its share of the concurrency and the rate, each writing
   the same journal; one process's CPU (its GIL) then no longer caps the run.
4. Ctrl-C stops feeding new rows, lets the charges in flight finish and be recorded, and the
   run ends with :data:`EXIT_INTERRUPTED`.
5. A report has one row per input row (order number, outcome, order id, codes, message).
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, TextIO, Tuple, Union

import attr

from ..client import AutopayClient, ChargeOutcome
from ..errors import AutopayError, GatewayError, OrderMismatch, ValidationError
from ..redact import describe_callable
from .journal import Journal
from .rows import ChargeRow, RowError, read_rows, validate_file

__all__ = [
    "EXIT_DECLINED", "EXIT_INTERRUPTED", "EXIT_INVALID_INPUT", "EXIT_JOURNAL_BUSY", "EXIT_MISMATCH", "EXIT_OK",
    "EXIT_UNKNOWN",
    "BatchInputError", "BatchRunner", "BatchSummary", "BatchWorkerError",
]

log = logging.getLogger("autopay_soap.batch")

EXIT_OK = 0
"""Every row is paid (or held, for two-stage rows)."""
EXIT_DECLINED = 3
"""Some rows were declined or refused by the gateway; none is unknown."""
EXIT_UNKNOWN = 4
"""Some rows have an unknown outcome: run again later with the same journal."""
EXIT_INVALID_INPUT = 5
"""The file has bad rows; nothing was charged."""
EXIT_JOURNAL_BUSY = 6
"""Another runner holds the journal; nothing was charged."""
EXIT_MISMATCH = 7
"""Some rows name an order number that is another charge (edited after it was charged, or a
number reused at the gateway): they were not charged. Fix the file; see the report."""
EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C; what was in flight was recorded. Run again to continue."""

_STATE_OF = {ChargeOutcome.PAID: "paid", ChargeOutcome.HELD: "held", ChargeOutcome.DECLINED: "declined",
             ChargeOutcome.UNKNOWN: "unknown", ChargeOutcome.PENDING: "unknown"}


class BatchInputError(AutopayError):
    """The batch file has bad rows (``errors``: line numbers and reasons). Nothing was charged."""

    def __init__(self, errors: List[RowError]) -> None:
        super().__init__(f"{len(errors)} bad row(s) in the batch file; nothing was charged")
        self.errors = errors


class BatchWorkerError(AutopayError):
    """A worker could not start (its client could not be built) or a worker process died.

    The run was stopped; what was charged before is in the journal, rows left in flight are
    reconciled by the next run with the same journal.
    """


def _describe(exc: BaseException) -> str:
    """An exception for a log or a message: our own errors carry no secret, others only their type."""
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, AutopayError) else type(exc).__name__


def _outcome_of_row(client: AutopayClient, row: ChargeRow) -> Tuple[str, Dict[str, Any]]:
    """Charge one row; its journal state and fields, whatever happens (no exception escapes)."""
    try:
        result = client.autopay(row.order_number, row.amount, client_id=row.client_id or None,
                                binding_id=row.binding_id, account_token=row.account_token,
                                two_stage=row.two_stage, description=row.description)
    except OrderMismatch as exc:  # the number is another charge's: nothing was charged for this row
        return "mismatch", {"order_id": exc.order_id, "message": exc.message}
    except ValidationError as exc:  # refused before sending (e.g. an SBP row on RBS)
        return "failed", {"message": exc.message}
    except GatewayError as exc:  # the gateway refused the request: nothing charged
        return "failed", {"order_id": exc.order_id, "gateway_code": exc.gateway_code, "message": exc.message}
    except AutopayError as exc:  # TLS or similar: not sent, or unknown
        return "unknown", {"message": exc.message}
    except Exception as exc:  # noqa: BLE001 - a bug or a reply nobody foresaw: the row may have been charged
        log.error("row %s: unexpected %s; recorded as unknown, reconciled by the next run", row.order_number,
                  type(exc).__name__)
        return "unknown", {"message": f"unexpected error ({type(exc).__name__}); run again to reconcile"}
    return _STATE_OF[result.outcome], {"order_id": result.order_id, "action_code": result.action_code,
                                       "message": result.message}


def _positive_int(_inst: Any, attribute: "attr.Attribute[int]", value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{attribute.name}: must be a whole number of at least 1", field=attribute.name)


@attr.s(slots=True, auto_attribs=True)
class BatchSummary:
    """Counts of one run, per final state of the file's rows."""

    rows: int = 0
    paid: int = 0
    held: int = 0
    declined: int = 0
    failed: int = 0
    unknown: int = 0
    mismatch: int = 0
    not_started: int = 0
    charged_this_run: int = 0
    reconciled: int = 0
    elapsed: float = 0.0
    interrupted: bool = False
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        """The process exit code for this outcome (see the ``EXIT_*`` constants)."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.mismatch:
            return EXIT_MISMATCH
        if self.unknown or self.not_started:
            return EXIT_UNKNOWN
        if self.declined or self.failed:
            return EXIT_DECLINED
        return EXIT_OK

    def as_dict(self) -> Dict[str, Any]:
        """A JSON-ready copy with the exit code."""
        return {**attr.asdict(self), "exit_code": self.exit_code}


class _RateLimiter:
    """Start at most ``rate`` operations per second (None: unlimited), shared by threads."""

    def __init__(self, rate: Optional[float]) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        if not self.interval:
            return
        with self._lock:
            slot = max(self._next, time.monotonic())
            self._next = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            stop.wait(delay)  # pacing to the rate limit; wakes early on Ctrl-C


@attr.s(slots=True)
class BatchRunner:
    """Runs a batch file of autopayments against a gateway, exactly once per order number.

    :param client_factory: builds one :class:`AutopayClient` per worker thread.
    :param journal: path of the SQLite journal (one per batch; reuse it to resume).
    :param concurrency: charges in flight at once (over all processes).
    :param rate_limit: charges started per second at most (None: no limit).
    :param progress: where to draw a progress line (None: stderr when it is a terminal).
    :param processes: worker processes (default 1: threads in this process only). With more,
        ``client_factory`` must be picklable (a module-level function or a
        ``functools.partial``), since each process is started afresh ("spawn") and builds its
        own clients. Worth it when one process's CPU is the limit: a fast gateway and
        ``concurrency`` of 16 or more (see the performance page of the docs).
    """

    client_factory: Callable[[], AutopayClient] = attr.ib(repr=describe_callable)
    journal: Union[str, Path] = attr.ib()
    concurrency: int = attr.ib(default=8, validator=_positive_int)
    rate_limit: Optional[float] = attr.ib(default=None)
    progress: Optional[TextIO] = attr.ib(default=None)
    processes: int = attr.ib(default=1, validator=_positive_int)
    _stop: Any = attr.ib(factory=threading.Event, init=False)  # a multiprocessing Event in a worker process
    _counts: Dict[str, int] = attr.ib(factory=dict, init=False)
    _counts_lock: threading.Lock = attr.ib(factory=threading.Lock, init=False)
    _events: Any = attr.ib(default=None, init=False)  # in a worker process: the queue to its parent
    _worker_error: Optional[str] = attr.ib(default=None, init=False)

    def stop(self) -> None:
        """Ask the run to stop feeding rows (what is in flight finishes and is recorded)."""
        self._stop.set()

    def run(self, path: Union[str, Path], *, dry_run: bool = False,
            report: Union[str, Path, None] = None) -> BatchSummary:
        """Validate, then (unless ``dry_run``) charge the file; writes ``report`` if given."""
        started = time.monotonic()
        rows, errors = validate_file(path)
        if errors:
            raise BatchInputError(errors)
        if dry_run:
            return BatchSummary(rows=rows, dry_run=True)
        in_processes = min(self.processes, self.concurrency) > 1
        if in_processes:
            self._check_picklable()
        self._stop.clear()
        self._worker_error = None
        charge = self._charge_in_processes if in_processes else self._charge
        with Journal(self.journal) as journal:
            previous = self._install_sigint()
            try:
                fresh = journal.is_empty()
                reconciled = charge(path, journal, rows, reconcile=True) if journal.unresolved_count() else 0
                charged = 0
                if not self._stop.is_set():
                    charged = charge(path, journal, rows, reconcile=False, fresh=fresh)
            finally:
                self._restore_sigint(previous)
            summary = self._summarise(path, journal, report)
        if self._worker_error is not None:
            raise BatchWorkerError(f"the run was stopped: {self._worker_error}; run again with the same journal "
                                   f"to go on ({summary.paid + summary.held} paid or held so far)")
        summary.reconciled = reconciled
        summary.charged_this_run = reconciled + charged
        summary.interrupted = self._stop.is_set()
        summary.elapsed = time.monotonic() - started
        return summary

    # -- signals ---------------------------------------------------------------------------

    def _install_sigint(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_sigint(_signum: int, _frame: Any) -> None:
            self._stop.set()
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C aborts

        return signal.signal(signal.SIGINT, on_sigint)

    @staticmethod
    def _restore_sigint(previous: Any) -> None:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    # -- charging --------------------------------------------------------------------------

    def _charge(self, path: Union[str, Path], journal: Journal, total: int, *, reconcile: bool,
                fresh: bool = False, shard: Tuple[int, int] = (0, 1), parent_pid: Optional[int] = None) -> int:
        """Charge the rows of one pass with threads; returns how many were submitted.

        ``fresh``: the journal was empty when the run began, so no row needs a look-up.
        ``shard`` ``(k, n)``: only the rows whose position modulo ``n`` is ``k`` (a worker
        process's share). ``parent_pid``: stop feeding if that process is gone.
        """
        work: "queue.Queue[Optional[ChargeRow]]" = queue.Queue(maxsize=self.concurrency * 2)
        limiter = _RateLimiter(self.rate_limit)
        submitted = 0
        workers = [threading.Thread(target=self._worker, args=(work, journal, limiter), daemon=True,
                                    name=f"batch-{i}") for i in range(self.concurrency)]
        for worker in workers:
            worker.start()
        drawer = _Progress(self.progress, total, self._snapshot, silent=self._events is not None)
        position = -1
        try:
            for item in read_rows(path):
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
                wanted = (entry is not None and entry.state in ("in_flight", "unknown")
                          and not entry.differences(item)) if reconcile else (entry is None)
                if not wanted:
                    continue
                while not self._stop.is_set() and not self._orphaned(parent_pid):
                    try:
                        work.put(item, timeout=0.2)
                        submitted += 1
                        break
                    except queue.Full:
                        drawer.draw()
                        if not any(worker.is_alive() for worker in workers):  # cannot happen; never hang
                            self._fail("every worker thread ended")
                drawer.draw()
        finally:
            for _ in workers:
                work.put(None)
            for worker in workers:
                worker.join()
            drawer.finish()
        return submitted

    def _orphaned(self, parent_pid: Optional[int]) -> bool:
        """In a worker process: True (and stop) once the runner that started it is gone."""
        if parent_pid is None or os.getppid() == parent_pid:
            return False
        if not self._stop.is_set():
            log.error("the batch runner process %d is gone; this worker stops feeding rows", parent_pid)
            self._stop.set()
        return True

    def _bump(self, state: str) -> None:
        with self._counts_lock:
            self._counts[state] = self._counts.get(state, 0) + 1
        if self._events is not None:
            self._events.put(("state", state))

    def _snapshot(self) -> Dict[str, int]:
        with self._counts_lock:
            return dict(self._counts)

    def _worker(self, work: "queue.Queue[Optional[ChargeRow]]", journal: Journal, limiter: _RateLimiter) -> None:
        try:
            client = self.client_factory()
        except Exception as exc:  # noqa: BLE001 - any failure: stop the run, say why, charge nothing more
            self._fail(f"a worker could not build its client ({_describe(exc)})")
            while work.get() is not None:  # drain so the feeder never blocks on a full queue
                pass
            return
        try:
            while True:
                row = work.get()
                if row is None:
                    return
                limiter.wait(self._stop)
                if self._stop.is_set():
                    continue  # stopped while waiting for its turn: the row stays not started
                self._charge_row(client, journal, row)
        finally:
            client.close()

    def _charge_row(self, client: AutopayClient, journal: Journal, row: ChargeRow) -> None:
        """Intent, charge, result: one row. Never raises, so no worker is lost to any row."""
        try:
            journal.intend(row)
        except Exception as exc:  # noqa: BLE001 - a journal that cannot be written: nothing may be charged
            self._fail(f"the journal could not be written ({_describe(exc)})")
            return
        state, fields = _outcome_of_row(client, row)
        try:
            journal.record(row.order_number, state, **fields)
        except Exception as exc:  # noqa: BLE001 - the row stays in flight and is reconciled by the next run
            self._fail(f"the journal could not be written ({_describe(exc)})")
            return
        self._bump(state)

    def _fail(self, reason: str) -> None:
        log.error("batch run stopped: %s", reason)
        self._worker_error = self._worker_error or reason
        self._stop.set()
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

    def _charge_in_processes(self, path: Union[str, Path], journal: Journal, total: int, *, reconcile: bool,
                             fresh: bool = False) -> int:
        """Charge the rows of one pass in worker processes (see the class docstring)."""
        context = multiprocessing.get_context("spawn")
        count = min(self.processes, self.concurrency)
        events = context.Queue()
        stop = context.Event()
        rate = self.rate_limit / count if self.rate_limit else None
        shares = [self.concurrency // count + (1 if k < self.concurrency % count else 0) for k in range(count)]
        tasks = [_ShardTask(self.client_factory, str(journal.path), str(path), k, count, shares[k], rate, reconcile,
                            fresh, os.getpid()) for k in range(count)]
        workers = [context.Process(target=_charge_shard, args=(task, stop, events), daemon=True,
                                   name=f"autopay-batch-{task.index}") for task in tasks]
        for worker in workers:
            worker.start()
        drawer = _Progress(self.progress, total, self._snapshot)
        submitted = finished = 0
        try:
            while finished < count:
                if self._stop.is_set():
                    stop.set()
                try:
                    kind, value = events.get(timeout=0.25)  # wakes to pass on a Ctrl-C and draw progress
                except queue.Empty:
                    drawer.draw()
                    if not any(worker.is_alive() for worker in workers):
                        break  # a process that died never reports
                    continue
                if kind == "state":
                    self._bump(value)
                elif kind == "submitted":
                    submitted += value
                    finished += 1
                elif kind == "error":  # the worker logged it and set the shared stop already
                    self._worker_error = self._worker_error or value
                    self._stop.set()
                drawer.draw()
        finally:
            for worker in workers:
                worker.join()
            events.close()
            drawer.finish()
        for worker in workers:
            if worker.exitcode != 0:
                self._fail(f"worker process {worker.name} exited with code {worker.exitcode}")
        return submitted

    # -- the report ------------------------------------------------------------------------

    def _summarise(self, path: Union[str, Path], journal: Journal,
                   report: Union[str, Path, None]) -> BatchSummary:
        summary = BatchSummary()
        out: Optional[IO[str]] = None
        writer: Optional[Callable[[Dict[str, Any]], None]] = None
        if report is not None:
            report_path = Path(report)
            out = report_path.open("w", encoding="utf-8", newline="")
            fields = ["line", "order_number", "outcome", "order_id", "gateway_code", "action_code", "message"]
            if report_path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
                handle = out

                def writer(record: Dict[str, Any]) -> None:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                csv_writer = csv.DictWriter(out, fieldnames=fields)
                csv_writer.writeheader()
                writer = csv_writer.writerow
        try:
            for item in read_rows(path):
                if isinstance(item, RowError):
                    continue
                summary.rows += 1
                entry = journal.get(item.order_number)
                outcome = "not_started" if entry is None else ("unknown" if entry.state == "in_flight"
                                                               else entry.state)
                message = entry.message if entry else None
                edits = entry.differences(item) if entry is not None and entry.state != "mismatch" else []
                if edits:  # the row was edited after its order number was charged (or tried)
                    message = (f"the row differs from what this order number was charged with: {'; '.join(edits)} "
                               f"(journal state: {outcome}); not charged again")
                    outcome = "mismatch"
                setattr(summary, outcome, getattr(summary, outcome) + 1)
                if writer is not None:
                    writer({"line": item.line, "order_number": item.order_number, "outcome": outcome,
                            "order_id": entry.order_id if entry else None,
                            "gateway_code": entry.gateway_code if entry else None,
                            "action_code": entry.action_code if entry else None,
                            "message": message})
        finally:
            if out is not None:
                out.close()
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


def _charge_shard(task: _ShardTask, stop: Any, events: Any) -> None:
    """The body of a worker process: charge rows ``index`` mod ``count`` with threads, then report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    runner = BatchRunner(task.client_factory, task.journal, concurrency=task.concurrency,
                         rate_limit=task.rate_limit)
    runner._stop = stop
    runner._events = events
    with Journal(task.journal, runner_lock=False) as journal:
        submitted = runner._charge(task.path, journal, 0, reconcile=task.reconcile, fresh=task.fresh,
                                   shard=(task.index, task.count), parent_pid=task.parent_pid)
    events.put(("submitted", submitted))


class _Progress:
    """A one-line progress display on a terminal; silent elsewhere."""

    def __init__(self, stream: Optional[TextIO], total: int, counts: Callable[[], Dict[str, int]],
                 silent: bool = False) -> None:
        if silent:  # a worker process: its parent draws
            stream = None
        elif stream is None:
            stream = sys.stderr if sys.stderr.isatty() else None
        self.stream = stream
        self.total = total
        self.counts = counts
        self.started = time.monotonic()
        self.last = 0.0

    def draw(self, force: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.25:
            return
        self.last = now
        c = self.counts()
        done = sum(c.values())
        rate = done / max(now - self.started, 1e-6)
        eta = (self.total - done) / rate if rate > 0 and done < self.total else 0
        self.stream.write(
            f"\r{done}/{self.total}  paid {c.get('paid', 0) + c.get('held', 0)}  declined {c.get('declined', 0)}  "
            f"unknown {c.get('unknown', 0)}  failed {c.get('failed', 0)}  {rate:6.1f}/s  ETA {eta:5.0f}s ")
        self.stream.flush()

    def finish(self) -> None:
        if self.stream is not None:
            self.draw(force=True)
            self.stream.write("\n")
            self.stream.flush()


