"""The checks a batch run makes before its first charge (see the runner's docstring, step 1)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Callable, Optional, Union

from ..client import AutopayClient
from ..errors import AccessDenied, AuthenticationError, AutopayError, ConfigurationError, ValidationError
from ..models import Autopayment
from .card_memory import CardMemory
from .errors import BatchConfigError, BatchInputError
from .journal import is_url, open_journal
from .rows import COLUMNS, ChargeRow, RowError, validate_file
from .spool import RowSpool

__all__ = ["check_access", "check_card_memory", "check_file", "check_journal_url", "check_paths", "check_report",
           "check_row"]

_ROW_FIELDS = frozenset(COLUMNS) | {"sbp"}
"""Fields whose ValidationError is the row's fault (any other field is a setting's: return_url...)."""


def describe(exc: BaseException) -> str:
    """An exception for a log or a message: our own errors carry no secret, others only their type."""
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, AutopayError) else type(exc).__name__


def check_row(client: AutopayClient, row: ChargeRow) -> Autopayment:
    """The transport's own rules for one row: the row's checked
    :class:`~autopay_soap.models.Autopayment`, which the charge sends as it is. A row's fault
    raises :class:`~autopay_soap.errors.ValidationError`, a setting's :class:`BatchConfigError`."""
    try:
        return client.check_autopay(**row.charge_arguments())
    except ValidationError as exc:
        if exc.field in _ROW_FIELDS or (exc.field or "").startswith("receipt"):  # the row's receipt: its fault
            if exc.field == "sbp":
                raise ValidationError(exc.message, field="account_token") from None
            raise
        raise BatchConfigError(f"{exc.message} (a setting of the run, not of a row: every row would fail)",
                               setting=exc.field) from None
    except ConfigurationError as exc:
        if exc.message.startswith("receipt:"):  # the transport cannot carry carts: a setting, not a row
            raise BatchConfigError(f"{exc.message}; nothing was charged", setting="transport") from None
        raise ValidationError(exc.message, field="binding_id") from None  # e.g. a binding_id row on T-Bank


def check_access(client: AutopayClient) -> None:
    """Authenticate (:meth:`AutopayClient.check_access`); a refusal or no answer is a :class:`BatchConfigError`."""
    try:
        client.check_access()
    except (AuthenticationError, AccessDenied) as exc:
        raise BatchConfigError(f"pre-flight: the gateway refused the credentials ({describe(exc)}); nothing was "
                               "charged", setting="credentials") from None
    except AutopayError as exc:
        raise BatchConfigError(f"pre-flight: the gateway could not be asked ({describe(exc)}); nothing was "
                               "charged", setting="gateway") from None


def check_report(report: Path, path: Path, journal: Optional[Path]) -> None:
    """The report can be written and overwrites neither the input nor the journal (a file's)."""
    target = report.resolve()
    for other, what in ((path, "the input file"), (journal, "the journal")):
        if other is not None and target == other.resolve():
            raise BatchConfigError(f"report: {report} is {what}; writing the report would destroy it",
                                   setting="report")
    if not target.parent.is_dir():
        raise BatchConfigError(f"report: the folder {report.parent} does not exist", setting="report")
    existed = target.exists()
    try:
        with target.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise BatchConfigError(f"report: {report} cannot be written ({exc.strerror or exc}); nothing was charged",
                               setting="report") from None
    if not existed:
        target.unlink()


def check_paths(path: Path, report: Union[str, Path, None], journal_setting: Union[str, Path],
                card_memory: Union[str, Path, None]) -> None:
    """The input file reads, the journal's folder (or server) and the card memory are usable, and
    the report may be written (not over the input or the journal): before anything else."""
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise BatchInputError([RowError(0, "file", f"{path} {problem}")], path=path)
    if not os.access(path, os.R_OK):
        raise BatchInputError([RowError(0, "file", f"{path} cannot be read (permission denied)")], path=path)
    if is_url(journal_setting):
        check_journal_url(str(journal_setting))
        if report is not None:
            check_report(Path(report), path, None)
        return
    check_card_memory(card_memory)
    journal = Path(journal_setting)
    if not journal.parent.is_dir():
        raise BatchConfigError(f"journal: the folder {journal.parent} does not exist (it is not created: a "
                               "mistyped path would start a new journal and lose the record of earlier runs)",
                               setting="journal")
    if report is not None:
        check_report(Path(report), path, journal)

def check_card_memory(card_memory: Union[str, Path, None]) -> None:
    """The merchant's hard-decline memory opens and reads (a garbage file, a folder or a FIFO
    in its place is a setting to fix, found before anything is charged)."""
    memory = CardMemory(card_memory)
    try:
        memory.check()
    except (OSError, sqlite3.Error) as exc:
        raise BatchConfigError(f"card_memory: {memory.path} cannot be used ({exc}); give another with "
                               "--card-memory or AUTOPAY_STATE_DIR (nothing was charged)",
                               setting="card_memory") from None


def check_journal_url(journal: str) -> None:
    """A PostgreSQL journal: the URL reads, psycopg is there and the server answers."""
    try:
        with open_journal(journal, runner_lock=False):
            pass
    except (ValueError, RuntimeError) as exc:
        raise BatchConfigError(f"journal: {exc}", setting="journal") from None
    except Exception as exc:  # noqa: BLE001 - psycopg's errors: the server did not answer or refused us
        raise BatchConfigError(f"journal: the PostgreSQL server cannot be used ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else 'no details'})",
                               setting="journal") from None


def check_file(client_factory: Callable[[], AutopayClient], path: Path, *, delimiter: Optional[str],
               access: bool, spool: Optional[RowSpool] = None) -> int:
    """Build a client, check every row for the file and the transport, authenticate; the row count.
    ``spool``: where the run keeps the rows checked (the file is not read again)."""
    try:
        client = client_factory()
    except (AutopayError, ValueError) as exc:
        text = describe(exc) if isinstance(exc, AutopayError) else str(exc)
        raise BatchConfigError(f"the client could not be built: {text}", setting="client") from None
    try:
        found = validate_file(path, delimiter=delimiter, check=lambda row: check_row(client, row), spool=spool)
        if found.errors:
            raise BatchInputError(found.errors, bad_rows=found.bad_rows, path=path)
        if access:
            check_access(client)
    finally:
        client.close()
    return found.rows
