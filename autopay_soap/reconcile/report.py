"""The reconciliation report: one line per difference, CSV or JSON Lines, written as found."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO, Any, Optional, Union

from ..errors import ValidationError
from .differences import COLUMNS, Difference

__all__ = ["ReportWriter", "check_report_path"]


def check_report_path(path: Union[str, Path]) -> Path:
    """The report's path, checked before anything is asked of the gateway: ``.csv`` or ``.jsonl``,
    in a folder that exists, not a folder itself."""
    found = Path(path)
    if found.suffix.lower() not in (".csv", ".jsonl"):
        raise ValidationError(f"report: {found.name} must end in .csv or .jsonl", field="report")
    if not found.parent.is_dir():
        raise ValidationError(f"report: the folder {found.parent} does not exist", field="report")
    if found.is_dir():
        raise ValidationError(f"report: {found} is a folder", field="report")
    return found


def _cell(value: Any) -> Any:
    """A CSV cell; text a spreadsheet would run as a formula (a gateway's field can hold anything)
    is quoted with a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class ReportWriter:
    """Writes :class:`Difference` lines to ``path`` (``.csv`` with a header, or ``.jsonl``), each
    flushed as it is written, so a report cut short still holds every line found before."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = check_report_path(path)
        self._file: IO[str] = open(self.path, "w", encoding="utf-8", newline="")
        self._csv: Optional[Any] = None
        if self.path.suffix.lower() == ".csv":
            self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS)
            self._csv.writeheader()

    def __call__(self, difference: Difference) -> None:
        row = difference.as_dict()
        if self._csv is not None:
            self._csv.writerow({k: _cell(v) for k, v in row.items()})
        else:
            self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()
