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
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from ..rows import ChargeRow
from ..states import IllegalMove, RowState, check_move
from .ledger import JournalLedger, LedgerStatements
from .port import JournalBusy, JournalEntry
from .sql import SQLITE, Statements

__all__ = ["SqliteJournal"]

_SQL = Statements(SQLITE)
_LEDGER_SQL = LedgerStatements(SQLITE)
_MANY = 500
"""Order numbers per look-up of :meth:`SqliteJournal.entries`."""


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


class SqliteJournal:
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

    def open(self) -> "SqliteJournal":
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
        for statement in _SQL.create():
            db.execute(statement)
        present = frozenset(row[1] for row in db.execute("PRAGMA table_info(charges)"))
        for statement in _SQL.added_columns(present):  # a journal written by an older version
            db.execute(statement)
        for _name, statement in _SQL.indexes():
            db.execute(statement)
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

    def __enter__(self) -> "SqliteJournal":
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

    @property
    def shared(self) -> bool:
        """False: a file is one batch's journal (the merchant's card memory is kept beside it)."""
        return False

    def bind_file(self, digest: str) -> None:
        """Nothing: a SQLite journal is named for its file by whoever runs it; an edited row is
        found out row by row (:meth:`JournalEntry.differences`)."""

    # -- entries --------------------------------------------------------------------------

    def get(self, order_number: str) -> Optional[JournalEntry]:
        """The entry of an order number, if any (read without waiting for the writer)."""
        with self._read_mutex:
            row = self._reader_db.execute(_SQL.get, (order_number,)).fetchone()
        return JournalEntry(*row) if row else None

    def entries(self, order_numbers: List[str]) -> Dict[str, JournalEntry]:
        """The entries of many order numbers (those the journal knows), 500 a statement."""
        found: Dict[str, JournalEntry] = {}
        for start in range(0, len(order_numbers), _MANY):
            chunk = order_numbers[start:start + _MANY]
            with self._read_mutex:
                rows = self._reader_db.execute(_SQL.get_many(len(chunk)), chunk).fetchall()
            found.update((row[0], JournalEntry(*row)) for row in rows)
        return found

    def intend(self, row: ChargeRow, *, owner: Optional[str] = None, lease_seconds: Optional[float] = None) -> bool:
        """Record the intent before the gateway is called (state ``in_flight``); always True
        (``owner`` is a cluster worker's and has no meaning here).

        The first intent of an order number also records what it asks for; a later one (a
        retry) never changes that, so an edited row is found out (:meth:`JournalEntry.differences`).
        A final row raises :class:`~autopay_soap.batch.states.IllegalMove` and stays as it is.
        """
        with self._mutex:
            written = self.db.execute(_SQL.upsert(RowState.IN_FLIGHT),
                                      _SQL.insert_values(row, RowState.IN_FLIGHT, 1)).fetchone()
            if written is None:
                self._refuse(row.order_number, RowState.IN_FLIGHT)
        return True

    def record(self, order_number: str, state: RowState, *, owner: Optional[str] = None, **fields: Any) -> bool:
        """Record the result of a charge in flight: the state and the
        :data:`~autopay_soap.batch.journal.sql.RESULT_FIELDS` given (the others are cleared;
        ``order_id`` is kept when not given). Always True."""
        state = RowState(state)
        if state not in _SQL.record:
            self._refuse(order_number, state)
        with self._mutex:
            done = self.db.execute(_SQL.record[state] + " RETURNING 1",
                                   _SQL.record_values(state, fields, (), order_number)).fetchone()
            if done is None:
                self._refuse(order_number, state)
        return True

    def _refuse(self, order_number: str, state: RowState) -> None:
        """Raise the :class:`IllegalMove` of a write that changed nothing (writer's lock held)."""
        found = self.db.execute(_SQL.state_of, (order_number,)).fetchone()
        check_move(order_number, found[0] if found else None, state)
        raise IllegalMove(order_number, found[0] if found else None, state.value)  # the row moved meanwhile

    def hard_decline(self, instrument: str, order_number: str) -> Optional[str]:
        """The order number of a hard decline of ``instrument`` (another number than
        ``order_number``), if the journal has one: that card is never charged again."""
        with self._read_mutex:
            found = self._reader_db.execute(_SQL.hard_decline, (instrument, order_number)).fetchone()
        return found[0] if found else None

    def card_history(self, instrument: str, since: float, *, retries_only: bool = False) -> List[float]:
        """When each charge of ``instrument`` finished since ``since`` (paid or declined alike; a
        merchant decline is the terminal's, not an attempt on the card); ``retries_only``: only
        retries (attempt 2 or more)."""
        with self._read_mutex:
            return [row[0] for row in self._reader_db.execute(
                _SQL.card_retries if retries_only else _SQL.card_history, (instrument, since))]

    @property
    def _reader_db(self) -> sqlite3.Connection:
        if self._reader is None:
            raise RuntimeError("the journal is not open")
        return self._reader

    def unresolved_count(self) -> int:
        """How many entries an earlier run left in flight, unknown or for retry (a setting refused them)."""
        with self._mutex:
            return int(self.db.execute(_SQL.unresolved_count).fetchone()[0])

    def is_empty(self) -> bool:
        """True for a journal no run has written to yet."""
        with self._mutex:
            return self.db.execute(_SQL.is_empty).fetchone() is None

    def ledger(self) -> JournalLedger:
        """Reconciliation's view of this journal (:class:`~autopay_soap.batch.journal.ledger.JournalLedger`)."""
        def run(sql: str, params: Tuple[Any, ...], fetch: Optional[str]) -> Any:
            with self._mutex:
                cursor = self.db.execute(sql, params)
                return cursor.fetchone() if fetch == "one" else cursor.fetchall() if fetch == "all" else None

        return JournalLedger(_LEDGER_SQL, run)

    def counts(self) -> Dict[str, int]:
        """Entries per state."""
        with self._mutex:
            return dict(self.db.execute(_SQL.counts).fetchall())
