"""What reconciliation reads and writes in a journal, the same over SQLite and PostgreSQL.

:class:`JournalLedger` streams the rows the journal holds as charged in a window, and the rows
whose outcome it does not know, in pages keyed by order number (memory stays flat however many
rows there are, and no cursor stays open across a write). Its one write to the journal's rows is
:meth:`JournalLedger.resolve`: a :data:`~autopay_soap.batch.states.RESOLVABLE` row settled by the
gateway's answer. What reconciliation has already reported of an order's refunds and reversal is
kept in a table of its own beside the journal's (``charges_looked`` / ``autopay_charges_looked``),
so a refund is reported once, however often the same window is reconciled.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..states import RESOLUTIONS, RESOLVABLE, SETTLED, IllegalMove, RowState, sql_list
from .port import JournalEntry
from .sql import ENTRY_COLUMNS, RESULT_FIELDS, Dialect

__all__ = ["JournalLedger", "LedgerStatements", "Looked"]

Looked = Tuple[int, bool]
"""What was last reported of an order: the refunded minor units, and whether it was reversed."""


class LedgerStatements:
    """The statements of :class:`JournalLedger` in one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        d, m, t = dialect, dialect.mark, dialect.table
        where = "".join(f"{column} = {m} AND " for column in d.scope)
        page = f"ORDER BY order_number LIMIT {m}"
        self.settled = (f"SELECT {ENTRY_COLUMNS} FROM {t} WHERE {where}state IN {sql_list(SETTLED)} "
                        f"AND finished_at >= {m} AND finished_at < {m} AND order_number > {m} {page}")
        # a cluster row in flight under a live lease is being charged right now: not settled here
        idle = " AND (owner IS NULL OR lease_until IS NULL OR lease_until < now())" if d.shared else ""
        self.resolvable = (f"SELECT {ENTRY_COLUMNS} FROM {t} WHERE {where}state IN {sql_list(RESOLVABLE)}{idle} "
                           f"AND order_number > {m} {page}")
        released = ", owner = NULL, lease_until = NULL" if d.shared else ""
        sets = ", ".join(f"{name} = {m}" if name != "order_id" else f"order_id = COALESCE({m}, order_id)"
                         for name in RESULT_FIELDS)
        self.resolve = (f"UPDATE {t} SET state = {m}, {sets}{released}, updated_at = {d.now} WHERE {where}"
                        f"order_number = {m} AND state IN {sql_list(RESOLVABLE)}{idle} RETURNING 1")
        looked = f"{t}_looked"
        key = ", ".join((*d.scope, "order_number"))
        scope_columns = "".join(f"{column} TEXT NOT NULL, " for column in d.scope)
        self.create = (f"CREATE TABLE IF NOT EXISTS {looked} ({scope_columns}order_number TEXT NOT NULL, "
                       f"refunded_minor {d.types['bigint']} NOT NULL, reversed INTEGER NOT NULL, "
                       f"looked_at {d.types['float']}, PRIMARY KEY ({key}))")
        self._looked = (f"SELECT order_number, refunded_minor, reversed FROM {looked} WHERE {where}"
                        f"order_number IN ({{marks}})")
        names = (*d.scope, "order_number", "refunded_minor", "reversed", "looked_at")
        self.set_looked = (f"INSERT INTO {looked} ({', '.join(names)}) VALUES ({', '.join([m] * len(names))}) "
                           f"ON CONFLICT ({key}) DO UPDATE SET refunded_minor = excluded.refunded_minor, "
                           f"reversed = excluded.reversed, looked_at = excluded.looked_at")
        self.mark = m

    def looked(self, count: int) -> str:
        """What was reported of ``count`` order numbers."""
        return self._looked.format(marks=", ".join([self.mark] * count))


class JournalLedger:
    """Reconciliation's view of one journal (``journal.ledger()``).

    :param run: runs one statement on the journal's connection (its locking and reconnection):
        ``run(sql, params, fetch)`` with ``fetch`` ``"one"``, ``"all"`` or None.
    :param scope: the merchant (PostgreSQL), or nothing (a SQLite file is one merchant's).
    """

    PAGE = 500

    def __init__(self, statements: LedgerStatements, run: Callable[[str, Tuple[Any, ...], Optional[str]], Any],
                 scope: Tuple[Any, ...] = ()) -> None:
        self._sql, self._run, self._scope = statements, run, scope
        self._run(statements.create, (), None)

    def _pages(self, sql: str, params: Tuple[Any, ...]) -> Iterator[JournalEntry]:
        after = ""
        while True:
            rows = self._run(sql, (*self._scope, *params, after, self.PAGE), "all")
            for row in rows:
                yield JournalEntry(*row)
            if len(rows) < self.PAGE:
                return
            after = rows[-1][0]

    def settled_between(self, since: float, until: float) -> Iterator[JournalEntry]:
        """The rows held as charged (``paid``, ``held``) whose result was recorded in ``[since, until)``."""
        return self._pages(self._sql.settled, (since, until))

    def resolvable(self) -> Iterator[JournalEntry]:
        """The rows in flight or unknown (in a cluster: none a live worker holds)."""
        return self._pages(self._sql.resolvable, ())

    def resolve(self, order_number: str, state: RowState, **fields: Any) -> bool:
        """Settle a :data:`~autopay_soap.batch.states.RESOLVABLE` row as ``state`` (paid, held or
        declined) with the gateway's fields; False when the row is no longer resolvable (a run
        settled it meanwhile). Any other ``state`` raises :class:`IllegalMove`."""
        if state not in RESOLUTIONS:
            raise IllegalMove(order_number, RowState.UNKNOWN.value, RowState(state).value)
        values = (state.value, *(fields.get(name) for name in RESULT_FIELDS), *self._scope, order_number)
        return self._run(self._sql.resolve, values, "one") is not None

    def looked(self, order_numbers: List[str]) -> Dict[str, Looked]:
        """What was last reported of each order number (those reported before)."""
        found: Dict[str, Looked] = {}
        for start in range(0, len(order_numbers), self.PAGE):
            chunk = order_numbers[start:start + self.PAGE]
            for number, refunded, reversed_ in self._run(self._sql.looked(len(chunk)), (*self._scope, *chunk), "all"):
                found[number] = (int(refunded), bool(reversed_))
        return found

    def set_looked(self, order_number: str, refunded_minor: int, reversed_: bool, when: float) -> None:
        """Remember what was reported of an order's refunds and reversal."""
        self._run(self._sql.set_looked, (*self._scope, order_number, refunded_minor, int(reversed_), when), None)
