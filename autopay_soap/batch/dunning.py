"""Dunning: the retries of declined autopayments that are due, as a batch file for the next run.

:func:`plan_dunning` reads the input files of earlier runs together with their journal (the
journal knows each row's outcome and decline; the files know the binding or account, which the
journal never keeps in clear). For every charge whose latest attempt was declined:

* ``soft`` with ``next_attempt_at`` on or before ``due``: a retry row, numbered
  :func:`~autopay_soap.declines.numbers.retry_order_number` of the first attempt's number, unless the
  card has had its attempts for that day (one by default) or for 30 days (ten): then it waits
  for a later run (``postponed``);
* ``soft`` not yet due: ``later``; ``soft`` with no ``next_attempt_at``: the retries are used
  up (``exhausted``);
* ``hard``: never retried; ``rebind``: never retried, listed so that the customer is asked to
  pay once more (:func:`create_rebind_links` makes the first-payment links);
* ``merchant``: not the customer's; retried only with ``include_merchant`` (after the setting
  was fixed), without the schedule.

A retry already in the journal (charged, or tried) is never planned again, and the numbers are
derived, so running the dunning twice, or charging its file twice, charges nothing twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple, Union

import attr

from ..declines import DEFAULT_SCHEDULE, DeclineKind, RetrySchedule, first_payment_order_number, retry_order_number
from ..declines.numbers import LEGACY_DIGEST_LENGTH
from ..declines.schedule import day_of
from ..errors import OrderNotFound
from .journal import Journal, JournalEntry
from .rows import ChargeRow, RowError, read_rows
from .states import RowState

if TYPE_CHECKING:
    from ..client import AutopayClient

__all__ = ["DunningPlan", "RETRY_COLUMNS", "create_rebind_links", "parse_due", "plan_dunning"]

log = logging.getLogger(__name__)
DAY = 86400.0
RETRY_COLUMNS = ("order_number", "original_order_number", "attempt", "client_id", "binding_id", "rebill_id",
                 "account_token", "amount_minor", "currency", "description", "two_stage", "receipt")
"""The columns of a retry file (a batch file ``autopay-soap charge`` reads)."""


@attr.s(slots=True, auto_attribs=True)
class DunningPlan:
    """What :func:`plan_dunning` found: the retry rows due, and the declined charges that are not."""

    due: float
    retries: List[ChargeRow] = attr.ib(factory=list)
    postponed: List[ChargeRow] = attr.ib(factory=list)
    later: List[Tuple[ChargeRow, JournalEntry]] = attr.ib(factory=list)
    exhausted: List[Tuple[ChargeRow, JournalEntry]] = attr.ib(factory=list)
    hard: List[Tuple[ChargeRow, JournalEntry]] = attr.ib(factory=list)
    rebind: List[Tuple[ChargeRow, JournalEntry]] = attr.ib(factory=list)
    merchant: List[Tuple[ChargeRow, JournalEntry]] = attr.ib(factory=list)

    def counts(self) -> Dict[str, int]:
        """How many of each (for the summary line)."""
        return {field.name: len(getattr(self, field.name)) for field in attr.fields(DunningPlan)
                if field.name != "due"}

    def next_due(self) -> Optional[float]:
        """The earliest ``next_attempt_at`` of the charges not yet due."""
        times = [entry.next_attempt_at for _row, entry in self.later if entry.next_attempt_at is not None]
        return min(times) if times else None

    def write(self, path: Union[str, Path]) -> None:
        """Write the retry rows as a batch file: JSON Lines for ``.jsonl``/``.ndjson``, else CSV."""
        target = Path(path)
        records = [retry_record(row) for row in self.retries]
        with target.open("w", encoding="utf-8", newline="") as out:
            if target.suffix.lower() in (".jsonl", ".ndjson"):
                for row, record in zip(self.retries, records):
                    fields = {k: v for k, v in record.items() if v not in (None, "")}
                    if row.receipt is not None:  # the same receipt: an object here, its JSON text in a CSV cell
                        fields["receipt"] = row.receipt.as_json()
                    out.write(json.dumps(fields, ensure_ascii=False) + "\n")
                return
            writer = csv.DictWriter(out, fieldnames=RETRY_COLUMNS)
            writer.writeheader()
            writer.writerows(records)


def retry_record(row: ChargeRow) -> Dict[str, Any]:
    """A retry row as the columns of :data:`RETRY_COLUMNS` (the card in the column it came in)."""
    record: Dict[str, Any] = {name: "" for name in RETRY_COLUMNS}
    record.update(order_number=row.order_number, original_order_number=row.original_order_number or "",
                  attempt=row.attempt, client_id=row.client_id, amount_minor=row.amount.minor,
                  currency=row.amount.currency.alpha, description=row.description or "",
                  two_stage="true" if row.two_stage else "false")
    record[row.instrument_column] = row.account_token if row.instrument_column == "account_token" else row.binding_id
    if row.receipt is not None:
        record["receipt"] = json.dumps(row.receipt.as_json(), ensure_ascii=False)
    return record


def parse_due(text: Optional[str], now: float) -> float:
    """``--due``: nothing (now), a date ``YYYY-MM-DD`` (the end of that UTC day) or an ISO 8601
    time with a zone (``2026-12-05T03:00:00Z``). Raises ValueError naming the format."""
    if not text:
        return now
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() + DAY - 0.001
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"due: {text!r} is neither YYYY-MM-DD nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"due: {text!r} has no time zone; add Z for UTC")
    return moment.timestamp()


def _rows(files: Iterable[Union[str, Path]], delimiter: Optional[str]) -> Iterable[ChargeRow]:
    for path in files:
        for item in read_rows(path, delimiter=delimiter):
            if isinstance(item, RowError):
                raise ValueError(f"{path}: {item}")
            yield item


def plan_dunning(files: Iterable[Union[str, Path]], journal: Journal, *, due: float,
                 schedule: RetrySchedule = DEFAULT_SCHEDULE, include_merchant: bool = False,
                 delimiter: Optional[str] = None, now: Optional[float] = None) -> DunningPlan:
    """The retries due at ``due`` (seconds since the epoch) for the charges of ``files`` in
    ``journal`` (see the module docstring). A bad row of a file raises ValueError.

    The per-card caps are counted on the day the charges are sent, ``now`` (default ``due``;
    ``autopay-soap dunning`` passes the current time), not on a later ``due``: a ``due`` in the
    future plans what falls due by then, and still one attempt per card today. The runner checks
    the caps again when it sends each row (a retry postponed there is planned again, with the
    same number, by the next dunning run)."""
    sent_at = due if now is None else now
    plan = DunningPlan(due)
    planned: Dict[str, None] = {}
    taken: Dict[str, List[float]] = {}  # per card: the attempts this plan adds, at `due`
    for row in _rows(files, delimiter):
        entry = journal.get(row.order_number)
        if entry is None or entry.state not in (RowState.DECLINED, RowState.FAILED) or not entry.decline_kind:
            continue
        number, later = _next_attempt(journal, row)
        if number in planned or (later is not None and later.state is not RowState.POSTPONED):
            continue  # a later attempt exists (or is planned): this row is not the latest
        kind = DeclineKind(entry.decline_kind)
        if kind in (DeclineKind.SOFT, DeclineKind.MERCHANT) and journal.hard_decline(row.instrument, "") is not None:
            kind = DeclineKind.HARD  # another charge of the same card was declined hard since
        if kind is DeclineKind.SOFT:
            if entry.next_attempt_at is None:
                plan.exhausted.append((row, entry))
                continue
            if entry.next_attempt_at > due:
                plan.later.append((row, entry))
                continue
        elif kind is DeclineKind.MERCHANT and not include_merchant:
            plan.merchant.append((row, entry))
            continue
        elif kind is not DeclineKind.MERCHANT:
            getattr(plan, kind.value).append((row, entry))
            continue
        retry = attr.evolve(row, order_number=number, original_order_number=row.root_order_number,
                            attempt=row.attempt + 1, line=0)
        planned[number] = None
        if not _card_has_room(journal, schedule, row.instrument, sent_at, taken):
            plan.postponed.append(retry)
            continue
        taken.setdefault(row.instrument, []).append(sent_at)
        plan.retries.append(retry)
    return plan


def _next_attempt(journal: Journal, row: ChargeRow) -> Tuple[str, Optional[JournalEntry]]:
    """The number of the attempt after ``row`` and its journal entry, if any. A chain keeps the
    digest length it began with; after a first attempt, a second one numbered with the six digits
    of by 0.1 counts too, so a dunning run across the upgrade plans no second retry."""
    number = retry_order_number(row.root_order_number, row.attempt + 1, max_len=row.max_order_number,
                                digest_length=row.digest_length)
    later = journal.get(number)
    if later is None and row.attempt == 1:
        legacy = retry_order_number(row.root_order_number, 2, max_len=row.max_order_number,
                                    digest_length=LEGACY_DIGEST_LENGTH)
        found = journal.get(legacy) if legacy != number else None
        if found is not None:
            return legacy, found
    return number, later


def _rebind_number(client: "AutopayClient", row: ChargeRow) -> str:
    """The number of ``row``'s rebind payment: the one a run of 0.1 registered with six digest
    digits if the gateway knows it (so the customer gets the same link), else today's."""
    number = first_payment_order_number(row.root_order_number, max_len=row.max_order_number)
    legacy = first_payment_order_number(row.root_order_number, max_len=row.max_order_number,
                                        digest_length=LEGACY_DIGEST_LENGTH)
    if legacy == number:
        return number
    try:
        client.status(order_number=legacy)
    except OrderNotFound:
        return number
    return legacy


