"""The sandbox's T-Bank front end: one call in, one T-Bank answer out.

:class:`TBankFrontEnd` checks a request's shape, terminal and Token, runs the method (each group
of methods is its own class: ``payments.PaymentMethods``, ``cards.CardMethods``,
``pci.CardDataMethods``, ``sbp.SbpMethods``) under the front end's lock, and turns
every refusal into T-Bank's error answer, echoing what it knows of the request's subject."""

from __future__ import annotations

import hmac
import logging
from typing import Any, Callable, Dict, List, Mapping

from ...models import OrderStatus
from ...signing import make_token
from ..engine import Engine, EngineError, Event
from ..lifecycle import Refusal
from .cards import CardMethods
from .core import TBankCore
from .notifications import on_event
from .payments import PaymentMethods
from .pci import CardDataMethods
from .records import TBankError, TBankTerminal
from .rules import CASHBOX_METHODS, TBANK_METHODS, refused, shape_problem
from .sbp import SbpMethods

__all__ = ["TBankFrontEnd"]

log = logging.getLogger(__name__)

Handler = Callable[[TBankTerminal, Mapping[str, Any]], Any]


class TBankFrontEnd(TBankCore):
    """Turns ``/v2/<Method>`` calls into engine calls and engine state into T-Bank's JSON."""

    def __init__(self, engine: Engine, terminals: List[TBankTerminal], urls: Callable[[str], str],
                 notify: Callable[[str, Dict[str, Any]], None], *, accept_repeated_order_ids: bool = False) -> None:
        super().__init__(engine, terminals, urls, notify, accept_repeated_order_ids=accept_repeated_order_ids)
        self._handlers: Dict[str, Handler] = {}
        for group in (PaymentMethods(self), CardMethods(self), CardDataMethods(self), SbpMethods(self)):
            self._handlers.update((name, getattr(group, name)) for name in group.METHODS)
        missing = set(TBANK_METHODS + CASHBOX_METHODS) ^ set(self._handlers)
        if missing:  # a method listed and not served, or served and not listed
            raise RuntimeError(f"T-Bank methods without a handler or a listing: {sorted(missing)}")

    def handle(self, method: str, body: Any) -> Dict[str, Any]:
        """Answer one call: check the request's shape, the terminal and the Token, then run the method.

        Every request gets a T-Bank answer (``Success: false`` with an ``ErrorCode``), however
        malformed: not an object, a float or a nested value where a scalar belongs, no
        TerminalKey, no Token. An error answer echoes what the sandbox knows of its subject
        (``PaymentId``, ``OrderId``, ``Amount``, ``Status``, ``CustomerKey``...), as T-Bank does;
        never to a request whose terminal or Token is wrong. A ``GetState`` error answer carries
        every field its published schema requires: ``OrderId`` "", ``Amount`` 0 and ``Status``
        ``UNKNOWN`` where the payment is not known (or not to be told).
        """
        answer = self._answer(method, body)
        if method == "GetState" and answer.get("Success") is False:
            given = body.get("PaymentId") if isinstance(body, Mapping) else None
            unknown = {"PaymentId": str(given) if isinstance(given, (str, int)) and not isinstance(given, bool) else "",
                       "OrderId": "", "Amount": 0, "Status": "UNKNOWN"}
            answer = {**unknown, **answer}
        return answer

    def _answer(self, method: str, body: Any) -> Dict[str, Any]:
        handler = self._handlers.get(method)
        if handler is None:
            return {"Success": False, "ErrorCode": "9999", "Message": f"Метод {method} не найден"}
        terminal = self._caller(body)
        if not isinstance(terminal, TBankTerminal):
            return terminal
        try:
            with self.lock:
                return handler(terminal, body)
        except TBankError as exc:
            code, message, details, status = str(exc.code), exc.message, exc.details, exc.status
        except EngineError as exc:
            wrong_state = exc.refusal is Refusal.WRONG_STATE
            code = "8" if wrong_state else "9999"
            message = "Неверный статус транзакции" if wrong_state else "Внутренняя ошибка"
            details, status = exc.message, None
        except Exception as exc:  # noqa: BLE001 - a value of a type nobody foresaw: still an answer, never a reset
            log.warning("T-Bank %s: %s refused as malformed", method, type(exc).__name__)
            code, message, details, status = "9999", "Неверные параметры.", type(exc).__name__, None
        answer = refused(code, message, details, terminal)
        try:
            with self.lock:
                answer.update(self._known(method, terminal, body))
        except (EngineError, TBankError):
            pass
        if status:
            answer["Status"] = status
        return answer

    def _caller(self, body: Any) -> Any:
        """The request's terminal, once its shape and Token are right; else the error answer."""
        if not isinstance(body, Mapping):
            return refused("9999", "Неверные параметры.", "the request body must be a JSON object")
        shape = shape_problem(body)
        if shape is not None:
            return refused("9999", "Неверные параметры.", shape)
        key = body.get("TerminalKey")
        if not key:
            return refused("9999", "Неверные параметры.", "Поле TerminalKey не должно быть пустым")
        terminal = self.terminals.get(str(key))
        if terminal is None:
            return refused("501", "Терминал не найден")
        token = body.get("Token")
        if not token:
            return refused("9999", "Неверные параметры.", "Поле Token не должно быть пустым", terminal)
        if not isinstance(token, str) or not hmac.compare_digest(token.encode("ascii", "replace"),
                                                                  make_token(body, terminal.password).encode()):
            return refused("204", "Неверный токен. Проверьте пару TerminalKey/SecretKey.", "", terminal)
        return terminal

    def _known(self, method: str, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:
        """What the sandbox knows of a refused request's subject, for the error answer."""
        known: Dict[str, Any] = {}
        for name in ("OrderId", "CustomerKey", "CardId", "RequestKey", "AccountToken"):
            value = body.get(name)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
                known[name] = str(value)
        if method == "Init" and isinstance(body.get("Amount"), int) and not isinstance(body.get("Amount"), bool):
            known["Amount"] = body["Amount"]
        if method == "CheckOrder":
            known["Payments"] = []
        payment = self.payments.get(str(body.get("PaymentId") or ""))
        if payment is None or payment.terminal != terminal.key:
            if isinstance(body.get("PaymentId"), (str, int)) and not isinstance(body.get("PaymentId"), bool):
                known["PaymentId"] = str(body["PaymentId"])
            return known
        order = self.order(payment)
        word = self.status_word(payment, order)
        known.update(PaymentId=int(payment.payment_id) if method == "GetQr" else payment.payment_id,  # as GetQr's
                     OrderId=payment.order_id, Amount=self.amount(order, word), Status=word)  # own answer has it
        if method == "Cancel":  # nothing changed: the amount before is the amount after
            if order.status in (OrderStatus.DEPOSITED, OrderStatus.REFUNDED):
                left = order.deposited - order.refunded
            elif order.status is OrderStatus.APPROVED:
                left = order.approved
            else:
                left = order.amount
            known.update(OriginalAmount=left, NewAmount=left)
        return known

    def form_shown(self, payment_id: str) -> None:
        """The payer opened PaymentURL: NEW → FORM_SHOWED."""
        with self.lock:
            payment = self.payments.get(payment_id)
            if payment is not None:
                payment.form_shown = True

    def acs_answered(self, md: str, pa_res: str) -> None:
        """The sandbox ACS finished a challenge for ``md``; kept for Submit3DSAuthorizationV2."""
        with self.lock:
            payment_id = self.by_engine.get(md)
            if payment_id:
                self.payments[payment_id].acs_pa_res = pa_res

    def on_event(self, event: Event) -> None:
        """Send the notification of an engine event (see ``notifications``)."""
        on_event(self, event)
