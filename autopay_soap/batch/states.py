"""A batch row's journal state: the names, the moves allowed between them, and what each means.

This module is the one place the states are written. The journals (their SQL included), the
runner, the Celery tasks, the progress line, the report and dunning all read them from here::

    (no row) ──queue──▶ pending ──claim/intend──▶ in_flight ──record──▶ paid | held | declined | failed
        │                  ▲                        │  ▲                   | mismatch
        └─────intend───────┼───────────────────────▶┘  │                   | unknown | retry | postponed
                           └──queue (a later run)──────┴──intend (a later run)──────────┘

* ``pending``: queued for a cluster worker, not started (a cluster batch only).
* ``in_flight``: the intent is on record and the gateway call may have left; what the gateway
  did is not yet known. A row is never sent without being ``in_flight`` first.
* :data:`FINAL`: ``paid``, ``held`` (two-stage: the money is held), ``declined``, ``failed`` (refused
  before or by the gateway with nothing charged) and ``mismatch`` (the order number is another
  charge's). A final row is never charged again: the table has no move out of these states.
* :data:`UNRESOLVED`: ``in_flight`` (left by a crash), ``unknown``, ``retry`` (a setting refused
  it) and ``postponed`` (held back by the card caps): the next run with the same journal charges
  them again through the same order number, looked up first.

A move the table does not allow raises :class:`IllegalMove`; the journals check it in the same
statement that writes the move (``WHERE state IN`` :func:`sources`), so two writers racing
cannot slip past it.
"""

from __future__ import annotations

import enum
from typing import Dict, FrozenSet, Iterable, Optional

__all__ = ["CARD_HISTORY", "FINAL", "IllegalMove", "QUEUED", "RESOLUTIONS", "RESOLVABLE", "RESULTS", "RowState",
           "SETTLED", "UNRESOLVED", "WAITING", "allowed", "check_move", "outcome_of", "sources", "sql_list"]


class RowState(str, enum.Enum):
    """The state of one order number in a batch journal (stored as its value)."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    PAID = "paid"
    HELD = "held"
    DECLINED = "declined"
    FAILED = "failed"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"
    RETRY = "retry"
    POSTPONED = "postponed"

    def __str__(self) -> str:
        return self.value

    @property
    def final(self) -> bool:
        """True for a state no run ever charges again."""
        return self in FINAL


FINAL: FrozenSet[RowState] = frozenset({RowState.PAID, RowState.HELD, RowState.DECLINED, RowState.FAILED,
                                        RowState.MISMATCH})
"""States with no move out: the row is done for good."""
UNRESOLVED: FrozenSet[RowState] = frozenset({RowState.IN_FLIGHT, RowState.UNKNOWN, RowState.RETRY,
                                             RowState.POSTPONED})
"""States a later run charges again (by the same order number, looked up first)."""
QUEUED: FrozenSet[RowState] = UNRESOLVED | {RowState.PENDING}
"""The states a cluster producer queues (again): :data:`UNRESOLVED` and ``pending``."""
WAITING: FrozenSet[RowState] = frozenset({RowState.PENDING, RowState.IN_FLIGHT})
"""A cluster batch's rows not yet done: queued, or being charged."""
RESULTS: FrozenSet[RowState] = FINAL | {RowState.UNKNOWN, RowState.RETRY, RowState.POSTPONED}
"""What a charge's result may be (recorded from ``in_flight``)."""
CARD_HISTORY: FrozenSet[RowState] = frozenset({RowState.PAID, RowState.HELD, RowState.DECLINED, RowState.FAILED})
"""The rows that count as an attempt on the card (the per-card caps of dunning): a finished
charge, paid or declined alike. ``mismatch`` charged nothing; ``postponed`` sent nothing."""

SETTLED: FrozenSet[RowState] = frozenset({RowState.PAID, RowState.HELD})
"""What the journal holds as charged: the rows reconciliation expects the gateway to show paid."""
RESOLVABLE: FrozenSet[RowState] = frozenset({RowState.IN_FLIGHT, RowState.UNKNOWN})
"""Rows whose outcome the journal does not know; reconciliation may settle them by the gateway's word."""
RESOLUTIONS: FrozenSet[RowState] = frozenset({RowState.PAID, RowState.HELD, RowState.DECLINED})
"""What reconciliation may write on a :data:`RESOLVABLE` row (its only journal change): the
gateway's own answer that the order was paid, held or declined."""

_MOVES: Dict[Optional[RowState], FrozenSet[RowState]] = {
    None: frozenset({RowState.PENDING, RowState.IN_FLIGHT}),
    RowState.PENDING: frozenset({RowState.PENDING, RowState.IN_FLIGHT}),
    RowState.IN_FLIGHT: frozenset({RowState.IN_FLIGHT, RowState.PENDING}) | RESULTS,
    RowState.UNKNOWN: frozenset({RowState.IN_FLIGHT, RowState.PENDING}),
    RowState.RETRY: frozenset({RowState.IN_FLIGHT, RowState.PENDING}),
    RowState.POSTPONED: frozenset({RowState.IN_FLIGHT, RowState.PENDING}),
    **{state: frozenset() for state in FINAL},
}
"""From each state (None: no row yet), the states a journal may write next."""

_OUTCOMES: Dict[RowState, str] = {RowState.IN_FLIGHT: "unknown", RowState.PENDING: "not_started",
                                  RowState.POSTPONED: "not_started"}
"""How a state is reported when it is not an outcome of its own (the report's ``outcome`` and
the summary's counts): in flight is unknown, queued or postponed is not started."""


class IllegalMove(RuntimeError):
    """A journal write the state table does not allow (a final row set in flight again, a result
    recorded for a row that was never in flight). Nothing was written."""

    def __init__(self, order_number: str, old: Optional[str], new: str) -> None:
        super().__init__(f"journal: order {order_number} cannot go from {old or 'no row'} to {new}")
        self.order_number, self.old, self.new = order_number, old, new


def allowed(old: Optional[RowState], new: RowState) -> bool:
    """True when the table allows ``old`` → ``new`` (``old`` None: the number has no row yet)."""
    return new in _MOVES[old]


def check_move(order_number: str, old: Optional[str], new: RowState) -> None:
    """Raise :class:`IllegalMove` unless ``old`` → ``new`` is allowed (a state name the table
    does not know, as a hand-edited database may hold, allows nothing)."""
    try:
        known: Optional[RowState] = None if old is None else RowState(old)
    except ValueError:
        raise IllegalMove(order_number, old, new.value) from None
    if not allowed(known, new):
        raise IllegalMove(order_number, old, new.value)


def sources(new: RowState) -> FrozenSet[RowState]:
    """The existing states a row may be in to move to ``new`` (for a ``WHERE state IN``)."""
    return frozenset(old for old, targets in _MOVES.items() if old is not None and new in targets)


def sql_list(states: Iterable[RowState]) -> str:
    """``('a', 'b')``: states as an SQL list literal (sorted: the same text every time). Safe to
    put in a statement: the values are this module's own."""
    return "(" + ", ".join(sorted(f"'{RowState(state).value}'" for state in states)) + ")"


def outcome_of(state: str) -> str:
    """The outcome a row in ``state`` is reported as (the report and the summary)."""
    found = RowState(state)
    return _OUTCOMES.get(found, found.value)
