"""Payments on the sandbox's T-Bank front end: ``Init``, ``Charge`` (an autopayment by
RebillId), ``Confirm``, ``Cancel`` (reverse or refund, once per ``ExternalRequestId``),
``GetState``, ``CheckOrder`` and the cashbox's ``SendClosingReceipt``."""

from __future__ import annotations

from typing import Any, Dict, Mapping

from ...models import OrderStatus
from ..engine import EngineError, Order
from ..fiscal import tbank_receipt_problem
from ..lifecycle import Refusal
from .core import TBankCore
from .notifications import announce_receipts
from .records import TBankError, TBankTerminal, _Payment, ok_answer
from .rules import INCOMPATIBLE, InitRequest, decline_of, read_int

__all__ = ["PaymentMethods"]

_PREPAID = {"full_prepayment", "prepayment", "advance"}


class PaymentMethods:
    """The payment methods, on the front end's records."""

    METHODS = ("Init", "Charge", "Confirm", "Cancel", "GetState", "CheckOrder", "SendClosingReceipt")

    def __init__(self, front: TBankCore) -> None:
        self.front = front

    def Init(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``Init``: a new payment (an engine order) and its ``PaymentURL`` (none for SBP)."""
        front = self.front
        init = InitRequest.read(terminal, body)
        front.check_receipt(body, init.amount)
        payment_id = front.new_id()
        try:
            order = front.engine.register(
                order_number=init.order_id, amount=init.amount, currency="643",
                return_url=body.get("SuccessURL") or front.urls("/_sandbox/return"), fail_url=body.get("FailURL"),
                description=init.description,
                client_id=f"{terminal.key}/{init.customer_key}" if init.customer_key else None,
                session_timeout_secs=max(init.timeout, 1), two_stage=init.two_stage, max_number_length=36,
                unique_number=not front.accept_repeated_order_ids)
        except EngineError as exc:
            if exc.refusal is Refusal.NUMBER_USED:
                raise TBankError(20, "Ошибка: дублирование идентификатора заказа") from None
            raise TBankError(1, "Неверные параметры", exc.message) from None
        if init.customer_key:
            front.customers.setdefault((terminal.key, init.customer_key), {})
        payment = _Payment(payment_id, order.order_id, terminal.key, init.order_id, init.recurrent,
                           init.customer_key, init.initiator, init.qr, body.get("NotificationURL"))
        front.payments[payment_id] = payment
        front.by_engine[order.order_id] = payment_id
        front.keep_receipt(payment, "sell", body, init.amount)
        reply = ok_answer(terminal, Status="NEW", PaymentId=payment_id, OrderId=init.order_id, Amount=init.amount)
        if not init.qr:
            reply["PaymentURL"] = front.urls(f"/new/{payment_id}")
        return reply

    def Charge(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``Charge``: pay a new payment with the card of a RebillId (the terminal's, still active)."""
        front = self.front
        if not terminal.charge_enabled:
            raise TBankError(10, "Метод Charge заблокирован для данного терминала")
        payment = front.payment(terminal, body)
        rebill = str(body.get("RebillId") or "")
        if not rebill:
            raise TBankError(223, "Неверный параметр RebillId")
        if payment.qr:
            raise TBankError(14, "Неверный платеж", "an SBP payment is charged by ChargeQr")
        if payment.recurrent or payment.initiator in ("0", "1"):
            raise TBankError(1126, INCOMPATIBLE)
        card = next((c for c in front.cards.values() if c.rebill_id == rebill and c.terminal == terminal.key), None)
        if card is None or card.status != "A":
            raise TBankError(223, "Неверный параметр RebillId", "no active card with this RebillId")
        order = front.order(payment)
        if order.status is not OrderStatus.CREATED:
            raise TBankError(8, "Неверный статус транзакции", f"status {front.status_word(payment, order)}")
        payment.charged = True
        result = front.engine.pay_with_binding(payment.engine_id, card.engine_binding, merchant_initiated=True)
        return front.payment_reply(terminal, payment, result)

    def Confirm(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``Confirm``: capture a hold (all of it, or ``Amount``)."""
        front = self.front
        payment = front.payment(terminal, body)
        amount = read_int(body.get("Amount"), "Amount") or front.order(payment).approved
        front.check_receipt(body, amount)
        front.engine.deposit(payment.engine_id, read_int(body.get("Amount"), "Amount") or 0)
        front.keep_receipt(payment, "capture", body, amount)
        announce_receipts(front, terminal, payment)
        return front.payment_reply(terminal, payment)

    def Cancel(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``Cancel``: a new payment is canceled, a hold reversed, a charge refunded (all or
        ``Amount``); an ``ExternalRequestId`` already seen answers as before and refunds nothing."""
        front = self.front
        payment = front.payment(terminal, body)
        key = body.get("ExternalRequestId")
        if key and str(key) in payment.refund_keys:
            return dict(payment.refund_keys[str(key)])
        original = self._undo(terminal, payment, body, front.order(payment))
        order = front.order(payment)
        word = front.status_word(payment, order)
        left = order.deposited - order.refunded if word in ("PARTIAL_REFUNDED", "REFUNDED") else 0
        reply = ok_answer(terminal, Status=word, PaymentId=payment.payment_id, OrderId=payment.order_id,
                          OriginalAmount=original, NewAmount=left)
        if key:
            reply["ExternalRequestId"] = str(key)
            payment.refund_keys[str(key)] = reply
            payment.dirty = True  # an in-place change: no assignment marks it
        return reply

    def _undo(self, terminal: TBankTerminal, payment: _Payment, body: Mapping[str, Any], order: Order) -> int:
        """Cancel, reverse or refund by the order's status; the amount there was before."""
        front = self.front
        amount = read_int(body.get("Amount"), "Amount")
        if order.status in (OrderStatus.CREATED, OrderStatus.ACS_AUTH):
            original = order.amount
            payment.canceled = True  # before the engine call: its event (the notification) reads it
            front.engine.decline(payment.engine_id)
            return original
        if order.status is OrderStatus.APPROVED:
            if amount and amount < order.approved:
                raise TBankError(8, "Неверный статус транзакции", "partial reversal is not emulated by the sandbox")
            original = order.approved
            front.engine.reverse(payment.engine_id)
            return original
        if order.status is OrderStatus.DEPOSITED:
            original = order.deposited - order.refunded
            front.check_receipt(body, amount, needed=amount is not None and 0 < amount < original)  # a partial refund
            front.engine.refund(payment.engine_id, amount or 0)
            front.keep_receipt(payment, "refund", body, amount or original)
            announce_receipts(front, terminal, payment)
            return original
        raise TBankError(8, "Неверный статус транзакции", f"status {front.status_word(payment, order)}")

    def GetState(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``GetState``: the payment's status, amount and route (cards or SBP)."""
        front = self.front
        payment = front.payment(terminal, body)
        order = front.order(payment)
        word = front.status_word(payment, order)
        reply = ok_answer(terminal, Status=word, PaymentId=payment.payment_id, OrderId=payment.order_id,
                          Amount=front.amount(order, word),
                          Params=[{"Key": "Route", "Value": "ACQ"},
                                  {"Key": "Source", "Value": "qrsbp" if payment.qr else "cards"}])
        if word == "REJECTED":
            reply["Message"] = decline_of(order, payment.qr)[1]
        return reply

    def SendClosingReceipt(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``/cashbox/SendClosingReceipt``: the full-settlement receipt of a prepaid ``CONFIRMED`` payment."""
        front = self.front
        payment = front.payment(terminal, body)
        if front.status_word(payment, front.order(payment)) != "CONFIRMED":
            raise TBankError(8, "Неверный статус транзакции", "the payment is not CONFIRMED")
        kept = front.fiscal.receipts(payment.engine_id) if front.fiscal is not None else []
        if not any(isinstance(item, Mapping) and item.get("PaymentMethod") in _PREPAID
                   for entry in kept if isinstance(entry["receipt"], Mapping)
                   for item in entry["receipt"].get("Items") or []):
            raise TBankError(311, "Ошибка регистрации чека",
                             "no receipt of this payment had a prepayment line (full_prepayment, prepayment, advance)")
        problem = tbank_receipt_problem(body.get("Receipt"), None)
        if problem is not None:
            raise TBankError(*problem)
        front.keep_receipt(payment, "closing", body, sum(int(item.get("Amount") or 0)
                                                         for item in body["Receipt"]["Items"]))
        return {"Success": True, "ErrorCode": "0", "Message": ""}

    def CheckOrder(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``CheckOrder``: every payment of the terminal with the ``OrderId`` (255 if none)."""
        front = self.front
        order_id = str(body.get("OrderId") or "")
        found = [p for p in front.payments.values() if p.terminal == terminal.key and p.order_id == order_id]
        if not found:
            raise TBankError(255, "Платеж не найден", f"no payment with OrderId {order_id}")
        payments = []
        for payment in found:
            order = front.order(payment)
            word = front.status_word(payment, order)
            declined = word in ("REJECTED", "CANCELED", "DEADLINE_EXPIRED")
            payments.append({"PaymentId": payment.payment_id, "Amount": front.amount(order, word), "Status": word,
                             "RRN": payment.payment_id[-6:], "Success": "false" if declined else "true",
                             "ErrorCode": decline_of(order, payment.qr)[0] if declined else 0,
                             "Message": ""})
        return ok_answer(terminal, OrderId=order_id, Payments=payments)


