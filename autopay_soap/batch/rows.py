"""Batch input: CSV or JSON Lines, streamed, each row checked before anything is charged.

Columns: ``order_number`` (required: the idempotency key of the charge), ``client_id``,
``binding_id``, ``amount`` in major units (``"499.00"``) or ``amount_minor``, ``currency``
(default RUB), ``description``, ``two_stage`` (true/false/1/0/yes/no).

A 54-FZ receipt per row (``docs/receipts.rst``): the single-line columns ``item_name``, ``tax``,
``payment_object``, ``payment_method``, ``customer_email`` / ``customer_phone`` and ``taxation``
(the row's amount is the line's price), or a ``receipt`` object (in JSON Lines; its JSON text in a
CSV cell) of several lines, whose ``taxation`` may come from the ``taxation`` column. Checked with
the row: a receipt that does not add up to the amount is a bad row.

T-Bank rows name the card by ``rebill_id`` (its RebillId) or the SBP account by
``account_token`` instead of ``binding_id``; ``client_id`` is then optional and the order
number may have up to 36 characters. Run them with ``--transport tbank``.

Files as people write them (``docs/batch.rst``, "Input files"):

* UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"); anything else is refused
  with the first line that is not UTF-8.
* CSV separated by ``,``, ``;`` (Excel in a Russian locale) or a tab: the header line decides
  (the separator that yields the most known column names), or ``delimiter=``.
* An unknown column is refused, with the known name it is closest to; so is a row with fewer
  values than the header, a quoted value left open, and an amount that is not plain decimal
  notation (``1e3``, ``5_000``, ``.5``, ``499,00``, non-ASCII digits, a JSON float).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import attr

from .. import json_input
from .. import validation as v
from ..declines.numbers import DIGEST_LENGTH, digest_length_of, root_and_attempt
from ..errors import ValidationError
from ..models import Autopayment
from ..money import Money
from ..receipts import Receipt, ReceiptItem
from .spool import FileDigest, RowSpool

__all__ = ["COLUMNS", "ChargeRow", "FileCheck", "RowError", "chunks", "file_digest", "read_rows", "validate_file"]

COLUMNS = ("order_number", "client_id", "binding_id", "rebill_id", "account_token", "amount", "amount_minor",
           "currency", "description", "two_stage", "original_order_number", "attempt", "receipt", "taxation",
           "item_name", "tax", "payment_object", "payment_method", "customer_email", "customer_phone")
"""Every column (or JSON key) a batch row may have."""
RECEIPT_COLUMNS = ("taxation", "item_name", "tax", "payment_object", "payment_method", "customer_email",
                   "customer_phone")
"""The single-line receipt of a CSV row (the row's amount is the line's price); ``receipt`` (a
JSON object, or its text in a CSV cell) holds a receipt of several lines."""

_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}
_DELIMITERS = (",", ";", "\t")
_PLAIN_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?\Z")
_WHOLE = re.compile(r"[0-9]+\Z")


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
    original_order_number: Optional[str] = None
    """For a retry (``attempt`` 2 or more): the order number of the charge's first attempt."""
    attempt: int = 1
    """1 for a first charge; *n* for its (n-1)-th retry (numbered by
    :func:`~autopay_soap.declines.numbers.retry_order_number`)."""
    instrument_column: str = "binding_id"
    """The column that named the card or account: ``binding_id``, ``rebill_id`` or ``account_token``."""
    receipt: Optional[Receipt] = None
    """The charge's 54-FZ receipt (its lines add up to ``amount``), sent with the charge."""
    payment: Optional[Autopayment] = attr.ib(default=None, eq=False, repr=False)
    """The row as the pre-flight's client checked it (``check_autopay``): what the charge sends,
    not checked again by a client of the same transport and settings. None for a row not
    checked in this process (a Celery worker's, read from the journal)."""

    def with_payment(self, payment: Autopayment) -> "ChargeRow":
        """This row with its checked ``payment`` (built field by field: ``attr.evolve`` costs
        5 us a row, four times as much)."""
        return ChargeRow(self.line, self.order_number, self.client_id, self.binding_id, self.amount, self.two_stage,
                         self.description, self.account_token, self.original_order_number, self.attempt,
                         self.instrument_column, self.receipt, payment)

    def charge_arguments(self) -> Dict[str, Any]:
        """The row as the keyword arguments of :meth:`AutopayClient.check_autopay
        <autopay_soap.client.AutopayClient.check_autopay>`."""
        return {"order_number": self.order_number, "amount": self.amount, "client_id": self.client_id or None,
                "binding_id": self.binding_id, "account_token": self.account_token, "two_stage": self.two_stage,
                "description": self.description, "receipt": self.receipt}

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        """Pickled as its plain fields (the run's row spool holds a million of them): a checked
        row is rebuilt as it was, without checking it again."""
        checked = (self.payment.options, self.payment.checked_for) if self.payment is not None else None
        return _checked_row, (self.line, self.order_number, self.client_id, self.binding_id, self.amount.minor,
                              self.amount.currency.alpha, self.two_stage, self.description, self.account_token,
                              self.original_order_number, self.attempt, self.instrument_column, self.receipt, checked)

    @property
    def receipt_digest(self) -> Optional[str]:
        """A digest of the receipt (None without one): the journal keeps it, so that a re-run of
        the number with another receipt is a mismatch, never a second charge."""
        if self.receipt is None:
            return None
        text = json.dumps(self.receipt.as_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]

    @property
    def root_order_number(self) -> str:
        """The order number of the charge's first attempt (this row's own for attempt 1)."""
        return self.original_order_number or self.order_number

    @property
    def digest_length(self) -> int:
        """The digest length of this row's chain of numbers (see
        :func:`~autopay_soap.declines.numbers.digest_length_of`): a chain begun by 0.1 keeps six."""
        if self.attempt == 1:
            return DIGEST_LENGTH
        return digest_length_of(self.order_number, self.root_order_number, self.attempt, max_len=self.max_order_number)

    @property
    def max_order_number(self) -> int:
        """The longest order number this row's gateway takes (T-Bank 36, RBS 32)."""
        return 32 if self.instrument_column == "binding_id" else 36

    @property
    def instrument(self) -> str:
        """What is charged, as a digest (the journal keeps no binding id or account token in clear).

        An RBS binding id is a UUID, which the gateway compares without regard to case: so does
        the digest (an upper-case copy of a hard-declined binding is the same card)."""
        if self.binding_id is None:
            key = f"sbp:{self.account_token}"
        elif self.instrument_column == "binding_id":  # an RBS binding: a UUID, any case
            key = f"binding:{self.binding_id.strip().lower()}"
        else:  # a T-Bank RebillId: digits
            key = f"binding:{self.binding_id}"
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RowError:
    """A row that cannot be charged: its line number, the column (``field``) and why.

    ``field`` is ``"file"`` or ``"row"`` when the problem is not one column's (the file is not
    UTF-8, a row has too few values...).
    """

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        if self.field in ("file", "row"):
            return f"line {self.line}: {self.message}"
        text = self.message
        if text.startswith(self.field + ":"):
            text = text[len(self.field) + 1:].lstrip()
        return f"line {self.line}, column {self.field}: {text}"


