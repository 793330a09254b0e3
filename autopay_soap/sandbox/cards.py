"""Test cards of the sandbox and how each behaves.

The numbers that the real RBS test environments publish keep their meaning here
(``4111 1111 1111 1111`` needs 3-D Secure with code ``12345678``; ``4444 5555 1111 3333``
pays without it; ``5168 4948 9505 5780`` is declined). Cards for insufficient funds, an
expired card and "first payment fine, autopayments declined" are sandbox conventions.
"""

from __future__ import annotations

import enum
from typing import Dict, Optional

import attr

__all__ = ["ACS_CODES", "AUTOPAY_BEHAVIOURS", "RECOVERY_DAYS", "Behaviour", "TestCard", "TestCards", "card_behaviour",
           "luhn_ok"]


class Behaviour(enum.Enum):
    """What the sandbox does with a payment by a card."""

    APPROVE = "approve"
    APPROVE_3DS = "approve_3ds"
    DECLINE = "decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    APPROVE_THEN_INSUFFICIENT = "approve_then_insufficient"
    RECOVERING_FUNDS = "recovering_funds"
    RECURRING_STOLEN = "recurring_stolen"
    RECURRING_EXPIRED = "recurring_expired"
    RECURRING_MERCHANT = "recurring_merchant"


RECOVERY_DAYS = 3
"""Sandbox days after its first declined autopayment at which a RECOVERING_FUNDS card pays again."""
AUTOPAY_BEHAVIOURS = (Behaviour.APPROVE_THEN_INSUFFICIENT, Behaviour.RECOVERING_FUNDS, Behaviour.RECURRING_STOLEN,
                      Behaviour.RECURRING_EXPIRED, Behaviour.RECURRING_MERCHANT)
