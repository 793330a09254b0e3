"""The per-row report of a batch run (``--report``: CSV or JSON Lines)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, Iterator, Optional, Tuple, Union

from .journal import Journal, JournalEntry
from .outcome import BatchSummary
from .rows import ChargeRow, chunks
from .states import RowState, outcome_of

__all__ = ["FIELDS", "iso_time", "open_report", "report_record", "summarise"]

FIELDS = ["line", "order_number", "outcome", "order_id", "gateway_code", "action_code", "message", "decline_kind",
          "decline_code", "attempt", "original_order_number", "next_attempt_at", "receipt"]
"""The report's columns; ``next_attempt_at`` is ISO 8601 in UTC (empty: no retry is due, ever); ``receipt``
is empty for a row without one, ``sent`` when it went with a charge that took the money (the
register's own word comes later: ``client.receipt_status`` or T-Bank's fiscal notification), ``none``
when nothing was taken, so no receipt is registered."""


def iso_time(at: Optional[float]) -> Optional[str]:
    """Seconds since the epoch as ``2026-12-05T03:00:00Z`` (None stays None)."""
    if at is None:
        return None
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_record(row: ChargeRow, entry: Optional[JournalEntry], outcome: str, message: Optional[str],
                  decline_kind: Optional[str]) -> Dict[str, Any]:
    """One report row: the input row's number and attempt, its outcome, what the journal knows."""
    return {"line": row.line, "order_number": row.order_number, "outcome": outcome,
            "order_id": entry.order_id if entry else None,
            "gateway_code": entry.gateway_code if entry else None,
            "action_code": entry.action_code if entry else None,
            "message": message, "decline_kind": decline_kind,
            "decline_code": entry.decline_code if entry and decline_kind else None,
            "attempt": row.attempt, "original_order_number": row.original_order_number,
            "next_attempt_at": iso_time(entry.next_attempt_at) if entry and decline_kind else None,
            "receipt": None if row.receipt is None else "sent" if outcome in (RowState.PAID, RowState.HELD) else "none"}


def open_report(report_path: Path) -> Tuple[IO[str], Callable[[Dict[str, Any]], None]]:
    """The open file and a function that writes one row (``.jsonl``/``.ndjson``/``.json``: JSON
    Lines; anything else: CSV with a header)."""
    out = report_path.open("w", encoding="utf-8", newline="")
    if report_path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        def write_json(record: Dict[str, Any]) -> None:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return out, write_json
    csv_writer = csv.DictWriter(out, fieldnames=FIELDS)
    csv_writer.writeheader()
    return out, csv_writer.writerow


def summarise(rows: Iterable[ChargeRow], journal: Journal, report: Union[str, Path, None]) -> BatchSummary:
    """The run's summary, one count per outcome of the file's ``rows`` (in file order: the run's
    :class:`~.spool.RowSpool`), from the journal; writes ``report`` (one line per row) when given.
    A report that cannot be written is said in ``report_error``, never raised: the summary is
    still worth having."""
    summary = BatchSummary()
    out: Optional[IO[str]] = None
    writer: Optional[Callable[[Dict[str, Any]], None]] = None
    if report is not None:
        try:
            out, writer = open_report(Path(report))
        except OSError as exc:
            summary.report_error = f"{report}: {exc.strerror or exc}"
    try:
        for item, entry in _with_entries(iter(rows), journal):
            summary.rows += 1
            outcome = outcome_of(entry.state) if entry is not None else "not_started"
            message = entry.message if entry else None
            edits = entry.differences(item) if entry is not None and entry.state is not RowState.MISMATCH else []
            if edits:  # the row was edited after its order number was charged (or tried)
                message = (f"the row differs from what this order number was charged with: {'; '.join(edits)} "
                           f"(journal state: {outcome}); not charged again")
                outcome = RowState.MISMATCH.value
            setattr(summary, outcome, getattr(summary, outcome) + 1)
            declined = outcome in (RowState.DECLINED, RowState.FAILED)
            kind = entry.decline_kind if entry is not None and declined else None
            if kind:
                summary.decline_kinds[kind] = summary.decline_kinds.get(kind, 0) + 1
            if writer is not None and summary.report_error is None:
                try:
                    writer(report_record(item, entry, outcome, message, kind))
                except OSError as exc:  # a full disk: the summary is still worth having
                    summary.report_error = f"{report}: {exc.strerror or exc}"
    finally:
        if out is not None:
            try:
                out.close()
            except OSError as exc:
                summary.report_error = summary.report_error or f"{report}: {exc.strerror or exc}"
    return summary


def _with_entries(items: Iterator[ChargeRow], journal: Journal,
                  size: int = 2000) -> Iterator[Tuple[ChargeRow, Optional[JournalEntry]]]:
    """Each row with its journal entry, the journal asked about ``size`` rows at a time."""
    for chunk in chunks(items, size):
        known = journal.entries([row.order_number for row in chunk])
        yield from ((row, known.get(row.order_number)) for row in chunk)
