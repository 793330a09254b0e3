"""The checks a batch run makes before its first charge (see the runner's docstring, step 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..client import AutopayClient
from ..errors import AccessDenied, AuthenticationError, AutopayError, ConfigurationError, ValidationError
from .errors import BatchConfigError
from .rows import COLUMNS, ChargeRow

__all__ = ["check_access", "check_report", "check_row"]

_ROW_FIELDS = frozenset(COLUMNS) | {"sbp"}
"""Fields whose ValidationError is the row's fault (any other field is a setting's: return_url...)."""


def describe(exc: BaseException) -> str:
    """An exception for a log or a message: our own errors carry no secret, others only their type."""
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, AutopayError) else type(exc).__name__


def check_row(client: AutopayClient, row: ChargeRow) -> None:
    """The transport's own rules for one row; a setting's fault raises :class:`BatchConfigError`."""
    try:
        client.check_autopay(row.order_number, row.amount, client_id=row.client_id or None,
                             binding_id=row.binding_id, account_token=row.account_token, two_stage=row.two_stage,
                             description=row.description, receipt=row.receipt)
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
