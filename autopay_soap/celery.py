"""Charging a batch on a Celery cluster, with the journal in PostgreSQL (the ``celery`` extra).

::

    pip install ".[celery]"    # from a checkout (or a built wheel with [celery]: docs/installation.rst)
    # on every worker host: settings and credentials from the environment, never from messages
    export AUTOPAY_CELERY_BROKER=redis://broker.internal:6379/0
    export AUTOPAY_JOURNAL_DSN=postgresql://autopay@db.internal/payments
    export AUTOPAY_PROFILE=sber-prod AUTOPAY_USERNAME=shop-api AUTOPAY_PASSWORD=... AUTOPAY_RETURN_URL=...
    celery -A autopay_soap.celery worker --concurrency 8
    # the producer, anywhere
    autopay-soap charge nightly.csv --journal "postgresql://autopay@db.internal/payments?merchant=shop&batch=n1" \\
        --celery redis://broker.internal:6379/0

Delivery is at least once (``acks_late``, ``task_reject_on_worker_lost``: a dead worker's task
comes back). Exactly once comes from the journal and the gateway, as on one machine:

1. a task claims its row in PostgreSQL with a lease (:meth:`ClusterJournal.claim
   <autopay_soap.batch.journal.ClusterJournal.claim>`); a second delivery while the lease
   is live retries later, a final row is left alone;
2. the row is journaled ``in_flight`` before the gateway call and its result after it;
3. a row taken over from a dead worker is charged through the same order number, and the
   client looks the number up at the gateway before any new request (RBS answers "number
   used", T-Bank is asked ``CheckOrder`` first), so a charge that landed is found, not repeated.

A task message only names a row the producer queued in the journal (merchant, batch, order
number; signed with ``AUTOPAY_CELERY_SIGNING_KEY`` when set: :mod:`autopay_soap.batch.task_message`);
the worker charges what the journal holds for that row, and refuses any other message. The
gateway's credentials and the journal's DSN come only from each worker's environment.
``AUTOPAY_RATE`` (charges per second) is one limit for the merchant across the whole cluster,
kept in PostgreSQL.

Worker settings (environment): ``AUTOPAY_CELERY_BROKER``, ``AUTOPAY_JOURNAL_DSN``, the
``AUTOPAY_*`` gateway settings of :mod:`autopay_soap.profiles`, ``AUTOPAY_RATE``,
``AUTOPAY_CELERY_LEASE`` (seconds a claim lasts: longer than one charge may take, default 300),
``AUTOPAY_CELERY_SIGNING_KEY``, ``AUTOPAY_JOURNAL_RECONNECT`` (seconds a lost database connection
is tried again, default 60) and ``AUTOPAY_CELERY_VISIBILITY`` (Redis: seconds before a dead
worker's message is handed out again, default 3600; keep it above the longest task and countdown).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, cast
from urllib.parse import urlencode, urlsplit

import attr
from celery import Celery
from celery.signals import worker_process_init

from .batch.charge import JournalFailed, charge_one, merchant_stop_reason
from .batch.executors import ChargePass, RunEvents
from .batch.gate import StartGate
from .batch.journal import (
    ClusterJournal,
    JournalUnavailable,
    cluster_session,
    is_url,
    open_cluster_journal,
    split_url,
)
from .batch.rows import chunks
from .batch.runner import BatchRunner
from .batch.states import QUEUED, WAITING, RowState
from .batch.task_message import (
    MAX_ROWS,
    MESSAGE_KEYS,
    MessageRefused,
    read_message,
    read_rows_message,
    row_message,
    rows_message,
    signing_key,
)
from .client import AutopayClient
from .errors import ValidationError

__all__ = ["MESSAGE_KEYS", "CeleryExecutor", "ClusterRunner", "MessageRefused", "app", "charge_row", "charge_rows",
           "read_message", "read_rows_message", "row_message", "rows_message"]

log = logging.getLogger(__name__)


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{name}: must be above 0")
    return value


app = Celery("autopay_soap")
app.conf.update(
    broker_url=os.environ.get("AUTOPAY_CELERY_BROKER", "redis://127.0.0.1:6379/0"),
    task_acks_late=True,  # acknowledged after the row is recorded: a dead worker's task comes back
    task_reject_on_worker_lost=True,  # without it a killed pool process's task is acked as failed: lost
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    broker_transport_options={  # Redis: how soon a dead worker's unacknowledged messages come back
        "visibility_timeout": _seconds("AUTOPAY_CELERY_VISIBILITY", 3600),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    },
)


_MAX_JOURNALS = 32
"""Batches whose journal view a worker process keeps (views share the process's one connection)."""


class _Worker:
    """What one worker process keeps: one connection to the journal's database (shared by every
    batch it meets: one connection a process, however many batches), a journal view per recent
    batch, and its client; made on first use and made again after a fork (a connection is
    never shared across processes)."""

    def __init__(self) -> None:
        self._pid: Optional[int] = None
        self._session: Any = None
        self._journals: "OrderedDict[Tuple[str, str], ClusterJournal]" = OrderedDict()
        self._client: Optional[AutopayClient] = None
        self._lock = threading.Lock()

    def _fresh(self) -> None:
        if self._pid != os.getpid():
            self._pid, self._session, self._journals, self._client = os.getpid(), None, OrderedDict(), None

    def journal(self, merchant: str, batch: str) -> ClusterJournal:
        """This process's journal of the merchant's batch (``AUTOPAY_JOURNAL_DSN``)."""
        with self._lock:
            self._fresh()
            key = (merchant, batch)
            if key in self._journals:
                self._journals.move_to_end(key)
                return self._journals[key]
            dsn = os.environ.get("AUTOPAY_JOURNAL_DSN")
            if not dsn:
                raise RuntimeError("AUTOPAY_JOURNAL_DSN is not set on this worker")
            url = split_url(dsn)[0]
            if self._session is None:
                self._session = cluster_session(url, reconnect_for=_seconds("AUTOPAY_JOURNAL_RECONNECT", 60),
                                                application_name="autopay_soap worker")
            joiner = "&" if "?" in url else "?"
            journal = open_cluster_journal(url + joiner + urlencode({"merchant": merchant, "batch": batch}),
                                           runner_lock=False, session=self._session)
            journal.open()
            self._journals[key] = journal
            while len(self._journals) > _MAX_JOURNALS:
                self._journals.popitem(last=False)
            return journal

    def client(self) -> AutopayClient:
        """This process's gateway client, from the ``AUTOPAY_*`` environment."""
        with self._lock:
            self._fresh()
            if self._client is None:
                self._client = AutopayClient.from_profile(return_url=os.environ.get("AUTOPAY_RETURN_URL"))
            return self._client

    def owner(self) -> str:
        """Who holds a claim: host and process."""
        return f"{socket.gethostname()}:{os.getpid()}"


_worker = _Worker()


@worker_process_init.connect
def _build_client_early(**_: Any) -> None:
    """Each pool process builds its gateway client (the WSDL parse, the session) when it starts,
    not at its first task; a setting that is wrong is only logged here: the task then says so."""
    try:
        _worker.client()
    except Exception as exc:  # noqa: BLE001 - reported again, with the row, by the first task
        log.warning("the gateway client could not be built at start (%s)", type(exc).__name__)


def _refuse(why: str, message: Any) -> str:
    shown = ({k: message.get(k) for k in (*MESSAGE_KEYS, "order_numbers") if k in message} if isinstance(message, dict)
             else type(message).__name__)
    log.error("task refused, nothing charged: %s (message %.300r)", why, shown)
    return "refused"


@app.task(bind=True, name="autopay_soap.charge_row", max_retries=None)
def charge_row(self: Any, message: Any = None, *args: Any, **kwargs: Any) -> str:
    """Charge one queued row of a batch exactly once (see the module docstring); the row's state,
    or ``"refused"`` for a message that names no row this worker may charge."""
    if args or kwargs:
        return _refuse("the task has arguments besides its message (an older or forged producer)", message)
    try:
        merchant, batch, order_number = read_message(message, signing_key())
    except MessageRefused as exc:
        return _refuse(str(exc), message)
    lease = _seconds("AUTOPAY_CELERY_LEASE", 300)
    try:
        return _charge_queued(merchant, batch, order_number, lease)
    except JournalUnavailable as exc:  # the database is down longer than the reconnect budget: later
        log.error("row %s: %s; the task is tried again in %.0f s", order_number, exc, min(lease, 30))
        raise self.retry(countdown=min(lease, 30)) from None
    except _LeaseBusy:
        raise self.retry(countdown=lease) from None


@app.task(bind=True, name="autopay_soap.charge_rows", max_retries=None)
def charge_rows(self: Any, message: Any = None, *args: Any, **kwargs: Any) -> Dict[str, str]:
    """Charge several queued rows of one batch exactly once each, in order (what a producer
    sends: :func:`~autopay_soap.batch.task_message.rows_message`); each row's state, or
    ``{"*": "refused"}`` for a message that names no rows this worker may charge.

    A row another worker holds a live lease on does not hold up the others: it is put back on
    the broker alone, in a message of its own, once the lease has run out. A journal that stays
    unavailable puts the rows not yet charged back on the broker (the ones done stay done)."""
    if args or kwargs:
        return {"*": _refuse("the task has arguments besides its message (an older or forged producer)", message)}
    key = signing_key()
    try:
        merchant, batch, numbers = read_rows_message(message, key)
    except MessageRefused as exc:
        return {"*": _refuse(str(exc), message)}
    lease = _seconds("AUTOPAY_CELERY_LEASE", 300)
    states: Dict[str, str] = {}
    busy: List[str] = []
    for index, number in enumerate(numbers):
        try:
            states[number] = _charge_queued(merchant, batch, number, lease)
        except JournalUnavailable as exc:
            later = busy + numbers[index:]
            log.error("row %s: %s; %d row(s) of the task are tried again in %.0f s", number, exc, len(later),
                      min(lease, 30))
            raise self.retry(args=(rows_message(merchant, batch, later, key=key),), countdown=min(lease, 30)) from None
        except _LeaseBusy:
            busy.append(number)
    if busy:
        raise self.retry(args=(rows_message(merchant, batch, busy, key=key),), countdown=lease) from None
    return states


def _shown(order_numbers: Sequence[str]) -> str:
    """How a task's rows show in Celery's logs and events: the first and last order numbers and
    how many (Celery's own ``saferepr`` of 100 names cost more than sending them)."""
    if len(order_numbers) == 1:
        return f"[{order_numbers[0]!r}]"
    return f"[{order_numbers[0]!r} .. {order_numbers[-1]!r}: {len(order_numbers)} rows]"


def _broker_host(url: str) -> str:
    """The broker's scheme, host and port, never its password."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or 'localhost'}{port}"


class _LeaseBusy(Exception):
    """Another worker holds a live lease on the row: try the task again after the lease."""


def _charge_queued(merchant: str, batch: str, order_number: str, lease: float) -> str:
    journal = _worker.journal(merchant, batch)
    try:
        queued = journal.queued_row(order_number)
    except ValidationError as exc:
        return _refuse(exc.message, row_message(merchant, batch, order_number))
    if queued is None:
        return _refuse("no such row was queued in this batch", row_message(merchant, batch, order_number))
    row, state = queued
    if state not in WAITING:
        return state.value  # final, or left for the producer's next run: a second delivery changes nothing
    if journal.stop_state()[0]:
        return "stopped"  # left pending: the next run of the batch queues it again
    owner = _worker.owner()
    claim = journal.claim(order_number, owner, lease)
    if claim is None:  # another worker holds a live lease (or the row just became final)
        done = journal.get(order_number)
        if done is not None and done.state not in WAITING:
            return done.state.value
        raise _LeaseBusy()
    if claim.takeover:
        log.warning("row %s: taken over from a worker that stopped; the order is looked up first", order_number)
    rate = os.environ.get("AUTOPAY_RATE")
    if rate:
        time.sleep(journal.take_slot(float(rate)))
    try:
        charged = charge_one(_worker.client(), journal, row, owner=owner, lease_seconds=lease)
    except JournalFailed as exc:
        raise exc.cause from None  # JournalUnavailable: the task is tried again later
    if charged.state is None:  # the lease ran out and another took it
        log.warning("row %s: another worker took the row over while this one waited; not sent", order_number)
        return "lost"
    if not charged.recorded:
        log.warning("row %s: another worker took the row over during the charge; its result stands (this one "
                    "was %s)", order_number, charged.state.value)
    elif charged.stop is not None and charged.state is RowState.RETRY:
        # credentials or access refused: every other row would be refused the same way
        log.error("row %s: %s; the batch is stopped", order_number, charged.stop)
        journal.set_stopped(True, f"a worker's setting was refused (row {order_number}): {charged.stop}")
    elif charged.stop is not None:  # a merchant decline: the producer sees the stop and says why
        log.error("row %s: refused for the merchant's own settings; the batch is stopped", order_number)
        journal.set_stopped(True, charged.stop)
    return charged.state.value


@attr.s(slots=True)
class CeleryExecutor:
    """Rows charged by Celery workers: the producer's side of a cluster run (see
    :func:`ClusterRunner`, which makes a :class:`~autopay_soap.batch.runner.BatchRunner` with it).

    The rows of a pass are loaded into the journal as ``pending`` (with everything their charge
    needs), ``chunk_size`` at a time in one ``COPY``, and tasks naming them are sent, each
    naming up to ``rows_per_task`` rows (the task ``charge_rows``); then the journal is followed
    until no row of the batch is pending or in flight, each newly recorded row reported to the run.

    A task's rows are charged one after another by one worker process, so a pass is cut into
    at least :attr:`SPREAD` tasks while it is small (a 10-row batch is 10 tasks; a million rows
    are tasks of ``rows_per_task``): every process of a cluster has work, and a producer sends
    a million rows without a million broker round trips. Keep the broker's visibility timeout
    (``AUTOPAY_CELERY_VISIBILITY``) above the time ``rows_per_task`` charges may take.
    """

    SPREAD = 64
    """Tasks a pass is cut into at least, while its rows allow (worker processes kept busy)."""

    broker: str = attr.ib()
    poll_interval: float = attr.ib(default=0.2)
    resend_after: float = attr.ib(default=120.0)
    give_up_after: float = attr.ib(default=1800.0)
    signing_key: Optional[str] = attr.ib(default=None, repr=False)
    no_worker_after: float = attr.ib(default=30.0)
    chunk_size: int = attr.ib(default=2000)
    """Rows loaded into the journal at a time (then their tasks are sent)."""
    rows_per_task: int = attr.ib(default=100)
    """The most rows one task names (at most :data:`~autopay_soap.batch.task_message.MAX_ROWS`)."""
    _key: Optional[bytes] = attr.ib(default=None, init=False, repr=False)
    _run: Any = attr.ib(default=None, init=False, repr=False)
    """The run this executor serves now, with what it has seen of it (:class:`_RunView`)."""

    def __attrs_post_init__(self) -> None:
        self._key = signing_key(self.signing_key)
        for name, value in (("chunk_size", self.chunk_size), ("rows_per_task", self.rows_per_task)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= (
                    MAX_ROWS if name == "rows_per_task" else 100_000):
                raise ValidationError(f"{name}: {value!r} is not a whole number of rows in range", field=name)

    def check(self, journal: str, client_factory: Any) -> None:
        """The journal must be the workers' PostgreSQL journal; nothing is pickled (the workers
        build their own client from their environment)."""
        if not is_url(journal):
            raise ValidationError("journal: a cluster run needs the workers' PostgreSQL journal (postgresql://...)",
                                  field="journal")

    @staticmethod
    def gate() -> StartGate:
        """The producer's start gate: a stop closes it and marks the batch stopped for the workers."""
        return StartGate.for_threads()

    def charge(self, job: ChargePass) -> int:
        """Queue and send the rows of one pass, then follow the journal until they are done."""
        journal = cast(ClusterJournal, job.journal)  # check() made sure the URL is PostgreSQL's
        if self._run is None or self._run.events is not job.events:  # a new run: its counts start from now
            self._run = _RunView(job.events, journal.counts())
            job.events.when_stopped(functools.partial(_mark_stopped, journal))
        journal.set_stopped(False)
        app.conf.broker_url = self.broker
        sent = 0
        with app.connection_for_write() as connection:
            for chunk in chunks(job.rows(QUEUED), self.chunk_size):
                if job.events.gate.stop.is_set():
                    break  # stopped: nothing more is queued
                numbers = journal.queue_many(chunk)  # a row that became final meanwhile stays so
                sent += self._send_all(journal, numbers, connection, job.events, sent)
        self._follow(journal, job.events)
        return sent

    def task_rows(self, count: int, already: int) -> int:
        """Rows a task names when ``count`` rows are sent after ``already`` others of the pass:
        the pass so far cut into :attr:`SPREAD` tasks, between 1 and ``rows_per_task``."""
        return max(1, min(self.rows_per_task, -(-(already + count) // self.SPREAD)))

    def _send_all(self, journal: ClusterJournal, numbers: Sequence[str], connection: Any, events: RunEvents,
                  already: int) -> int:
        """Send tasks naming ``numbers``; how many rows they named (a stop leaves the rest pending,
        for the next run)."""
        size, sent = self.task_rows(len(numbers), already), 0
        for start in range(0, len(numbers), size):
            if events.gate.stop.is_set():
                break
            part = numbers[start:start + size]
            self._send(journal, part, connection)
            sent += len(part)
        return sent

    def _send(self, journal: ClusterJournal, order_numbers: Sequence[str], connection: Any) -> None:
        """Send the task naming the rows; a broker that cannot take it is logged, not fatal: the
        rows are pending in the journal and are sent again once nothing moves for ``resend_after``."""
        message = rows_message(journal.merchant, journal.batch, order_numbers, key=self._key)
        try:
            charge_rows.apply_async(args=(message,), connection=connection, argsrepr=_shown(order_numbers),
                                    kwargsrepr="{}",
                                    retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})
        except Exception as exc:  # noqa: BLE001 - kombu's and redis' errors alike
            log.warning("rows %s (%d): the broker did not take the task (%s); they are sent again later",
                        order_numbers[0], len(order_numbers), type(exc).__name__)

    def _follow(self, journal: ClusterJournal, events: RunEvents) -> None:
        """Until no row is pending or in flight (after a stop: none held by a live worker), keep
        the counts. Rows no worker holds are sent again after ``resend_after`` seconds without any
        progress; after ``give_up_after`` seconds without progress the wait ends (bounded)."""
        stopped = False
        last, still, idle_since = None, time.monotonic(), time.monotonic()
        started = time.monotonic()
        while True:
            if not events.gate.stop.is_set():
                halted, reason = journal.stop_state()
                if halted:  # a worker met a merchant decline or a refused setting
                    events.setting_refused("a worker stopped the batch: " + (reason or merchant_stop_reason(
                        "rows of decline_kind merchant in the report")))
            if events.gate.stop.is_set() and not stopped:
                journal.set_stopped(True)
                stopped = True
            now = journal.counts()
            self._run.report(now)
            waiting = journal.waiting()
            pending, in_flight = waiting[RowState.PENDING.value], waiting[RowState.IN_FLIGHT.value]
            if stopped and not waiting["in_flight_live"]:
                return  # what no live worker holds stays for the next run
            if not in_flight and not pending:
                return
            self._no_worker_notice(in_flight, waited=time.monotonic() - started)
            if now != last:
                last, still, idle_since = now, time.monotonic(), time.monotonic()
            elif not stopped and time.monotonic() - idle_since > self.give_up_after:
                log.error("no progress for %.0f s: the producer stops waiting; %d row(s) pending and %d in flight "
                          "are left for the next run", self.give_up_after, pending, in_flight)
                return
            elif not stopped and time.monotonic() - still > self.resend_after:
                orphans = journal.orphaned()
                if orphans:
                    log.warning("no progress for %.0f s: the %d row(s) no worker holds are sent again",
                                self.resend_after, len(orphans))
                    self._resend(journal, orphans, events)
                still = time.monotonic()
            time.sleep(self.poll_interval)  # the journal is on another server: nothing to wait on here

    def _no_worker_notice(self, in_flight: int, waited: float) -> None:
        """Say once when no worker has taken any row of the batch for ``no_worker_after`` seconds."""
        run = self._run
        if in_flight or sum(run.reported.values()):
            run.worker_seen = True  # a worker is there: nothing to say in this run
        if run.worker_seen or waited < self.no_worker_after:
            return
        broker = _broker_host(self.broker)
        text = (f"no worker has taken a row of this batch in {waited:.0f} s: is a worker running against the "
                f"broker {broker} (celery -A autopay_soap.celery worker, with AUTOPAY_CELERY_BROKER and "
                "AUTOPAY_JOURNAL_DSN set)? The rows stay queued; Ctrl-C stops waiting")
        run.events.say(text)
        run.worker_seen = True  # said once

    def _resend(self, journal: ClusterJournal, order_numbers: List[str], events: RunEvents) -> None:
        with app.connection_for_write() as connection:
            self._send_all(journal, order_numbers, connection, events, 0)


@attr.s(slots=True)
class _RunView:
    """What a :class:`CeleryExecutor` has seen of one run: the journal's counts when it began,
    and the rows it has reported recorded since (the journal is the workers' record)."""

    events: RunEvents = attr.ib()
    base: Dict[str, int] = attr.ib()
    reported: Dict[str, int] = attr.ib(factory=dict)
    worker_seen: bool = attr.ib(default=False)

    def report(self, now: Dict[str, int]) -> None:
        """Report each row newly recorded in a final or unresolved state (not queued, not in flight)."""
        for state, count in now.items():
            if state in WAITING:
                continue
            new = count - self.base.get(state, 0) - self.reported.get(state, 0)
            for _ in range(max(new, 0)):
                self.events.charged(RowState(state))
            if new > 0:
                self.reported[state] = self.reported.get(state, 0) + new


def _mark_stopped(journal: ClusterJournal) -> None:
    """The run stopped: mark the batch stopped at once, so workers start none of its rows."""
    try:
        journal.set_stopped(True)
    except JournalUnavailable as exc:  # the follow loop marks it once the database is back
        log.error("the stop could not be written to the journal yet: %s", exc)


def ClusterRunner(client_factory: Callable[[], AutopayClient], journal: str, *, broker: str,  # noqa: N802
                  poll_interval: float = 0.2, resend_after: float = 120.0, give_up_after: float = 1800.0,
                  signing_key: Optional[str] = None, no_worker_after: float = 30.0, rows_per_task: int = 100,
                  **options: Any) -> BatchRunner:
    """The producer of a cluster run: a :class:`~autopay_soap.batch.runner.BatchRunner` (its
    pre-flight, stop, progress, report and exit codes) whose rows are charged by Celery workers
    (a :class:`CeleryExecutor`) instead of local threads.

    The journal must be a PostgreSQL URL (the workers' journal); ``broker`` is the Celery broker
    URL. Rows no worker holds (a task lost with the broker, a worker killed with its lease run
    out) are sent again once nothing has moved for ``resend_after`` seconds; after
    ``give_up_after`` seconds without any progress the producer stops waiting and reports them
    (exit code :data:`~autopay_soap.batch.outcome.EXIT_UNKNOWN`). A stop (Ctrl-C, SIGTERM) stops
    sending and marks the batch stopped, so workers start none of its rows; the producer then
    waits only for rows a live worker holds, at most their lease. Run it again to go on.

    :param signing_key: sign every task message (HMAC-SHA256 of the row's names) with this key;
        default ``AUTOPAY_CELERY_SIGNING_KEY``. Workers with the key refuse unsigned messages.
    :param no_worker_after: seconds after which, if no worker has taken any row of the batch,
        the producer says so (once) and names the broker it sends to: a producer waiting for
        workers that are not running otherwise looks exactly like a slow one.
    :param rows_per_task: the most rows one task names (see :class:`CeleryExecutor`): fewer
        broker messages, each holding a worker process longer.
    :param options: the :class:`~autopay_soap.batch.runner.BatchRunner`'s (``processes`` must stay 1).
    """
    if options.get("processes", 1) != 1:
        raise ValidationError("processes: a cluster run charges on its workers, not in local processes",
                              field="processes")
    executor = CeleryExecutor(broker, poll_interval, resend_after, give_up_after, signing_key, no_worker_after,
                              rows_per_task=rows_per_task)
    executor.check(str(journal), client_factory)
    return BatchRunner(client_factory, journal, executor=executor, **options)
