"""What each RBS / BPC code means, in one place: an ``errorCode`` as this library's exception
(:func:`error_for_code`; the sandbox's RBS front ends answer with the same numbers, named here),
and an ``actionCode`` as a decline kind (``facts/declines.md`` §1; ``docs/declines.rst``).

Three sources are merged: the current BPC list, codes only in older RBS tables (or with an older
meaning) and the ISO-8583-style processing codes some banks pass through. Where a number's
meaning changed between gateway generations (``100``, ``151017``), :func:`by_text` reads the
``actionCodeDescription`` and decides; the number alone gives the current meaning.
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
)
from .reasons import DeclineReason
from .table import DAY, HOUR, DeclineKind, Table

__all__ = ["ACTION_3DS_FAILED", "ACTION_CANCELLED", "ACTION_DECLINED", "ACTION_EXPIRED_CARD", "ACTION_INSUFFICIENT",
           "ACTION_NO_CVC_RIGHTS", "ACTION_OF", "ACTION_OK", "ACTION_SESSION_EXPIRED", "ACTION_STOLEN", "ACTION_TEXT",
           "BAD_VALUE", "BINDING", "DUPLICATE", "FEATURE_CONFLICT", "LIMIT", "MISSING", "NOT_FOUND", "RBS",
           "REASON_OF", "STATE", "UNKNOWN_CURRENCY", "by_text", "error_for_code"]

# -- errorCode: what the gateway refused ------------------------------------------------------------
DUPLICATE = 1
"""The order number is used already (on registration); elsewhere a missing order key."""
BINDING = 2
"""The binding is unknown, or already (in)active (on binding operations)."""
UNKNOWN_CURRENCY = 3
MISSING = 4
"""A required field is empty."""
BAD_VALUE = 5
"""A field's value is refused ("access denied" in the text: the credentials)."""
NOT_FOUND = 6
"""No such order."""
STATE = 7
"""The order is in the wrong state or the amount is wrong (on money operations); else a system error."""
LIMIT = 10
"""Over a limit (the refund's amount, the attempts)."""
FEATURE_CONFLICT = 13
"""Features that exclude each other (VERIFY with two stages, AUTO_PAYMENT with VERIFY...)."""

# -- actionCode: why a payment ended as it did (the sandbox's test cards speak these) ------------------
ACTION_OK = 0
ACTION_DECLINED = 5
"""Declined by the issuer."""
ACTION_EXPIRED_CARD = 101
ACTION_INSUFFICIENT = 116
ACTION_3DS_FAILED = 151017
ACTION_SESSION_EXPIRED = -2007
"""The payment page's session ran out."""
ACTION_STOLEN = 823
ACTION_NO_CVC_RIGHTS = -2004
"""A payment without CVC the terminal may not make (an autopayment the merchant is not set up for)."""
ACTION_CANCELLED = 10
"""No card data were entered, or the order was cancelled before it was paid."""
ACTION_OF: Dict[DeclineReason, int] = {
    DeclineReason.ISSUER_DECLINED: ACTION_DECLINED,
    DeclineReason.INSUFFICIENT_FUNDS: ACTION_INSUFFICIENT,
    DeclineReason.CARD_EXPIRED: ACTION_EXPIRED_CARD,
    DeclineReason.CARD_STOLEN: ACTION_STOLEN,
    DeclineReason.AUTOPAY_NOT_ALLOWED: ACTION_NO_CVC_RIGHTS,
    DeclineReason.AUTHENTICATION_FAILED: ACTION_3DS_FAILED,
    DeclineReason.SESSION_EXPIRED: ACTION_SESSION_EXPIRED,
    DeclineReason.CANCELLED: ACTION_CANCELLED,
}
"""The ``actionCode`` of an order declined for each of the sandbox engine's reasons."""
REASON_OF: Dict[int, DeclineReason] = {code: reason for reason, code in ACTION_OF.items()}
"""The reason of each action code in :data:`ACTION_OF` (a sandbox state file of 0.x stored the codes)."""
ACTION_TEXT = {ACTION_OK: "Request processed successfully",
               **{code: reason.text for reason, code in ACTION_OF.items() if reason.text}}
"""The ``actionCodeDescription`` of each action code the sandbox gives."""

_ACCESS_WORDS = ("access", "доступ", "password", "парол")
_MONEY_OPERATIONS = {
    "depositOrder", "reverseOrder", "refundOrder", "paymentOrderBinding",
    "deposit", "reverse", "refund",
}
_REGISTER_OPERATIONS = {"registerOrder", "registerOrderPreAuth", "register", "registerPreAuth"}
_BINDING_OPERATIONS = {"bindCard", "unBindCard", "paymentOrderBinding"}


