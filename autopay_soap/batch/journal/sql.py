"""The journal's table and statements, written once over a small :class:`Dialect`.

Both journals run the same statements: SQLite with ``?`` placeholders on the table
``charges``, PostgreSQL with ``%s`` on ``autopay_charges`` scoped to a merchant (and, for a
batch's counts, a batch). The state moves of :mod:`autopay_soap.batch.states` are part of the
statements (``WHERE state IN`` the states a move may come from), so a write the table does not
allow changes nothing and the journal says so (:class:`~autopay_soap.batch.states.IllegalMove`).
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, List, Optional, Tuple

import attr

from ..rows import ChargeRow
from ..states import CARD_HISTORY, QUEUED, RESULTS, WAITING, RowState, sources, sql_list

__all__ = ["ENTRY_COLUMNS", "POSTGRES", "RESULT_FIELDS", "SQLITE", "Dialect", "Statements"]

ENTRY_COLUMNS = ("order_number, line, state, order_id, gateway_code, action_code, message, attempts, amount_minor, "
                 "currency, client_id, instrument, two_stage, original_order_number, attempt, decline_kind, "
                 "decline_code, finished_at, next_attempt_at, receipt_digest")
"""The columns of a :class:`~autopay_soap.batch.journal.JournalEntry`, in its order."""
RESULT_FIELDS = ("order_id", "gateway_code", "action_code", "message", "decline_kind", "decline_code",
                 "finished_at", "next_attempt_at")
"""What a journal's ``record`` writes besides the state."""

_FIRST_COLUMNS = ("order_number", "line", "amount_minor", "currency", "state", "order_id", "gateway_code",
                  "action_code", "message", "attempts", "updated_at")
"""The columns of the first release's table: never added by a migration."""
_COLUMNS: Tuple[Tuple[str, str, str, bool], ...] = (
    # name, kind, constraint, only in a shared (cluster) journal
    ("merchant", "text", "NOT NULL", True),
    ("order_number", "text", "NOT NULL", False),
    ("batch", "text", "NOT NULL", True),
    ("line", "int", "NOT NULL", False),
    ("amount_minor", "bigint", "NOT NULL", False),
    ("currency", "text", "NOT NULL", False),
    ("client_id", "text", "", False),
    ("instrument", "text", "", False),
    ("two_stage", "int", "", False),
    ("state", "text", "NOT NULL", False),
    ("order_id", "text", "", False),
    ("gateway_code", "int", "", False),
    ("action_code", "int", "", False),
    ("message", "text", "", False),
    ("attempts", "int", "NOT NULL DEFAULT 0", False),
    ("owner", "text", "", True),
    ("lease_until", "instant", "", True),
    ("claims", "int", "NOT NULL DEFAULT 0", True),
    ("updated_at", "instant", "NOT NULL", False),
    ("original_order_number", "text", "", False),
    ("attempt", "int", "", False),
    ("decline_kind", "text", "", False),
    ("decline_code", "text", "", False),
    ("finished_at", "float", "", False),
    ("next_attempt_at", "float", "", False),
    ("binding_id", "text", "", True),
    ("account_token", "text", "", True),
    ("description", "text", "", True),
    ("instrument_column", "text", "", True),
    ("receipt_digest", "text", "", False),
    ("receipt", "text", "", True),
)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Dialect:
    """What differs between the two databases' statements."""

    mark: str
    """The placeholder."""
    table: str
    scope: Tuple[str, ...]
    """The columns naming a merchant's rows (empty: a file is one merchant's)."""
    batch_scope: Tuple[str, ...]
    """The columns naming one batch's rows."""
    types: Dict[str, str]
    now: str
    """SQL for the current time, as ``updated_at`` stores it."""
    shared: bool
    """The cluster columns exist (a merchant's database: owners, leases, the queued charge)."""
    state_index: str


SQLITE = Dialect(mark="?", table="charges", scope=(), batch_scope=(),
                 types={"text": "TEXT", "int": "INTEGER", "bigint": "INTEGER", "float": "REAL", "instant": "REAL"},
                 now="((julianday('now') - 2440587.5) * 86400.0)", shared=False, state_index="charges_state")
POSTGRES = Dialect(mark="%s", table="autopay_charges", scope=("merchant",), batch_scope=("merchant", "batch"),
                   types={"text": "TEXT", "int": "INTEGER", "bigint": "BIGINT", "float": "DOUBLE PRECISION",
                          "instant": "TIMESTAMPTZ"},
                   now="now()", shared=True, state_index="autopay_charges_batch_state")