def _card_has_room(journal: Journal, schedule: RetrySchedule, instrument: str, due: float,
                   taken: Dict[str, List[float]]) -> bool:
    """True when one more attempt of the card at ``due`` keeps within the schedule's per-day and
    30-day caps (what the journal shows plus what this plan already added)."""
    history = list(journal.card_history(instrument, due - 30 * DAY)) + taken.get(instrument, [])
    today = sum(1 for at in history if day_of(at) == day_of(due))
    return today < schedule.per_card_per_day and len(history) < schedule.per_card_30_days


def create_rebind_links(plan: DunningPlan, client: "AutopayClient", path: Union[str, Path], *,
                        return_url: Optional[str] = None) -> int:
    """For every ``rebind`` charge of ``plan``, register the first payment that binds a new card
    (or SBP account) and write a CSV of the links to send the customers; the count written.

    Its order number is :func:`~autopay_soap.declines.numbers.first_payment_order_number` of the first
    attempt's number (a second call finds the same order and registers nothing twice). A card
    row needs its ``client_id``; an SBP row gets an SBP payment (the link is the QR payload).
    """
    fields = ("original_order_number", "client_id", "order_number", "amount_minor", "currency", "outcome",
              "order_id", "form_url", "sbp_request_key", "message")
    written = 0
    with Path(path).open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for row, _entry in plan.rebind:
            number = _rebind_number(client, row)
            base = {"original_order_number": row.root_order_number, "client_id": row.client_id,
                    "order_number": number, "amount_minor": row.amount.minor, "currency": row.amount.currency.alpha}
            sbp = row.account_token is not None
            if not sbp and not row.client_id:
                writer.writerow({**base, "outcome": "skipped", "message": "no client_id: a card binds to a client"})
                continue
            result = client.start_first_payment(number, row.amount, None if sbp else row.client_id, sbp=sbp,
                                                description=row.description or ("Привязка счета" if sbp else None),
                                                return_url=return_url)
            writer.writerow({**base, "outcome": result.outcome.value, "order_id": result.order_id or "",
                             "form_url": result.form_url or "", "sbp_request_key": result.sbp_request_key or "",
                             "message": result.message or ""})
            written += 1
    return written
