"""Gateway callbacks (notifications): verification, confirmation and small WSGI receivers.

A notification is a **claim**, not a fact. Its checksum or Token proves only that someone
holding the key built it; a forger who has one genuine notification can still shift
characters between fields (the T-Bank Token joins values without keys, RBS joins
``name;value;`` without escaping), and a genuine one may be late or out of order. So:

1. *Offline verification* (:func:`verify_rbs_callback_offline`,
   :func:`verify_tbank_notification_offline`) checks the signature in constant time and the
   shape of every field: no unknown root key (T-Bank; ``extra_keys=`` admits new ones), no
   empty value, digits where digits belong, a known ``Status``, a boolean ``Success``; for RBS
   no parameter name or value that could shift the ``name;value;`` framing, no repeated
   parameter.
2. *Confirmation* (:func:`confirm_rbs_callback`, :func:`confirm_tbank_notification`) looks
   the order up at the gateway (``getOrderStatusExtended``, ``GetState``,
   ``GetAddAccountQrState``): the order id, order number and amount claimed must match
   exactly, or the notification is refused. The result carries the state the gateway reports
   **now** (``details``), never the claimed one; ``claimed_status`` keeps what was said.
3. The receivers (:class:`RbsCallbackApp`, :class:`TBankCallbackApp`) do both when given a
   gateway, the normal case. Without one they must be told ``offline=True``, and hand the
   handler unconfirmed notifications (``confirmed`` is False).

RBS: HMAC-SHA256 keyed with the merchant's secret, upper-case hex, or an RSA
PKCS#1 v1.5 signature of the same string (SHA-512 in the gateway's examples, SHA-256 too).
T-Bank: the Token of every root scalar received, like a request's. The receiver
answers HTTP 200 with exactly ``OK``; anything else makes T-Bank send again.
"""

from __future__ import annotations

from ..signing import load_rsa_public_key, rbs_hmac_checksum, rbs_signed_string, verify_rbs_hmac
from .common import MAX_NOTIFICATION_BYTES
from .rbs import RbsNotification, confirm_rbs_callback, verify_rbs_callback_offline
from .receiver import Answer, RbsReceiver, TBankReceiver
from .tbank import (
    TBankAccountNotification,
    TBankCardNotification,
    TBankNotification,
    TBankPaymentNotification,
    TBankReceiptNotification,
    confirm_tbank_notification,
    verify_tbank_notification_offline,
)
from .wsgi import RbsCallbackApp, TBankCallbackApp

__all__ = [
    "MAX_NOTIFICATION_BYTES",
    "Answer",
    "RbsCallbackApp",
    "RbsNotification",
    "RbsReceiver",
    "TBankAccountNotification",
    "TBankCardNotification",
    "TBankCallbackApp",
    "TBankNotification",
    "TBankPaymentNotification",
    "TBankReceiptNotification",
    "TBankReceiver",
    "confirm_rbs_callback",
    "confirm_tbank_notification",
    "load_rsa_public_key",
    "rbs_hmac_checksum",
    "rbs_signed_string",
    "verify_rbs_callback_offline",
    "verify_rbs_hmac",
    "verify_tbank_notification_offline",
]