"""Behaviours of cards whose first payment binds and whose autopayments are declined, one per decline kind."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TestCard:
    """A sandbox card: number, expiry (``MM/YY``), CVC, cardholder and, for 3-D Secure, the code."""

    __test__ = False  # not a pytest test class

    pan: str = attr.ib(repr=False)
    expiry: str
    cvc: str = attr.ib(repr=False)
    behaviour: Behaviour
    three_ds_code: Optional[str] = None
    cardholder: str = "CARD HOLDER"

    @property
    def masked_pan(self) -> str:
        """``411111**1111``, as the gateway shows it."""
        return f"{self.pan[:6]}**{self.pan[-4:]}"

    @property
    def expiry_yyyymm(self) -> str:
        """The expiry as ``YYYYMM``."""
        month, year = self.expiry.split("/")
        return f"20{year}{month}"


class TestCards:
    """The sandbox's test cards (see the sandbox chapter of the docs)."""

    __test__ = False

    SUCCESS = TestCard("4444555511113333", "12/30", "123", Behaviour.APPROVE)
    """Paid without 3-D Secure."""
    SUCCESS_3DS = TestCard("4111111111111111", "12/30", "123", Behaviour.APPROVE_3DS, three_ds_code="12345678")
    """Paid after 3-D Secure; the ACS code is ``12345678``."""
    DECLINED = TestCard("5168494895055780", "12/30", "123", Behaviour.DECLINE)
    """Declined by the issuer (action code 5)."""
    INSUFFICIENT_FUNDS = TestCard("4000000000000119", "12/30", "123", Behaviour.INSUFFICIENT_FUNDS)
    """Declined for insufficient funds (action code 116)."""
    EXPIRED = TestCard("4444555511113333", "12/20", "123", Behaviour.APPROVE)
    """The SUCCESS card with a past expiry: declined as expired (action code 101)."""
    RECURRING_INSUFFICIENT = TestCard("5555555555554444", "12/30", "123", Behaviour.APPROVE_THEN_INSUFFICIENT)
    """The first payment succeeds and binds; every autopayment on that binding is declined (116).

    The cards below bind the same way; their autopayments show one decline kind each."""
    RECOVERING_FUNDS = TestCard("4012888888881881", "12/30", "123", Behaviour.RECOVERING_FUNDS)
    """Soft: autopayments are declined for insufficient funds (RBS 116, T-Bank 1051, SBP 5060) until
    :data:`RECOVERY_DAYS` sandbox days after the first of them; then they pay."""
    RECURRING_STOLEN = TestCard("4242424242424242", "12/30", "123", Behaviour.RECURRING_STOLEN)
    """Hard: autopayments are declined, card reported stolen (RBS 823, T-Bank 1041, SBP 5065 account blocked)."""
    RECURRING_EXPIRED = TestCard("5105105105105100", "12/30", "123", Behaviour.RECURRING_EXPIRED)
    """Rebind: autopayments are declined, card expired since it was bound (RBS 101, T-Bank 1054, SBP 5066
    account closed)."""
    RECURRING_MERCHANT = TestCard("6759649826438453", "12/30", "123", Behaviour.RECURRING_MERCHANT)
    """Merchant: autopayments are refused for the terminal's settings (RBS -2004 "payment without CVC
    forbidden", T-Bank 105 "Maestro autopayments need set-up", SBP 3013 "recurring payments unavailable")."""

    # T-Bank's published test cards; they behave the same on every front end.
    TBANK_SUCCESS = TestCard("2200770239097761", "12/30", "123", Behaviour.APPROVE)
    """T-Bank: success without 3-D Secure."""
    TBANK_3DS_FRICTIONLESS = TestCard("2201382000000013", "12/30", "123", Behaviour.APPROVE)
    """T-Bank: success, 3-D Secure 2 frictionless (no challenge)."""
    TBANK_3DS_CHALLENGE = TestCard("2201382000000047", "12/30", "123", Behaviour.APPROVE_3DS,
                                   three_ds_code="1qwezxc")
    """T-Bank: success after a 3-D Secure challenge; the ACS code is ``1qwezxc``."""
    TBANK_3DS_ATTEMPT = TestCard("2201382000000039", "12/30", "123", Behaviour.APPROVE)
    """T-Bank: success, card not enrolled (attempt)."""
    TBANK_3DS_REJECTED = TestCard("2201382000000005", "12/30", "123", Behaviour.DECLINE)
    """T-Bank: declined, the issuer rejected the authentication."""
    TBANK_DEBIT_ERROR = TestCard("2201382000000021", "12/30", "123", Behaviour.DECLINE)
    """T-Bank: declined, error on debit."""
    TBANK_INSUFFICIENT_FUNDS = TestCard("2201382000000831", "12/30", "123", Behaviour.INSUFFICIENT_FUNDS)
    """T-Bank: declined for insufficient funds (T-Bank code 1051)."""
    TBANK_MOCK_SUCCESS = TestCard("2201382000000591", "12/30", "123", Behaviour.APPROVE)
    """T-Bank: the mock service's success card."""


_BY_PAN: Dict[str, Behaviour] = {
    card.pan: card.behaviour
    for card in (TestCards.SUCCESS, TestCards.SUCCESS_3DS, TestCards.DECLINED,
                 TestCards.INSUFFICIENT_FUNDS, TestCards.RECURRING_INSUFFICIENT, TestCards.RECOVERING_FUNDS,
                 TestCards.RECURRING_STOLEN, TestCards.RECURRING_EXPIRED, TestCards.RECURRING_MERCHANT,
                 TestCards.TBANK_SUCCESS,
                 TestCards.TBANK_3DS_FRICTIONLESS, TestCards.TBANK_3DS_CHALLENGE, TestCards.TBANK_3DS_ATTEMPT,
                 TestCards.TBANK_3DS_REJECTED, TestCards.TBANK_DEBIT_ERROR, TestCards.TBANK_INSUFFICIENT_FUNDS,
                 TestCards.TBANK_MOCK_SUCCESS)
}
THREE_DS_CODE = "12345678"
ACS_CODES = (THREE_DS_CODE, "1qwezxc")
"""The one-time codes the sandbox ACS accepts (the RBS one and T-Bank's static passcode)."""


def luhn_ok(pan: str) -> bool:
    """True when ``pan`` is 13–19 digits with a valid Luhn check digit."""
    if not pan.isdigit() or not 13 <= len(pan) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(pan)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_behaviour(pan: str) -> Behaviour:
    """How a card number behaves: a known test card as listed, any other valid card approves."""
    return _BY_PAN.get(pan, Behaviour.APPROVE)
