"""Who initiates a card operation, in one vocabulary for every gateway, and how each gateway says it.

An :class:`Initiator` is given to :meth:`~autopay_soap.client.AutopayClient.start_first_payment`,
:meth:`~autopay_soap.client.AutopayClient.start_card_save` or
:meth:`~autopay_soap.client.AutopayClient.autopay`; it is checked before anything is sent and
mapped to the gateway's own field:

================================= ==================== ===================================== ============
initiator                         T-Bank               RBS ``tii`` (profiles that take it)   RBS legacy
================================= ==================== ===================================== ============
``CUSTOMER_SAVES_CARD``           ``1`` (Recurrent=Y)  ``CI``, set by the payer's page       as is
``CUSTOMER_STARTS_RECURRING``     ``1`` (Recurrent=Y)  ``RI`` (page) + recurring terms       + terms
``CUSTOMER_STARTS_INSTALMENTS``   ``1`` (Recurrent=Y)  ``II`` (page) + recurring terms       + terms
``CUSTOMER_WITH_SAVED_CARD``      ``2``                ``F``                                 refused
``MERCHANT_UNSCHEDULED``          ``R``                ``U``                                 AUTO_PAYMENT
``MERCHANT_RECURRING``            ``R``                ``R``                                 AUTO_PAYMENT
``MERCHANT_INSTALMENT``           ``I``                ``I``                                 AUTO_PAYMENT
================================= ==================== ===================================== ============

The first three start a chain (a first payment or a saved card); the last four charge a saved
card. On RBS the merchant-initiated ``U``, ``R`` and ``I`` are one-stage only. A gateway's own
codes are accepted too: T-Bank's ``0``, ``1``, ``2``, ``R``, ``I`` (see
:mod:`autopay_soap.gateways.tbank_initiator`) and RBS's ``F``, ``U``, ``R``, ``I``; any other value
is refused naming ``initiator``.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Dict, Optional

import attr

from .errors import ValidationError

__all__ = ["CHAIN_STARTS", "RBS_MERCHANT_TII", "RBS_TII_CODES", "Initiator", "RecurringTerms", "needs_terms",
           "rbs_options", "rbs_tii", "starts_chain", "tbank_code"]


class Initiator(str, enum.Enum):
    """Who initiates a card operation and whether a stored card is used or stored."""

    CUSTOMER_SAVES_CARD = "customer_saves_card"
    """The customer pays (or saves a card) and the card is stored for later charges."""
    CUSTOMER_STARTS_RECURRING = "customer_starts_recurring"
    """As CUSTOMER_SAVES_CARD, for a schedule of charges the customer agreed (a subscription)."""
    CUSTOMER_STARTS_INSTALMENTS = "customer_starts_instalments"
    """As CUSTOMER_SAVES_CARD, for instalments the customer agreed."""
    CUSTOMER_WITH_SAVED_CARD = "customer_with_saved_card"
    """The customer is present and pays with the card stored earlier (one click)."""
    MERCHANT_UNSCHEDULED = "merchant_unscheduled"
    """The merchant charges a stored card when a charge is due, with no fixed schedule."""
    MERCHANT_RECURRING = "merchant_recurring"
    """The merchant charges a stored card on the agreed schedule (a subscription)."""
    MERCHANT_INSTALMENT = "merchant_instalment"
    """The merchant charges a stored card for an agreed instalment."""


CHAIN_STARTS = (Initiator.CUSTOMER_SAVES_CARD, Initiator.CUSTOMER_STARTS_RECURRING,
                Initiator.CUSTOMER_STARTS_INSTALMENTS)
"""The initiators of a first payment or a saved card."""
_NEEDS_TERMS = (Initiator.CUSTOMER_STARTS_RECURRING, Initiator.CUSTOMER_STARTS_INSTALMENTS)
_TBANK = {Initiator.CUSTOMER_SAVES_CARD: "1", Initiator.CUSTOMER_STARTS_RECURRING: "1",
          Initiator.CUSTOMER_STARTS_INSTALMENTS: "1", Initiator.CUSTOMER_WITH_SAVED_CARD: "2",
          Initiator.MERCHANT_UNSCHEDULED: "R", Initiator.MERCHANT_RECURRING: "R", Initiator.MERCHANT_INSTALMENT: "I"}
_RBS_TII = {Initiator.CUSTOMER_WITH_SAVED_CARD: "F", Initiator.MERCHANT_UNSCHEDULED: "U",
            Initiator.MERCHANT_RECURRING: "R", Initiator.MERCHANT_INSTALMENT: "I"}
RBS_TII_CODES = ("F", "U", "R", "I")
"""The ``tii`` values of a payment by binding (the chain-starting ``CI``, ``RI``, ``II`` are set by
the payer's page, never by this client)."""
RBS_MERCHANT_TII = ("U", "R", "I")
"""Merchant-initiated: one-stage only."""


def _member(value: Any) -> Optional[Initiator]:
    if isinstance(value, Initiator):
        return value
    if isinstance(value, str):
        try:
            return Initiator(value)
        except ValueError:
            return None
    return None


def starts_chain(value: Any) -> bool:
    """True for an initiator that stores a card (a first payment, a saved card)."""
    return _member(value) in CHAIN_STARTS


def needs_terms(value: Any) -> bool:
    """True for an initiator that starts a schedule (recurring terms required on RBS)."""
    return _member(value) in _NEEDS_TERMS


def tbank_code(value: Any) -> Any:
    """T-Bank's ``OperationInitiatorType`` of an :class:`Initiator`; any other value as given
    (T-Bank's own codes are checked by :func:`~autopay_soap.gateways.tbank_initiator.check_initiator`)."""
    member = _member(value)
    return _TBANK[member] if member is not None else value


def rbs_tii(value: Any) -> str:
    """RBS's ``tii`` of a payment by binding for an initiator (or an RBS code ``F``/``U``/``R``/``I``).

    Raises :class:`ValidationError` naming ``initiator`` for a chain-starting initiator (the
    payer's page sets ``CI``/``RI``/``II``) and for a value that is no initiator at all.
    """
    member = _member(value)
    if member is not None:
        if member in CHAIN_STARTS:
            raise ValidationError(f"initiator: {member.name} starts a chain (a first payment or a saved card); "
                                  "a charge of a saved card is CUSTOMER_WITH_SAVED_CARD or MERCHANT_*",
                                  field="initiator")
        return _RBS_TII[member]
    if isinstance(value, str) and value in RBS_TII_CODES:
        return value
    shown = value if isinstance(value, str) and len(value) <= 40 else type(value).__name__
    raise ValidationError(f"initiator: {shown!r} is not an initiator; use an Initiator or one of RBS's tii codes "
                          "F, U, R, I", field="initiator")


def rbs_options(initiator: Any, *, tii_mode: str, first: bool, two_stage: bool,
                recurring: Optional["RecurringTerms"]) -> Dict[str, Any]:
    """What an RBS registration (``recurring``) and payment by binding (``tii``) carry for an
    initiator on a gateway whose ``tii_mode`` is ``none``, ``optional`` or ``required``; a
    :class:`ValidationError` naming ``initiator``, ``two_stage`` or ``recurring`` for what cannot be
    said (see the table of this module)."""
    options: Dict[str, Any] = {}
    if first:
        if initiator is not None and not starts_chain(initiator):
            raise ValidationError("initiator: a first payment starts a chain; use CUSTOMER_SAVES_CARD, "
                                  "CUSTOMER_STARTS_RECURRING or CUSTOMER_STARTS_INSTALMENTS", field="initiator")
        if recurring is None and needs_terms(initiator):
            raise ValidationError(f"recurring: {Initiator(initiator).name} needs the chain's RecurringTerms "
                                  "(recurringFrequency, recurringExpiry)", field="recurring")
        if recurring is not None:
            options["recurring"] = recurring
        return options
    if initiator is None and tii_mode != "required":
        return options
    code = rbs_tii(Initiator.MERCHANT_UNSCHEDULED if initiator is None else initiator)
    if tii_mode == "none":
        if code not in RBS_MERCHANT_TII:
            raise ValidationError("initiator: this profile's gateway takes no tii, and its AUTO_PAYMENT charge says "
                                  "merchant-initiated: a customer-initiated charge with a saved card cannot be "
                                  "signalled (set rbs_tii where the gateway takes tii)", field="initiator")
        return options  # features=AUTO_PAYMENT is the signal
    if code in RBS_MERCHANT_TII and two_stage:
        raise ValidationError(f"two_stage: tii {code} (merchant-initiated) is for one-stage payments only",
                              field="two_stage")
    options["tii"] = code
    return options


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RecurringTerms:
    """The terms of a chain of merchant-initiated charges, sent when the chain starts (3-D Secure 2:
    issuers accept later charges within them): RBS ``jsonParams`` ``recurringFrequency`` (the
    fewest days between charges, 1..9999) and ``recurringExpiry`` (the last day, ``YYYYMMDD``)."""

    frequency_days: int
    expiry: dt.date

    def __attrs_post_init__(self) -> None:
        days = self.frequency_days
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 9999:
            raise ValidationError("recurring: frequency_days must be a whole number of days from 1 to 9999",
                                  field="recurring")
        if not isinstance(self.expiry, dt.date) or isinstance(self.expiry, dt.datetime):
            raise ValidationError("recurring: expiry must be a datetime.date (the last day of the chain)",
                                  field="recurring")

    def check_future(self, today: dt.date) -> "RecurringTerms":
        """This, if its expiry is not before ``today``; else a ValidationError naming ``recurring``."""
        if self.expiry < today:
            raise ValidationError(f"recurring: expiry {self.expiry.isoformat()} is in the past", field="recurring")
        return self

    def json_params(self) -> Dict[str, str]:
        """The ``jsonParams`` keys (REST) and ``params`` names (SOAP) of these terms."""
        return {"recurringFrequency": str(self.frequency_days), "recurringExpiry": self.expiry.strftime("%Y%m%d")}
