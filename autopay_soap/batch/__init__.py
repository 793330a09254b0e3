"""The batch runner: exactly-once charging of a file of autopayments, with a journal.

See :mod:`autopay_soap.batch.runner` for the rules, :mod:`autopay_soap.batch.states` for a row's
states and :mod:`autopay_soap.batch.journal` for how a crash is recovered.
"""

from .journal import Journal, JournalBusy, JournalUnavailable, open_journal
from .outcome import EXIT_JOURNAL_UNAVAILABLE
from .rows import COLUMNS, ChargeRow, FileCheck, RowError, read_rows, validate_file
from .runner import (
    EXIT_CONFIG,
    EXIT_DECLINED,
    EXIT_INTERRUPTED,
    EXIT_INVALID_INPUT,
    EXIT_JOURNAL_BUSY,
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_UNKNOWN,
    BatchAborted,
    BatchConfigError,
    BatchInputError,
    BatchRunner,
    BatchSummary,
    BatchWorkerError,
)
from .states import RowState

__all__ = [
    "COLUMNS", "EXIT_CONFIG", "EXIT_DECLINED", "EXIT_INTERRUPTED", "EXIT_INVALID_INPUT", "EXIT_JOURNAL_BUSY",
    "EXIT_JOURNAL_UNAVAILABLE",    "EXIT_MISMATCH", "EXIT_OK", "EXIT_TERMINATED", "EXIT_UNKNOWN",
    "BatchAborted", "BatchConfigError", "BatchInputError", "BatchRunner", "BatchSummary", "BatchWorkerError",
    "ChargeRow", "FileCheck", "Journal", "JournalBusy", "JournalUnavailable", "RowError", "RowState", "open_journal",
    "read_rows", "validate_file",
]
