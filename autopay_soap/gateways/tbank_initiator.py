"""T-Bank's operation initiator types and the rules of which scenario, terminal and ``Recurrent``
or ``RebillId`` each allows (T-Bank answers 1125 or 1126 otherwise: this is checked before a
request leaves)."""

from __future__ import annotations

import enum
from typing import Any, Optional

from ..errors import ValidationError

__all__ = ["TERMINAL_TYPES", "InitiatorType", "check_initiator"]


class InitiatorType(str, enum.Enum):
    """``DATA.OperationInitiatorType``: who starts a card operation and how the card is given."""

    CIT_CREDENTIAL_NOT_CAPTURED = "0"
    """A plain payment by the customer; the card is not saved."""
    CIT_CREDENTIAL_CAPTURED = "1"
    """The parent payment: the customer pays and the card is saved (``Recurrent=Y``)."""
    CIT_CREDENTIAL_ON_FILE = "2"
    """The customer pays with a saved card (``Charge`` with ``RebillId``)."""
    MIT_RECURRING = "R"
    """The merchant charges a saved card without a schedule (utilities, telecom)."""
    MIT_INSTALLMENT = "I"
    """The merchant charges a saved card on a schedule the customer knows."""


_INITIATOR_NAMES = {
    "0": "CIT Credential-Not-Captured", "1": "CIT Credential-Captured", "2": "CIT Credential-on-File",
    "R": "MIT COF Recurring", "I": "MIT COF Installment",
}
_CHARGED = ("2", "R", "I")
TERMINAL_TYPES = ("ECOM", "AFT")


def check_initiator(initiator: Any, *, recurrent: bool, rebill: Optional[bool] = None,
                    terminal_type: str = "ECOM") -> str:
    """Check an initiator type against the compatibility table; return its value.

    :param recurrent: whether the Init carries ``Recurrent=Y``.
    :param rebill: whether a ``Charge`` with a ``RebillId`` follows (None: not known yet).
    :param terminal_type: ``ECOM`` or ``AFT``.

    Raises :class:`ValidationError` (field ``initiator``) saying which rule is broken, where
    the gateway would answer 1125 (unknown value) or 1126 (incompatible combination).
    """
    value = initiator.value if isinstance(initiator, InitiatorType) else initiator
    if value not in _INITIATOR_NAMES:
        raise ValidationError(
            f"initiator: {value!r} is not an operation initiator type; use one of 0, 1, 2, R, I "
            "(the gateway would answer 1125)", field="initiator")
    name = f"{value} ({_INITIATOR_NAMES[value]})"
    if value == "1" and not recurrent:
        raise ValidationError(f"initiator: {name} is the parent payment and needs Recurrent=Y "
                              "(rule: type 1 ⇔ Recurrent=Y; the gateway would answer 1126)", field="initiator")
    if value != "1" and recurrent:
        raise ValidationError(f"initiator: {name} forbids Recurrent=Y, which only type 1 (the parent payment) "
                              "carries (the gateway would answer 1126)", field="initiator")
    if rebill is True and value not in _CHARGED:
        raise ValidationError(f"initiator: {name} cannot be charged with a RebillId; a Charge needs type 2, R "
                              "or I (the gateway would answer 1126)", field="initiator")
    if rebill is False and value in _CHARGED:
        raise ValidationError(f"initiator: {name} needs a RebillId in Charge (the gateway would answer 1126)",
                              field="initiator")
    if terminal_type not in TERMINAL_TYPES:
        raise ValidationError(f"terminal_type: must be ECOM or AFT, got {terminal_type!r}", field="terminal_type")
    if terminal_type == "AFT" and value in ("2", "R"):
        raise ValidationError(f"initiator: {name} is forbidden on an AFT terminal ("
                              "the gateway would answer 1126)", field="initiator")
    if terminal_type == "ECOM" and value == "I":
        raise ValidationError(f"initiator: {name} is forbidden on an ECOM terminal ("
                              "the gateway would answer 1126)", field="initiator")
    return str(value)