def _checked_row(line: int, order_number: str, client_id: str, binding_id: Optional[str], minor: int, currency: str,
                 two_stage: bool, description: Optional[str], account_token: Optional[str], original: Optional[str],
                 attempt: int, column: str, receipt: Optional[Receipt],
                 checked: Optional[Tuple[Any, Tuple[Any, ...]]] = None) -> ChargeRow:
    """A :class:`ChargeRow` from the fields it was pickled as (see ``ChargeRow.__reduce__``),
    with its :class:`~autopay_soap.models.Autopayment` (``checked``: its options and key)."""
    amount = Money._checked(minor, currency)
    payment = None if checked is None else Autopayment(
        order_number, amount, client_id or None, binding_id, account_token, two_stage, description, None, None,
        receipt, checked[0], checked[1])
    return ChargeRow(line, order_number, client_id, binding_id, amount, two_stage, description, account_token,
                     original, attempt, column, receipt, payment)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FileCheck:
    """What :func:`validate_file` found: ``rows`` read, the first ``errors`` and how many rows
    were bad in all (``bad_rows``, which may be more than ``len(errors)``)."""

    rows: int
    errors: List[RowError]
    bad_rows: int


class _Fatal(Exception):
    """A problem after which the rest of the file cannot be read (it is reported as a RowError)."""

    def __init__(self, error: RowError) -> None:
        super().__init__(str(error))
        self.error = error


