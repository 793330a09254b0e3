"""What each T-Bank code means, in one place: an ``ErrorCode`` as this library's exception
(:func:`error_for_tbank_code`), a payment ``Status`` as an :class:`~autopay_soap.models.OrderStatus`,
and the ``ErrorCode`` of a declined ``Charge`` or ``ChargeQr`` as a decline kind
(``facts/declines.md`` §2). T-Bank does not say which codes ``Charge`` can return; the table
covers the card declines, the integration errors (all ``merchant``) and the SBP autopayment
codes. Code ``100`` carries many texts: :func:`by_text` reads the message ("card inactive" is
hard, a 3-D Secure set-up is the merchant's); without a telling text it is soft and looked up first.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional, Tuple

from ..errors import (
    AccessDenied,
    BindingStateError,
    DuplicateOrderNumber,
    GatewayError,
    GatewaySystemError,
    InvalidOrderState,
    InvalidRequest,
    OrderNotFound,
    PaymentDeclined,
)
from ..models import OrderStatus
from .reasons import DeclineReason
from .table import DAY, HOUR, DeclineKind, Table

__all__ = ["STATUS_MAP", "TBANK", "by_text", "decline_code", "error_for_tbank_code", "status_of"]


_TOKEN_CODES = {204, 205, 236, 501}
_DUPLICATE_CODES = {20}
_NOT_FOUND_CODES = {255}
_BINDING_CODES = {7, 107, 223, 235, 503, 3012, 3014, 3015, 5031}
_STATE_CODES = {4, 8, 3037}
_SYSTEM_CODES = {3, 999, 903, 9001, 9999, 3040}
_DECLINE_CODES = {99, 100, 101, 102, 103, 104, 105, 106, 108, 116, 119, 252, 262, 507, 600, 2014, 2200,
                  3013, 3041, 3042} | set(range(1001, 1100)) | set(range(5032, 5068))


def error_for_tbank_code(code: int, message: Optional[str], details: Optional[str] = None,
                         **context: Any) -> GatewayError:
    """Map a T-Bank ``ErrorCode`` (not 0) to the exception of the same meaning.

    204/205 (token), 501 → :class:`AccessDenied`; 20 → :class:`DuplicateOrderNumber`;
    255 → :class:`OrderNotFound`; 7, 107, 503, 3012, 3014, 3015 → :class:`BindingStateError`;
    4, 8, 3037 → :class:`InvalidOrderState`; 10 (Charge disabled), 1125, 1126 and the
    validation codes → :class:`InvalidRequest`; issuer and SBP declines (1051, 104, 262,
    3013...) → :class:`PaymentDeclined`; 3, 9999... and unknown codes → :class:`GatewaySystemError`.
    """
    text = " ".join(x for x in (message, details) if x) or ""
    context.setdefault("gateway_code", code)
    context.setdefault("gateway_message", text or None)
    operation = context.get("operation") or "the request"
    summary = f"T-Bank refused {operation}: [{code}] {text}".rstrip()
    if code in _TOKEN_CODES:
        return AccessDenied(summary + " (check the terminal key and password)", **context)
    if code in _DUPLICATE_CODES:
        return DuplicateOrderNumber(summary, **context)
    if code in _NOT_FOUND_CODES:
        return OrderNotFound(summary, **context)
    if code in _BINDING_CODES:
        return BindingStateError(summary, **context)
    if code in _STATE_CODES:
        return InvalidOrderState(summary, **context)
    if code == 10:
        return InvalidRequest(summary + " (Charge is disabled for this terminal: ask T-Bank to enable it)",
                              **context)
    if code in _DECLINE_CODES:
        return PaymentDeclined(summary, action_code=code, **context)
    if code in _SYSTEM_CODES:
        return GatewaySystemError(summary, **context)
    if code in (1, 2, 5, 9, 11, 12, 14, 1125, 1126) or 200 <= code <= 251 or 300 <= code <= 399 \
            or 3001 <= code <= 3039:
        return InvalidRequest(summary, **context)
    return GatewaySystemError(summary, **context)


STATUS_MAP: Dict[str, OrderStatus] = {
    "NEW": OrderStatus.CREATED,
    "FORM_SHOWED": OrderStatus.ACS_AUTH, "AUTHORIZING": OrderStatus.ACS_AUTH,
    "3DS_CHECKING": OrderStatus.ACS_AUTH, "3DS_CHECKED": OrderStatus.ACS_AUTH,
    "PAY_CHECKING": OrderStatus.ACS_AUTH, "CHECKING": OrderStatus.ACS_AUTH, "CHECKED": OrderStatus.ACS_AUTH,
    "PREAUTHORIZING": OrderStatus.ACS_AUTH, "PROCESSING": OrderStatus.ACS_AUTH, "UNKNOWN": OrderStatus.ACS_AUTH,
    "AUTHORIZED": OrderStatus.APPROVED, "PARTIAL_REVERSED": OrderStatus.APPROVED, "REVERSING": OrderStatus.APPROVED,
    "CONFIRMING": OrderStatus.DEPOSITED, "CONFIRMED": OrderStatus.DEPOSITED, "COMPLETING": OrderStatus.DEPOSITED,
    "COMPLETED": OrderStatus.DEPOSITED, "REFUNDING": OrderStatus.DEPOSITED, "ASYNC_REFUNDING": OrderStatus.DEPOSITED,
    "PARTIAL_REFUNDED": OrderStatus.DEPOSITED,
    "REVERSED": OrderStatus.REVERSED, "REFUNDED": OrderStatus.REFUNDED,
    "CANCELED": OrderStatus.DECLINED, "REJECTED": OrderStatus.DECLINED, "AUTH_FAIL": OrderStatus.DECLINED,
    "DEADLINE_EXPIRED": OrderStatus.DECLINED, "ATTEMPTS_EXPIRED": OrderStatus.DECLINED,
}
"""T-Bank payment statuses as the client's :class:`OrderStatus`.

