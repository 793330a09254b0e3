"""The batch journal: a SQLite file (WAL) with the intent and the result of every charge.

A row is written as ``in_flight`` **before** its gateway call, with what it asks for (amount,
currency, client, a digest of the binding or account, one- or two-stage), and updated with the result
after it, each in its own committed transaction. After a crash (even ``kill -9``) a row left
``in_flight`` or ``unknown`` is reconciled on the next run by asking the gateway about the
same order number: the number is the idempotency key, so nothing is charged twice.

One runner at a time: an exclusive OS lock on ``<journal>.lock`` (released by the OS when the
process dies) refuses a second runner on the same journal. The lock files are named after the
journal's resolved path, so a symbolic link to the journal, or the same file reached by another
relative path, meets the same lock. The worker processes of a runner
(``processes > 1``) open the journal without that lock, which their parent holds; SQLite
serialises their writes. Each of them holds a shared lock on ``<journal>.workers.lock`` while it
runs, and a new runner is refused while any worker of an earlier one (say, one whose parent was
killed) is still finishing its charges in flight.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import attr

from ..money import Money
from .rows import ChargeRow

__all__ = ["ENTRY_COLUMNS", "FINAL_STATES", "QUEUED_STATES", "RESULT_FIELDS", "UNRESOLVED_STATES", "Journal",
           "JournalBusy", "JournalEntry", "JournalUnavailable"]

FINAL_STATES = ("paid", "held", "declined")
UNRESOLVED_STATES = ("in_flight", "unknown", "retry", "postponed")
"""States a later run with the same journal charges again (by order number, looked up first):
left in flight, unknown, refused for a setting (``retry``), held back by the card caps
(``postponed``). A cluster batch adds ``pending``: queued and not started."""
QUEUED_STATES = UNRESOLVED_STATES + ("pending",)
"""The unresolved states of a cluster batch: :data:`UNRESOLVED_STATES` and ``pending``."""


def sql_states(states: "tuple[str, ...]") -> str:
    """``('a', 'b')``: a tuple of state names as an SQL list (they are this module's constants)."""
    return "(" + ", ".join(f"'{state}'" for state in states) + ")"

_REQUEST_COLUMNS = (("client_id", "TEXT"), ("instrument", "TEXT"), ("two_stage", "INTEGER"),
                    ("original_order_number", "TEXT"), ("attempt", "INTEGER"), ("decline_kind", "TEXT"),
                    ("decline_code", "TEXT"), ("finished_at", "REAL"), ("next_attempt_at", "REAL"),
                    ("receipt_digest", "TEXT"))
ENTRY_COLUMNS = ("order_number, line, state, order_id, gateway_code, action_code, message, attempts, amount_minor, "
                 "currency, client_id, instrument, two_stage, original_order_number, attempt, decline_kind, "
                 "decline_code, finished_at, next_attempt_at, receipt_digest")
"""The columns of a :class:`JournalEntry`, in its order (both backends)."""
RESULT_FIELDS = ("order_id", "gateway_code", "action_code", "message", "decline_kind", "decline_code",
                 "finished_at", "next_attempt_at")
"""What :meth:`Journal.record` writes besides the state."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    order_number TEXT PRIMARY KEY,
    line INTEGER NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    state TEXT NOT NULL,
    order_id TEXT,
    gateway_code INTEGER,
    action_code INTEGER,
    message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS charges_state ON charges(state);
"""


class JournalBusy(RuntimeError):
    """Another runner holds this journal."""


class JournalUnavailable(RuntimeError):
    """The journal's database could not be reached for longer than the reconnect budget (a
    PostgreSQL server down or failing over): nothing more is charged until it is back. Run the
    same command again once it is (:data:`~autopay_soap.batch.outcome.EXIT_JOURNAL_UNAVAILABLE`)."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class JournalEntry:
    """What the journal knows of one order number."""

    order_number: str
    line: int
    state: str
    order_id: Optional[str]
    gateway_code: Optional[int]
    action_code: Optional[int]
    message: Optional[str]
    attempts: int
    amount_minor: int = 0
    currency: str = ""
    client_id: Optional[str] = None
    instrument: Optional[str] = None
    two_stage: Optional[int] = None
    original_order_number: Optional[str] = None
    attempt: Optional[int] = None
    decline_kind: Optional[str] = None
    """``soft``, ``hard``, ``rebind`` or ``merchant`` for a declined (or refused) charge."""
    decline_code: Optional[str] = None
    """The gateway's decline code as text (RBS actionCode, T-Bank ErrorCode)."""
    finished_at: Optional[float] = None
    """When the result was recorded (the runner's clock, seconds since the epoch)."""
    next_attempt_at: Optional[float] = None
    """When a soft decline's retry falls due (:class:`~autopay_soap.declines.schedule.RetrySchedule`); None: never."""
    receipt_digest: Optional[str] = None
    """:attr:`ChargeRow.receipt_digest <autopay_soap.batch.rows.ChargeRow.receipt_digest>` of the first charge."""

    def differences(self, row: ChargeRow) -> List[str]:
        """How the batch row ``row`` differs from what this order number asked for when it was
        first charged: one phrase per field (empty: the same charge). Fields a journal of an
        older version did not record are not compared."""
        found = []
        if (self.amount_minor, self.currency) != (row.amount.minor, row.amount.currency.alpha):
            found.append(f"amount: the journal has {Money.from_minor(self.amount_minor, self.currency)}, "
                         f"the file asks {row.amount}")
        if self.client_id is not None and self.client_id != row.client_id:
            found.append("client_id differs")
        if self.instrument is not None and self.instrument != row.instrument:
            found.append("the binding (or account) differs")
        if self.two_stage is not None and bool(self.two_stage) != bool(row.two_stage):
            found.append("two_stage differs")
        if self.receipt_digest != row.receipt_digest:  # (a version before receipts sent none: None)
            found.append("the receipt differs" if self.receipt_digest and row.receipt_digest else
                         "the file adds a receipt" if row.receipt_digest else "the file drops the receipt")
        return found


def _flock(path: str, operation: int) -> Optional[int]:
    """Open (creating) ``path`` and ``flock`` it: the descriptor, or None if another process holds it."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, operation)
    except OSError:
        os.close(fd)
        return None
    return fd


class Journal:
    """The SQLite journal of one batch (see the module docstring).

    :param runner_lock: take the one-runner lock when opening (the default). Only a worker
        process of the runner that holds it opens with ``False``.
    """

    def __init__(self, path: Union[str, Path], *, runner_lock: bool = True) -> None:
        self.path = Path(path)
        self.runner_lock = runner_lock
        self._lock_file: Optional[int] = None
        self._db: Optional[sqlite3.Connection] = None
        self._reader: Optional[sqlite3.Connection] = None
        self._mutex = threading.Lock()
        self._read_mutex = threading.Lock()

    # -- life cycle -----------------------------------------------------------------------

    def open(self) -> "Journal":
        """Take the runner lock (or raise :class:`JournalBusy`) and open the database."""
        import fcntl

        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"the journal's folder {self.path.parent} does not exist")
        identity = str(self.path.resolve())  # one lock per file, however it is named
        runner_path, workers_path = identity + ".lock", identity + ".workers.lock"
        if self.runner_lock:
            fd = _flock(runner_path, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if fd is None:
                raise JournalBusy(f"another runner is using the journal {self.path}")
            probe = _flock(workers_path, fcntl.LOCK_EX | fcntl.LOCK_NB)  # no earlier runner's worker still charging
            if probe is None:
                os.close(fd)
                raise JournalBusy(f"worker processes of an earlier runner are still finishing on {self.path}")
            os.close(probe)  # a probe only: this runner's own workers take it shared
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            self._lock_file = fd
        else:
            self._lock_file = _flock(workers_path, fcntl.LOCK_SH)  # blocks only during a runner's probe
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # durable across a process kill; fsync at checkpoints
        db.executescript(_SCHEMA)
        present = {row[1] for row in db.execute("PRAGMA table_info(charges)")}
        for column, kind in _REQUEST_COLUMNS:  # a journal written by an older version
            if column not in present:
                db.execute(f"ALTER TABLE charges ADD COLUMN {column} {kind}")
        # the hard-decline look-up before every charge: a seek, however many rows share the card
        db.execute("CREATE INDEX IF NOT EXISTS charges_instrument_kind ON charges(instrument, decline_kind)")
        self._db = db
        # look-ups use their own connection: in WAL mode a reader never waits for the writer
        self._reader = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        return self

    def close(self) -> None:
        """Close the database and release the lock (the runner's, or a worker's shared one)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._db is not None:
            with self._mutex:  # a write in progress (another thread's) ends first
                self._db.close()
                self._db = None
        if self._lock_file is not None:
            os.close(self._lock_file)  # closing releases the flock
            self._lock_file = None

    def __enter__(self) -> "Journal":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def location(self) -> str:
        """What a worker process opens: the file's path."""
        return str(self.path)

    @property
    def db(self) -> sqlite3.Connection:
        """The open connection."""
        if self._db is None:
            raise RuntimeError("the journal is not open")
        return self._db

    # -- entries --------------------------------------------------------------------------

    def get(self, order_number: str) -> Optional[JournalEntry]:
        """The entry of an order number, if any (read without waiting for the writer)."""
        if self._reader is None:
            raise RuntimeError("the journal is not open")
        with self._read_mutex:
            row = self._reader.execute(f"SELECT {ENTRY_COLUMNS} FROM charges WHERE order_number = ?",
                                       (order_number,)).fetchone()
        return JournalEntry(*row) if row else None

    def intend(self, row: ChargeRow) -> None:
        """Record the intent before the gateway is called (state ``in_flight``).

        The first intent of an order number also records what it asks for; a later one (a
        retry) never changes that, so an edited row is found out (:meth:`JournalEntry.differences`).
        """
        with self._mutex:
            self.db.execute(
                "INSERT INTO charges (order_number, line, amount_minor, currency, client_id, instrument, two_stage, "
                "original_order_number, attempt, receipt_digest, state, attempts, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'in_flight', 1, ?) "
                "ON CONFLICT(order_number) DO UPDATE SET "
                "state = 'in_flight', attempts = attempts + 1, updated_at = excluded.updated_at",
                (row.order_number, row.line, row.amount.minor, row.amount.currency.alpha, row.client_id,
                 row.instrument, int(row.two_stage), row.original_order_number, row.attempt, row.receipt_digest,
                 time.time()))

    def record(self, order_number: str, state: str, **fields: Any) -> None:
        """Record the result of a charge: the state and the :data:`RESULT_FIELDS` given (the
        others are cleared; ``order_id`` is kept when not given)."""
        values = [fields.get(name) for name in RESULT_FIELDS]
        with self._mutex:
            self.db.execute(
                "UPDATE charges SET state = ?, order_id = COALESCE(?, order_id), gateway_code = ?, action_code = ?, "
                "message = ?, decline_kind = ?, decline_code = ?, finished_at = ?, next_attempt_at = ?, "
                "updated_at = ? WHERE order_number = ?", (state, *values, time.time(), order_number))

    def hard_decline(self, instrument: str, order_number: str) -> Optional[str]:
        """The order number of a hard decline of ``instrument`` (another number than
        ``order_number``), if the journal has one: that card is never charged again."""
        with self._read_mutex:
            found = self._reader_db.execute(
                "SELECT order_number FROM charges WHERE instrument = ? AND decline_kind = 'hard' "
                "AND order_number <> ? LIMIT 1", (instrument, order_number)).fetchone()
        return found[0] if found else None

    def card_history(self, instrument: str, since: float, *, retries_only: bool = False) -> List[float]:
        """When each charge of ``instrument`` finished since ``since`` (paid or declined alike; a
        merchant decline is the terminal's, not an attempt on the card); ``retries_only``: only
        retries (attempt 2 or more)."""
        with self._read_mutex:
            return [row[0] for row in self._reader_db.execute(
                "SELECT finished_at FROM charges WHERE instrument = ? AND finished_at >= ? "
                "AND state IN ('paid', 'held', 'declined', 'failed') AND COALESCE(decline_kind, '') <> 'merchant'"
                + (" AND attempt > 1" if retries_only else ""), (instrument, since))]

    @property
    def _reader_db(self) -> sqlite3.Connection:
        if self._reader is None:
            raise RuntimeError("the journal is not open")
        return self._reader

    def unresolved_count(self) -> int:
        """How many entries an earlier run left in flight, unknown or for retry (a setting refused them)."""
        with self._mutex:
            return int(self.db.execute("SELECT COUNT(*) FROM charges WHERE state IN "
                                       + sql_states(UNRESOLVED_STATES)).fetchone()[0])

    def is_empty(self) -> bool:
        """True for a journal no run has written to yet."""
        with self._mutex:
            return self.db.execute("SELECT 1 FROM charges LIMIT 1").fetchone() is None

    def counts(self) -> Dict[str, int]:
        """Entries per state."""
        with self._mutex:
            return dict(self.db.execute("SELECT state, COUNT(*) FROM charges GROUP BY state").fetchall())

