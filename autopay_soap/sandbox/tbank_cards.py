"""The sandbox's T-Bank ``AddCard`` and ``GetAddCardState``, and the ``AddCard`` notification.

An ``AddCard`` session is an engine order of zero for the customer, registered as a card check
with the session's ``CheckType`` (:mod:`.card_check`) and paid on the same payer's page as a
payment (``/new/<PaymentId>``). Its end (the engine's VERIFY or DECLINE) becomes ``COMPLETED`` or
``REJECTED`` and a signed ``NotificationAddCard`` to the terminal's notification URL, carrying the
``CardId`` and, for every check but ``NO``, the ``RebillId``.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, Mapping, Optional

from ..models import OrderStatus
from ..signing import make_token
from .engine import EngineError, Event, EventKind
from .tbank_records import TBankError, TBankTerminal, _Payment, ok_answer

TBankFrontEnd = Any  # the front end (it imports this module): its engine, ids, payments and customers

__all__ = ["CHECK_TYPES", "add_card", "add_card_notification", "add_card_state"]

CHECK_TYPES = ("NO", "HOLD", "3DS", "3DSHOLD")


def _status(front: TBankFrontEnd, payment: _Payment) -> str:
    order = front.engine.order(payment.engine_id)
    if order.status is OrderStatus.REVERSED:
        return "COMPLETED"
    if order.status is OrderStatus.DECLINED:
        return "REJECTED"
    if order.status is OrderStatus.ACS_AUTH:
        return "THREE_DS_CHECKING"
    return "FORM_SHOWED" if payment.form_shown else "NEW"


def add_card(front: TBankFrontEnd, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:
    """``AddCard``: a customer the terminal knows (error 7 otherwise), a ``CheckType`` (``NO`` when
    absent); answers the session's ``PaymentId``, ``RequestKey`` and ``PaymentURL``."""
    key, _customer = front._customer(terminal, body)
    check = body.get("CheckType") or "NO"
    if check not in CHECK_TYPES:
        raise TBankError(1, "Неверные параметры", f"CheckType must be one of {', '.join(CHECK_TYPES)}")
    request_key = str(uuid.uuid4())
    try:
        order = front.engine.register(order_number="card-" + request_key, amount=0, currency="643",
                                      return_url=front.urls("/_sandbox/return"), client_id=f"{terminal.key}/{key}",
                                      card_check=str(check), max_number_length=64)
    except EngineError as exc:
        raise TBankError(1, "Неверные параметры", exc.message) from None
    payment_id = str(next(front._ids))
    payment = _Payment(payment_id, order.order_id, terminal.key, order.order_number, check != "NO", key, None, False,
                       None, request_key=request_key, card_check=str(check))
    front._payments[payment_id] = payment
    front._by_engine[order.order_id] = payment_id
    return ok_answer(terminal, PaymentId=int(payment_id), CustomerKey=key, RequestKey=request_key,
               PaymentURL=front.urls(f"/new/{payment_id}"))


def _session(front: TBankFrontEnd, terminal: TBankTerminal, request_key: Any) -> _Payment:
    found = next((p for p in front._payments.values() if p.card_check and p.request_key == str(request_key or "")
                  and p.terminal == terminal.key), None)
    if found is None:
        raise TBankError(1, "Неверные параметры", "Данный RequestKey не найден.")
    return found


def add_card_state(front: TBankFrontEnd, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:
    """``GetAddCardState``: the session's status and, once ``COMPLETED``, its ``CardId`` and ``RebillId``."""
    payment = _session(front, terminal, body.get("RequestKey"))
    status = _status(front, payment)
    reply = ok_answer(terminal, RequestKey=payment.request_key, Status=status, CustomerKey=payment.customer_key)
    if status == "COMPLETED":
        card = front._card_of(front.engine.order(payment.engine_id))  # made when the session ended
        if card is not None:
            reply["CardId"] = card.card_id
            if payment.card_check != "NO" and card.rebill_id:
                reply["RebillId"] = card.rebill_id
    return reply


def add_card_notification(front: TBankFrontEnd, payment: _Payment,
                          event: Event) -> Optional[Dict[str, Any]]:
    """The signed ``NotificationAddCard`` of a session's end (None for other events)."""
    if event.kind not in (EventKind.REVERSED, EventKind.DECLINED, EventKind.EXPIRED):
        return None
    status = _status(front, payment)
    success = status == "COMPLETED"
    card = front._ensure_card(payment, front.engine.order(payment.engine_id)) if success else None  # born here
    terminal = front.terminals[payment.terminal]
    if not terminal.notification_url:
        return None
    body: Dict[str, Any] = {"TerminalKey": terminal.key, "CustomerKey": payment.customer_key,
                            "RequestKey": payment.request_key, "Success": success, "Status": status,
                            "PaymentId": int(payment.payment_id), "ErrorCode": "0" if success else "1012"}
    if card is not None:
        body.update(CardId=int(card.card_id), Pan=card.pan, ExpDate=card.exp_date)
        if payment.card_check != "NO" and card.rebill_id:
            body["RebillId"] = int(card.rebill_id)
    body["Token"] = make_token(body, terminal.password)
    return body