Everything still moving (``FORM_SHOWED``, ``AUTHORIZING``, ``3DS_CHECKING``...) is
``ACS_AUTH``: *in progress, do not pay again*; only ``NEW`` means "not paid, paying is safe".
"""
_PAID_RANK = {OrderStatus.DEPOSITED: 0, OrderStatus.APPROVED: 0, OrderStatus.REFUNDED: 0,
              OrderStatus.REVERSED: 0, OrderStatus.ACS_AUTH: 1, OrderStatus.CREATED: 2, OrderStatus.DECLINED: 3}


def status_of(word: Any) -> OrderStatus:
    """A T-Bank status word as an :class:`OrderStatus` (an unknown word: in progress)."""
    return STATUS_MAP.get(str(word or "").upper(), OrderStatus.ACS_AUTH)


# -- the ErrorCode of a declined Charge or ChargeQr, as a decline kind ------------------------------
SOFT, HARD, REBIND, MERCHANT = DeclineKind.SOFT, DeclineKind.HARD, DeclineKind.REBIND, DeclineKind.MERCHANT
TBANK = Table("tbank")
add = TBANK.add

# -- card declines (Charge, FinishAuthorize) ----------------------------------------------------
add(SOFT, [99], "the issuer declined; try later")
add(SOFT, [102], "declined (anti-fraud, limits or 'use another card'); a mixed bag, capped like any soft decline")
add(SOFT, [103, 116, 1051], "insufficient funds")
add(SOFT, [1013, 1019], "the amount exceeds the card's limit")
add(SOFT, [1061, 1065], "the customer's own payment limit is exceeded")
add(SOFT, [1075], "the customer's maximum of payments per day is reached: next day", min_delay=DAY)
add(SOFT, [119, 2200, 603], "too many authorisation requests or attempts with this card: wait a day", min_delay=DAY)
add(SOFT, [120, 123, 125, 999, 9001, 402, 903, 1030, 1034, 1089], "try again later")
add(SOFT, [3, 7999, 1096], "an internal or technical error of the gateway")
add(SOFT, [1091], "the issuer is under maintenance")
add(SOFT, [1001, 1017], "contact the issuer (generic)")
add(SOFT, [1005, 1006, 1008, 1012, 1062, 1088, 1092], "declined by the issuer (generic)")
add(SOFT, [1204], "the shop's daily turnover limit is reached: next day", min_delay=DAY)
add(SOFT, [1018], "the payment status is unknown: look the order up", reconcile=True)
add(HARD, [1004, 1007, 1043, 1059, 1063, 1093, 1094], "the issuer considers the payment suspicious")
add(HARD, [1041], "the card is lost")
add(HARD, [1039, 1053], "the account is not found (closed)")
add(HARD, [1014], "the card is invalid")
add(HARD, [1015], "the card number is wrong")
add(HARD, [1057, 1058], "the cardholder forbade this kind of operation")
add(HARD, [506, 600], "the card is blacklisted or the shop rejects it")
add(HARD, [3003], "the payment was cancelled as fraud")
add(HARD, [76, 77], "operations with foreign cards are not available")
add(HARD, [1205], "the shop does not accept cards of this country")
add(HARD, [1217, 1218], "use another card or contact the seller")
add(REBIND, [104], "the recurring payment failed: the customer must pay with CVC once (T-Bank's own SDK does so)")
add(REBIND, [101, 2014, 511], "3-D Secure identification failed")
add(REBIND, [252, 1033, 1054], "the card has expired")
add(REBIND, [1080], "the expiry date is wrong")
add(REBIND, [1082], "the CVV is wrong")
add(REBIND, [1071], "the card token has expired")
add(REBIND, [262], "the parent recurring payment has expired: the RebillId is no longer valid")
add(REBIND, [107, 231], "the card (CardId) is wrong or unknown: the binding is gone")
add(REBIND, [503], "the customer (CustomerKey) is not found: its bindings are gone")
add(REBIND, [1078], "the card does not support this operation")
add(REBIND, [106, 108, 507], "the card lacks 3-D Secure, or only 3-D Secure cards are allowed")
add(SOFT, [100], "declined (code 100 has many meanings): look the order up", reconcile=True)
add(SOFT, [1038, 1055, 1086], "a PIN-related refusal (not expected online)")
add(SOFT, [1085], "a decline that says 'operation successful': look the order up", reconcile=True)

# -- integration and configuration errors: fix the code or the terminal, never dun the customer ----
add(MERCHANT, [10], "Charge is blocked for this terminal")
add(MERCHANT, [1125, 1126], "the OperationInitiatorType does not fit RebillId or Recurrent")
add(MERCHANT, [204, 205, 202, 501, 648], "the terminal or its token is wrong, blocked or not activated")
add(MERCHANT, [8], "the transaction is in the wrong status for this call")
add(MERCHANT, [9, 12, 20, 54, 255, 623, 1316], "a request the gateway refuses (redirect, order id, 3-D Secure "
                                               "repetition, payment not found, already paid)")
add(MERCHANT, [c for c in range(201, 252) if c not in (202, 204, 205, 231)], "a field failed validation")
add(MERCHANT, list(range(308, 336)), "a receipt (fiscal data) error")
add(MERCHANT, [384], "recurring payments are forbidden for this card scheme on this terminal")
add(MERCHANT, [105], "Maestro autopayments need a set-up of the terminal")
add(MERCHANT, [1235], "Mir cards need SMS-3DS 2.0 set up on the terminal")
add(MERCHANT, [1202, 1203], "the shop's per-operation limits")

# -- SBP autopayments (ChargeQr) --------------------------------------------------------------------
add(MERCHANT, [3013, 3001, 3019], "SBP or recurring SBP payments are not enabled for the terminal")
add(REBIND, [3012, 5031], "the account binding is not found")
add(REBIND, [3014], "the AccountToken is not found")
add(REBIND, [3015], "the AccountToken is not active: the customer must bind the account again")
add(MERCHANT, [3037], "a repeated ChargeQr on one payment: every attempt needs its own Init")
add(SOFT, [3040, 9999], "a technical error: retry later")
add(SOFT, [3041], "too many failed attempts today: retry tomorrow", min_delay=DAY)
add(SOFT, [3042], "too many failed attempts this hour: retry in an hour", min_delay=HOUR)
add(SOFT, [3009, 5032], "declined by SBP or the payee's bank")
add(SOFT, [5043], "the payer's bank declined")
add(SOFT, [5060], "the payer's account lacks funds")
add(SOFT, [5061, 5062], "the payer is over an SBP amount or count limit")
add(HARD, [5036, 5063], "the payer's bank flagged the payment as suspicious")
add(HARD, [5038, 5067], "the payer's bank declined by a requirement of law")
add(HARD, [5064], "the payer is barred from this merchant category")
add(HARD, [5065], "the payer's account is blocked")
add(REBIND, [5066], "the payer's account is closed: a new account binding is needed")

_INACTIVE = re.compile(r"неактив|inactive|not active", re.IGNORECASE)
_SETUP = re.compile(r"3ds|3-d|sms|смс", re.IGNORECASE)


def by_text(code: object, text: Optional[str]) -> Optional[Tuple[DeclineKind, str]]:
    """The kind code ``100``'s message gives: "card inactive" is hard, a 3-D Secure or SMS set-up is
    the merchant's; None otherwise (the number decides)."""
    if code != 100 or not text:
        return None
    if _INACTIVE.search(text):
        return HARD, "the card is inactive (code 100, read from the text)"
    if _SETUP.search(text):
        return MERCHANT, "3-D Secure or SMS confirmation must be set up for the terminal (code 100, from the text)"
    return None


