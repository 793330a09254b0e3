"""The per-row report of a batch run (``--report``: CSV or JSON Lines)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO, Any, Callable, Dict, Tuple

__all__ = ["open_report"]

FIELDS = ["line", "order_number", "outcome", "order_id", "gateway_code", "action_code", "message"]


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
