"""How the sandbox's T-Bank front end reads a request: its shape, an ``Init``, the initiator type,
and the ErrorCode of each engine decline (T-Bank's own codes and messages)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, Mapping, Optional, Tuple

import attr

from ...codes.tbank import decline_code
from ..engine import Order
from .records import TBankError, TBankTerminal

__all__ = ["CASHBOX_METHODS", "FIRST_ID", "InitRequest", "TBANK_METHODS", "decline_of", "read_int", "refused",
           "shape_problem"]

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
"""The methods served under ``/v2/``."""
CASHBOX_METHODS = ("SendClosingReceipt",)
"""Methods T-Bank serves under ``/cashbox/`` rather than ``/v2/``."""
INITIATORS = ("0", "1", "2", "R", "I")
INCOMPATIBLE = "Несопоставимые значения RebillId или Recurrent с переданным значением OperationInitiatorType"


def decline_of(order: Order, sbp: bool = False) -> Tuple[int, str]:
    """T-Bank's ErrorCode and message for the engine's decline reason (a card's, or an SBP payment's)."""
    return decline_code(order.decline_reason, sbp=sbp)


def refused(code: str, message: str, details: str = "", terminal: Optional[TBankTerminal] = None) -> Dict[str, Any]:
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


def shape_problem(body: Mapping[str, Any]) -> Optional[str]:
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


def read_int(value: Any, name: str) -> Optional[int]:
    """An integer field (a number or a string of digits); None when absent; error 1 otherwise."""
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
class InitRequest:
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
    def read(cls, terminal: TBankTerminal, body: Mapping[str, Any]) -> "InitRequest":
        """The checked request, or a :class:`TBankError`."""
        amount = read_int(body.get("Amount"), "Amount")
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
        data = _data(body)
        recurrent = body.get("Recurrent") == "Y"
        qr = str(data.get("QR")).lower() == "true"
        initiator = _initiator(terminal, data.get("OperationInitiatorType"), recurrent)
        if recurrent and not qr and not customer_key:
            raise TBankError(216, "Неверный параметр CustomerKey", "CustomerKey is required with Recurrent")
        two_stage = _two_stage(terminal, body.get("PayType"))
        if qr:
            _check_qr(terminal, amount)
            two_stage = False
        return cls(str(order_id), amount, str(description) if description else None,
                   str(customer_key) if customer_key else None, recurrent, qr, initiator, two_stage,
                   _redirect_timeout(body.get("RedirectDueDate")))


def _data(body: Mapping[str, Any]) -> Mapping[str, Any]:
    data = body.get("DATA") or {}
    if not isinstance(data, dict):
        raise TBankError(207, "Неверный параметр DATA")
    if len(data) > 20:
        raise TBankError(207, "Превышен размер DATA")
    return data


def _two_stage(terminal: TBankTerminal, pay_type: Any) -> bool:
    if pay_type not in (None, "O", "T"):
        raise TBankError(1, "Неверный параметр PayType")
    return terminal.two_stage if pay_type is None else pay_type == "T"


def _check_qr(terminal: TBankTerminal, amount: int) -> None:
    if not terminal.sbp_enabled:
        raise TBankError(3001, "СБП не подключен для терминала")
    if not 1000 <= amount <= 100_000_000:
        raise TBankError(3016, "Невозможно создать QR: сумма вне допустимого диапазона")


def _initiator(terminal: TBankTerminal, value: Any, recurrent: bool) -> Optional[str]:
    """``DATA.OperationInitiatorType`` checked against the terminal and ``Recurrent`` (1125, 1126)."""
    if value is None:
        return None
    oit = str(value)
    if oit not in INITIATORS:
        raise TBankError(1125, "Неверное значение OperationInitiatorType")
    if (oit == "1") != recurrent:
        raise TBankError(1126, INCOMPATIBLE)
    if (terminal.terminal_type == "AFT" and oit in ("2", "R")) or (terminal.terminal_type == "ECOM" and oit == "I"):
        raise TBankError(1126, INCOMPATIBLE, f"{oit} is not allowed on {terminal.terminal_type}")
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
