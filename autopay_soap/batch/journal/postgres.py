"""The batch journal in PostgreSQL: the same operations as the SQLite :class:`~.journal.Journal`,
shared by many runners and hosts (the ``postgres`` extra: ``pip install ".[postgres]"`` from a checkout).

Chosen by the journal's URL: ``--journal postgresql://user@host/db`` (any libpq URL; the
parameters ``merchant`` and ``batch``, taken off before connecting, name the merchant whose
order numbers the rows are, default ``default``, and the batch, default ``default``).

* **One order number, one charge, per merchant.** The key is ``(merchant, order_number)``,
  whatever batch or run a row came from: a number reused by another batch with another
  amount is found out exactly as in SQLite (:meth:`JournalEntry.differences`).
* **Claims with leases.** :meth:`PostgresJournal.claim` takes a row for one owner for a while
  (a conditional ``UPDATE … RETURNING``); a row whose owner died is taken over once its lease
  has run out, and the claim says so (``claims > 1`` or a state left ``in_flight``): the
  caller then looks the order up at the gateway **before** any new request, the rule a resumed
  SQLite run follows.
* **One runner per batch** (``runner_lock=True``): a session-level advisory lock on the
  merchant and batch, released by the server when the runner's connection ends (even after
  ``kill -9``). A second runner is refused with :class:`~.journal.JournalBusy`.
* **A batch is one file.** :meth:`PostgresJournal.bind_file` records the input file's digest
  with the batch; another file under the same batch name is refused.

Every statement commits on its own (autocommit): a row is ``in_flight`` in the database before
its gateway call leaves, as in SQLite.

* **A lost connection is not the end of a run.** Every statement goes through a
  :class:`PgSession`, which reconnects (for ``reconnect_for`` seconds, 60 by default) after
  the server restarted or failed over. A read is simply run again; a write whose commit is
  unknown (the connection died between sending it and reading the answer) is **read back
  first** and sent again only if it did not land; the runner lock is taken again. Past the
  budget :class:`~.journal.JournalUnavailable` is raised.
* **A queued row is the whole charge.** :meth:`PostgresJournal.queue` writes everything the
  charge needs (amount, currency, client, the binding id or account token, description,
  two-stage, retry numbering); a worker charges :meth:`PostgresJournal.queued_row`, never what
  a broker message says. The binding ids are in the database in clear: protect it as the
  merchant's customer database (they charge nothing without the merchant's credentials).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ... import json_input
from ...errors import ValidationError
from ...money import Money
from ...receipts import Receipt
from ..rows import ChargeRow
from ..states import WAITING, IllegalMove, RowState, check_move, sql_list
from .ledger import JournalLedger, LedgerStatements
from .port import Claim, JournalBusy, JournalEntry, JournalUnavailable
from .sql import POSTGRES, Statements

__all__ = ["PgSession", "PostgresJournal", "split_url"]

log = logging.getLogger(__name__)

_SQL = Statements(POSTGRES)
_LEDGER_SQL = LedgerStatements(POSTGRES)
_BATCHES = """
CREATE TABLE IF NOT EXISTS autopay_batches (
    merchant TEXT NOT NULL,
    batch TEXT NOT NULL,
    file_digest TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant, batch)
);
ALTER TABLE autopay_batches ADD COLUMN IF NOT EXISTS stopped BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE autopay_batches ADD COLUMN IF NOT EXISTS stop_reason TEXT;
CREATE TABLE IF NOT EXISTS autopay_rate (
    merchant TEXT PRIMARY KEY,
    next_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""
"""The batches and the merchant's rate (the charges' table is :mod:`.sql`'s)."""



def split_url(url: str) -> Tuple[str, str, str]:
    """``(libpq URL, merchant, batch)``: the journal's own parameters taken off the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {parts.scheme}://…")
    query = parse_qsl(parts.query, keep_blank_values=True)
    mine = {k: v for k, v in query if k in ("merchant", "batch")}
    rest = [(k, v) for k, v in query if k not in ("merchant", "batch")]
    for name in ("merchant", "batch"):
        if name in mine and not mine[name].strip():
            raise ValueError(f"journal URL: {name}= is empty")
    return (urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), "")),
            mine.get("merchant", "default"), mine.get("batch", "default"))


_RECONNECT_PAUSE = (0.1, 0.25, 0.5, 1.0, 2.0)
"""Seconds between reconnect attempts (the last one repeats)."""


class PgSession:
    """One PostgreSQL connection that comes back after the server does (see the module docstring).

    Shared by the journals of every batch a worker process meets, so a process holds one
    connection however many batches it has charged. Thread-safe: one statement at a time.

    :param dsn: a libpq URL (without the journal's own parameters).
    :param reconnect_for: seconds to keep trying after a lost connection before
        :class:`~.journal.JournalUnavailable`.
    :param application_name: how the connection shows in ``pg_stat_activity``.
    """

    def __init__(self, dsn: str, *, connect_timeout: int = 10, reconnect_for: float = 60.0,
                 application_name: str = "autopay_soap") -> None:
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self.reconnect_for = reconnect_for
        self.application_name = application_name
        self._db: Any = None
        self._mutex = threading.RLock()
        self._schema_ready = False
        self._locks: Set[Tuple[str, str]] = set()
        self.reconnects = 0
        """How many times the connection was made again after being lost."""
        self._loaded, self._analyze_after = 0, 10_000

    def __repr__(self) -> str:  # no password, whatever the URL holds
        return f"PgSession(host={urlsplit(self.dsn).hostname or 'local socket'!r})"

    def _connect(self) -> None:
        import psycopg

        self._db = psycopg.connect(self.dsn, autocommit=True, connect_timeout=self.connect_timeout,
                                   application_name=self.application_name)
        if not self._schema_ready:
            self._db.execute("SELECT pg_advisory_lock(hashtext('autopay_soap schema'))")
            try:
                for statement in _SQL.create():
                    self._db.execute(statement)
                self._db.execute(_BATCHES)
                _add_columns(self._db)
            finally:
                self._db.execute("SELECT pg_advisory_unlock(hashtext('autopay_soap schema'))")
            self._schema_ready = True
        for merchant, batch in sorted(self._locks):  # a runner lock died with the old connection: take it again
            if not self._db.execute("SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))",
                                    (merchant, batch)).fetchone()[0]:
                self._locks.discard((merchant, batch))
                raise JournalBusy(f"while the journal's connection was down another runner took the batch "
                                  f"{batch!r} of merchant {merchant!r}")

    def _drop(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except Exception:  # noqa: BLE001 - a dead connection may fail to close: it is gone either way
                pass
            self._db = None

    def close(self) -> None:
        """Close the connection (which releases every runner lock it holds)."""
        with self._mutex:
            self._locks.clear()
            self._drop()

    def lock_batch(self, merchant: str, batch: str) -> None:
        """Take the one-runner lock of a batch (raise :class:`~.journal.JournalBusy`); it is taken
        again after a reconnect."""
        got = self.run("SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))", (merchant, batch), fetch="one")[0]
        if not got:
            raise JournalBusy(f"another runner is using the batch {batch!r} of merchant {merchant!r}")
        with self._mutex:
            self._locks.add((merchant, batch))

    def run(self, sql: str, params: Tuple[Any, ...] = (), *, fetch: Optional[str] = None,
            landed: Optional[Callable[[], Any]] = None) -> Any:
        """Run one statement (its own transaction) and return ``fetchone()`` (``fetch="one"``),
        ``fetchall()`` (``"all"``) or None.

        After a lost connection it reconnects and runs the statement again, within
        ``reconnect_for`` seconds. ``landed``: for a write that must not be applied twice, a
        read that tells whether it did land (a result other than None is returned as the
        statement's); it is asked before sending the statement again.
        """
        def one(db: Any) -> Any:
            cursor = db.execute(sql, params)
            return cursor.fetchone() if fetch == "one" else cursor.fetchall() if fetch == "all" else None

        return self._retrying(one, landed)

    def run_many(self, sql: str, params: List[Tuple[Any, ...]]) -> List[Tuple[Any, ...]]:
        """Run one statement for each parameter tuple in one round trip (psycopg's pipeline),
        and return every row they return. Reconnects as :meth:`run` does; after a lost
        connection the whole list is run again, so each statement must be safe to repeat."""
        def many(db: Any) -> List[Tuple[Any, ...]]:
            found: List[Tuple[Any, ...]] = []
            with db.cursor() as cursor:
                cursor.executemany(sql, params, returning=True)
                while True:
                    found.extend(cursor.fetchall())
                    if not cursor.nextset():
                        return found

        return self._retrying(many, None) if params else []

    def copy_many(self, staging: Tuple[str, str], columns: List[str], rows: List[Tuple[Any, ...]],
                  statement: str, *, analyze: str) -> List[Tuple[Any, ...]]:
        """``COPY`` ``rows`` (``columns``) into a staging table (``staging``: its name and the
        statement that makes it, emptied at each commit) and run ``statement`` over it, in one
        transaction: a few round trips for any number of rows. After a lost connection it all
        runs again, so ``statement`` must be safe to repeat.

        The planner's statistics of ``analyze`` (the table written) are kept fresh through a bulk
        load: ``ANALYZE`` once 10,000 rows have come since the last, then at each doubling (a
        million rows cost eight). With a table's statistics from before a big load, PostgreSQL
        reads all of a merchant's rows for every look-up of an order number."""
        name, create = staging

        def load(db: Any) -> List[Tuple[Any, ...]]:
            with db.transaction(), db.cursor() as cursor:
                cursor.execute(create)
                with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cursor.execute(statement)
                return cursor.fetchall()

        found = self._retrying(load, None) if rows else []
        self._loaded += len(rows)
        if self._loaded >= self._analyze_after:
            self.run(f"ANALYZE {analyze}")
            self._loaded, self._analyze_after = 0, self._analyze_after * 2
        return found

    def _retrying(self, work: Callable[[Any], Any], landed: Optional[Callable[[], Any]]) -> Any:
        """``work(connection)``, again after a lost connection (see :meth:`run`)."""
        import psycopg

        deadline = time.monotonic() + self.reconnect_for
        unknown = False  # a statement was sent and its answer lost: it may have committed
        pauses = 0
        with self._mutex:
            while True:
                try:
                    if self._db is None:
                        self._connect()
                        if pauses:
                            self.reconnects += 1
                            log.warning("the journal's connection is back (%s)", self)
                    if unknown and landed is not None:
                        found = landed()
                        if found is not None:
                            return found
                    unknown = False
                    return work(self._db)
                except psycopg.OperationalError as exc:
                    if self._db is not None and not (self._db.closed or self._db.broken):
                        raise  # the statement itself was refused (a lock timeout...): not the connection's fault
                    unknown = unknown or self._db is not None  # it may have reached the server
                    self._drop()
                    first_line = (str(exc).splitlines() or ["no details"])[0]
                    if time.monotonic() >= deadline:
                        raise JournalUnavailable(
                            f"the journal's PostgreSQL server ({urlsplit(self.dsn).hostname or 'local socket'}) "
                            f"could not be reached for {self.reconnect_for:.0f} s ({type(exc).__name__}: "
                            f"{first_line})") from None
                    if pauses == 0:
                        log.warning("the journal's connection was lost (%s: %s); reconnecting for up to %.0f s",
                                    type(exc).__name__, first_line, self.reconnect_for)
                    time.sleep(_RECONNECT_PAUSE[min(pauses, len(_RECONNECT_PAUSE) - 1)])
                    pauses += 1


def _add_columns(db: Any) -> None:
    """Bring a table made by an older version up to date (:meth:`.sql.Statements.added_columns`):
    an ALTER TABLE waits for every reader of the table, so it is never run when there is nothing to add."""
    present = frozenset(row[0] for row in db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'autopay_charges'").fetchall())
    missing = _SQL.added_columns(present)
    indexes = {row[0] for row in db.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                                            "AND tablename = 'autopay_charges'").fetchall()}
    missing += [statement for name, statement in _SQL.indexes() if name not in indexes]
    if not missing:
        return
    try:  # an ALTER TABLE waits for every open transaction on the table: bounded, and said so
        db.execute("SET lock_timeout = '30s'")
        for statement in missing:
            db.execute(statement)
    except Exception as exc:  # noqa: BLE001 - psycopg's LockNotAvailable and the like
        raise RuntimeError("the journal's table needs new columns or indexes (an upgrade of autopay_soap) and another "
                           f"session kept it locked for 30 s ({type(exc).__name__}); run again when the "
                           "table's long transactions are over") from None
    finally:
        db.execute("RESET lock_timeout")


_QUEUED_COLUMNS = ("line, order_number, client_id, binding_id, amount_minor, currency, two_stage, description, "
                   "account_token, original_order_number, attempt, instrument_column, instrument, state, "
                   "receipt, receipt_digest")


def _stored_receipt(number: str, text: Optional[str], currency: str, minor: int) -> Optional[Receipt]:
    """A queued row's receipt (None without one), checked like a file's: it adds up to the row's amount."""
    if text is None:
        return None
    try:
        receipt = Receipt.from_json(json_input.loads(text), currency)
    except ValueError as exc:  # not JSON, or a receipt the model refuses (ValidationError)
        raise ValidationError(f"journal: row {number}'s receipt cannot be read ({exc})", field="receipt") from None
    receipt.check_amount(Money.from_minor(minor, currency), "the row's amount")
    return receipt


_REQUEUE = (", batch = excluded.batch, binding_id = COALESCE(autopay_charges.binding_id, excluded.binding_id), "
            "account_token = COALESCE(autopay_charges.account_token, excluded.account_token), "
            "description = COALESCE(autopay_charges.description, excluded.description), "
            "instrument_column = COALESCE(autopay_charges.instrument_column, excluded.instrument_column)")
"""What a row queued again takes from the new queueing (what it asked for first never changes)."""
_STAGING = ("autopay_incoming", _SQL.staging("autopay_incoming"))
"""The session's staging table of :meth:`PostgresJournal.queue_many` (its statement, its name)."""
_QUEUE_STAGED = _SQL.upsert_from("autopay_incoming", RowState.PENDING, extra=_REQUEUE)


def _queued_row(found: Tuple[Any, ...]) -> Tuple[ChargeRow, RowState]:
    """A queued row read back from its columns (:data:`_QUEUED_COLUMNS`), checked as a producer wrote it."""
    (line, number, client_id, binding_id, minor, currency, two_stage, description, account_token, original,
     attempt, column, instrument, state, receipt_text, receipt_digest) = found
    if column is None or (binding_id is None) == (account_token is None):
        raise ValidationError(f"journal: row {number} was not queued by a producer of this version (no card "
                              "or account recorded)", field="journal")
    if isinstance(minor, bool) or not isinstance(minor, int) or minor <= 0:
        raise ValidationError(f"journal: row {number} has no positive whole amount", field="amount_minor")
    row = ChargeRow(line=int(line), order_number=number, client_id=client_id or "", binding_id=binding_id,
                    amount=Money.from_minor(minor, currency), two_stage=bool(two_stage),
                    description=description, account_token=account_token, original_order_number=original,
                    attempt=int(attempt or 1), instrument_column=column,
                    receipt=_stored_receipt(number, receipt_text, currency, minor))
    if row.instrument != instrument:
        raise ValidationError(f"journal: row {number}'s card or account does not match its digest",
                              field="binding_id")
    if row.receipt_digest != receipt_digest:
        raise ValidationError(f"journal: row {number}'s receipt does not match its digest", field="receipt")
    return row, RowState(state)


class PostgresJournal:
    """The journal of one merchant's batch in PostgreSQL (see the module docstring).

    :param url: ``postgresql://…`` with the optional ``merchant`` and ``batch`` parameters.
    :param runner_lock: take the one-runner lock of the batch (a worker opens without it).
    :param session: a :class:`PgSession` to share (a worker's journals of many batches share
        one connection); by default the journal makes its own and closes it with itself.
    :param reconnect_for: seconds a lost connection is tried again (own session only).
    """

    def __init__(self, url: str, *, runner_lock: bool = True, connect_timeout: int = 10,
                 session: Optional[PgSession] = None, reconnect_for: float = 60.0) -> None:
        self.url = url
        self.dsn, self.merchant, self.batch = split_url(url)
        self.runner_lock = runner_lock
        self.connect_timeout = connect_timeout
        self._own_session = session is None
        self._session = session or PgSession(self.dsn, connect_timeout=connect_timeout, reconnect_for=reconnect_for)
        self._opened = False

    def __repr__(self) -> str:  # no password, whatever the URL holds
        host = urlsplit(self.dsn).hostname or "local socket"
        return f"PostgresJournal(host={host!r}, merchant={self.merchant!r}, batch={self.batch!r})"

    @property
    def location(self) -> str:
        """What a worker process opens: the URL as given."""
        return self.url

    @property
    def session(self) -> PgSession:
        """The connection this journal uses."""
        return self._session

    def open(self) -> "PostgresJournal":
        """Connect, create the tables if needed and take the batch's runner lock (or raise
        :class:`~.journal.JournalBusy`)."""
        try:
            self._session.run("INSERT INTO autopay_batches (merchant, batch) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                              (self.merchant, self.batch))
            if self.runner_lock:
                self._session.lock_batch(self.merchant, self.batch)
        except BaseException:
            self.close()
            raise
        self._opened = True
        return self

    def close(self) -> None:
        """Close the connection (which releases the runner lock); a shared session stays open."""
        self._opened = False
        if self._own_session:
            self._session.close()

    def __enter__(self) -> "PostgresJournal":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, sql: str, params: Tuple[Any, ...] = (), fetch: Optional[str] = None,
             landed: Optional[Callable[[], Any]] = None) -> Any:
        if not self._opened:
            raise RuntimeError("the journal is not open")
        return self._session.run(sql, params, fetch=fetch, landed=landed)

    def bind_file(self, digest: str) -> None:
        """Tie the batch to the input file's digest; another file under this batch is refused
        (:class:`ValueError`): an edited file is a new batch."""
        self._run("UPDATE autopay_batches SET file_digest = %s WHERE merchant = %s AND batch = %s "
                  "AND file_digest IS NULL", (digest, self.merchant, self.batch))
        found = self._run("SELECT file_digest FROM autopay_batches WHERE merchant = %s AND batch = %s",
                          (self.merchant, self.batch), fetch="one")[0]
        if found != digest:
            raise ValueError(f"the batch {self.batch!r} was started with another file (digest {found[:12]}…); "
                             "an edited file is a new batch: give it another batch name")

    # -- entries (the SQLite journal's operations) ----------------------------------------

    @property
    def shared(self) -> bool:
        """True: the merchant's database, whose hard-decline look-up spans every batch."""
        return True

    def _scope(self) -> Tuple[str]:
        return (self.merchant,)

    def _receipt_text(self, row: ChargeRow) -> Optional[str]:
        return json.dumps(row.receipt.as_json(), ensure_ascii=False) if row.receipt is not None else None

    def _upsert(self, row: ChargeRow, state: RowState, attempts: int, extra: str = "",
                landed: Optional[Callable[[], Any]] = None) -> bool:
        """Write ``row`` in ``state`` (see :meth:`.sql.Statements.upsert`): False when the state
        table does not allow the move from the row's present state (nothing written)."""
        values = _SQL.insert_values(row, state, attempts, (self.merchant, self.batch), self._receipt_text(row))
        return self._run(_SQL.upsert(state, extra=extra), values, fetch="one", landed=landed) is not None

    def get(self, order_number: str) -> Optional[JournalEntry]:
        """The entry of an order number of this merchant, from whichever batch, if any."""
        row = self._run(_SQL.get, (self.merchant, order_number), fetch="one")
        return JournalEntry(*row) if row else None

    def entries(self, order_numbers: List[str]) -> Dict[str, JournalEntry]:
        """The entries of many order numbers of this merchant (those it knows), 2,000 a statement
        (one array parameter: the fewer round trips, the less a reply waits for the GIL)."""
        found: Dict[str, JournalEntry] = {}
        for start in range(0, len(order_numbers), 2000):
            chunk = order_numbers[start:start + 2000]
            rows = self._run(_SQL.get_any, (self.merchant, chunk), fetch="all")
            found.update((row[0], JournalEntry(*row)) for row in rows)
        return found

    def ledger(self) -> JournalLedger:
        """Reconciliation's view of this merchant's rows (:class:`~autopay_soap.batch.journal.ledger.JournalLedger`)."""
        return JournalLedger(_LEDGER_SQL, self._run, self._scope())

    def _state_of(self, order_number: str) -> Optional[Tuple[str, Optional[str]]]:
        return self._run("SELECT state, owner FROM autopay_charges WHERE merchant = %s AND order_number = %s",
                         (self.merchant, order_number), fetch="one")

    def _refuse(self, order_number: str, state: RowState) -> None:
        """Raise the :class:`IllegalMove` of a write that changed nothing."""
        found = self._state_of(order_number)
        check_move(order_number, found[0] if found else None, state)
        raise IllegalMove(order_number, found[0] if found else None, state.value)  # the row moved meanwhile

    def intend(self, row: ChargeRow, *, owner: Optional[str] = None, lease_seconds: Optional[float] = None) -> bool:
        """Record the intent before the gateway is called (``in_flight``); the first intent of a
        number records what it asks for, a retry never changes that. A final row raises
        :class:`~autopay_soap.batch.states.IllegalMove`.

        With ``owner`` (a cluster worker) the row must be queued and still claimed by that owner:
        False (nothing written, nothing may be sent) when another worker has taken it over; the
        lease is renewed for ``lease_seconds``.
        """
        def landed() -> Optional[bool]:  # in flight (and ours): the intent is on record, whichever write put it
            found = self._state_of(row.order_number)
            return True if found is not None and found[0] == RowState.IN_FLIGHT.value and found[1] == owner else None

        if owner is None:
            if not self._upsert(row, RowState.IN_FLIGHT, 1, landed=landed):
                self._refuse(row.order_number, RowState.IN_FLIGHT)
            return True

        found = self._run(
            "UPDATE autopay_charges SET state = %s, attempts = attempts + 1, updated_at = now(), "
            "lease_until = now() + make_interval(secs => %s) WHERE merchant = %s AND order_number = %s "
            f"AND owner = %s AND state IN {sql_list(WAITING)} RETURNING 1",
            (RowState.IN_FLIGHT.value, float(lease_seconds or 300), self.merchant, row.order_number, owner),
            fetch="one", landed=landed)
        return bool(found)

    def record(self, order_number: str, state: RowState, *, owner: Optional[str] = None, **fields: Any) -> bool:
        """Record the result of a charge in flight (and end any claim on it): the state and the
        :data:`~autopay_soap.batch.journal.sql.RESULT_FIELDS` given (the others are cleared; ``order_id`` is kept).

        With ``owner`` only while that owner holds the row: False (nothing written) after another
        worker took it over, whose own look-up and result then stand. After a lost connection it
        is read back first (it may have landed: sent again, the owner check would refuse it)."""
        state = RowState(state)
        if state not in _SQL.record:
            self._refuse(order_number, state)
        held = "" if owner is None else " AND owner = %s"

        def landed() -> Optional[bool]:  # our result is on record (a takeover's would have another state or time)
            found = self._run("SELECT 1 FROM autopay_charges WHERE merchant = %s AND order_number = %s AND state = %s "
                              "AND owner IS NULL AND finished_at IS NOT DISTINCT FROM %s",
                              (self.merchant, order_number, state.value, fields.get("finished_at")), fetch="one")
            return True if found else None

        found = self._run(_SQL.record[state] + held + " RETURNING 1",
                          _SQL.record_values(state, fields, self._scope(), order_number)
                          + (() if owner is None else (owner,)), fetch="one", landed=landed)
        if found is not None:
            return True
        now = self._state_of(order_number)
        if owner is not None and (now is None or now[1] != owner):
            return False  # another worker took the row over: its result stands
        self._refuse(order_number, state)
        return False  # not reached: _refuse raises

    def hard_decline(self, instrument: str, order_number: str) -> Optional[str]:
        """The order number of a hard decline of ``instrument`` (another number than
        ``order_number``) in this database, if any: that card is never charged again. Every
        merchant name in the database counts (a card declined hard is the card's, whatever name
        a batch runs under)."""
        found = self._run(_SQL.hard_decline, (instrument, self.merchant, order_number), fetch="one")
        return found[0] if found else None

    def card_history(self, instrument: str, since: float, *, retries_only: bool = False) -> List[float]:
        """When each charge of ``instrument`` by this merchant finished since ``since`` (a merchant
        decline is the terminal's, not an attempt on the card); ``retries_only``: only retries
        (attempt 2 or more)."""
        return [row[0] for row in self._run(_SQL.card_retries if retries_only else _SQL.card_history,
                                            (self.merchant, instrument, since), fetch="all")]

    def claim(self, order_number: str, owner: str, lease_seconds: float) -> Optional[Claim]:
        """Take the queued row ``order_number`` of this batch for ``owner`` for ``lease_seconds``:
        None while another owner's lease is live, or when the row is not queued in this batch
        (final, never queued, another batch's). Nothing is ever created here."""
        def landed() -> Optional[Tuple[int, str]]:
            return self._run("SELECT claims, state FROM autopay_charges WHERE merchant = %s AND order_number = %s "
                             "AND owner = %s AND lease_until > now()", (self.merchant, order_number, owner),
                             fetch="one")

        found = self._run(
            "UPDATE autopay_charges SET owner = %s, lease_until = now() + make_interval(secs => %s), "
            "claims = claims + 1 WHERE merchant = %s AND order_number = %s AND batch = %s "
            f"AND state IN {sql_list(WAITING)} AND (owner IS NULL OR lease_until < now()) RETURNING claims, state",
            (owner, float(lease_seconds), self.merchant, order_number, self.batch), fetch="one", landed=landed)
        if found is None:
            return None
        claims, state = found
        return Claim(order_number, claims, takeover=claims > 1 or state == RowState.IN_FLIGHT.value)

    def queued_row(self, order_number: str) -> Optional[Tuple[ChargeRow, RowState]]:
        """The row ``order_number`` of this batch as the producer queued it, and its state; None
        if this batch has no such row. Raises :class:`~autopay_soap.errors.ValidationError` for a
        row that no producer could have written (a hand-edited database)."""
        found = self._run(f"SELECT {_QUEUED_COLUMNS} FROM autopay_charges WHERE merchant = %s "
                          "AND order_number = %s AND batch = %s", (self.merchant, order_number, self.batch),
                          fetch="one")
        return None if found is None else _queued_row(found)

    def unresolved_count(self) -> int:
        """Entries of this batch left in flight, unknown or for retry (or, by a stopped cluster
        run, pending: queued and not started)."""
        return int(self._run(_SQL.unresolved_count, (self.merchant, self.batch), fetch="one")[0])

    def is_empty(self) -> bool:
        """True while no run of this **merchant** has written a row, whatever the batch: the
        runner then skips the per-row look-up, which is safe only if no number can be known."""
        return self._run(_SQL.is_empty, (self.merchant,), fetch="one") is None

    def counts(self) -> Dict[str, int]:
        """Entries of this batch per state."""
        return dict(self._run(_SQL.counts, (self.merchant, self.batch), fetch="all"))

    # -- a batch run by a cluster (autopay_soap.celery) ----------------------------------------

    def queue(self, row: ChargeRow) -> bool:
        """Load ``row`` as ``pending`` for the workers, with everything its charge needs (a row left
        in flight, unknown or for retry by an earlier run is queued again; what a number asked
        for first is never changed). False, with nothing written, for a row that is final (or
        mismatched): the table has no move from there."""
        return self._upsert(row, RowState.PENDING, 0, extra=_REQUEUE)

    def queue_many(self, rows: List[ChargeRow]) -> List[str]:
        """:meth:`queue` for many rows in one round trip; the order numbers actually queued (a
        final row is left as it is, and not among them)."""
        values = [_SQL.insert_values(row, RowState.PENDING, 0, (self.merchant, self.batch), self._receipt_text(row))
                  for row in rows]
        if not self._opened:
            raise RuntimeError("the journal is not open")
        found = self._session.copy_many(_STAGING, _SQL.insert_columns(), values, _QUEUE_STAGED,
                                        analyze=_SQL.dialect.table)
        return [row[0] for row in found]

    def waiting(self) -> Dict[str, int]:
        """Rows of this batch not yet done: ``pending`` (not started), ``in_flight`` (all of them)
        and ``in_flight_live`` (those a worker holds a live lease on)."""
        found = self._run(
            "SELECT COUNT(*) FILTER (WHERE state = %s), COUNT(*) FILTER (WHERE state = %s), "
            "COUNT(*) FILTER (WHERE owner IS NOT NULL AND lease_until > now()) "
            f"FROM autopay_charges WHERE merchant = %s AND batch = %s AND state IN {sql_list(WAITING)}",
            (RowState.PENDING.value, RowState.IN_FLIGHT.value, self.merchant, self.batch), fetch="one")
        return {RowState.PENDING.value: int(found[0]), RowState.IN_FLIGHT.value: int(found[1]),
                "in_flight_live": int(found[2])}

    def orphaned(self) -> List[str]:
        """Order numbers of this batch that no worker holds: ``pending`` or ``in_flight`` with no
        owner or an expired lease (their task was lost with a broker, or died with its worker)."""
        return [row[0] for row in self._run(
            "SELECT order_number FROM autopay_charges WHERE merchant = %s AND batch = %s "
            f"AND state IN {sql_list(WAITING)} AND (owner IS NULL OR lease_until < now()) ORDER BY line",
            (self.merchant, self.batch), fetch="all")]

    def set_stopped(self, stopped: bool, reason: Optional[str] = None) -> None:
        """Stop (or let go on) the batch: workers start no row of a stopped batch. ``reason``: why
        (a worker met a setting the gateway refused); a stop without one keeps the reason already
        given, and the batch going on clears it."""
        self._run("UPDATE autopay_batches SET stopped = %s, stop_reason = CASE WHEN %s THEN COALESCE(%s, stop_reason) "
                  "END WHERE merchant = %s AND batch = %s",
                  (stopped, stopped, reason[:500] if reason else None, self.merchant, self.batch))

    def stop_state(self) -> Tuple[bool, Optional[str]]:
        """Whether the batch is stopped, and the reason a worker gave (None: the producer's stop)."""
        found = self._run("SELECT stopped, stop_reason FROM autopay_batches WHERE merchant = %s AND batch = %s",
                          (self.merchant, self.batch), fetch="one")
        return (bool(found and found[0]), found[1] if found else None)

    def take_slot(self, per_second: float) -> float:
        """One start of a charge under the merchant's rate, shared by every worker of every host:
        the seconds to wait before starting (0 when the rate has room)."""
        self._run("INSERT INTO autopay_rate (merchant) VALUES (%s) ON CONFLICT DO NOTHING", (self.merchant,))
        found = self._run(
            "UPDATE autopay_rate SET next_at = GREATEST(next_at, now()) + make_interval(secs => %s) "
            "WHERE merchant = %s RETURNING EXTRACT(EPOCH FROM (next_at - now())) - %s",
            (1.0 / per_second, self.merchant, 1.0 / per_second), fetch="one")
        return max(float(found[0]), 0.0)
