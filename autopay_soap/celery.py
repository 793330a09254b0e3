"""Charging a batch on a Celery cluster, with the journal in PostgreSQL (the ``celery`` extra).

::

    pip install "autopay_soap[celery]"
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

A task message carries the merchant, the batch and the row (order number, amount, client,
binding or account token, as in the input file); the gateway's credentials and the journal's
DSN come only from each worker's environment. ``AUTOPAY_RATE`` (charges per second) is one
limit for the merchant across the whole cluster, kept in PostgreSQL.

Worker settings (environment): ``AUTOPAY_CELERY_BROKER``, ``AUTOPAY_JOURNAL_DSN``, the
``AUTOPAY_*`` gateway settings of :mod:`autopay_soap.profiles`, ``AUTOPAY_RATE``,
``AUTOPAY_CELERY_LEASE`` (seconds a claim lasts: longer than one charge may take, default 300)
and ``AUTOPAY_CELERY_VISIBILITY`` (Redis: seconds before a dead worker's message is handed out
again, default 3600; keep it above the longest task and countdown).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlencode

import attr
from celery import Celery
from celery.signals import worker_process_init

from .batch.journal import FINAL_STATES
from .batch.journal_pg import PostgresJournal
from .batch.journals import AnyJournal, is_url
from .batch.rows import ChargeRow, RowError, read_rows
from .batch.runner import BatchRunner, blocked_or_charged, merchant_declined, merchant_stop_reason
from .client import AutopayClient
from .errors import ValidationError
from .money import Money

__all__ = ["ClusterRunner", "app", "charge_row", "row_message"]

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


def row_message(row: ChargeRow) -> Dict[str, Any]:
    """A row as a task message (JSON): what the input file said, nothing more."""
    return {"line": row.line, "order_number": row.order_number, "client_id": row.client_id,
            "binding_id": row.binding_id, "account_token": row.account_token,
            "amount_minor": row.amount.minor, "currency": row.amount.currency.alpha,
            "two_stage": row.two_stage, "description": row.description,
            "original_order_number": row.original_order_number, "attempt": row.attempt,
            "instrument_column": row.instrument_column}


def _row_of(message: Dict[str, Any]) -> ChargeRow:
    return ChargeRow(line=int(message["line"]), order_number=str(message["order_number"]),
                     client_id=str(message["client_id"]), binding_id=message.get("binding_id"),
                     amount=Money.from_minor(int(message["amount_minor"]), str(message["currency"])),
                     two_stage=bool(message.get("two_stage")), description=message.get("description"),
                     account_token=message.get("account_token"),
                     original_order_number=message.get("original_order_number"),
                     attempt=int(message.get("attempt") or 1),
                     instrument_column=str(message.get("instrument_column") or "binding_id"))


_UNRESOLVED = ("in_flight", "unknown", "retry", "pending")
"""Rows a resumed cluster run queues again: those of a local run, and those a stop left queued."""


class _Worker:
    """What one worker process keeps: its journals and its client, made on first use and made
    again after a fork (a connection is never shared across processes)."""

    def __init__(self) -> None:
        self._pid: Optional[int] = None
        self._journals: Dict[Tuple[str, str], PostgresJournal] = {}
        self._client: Optional[AutopayClient] = None
        self._lock = threading.Lock()

    def _fresh(self) -> None:
        if self._pid != os.getpid():
            self._pid, self._journals, self._client = os.getpid(), {}, None

    def journal(self, merchant: str, batch: str) -> PostgresJournal:
        """This process's journal of the merchant's batch (``AUTOPAY_JOURNAL_DSN``)."""
        with self._lock:
            self._fresh()
            key = (merchant, batch)
            if key not in self._journals:
                dsn = os.environ.get("AUTOPAY_JOURNAL_DSN")
                if not dsn:
                    raise RuntimeError("AUTOPAY_JOURNAL_DSN is not set on this worker")
                url = PostgresJournal(dsn).dsn
                joiner = "&" if "?" in url else "?"
                self._journals[key] = PostgresJournal(url + joiner + urlencode({"merchant": merchant, "batch": batch}),
                                                      runner_lock=False).open()
            return self._journals[key]

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


@app.task(bind=True, name="autopay_soap.charge_row", max_retries=None)
def charge_row(self: Any, merchant: str, batch: str, message: Dict[str, Any]) -> str:
    """Charge one row of a batch exactly once (see the module docstring); the row's state."""
    row = _row_of(message)
    journal = _worker.journal(merchant, batch)
    lease = _seconds("AUTOPAY_CELERY_LEASE", 300)
    entry = journal.get(row.order_number)
    if entry is not None and (entry.state in FINAL_STATES or entry.state in ("mismatch", "failed")):
        return entry.state  # a second delivery of a done row
    if entry is not None and entry.differences(row):
        return "mismatch"  # the number is another charge's: the producer reports it, nothing is sent
    if journal.stopped():
        return "stopped"  # left pending: the next run of the batch queues it again
    claim = journal.claim(row, _worker.owner(), lease)
    if claim is None:  # another worker holds a live lease (or the row just became final)
        done = journal.get(row.order_number)
        if done is not None and done.state in FINAL_STATES:
            return done.state
        raise self.retry(countdown=lease)
    if claim.takeover:
        log.warning("row %s: taken over from a worker that stopped; the order is looked up first", row.order_number)
    rate = os.environ.get("AUTOPAY_RATE")
    if rate:
        time.sleep(journal.take_slot(float(rate)))
    journal.intend(row)
    state, fields = blocked_or_charged(_worker.client(), journal, row)
    journal.record(row.order_number, state, **fields)
    if merchant_declined(fields):  # the producer sees the stop and says why
        log.error("row %s: refused for the merchant's own settings; the batch is stopped", row.order_number)
        journal.set_stopped(True)
    return state


