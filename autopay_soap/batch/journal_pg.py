"""The batch journal in PostgreSQL: the same operations as the SQLite :class:`~.journal.Journal`,
shared by many runners and hosts (the ``postgres`` extra: ``pip install "autopay_soap[postgres]"``).

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
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attr

from .journal import ENTRY_COLUMNS, RESULT_FIELDS, JournalBusy, JournalEntry
from .rows import ChargeRow

__all__ = ["Claim", "PostgresJournal", "split_url"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS autopay_batches (
    merchant TEXT NOT NULL,
    batch TEXT NOT NULL,
    file_digest TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant, batch)
);
CREATE TABLE IF NOT EXISTS autopay_charges (
    merchant TEXT NOT NULL,
    order_number TEXT NOT NULL,
    batch TEXT NOT NULL,
    line INTEGER NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    client_id TEXT,
    instrument TEXT,
    two_stage INTEGER,
    state TEXT NOT NULL,
    order_id TEXT,
    gateway_code INTEGER,
    action_code INTEGER,
    message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    lease_until TIMESTAMPTZ,
    claims INTEGER NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    original_order_number TEXT,
    attempt INTEGER,
    decline_kind TEXT,
    decline_code TEXT,
    finished_at DOUBLE PRECISION,
    next_attempt_at DOUBLE PRECISION,
    PRIMARY KEY (merchant, order_number)
);

CREATE INDEX IF NOT EXISTS autopay_charges_batch_state ON autopay_charges (merchant, batch, state);
ALTER TABLE autopay_batches ADD COLUMN IF NOT EXISTS stopped BOOLEAN NOT NULL DEFAULT false;
CREATE TABLE IF NOT EXISTS autopay_rate (
    merchant TEXT PRIMARY KEY,
    next_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""


_ADDED_COLUMNS = (("original_order_number", "TEXT"), ("attempt", "INTEGER"), ("decline_kind", "TEXT"),
                  ("decline_code", "TEXT"), ("finished_at", "DOUBLE PRECISION"),
                  ("next_attempt_at", "DOUBLE PRECISION"))
"""Columns added after the first release: added to an older table once, by the first runner that
finds them missing (an ALTER TABLE waits for every reader of the table, so it is never run when
there is nothing to add)."""


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


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Claim:
    """A row taken for one owner: ``takeover`` when an earlier owner may have sent its request
    (its lease ran out, or the row was left ``in_flight``): look the order up first."""

    order_number: str
    claims: int
    takeover: bool


class PostgresJournal:
    """The journal of one merchant's batch in PostgreSQL (see the module docstring).

    :param url: ``postgresql://…`` with the optional ``merchant`` and ``batch`` parameters.
    :param runner_lock: take the one-runner lock of the batch (a worker opens without it).
    """

    def __init__(self, url: str, *, runner_lock: bool = True, connect_timeout: int = 10) -> None:
        self.url = url
        self.dsn, self.merchant, self.batch = split_url(url)
        self.runner_lock = runner_lock
        self.connect_timeout = connect_timeout
        self._db: Any = None
        self._mutex = threading.Lock()

    def __repr__(self) -> str:  # no password, whatever the URL holds
        parts = urlsplit(self.dsn)
        host = parts.hostname or "local socket"
        return f"PostgresJournal(host={host!r}, merchant={self.merchant!r}, batch={self.batch!r})"

    @property
    def location(self) -> str:
        """What a worker process opens: the URL as given."""
        return self.url

    # -- life cycle -----------------------------------------------------------------------

    def open(self) -> "PostgresJournal":
        """Connect, create the tables if needed and take the batch's runner lock (or raise
        :class:`~.journal.JournalBusy`)."""
        import psycopg

        self._db = psycopg.connect(self.dsn, autocommit=True, connect_timeout=self.connect_timeout)
        try:
            with self._mutex:
                self._db.execute("SELECT pg_advisory_lock(hashtext('autopay_soap schema'))")
                try:
                    self._db.execute(_SCHEMA)
                    self._add_columns()
                finally:
                    self._db.execute("SELECT pg_advisory_unlock(hashtext('autopay_soap schema'))")
                self._db.execute("INSERT INTO autopay_batches (merchant, batch) VALUES (%s, %s) "
                                 "ON CONFLICT DO NOTHING", (self.merchant, self.batch))
                if self.runner_lock:
                    got = self._db.execute("SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))",
                                           (self.merchant, self.batch)).fetchone()[0]
                    if not got:
                        raise JournalBusy(f"another runner is using the batch {self.batch!r} of merchant "
                                          f"{self.merchant!r}")
        except BaseException:
            self.close()
            raise
        return self

    def _add_columns(self) -> None:
        """Bring a table made by an older version up to date (see :data:`_ADDED_COLUMNS`)."""
        present = {row[0] for row in self._db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'autopay_charges'").fetchall()}
        missing = [(column, kind) for column, kind in _ADDED_COLUMNS if column not in present]
        if not missing:
            if not self._db.execute("SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND "
                                    "indexname = 'autopay_charges_card_kind'").fetchone():
                self._db.execute("CREATE INDEX IF NOT EXISTS autopay_charges_card_kind ON autopay_charges "
                                 "(merchant, instrument, decline_kind)")
            return
        try:  # an ALTER TABLE waits for every open transaction on the table: bounded, and said so
            self._db.execute("SET lock_timeout = '30s'")
            for column, kind in missing:
                self._db.execute(f"ALTER TABLE autopay_charges ADD COLUMN IF NOT EXISTS {column} {kind}")
            self._db.execute("CREATE INDEX IF NOT EXISTS autopay_charges_card_kind ON autopay_charges "
                             "(merchant, instrument, decline_kind)")
        except Exception as exc:  # noqa: BLE001 - psycopg's LockNotAvailable and the like
            raise RuntimeError("the journal's table needs new columns (an upgrade of autopay_soap) and another "
                               f"session kept it locked for 30 s ({type(exc).__name__}); run again when the "
                               "table's long transactions are over") from None
        finally:
            self._db.execute("RESET lock_timeout")

    def close(self) -> None:
        """Close the connection (which releases the runner lock)."""
        if self._db is not None:
            with self._mutex:
                self._db.close()
                self._db = None

    def __enter__(self) -> "PostgresJournal":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, sql: str, params: Tuple[Any, ...] = ()) -> Any:
        if self._db is None:
            raise RuntimeError("the journal is not open")
        with self._mutex:
            return self._db.execute(sql, params)

    # -- the batch ------------------------------------------------------------------------

    def bind_file(self, digest: str) -> None:
        """Tie the batch to the input file's digest; another file under this batch is refused
        (:class:`ValueError`): an edited file is a new batch."""
        self._run("UPDATE autopay_batches SET file_digest = %s WHERE merchant = %s AND batch = %s "
                  "AND file_digest IS NULL", (digest, self.merchant, self.batch))
        found = self._run("SELECT file_digest FROM autopay_batches WHERE merchant = %s AND batch = %s",
                          (self.merchant, self.batch)).fetchone()[0]
        if found != digest:
            raise ValueError(f"the batch {self.batch!r} was started with another file (digest {found[:12]}…); "
                             "an edited file is a new batch: give it another batch name")

    # -- entries (the SQLite journal's operations) ----------------------------------------

    def _insert(self, row: ChargeRow, state: str, on_conflict: str, attempts: int = 0) -> None:
        """Write ``row`` with what it asks for, in ``state``; ``on_conflict`` says what an existing
        row of the number becomes (what it asked for is never changed)."""
        self._run(
            "INSERT INTO autopay_charges (merchant, order_number, batch, line, amount_minor, currency, client_id, "
            "instrument, two_stage, original_order_number, attempt, state, attempts) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (merchant, order_number) " + on_conflict,
            (self.merchant, row.order_number, self.batch, row.line, row.amount.minor, row.amount.currency.alpha,
             row.client_id, row.instrument, int(row.two_stage), row.original_order_number, row.attempt, state,
             attempts))

    def get(self, order_number: str) -> Optional[JournalEntry]:
        """The entry of an order number of this merchant, from whichever batch, if any."""
        row = self._run(f"SELECT {ENTRY_COLUMNS} FROM autopay_charges WHERE merchant = %s AND order_number = %s",
                        (self.merchant, order_number)).fetchone()
        return JournalEntry(*row) if row else None

    def intend(self, row: ChargeRow) -> None:
        """Record the intent before the gateway is called (``in_flight``); the first intent of a
        number records what it asks for, a retry never changes that."""
        self._insert(row, "in_flight", "DO UPDATE SET state = 'in_flight', attempts = autopay_charges.attempts + 1, "
                     "updated_at = now()", attempts=1)

    def record(self, order_number: str, state: str, **fields: Any) -> None:
        """Record the result of a charge (and end any claim on it): the state and the
        :data:`~.journal.RESULT_FIELDS` given (the others are cleared; ``order_id`` is kept)."""
        values = [fields.get(name) for name in RESULT_FIELDS]
        self._run(
            "UPDATE autopay_charges SET state = %s, order_id = COALESCE(%s, order_id), gateway_code = %s, "
            "action_code = %s, message = %s, decline_kind = %s, decline_code = %s, finished_at = %s, "
            "next_attempt_at = %s, owner = NULL, lease_until = NULL, updated_at = now() "
            "WHERE merchant = %s AND order_number = %s",
            (state, *values, self.merchant, order_number))

    def hard_decline(self, instrument: str, order_number: str) -> Optional[str]:
        """The order number of a hard decline of ``instrument`` by this merchant (another number
        than ``order_number``), if any: that card is never charged again."""
        found = self._run("SELECT order_number FROM autopay_charges WHERE merchant = %s AND instrument = %s "
                          "AND decline_kind = 'hard' AND order_number <> %s LIMIT 1",
                          (self.merchant, instrument, order_number)).fetchone()
        return found[0] if found else None

    def card_history(self, instrument: str, since: float) -> List[float]:
        """When each charge of ``instrument`` by this merchant finished since ``since`` (a merchant
        decline is the terminal's, not an attempt on the card)."""
        return [row[0] for row in self._run(
            "SELECT finished_at FROM autopay_charges WHERE merchant = %s AND instrument = %s AND finished_at >= %s "
            "AND state IN ('paid', 'held', 'declined', 'failed') AND COALESCE(decline_kind, '') <> 'merchant'",
            (self.merchant, instrument, since)).fetchall()]

    def claim(self, row: ChargeRow, owner: str, lease_seconds: float) -> Optional[Claim]:
        """Take ``row`` for ``owner`` for ``lease_seconds``: None while another owner's lease is
        live or the row is final. The row is created (``pending``) if it is new."""
        self._insert(row, "pending", "DO NOTHING")
        found = self._run(
            "UPDATE autopay_charges SET owner = %s, lease_until = now() + make_interval(secs => %s), "
            "claims = claims + 1 WHERE merchant = %s AND order_number = %s "
            "AND state NOT IN ('paid', 'held', 'declined', 'mismatch') "
            "AND (owner IS NULL OR lease_until < now()) RETURNING claims, state",
            (owner, float(lease_seconds), self.merchant, row.order_number)).fetchone()
        if found is None:
            return None
        claims, state = found
        return Claim(row.order_number, claims, takeover=claims > 1 or state in ("in_flight", "unknown"))

    def unresolved_count(self) -> int:
        """Entries of this batch left in flight, unknown or for retry (or, by a stopped cluster
        run, pending: queued and not started)."""
        return int(self._run("SELECT COUNT(*) FROM autopay_charges WHERE merchant = %s AND batch = %s "
                             "AND state IN ('in_flight', 'unknown', 'retry', 'pending')",
                             (self.merchant, self.batch)).fetchone()[0])

    def is_empty(self) -> bool:
        """True while no run of this **merchant** has written a row, whatever the batch: the
        runner then skips the per-row look-up, which is safe only if no number can be known."""
        return self._run("SELECT 1 FROM autopay_charges WHERE merchant = %s LIMIT 1",
                         (self.merchant,)).fetchone() is None

    def counts(self) -> Dict[str, int]:
        """Entries of this batch per state."""
        return dict(self._run("SELECT state, COUNT(*) FROM autopay_charges WHERE merchant = %s AND batch = %s "
                              "GROUP BY state", (self.merchant, self.batch)).fetchall())

    # -- a batch run by a cluster (autopay_soap.celery) ----------------------------------------

    def queue(self, row: ChargeRow) -> None:
        """Load ``row`` as ``pending`` for the workers (a row left in flight, unknown or for retry
        by an earlier run is queued again; a final or mismatched one never is)."""
        self._insert(row, "pending", "DO UPDATE SET state = 'pending', batch = excluded.batch, updated_at = now() "
                     "WHERE autopay_charges.state IN ('in_flight', 'unknown', 'retry', 'pending')")

    def waiting(self) -> Dict[str, int]:
        """Rows of this batch not yet done: ``pending`` (not started) and ``in_flight``."""
        return dict(self._run("SELECT state, COUNT(*) FROM autopay_charges WHERE merchant = %s AND batch = %s "
                              "AND state IN ('pending', 'in_flight') GROUP BY state",
                              (self.merchant, self.batch)).fetchall())

    def set_stopped(self, stopped: bool) -> None:
        """Stop (or let go on) the batch: workers start no row of a stopped batch."""
        self._run("UPDATE autopay_batches SET stopped = %s WHERE merchant = %s AND batch = %s",
                  (stopped, self.merchant, self.batch))

    def stopped(self) -> bool:
        """True once the batch's producer has stopped it (Ctrl-C, SIGTERM, a refused setting)."""
        found = self._run("SELECT stopped FROM autopay_batches WHERE merchant = %s AND batch = %s",
                          (self.merchant, self.batch)).fetchone()
        return bool(found and found[0])

    def take_slot(self, per_second: float) -> float:
        """One start of a charge under the merchant's rate, shared by every worker of every host:
        the seconds to wait before starting (0 when the rate has room)."""
        self._run("INSERT INTO autopay_rate (merchant) VALUES (%s) ON CONFLICT DO NOTHING", (self.merchant,))
        found = self._run(
            "UPDATE autopay_rate SET next_at = GREATEST(next_at, now()) + make_interval(secs => %s) "
            "WHERE merchant = %s RETURNING EXTRACT(EPOCH FROM (next_at - now())) - %s",
            (1.0 / per_second, self.merchant, 1.0 / per_second)).fetchone()
        return max(float(found[0]), 0.0)

