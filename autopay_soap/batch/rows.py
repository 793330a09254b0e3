"""Batch input: CSV or JSON Lines, streamed, each row checked before anything is charged.

Columns: ``order_number`` (required: the idempotency key of the charge), ``client_id``,
``binding_id``, ``amount`` in major units (``"499.00"``) or ``amount_minor``, ``currency``
(default RUB), ``description``, ``two_stage`` (true/false/1/0/yes/no).

T-Bank rows name the card by ``rebill_id`` (its RebillId) or the SBP account by
``account_token`` instead of ``binding_id``; ``client_id`` is then optional and the order
number may have up to 36 characters. Run them with ``--transport tbank``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

import attr

from .. import validation as v
from ..errors import ValidationError
from ..money import Money

__all__ = ["ChargeRow", "RowError", "read_rows", "validate_file"]

_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ChargeRow:
    """One charge of a batch, checked."""

    line: int
    order_number: str
    client_id: str
    binding_id: Optional[str]
    amount: Money
    two_stage: bool = False
    description: Optional[str] = None
    account_token: Optional[str] = None

    @property
    def instrument(self) -> str:
        """What is charged, as a digest (the journal keeps no binding id or account token in clear)."""
        key = f"binding:{self.binding_id}" if self.binding_id is not None else f"sbp:{self.account_token}"
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RowError:
    """A row that cannot be charged: its line number, the field and why."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def _raw_rows(path: Path) -> Iterator[Tuple[int, Union[Dict[str, object], str]]]:
    """``(line number, mapping)`` per data row; a string instead of a mapping is a parse error."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with path.open("r", encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    data = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield number, f"not valid JSON ({exc.msg})"
                    continue
                yield number, data if isinstance(data, dict) else "a JSON object per line is expected"
        return
    with path.open("r", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "order_number" not in reader.fieldnames:
            yield 1, "the header must name an order_number column"
            return
        for record in reader:
            if None in record:
                yield reader.line_num, "more values than columns"
                continue
            yield reader.line_num, dict(record)


def _row(line: int, data: Dict[str, object]) -> ChargeRow:
    def text(name: str) -> Optional[str]:
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return str(value).strip()

    currency = text("currency") or "RUB"
    amount_text, minor_text = text("amount"), text("amount_minor")
    if (amount_text is None) == (minor_text is None):
        raise ValidationError("give exactly one of amount and amount_minor", field="amount")
    if amount_text is not None:
        amount = Money.of(amount_text, currency)
    else:
        if not (minor_text or "").isdigit():
            raise ValidationError("amount_minor: must be a whole number of minor units", field="amount_minor")
        amount = Money.from_minor(int(minor_text or 0), currency)
    v.check_money(amount)
    keys = [name for name in ("binding_id", "rebill_id", "account_token") if text(name)]
    if len(keys) != 1:
        raise ValidationError("give exactly one of binding_id, rebill_id (T-Bank) and account_token (T-Bank SBP)",
                              field="binding_id")
    tbank = keys[0] != "binding_id"
    if keys[0] == "account_token" and (text("two_stage") or "").lower() in _TRUE:
        raise ValidationError("two_stage: SBP autopayments are one-stage only", field="two_stage")
    two_stage_text = (text("two_stage") or "").lower()
    if two_stage_text not in _TRUE | _FALSE:
        raise ValidationError("two_stage: use true or false", field="two_stage")
    return ChargeRow(
        line=line,
        order_number=v.check_order_number(text("order_number"), max_len=36 if tbank else 32),
        client_id=v.check_client_id(text("client_id"), required=not tbank) or "",
        binding_id=v.check_binding_id(text(keys[0]), keys[0]) if keys[0] != "account_token" else None,
        account_token=v.check_text(text("account_token"), "account_token", 64) if keys[0] == "account_token" else None,
        amount=amount,
        two_stage=two_stage_text in _TRUE,
        description=v.check_description(text("description")),
    )


def read_rows(path: Union[str, Path]) -> Iterator[Union[ChargeRow, RowError]]:
    """Stream the file: a :class:`ChargeRow` per good row, a :class:`RowError` per bad one."""
    for line, data in _raw_rows(Path(path)):
        if isinstance(data, str):
            yield RowError(line, "row", data)
            continue
        try:
            yield _row(line, data)
        except ValidationError as exc:
            yield RowError(line, exc.field, exc.message)


def validate_file(path: Union[str, Path], max_errors: int = 50) -> Tuple[int, List[RowError]]:
    """Check every row (streamed): ``(rows, errors)``; a repeated order number is an error too.

    Repeats are found in a temporary on-disk SQLite table, so memory stays flat however long
    the file is.
    """
    errors: List[RowError] = []
    rows = 0
    with tempfile.TemporaryDirectory(prefix="autopay-validate-") as folder:
        seen = sqlite3.connect(os.path.join(folder, "seen.sqlite"))
        seen.execute("PRAGMA journal_mode=OFF")
        seen.execute("PRAGMA synchronous=OFF")
        seen.execute("CREATE TABLE seen (order_number TEXT PRIMARY KEY, line INTEGER)")
        try:
            for item in read_rows(path):
                rows += 1
                if isinstance(item, RowError):
                    errors.append(item)
                else:
                    try:
                        seen.execute("INSERT INTO seen VALUES (?, ?)", (item.order_number, item.line))
                    except sqlite3.IntegrityError:
                        first = seen.execute("SELECT line FROM seen WHERE order_number = ?",
                                             (item.order_number,)).fetchone()[0]
                        errors.append(RowError(item.line, "order_number",
                                               f"order_number {item.order_number!r} repeats line {first}"))
                if len(errors) >= max_errors:
                    break
        finally:
            seen.close()
    if rows == 0:
        errors.append(RowError(1, "row", "the file has no rows"))
    return rows, errors