@attr.s(slots=True)
class ClusterRunner(BatchRunner):
    """The producer of a cluster run: the local runner's pre-flight, stop, progress, report and
    exit codes, with the rows charged by Celery workers instead of local threads.

    The journal must be a PostgreSQL URL (the workers' journal); ``broker`` is the Celery broker
    URL. The producer loads each row into the journal as ``pending`` and sends its task, then
    follows the journal until no row of the batch is pending or in flight. A stop (Ctrl-C,
    SIGTERM) stops sending and marks the batch stopped, so workers start none of its rows;
    rows already claimed finish. Run it again to go on: rows not started are sent again.
    """

    broker: str = attr.ib(kw_only=True)
    poll_interval: float = attr.ib(default=0.2, kw_only=True)
    resend_after: float = attr.ib(default=120.0, kw_only=True)
    _cluster_journal: Optional[PostgresJournal] = attr.ib(default=None, init=False)

    def _request_stop(self, reason: str) -> None:
        """As the local runner's, and the batch is marked stopped at once: workers start none of its rows."""
        super()._request_stop(reason)
        if self._cluster_journal is not None:
            self._cluster_journal.set_stopped(True)

    def __attrs_post_init__(self) -> None:
        if not is_url(self.journal):
            raise ValidationError("journal: a cluster run needs the workers' PostgreSQL journal (postgresql://...)",
                                  field="journal")
        if self.processes != 1:
            raise ValidationError("processes: a cluster run charges on its workers, not in local processes",
                                  field="processes")

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
                wanted = (entry is not None and entry.state in _UNRESOLVED
                          and not entry.differences(item)) if reconcile else (entry is None)
                if not wanted:
                    continue
                journal.queue(item)
                self._send(journal, item, connection)
                sent += 1
        self._follow(path, journal, base)
        return sent

    @staticmethod
    def _send(journal: PostgresJournal, row: ChargeRow, connection: Any) -> None:
        """Send the row's task; a broker that cannot take it is logged, not fatal: the row is
        pending in the journal and is sent again once nothing moves for ``resend_after``."""
        try:
            charge_row.apply_async(args=(journal.merchant, journal.batch, row_message(row)), connection=connection,
                                   retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})
        except Exception as exc:  # noqa: BLE001 - kombu's and redis' errors alike
            log.warning("row %s: the broker did not take the task (%s); it is sent again later", row.order_number,
                        type(exc).__name__)

    def _follow(self, path: Any, journal: PostgresJournal, base: Dict[str, int]) -> None:
        """Until no row is pending or in flight (after a stop: none in flight), keep the counts.
        Rows still pending after ``resend_after`` seconds without any progress (a broker that lost
        its messages) are sent again: a second delivery of a row is harmless."""
        stopped = False
        last, still = None, time.monotonic()
        while True:
            if not self._stop.is_set() and journal.stopped():  # a worker met a merchant decline
                self._config_stop("a worker stopped the batch: "
                                  + merchant_stop_reason("rows of decline_kind merchant in the report"))
            if self._stop.is_set() and not stopped:
                journal.set_stopped(True)
                stopped = True
            now = journal.counts()
            with self._counts_lock:
                self._counts = {state: count - base.get(state, 0) for state, count in now.items()
                                if state not in ("pending", "in_flight") and count > base.get(state, 0)}
            waiting = journal.waiting()
            if not waiting.get("in_flight") and (stopped or not waiting.get("pending")):
                return
            if now != last:
                last, still = now, time.monotonic()
            elif not stopped and time.monotonic() - still > self.resend_after:
                log.warning("no progress for %.0f s: the %d pending row(s) are sent again", self.resend_after,
                            waiting.get("pending", 0))
                self._resend(path, journal)
                still = time.monotonic()
            time.sleep(self.poll_interval)  # the journal is on another server: nothing to wait on here

    def _resend(self, path: Any, journal: PostgresJournal) -> None:
        with app.connection_for_write() as connection:
            for item in read_rows(path, delimiter=self.delimiter):
                if isinstance(item, ChargeRow):
                    entry = journal.get(item.order_number)
                    if entry is not None and entry.state == "pending":
                        self._send(journal, item, connection)

    def _check_picklable(self) -> None:
        """Nothing is pickled: the workers build their own client from their environment."""
