"""The batch runner: exactly-once charging of a file of autopayments, with a SQLite journal.

See :mod:`autopay_soap.batch.runner` for the rules and :mod:`autopay_soap.batch.journal` for
how a crash is recovered.
"""

from .journal import Journal, JournalBusy
from .rows import ChargeRow, RowError, read_rows, validate_file
from .runner import (
    EXIT_DECLINED,
    EXIT_INTERRUPTED,
    EXIT_INVALID_INPUT,
    EXIT_JOURNAL_BUSY,
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_UNKNOWN,
    BatchInputError,
    BatchRunner,
    BatchSummary,
    BatchWorkerError,
)

__all__ = [
    "EXIT_DECLINED", "EXIT_INTERRUPTED", "EXIT_INVALID_INPUT", "EXIT_JOURNAL_BUSY", "EXIT_MISMATCH", "EXIT_OK",
    "EXIT_UNKNOWN",
    "BatchInputError", "BatchRunner", "BatchSummary", "BatchWorkerError", "ChargeRow", "Journal", "JournalBusy",
    "RowError", "read_rows", "validate_file",
]
