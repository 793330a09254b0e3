"""Declined autopayments: what kind each decline is, and when a soft one is retried.

* :func:`classify` turns a gateway's code and text into a :class:`Decline` of a
  :class:`DeclineKind` (soft, hard, rebind, merchant), from the code tables of
  :mod:`autopay_soap.codes.rbs` and :mod:`autopay_soap.codes.tbank`.
* :class:`RetrySchedule` says when a soft decline is retried, within the card schemes' caps.
* :func:`retry_order_number` derives the order number of each retry from the original.

The chapter "Declines and retries" of the docs has the tables and the reasons.
"""

from .classify import classify, classify_error, gateway_family, parse_code
from .model import Decline, DeclineKind
from .numbers import first_payment_order_number, retry_order_number
from .schedule import DEFAULT_SCHEDULE, RetrySchedule

__all__ = [
    "DEFAULT_SCHEDULE", "Decline", "DeclineKind", "RetrySchedule", "classify", "classify_error",
    "first_payment_order_number", "gateway_family", "parse_code", "retry_order_number",
]