class Statements:
    """Every statement of the journal's table in one dialect (built once)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = d = dialect
        m, t = d.mark, d.table
        self.columns = [(name, kind, extra) for name, kind, extra, shared in _COLUMNS if d.shared or not shared]
        where = "".join(f"{column} = {m} AND " for column in d.scope)
        batch_where = "".join(f"{column} = {m} AND " for column in d.batch_scope)
        self.get = f"SELECT {ENTRY_COLUMNS} FROM {t} WHERE {where}order_number = {m}"
        self.state_of = f"SELECT state FROM {t} WHERE {where}order_number = {m}"
        self._get_many = f"SELECT {ENTRY_COLUMNS} FROM {t} WHERE {where}order_number IN ({{marks}})"
        self.get_any = f"SELECT {ENTRY_COLUMNS} FROM {t} WHERE {where}order_number = ANY({m})"
        """PostgreSQL: the entries of a list of order numbers given as one array parameter."""
        self.hard_decline = (f"SELECT order_number FROM {t} WHERE instrument = {m} AND decline_kind = 'hard' "
                             f"AND NOT ({where}order_number = {m}) LIMIT 1")
        history = (f"SELECT finished_at FROM {t} WHERE {where}instrument = {m} AND finished_at >= {m} "
                   f"AND state IN {sql_list(CARD_HISTORY)} AND COALESCE(decline_kind, '') <> 'merchant'")
        self.card_history = history
        self.card_retries = history.replace(f"instrument = {m} AND", f"instrument = {m} AND attempt > 1 AND", 1)
        self.unresolved_count = f"SELECT COUNT(*) FROM {t} WHERE {batch_where}state IN {sql_list(QUEUED)}"
        self.counts = f"SELECT state, COUNT(*) FROM {t} WHERE {batch_where}order_number IS NOT NULL GROUP BY state"
        self.is_empty = f"SELECT 1 FROM {t} WHERE {where}order_number IS NOT NULL LIMIT 1"
        released = ", owner = NULL, lease_until = NULL" if d.shared else ""
        self.record = {state: (
            f"UPDATE {t} SET state = {m}, order_id = COALESCE({m}, order_id), gateway_code = {m}, "
            f"action_code = {m}, message = {m}, decline_kind = {m}, decline_code = {m}, finished_at = {m}, "
            f"next_attempt_at = {m}{released}, updated_at = {d.now} WHERE {where}order_number = {m} "
            f"AND state IN {sql_list(sources(state))}") for state in RESULTS}
        self.waiting = WAITING
        self._upserts: Dict[Tuple[RowState, str, bool], str] = {}

    def get_many(self, count: int) -> str:
        """The entries of ``count`` order numbers (the scope's parameters first, then the numbers)."""
        return self._get_many.format(marks=", ".join([self.dialect.mark] * count))

    # -- writing a row ----------------------------------------------------------------------

    def insert_columns(self) -> List[str]:
        """The columns an intent (or a queued row) writes, in :meth:`insert_values`' order."""
        names = ["order_number", "line", "amount_minor", "currency", "client_id", "instrument", "two_stage",
                 "original_order_number", "attempt", "receipt_digest", "state", "attempts"]
        if self.dialect.shared:
            names += ["merchant", "batch", "binding_id", "account_token", "description", "instrument_column",
                      "receipt"]
        return names

    def insert_values(self, row: ChargeRow, state: RowState, attempts: int, scope: Tuple[Any, ...] = (),
                      receipt_text: Optional[str] = None) -> Tuple[Any, ...]:
        """The values of :meth:`insert_columns` for ``row`` (``scope``: merchant and batch)."""
        values: Tuple[Any, ...] = (row.order_number, row.line, row.amount.minor, row.amount.currency.alpha,
                                   row.client_id, row.instrument, int(row.two_stage), row.original_order_number,
                                   row.attempt, row.receipt_digest, state.value, attempts)
        if self.dialect.shared:
            values += (*scope, row.binding_id, row.account_token, row.description, row.instrument_column,
                       receipt_text)
        return values

    def upsert(self, state: RowState, *, extra: str = "", returning: bool = True) -> str:
        """Write a row in ``state``: a new number is inserted with what it asks for; an existing
        one moves to ``state`` only from the states the table allows (what it asked for first is
        never changed; ``extra``: more ``SET`` items). ``RETURNING`` tells whether it was written."""
        key = (state, extra, returning)
        if key not in self._upserts:  # built once per kind: a batch writes one per row
            self._upserts[key] = self._build_upsert(state, extra, returning)
        return self._upserts[key]

    def _build_upsert(self, state: RowState, extra: str, returning: bool) -> str:
        names = self.insert_columns()
        source = f"VALUES ({', '.join([self.dialect.mark] * len(names))}, {self.dialect.now})"
        return self._upsert_from(source, state, extra) + (" RETURNING 1" if returning else "")

    def upsert_from(self, staging: str, state: RowState, *, extra: str = "") -> str:
        """:meth:`upsert` of every row of the table ``staging`` (its columns are
        :meth:`insert_columns`; loaded by ``COPY``), in line order, returning the order numbers
        written. The rows must not repeat an order number (the pre-flight made sure)."""
        names = ", ".join(self.insert_columns())
        source = f"SELECT {names}, {self.dialect.now} FROM {staging} ORDER BY line"
        return self._upsert_from(source, state, extra) + " RETURNING order_number"

    def staging(self, name: str) -> str:
        """PostgreSQL: create the session's staging table ``name`` (the columns of
        :meth:`insert_columns`, emptied at every commit) unless it exists."""
        return (f"CREATE TEMP TABLE IF NOT EXISTS {name} ON COMMIT DELETE ROWS AS "
                f"SELECT {', '.join(self.insert_columns())} FROM {self.dialect.table} WITH NO DATA")

    def _upsert_from(self, source: str, state: RowState, extra: str) -> str:
        d, t = self.dialect, self.dialect.table
        key = ", ".join((*d.scope, "order_number"))
        counted = f", attempts = {t}.attempts + 1" if state is RowState.IN_FLIGHT else ""
        return (f"INSERT INTO {t} ({', '.join(self.insert_columns())}, updated_at) {source} "
                f"ON CONFLICT ({key}) DO UPDATE SET state = excluded.state{counted}, "
                f"updated_at = excluded.updated_at{extra} WHERE {t}.state IN {sql_list(sources(state))}")

    def record_values(self, state: RowState, fields: Dict[str, Any], scope: Tuple[Any, ...],
                      order_number: str) -> Tuple[Any, ...]:
        """The parameters of the statement ``record[state]``."""
        return (state.value, *(fields.get(name) for name in RESULT_FIELDS), *scope, order_number)

    # -- the table --------------------------------------------------------------------------

    def create(self) -> List[str]:
        """The statements that create the table and its indexes when missing."""
        d, t = self.dialect, self.dialect.table
        lines = [f"{name} {d.types[kind]} {extra}".strip() for name, kind, extra in self.columns]
        if d.shared:
            lines = [line + (" DEFAULT now()" if line.startswith("updated_at") else "") for line in lines]
        key = ", ".join((*d.scope, "order_number"))
        return [f"CREATE TABLE IF NOT EXISTS {t} ({', '.join(lines)}, PRIMARY KEY ({key}))",
                f"CREATE INDEX IF NOT EXISTS {d.state_index} ON {t} ({', '.join((*d.batch_scope, 'state'))})"]

    def added_columns(self, present: FrozenSet[str]) -> List[str]:
        """``ALTER TABLE`` statements for the columns a table made by an older version lacks."""
        d = self.dialect
        return [f"ALTER TABLE {d.table} ADD COLUMN {name} {d.types[kind]} {extra}".strip()
                for name, kind, extra in self.columns if name not in present and name not in _FIRST_COLUMNS]

    def indexes(self) -> List[Tuple[str, str]]:
        """``(name, CREATE INDEX statement)`` of the look-ups made before every charge, each a seek
        however many rows share a card: the hard-decline look-up, and the card's retries today
        (a first charge reads no row of its card's first attempts)."""
        t = self.dialect.table
        return [(f"{t}_instrument_kind",
                 f"CREATE INDEX IF NOT EXISTS {t}_instrument_kind ON {t} (instrument, decline_kind)"),
                (f"{t}_instrument_attempt",
                 f"CREATE INDEX IF NOT EXISTS {t}_instrument_attempt ON {t} (instrument, attempt, finished_at)")]
