"""The journal port: what every journal does (:class:`Journal`), what a cluster's adds
(:class:`ClusterJournal`), the entry it returns and its errors.

The runner, the executors, dunning and the command line see a journal only through these
protocols; which database is behind it is the factory's business
(:func:`autopay_soap.batch.journal.open_journal`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Protocol, Tuple

import attr

from ...money import Money
from ..rows import ChargeRow
from ..states import RowState

__all__ = ["Claim", "ClusterJournal", "Journal", "JournalBusy", "JournalEntry", "JournalUnavailable"]


class JournalBusy(RuntimeError):
    """Another runner holds this journal."""


class JournalUnavailable(RuntimeError):
    """The journal's database could not be reached for longer than the reconnect budget (a
    PostgreSQL server down or failing over): nothing more is charged until it is back. Run the
    same command again once it is (:data:`~autopay_soap.batch.outcome.EXIT_JOURNAL_UNAVAILABLE`)."""


def _known_state(value: Any) -> RowState:
    try:
        return RowState(value)
    except ValueError:
        raise ValueError(f"journal: a row holds the state {str(value)[:40]!r}, which no version of autopay_soap "
                         "writes (a hand-edited database?); nothing was charged") from None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class JournalEntry:
    """What the journal knows of one order number."""

    order_number: str
    line: int
    state: RowState = attr.ib(converter=_known_state)
    order_id: Optional[str] = None
    gateway_code: Optional[int] = None
    action_code: Optional[int] = None
    message: Optional[str] = None
    attempts: int = 0
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


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Claim:
    """A row taken for one owner: ``takeover`` when an earlier owner may have sent its request
    (its lease ran out, or the row was left ``in_flight``): look the order up first."""

    order_number: str
    claims: int
    takeover: bool


class Journal(Protocol):
    """What every batch journal does. Each write is its own committed transaction; a state move
    the table of :mod:`autopay_soap.batch.states` does not allow raises
    :class:`~autopay_soap.batch.states.IllegalMove` and writes nothing."""

    @property
    def location(self) -> str:
        """What a worker process opens to reach the same journal."""

    @property
    def shared(self) -> bool:
        """True for a merchant's database (PostgreSQL): its hard-decline look-up spans every
        batch, so no separate card memory is kept; False for a file of one batch (SQLite)."""

    def open(self) -> "Journal":
        """Take the runner lock (unless opened without it) and open the database."""

    def close(self) -> None:
        """Close the database and release the lock."""

    def __enter__(self) -> Any:
        ...

    def __exit__(self, *exc: object) -> None:
        ...

    def bind_file(self, digest: str) -> None:
        """Tie the batch to its input file (:class:`ValueError` for another file, where the
        journal keeps one batch per file name)."""

    def get(self, order_number: str) -> Optional[JournalEntry]:
        """The entry of an order number, if any."""

    def entries(self, order_numbers: List[str]) -> Dict[str, JournalEntry]:
        """The entries of many order numbers at once (those the journal knows), in few round trips."""

    def intend(self, row: ChargeRow, *, owner: Optional[str] = None, lease_seconds: Optional[float] = None) -> bool:
        """Record the intent (``in_flight``) before the gateway is called; False when a cluster
        worker (``owner``) no longer holds the row: nothing may be sent."""

    def record(self, order_number: str, state: RowState, *, owner: Optional[str] = None, **fields: Any) -> bool:
        """Record a charge's result; False when ``owner`` lost the row to another worker."""

    def hard_decline(self, instrument: str, order_number: str) -> Optional[str]:
        """Another order number on which ``instrument`` was declined hard, if any."""

    def card_history(self, instrument: str, since: float, *, retries_only: bool = False) -> List[float]:
        """When each attempt on ``instrument`` finished since ``since``."""

    def unresolved_count(self) -> int:
        """Rows a later run charges again (:data:`~autopay_soap.batch.states.QUEUED`)."""

    def is_empty(self) -> bool:
        """True while no run has written a row (no per-row look-up is needed)."""

    def counts(self) -> Dict[str, int]:
        """Rows per state."""

    def ledger(self) -> Any:
        """Reconciliation's view (:class:`~autopay_soap.batch.journal.ledger.JournalLedger`): the rows
        held as charged in a window, the rows of unknown outcome, and their settlement."""


class ClusterJournal(Journal, Protocol):
    """A journal shared by a cluster's producer and workers (PostgreSQL)."""

    merchant: str
    batch: str

    def queue(self, row: ChargeRow) -> bool:
        """Load ``row`` as ``pending`` with everything its charge needs (False: it is final)."""

    def queue_many(self, rows: List[ChargeRow]) -> List[str]:
        """Queue many rows in one round trip; the order numbers actually queued."""

    def queued_row(self, order_number: str) -> Optional[Tuple[ChargeRow, RowState]]:
        """The row as the producer queued it, and its state."""

    def claim(self, order_number: str, owner: str, lease_seconds: float) -> Optional[Claim]:
        """Take a queued row for ``owner`` for a while."""

    def waiting(self) -> Dict[str, int]:
        """Rows not yet done: ``pending``, ``in_flight`` and ``in_flight_live`` (under a live lease)."""

    def orphaned(self) -> List[str]:
        """Rows no worker holds."""

    def set_stopped(self, stopped: bool, reason: Optional[str] = None) -> None:
        """Stop (or let go on) the batch."""

    def stop_state(self) -> Tuple[bool, Optional[str]]:
        """Whether the batch is stopped, and why."""

    def take_slot(self, per_second: float) -> float:
        """Seconds to wait before starting a charge under the merchant's rate."""