def error_for_code(code: int, message: Optional[str], **context: Any) -> GatewayError:
    """Map an RBS ``errorCode`` (not 0) to the exception of the same meaning.

    The meaning of some codes depends on the operation (passed as ``operation=``): code 1 is
    a duplicate order number on registration, code 7 an invalid state on money operations.
    """
    operation = context.get("operation") or ""
    text = message or ""
    context.setdefault("gateway_code", code)
    context.setdefault("gateway_message", message)
    summary = f"gateway refused {operation or 'the request'}: [{code}] {text}".rstrip()
    if code == DUPLICATE and operation in _REGISTER_OPERATIONS:
        return DuplicateOrderNumber(summary, **context)
    if code == BINDING and operation in _BINDING_OPERATIONS:
        return BindingStateError(summary, **context)
    if code == BAD_VALUE and any(word in text.lower() for word in _ACCESS_WORDS):
        return AccessDenied(summary, **context)
    if code in (DUPLICATE, UNKNOWN_CURRENCY, MISSING, BAD_VALUE, FEATURE_CONFLICT, 14):
        return InvalidRequest(summary, **context)
    if code == NOT_FOUND:
        return OrderNotFound(summary, **context)
    if code == STATE and operation in _MONEY_OPERATIONS:
        return InvalidOrderState(summary, **context)
    return GatewaySystemError(summary, **context)


# -- actionCode: why a payment was declined, as a decline kind ------------------------------------

SOFT, HARD, REBIND, MERCHANT = DeclineKind.SOFT, DeclineKind.HARD, DeclineKind.REBIND, DeclineKind.MERCHANT
RBS = Table("rbs")
add = RBS.add

# -- the current BPC list ("Online payment errors") ----------------------------------------------
add(SOFT, [-30001, -100], "the payment is not final yet: look the order up", reconcile=True)
add(SOFT, [-20010, 121, 902, 903], "over a limit of the card or the issuer; limits reset with time")
add(SOFT, [-2200], "no payment cryptogram from the token service (technical)")
add(REBIND, [-2025, -2006, 4032], "the issuer demands 3-D Secure authentication: the customer must pay once")
add(MERCHANT, [-2024], "the issuer wants frictionless 3-D Secure and the acquirer forbids it (acquirer setting)")
add(SOFT, [-2023, -2022, -2018], "3-D Secure could not be performed (technical)")
add(MERCHANT, [-2020], "invalid ECI from the ACS (protocol data)")
add(MERCHANT, [-2014], "the payer did not return from the payment page: no autopayment attempt was made")
add(SOFT, [-2013], "the order's payment attempts are used up; a new order is needed anyway")
add(REBIND, [-2009], "the payer did not return from the ACS: 3-D Secure needs the customer")
add(SOFT, [-2007], "the order expired before it was paid; nothing was charged, a new order is needed")
add(REBIND, [-301], "the payment token of the binding is invalid")
add(SOFT, [0], "a decline that carries the success code: look the order up", reconcile=True)
add(REBIND, [1], "the issuer requires an identity check, impossible without the customer")
add(HARD, [4], "the card is blocked")
add(SOFT, [5, 909, 916], "declined by the issuer without a reason (do not honour); generic")
add(SOFT, [20, 116], "insufficient funds")
add(HARD, [62], "the card cannot be used here (possibly lost or stolen)")
add(HARD, [63, 119], "security violation: the issuer refuses the card")
add(HARD, [72], "the card is not allowed for this kind of transaction")
add(REBIND, [73], "the stored expiry date is wrong or old")
add(HARD, [78], "the account is invalid or closed")
add(REBIND, [82, 88], "CVC incorrect or a cryptographic failure: the card needs the customer")
add(MERCHANT, [87], "the pre-authorisation lasted too long (our two-stage flow)")
add(SOFT, [90], "processing returned an unmapped status: look the order up", reconcile=True)
add(SOFT, [100], "over the balance, credit limit or amount limit (the current meaning of 100)")
add(REBIND, [101, 906], "the card has expired")
add(SOFT, [103, 907, 910, 912], "the issuer is unreachable")
add(SOFT, [106], "PIN tries exceeded: the card may be blocked for a while")
add(MERCHANT, [109, 941], "the merchant or terminal id is wrong or blocked")
add(MERCHANT, [110], "the amount is invalid or too large for this terminal")
add(HARD, [111, 125], "the card number is incorrect")
add(MERCHANT, [117], "wrong PIN: not an e-commerce decline")
add(HARD, [120], "the issuer does not allow this transaction (network code 57, not permitted)")
add(SOFT, [123, 814], "over the card's count of transactions for the period")
add(MERCHANT, [124, 914, 950, 968, 1120, 341041], "a refund or reversal problem, not a charge decline")
add(HARD, [151, 999], "declined by the issuer's fraud monitoring")
add(HARD, [181], "the service is forbidden for this card")
add(HARD, [203, 204, 208], "the card is lost")
add(HARD, [212], "the participant is blocked")
add(HARD, [239, 240], "the cardholder stopped this recurring payment (consent revoked)")
add(HARD, [555], "the issuer forbids online payments on the card; the customer must lift it and pay by hand")
add(HARD, [823], "the card is reported stolen")
add(SOFT, [904, 913], "the message format was wrong (technical)")
add(MERCHANT, [911, 4005], "declined by a rule of the merchant's own")
add(SOFT, [920], "the card has restrictions set by the bank's processing")
add(SOFT, [998, 151019, -1], "processing timed out after the request was sent: it may have been charged",
    reconcile=True)
