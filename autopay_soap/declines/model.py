"""What a decline is: its kind (soft, hard, rebind, merchant) and the gateway's own words."""

from __future__ import annotations

import enum
from typing import Optional

import attr

__all__ = ["Decline", "DeclineKind"]


class DeclineKind(enum.Enum):
    """What to do about a declined autopayment, the same for every gateway.

    The split is this library's reading of the gateways' code tables (``docs/declines.rst``);
    no gateway publishes it.
    """

    SOFT = "soft"
    """Retry later with a new order (insufficient funds, a limit, the issuer unreachable)."""
    HARD = "hard"
    """Never charge this card again; tell the customer (lost, stolen, closed, fraud, recurring revoked)."""
    REBIND = "rebind"
    """This binding cannot be charged without the customer (expired, binding gone, CVC or 3-D
    Secure required): ask the customer to pay once to create a new binding."""
    MERCHANT = "merchant"
    """Our integration or terminal is misconfigured: do not dun the customer, alert the merchant."""

    @property
    def retryable(self) -> bool:
        """True for :attr:`SOFT`: a later attempt with a new order may succeed."""
        return self is DeclineKind.SOFT


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Decline:
    """A classified decline: its :class:`DeclineKind`, the gateway's code and text, and why.

    ``gateway`` is ``"rbs"`` (SOAP and REST) or ``"tbank"`` (card and SBP). ``code`` is the
    gateway's code as it came (RBS ``actionCode``, a signed integer; T-Bank ``ErrorCode``).
    ``reconcile``: the attempt may have reached the issuer (a timeout code), so the order is
    looked up before any retry. ``min_delay``: seconds to wait at least before a retry when
    the code asks for it (T-Bank 3042: an hour; per-card counters: a day). ``known``: the code
    is in the table; an unknown code is ``soft`` with the normal cap.
    """

    kind: DeclineKind
    gateway: str
    code: Optional[object]
    text: Optional[str]
    reason: str
    reconcile: bool = False
    min_delay: Optional[float] = None
    known: bool = True

    @property
    def retryable(self) -> bool:
        """True when the schedule may retry it (a soft decline)."""
        return self.kind.retryable

    def __str__(self) -> str:
        return f"{self.kind.value} decline [{self.code}] {self.reason}"
