"""The batch runner's exceptions (all but :class:`BatchAborted` in the library's one tree)."""

from __future__ import annotations

import signal
from typing import Any, List, Optional

from ..errors import AutopayError, ConfigurationError
from .rows import RowError

__all__ = ["BatchAborted", "BatchConfigError", "BatchInputError", "BatchWorkerError"]


class BatchInputError(AutopayError):
    """The batch file is missing or has bad rows (``errors``: the first ones, with line numbers
    and reasons; ``bad_rows``: how many in all). Nothing was charged."""

    def __init__(self, errors: List[RowError], *, bad_rows: Optional[int] = None, path: Any = None) -> None:
        self.bad_rows = len(errors) if bad_rows is None else bad_rows
        where = f" in {path}" if path is not None else ""
        shown = f" (the first {len(errors)} below)" if self.bad_rows > len(errors) else ""
        if len(errors) == 1 and errors[0].line == 0:  # the file itself: missing, unreadable
            super().__init__(f"{errors[0].message}; nothing was charged")
        else:
            super().__init__(f"{self.bad_rows} bad row(s){where}{shown}; nothing was charged")
        self.errors = errors


class BatchConfigError(ConfigurationError):
    """A setting is wrong (see :data:`EXIT_CONFIG`); found by the pre-flight, nothing was charged.

    ``setting`` names it where one setting is at fault (``return_url``, ``report``,
    ``journal``, ``credentials``...).
    """

    def __init__(self, message: str, *, setting: Optional[str] = None) -> None:
        super().__init__(message)
        self.setting = setting


class BatchWorkerError(AutopayError):
    """A worker could not start (its client could not be built) or a worker process died.

    The run was stopped; what was charged before is in the journal, rows left in flight are
    reconciled by the next run with the same journal.
    """


class BatchAborted(KeyboardInterrupt):
    """A second SIGINT or SIGTERM ended the run at once. ``signum`` is the signal; rows that
    were in flight stay ``in_flight`` in the journal and are reconciled by the next run."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped at once by a second {signal.Signals(signum).name}")
        self.signum = signum
