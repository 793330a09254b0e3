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

1. a task claims its row in PostgreSQL with a lease (:meth:`PostgresJournal.claim
   <autopay_soap.batch.journal_pg.PostgresJournal.claim>`); a second delivery while the lease
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

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlencode

import attr
from celery import Celery
from celery.signals import worker_process_init

from .batch.journal import QUEUED_STATES, JournalUnavailable
from .batch.journal_pg import PgSession, PostgresJournal, split_url
from .batch.journals import AnyJournal, is_url
from .batch.rows import RowError, read_rows
from .batch.runner import BatchRunner, blocked_or_charged, merchant_declined, merchant_stop_reason
from .batch.task_message import MESSAGE_KEYS, MessageRefused, read_message, row_message, signing_key
from .client import AutopayClient
from .errors import ValidationError

__all__ = ["MESSAGE_KEYS", "ClusterRunner", "MessageRefused", "app", "charge_row", "read_message", "row_message"]

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
        self._session: Optional[PgSession] = None
        self._journals: "OrderedDict[Tuple[str, str], PostgresJournal]" = OrderedDict()
        self._client: Optional[AutopayClient] = None
        self._lock = threading.Lock()

    def _fresh(self) -> None:
        if self._pid != os.getpid():
            self._pid, self._session, self._journals, self._client = os.getpid(), None, OrderedDict(), None

    def journal(self, merchant: str, batch: str) -> PostgresJournal:
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
                self._session = PgSession(url, reconnect_for=_seconds("AUTOPAY_JOURNAL_RECONNECT", 60),
                                          application_name="autopay_soap worker")
            joiner = "&" if "?" in url else "?"
            journal = PostgresJournal(url + joiner + urlencode({"merchant": merchant, "batch": batch}),
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
    shown = {k: message.get(k) for k in MESSAGE_KEYS} if isinstance(message, dict) else type(message).__name__
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
    if state not in ("pending", "in_flight"):
        return state  # final, or left for the producer's next run: a second delivery changes nothing
    if journal.stopped():
        return "stopped"  # left pending: the next run of the batch queues it again
    owner = _worker.owner()
    claim = journal.claim(order_number, owner, lease)
    if claim is None:  # another worker holds a live lease (or the row just became final)
        done = journal.get(order_number)
        if done is not None and done.state not in ("pending", "in_flight"):
            return done.state
        raise _LeaseBusy()
    if claim.takeover:
        log.warning("row %s: taken over from a worker that stopped; the order is looked up first", order_number)
    rate = os.environ.get("AUTOPAY_RATE")
    if rate:
        time.sleep(journal.take_slot(float(rate)))
    if not journal.intend(row, owner=owner, lease_seconds=lease):  # the lease ran out and another took it
        log.warning("row %s: another worker took the row over while this one waited; not sent", order_number)
        return "lost"
    state, fields = blocked_or_charged(_worker.client(), journal, row)
    if not journal.record(order_number, state, owner=owner, **fields):
        log.warning("row %s: another worker took the row over during the charge; its result stands (this one "
                    "was %s)", order_number, state)
        return state
    if merchant_declined(fields):  # the producer sees the stop and says why
        log.error("row %s: refused for the merchant's own settings; the batch is stopped", order_number)
        journal.set_stopped(True, merchant_stop_reason(f"row {order_number}: {fields.get('message')}"))
    elif state == "retry":  # credentials or access refused: every other row would be refused the same way
        log.error("row %s: %s; the batch is stopped", order_number, fields.get("message"))
        journal.set_stopped(True, f"a worker's setting was refused (row {order_number}): {fields.get('message')}")
    return state


@attr.s(slots=True)
class ClusterRunner(BatchRunner):
    """The producer of a cluster run: the local runner's pre-flight, stop, progress, report and
    exit codes, with the rows charged by Celery workers instead of local threads.

    The journal must be a PostgreSQL URL (the workers' journal); ``broker`` is the Celery broker
    URL. The producer loads each row into the journal as ``pending`` (with everything its charge
    needs) and sends a task naming it, then follows the journal until no row of the batch is
    pending or in flight. Rows no worker holds (a task lost with the broker, a worker killed
    with its lease run out) are sent again once nothing has moved for ``resend_after`` seconds;
    after ``give_up_after`` seconds without any progress the producer stops waiting and reports
    them (exit code :data:`~autopay_soap.batch.outcome.EXIT_UNKNOWN`). A stop (Ctrl-C, SIGTERM)
    stops sending and marks the batch stopped, so workers start none of its rows; the producer
    then waits only for rows a live worker holds, at most their lease. Run it again to go on.

    :param signing_key: sign every task message (HMAC-SHA256 of the row's names) with this key;
        default ``AUTOPAY_CELERY_SIGNING_KEY``. Workers with the key refuse unsigned messages.
    """

    broker: str = attr.ib(kw_only=True)
    poll_interval: float = attr.ib(default=0.2, kw_only=True)
    resend_after: float = attr.ib(default=120.0, kw_only=True)
    give_up_after: float = attr.ib(default=1800.0, kw_only=True)
    signing_key: Optional[str] = attr.ib(default=None, kw_only=True, repr=False)
    _cluster_journal: Optional[PostgresJournal] = attr.ib(default=None, init=False)
    _key: Optional[bytes] = attr.ib(default=None, init=False, repr=False)

    def _request_stop(self, reason: str) -> None:
        """As the local runner's, and the batch is marked stopped at once: workers start none of its rows."""
        super()._request_stop(reason)
        if self._cluster_journal is not None:
            try:
                self._cluster_journal.set_stopped(True)
            except JournalUnavailable as exc:  # the follow loop marks it once the database is back
                log.error("the stop could not be written to the journal yet: %s", exc)

    def __attrs_post_init__(self) -> None:
        if not is_url(self.journal):
            raise ValidationError("journal: a cluster run needs the workers' PostgreSQL journal (postgresql://...)",
                                  field="journal")
        if self.processes != 1:
            raise ValidationError("processes: a cluster run charges on its workers, not in local processes",
                                  field="processes")
        self._key = signing_key(self.signing_key)

    def _charge(self, path: Any, journal: AnyJournal, *, reconcile: bool, fresh: bool = False,
                shard: Tuple[int, int] = (0, 1), parent_pid: Optional[int] = None) -> int:
        assert isinstance(journal, PostgresJournal)
        journal.set_stopped(False)
        self._cluster_journal = journal
        app.conf.broker_url = self.broker
        base = journal.counts()
        sent = 0
        with app.connection_for_write() as connection:
            for item in read_rows(path, delimiter=self.delimiter):
                if self._stop.is_set():
                    break
                if isinstance(item, RowError):
                    continue
                entry = None if fresh else journal.get(item.order_number)
                wanted = (entry is not None and entry.state in QUEUED_STATES
                          and not entry.differences(item)) if reconcile else (entry is None)
                if not wanted:
                    continue
                journal.queue(item)
                self._send(journal, item.order_number, connection)
                sent += 1
        self._follow(journal, base)
        return sent

    def _send(self, journal: PostgresJournal, order_number: str, connection: Any) -> None:
        """Send the task naming the row; a broker that cannot take it is logged, not fatal: the
        row is pending in the journal and is sent again once nothing moves for ``resend_after``."""
        message = row_message(journal.merchant, journal.batch, order_number, key=self._key)
        try:
            charge_row.apply_async(args=(message,), connection=connection,
                                   retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})
        except Exception as exc:  # noqa: BLE001 - kombu's and redis' errors alike
            log.warning("row %s: the broker did not take the task (%s); it is sent again later", order_number,
                        type(exc).__name__)

    def _follow(self, journal: PostgresJournal, base: Dict[str, int]) -> None:
        """Until no row is pending or in flight (after a stop: none held by a live worker), keep
        the counts. Rows no worker holds are sent again after ``resend_after`` seconds without any
        progress; after ``give_up_after`` seconds without progress the wait ends (bounded)."""
        stopped = False
        last, still, idle_since = None, time.monotonic(), time.monotonic()
        while True:
            if not self._stop.is_set():
                halted, reason = journal.stop_state()
                if halted:  # a worker met a merchant decline or a refused setting
                    self._config_stop("a worker stopped the batch: " + (reason or merchant_stop_reason(
                        "rows of decline_kind merchant in the report")))
            if self._stop.is_set() and not stopped:
                journal.set_stopped(True)
                stopped = True
            now = journal.counts()
            with self._counts_lock:
                self._counts = {state: count - base.get(state, 0) for state, count in now.items()
                                if state not in ("pending", "in_flight") and count > base.get(state, 0)}
            waiting = journal.waiting()
            if stopped and not waiting["in_flight_live"]:
                return  # what no live worker holds stays for the next run
            if not waiting["in_flight"] and not waiting["pending"]:
                return
            if now != last:
                last, still, idle_since = now, time.monotonic(), time.monotonic()
            elif not stopped and time.monotonic() - idle_since > self.give_up_after:
                log.error("no progress for %.0f s: the producer stops waiting; %d row(s) pending and %d in flight "
                          "are left for the next run", self.give_up_after, waiting["pending"], waiting["in_flight"])
                return
            elif not stopped and time.monotonic() - still > self.resend_after:
                orphans = journal.orphaned()
                if orphans:
                    log.warning("no progress for %.0f s: the %d row(s) no worker holds are sent again",
                                self.resend_after, len(orphans))
                    self._resend(journal, orphans)
                still = time.monotonic()
            time.sleep(self.poll_interval)  # the journal is on another server: nothing to wait on here

    def _resend(self, journal: PostgresJournal, order_numbers: Any) -> None:
        with app.connection_for_write() as connection:
            for number in order_numbers:
                if self._stop.is_set():
                    return
                self._send(journal, number, connection)

    def _check_picklable(self) -> None:
        """Nothing is pickled: the workers build their own client from their environment."""
