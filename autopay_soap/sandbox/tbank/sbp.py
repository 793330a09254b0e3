"""SBP on the sandbox's T-Bank front end: a payment's QR (``GetQr``), binding the payer's account
(``AddAccountQr``, or ``Init`` with ``Recurrent=Y`` + ``DATA.QR``), its state and list, the
autopayment ``ChargeQr``, and the test methods in which the payer pays or binds in the bank app
(``SbpPayTest``; the sandbox's own ``SbpBindTest``).

An account bound on one terminal is chargeable from every terminal of the same merchant;
``ChargeQr`` is one-stage and a second call on a payment answers 3037; the account-binding
notification goes to the terminal's configured URL, never to the Init's NotificationURL."""

from __future__ import annotations

import uuid
from typing import Any, Dict, Mapping, Optional

from ...codes.reasons import DeclineReason
from ...models import OrderStatus
from ...signing import make_token
from ..cards import Behaviour
from .core import TBankCore
from .records import TBankError, TBankTerminal, _Account, ok_answer
from .rules import decline_of

__all__ = ["BANK_MEMBER", "SbpMethods"]

BANK_MEMBER = ("100000000004", "Т-Банк (sandbox)")
"""The payer's bank the sandbox names (its member id and name)."""


def _qr_data(data_type: Any, ref: str, amount: Optional[int] = None) -> str:
    payload = f"https://qr.nspk.ru/AS1000{ref[-20:].upper()}?type=02&bank=100000000004&cur=RUB" + \
        (f"&sum={amount}" if amount else "") + "&crc=F3D0"
    if data_type == "IMAGE":
        return ("<svg xmlns='http://www.w3.org/2000/svg' width='120' height='120'><title>"
                f"{payload}</title><rect width='120' height='120'/></svg>")
    return payload


def _account_json(account: _Account) -> Dict[str, Any]:
    fields: Dict[str, Any] = {"RequestKey": account.request_key, "Status": account.status}
    if account.status == "ACTIVE":
        fields.update(AccountToken=account.account_token, BankMemberId=BANK_MEMBER[0],
                      BankMemberName=BANK_MEMBER[1])
    return fields


def _account_behaviour(value: Any, insufficient_funds: bool) -> str:
    """SbpBindTest's sandbox-only ``Behaviour``: how later ChargeQr calls on the account answer."""
    if value in (None, ""):
        return Behaviour.APPROVE_THEN_INSUFFICIENT.value if insufficient_funds else ""
    try:
        return Behaviour(str(value)).value
    except ValueError:
        names = ", ".join(b.value for b in Behaviour)
        raise TBankError(1, "Неверные параметры", f"Behaviour: one of {names}") from None


