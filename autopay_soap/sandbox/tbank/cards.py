"""Customers and saved cards on the sandbox's T-Bank front end: ``AddCustomer``, ``GetCustomer``,
``RemoveCustomer``, ``GetCardList``, ``RemoveCard``, and saving a card without a payment,
``AddCard`` / ``GetAddCardState`` with the ``AddCard`` notification.

An ``AddCard`` session is an engine order of zero for the customer, registered as a card check
with the session's ``CheckType`` (``card_check``) and paid on the same payer's page as a
payment (``/new/<PaymentId>``). Its end (the engine's VERIFY or DECLINE) becomes ``COMPLETED`` or
``REJECTED`` and a signed ``NotificationAddCard`` to the terminal's notification URL, carrying the
``CardId`` and, for every check but ``NO``, the ``RebillId``.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, List, Mapping, Optional

from ...models import OrderStatus
from ...signing import make_token
from ..engine import EngineError, Event
from ..lifecycle import EventKind
from .core import TBankCore
from .records import TBankError, TBankTerminal, _Card, _Payment, ok_answer

__all__ = ["CHECK_TYPES", "CardMethods", "add_card_notification"]

CHECK_TYPES = ("NO", "HOLD", "3DS", "3DSHOLD")


class CardMethods:
    """The customer and card methods, on the front end's records."""

    METHODS = ("AddCustomer", "GetCustomer", "RemoveCustomer", "GetCardList", "RemoveCard", "AddCard",
               "GetAddCardState")

    def __init__(self, front: TBankCore) -> None:
        self.front = front

    def AddCustomer(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``AddCustomer``: the customer (its Email and Phone) is the terminal's from now on."""
        key = str(body.get("CustomerKey") or "")
        if not key or len(key) > 36:
            raise TBankError(216, "Неверный параметр CustomerKey")
        self.front.customers[(terminal.key, key)] = {"Email": body.get("Email"), "Phone": body.get("Phone")}
        return ok_answer(terminal, CustomerKey=key)

    def GetCustomer(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``GetCustomer``: the customer's fields."""
        key, customer = self.front.customer(terminal, body)
        return ok_answer(terminal, CustomerKey=key, **{k: x for k, x in customer.items() if x})

    def RemoveCustomer(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``RemoveCustomer``: the customer goes, and every card of theirs is removed."""
        key, _ = self.front.customer(terminal, body)
        del self.front.customers[(terminal.key, key)]
        for card in self._customer_cards(terminal, key):
            card.status = "D"
        return ok_answer(terminal, CustomerKey=key)

    def _customer_cards(self, terminal: TBankTerminal, key: str) -> List[_Card]:
        return [c for c in self.front.cards.values() if c.terminal == terminal.key and c.customer_key == key]

    def GetCardList(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Any:  # noqa: N802
        """``GetCardList``: the customer's active cards, a bare JSON array as the real API answers."""
        key, _ = self.front.customer(terminal, body)
        return [{"CardId": c.card_id, "Pan": c.pan, "Status": c.status, "RebillId": c.rebill_id or "",
                 "CardType": 0, "ExpDate": c.exp_date}
                for c in self._customer_cards(terminal, key) if c.status == "A"]

    def RemoveCard(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``RemoveCard``: an active card of the customer's is removed (107 otherwise)."""
        key, _ = self.front.customer(terminal, body)
        card = next((c for c in self._customer_cards(terminal, key) if c.card_id == str(body.get("CardId") or "")),
                    None)
        if card is None or card.status != "A":
            raise TBankError(107, "Неверный CardId")
        card.status = "D"
        return ok_answer(terminal, Status="D", CustomerKey=key, CardId=card.card_id, CardType=0)

    def AddCard(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``AddCard``: a customer the terminal knows (error 7 otherwise), a ``CheckType`` (``NO``
        when absent); answers the session's ``PaymentId``, ``RequestKey`` and ``PaymentURL``."""
        front = self.front
        key, _customer = front.customer(terminal, body)
        check = body.get("CheckType") or "NO"
        if check not in CHECK_TYPES:
            raise TBankError(1, "Неверные параметры", f"CheckType must be one of {', '.join(CHECK_TYPES)}")
        request_key = str(uuid.uuid4())
        try:
            order = front.engine.register(order_number="card-" + request_key, amount=0, currency="643",
                                          return_url=front.urls("/_sandbox/return"),
                                          client_id=f"{terminal.key}/{key}", card_check=str(check),
                                          max_number_length=64)
        except EngineError as exc:
            raise TBankError(1, "Неверные параметры", exc.message) from None
        payment_id = front.new_id()
        payment = _Payment(payment_id, order.order_id, terminal.key, order.order_number, check != "NO", key, None,
                           False, None, request_key=request_key, card_check=str(check))
        front.payments[payment_id] = payment
        front.by_engine[order.order_id] = payment_id
        return ok_answer(terminal, PaymentId=int(payment_id), CustomerKey=key, RequestKey=request_key,
                         PaymentURL=front.urls(f"/new/{payment_id}"))

    def GetAddCardState(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``GetAddCardState``: the session's status and, once ``COMPLETED``, its ``CardId`` and ``RebillId``."""
        front = self.front
        payment = _session(front, terminal, body.get("RequestKey"))
        status = _status(front, payment)
        reply = ok_answer(terminal, RequestKey=payment.request_key, Status=status, CustomerKey=payment.customer_key)
        if status == "COMPLETED":
            card = front.card_of(front.engine.order(payment.engine_id))  # made when the session ended
            if card is not None:
                reply["CardId"] = card.card_id
                if payment.card_check != "NO" and card.rebill_id:
                    reply["RebillId"] = card.rebill_id
        return reply


def _status(front: TBankCore, payment: _Payment) -> str:
    order = front.engine.order(payment.engine_id)
    if order.status is OrderStatus.REVERSED:
        return "COMPLETED"
    if order.status is OrderStatus.DECLINED:
        return "REJECTED"
    if order.status is OrderStatus.ACS_AUTH:
        return "THREE_DS_CHECKING"
    return "FORM_SHOWED" if payment.form_shown else "NEW"


def _session(front: TBankCore, terminal: TBankTerminal, request_key: Any) -> _Payment:
    found = next((p for p in front.payments.values() if p.card_check and p.request_key == str(request_key or "")
                  and p.terminal == terminal.key), None)
    if found is None:
        raise TBankError(1, "Неверные параметры", "Данный RequestKey не найден.")
    return found


def add_card_notification(front: TBankCore, payment: _Payment, event: Event) -> Optional[Dict[str, Any]]:
    """The signed ``NotificationAddCard`` of a session's end (None for other events)."""
    if event.kind not in (EventKind.REVERSED, EventKind.DECLINED, EventKind.EXPIRED):
        return None
    status = _status(front, payment)
    success = status == "COMPLETED"
    card = front.ensure_card(payment, front.engine.order(payment.engine_id)) if success else None  # born here
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