class _JsonFloat(str):
    """A JSON number with a fraction or an exponent, kept as its text so that it can be refused."""


def _lines(path: Path, digest: Optional[FileDigest] = None) -> Iterator[Tuple[int, str]]:
    """``(line number, text)`` of each physical line, decoded as UTF-8 (a leading BOM dropped);
    ``digest`` takes every byte read."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if digest is not None:
                digest.update(raw)
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _Fatal(RowError(number, "file", (
                    f"not UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line); save the file "
                    "as UTF-8 (in Excel: \"CSV UTF-8\")"))) from None
            if "\x00" in text:
                raise _Fatal(RowError(number, "file", "a NUL byte: this is not a text file"))
            yield number, text
    if digest is not None:
        digest.complete = True


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name.strip().lower(), COLUMNS, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else f"; the columns are: {', '.join(COLUMNS)}"


def _check_names(names: Sequence[str], line: int) -> List[RowError]:
    """Unknown and repeated column names (an empty name is allowed: a trailing separator)."""
    errors = []
    seen = set()
    for name in names:
        if not name:
            continue
        if name not in COLUMNS:
            errors.append(RowError(line, name, f"{name}: unknown column{_suggest(name)}"))
        elif name in seen:
            errors.append(RowError(line, name, f"{name}: the column appears twice"))
        seen.add(name)
    return errors


def sniff_delimiter(header: str) -> str:
    """The separator of a CSV header line: the one that yields the most known column names
    (``,`` when none does better)."""
    best, best_known = ",", -1
    for candidate in _DELIMITERS:
        names = next(csv.reader([header], delimiter=candidate), [])
        known = sum(1 for name in names if name.strip() in COLUMNS)
        if known > best_known:
            best, best_known = candidate, known
    return best


def _open_quote_column(text: str, delimiter: str) -> int:
    """The index of the value whose quote is still open at the end of ``text`` (-1: none)."""
    column, quoted = 0, False
    for char in text.rstrip("\r\n"):
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            column += 1
    return column if quoted else -1


def _csv_rows(path: Path, delimiter: Optional[str],
              digest: Optional[FileDigest] = None) -> Iterator[Tuple[int, Union[Dict[str, object], RowError]]]:
    lines = _lines(path, digest)
    first = next(lines, None)
    if first is None:
        return
    header_text = first[1]
    sep = delimiter or sniff_delimiter(header_text)
    names = [name.strip() for name in next(csv.reader([header_text], delimiter=sep), [])]
    header_errors = _check_names(names, 1)
    if "order_number" not in names:
        header_errors.append(RowError(1, "file", "the header must name an order_number column (and amount, "
                                                 "binding_id...); is the first line the header?"))
    if header_errors:
        for error in header_errors:
            yield 1, error
        return
    texts: Dict[int, str] = {}

    def feed() -> Iterator[str]:
        for number, text in lines:
            texts[number] = text
            yield text

    reader = csv.reader(feed(), delimiter=sep, strict=True)
    end = 1
    while True:
        start = end + 1
        texts.clear()  # the physical lines of this record only
        try:
            record = next(reader, None)
        except csv.Error as exc:
            column = _open_quote_column(texts.get(start, ""), sep)
            problem = "a quoted value opens here and is never closed" if column >= 0 else f"unreadable CSV ({exc})"
            raise _Fatal(RowError(start, names[column] if 0 <= column < len(names) else "row", problem)) from None
        if record is None:
            return
        end = reader.line_num + 1  # the reader has not seen the header line
        if end > start:  # a quote opened on line `start` swallowed the line break(s) after it
            column = next((i for i, value in enumerate(record) if "\n" in value or "\r" in value), -1)
            raise _Fatal(RowError(start, names[column] if 0 <= column < len(names) else "row",
                                  "a quoted value is not closed on its line (a value may not hold a line break)"))
        if not record or all(not value.strip() for value in record):
            continue  # a blank line
        yield start, _record_fields(start, record, names)


def _record_fields(start: int, record: List[str], names: List[str]) -> Union[Dict[str, object], RowError]:
    """A CSV record's fields by column name, or the error of a record with too few or too many values."""
    if len(record) < len(names):
        missing = ", ".join(name for name in names[len(record):] if name)
        return RowError(start, "row", f"{len(record)} value(s) for {len(names)} columns (missing: {missing}); "
                                      "check the separator and the quotes")
    if any(value.strip() for value in record[len(names):]):
        return RowError(start, "row", f"{len(record)} values for {len(names)} columns: more values than columns "
                                      "(a separator inside an unquoted value?)")
    return {name: value for name, value in zip(names, record) if name}


