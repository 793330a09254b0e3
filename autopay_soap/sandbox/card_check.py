"""What the sandbox does when a card is saved without a payment: RBS ``features=VERIFY`` and
T-Bank ``AddCard`` with each ``CheckType``.

One table, read by the engine when the payer submits the card (and again after 3-D Secure):

============ ================================ ============================= ==================
check        card that needs 3-D Secure        other cards                   RebillId (T-Bank)
============ ================================ ============================= ==================
``VERIFY``   3-D Secure, then a zero hold      a zero hold, released          (RBS: a binding)
``NO``       saved, no check                   saved, no check                none
``HOLD``     a zero hold, released             a zero hold, released          yes
``3DS``      3-D Secure, then a zero charge    refused: not bound             yes
``3DSHOLD``  3-D Secure                        a zero hold, released          yes
============ ================================ ============================= ==================

A zero hold is in the ledger as a ``hold`` and a ``reverse`` of 0: no money moves. A card the
issuer declines (``Behaviour.DECLINE``) is refused by every check but ``NO``; a card
with no money left passes a zero-amount check (its later autopayments are declined).
"""

from __future__ import annotations

import enum

from .cards import Behaviour

__all__ = ["CHECKS", "CheckStep", "first_step", "holds_after_3ds"]

CHECKS = ("VERIFY", "NO", "HOLD", "3DS", "3DSHOLD")


class CheckStep(enum.Enum):
    """The next thing a card check does with the submitted card."""

    SAVE = "save"
    SAVE_AFTER_HOLD = "save_after_hold"
    THREE_DS = "three_ds"
    DECLINE = "decline"
    NOT_3DS = "not_3ds"


def first_step(check: str, behaviour: Behaviour) -> CheckStep:
    """What the check ``check`` does first with a card of ``behaviour``."""
    if check == "NO":
        return CheckStep.SAVE
    if behaviour is Behaviour.DECLINE:
        return CheckStep.DECLINE
    three_ds = behaviour is Behaviour.APPROVE_3DS
    if check == "HOLD":
        return CheckStep.SAVE_AFTER_HOLD
    if check == "3DS" and not three_ds:
        return CheckStep.NOT_3DS
    return CheckStep.THREE_DS if three_ds else CheckStep.SAVE_AFTER_HOLD


def holds_after_3ds(check: str) -> bool:
    """Whether a check makes a zero hold (or charge) once 3-D Secure passed."""
    return check in ("VERIFY", "3DS")
