"""The T-Bank front end's records (payments, saved cards, customers, SBP accounts) under one lock,
and what every group of methods reads of them: a payment's status word, its amount, its card,
the reply of a payment call, the receipt rules. The methods themselves live by concern in
``payments``, ``cards``, ``pci`` and ``sbp``."""

from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ...codes.reasons import DeclineReason
from ...models import OrderStatus
from ..engine import Engine, Order, PaymentResult
from ..fiscal import FiscalLog, tbank_receipt_problem
from .records import TBankError, TBankTerminal, _Account, _Card, _Payment, ok_answer
from .rules import FIRST_ID, decline_of

__all__ = ["TBankCore", "TBankRecords"]

TBankRecords = Tuple[List[_Payment], List[_Card], List[_Account], List[Tuple[str, str, Dict[str, Any]]]]
"""What a state file keeps of the front end: payments, cards, accounts and customers
``(terminal, key, fields)``."""


class TBankCore:
    """The records of the T-Bank front end and the reads every method group shares."""

    def __init__(self, engine: Engine, terminals: List[TBankTerminal], urls: Callable[[str], str],
                 notify: Callable[[str, Dict[str, Any]], None], *, accept_repeated_order_ids: bool = False) -> None:
        self.engine = engine
        self.accept_repeated_order_ids = accept_repeated_order_ids
        """An Init with an OrderId already used creates another payment (T-Bank does not document
        refusing it); off by default, when the sandbox answers error 20 as before."""
        self.receipts_required = False  # set by the Sandbox (see sandbox.fiscal)
        self.fiscal: Optional[FiscalLog] = None
        self.terminals = {t.key: t for t in terminals}
        self.urls = urls
        self.notify = notify
        self.lock = threading.RLock()
        self._ids = itertools.count(FIRST_ID)
        self.payments: Dict[str, _Payment] = {}
        self.by_engine: Dict[str, str] = {}
        self.cards: Dict[str, _Card] = {}  # by engine binding id
        self.customers: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self.accounts: Dict[str, _Account] = {}

    # -- ids and the state file -------------------------------------------------------------------

    def new_id(self) -> str:
        """The next PaymentId, CardId or RebillId."""
        return str(next(self._ids))

    def peek_next_id(self) -> int:
        """The next PaymentId, CardId or RebillId to be given (for a state file)."""
        with self.lock:
            value = next(self._ids)
            self._ids = itertools.count(value)
            return value

    def set_next_id(self, value: int) -> None:
        """Go on giving ids from ``value`` (a restored state file)."""
        with self.lock:
            self._ids = itertools.count(int(value))

    def export_changed(self) -> List[Tuple[str, str, Any]]:
        """The records changed since they were last written, as ``(kind, key, record)`` (call
        with :attr:`lock` held, as the state file does)."""
        changed: List[Tuple[str, str, Any]] = []
        changed += [("payment", p.payment_id, p) for p in self.payments.values() if p.dirty]
        changed += [("card", c.engine_binding, c) for c in self.cards.values() if c.dirty]
        changed += [("account", a.request_key, a) for a in self.accounts.values() if a.dirty]
        changed += [("terminal", t.key, t) for t in self.terminals.values() if t.dirty]
        return changed

    def export_customers(self) -> List[Tuple[str, str, Dict[str, Any]]]:
        """Every customer as ``(terminal, key, fields)``."""
        return [(terminal, key, fields) for (terminal, key), fields in self.customers.items()]

    def import_records(self, records: TBankRecords) -> None:
        """Take the records a state file kept (into a front end that has served nothing yet)."""
        payments, cards, accounts, customers = records
        with self.lock:
            for payment in payments:
                self.payments[payment.payment_id] = payment
                self.by_engine[payment.engine_id] = payment.payment_id
            self.cards.update((card.engine_binding, card) for card in cards)
            self.accounts.update((account.request_key, account) for account in accounts)
            self.customers.update({(t, k): dict(fields) for t, k, fields in customers})

    # -- what the methods share ---------------------------------------------------------------------

    def owns(self, engine_id: str) -> bool:
        """True when the engine order was created by a T-Bank Init (or an AddCard)."""
        return engine_id in self.by_engine

    def payment_of(self, payment_id: str) -> Optional[str]:
        """The engine order id behind a PaymentId (None if unknown)."""
        payment = self.payments.get(str(payment_id))
        return payment.engine_id if payment else None

    def payment(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> _Payment:
        """The request's ``PaymentId``, if it is this terminal's (error 255 otherwise)."""
        payment = self.payments.get(str(body.get("PaymentId") or ""))
        if payment is None or payment.terminal != terminal.key:
            raise TBankError(255, "Платеж не найден")
        return payment

    def order(self, payment: _Payment) -> Order:
        """The engine order behind a payment."""
        return self.engine.order(payment.engine_id)

    def customer(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Tuple[str, Dict[str, Any]]:
        """The request's ``CustomerKey`` and the customer's fields (216 for a bad key, 7 unknown)."""
        key = str(body.get("CustomerKey") or "")
        if not key or len(key) > 36:
            raise TBankError(216, "Неверный параметр CustomerKey")
        customer = self.customers.get((terminal.key, key))
        if customer is None:
            raise TBankError(7, "Неверный статус покупателя", "Покупатель не найден.")
        return key, customer

    def status_word(self, payment: _Payment, order: Order) -> str:
        """The T-Bank status of a payment, from the engine's order."""
        s = order.status
        words = {OrderStatus.ACS_AUTH: "3DS_CHECKING", OrderStatus.APPROVED: "AUTHORIZED",
                 OrderStatus.REVERSED: "REVERSED", OrderStatus.REFUNDED: "REFUNDED"}
        if s in words:
            return words[s]
        if s is OrderStatus.CREATED:
            return "FORM_SHOWED" if payment.form_shown else "NEW"
        if s is OrderStatus.DEPOSITED:
            return "PARTIAL_REFUNDED" if order.refunded else "CONFIRMED"
        if payment.canceled:
            return "CANCELED"
        if order.decline_reason is DeclineReason.SESSION_EXPIRED:
            return "DEADLINE_EXPIRED"
        return "REJECTED"

    @staticmethod
    def amount(order: Order, word: str) -> int:
        """The ``Amount`` T-Bank shows for a payment in status ``word``."""
        if word in ("AUTHORIZED", "REVERSED"):
            return order.approved
        if word in ("CONFIRMED", "PARTIAL_REFUNDED", "REFUNDED"):
            return order.deposited
        return order.amount

    def card_of(self, order: Order) -> Optional[_Card]:
        """The card a paid order used, if it was saved (a look-up: reading never creates one)."""
        return self.cards.get(order.binding_id) if order.binding_id else None

    def ensure_card(self, payment: _Payment, order: Order) -> Optional[_Card]:
        """Save the card of a paid order (with a RebillId for a parent payment): called when the
        engine says the order was paid, never while an answer is being read."""
        if not order.binding_id:
            return None
        card = self.cards.get(order.binding_id)
        if card is None and payment.customer_key:  # only a payment with a CustomerKey saves a card
            binding = next((b for b in self.engine.all_bindings() if b.binding_id == order.binding_id), None)
            if binding is None:
                return None
            card = _Card(self.new_id(), payment.terminal, payment.customer_key, binding.binding_id,
                         binding.masked_pan.replace("**", "******"), binding.expiry[4:] + binding.expiry[2:4])
            self.cards[binding.binding_id] = card
        if card is not None and payment.recurrent and card.rebill_id is None:
            card.rebill_id = self.new_id()
        if card is not None and card.status != "A" and payment.customer_key == card.customer_key:
            card.status = "A"  # a removed card saved (or paid with Recurrent) again: it is the customer's again
        return card

    def payment_reply(self, terminal: TBankTerminal, payment: _Payment, result: Optional[PaymentResult] = None,
                      **extra: Any) -> Dict[str, Any]:
        """The answer of a call that paid (or declined) a payment: its status, amount and card."""
        order = self.order(payment)
        word = self.status_word(payment, order)
        if result is not None and result.declined:
            code, message = decline_of(order, payment.qr)
            raise TBankError(code, message, result.message, status="REJECTED")
        reply = ok_answer(terminal, Status=word, PaymentId=payment.payment_id, OrderId=payment.order_id,
                          Amount=self.amount(order, word), **extra)
        card = self.card_of(order) if order.status.is_paid else None
        if card is not None:
            reply["CardId"] = card.card_id
            if payment.recurrent and card.rebill_id:
                reply["RebillId"] = card.rebill_id
        return reply

    def check_receipt(self, body: Mapping[str, Any], amount: Optional[int], needed: bool = True) -> None:
        """309 / 308 / 310 / 329 for a receipt the terminal refuses (see ``fiscal``)."""
        if body.get("Receipt") is None and not (self.receipts_required and needed):
            return
        problem = tbank_receipt_problem(body.get("Receipt"), amount)
        if problem is not None:
            raise TBankError(*problem)

    def keep_receipt(self, payment: _Payment, operation: str, body: Mapping[str, Any], amount: int) -> None:
        """Register the request's receipt (if any) with the fiscal log."""
        if body.get("Receipt") is not None and self.fiscal is not None:
            self.fiscal.add(payment.engine_id, operation, body["Receipt"], amount)
