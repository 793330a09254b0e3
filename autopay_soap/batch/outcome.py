"""How a batch run ends: the exit codes, and the summary that picks one.

The codes, and which wins when several apply, are documented in ``docs/batch.rst`` and listed
by ``autopay-soap charge --help``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import attr

__all__ = [
    "EXIT_CONFIG", "EXIT_DECLINED", "EXIT_INTERRUPTED", "EXIT_INVALID_INPUT", "EXIT_JOURNAL_BUSY",
    "EXIT_JOURNAL_UNAVAILABLE", "EXIT_MISMATCH",
    "EXIT_OK", "EXIT_TERMINATED", "EXIT_UNKNOWN", "BatchSummary",
]

EXIT_OK = 0
"""Every row is paid (or held, for two-stage rows)."""
EXIT_CONFIG = 2
"""A setting is wrong: an option, the credentials (refused by the gateway), a missing return
URL, an unreachable gateway at the pre-flight, an unwritable report. Found before the first
charge: nothing was charged. Found mid-run (a password rotated): the run stopped, the refused
rows are left to the next run. Fix the setting and run again with the same journal."""
EXIT_DECLINED = 3
"""Some rows were declined or refused by the gateway; none is unknown."""
EXIT_UNKNOWN = 4
"""Some rows have an unknown outcome or were not started: run again later with the same journal."""
EXIT_INVALID_INPUT = 5
"""The file is missing or has bad rows; nothing was charged."""
EXIT_JOURNAL_BUSY = 6
"""Another runner holds the journal; nothing was charged."""
EXIT_MISMATCH = 7
"""Some rows name an order number that is another charge (edited after it was charged, or a
number reused at the gateway): they were not charged. Fix the file; see the report."""
EXIT_JOURNAL_UNAVAILABLE = 8
"""The journal's database could not be reached for longer than the reconnect budget (60 s by
default): the run stopped waiting; rows already sent are charged or reconciled by the workers
and the next run. Bring the database back (or fail over), then run the same command again; no
report was written, since the journal is what it is written from."""
EXIT_INTERRUPTED = 130
"""Stopped by SIGINT (Ctrl-C): no charge started after it; what was in flight was recorded.
Run again with the same journal to continue."""
EXIT_TERMINATED = 143
"""Stopped by SIGTERM, as :data:`EXIT_INTERRUPTED` otherwise."""


@attr.s(slots=True, auto_attribs=True)
class BatchSummary:
    """Counts of one run, per final state of the file's rows, and how the run ended.

    ``retry``: rows refused for a setting's sake (credentials...), left for the next run.
    ``stopped_by``: ``"SIGINT"``, ``"SIGTERM"``, ``"stop()"`` or ``"configuration"``.
    ``decline_kinds``: the declined rows per kind (see "Declines and retries" in the docs).
    ``in_flight_at_stop``: charges started and not yet recorded when the run was stopped
    (they were allowed to finish; no other charge started). ``config_error``: why a setting
    stopped the run. ``report_error``: why the report could not be written (the exit code is
    then :data:`EXIT_CONFIG`: running again with the same journal charges nothing twice and
    writes the report).
    """

    rows: int = 0
    paid: int = 0
    held: int = 0
    declined: int = 0
    failed: int = 0
    unknown: int = 0
    mismatch: int = 0
    retry: int = 0
    not_started: int = 0
    charged_this_run: int = 0
    reconciled: int = 0
    elapsed: float = 0.0
    interrupted: bool = False
    dry_run: bool = False
    stopped_by: Optional[str] = None
    in_flight_at_stop: Optional[int] = None
    config_error: Optional[str] = None
    report_error: Optional[str] = None
    decline_kinds: Dict[str, int] = attr.ib(factory=dict)
    """Declined (or refused) rows per decline kind: ``soft``, ``hard``, ``rebind``, ``merchant``."""

    @property
    def exit_code(self) -> int:
        """The process exit code for this outcome (see the ``EXIT_*`` constants; the first that
        applies wins: a signal, a setting, a mismatch, unknown or not started, declined)."""
        if self.interrupted:
            return EXIT_TERMINATED if self.stopped_by == "SIGTERM" else EXIT_INTERRUPTED
        if self.config_error or self.report_error:
            return EXIT_CONFIG
        if self.mismatch:
            return EXIT_MISMATCH
        if self.unknown or self.not_started or self.retry:
            return EXIT_UNKNOWN
        if self.declined or self.failed:
            return EXIT_DECLINED
        return EXIT_OK

    def as_dict(self) -> Dict[str, Any]:
        """A JSON-ready copy with the exit code."""
        return {**attr.asdict(self), "exit_code": self.exit_code}