def _json_rows(path: Path,
               digest: Optional[FileDigest] = None) -> Iterator[Tuple[int, Union[Dict[str, object], RowError]]]:
    for number, text in _lines(path, digest):
        if not text.strip():
            continue
        try:
            data = json_input.loads(text, parse_float=_JsonFloat, parse_constant=_JsonFloat)
        except json.JSONDecodeError as exc:
            yield number, RowError(number, "row", f"not valid JSON ({exc.msg} at character {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield number, RowError(number, "row", "a JSON object per line is expected")
            continue
        unknown = _check_names(list(data), number)
        if unknown:
            yield number, unknown[0]
            continue
        yield number, data


def _raw_rows(path: Path, delimiter: Optional[str],
              digest: Optional[FileDigest] = None) -> Iterator[Tuple[int, Union[Dict[str, object], RowError]]]:
    """``(line number, mapping)`` per data row, or a :class:`RowError` for a row that cannot be read."""
    json_lines = path.suffix.lower() in (".jsonl", ".ndjson", ".json")
    reader = _json_rows(path, digest) if json_lines else _csv_rows(path, delimiter, digest)
    try:
        yield from reader
    except _Fatal as fatal:
        yield fatal.error.line, fatal.error


def _text(data: Dict[str, object], name: str) -> Optional[str]:
    """A value as stripped text (None when absent or blank); refuses floats and nested values."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, _JsonFloat):
        raise ValidationError(f"{name}: {value} is a JSON float; write amounts as strings (\"12.34\") or "
                              "amount_minor as a whole number", field=name)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise ValidationError(f"{name}: must be a string, not a JSON {type(value).__name__}", field=name)
    return value.strip() or None


def _amount(data: Dict[str, object]) -> Money:
    currency = _text(data, "currency") or "RUB"
    amount_text, minor_text = _text(data, "amount"), _text(data, "amount_minor")
    if (amount_text is None) == (minor_text is None):
        raise ValidationError("amount: give exactly one of amount and amount_minor", field="amount")
    if amount_text is not None:
        if not _PLAIN_AMOUNT.match(amount_text):
            hint = "use a point as the decimal separator (499.00)" if "," in amount_text else \
                "use plain decimal notation: digits, then a point and the decimals (499.00)"
            raise ValidationError(f"amount: {amount_text!r} is refused; {hint}", field="amount")
        amount = Money.of(amount_text, currency)
    else:
        if isinstance(data.get("amount_minor"), bool) or not _WHOLE.match(minor_text or ""):
            raise ValidationError(f"amount_minor: {minor_text!r} is not a whole number of minor units (digits 0-9 "
                                  "only)", field="amount_minor")
        amount = Money.from_minor(int(minor_text or 0), currency)
    v.check_money(amount)
    return amount


def _row(line: int, data: Dict[str, object]) -> ChargeRow:
    amount = _amount(data)
    keys = [name for name in ("binding_id", "rebill_id", "account_token") if _text(data, name)]
    if len(keys) != 1:
        raise ValidationError("binding_id: give exactly one of binding_id, rebill_id (T-Bank) and account_token "
                              "(T-Bank SBP)", field="binding_id")
    tbank = keys[0] != "binding_id"
    two_stage_text = (_text(data, "two_stage") or "").lower()
    if two_stage_text not in _TRUE | _FALSE:
        raise ValidationError("two_stage: use true or false", field="two_stage")
    if keys[0] == "account_token" and two_stage_text in _TRUE:
        raise ValidationError("two_stage: SBP autopayments are one-stage only", field="two_stage")
    receipt = _receipt(data, amount)
    return ChargeRow(
        line=line,
        receipt=receipt,
        order_number=v.check_order_number(_text(data, "order_number"), max_len=36 if tbank else 32),
        client_id=v.check_client_id(_text(data, "client_id"), required=not tbank) or "",
        binding_id=v.check_binding_id(_text(data, keys[0]), keys[0]) if keys[0] != "account_token" else None,
        account_token=v.check_text(_text(data, "account_token"), "account_token", 64)
        if keys[0] == "account_token" else None,
        amount=amount,
        two_stage=two_stage_text in _TRUE,
        description=v.check_description(_text(data, "description")),
        instrument_column=keys[0],
        **_attempt(data, 36 if tbank else 32),
    )


_SINGLE_LINE_FIELDS = {"receipt.items[0].name": "item_name", "receipt.items[0].tax": "tax",
                       "receipt.items[0].payment_object": "payment_object",
                       "receipt.items[0].payment_method": "payment_method", "receipt.email": "customer_email",
                       "receipt.phone": "customer_phone", "receipt.taxation": "taxation"}


def _json_float_in(value: object, where: str) -> Optional[str]:
    """The path of the first JSON float in ``value`` (money is never a float), or None."""
    if isinstance(value, _JsonFloat):
        return where
    if isinstance(value, dict):
        found = (_json_float_in(item, f"{where}.{key}") for key, item in value.items())
    elif isinstance(value, list):
        found = (_json_float_in(item, f"{where}[{index}]") for index, item in enumerate(value))
    else:
        return None
    return next((path for path in found if path is not None), None)


def _receipt(data: Dict[str, object], amount: Money) -> Optional[Receipt]:
    """The row's receipt: a ``receipt`` object (or its JSON text in a CSV cell), or the single-line
    columns (:data:`RECEIPT_COLUMNS`); checked to add up to the row's amount."""
    given = data.get("receipt")
    single = {name: _text(data, name) for name in RECEIPT_COLUMNS if name != "taxation"}
    if given is not None and given != "":
        if any(single.values()):
            raise ValidationError("receipt: give the receipt object or the single-line columns, not both",
                                  field="receipt")
        if isinstance(given, str) and not isinstance(given, _JsonFloat):
            try:
                given = json_input.loads(given, parse_float=_JsonFloat, parse_constant=_JsonFloat)
            except ValueError:
                raise ValidationError("receipt: not a JSON object", field="receipt") from None
        where = _json_float_in(given, "receipt")
        if where is not None:
            raise ValidationError(f"{where}: a JSON float; write prices and quantities as strings (\"499.00\", "
                                  "\"0.5\")", field=where)
        receipt = Receipt.from_json(given, amount.currency.alpha, taxation=_text(data, "taxation"))
    elif any(single.values()):
        if not single["item_name"]:
            raise ValidationError("item_name: a receipt line needs its name (the other receipt columns are set)",
                                  field="item_name")
        if not _text(data, "taxation"):
            raise ValidationError("taxation: a receipt needs the taxation system (osn, usn_income...)",
                                  field="taxation")
        try:
            line = ReceiptItem(single["item_name"], amount, tax=single["tax"] or "none", position=1,
                               payment_object=single["payment_object"] or "service",
                               payment_method=single["payment_method"] or "full_payment")
            receipt = Receipt([line], taxation=_text(data, "taxation") or "", email=single["customer_email"],
                              phone=single["customer_phone"])
        except ValidationError as exc:  # named by the column it came from
            column = _SINGLE_LINE_FIELDS.get(exc.field or "", exc.field or "receipt")
            raise ValidationError(f"{column}:{exc.message.split(':', 1)[1]}", field=column) from None
    else:
        return None
    receipt.check_amount(amount, "the row's amount")
    return receipt


def _attempt(data: Dict[str, object], max_len: int) -> Dict[str, Any]:
    """``attempt`` and ``original_order_number`` of a retry row, checked: the order number must be
    the one derived for that attempt (a hand-edited retry row is refused)."""
    text = _text(data, "attempt")
    if text is None:
        attempt = 1
    elif isinstance(data.get("attempt"), bool) or not _WHOLE.match(text) or int(text) < 1:
        raise ValidationError(f"attempt: {text!r} is not a whole number of at least 1", field="attempt")
    else:
        attempt = int(text)
    original = _text(data, "original_order_number")
    if attempt == 1:
        if original is not None and original != _text(data, "order_number"):
            raise ValidationError("original_order_number: only a retry (attempt 2 or more) names another order "
                                  "number", field="original_order_number")
        return {"attempt": 1}
    if original is None:
        raise ValidationError("original_order_number: a retry (attempt 2 or more) names its first order number",
                              field="original_order_number")
    root_and_attempt(str(_text(data, "order_number")), original, attempt, max_len=max_len)
    return {"attempt": attempt, "original_order_number": original}


def read_rows(path: Union[str, Path], *, delimiter: Optional[str] = None,
              digest: Optional[FileDigest] = None) -> Iterator[Union[ChargeRow, RowError]]:
    """Stream the file: a :class:`ChargeRow` per good row, a :class:`RowError` per bad one.

    ``delimiter``: the CSV separator (default: found from the header line). ``digest``: takes
    the file's bytes as they are read (:class:`~.spool.FileDigest`).
    """
    for line, data in _raw_rows(Path(path), delimiter, digest):
        if isinstance(data, RowError):
            yield data
            continue
        try:
            yield _row(line, data)
        except ValidationError as exc:
            yield RowError(line, exc.field or "row", exc.message)


def validate_file(path: Union[str, Path], *, max_errors: int = 50, delimiter: Optional[str] = None,
                  check: Optional[Callable[[ChargeRow], Optional[Autopayment]]] = None,
                  spool: Optional[RowSpool] = None) -> FileCheck:
    """Check every row (streamed); a repeated order number is an error too.

    ``check`` is called on every good row (the batch runner passes the chosen transport's own
    rules, :meth:`~autopay_soap.client.AutopayClient.check_autopay`); a
    :class:`~autopay_soap.errors.ValidationError` it raises makes the row bad, and the
    :class:`~autopay_soap.models.Autopayment` it returns is kept with the row in ``spool``. Every bad row is
    counted; the first ``max_errors`` are kept. Repeats are found in an on-disk table, so memory
    stays flat however long the file is: ``spool`` (a run's :class:`~.spool.RowSpool`, which then
    keeps every row checked for the run's later passes), else a temporary one.
    """
    errors: List[RowError] = []
    rows = bad = 0
    seen = spool if spool is not None else RowSpool(keep_rows=False)
    try:
        for item in read_rows(path, delimiter=delimiter, digest=spool.digest if spool is not None else None):
            rows += 1
            error = item if isinstance(item, RowError) else _check_row(item, seen, check)
            if error is not None:
                bad += 1
                if len(errors) < max_errors:
                    errors.append(error)
    finally:
        if spool is None:
            seen.close()
    if rows == 0:
        errors.append(RowError(1, "file", "the file has no rows"))
        bad = 1
    return FileCheck(rows, errors, bad)


def _check_row(row: ChargeRow, seen: RowSpool,
               check: Optional[Callable[[ChargeRow], Optional[Autopayment]]]) -> Optional[RowError]:
    """Check ``row`` (a ``check`` may give its :class:`~autopay_soap.models.Autopayment`, kept
    with it) and keep it in ``seen``; its error, a repeated order number first."""
    error, payment = None, None
    if check is not None:
        try:
            payment = check(row)
        except ValidationError as exc:
            error = RowError(row.line, exc.field or "row", exc.message)
    first = seen.add(row if payment is None or not seen.keep_rows else row.with_payment(payment))
    if first is not None:
        return RowError(row.line, "order_number", f"order_number {row.order_number!r} repeats line {first}")
    return error


def file_digest(path: Union[str, Path]) -> str:
    """SHA-256 of the file's bytes (read in blocks): what a batch in PostgreSQL is tied to."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def chunks(items: Iterable[Any], size: int) -> Iterator[List[Any]]:
    """``items`` in lists of at most ``size`` (the last may be shorter): rows handed to the
    journal many at a time."""
    chunk: List[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