# -- what the sandbox answers: T-Bank's ErrorCode of each decline reason ------------------------------
# The sandbox's engine names why a payment was declined in its own words (codes.reasons); a T-Bank
# payment declined for that reason carries this ErrorCode and Message.
_CARD_DECLINE = {DeclineReason.INSUFFICIENT_FUNDS: (1051, "Недостаточно средств на карте"),
                 DeclineReason.ISSUER_DECLINED: (1012, "Отказ эмитента"),
                 DeclineReason.CARD_EXPIRED: (1054, "Истек срок действия карты"),
                 DeclineReason.AUTHENTICATION_FAILED: (101, "Не пройдена идентификация 3DS"),
                 DeclineReason.CARD_STOLEN: (1041, "Карта утеряна"),
                 DeclineReason.AUTOPAY_NOT_ALLOWED:
                     (105, "Для автоплатежей по картам Maestro требуется настройка терминала")}
"""T-Bank's ErrorCode of a card payment declined for each of the sandbox engine's reasons."""
_SBP_DECLINE = {DeclineReason.INSUFFICIENT_FUNDS: (5060, "Недостаточно средств на счете"),
                DeclineReason.ISSUER_DECLINED: (5043, "Отказ банка плательщика"),
                DeclineReason.CARD_STOLEN: (5065, "Счет плательщика заблокирован"),
                DeclineReason.CARD_EXPIRED: (5066, "Счет плательщика закрыт"),
                DeclineReason.AUTOPAY_NOT_ALLOWED: (3013, "Рекуррентные платежи недоступны")}
"""T-Bank's ErrorCode of an SBP payment declined for each of the sandbox engine's reasons."""
_CARD_OTHER = (1012, "Отказ эмитента")
_SBP_OTHER = (5032, "Отказ СБП или банка получателя")


def decline_code(reason: Optional[DeclineReason], *, sbp: bool = False) -> Tuple[int, str]:
    """T-Bank's ErrorCode and message of a payment declined for ``reason``: a card's (another
    reason: 1012, the issuer's refusal) or an SBP payment's (5032)."""
    table, other = (_SBP_DECLINE, _SBP_OTHER) if sbp else (_CARD_DECLINE, _CARD_OTHER)
    return other if reason is None else table.get(reason, other)
