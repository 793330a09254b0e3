"""The sandbox's T-Bank front end: ``/v2/<Method>`` JSON on the same engine and ledger.

Terminals (:class:`TBankTerminal`) belong to merchants. A request is answered only when its
``Token`` verifies with the terminal's password (else ``ErrorCode 204``). Payments map onto
engine orders, so the ledger counts T-Bank charges like any other; the T-Bank state that the
engine does not know (PaymentId, initiator type, QR flag, RebillIds, SBP accounts, refund
keys) lives here, under its own lock.

Rules emulated where T-Bank's documentation says how:

* statuses NEW → FORM_SHOWED → 3DS_CHECKING → AUTHORIZED / CONFIRMED → REVERSED /
  PARTIAL_REFUNDED / REFUNDED, or REJECTED / CANCELED / DEADLINE_EXPIRED;
* ``DATA.OperationInitiatorType``: unknown value 1125; incompatible with ``Recurrent``,
  with a ``Charge`` or with the terminal type (ECOM/AFT) 1126;
* ``Charge`` needs the terminal option (error 10 when disabled) and a payment without
  ``Recurrent``; a RebillId is scoped to the terminal that made the parent payment;
* SBP: ``GetQr`` of any new payment makes it an SBP payment (T-Bank's own test scenario is
  Init → GetQr → SbpPayTest, without ``DATA.QR``); binding the payer's account needs
  ``Recurrent=Y`` + ``DATA.QR``, whose ``GetQr`` returns a ``RequestKey``; an
  account bound on one terminal is chargeable from every terminal of the same merchant;
  ``ChargeQr`` is one-stage and a second call on a payment answers 3037; the account-binding
  notification goes to the terminal's configured URL, never to the Init's NotificationURL;
* ``Cancel`` with an ``ExternalRequestId`` already seen answers the state, refunds nothing.

Not emulated: receipts, marketplaces, partial reversal of a hold (answered with error 8).
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import itertools
import logging
import threading
import uuid
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import attr
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..models import OrderStatus
from ..signing import make_token
from ._card_key import D, N
from .cards import Behaviour, card_behaviour
from .engine import (
    ACTION_3DS_FAILED,
    ACTION_DECLINED,
    ACTION_EXPIRED_CARD,
    ACTION_INSUFFICIENT,
    ACTION_NO_CVC_RIGHTS,
    ACTION_SESSION_EXPIRED,
    ACTION_STOLEN,
    Engine,
    EngineError,
    Event,
    Order,
    PaymentResult,
)
from .fiscal import FiscalLog, tbank_receipt_problem
from .lifecycle import EventKind, Refusal
from .tbank_cards import add_card, add_card_notification, add_card_state
from .tbank_records import TBankError, TBankTerminal, _Account, _Card, _Payment
from .tbank_records import ok_answer as _ok

__all__ = ["SANDBOX_CARD_KEY_PEM", "TBankFrontEnd", "TBankTerminal", "TBANK_METHODS"]

log = logging.getLogger(__name__)

FIRST_ID = 7_000_000_001
"""The first PaymentId, CardId or RebillId the sandbox gives (ten digits, like T-Bank's)."""
REDIRECT_DUE_MIN = 60
"""``RedirectDueDate``: at the earliest a minute ahead..."""
REDIRECT_DUE_MAX = 90 * 24 * 3600
"""...and at the latest 90 days ahead."""

TBANK_METHODS = (
    "Init", "Check3dsVersion", "FinishAuthorize", "Submit3DSAuthorization", "Submit3DSAuthorizationV2", "Charge",
    "Confirm", "Cancel", "GetState", "CheckOrder", "AddCustomer", "GetCustomer", "RemoveCustomer", "GetCardList",
    "RemoveCard", "AddCard", "GetAddCardState",
    "AddAccountQr", "GetAddAccountQrState", "GetAccountQrList", "GetQr", "ChargeQr", "SbpPayTest",
    "SbpBindTest",
)
CASHBOX_METHODS = ("SendClosingReceipt",)
"""Methods T-Bank serves under ``/cashbox/`` rather than ``/v2/``."""
_INITIATORS = ("0", "1", "2", "R", "I")
_INCOMPATIBLE = "Несопоставимые значения RebillId или Recurrent с переданным значением OperationInitiatorType"
_DECLINE = {ACTION_INSUFFICIENT: (1051, "Недостаточно средств на карте"),
            ACTION_DECLINED: (1012, "Отказ эмитента"),
            ACTION_EXPIRED_CARD: (1054, "Истек срок действия карты"),
            ACTION_3DS_FAILED: (101, "Не пройдена идентификация 3DS"),
            ACTION_STOLEN: (1041, "Карта утеряна"),
            ACTION_NO_CVC_RIGHTS: (105, "Для автоплатежей по картам Maestro требуется настройка терминала")}
_SBP_DECLINE = {ACTION_INSUFFICIENT: (5060, "Недостаточно средств на счете"),
                ACTION_DECLINED: (5043, "Отказ банка плательщика"),
                ACTION_STOLEN: (5065, "Счет плательщика заблокирован"),
                ACTION_EXPIRED_CARD: (5066, "Счет плательщика закрыт"),
                ACTION_NO_CVC_RIGHTS: (3013, "Рекуррентные платежи недоступны")}
"""T-Bank's ErrorCode of an SBP payment declined with each engine action code."""
_EVENT_STATUS = {EventKind.HELD: "AUTHORIZED", EventKind.CHARGED: "CONFIRMED", EventKind.DEPOSITED: "CONFIRMED",
                 EventKind.REVERSED: "REVERSED"}
"""The notified ``Status`` of each engine event; a refund's and a decline's depend on the order."""
SBP_INSUFFICIENT = 5060
BANK_MEMBER = ("100000000004", "Т-Банк (sandbox)")



def _decline_of(order: Order, sbp: bool = False) -> Tuple[int, str]:
    """T-Bank's ErrorCode and message for the engine's decline reason (a card's, or an SBP payment's)."""
    if sbp:
        return _SBP_DECLINE.get(order.action_code or 0, (5032, "Отказ СБП или банка получателя"))
    return _DECLINE.get(order.action_code or 0, (1012, "Отказ эмитента"))


def _refused(code: str, message: str, details: str = "", terminal: Optional[TBankTerminal] = None) -> Dict[str, Any]:
    """An error answer: ``Success`` false, the code, the message (and the terminal when known)."""
    answer: Dict[str, Any] = {"Success": False, "ErrorCode": code}
    if terminal is not None:
        answer["TerminalKey"] = terminal.key
    answer["Message"] = message
    if details:
        answer["Details"] = details
    return answer


_OBJECTS = {"DATA", "Receipt", "Shops", "Receipts", "Data", "Params"}
"""Root fields that are objects or arrays (left out of the Token); every other one is a scalar."""


def _shape_problem(body: Mapping[str, Any]) -> Optional[str]:
    """Why a request's root cannot be read (a float, a nested value where a scalar belongs), or None."""
    for name, value in body.items():
        if not isinstance(name, str):
            return "field names must be strings"
        if isinstance(value, float):
            return f"{name}: a number with a fraction; amounts are integer kopecks"
        if isinstance(value, (dict, list)) and name not in _OBJECTS:
            return f"{name}: an object or an array where a value belongs"
        if name in _OBJECTS and value is not None and not isinstance(value, (dict, list)):
            return f"{name}: must be an object"
    return None


def _int(value: Any, name: str) -> Optional[int]:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TBankError(1, f"Неверный параметр {name}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise TBankError(1, f"Неверный параметр {name}", f"{name} must be an integer")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _InitRequest:
    """An ``Init`` read and checked as T-Bank checks it (each refusal with T-Bank's code)."""

    order_id: str
    amount: int
    description: Optional[str]
    customer_key: Optional[str]
    recurrent: bool
    qr: bool
    initiator: Optional[str]
    two_stage: bool
    timeout: int

    @classmethod
    def read(cls, terminal: TBankTerminal, body: Mapping[str, Any]) -> "_InitRequest":
        """The checked request, or a :class:`TBankError`."""
        amount = _int(body.get("Amount"), "Amount")
        order_id = body.get("OrderId")
        if amount is None or not order_id:
            raise TBankError(2, "Не передан обязательный параметр", "Amount and OrderId are required")
        if len(str(order_id)) > 36:
            raise TBankError(212, "Неверный параметр OrderId")
        description = body.get("Description")
        if description is not None and len(str(description)) > 140:
            raise TBankError(213, "Неверный параметр Description")
        customer_key = body.get("CustomerKey")
        if customer_key is not None and (not customer_key or len(str(customer_key)) > 36):
            raise TBankError(216, "Неверный параметр CustomerKey")
        data = body.get("DATA") or {}
        if not isinstance(data, dict):
            raise TBankError(207, "Неверный параметр DATA")
        if len(data) > 20:
            raise TBankError(207, "Превышен размер DATA")
        recurrent = body.get("Recurrent") == "Y"
        qr = str(data.get("QR")).lower() == "true"
        initiator = _initiator(terminal, data.get("OperationInitiatorType"), recurrent)
        if recurrent and not qr and not customer_key:
            raise TBankError(216, "Неверный параметр CustomerKey", "CustomerKey is required with Recurrent")
        pay_type = body.get("PayType")
        if pay_type not in (None, "O", "T"):
            raise TBankError(1, "Неверный параметр PayType")
        two_stage = terminal.two_stage if pay_type is None else pay_type == "T"
        if qr:
            if not terminal.sbp_enabled:
                raise TBankError(3001, "СБП не подключен для терминала")
            if not 1000 <= amount <= 100_000_000:
                raise TBankError(3016, "Невозможно создать QR: сумма вне допустимого диапазона")
            two_stage = False
        return cls(str(order_id), amount, str(description) if description else None,
                   str(customer_key) if customer_key else None, recurrent, qr, initiator, two_stage,
                   _redirect_timeout(body.get("RedirectDueDate")))


def _initiator(terminal: TBankTerminal, value: Any, recurrent: bool) -> Optional[str]:
    """``DATA.OperationInitiatorType`` checked against the terminal and ``Recurrent`` (1125, 1126)."""
    if value is None:
        return None
    oit = str(value)
    if oit not in _INITIATORS:
        raise TBankError(1125, "Неверное значение OperationInitiatorType")
    if (oit == "1") != recurrent:
        raise TBankError(1126, _INCOMPATIBLE)
    if (terminal.terminal_type == "AFT" and oit in ("2", "R")) or (terminal.terminal_type == "ECOM" and oit == "I"):
        raise TBankError(1126, _INCOMPATIBLE, f"{oit} is not allowed on {terminal.terminal_type}")
    return oit


def _redirect_timeout(value: Any) -> int:
    """Seconds until ``RedirectDueDate`` (a day when absent); 12 or 3017 when it cannot be used."""
    if not value:
        return 24 * 3600
    try:
        due = dt.datetime.fromisoformat(str(value))
        timeout = int((due - dt.datetime.now(dt.timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        raise TBankError(12, "Неверный параметр RedirectDueDate") from None
    if not REDIRECT_DUE_MIN - 5 <= timeout <= REDIRECT_DUE_MAX:  # 5 s for the request's own travel
        raise TBankError(3017, "RedirectDueDate вне допустимого диапазона")
    return timeout


class TBankFrontEnd:
    """Turns ``/v2/<Method>`` calls into engine calls and engine state into T-Bank's JSON."""

    def __init__(self, engine: Engine, terminals: List[TBankTerminal], urls: Callable[[str], str],
                 notify: Callable[[str, Dict[str, Any]], None], *, accept_repeated_order_ids: bool = False) -> None:
        self.engine = engine
        self.accept_repeated_order_ids = accept_repeated_order_ids
        self.receipts_required = False  # set by the Sandbox (see sandbox.fiscal)
        self.fiscal: Optional[FiscalLog] = None
        """An Init with an OrderId already used creates another payment (T-Bank does not document
        refusing it); off by default, when the sandbox answers error 20 as before."""
        self.terminals = {t.key: t for t in terminals}
        self.urls = urls
        self.notify = notify
        self._lock = threading.RLock()
        self._ids = itertools.count(FIRST_ID)
        self._payments: Dict[str, _Payment] = {}
        self._by_engine: Dict[str, str] = {}
        self._cards: Dict[str, _Card] = {}  # by engine binding id
        self._customers: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self._accounts: Dict[str, _Account] = {}

    # -- plumbing -----------------------------------------------------------------------------

    def peek_next_id(self) -> int:
        """The next PaymentId, CardId or RebillId to be given (for a state file)."""
        with self._lock:
            value = next(self._ids)
            self._ids = itertools.count(value)
            return value

    def set_next_id(self, value: int) -> None:
        """Go on giving ids from ``value`` (a restored state file)."""
        with self._lock:
            self._ids = itertools.count(int(value))

    def owns(self, engine_id: str) -> bool:
        """True when the engine order was created by a T-Bank Init."""
        return engine_id in self._by_engine

    def payment_of(self, payment_id: str) -> Optional[str]:
        """The engine order id behind a PaymentId (None if unknown)."""
        payment = self._payments.get(str(payment_id))
        return payment.engine_id if payment else None

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
        handler = getattr(self, "_m_" + method, None) if method in TBANK_METHODS + CASHBOX_METHODS else None
        if handler is None:
            return {"Success": False, "ErrorCode": "9999", "Message": f"Метод {method} не найден"}
        if not isinstance(body, Mapping):
            return _refused("9999", "Неверные параметры.", "the request body must be a JSON object")
        shape = _shape_problem(body)
        if shape is not None:
            return _refused("9999", "Неверные параметры.", shape)
        key = body.get("TerminalKey")
        if not key:
            return _refused("9999", "Неверные параметры.", "Поле TerminalKey не должно быть пустым")
        terminal = self.terminals.get(str(key))
        if terminal is None:
            return _refused("501", "Терминал не найден")
        token = body.get("Token")
        if not token:
            return _refused("9999", "Неверные параметры.", "Поле Token не должно быть пустым", terminal)
        if not isinstance(token, str) or not hmac.compare_digest(token.encode("ascii", "replace"),
                                                                  make_token(body, terminal.password).encode()):
            return _refused("204", "Неверный токен. Проверьте пару TerminalKey/SecretKey.", "", terminal)
        try:
            with self._lock:
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
        answer = _refused(code, message, details, terminal)
        try:
            with self._lock:
                answer.update(self._known(method, terminal, body))
        except (EngineError, TBankError):
            pass
        if status:
            answer["Status"] = status
        return answer

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
        payment = self._payments.get(str(body.get("PaymentId") or ""))
        if payment is None or payment.terminal != terminal.key:
            if isinstance(body.get("PaymentId"), (str, int)) and not isinstance(body.get("PaymentId"), bool):
                known["PaymentId"] = str(body["PaymentId"])
            return known
        order = self._order(payment)
        word = self.status_word(payment, order)
        known.update(PaymentId=int(payment.payment_id) if method == "GetQr" else payment.payment_id,  # as GetQr's
                     OrderId=payment.order_id, Amount=self._amount(order, word), Status=word)  # own answer has it
        if method == "Cancel":  # nothing changed: the amount before is the amount after
            if order.status in (OrderStatus.DEPOSITED, OrderStatus.REFUNDED):
                left = order.deposited - order.refunded
            elif order.status is OrderStatus.APPROVED:
                left = order.approved
            else:
                left = order.amount
            known.update(OriginalAmount=left, NewAmount=left)
        return known

    def _payment(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> _Payment:
        payment = self._payments.get(str(body.get("PaymentId") or ""))
        if payment is None or payment.terminal != terminal.key:
            raise TBankError(255, "Платеж не найден")
        return payment

    def _order(self, payment: _Payment) -> Order:
        return self.engine.order(payment.engine_id)

    def status_word(self, payment: _Payment, order: Order) -> str:
        """The T-Bank status of a payment, from the engine's order."""
        s = order.status
        if s is OrderStatus.CREATED:
            return "FORM_SHOWED" if payment.form_shown else "NEW"
        if s is OrderStatus.ACS_AUTH:
            return "3DS_CHECKING"
        if s is OrderStatus.APPROVED:
            return "AUTHORIZED"
        if s is OrderStatus.DEPOSITED:
            return "PARTIAL_REFUNDED" if order.refunded else "CONFIRMED"
        if s is OrderStatus.REVERSED:
            return "REVERSED"
        if s is OrderStatus.REFUNDED:
            return "REFUNDED"
        if payment.canceled:
            return "CANCELED"
        if order.action_code == ACTION_SESSION_EXPIRED:
            return "DEADLINE_EXPIRED"
        return "REJECTED"

    @staticmethod
    def _amount(order: Order, word: str) -> int:
        if word in ("AUTHORIZED", "REVERSED"):
            return order.approved
        if word in ("CONFIRMED", "PARTIAL_REFUNDED", "REFUNDED"):
            return order.deposited
        return order.amount

    def _card_of(self, order: Order) -> Optional[_Card]:
        """The card a paid order used, if it was saved (a look-up: reading never creates one)."""
        return self._cards.get(order.binding_id) if order.binding_id else None

    def _ensure_card(self, payment: _Payment, order: Order) -> Optional[_Card]:
        """Save the card of a paid order (with a RebillId for a parent payment): called when the
        engine says the order was paid, never while an answer is being read."""
        if not order.binding_id:
            return None
        card = self._cards.get(order.binding_id)
        if card is None and payment.customer_key:  # only a payment with a CustomerKey saves a card
            binding = next((b for b in self.engine.all_bindings() if b.binding_id == order.binding_id), None)
            if binding is None:
                return None
            card = _Card(str(next(self._ids)), payment.terminal, payment.customer_key, binding.binding_id,
                         binding.masked_pan.replace("**", "******"), binding.expiry[4:] + binding.expiry[2:4])
            self._cards[binding.binding_id] = card
        if card is not None and payment.recurrent and card.rebill_id is None:
            card.rebill_id = str(next(self._ids))
        if card is not None and card.status != "A" and payment.customer_key == card.customer_key:
            card.status = "A"  # a removed card saved (or paid with Recurrent) again: it is the customer's again
        return card

    def _payment_reply(self, terminal: TBankTerminal, payment: _Payment, result: Optional[PaymentResult] = None,
                       **extra: Any) -> Dict[str, Any]:
        order = self._order(payment)
        word = self.status_word(payment, order)
        if result is not None and result.declined:
            code, message = _decline_of(order, payment.qr)
            raise TBankError(code, message, result.message, status="REJECTED")
        reply = _ok(terminal, Status=word, PaymentId=payment.payment_id, OrderId=payment.order_id,
                    Amount=self._amount(order, word), **extra)
        card = self._card_of(order) if order.status.is_paid else None
        if card is not None:
            reply["CardId"] = card.card_id
            if payment.recurrent and card.rebill_id:
                reply["RebillId"] = card.rebill_id
        return reply

    # -- payments -------------------------------------------------------------------------------

    def _check_receipt(self, body: Mapping[str, Any], amount: Optional[int], needed: bool = True) -> None:
        """309 / 308 / 310 / 329 for a receipt the terminal refuses (see :mod:`.fiscal`)."""
        if body.get("Receipt") is None and not (self.receipts_required and needed):
            return
        problem = tbank_receipt_problem(body.get("Receipt"), amount)
        if problem is not None:
            raise TBankError(*problem)

    def _keep_receipt(self, payment: "_Payment", operation: str, body: Mapping[str, Any], amount: int) -> None:
        if body.get("Receipt") is not None and self.fiscal is not None:
            self.fiscal.add(payment.engine_id, operation, body["Receipt"], amount)

    def _m_Init(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        init = _InitRequest.read(terminal, body)
        self._check_receipt(body, init.amount)
        payment_id = str(next(self._ids))
        try:
            order = self.engine.register(
                order_number=init.order_id, amount=init.amount, currency="643",
                return_url=body.get("SuccessURL") or self.urls("/_sandbox/return"), fail_url=body.get("FailURL"),
                description=init.description,
                client_id=f"{terminal.key}/{init.customer_key}" if init.customer_key else None,
                session_timeout_secs=max(init.timeout, 1), two_stage=init.two_stage, max_number_length=36,
                unique_number=not self.accept_repeated_order_ids)
        except EngineError as exc:
            if exc.refusal is Refusal.NUMBER_USED:
                raise TBankError(20, "Ошибка: дублирование идентификатора заказа") from None
            raise TBankError(1, "Неверные параметры", exc.message) from None
        if init.customer_key:
            self._customers.setdefault((terminal.key, init.customer_key), {})
        payment = _Payment(payment_id, order.order_id, terminal.key, init.order_id, init.recurrent,
                           init.customer_key, init.initiator, init.qr, body.get("NotificationURL"))
        self._payments[payment_id] = payment
        self._by_engine[order.order_id] = payment_id
        self._keep_receipt(payment, "sell", body, init.amount)
        reply = _ok(terminal, Status="NEW", PaymentId=payment_id, OrderId=init.order_id, Amount=init.amount)
        if not init.qr:
            reply["PaymentURL"] = self.urls(f"/new/{payment_id}")
        return reply

    def form_shown(self, payment_id: str) -> None:
        """The payer opened PaymentURL: NEW → FORM_SHOWED."""
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is not None:
                payment.form_shown = True

    def _m_Charge(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        if not terminal.charge_enabled:
            raise TBankError(10, "Метод Charge заблокирован для данного терминала")
        payment = self._payment(terminal, body)
        rebill = str(body.get("RebillId") or "")
        if not rebill:
            raise TBankError(223, "Неверный параметр RebillId")
        if payment.qr:
            raise TBankError(14, "Неверный платеж", "an SBP payment is charged by ChargeQr")
        if payment.recurrent or payment.initiator in ("0", "1"):
            raise TBankError(1126, _INCOMPATIBLE)
        card = next((c for c in self._cards.values() if c.rebill_id == rebill and c.terminal == terminal.key), None)
        if card is None or card.status != "A":
            raise TBankError(223, "Неверный параметр RebillId", "no active card with this RebillId")
        order = self._order(payment)
        if order.status is not OrderStatus.CREATED:
            raise TBankError(8, "Неверный статус транзакции", f"status {self.status_word(payment, order)}")
        payment.charged = True
        result = self.engine.pay_with_binding(payment.engine_id, card.engine_binding, merchant_initiated=True)
        return self._payment_reply(terminal, payment, result)

    def _m_Confirm(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        payment = self._payment(terminal, body)
        amount = _int(body.get("Amount"), "Amount") or self._order(payment).approved
        self._check_receipt(body, amount)
        self.engine.deposit(payment.engine_id, _int(body.get("Amount"), "Amount") or 0)
        self._keep_receipt(payment, "capture", body, amount)
        self._announce_receipts(terminal, payment)
        return self._payment_reply(terminal, payment)

    def _m_Cancel(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        payment = self._payment(terminal, body)
        key = body.get("ExternalRequestId")
        if key and str(key) in payment.refund_keys:
            return dict(payment.refund_keys[str(key)])
        amount = _int(body.get("Amount"), "Amount")
        order = self._order(payment)
        if order.status in (OrderStatus.CREATED, OrderStatus.ACS_AUTH):
            original = order.amount
            payment.canceled = True  # before the engine call: its event (the notification) reads it
            self.engine.decline(payment.engine_id, action_code=10)
        elif order.status is OrderStatus.APPROVED:
            if amount and amount < order.approved:
                raise TBankError(8, "Неверный статус транзакции", "partial reversal is not emulated by the sandbox")
            original = order.approved
            self.engine.reverse(payment.engine_id)
        elif order.status is OrderStatus.DEPOSITED:
            original = order.deposited - order.refunded
            self._check_receipt(body, amount, needed=amount is not None and 0 < amount < original)  # a partial refund
            self.engine.refund(payment.engine_id, amount or 0)
            self._keep_receipt(payment, "refund", body, amount or original)
            self._announce_receipts(terminal, payment)
        else:
            raise TBankError(8, "Неверный статус транзакции", f"status {self.status_word(payment, order)}")
        order = self._order(payment)
        word = self.status_word(payment, order)
        left = order.deposited - order.refunded if word in ("PARTIAL_REFUNDED", "REFUNDED") else 0
        reply = _ok(terminal, Status=word, PaymentId=payment.payment_id, OrderId=payment.order_id,
                    OriginalAmount=original, NewAmount=left)
        if key:
            reply["ExternalRequestId"] = str(key)
            payment.refund_keys[str(key)] = reply
            payment.dirty = True  # an in-place change: no assignment marks it
        return reply

    def _m_GetState(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        payment = self._payment(terminal, body)
        order = self._order(payment)
        word = self.status_word(payment, order)
        reply = _ok(terminal, Status=word, PaymentId=payment.payment_id, OrderId=payment.order_id,
                    Amount=self._amount(order, word),
                    Params=[{"Key": "Route", "Value": "ACQ"},
                            {"Key": "Source", "Value": "qrsbp" if payment.qr else "cards"}])
        if word == "REJECTED":
            reply["Message"] = _decline_of(order, payment.qr)[1]
        return reply

    def _m_SendClosingReceipt(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``/cashbox/SendClosingReceipt``: the full-settlement receipt of a prepaid ``CONFIRMED`` payment."""
        payment = self._payment(terminal, body)
        order = self._order(payment)
        if self.status_word(payment, order) != "CONFIRMED":
            raise TBankError(8, "Неверный статус транзакции", "the payment is not CONFIRMED")
        kept = self.fiscal.receipts(payment.engine_id) if self.fiscal is not None else []
        prepaid = {"full_prepayment", "prepayment", "advance"}
        if not any(isinstance(item, Mapping) and item.get("PaymentMethod") in prepaid
                   for entry in kept if isinstance(entry["receipt"], Mapping)
                   for item in entry["receipt"].get("Items") or []):
            raise TBankError(311, "Ошибка регистрации чека",
                             "no receipt of this payment had a prepayment line (full_prepayment, prepayment, advance)")
        problem = tbank_receipt_problem(body.get("Receipt"), None)
        if problem is not None:
            raise TBankError(*problem)
        self._keep_receipt(payment, "closing", body, sum(int(item.get("Amount") or 0)
                                                         for item in body["Receipt"]["Items"]))
        return {"Success": True, "ErrorCode": "0", "Message": ""}

    def _m_CheckOrder(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        order_id = str(body.get("OrderId") or "")
        found = [p for p in self._payments.values() if p.terminal == terminal.key and p.order_id == order_id]
        if not found:
            raise TBankError(255, "Платеж не найден", f"no payment with OrderId {order_id}")
        payments = []
        for payment in found:
            order = self._order(payment)
            word = self.status_word(payment, order)
            declined = word in ("REJECTED", "CANCELED", "DEADLINE_EXPIRED")
            payments.append({"PaymentId": payment.payment_id, "Amount": self._amount(order, word), "Status": word,
                             "RRN": payment.payment_id[-6:], "Success": "false" if declined else "true",
                             "ErrorCode": _decline_of(order, payment.qr)[0] if declined else 0,
                             "Message": ""})
        return _ok(terminal, OrderId=order_id, Payments=payments)

    # -- PCI DSS: card data, 3-D Secure --------------------------------------------------------------

    def _card_data(self, body: Mapping[str, Any]) -> Dict[str, str]:
        try:
            plain = decrypt_card_data(str(body.get("CardData") or ""))
            fields = dict(part.split("=", 1) for part in plain.split(";") if "=" in part)
        except ValueError:
            raise TBankError(1, "Неверные параметры", "CardData cannot be decrypted") from None
        if not fields.get("PAN") or len(fields.get("ExpDate", "")) != 4:
            raise TBankError(1, "Неверные параметры", "CardData needs PAN and ExpDate")
        return fields

    def _m_Check3dsVersion(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        self._payment(terminal, body)
        card = self._card_data(body)
        three_ds = card_behaviour(card["PAN"]) is Behaviour.APPROVE_3DS
        return _ok(terminal, Version="2.1.0" if three_ds else "1.0.0", TdsServerTransID=str(uuid.uuid4()),
                   PaymentSystem="MIR" if card["PAN"].startswith("2") else "VISA")

    def _m_FinishAuthorize(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        payment = self._payment(terminal, body)
        card = self._card_data(body)
        exp = card["ExpDate"]
        payment.form_shown = True
        result = self.engine.pay_with_card(payment.engine_id, pan=card["PAN"], expiry=f"{exp[:2]}/{exp[2:]}",
                                           cvc=card.get("CVV", ""), cardholder=card.get("CardHolder"))
        if not result.paid and not result.declined and not result.needs_3ds:
            raise TBankError(1, "Неверные параметры", result.message)
        if result.needs_3ds:
            data = body.get("DATA") or {}
            cres_url = data.get("cresCallbackUrl") if isinstance(data, dict) else None
            reply = _ok(terminal, Status="3DS_CHECKING", PaymentId=payment.payment_id, OrderId=payment.order_id,
                        Amount=self._order(payment).amount, ACSUrl=self.urls("/payment/sandbox/acs"))
            if cres_url:
                reply.update(TdsServerTransId=str(uuid.uuid4()), AcsTransId=payment.engine_id)
            else:
                reply.update(MD=payment.engine_id, PaReq=result.pa_req)
            return reply
        return self._payment_reply(terminal, payment, result)

    def acs_answered(self, md: str, pa_res: str) -> None:
        """The sandbox ACS finished a challenge for ``md``; kept for Submit3DSAuthorizationV2."""
        with self._lock:
            payment_id = self._by_engine.get(md)
            if payment_id:
                self._payments[payment_id].acs_pa_res = pa_res

    def _m_Submit3DSAuthorization(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        md = str(body.get("MD") or "")
        payment_id = self._by_engine.get(md)
        if payment_id is None or (body.get("PaymentId") and str(body["PaymentId"]) != payment_id):
            raise TBankError(255, "Платеж не найден")
        payment = self._payment(terminal, {"PaymentId": payment_id})
        result = self.engine.finish_3ds(md, str(body.get("PaRes") or ""))
        return self._payment_reply(terminal, payment, result)

    def _m_Submit3DSAuthorizationV2(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        payment = self._payment(terminal, body)
        if payment.acs_pa_res is None:
            raise TBankError(9999, "RReq not found for provided threeDSServerTransID", "try again later")
        result = self.engine.finish_3ds(payment.engine_id, payment.acs_pa_res)
        return self._payment_reply(terminal, payment, result)

    # -- customers and cards ---------------------------------------------------------------------------

    def _customer(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Tuple[str, Dict[str, Any]]:
        key = str(body.get("CustomerKey") or "")
        if not key or len(key) > 36:
            raise TBankError(216, "Неверный параметр CustomerKey")
        customer = self._customers.get((terminal.key, key))
        if customer is None:
            raise TBankError(7, "Неверный статус покупателя", "Покупатель не найден.")
        return key, customer

    def _m_AddCustomer(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        key = str(body.get("CustomerKey") or "")
        if not key or len(key) > 36:
            raise TBankError(216, "Неверный параметр CustomerKey")
        self._customers[(terminal.key, key)] = {"Email": body.get("Email"), "Phone": body.get("Phone")}
        return _ok(terminal, CustomerKey=key)

    def _m_GetCustomer(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        key, customer = self._customer(terminal, body)
        return _ok(terminal, CustomerKey=key, **{k: x for k, x in customer.items() if x})

    def _m_RemoveCustomer(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        key, _ = self._customer(terminal, body)
        del self._customers[(terminal.key, key)]
        for card in self._cards.values():
            if card.terminal == terminal.key and card.customer_key == key:
                card.status = "D"
        return _ok(terminal, CustomerKey=key)

    def _customer_cards(self, terminal: TBankTerminal, key: str) -> List[_Card]:
        return [c for c in self._cards.values() if c.terminal == terminal.key and c.customer_key == key]

    def _m_GetCardList(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Any:  # noqa: N802
        key, _ = self._customer(terminal, body)
        cards = [{"CardId": c.card_id, "Pan": c.pan, "Status": c.status, "RebillId": c.rebill_id or "",
                  "CardType": 0, "ExpDate": c.exp_date}
                 for c in self._customer_cards(terminal, key) if c.status == "A"]
        return cards  # a bare JSON array, as the real API answers

    def _m_RemoveCard(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        key, _ = self._customer(terminal, body)
        card = next((c for c in self._customer_cards(terminal, key) if c.card_id == str(body.get("CardId") or "")),
                    None)
        if card is None or card.status != "A":
            raise TBankError(107, "Неверный CardId")
        card.status = "D"
        return _ok(terminal, Status="D", CustomerKey=key, CardId=card.card_id, CardType=0)

    def _m_AddCard(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        return add_card(self, terminal, body)

    def _m_GetAddCardState(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        return add_card_state(self, terminal, body)

    # -- SBP ---------------------------------------------------------------------------------------------

    def _qr_data(self, data_type: Any, ref: str, amount: Optional[int] = None) -> str:
        payload = f"https://qr.nspk.ru/AS1000{ref[-20:].upper()}?type=02&bank=100000000004&cur=RUB" + \
            (f"&sum={amount}" if amount else "") + "&crc=F3D0"
        if data_type == "IMAGE":
            return ("<svg xmlns='http://www.w3.org/2000/svg' width='120' height='120'><title>"
                    f"{payload}</title><rect width='120' height='120'/></svg>")
        return payload

    def _m_GetQr(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        payment = self._payment(terminal, body)
        if not payment.qr and payment.recurrent:
            raise TBankError(14, "Неверный платеж", "binding the payer's account needs Init with DATA.QR=true")
        order = self._order(payment)
        if order.status is not OrderStatus.CREATED:
            raise TBankError(8, "Неверный статус транзакции")
        if payment.recurrent and not order.description:
            raise TBankError(2, "Не передан обязательный параметр", "Description is required to bind the account")
        payment.form_shown = True
        payment.qr = True  # T-Bank's own SBP test scenario is Init (without DATA.QR) → GetQr → SbpPayTest
        reply = _ok(terminal, OrderId=payment.order_id, PaymentId=int(payment.payment_id),
                    Data=self._qr_data(body.get("DataType"), payment.payment_id, order.amount))
        if payment.recurrent:
            if payment.request_key is None:
                account = _Account(str(uuid.uuid4()), terminal.merchant, terminal.key, payment_id=payment.payment_id)
                self._accounts[account.request_key] = account
                payment.request_key = account.request_key
            reply["RequestKey"] = payment.request_key
        return reply

    def _m_AddAccountQr(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        if not body.get("Description"):
            raise TBankError(2, "Не передан обязательный параметр", "Description is required")
        if not terminal.sbp_enabled:
            raise TBankError(3001, "СБП не подключен для терминала")
        account = _Account(str(uuid.uuid4()), terminal.merchant, terminal.key)
        self._accounts[account.request_key] = account
        return _ok(terminal, Data=self._qr_data(body.get("DataType"), account.request_key.replace("-", "")),
                   RequestKey=account.request_key)

    def _account(self, terminal: TBankTerminal, request_key: Any) -> _Account:
        account = self._accounts.get(str(request_key or ""))
        if account is None or account.merchant != terminal.merchant:
            raise TBankError(3012, "Привязка счета не найдена")
        return account

    @staticmethod
    def _account_json(account: _Account) -> Dict[str, Any]:
        fields: Dict[str, Any] = {"RequestKey": account.request_key, "Status": account.status}
        if account.status == "ACTIVE":
            fields.update(AccountToken=account.account_token, BankMemberId=BANK_MEMBER[0],
                          BankMemberName=BANK_MEMBER[1])
        return fields

    def _m_GetAddAccountQrState(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        return _ok(terminal, **self._account_json(self._account(terminal, body.get("RequestKey"))))

    def _m_GetAccountQrList(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        return _ok(terminal, AccountTokens=[self._account_json(a) for a in self._accounts.values()
                                            if a.merchant == terminal.merchant and a.status != "NEW"])

    def _activate(self, account: _Account, rejected: bool) -> None:
        account.status = "INACTIVE" if rejected else "ACTIVE"
        if not rejected:
            account.account_token = str(uuid.uuid4())
        terminal = self.terminals[account.terminal]
        if terminal.notification_url:  # the terminal's URL, never the Init's NotificationURL
            body: Dict[str, Any] = {"TerminalKey": terminal.key, "RequestKey": account.request_key,
                                    "NotificationType": "LINKACCOUNT", "Success": not rejected,
                                    "ErrorCode": "0" if not rejected else "5032", "Status": account.status}
            if not rejected:
                body.update(AccountToken=account.account_token, BankMemberId=BANK_MEMBER[0],
                            BankMemberName=BANK_MEMBER[1])
            body["Token"] = make_token(body, terminal.password)
            self.notify(terminal.notification_url, body)

    def _m_SbpBindTest(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """Sandbox only: the payer approves (or rejects) an account binding in the bank app."""
        account = self._account(terminal, body.get("RequestKey"))
        if account.payment_id is not None:
            raise TBankError(1, "Неверные параметры", "this binding goes with a payment: use SbpPayTest")
        if account.status != "NEW":
            raise TBankError(8, "Неверный статус привязки")
        account.insufficient_funds = body.get("IsInsufficientFunds") in (True, "true")
        account.behaviour = self._account_behaviour(body.get("Behaviour"), account.insufficient_funds)
        self._activate(account, body.get("IsRejected") in (True, "true"))
        return _ok(terminal, **self._account_json(account))

    @staticmethod
    def _account_behaviour(value: Any, insufficient_funds: bool) -> str:
        """SbpBindTest's sandbox-only ``Behaviour``: how later ChargeQr calls on the account answer."""
        if value in (None, ""):
            return Behaviour.APPROVE_THEN_INSUFFICIENT.value if insufficient_funds else ""
        try:
            return Behaviour(str(value)).value
        except ValueError:
            names = ", ".join(b.value for b in Behaviour)
            raise TBankError(1, "Неверные параметры", f"Behaviour: one of {names}") from None

    def _m_SbpPayTest(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """Test method of the real API: the payer pays (or not) the shown QR."""
        payment = self._payment(terminal, body)
        expired = body.get("IsDeadlineExpired") in (True, "true")
        rejected = body.get("IsRejected") in (True, "true")
        if expired and rejected:
            raise TBankError(1, "Неверные параметры", "IsDeadlineExpired and IsRejected exclude each other")
        if not payment.qr or not payment.form_shown:
            raise TBankError(14, "Неверный платеж", "call GetQr first")
        if expired:
            self.engine.pay_external(payment.engine_id, "", decline_code=ACTION_SESSION_EXPIRED)
        elif rejected:
            self.engine.pay_external(payment.engine_id, "", decline_code=ACTION_DECLINED)
        else:
            self.engine.pay_external(payment.engine_id, "+7 *** ***-**-01")
        if payment.request_key:
            self._activate(self._accounts[payment.request_key], rejected or expired)
        return _ok(terminal, Message="OK", Details="")

    def _m_ChargeQr(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        payment = self._payment(terminal, body)
        if payment.charged:
            raise TBankError(3037, "Повторный вызов метода недоступен")
        if not (payment.qr and payment.recurrent):
            raise TBankError(3013, "Рекуррентные платежи недоступны",
                             "the payment needs Init with Recurrent=Y and DATA.QR=true")
        token = str(body.get("AccountToken") or "")
        account = next((a for a in self._accounts.values()
                        if a.account_token == token and a.merchant == terminal.merchant), None) if token else None
        if account is None:
            raise TBankError(3014, "AccountToken не найден")
        if account.status != "ACTIVE":
            raise TBankError(3015, "Неверный статус AccountToken")
        order = self._order(payment)
        if order.status is not OrderStatus.CREATED:
            raise TBankError(8, "Неверный статус транзакции")
        payment.charged = True
        code = self.engine.autopay_decline(Behaviour(account.behaviour), account) if account.behaviour else None
        if code is not None:
            self.engine.pay_external(payment.engine_id, "", decline_code=code)
            raise TBankError(*_decline_of(self._order(payment), sbp=True), status="REJECTED")
        result = self.engine.pay_external(payment.engine_id, f"SBP {BANK_MEMBER[1]}")
        return dict(self._payment_reply(terminal, payment, result), Currency=643)

    # -- notifications -------------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Send the payment notification of an engine event to NotificationURL (or the terminal's);
        an AddCard session's end sends the AddCard notification to the terminal's."""
        with self._lock:
            payment_id = self._by_engine.get(event.order.order_id)
            if payment_id is None:
                return
            payment = self._payments[payment_id]
            notice = add_card_notification(self, payment, event) if payment.card_check is not None else None
        if payment.card_check is not None:
            if notice is not None:
                self.notify(str(self.terminals[payment.terminal].notification_url), notice)
            return
        with self._lock:
            order = self._order(payment)
            status: Optional[str]
            if event.kind is EventKind.REFUNDED:
                status = "REFUNDED" if event.order.status is OrderStatus.REFUNDED else "PARTIAL_REFUNDED"
            elif not event.success:
                status = self.status_word(payment, order)  # REJECTED, CANCELED or DEADLINE_EXPIRED: final
            else:
                status = _EVENT_STATUS.get(event.kind)
            card = self._ensure_card(payment, order) if order.binding_id else None  # RebillId is born here
            terminal = self.terminals[payment.terminal]
            url = payment.notification_url or terminal.notification_url
            if status is None or not url:
                return
            success = status not in ("REJECTED", "CANCELED", "DEADLINE_EXPIRED")
            body: Dict[str, Any] = {
                "TerminalKey": terminal.key, "OrderId": payment.order_id, "Success": success, "Status": status,
                "PaymentId": int(payment.payment_id),
                "ErrorCode": "0" if success else str(_decline_of(order, payment.qr)[0]),
                "Amount": event.order.amount}
            if card is not None:
                body.update(CardId=int(card.card_id), Pan=card.pan, ExpDate=card.exp_date)
                if payment.recurrent and card.rebill_id:
                    body["RebillId"] = int(card.rebill_id)
            elif event.order.masked_pan:
                body["Pan"] = event.order.masked_pan.replace("**", "******")
            if payment.customer_key:
                body["CustomerKey"] = payment.customer_key
            body["Token"] = make_token(body, terminal.password)
            receipts = self._fiscal_notifications(terminal, payment, status)
        self.notify(url, body)
        for receipt in receipts:
            self.notify(url, receipt)

    def _announce_receipts(self, terminal: TBankTerminal, payment: "_Payment") -> None:
        """Fiscal notifications of receipts kept after the payment's own notification went out."""
        url = payment.notification_url or terminal.notification_url
        if url:
            for body in self._fiscal_notifications(terminal, payment, self.status_word(payment, self._order(payment))):
                self.notify(url, body)

    def _fiscal_notifications(self, terminal: TBankTerminal, payment: "_Payment", status: str) -> List[Dict[str, Any]]:
        """``Status=RECEIPT`` notifications of the receipts a payment's new status registers."""
        # a two-stage payment's sale is registered when it is captured, with the Confirm's receipt
        sale = ("capture",) if self._order(payment).two_stage else ("sell",)
        operations = {"CONFIRMED": sale, "PARTIAL_REFUNDED": ("refund",), "REFUNDED": ("refund",)}
        if self.fiscal is None or status not in operations:
            return []
        bodies = []
        for entry in self.fiscal.take_unannounced(payment.engine_id, operations[status]):
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


# -- the sandbox's CardData key ---------------------------------------------------------------------------


def _card_key() -> rsa.RSAPrivateKey:
    """The sandbox's fixed RSA key (a test key, published with the package), built by ``cryptography``."""
    e = 65537
    p, q = rsa.rsa_recover_prime_factors(N, e, D)
    numbers = rsa.RSAPrivateNumbers(p, q, D, rsa.rsa_crt_dmp1(D, p), rsa.rsa_crt_dmq1(D, q), rsa.rsa_crt_iqmp(p, q),
                                    rsa.RSAPublicNumbers(e, N))
    return numbers.private_key()


_CARD_KEY = _card_key()


def _public_key_pem() -> str:
    return _CARD_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def decrypt_card_data(card_data: str) -> str:
    """Decrypt a ``CardData`` made for the sandbox key (PKCS#1 v1.5); ValueError if it is not one."""
    raw = base64.b64decode(card_data, validate=True)
    return _CARD_KEY.decrypt(raw, padding.PKCS1v15()).decode("utf-8")


SANDBOX_CARD_KEY_PEM = _public_key_pem()
"""The sandbox's public key for ``CardData`` (pass it as ``TBankGateway(card_data_key=...)``)."""
