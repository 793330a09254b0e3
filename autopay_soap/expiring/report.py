"""Cards that will expire before their next charge: the monthly "ask for a new card" job.

There is no account updater for Russian cards through these gateways: a card that expires is
declined (RBS action code 101, T-Bank 1054) and the only lever is asking the customer in time.
:func:`find_expiring` reads each client's bindings from the gateway (RBS ``getBindings`` with
expired ones, T-Bank ``GetCardList``) and lists every card that cannot be charged on the given
date or on the client's next scheduled charge, whichever is later. A card is usable through the
last day of its expiry month.

The schedule is a CSV with a ``client_id`` column and, optionally, ``next_charge``
(``YYYY-MM-DD``); a client on several rows (several charges planned) counts once, at its
earliest charge, and each card once. A binding whose expiry the gateway gives in a form that
cannot be read is listed as ``unreadable``, never passed over as fine; a client whose bindings
cannot be read is listed in ``problems``.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import attr

from ..errors import AutopayError, ValidationError
from ..validation import check_client_id

__all__ = ["REPORT_FIELDS", "ClientSchedule", "ExpiringCard", "ExpiringReport", "find_expiring", "last_usable_day",
           "read_schedule", "renewal_order_number", "render",
           "save_card_links"]

log = logging.getLogger(__name__)
REPORT_FIELDS = ("client_id", "binding_id", "masked_pan", "expiry", "last_usable_day", "next_charge", "reason",
                 "order_number", "form_url", "save_outcome", "message")
"""The CSV columns of the report, in order."""
MAX_SCHEDULE_BYTES = 64 * 1024 * 1024


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ClientSchedule:
    """A client and the date of its next scheduled charge (None: none planned)."""

    client_id: str
    next_charge: Optional[dt.date] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ExpiringCard:
    """A card to renew: why (``before``: it cannot be charged on the report's date;
    ``next_charge``: nor on the client's next charge; ``unreadable``: its expiry cannot be read),
    and, once asked for, the save-card link."""

    client_id: str
    binding_id: str
    masked_pan: Optional[str]
    expiry: Optional[str]
    last_usable_day: Optional[dt.date]
    next_charge: Optional[dt.date]
    reason: str
    order_number: Optional[str] = None
    form_url: Optional[str] = None
    save_outcome: Optional[str] = None
    message: Optional[str] = None

    def row(self) -> Dict[str, str]:
        """The CSV row (dates as ``YYYY-MM-DD``, absent values empty)."""
        values = attr.asdict(self)
        return {name: "" if values[name] is None else (values[name].isoformat() if isinstance(values[name], dt.date)
                                                        else str(values[name])) for name in REPORT_FIELDS}


@attr.s(slots=True, auto_attribs=True)
class ExpiringReport:
    """The cards to renew and the clients whose bindings could not be read (client id, why)."""

    before: dt.date
    cards: List[ExpiringCard] = attr.ib(factory=list)
    problems: List[Tuple[str, str]] = attr.ib(factory=list)
    clients: int = 0

    def write_csv(self, out: Any) -> None:
        """The cards as CSV (:data:`REPORT_FIELDS`) to a text stream."""
        writer = csv.DictWriter(out, fieldnames=REPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        for card in self.cards:
            writer.writerow(card.row())

    def as_json(self) -> str:
        """The report as one JSON object: ``before``, ``clients``, ``cards`` and ``problems``."""
        return json.dumps({"before": self.before.isoformat(), "clients": self.clients,
                           "cards": [card.row() for card in self.cards],
                           "problems": [{"client_id": c, "message": m} for c, m in self.problems]},
                          ensure_ascii=False, indent=1)


def last_usable_day(expiry: str) -> dt.date:
    """The last day a card of expiry ``YYYYMM`` can be charged: the last day of that month."""
    year, month = int(expiry[:4]), int(expiry[4:])
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _date(text: str, where: str) -> Optional[dt.date]:
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{where}: next_charge {text[:20]!r} is not a date (YYYY-MM-DD)",
                              field="next_charge") from None


def read_schedule(path: Union[str, Path], *, delimiter: str = ",") -> List[ClientSchedule]:
    """The clients of a schedule CSV (``client_id``, optional ``next_charge``), each once at its
    earliest charge. A bad row raises :class:`ValidationError` naming the line and the field."""
    source = Path(path)
    if source.stat().st_size > MAX_SCHEDULE_BYTES:
        raise ValidationError(f"{source}: more than {MAX_SCHEDULE_BYTES} bytes", field="clients")
    with source.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        if "client_id" not in (reader.fieldnames or []):
            raise ValidationError(f"{source}: the header has no client_id column", field="client_id")
        earliest: Dict[str, Optional[dt.date]] = {}
        for line, row in enumerate(reader, start=2):
            where = f"{source}:{line}"
            try:
                client_id = str(check_client_id((row.get("client_id") or "").strip(), required=True))
            except ValidationError as exc:
                raise ValidationError(f"{where}: {exc}", field="client_id") from None
            when = _date(row.get("next_charge") or "", where)
            known = earliest.get(client_id)
            if client_id not in earliest or (when is not None and (known is None or when < known)):
                earliest[client_id] = when
    return [ClientSchedule(client_id, when) for client_id, when in earliest.items()]


def _judge(binding: Any, schedule: ClientSchedule, before: dt.date) -> Optional[ExpiringCard]:
    """The card's entry when it must be renewed, else None."""
    base = dict(client_id=schedule.client_id, binding_id=binding.binding_id, masked_pan=binding.masked_pan,
                next_charge=schedule.next_charge)
    if not binding.expiry:
        text = getattr(binding, "expiry_text", None)
        return ExpiringCard(expiry=None, last_usable_day=None, reason="unreadable",
                            message=f"the gateway's expiry {text!r} cannot be read" if text
                            else "the gateway gives no expiry", **base)
    last = last_usable_day(binding.expiry)
    if last < before:
        return ExpiringCard(expiry=binding.expiry, last_usable_day=last, reason="before", **base)
    if schedule.next_charge is not None and last < schedule.next_charge:
        return ExpiringCard(expiry=binding.expiry, last_usable_day=last, reason="next_charge", **base)
    return None


def find_expiring(client: Any, schedule: Iterable[ClientSchedule], before: dt.date) -> ExpiringReport:
    """Every card of the scheduled clients that cannot be charged on ``before`` or on the client's
    next charge; ``client`` is an :class:`~autopay_soap.client.AutopayClient` (only bindings are read)."""
    if not isinstance(before, dt.date) or isinstance(before, dt.datetime):
        raise ValidationError("before: must be a datetime.date", field="before")
    report = ExpiringReport(before)
    seen = set()
    for entry in schedule:
        report.clients += 1
        try:
            bindings = client.list_cards(entry.client_id, show_expired=True)
        except AutopayError as exc:
            log.warning("the bindings of a client could not be read: %s", type(exc).__name__)
            report.problems.append((entry.client_id, f"bindings could not be read: {exc}"))
            continue
        for binding in bindings:
            if binding.binding_id in seen:
                continue
            seen.add(binding.binding_id)
            card = _judge(binding, entry, before)
            if card is not None:
                report.cards.append(card)
    return report


def renewal_order_number(card: ExpiringCard, before: dt.date) -> str:
    """The order number of a card's renewal: the same for the same card and report date (a second
    run finds the same RBS order), 32 characters at most."""
    digest = hashlib.sha256(f"{card.client_id}\x00{card.binding_id}\x00{before.isoformat()}".encode()).hexdigest()
    return "RENEW-" + digest[:26]


def save_card_links(report: ExpiringReport, client: Any, *, return_url: Optional[str] = None) -> int:
    """Start a card save for each card of ``report`` (one per client: the link saves a new card)
    and fill in its link; the number started. A card save refused or unreachable is noted in
    the card's ``message`` and the rest go on."""
    started = 0
    asked = set()
    for index, card in enumerate(report.cards):
        if card.client_id in asked:
            report.cards[index] = attr.evolve(card, message="a link was made for another card of this client")
            continue
        asked.add(card.client_id)
        number = renewal_order_number(card, report.before)
        try:
            result = client.start_card_save(number, card.client_id, return_url=return_url)
        except AutopayError as exc:
            report.cards[index] = attr.evolve(card, order_number=number, save_outcome="error", message=str(exc))
            continue
        report.cards[index] = attr.evolve(card, order_number=number, form_url=result.form_url,
                                          save_outcome=result.outcome.value, message=result.message)
        started += 1
    return started


def render(report: ExpiringReport, fmt: str) -> str:
    """The report as ``csv`` or ``json`` text."""
    if fmt == "json":
        return report.as_json() + "\n"
    out = io.StringIO()
    report.write_csv(out)
    return out.getvalue()
