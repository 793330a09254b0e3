"""The notifications the sandbox's T-Bank front end sends: a payment's (to the Init's
NotificationURL, else the terminal's), its receipts' (``Status=RECEIPT``), each signed with the
terminal's password. An AddCard session's end has its own (``cards.add_card_notification``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional, Tuple

from ...models import OrderStatus
from ...signing import make_token
from ..engine import Event
from ..lifecycle import EventKind
from .cards import add_card_notification
from .core import TBankCore
from .records import TBankTerminal, _Card, _Payment
from .rules import decline_of

__all__ = ["announce_receipts", "on_event"]

_EVENT_STATUS = {EventKind.HELD: "AUTHORIZED", EventKind.CHARGED: "CONFIRMED", EventKind.DEPOSITED: "CONFIRMED",
                 EventKind.REVERSED: "REVERSED"}
"""The notified ``Status`` of each engine event; a refund's and a decline's depend on the order."""


def on_event(front: TBankCore, event: Event) -> None:
    """Send the payment notification of an engine event to NotificationURL (or the terminal's);
    an AddCard session's end sends the AddCard notification to the terminal's."""
    with front.lock:
        payment_id = front.by_engine.get(event.order.order_id)
        if payment_id is None:
            return
        payment = front.payments[payment_id]
        notice = add_card_notification(front, payment, event) if payment.card_check is not None else None
    if payment.card_check is not None:
        if notice is not None:
            front.notify(str(front.terminals[payment.terminal].notification_url), notice)
        return
    with front.lock:
        found = _payment_notification(front, payment, event)
        if found is None:
            return
        url, body, status = found
        receipts = _fiscal_notifications(front, front.terminals[payment.terminal], payment, status)
    front.notify(url, body)
    for receipt in receipts:
        front.notify(url, receipt)


def _event_status(front: TBankCore, payment: _Payment, event: Event) -> Optional[str]:
    if event.kind is EventKind.REFUNDED:
        return "REFUNDED" if event.order.status is OrderStatus.REFUNDED else "PARTIAL_REFUNDED"
    if not event.success:
        return front.status_word(payment, front.order(payment))  # REJECTED, CANCELED or DEADLINE_EXPIRED: final
    return _EVENT_STATUS.get(event.kind)


def _payment_notification(front: TBankCore, payment: _Payment,
                          event: Event) -> Optional[Tuple[str, Dict[str, Any], str]]:
    """The URL, the signed body and the status of a payment's notification (None: nothing to send)."""
    order = front.order(payment)
    status = _event_status(front, payment, event)
    card = front.ensure_card(payment, order) if order.binding_id else None  # RebillId is born here
    terminal = front.terminals[payment.terminal]
    url = payment.notification_url or terminal.notification_url
    if status is None or not url:
        return None
    success = status not in ("REJECTED", "CANCELED", "DEADLINE_EXPIRED")
    body: Dict[str, Any] = {
        "TerminalKey": terminal.key, "OrderId": payment.order_id, "Success": success, "Status": status,
        "PaymentId": int(payment.payment_id),
        "ErrorCode": "0" if success else str(decline_of(order, payment.qr)[0]),
        "Amount": event.order.amount}
    _add_card_fields(body, payment, card, event)
    if payment.customer_key:
        body["CustomerKey"] = payment.customer_key
    body["Token"] = make_token(body, terminal.password)
    return url, body, status


def _add_card_fields(body: Dict[str, Any], payment: _Payment, card: Optional[_Card], event: Event) -> None:
    if card is not None:
        body.update(CardId=int(card.card_id), Pan=card.pan, ExpDate=card.exp_date)
        if payment.recurrent and card.rebill_id:
            body["RebillId"] = int(card.rebill_id)
    elif event.order.masked_pan:
        body["Pan"] = event.order.masked_pan.replace("**", "******")


def announce_receipts(front: TBankCore, terminal: TBankTerminal, payment: _Payment) -> None:
    """Fiscal notifications of receipts kept after the payment's own notification went out."""
    url = payment.notification_url or terminal.notification_url
    if url:
        word = front.status_word(payment, front.order(payment))
        for body in _fiscal_notifications(front, terminal, payment, word):
            front.notify(url, body)


def _fiscal_notifications(front: TBankCore, terminal: TBankTerminal, payment: _Payment,
                          status: str) -> List[Dict[str, Any]]:
    """``Status=RECEIPT`` notifications of the receipts a payment's new status registers."""
    # a two-stage payment's sale is registered when it is captured, with the Confirm's receipt
    sale = ("capture",) if front.order(payment).two_stage else ("sell",)
    operations = {"CONFIRMED": sale, "PARTIAL_REFUNDED": ("refund",), "REFUNDED": ("refund",)}
    if front.fiscal is None or status not in operations:
        return []
    bodies = []
    for entry in front.fiscal.take_unannounced(payment.engine_id, operations[status]):
        body: Dict[str, Any] = {
            "TerminalKey": terminal.key, "OrderId": payment.order_id, "Success": True, "Status": "RECEIPT",
            "PaymentId": int(payment.payment_id), "ErrorCode": "0", "Amount": entry["amount"],
            "FiscalNumber": entry["number"], "ShiftNumber": 1, "FiscalDocumentNumber": entry["number"],
            "FiscalDocumentAttribute": 1000000 + entry["number"], "FnNumber": "9999078900000001",
            "EcrRegNumber": "0000000001000001", "ReceiptDatetime": dt.datetime.fromtimestamp(
                entry["sent_at"], dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Type": "IncomeReturn" if entry["operation"] == "refund" else "Income", "Receipt": entry["receipt"]}
        body["Token"] = make_token(body, terminal.password)
        bodies.append(body)
    return bodies
