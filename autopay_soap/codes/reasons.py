"""Why a payment was declined, in no gateway's words: the sandbox engine's vocabulary.

The engine records a :class:`DeclineReason` on a declined order; each gateway's code module
says what its protocol answers for it (``codes.rbs.ACTION_OF``, the ``actionCode``;
``codes.tbank.decline_code``, T-Bank's ``ErrorCode`` and ``Message`` for a card and for SBP).
The test cards' behaviours are written in these words.
"""

from __future__ import annotations

import enum

__all__ = ["DeclineReason"]


class DeclineReason(enum.Enum):
    """Why an order ended declined (stored by its value in a sandbox state file)."""

    ISSUER_DECLINED = "issuer_declined"
    """The issuer refused without a reason (do not honour)."""
    INSUFFICIENT_FUNDS = "insufficient_funds"
    CARD_EXPIRED = "card_expired"
    """The card's month is over (an SBP account: closed)."""
    CARD_STOLEN = "card_stolen"
    """The card is reported lost or stolen (an SBP account: blocked)."""
    AUTOPAY_NOT_ALLOWED = "autopay_not_allowed"
    """The terminal may not charge this card (or account) without the payer."""
    AUTHENTICATION_FAILED = "authentication_failed"
    """3-D Secure failed: a wrong code at the ACS."""
    SESSION_EXPIRED = "session_expired"
    """The order's payment session ran out before it was paid."""
    CANCELLED = "cancelled"
    """The merchant cancelled the unpaid order."""

    @property
    def text(self) -> str:
        """A short English description (the sandbox's pages show it; empty for a cancellation)."""
        return _TEXT[self]


_TEXT = {
    DeclineReason.ISSUER_DECLINED: "Declined by issuer",
    DeclineReason.INSUFFICIENT_FUNDS: "Insufficient funds",
    DeclineReason.CARD_EXPIRED: "Card expired",
    DeclineReason.CARD_STOLEN: "Card reported stolen",
    DeclineReason.AUTOPAY_NOT_ALLOWED: "Payment via SSL without CVC is forbidden",
    DeclineReason.AUTHENTICATION_FAILED: "3-D Secure authentication failed",
    DeclineReason.SESSION_EXPIRED: "Payment session expired",
    DeclineReason.CANCELLED: "",
}