class SbpMethods:
    """The SBP methods, on the front end's records."""

    METHODS = ("AddAccountQr", "GetAddAccountQrState", "GetAccountQrList", "GetQr", "ChargeQr", "SbpPayTest",
               "SbpBindTest")

    def __init__(self, front: TBankCore) -> None:
        self.front = front

    def GetQr(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``GetQr``: the payment becomes an SBP payment; a binding one also gets its ``RequestKey``."""
        front = self.front
        payment = front.payment(terminal, body)
        if not payment.qr and payment.recurrent:
            raise TBankError(14, "Неверный платеж", "binding the payer's account needs Init with DATA.QR=true")
        order = front.order(payment)
        if order.status is not OrderStatus.CREATED:
            raise TBankError(8, "Неверный статус транзакции")
        if payment.recurrent and not order.description:
            raise TBankError(2, "Не передан обязательный параметр", "Description is required to bind the account")
        payment.form_shown = True
        payment.qr = True  # T-Bank's own SBP test scenario is Init (without DATA.QR) → GetQr → SbpPayTest
        reply = ok_answer(terminal, OrderId=payment.order_id, PaymentId=int(payment.payment_id),
                          Data=_qr_data(body.get("DataType"), payment.payment_id, order.amount))
        if payment.recurrent:
            if payment.request_key is None:
                account = _Account(str(uuid.uuid4()), terminal.merchant, terminal.key, payment_id=payment.payment_id)
                front.accounts[account.request_key] = account
                payment.request_key = account.request_key
            reply["RequestKey"] = payment.request_key
        return reply

    def AddAccountQr(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``AddAccountQr``: a QR that binds the payer's account without a payment."""
        if not body.get("Description"):
            raise TBankError(2, "Не передан обязательный параметр", "Description is required")
        if not terminal.sbp_enabled:
            raise TBankError(3001, "СБП не подключен для терминала")
        account = _Account(str(uuid.uuid4()), terminal.merchant, terminal.key)
        self.front.accounts[account.request_key] = account
        return ok_answer(terminal, Data=_qr_data(body.get("DataType"), account.request_key.replace("-", "")),
                         RequestKey=account.request_key)

    def _account(self, terminal: TBankTerminal, request_key: Any) -> _Account:
        account = self.front.accounts.get(str(request_key or ""))
        if account is None or account.merchant != terminal.merchant:
            raise TBankError(3012, "Привязка счета не найдена")
        return account

    def GetAddAccountQrState(self, terminal: TBankTerminal,  # noqa: N802
                             body: Mapping[str, Any]) -> Dict[str, Any]:
        """``GetAddAccountQrState``: a binding's status and, once active, its ``AccountToken``."""
        return ok_answer(terminal, **_account_json(self._account(terminal, body.get("RequestKey"))))

    def GetAccountQrList(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``GetAccountQrList``: the merchant's bindings that the payer answered."""
        return ok_answer(terminal, AccountTokens=[_account_json(a) for a in self.front.accounts.values()
                                                  if a.merchant == terminal.merchant and a.status != "NEW"])

    def _activate(self, account: _Account, rejected: bool) -> None:
        account.status = "INACTIVE" if rejected else "ACTIVE"
        if not rejected:
            account.account_token = str(uuid.uuid4())
        terminal = self.front.terminals[account.terminal]
        if terminal.notification_url:  # the terminal's URL, never the Init's NotificationURL
            body: Dict[str, Any] = {"TerminalKey": terminal.key, "RequestKey": account.request_key,
                                    "NotificationType": "LINKACCOUNT", "Success": not rejected,
                                    "ErrorCode": "0" if not rejected else "5032", "Status": account.status}
            if not rejected:
                body.update(AccountToken=account.account_token, BankMemberId=BANK_MEMBER[0],
                            BankMemberName=BANK_MEMBER[1])
            body["Token"] = make_token(body, terminal.password)
            self.front.notify(terminal.notification_url, body)

    def SbpBindTest(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """Sandbox only: the payer approves (or rejects) an account binding in the bank app."""
        account = self._account(terminal, body.get("RequestKey"))
        if account.payment_id is not None:
            raise TBankError(1, "Неверные параметры", "this binding goes with a payment: use SbpPayTest")
        if account.status != "NEW":
            raise TBankError(8, "Неверный статус привязки")
        account.insufficient_funds = body.get("IsInsufficientFunds") in (True, "true")
        account.behaviour = _account_behaviour(body.get("Behaviour"), account.insufficient_funds)
        self._activate(account, body.get("IsRejected") in (True, "true"))
        return ok_answer(terminal, **_account_json(account))

    def SbpPayTest(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """Test method of the real API: the payer pays (or not) the shown QR."""
        front = self.front
        payment = front.payment(terminal, body)
        expired = body.get("IsDeadlineExpired") in (True, "true")
        rejected = body.get("IsRejected") in (True, "true")
        if expired and rejected:
            raise TBankError(1, "Неверные параметры", "IsDeadlineExpired and IsRejected exclude each other")
        if not payment.qr or not payment.form_shown:
            raise TBankError(14, "Неверный платеж", "call GetQr first")
        if expired:
            front.engine.pay_external(payment.engine_id, "", decline=DeclineReason.SESSION_EXPIRED)
        elif rejected:
            front.engine.pay_external(payment.engine_id, "", decline=DeclineReason.ISSUER_DECLINED)
        else:
            front.engine.pay_external(payment.engine_id, "+7 *** ***-**-01")
        if payment.request_key:
            self._activate(front.accounts[payment.request_key], rejected or expired)
        return ok_answer(terminal, Message="OK", Details="")

    def ChargeQr(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``ChargeQr``: an autopayment from a bound account, once per payment (3037 after)."""
        front = self.front
        payment = front.payment(terminal, body)
        if payment.charged:
            raise TBankError(3037, "Повторный вызов метода недоступен")
        if not (payment.qr and payment.recurrent):
            raise TBankError(3013, "Рекуррентные платежи недоступны",
                             "the payment needs Init with Recurrent=Y and DATA.QR=true")
        account = self._chargeable(terminal, str(body.get("AccountToken") or ""))
        if front.order(payment).status is not OrderStatus.CREATED:
            raise TBankError(8, "Неверный статус транзакции")
        payment.charged = True
        reason = front.engine.autopay_decline(Behaviour(account.behaviour), account) if account.behaviour else None
        if reason is not None:
            front.engine.pay_external(payment.engine_id, "", decline=reason)
            raise TBankError(*decline_of(front.order(payment), sbp=True), status="REJECTED")
        result = front.engine.pay_external(payment.engine_id, f"SBP {BANK_MEMBER[1]}")
        return dict(front.payment_reply(terminal, payment, result), Currency=643)

    def _chargeable(self, terminal: TBankTerminal, token: str) -> _Account:
        account = next((a for a in self.front.accounts.values()
                        if a.account_token == token and a.merchant == terminal.merchant), None) if token else None
        if account is None:
            raise TBankError(3014, "AccountToken не найден")
        if account.status != "ACTIVE":
            raise TBankError(3015, "Неверный статус AccountToken")
        return account
