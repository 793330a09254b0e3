"""What a decline is: its kind (soft, hard, rebind, merchant) and the gateway's own words."""

from __future__ import annotations

from typing import Optional

import attr

from ..codes.table import DeclineKind

__all__ = ["Decline", "DeclineKind"]  # DeclineKind lives with the code tables (autopay_soap.codes)


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