add(SOFT, [1112, 1113, 1114, 1115, 1116, 1117, 1118],
    "the gateway's own retry counter is exceeded (card, binding, order, terminal...): wait a day", min_delay=DAY)
add(REBIND, [1434], "the issuer requires 3-D Secure: the customer must pay once")
add(MERCHANT, [2002], "the operation is not allowed for this order's status or payment method (our call order)")
add(MERCHANT, [2003, -2004], "payments without CVC or 3-D Secure are not allowed for this terminal "
                             "(AUTO_PAYMENT rights)")
add(MERCHANT, [2012], "the order is already cancelled")
add(MERCHANT, [2016], "3-D Secure is needed and the merchant has no 3-D Secure permission")
add(SOFT, [2023], "the gateway's processing queue is over its limit: a few minutes", min_delay=HOUR)
add(HARD, [2030], "the card is blocked")
add(MERCHANT, [8204], "a duplicate order number: use a fresh order number")
add(REBIND, [71015], "the stored card data are no longer valid")
add(SOFT, [151018], "processing timed out before the request was sent: safe to retry", min_delay=HOUR)

# -- only in the older RBS tables, or with an older meaning ---------------------------------------
add(SOFT, [-9000], "the transaction has only started: look the order up", reconcile=True)
add(MERCHANT, [-2019, -2015, -2012, 2005], "a 3-D Secure protocol or acquirer rule refusal")
add(SOFT, [-2016, -2011, -2005], "the issuer's 3-D Secure service is not ready (technical)")
add(SOFT, [-2002], "over an acquirer or merchant turnover limit")
add(MERCHANT, [-2001], "the client IP address is blacklisted")
add(HARD, [-2000], "the card number is blacklisted")
add(HARD, [104], "the account has restrictions")
add(SOFT, [107], "refer to the issuer (generic)")
add(HARD, [200, 2001], "fraud according to the processing or the payment network")
add(SOFT, [209], "over the card's limits")
add(MERCHANT, [1001, 10], "no card data were entered or the payer cancelled: not an autopayment decline")
add(SOFT, [9001, 341014], "an internal decline of the gateway")
add(SOFT, [151017], "a 3-D Secure connection error (older tables read it as a failed authentication)")

# -- ISO-8583-style processing codes some banks pass through (two characters) -------------------
add(SOFT, ["01"], "call the issuer (generic)")
add(MERCHANT, ["03", "09", "10", "13", "30", "92"], "invalid merchant, store, currency, amount or format")
add(HARD, ["04", "36", "37", "B3", "B4"], "the issuer asks to capture the card (restricted, security, fraud)")
add(SOFT, ["05"], "do not honour (generic)")
add(MERCHANT, ["12"], "invalid transaction (never retried unchanged)")
add(HARD, ["14", "32", "AF"], "invalid account or card number")
add(HARD, ["16"], "the card is not active")
add(SOFT, ["31", "68", "91", "96"], "the issuer is inoperative or timed out")
add(REBIND, ["33"], "the card has expired")
add(HARD, ["41", "43"], "the card is lost or stolen")
add(SOFT, ["51"], "insufficient funds")
add(HARD, ["57", "93", "B2"], "not permitted to the cardholder, or the card is restricted")
add(SOFT, ["61", "65", "B1"], "over the card's amount or count limit")
add(HARD, ["62"], "bad card")
add(REBIND, ["81", "82", "AB", "AC"], "CVV error: the card needs the customer")
add(SOFT, ["90", "AE"], "status unknown or authorisation not complete: look the order up", reconcile=True)
add(SOFT, ["BA"], "blocked at first use or temporarily blocked")
add(HARD, ["F1"], "declined by fraud monitoring")
add(HARD, ["R0", "R1", "R3", "TS"], "the cardholder stopped this or all recurring payments")
add(REBIND, ["S1"], "additional customer authentication is required")

_FORBIDDEN = re.compile(r"internet|интернет|forbid|prohibit|запрещ|не разреш", re.IGNORECASE)
_DECLINED_3DS = re.compile(r"declin|reject|fail|отклон|не пройден|ошибка аутентиф", re.IGNORECASE)


def by_text(code: object, text: Optional[str]) -> Optional[Tuple[DeclineKind, str]]:
    """The kind a code's *text* gives where the number changed meaning between gateway generations.

    ``100``: the old tables read "the issuer forbids internet payments on this card" (hard),
    the current one "over a limit" (soft). ``151017``: "3-D Secure connection error" (soft) in
    one table, "3-D Secure declined by the issuer" (rebind) in another. Returns the kind and
    the reason, or None: the number decides.
    """
    if not text:
        return None
    if code == 100 and _FORBIDDEN.search(text):
        return HARD, "the issuer forbids internet payments on the card (the older meaning of 100, read from the text)"
    if code == 151017 and _DECLINED_3DS.search(text):
        return REBIND, "3-D Secure declined by the issuer (the other reading of 151017, from the text)"
    return None
