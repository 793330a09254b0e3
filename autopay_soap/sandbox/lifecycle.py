"""An order's life in no gateway's words: the transitions, the events and the refusals.

The engine (:mod:`.engine`) moves an order only through ``TRANSITIONS``, one row a step,
h11-style: the statuses a step may start from, the status it ends in, and the
:class:`EventKind` it announces. It refuses with a :class:`Refusal`; each front end maps
refusals and events to its own protocol (``sandbox.rbs_words`` for RBS, ``sandbox.tbank.rules``
for T-Bank), so the engine never speaks a gateway's error codes or callback names.

::

    CREATED ──HOLD──► APPROVED ──DEPOSIT──► DEPOSITED ──REFUND──► DEPOSITED / REFUNDED
       │    ──CHARGE─────────────────────► DEPOSITED
       │    ──START_3DS──► ACS_AUTH ──HOLD / CHARGE / DECLINE──► …
       │    ──DECLINE / EXPIRE──► DECLINED
    APPROVED, DEPOSITED ──REVERSE──► REVERSED
       CREATED, ACS_AUTH ──VERIFY──► REVERSED   (a card check: the binding is made, no money kept)
"""

from __future__ import annotations

import enum
from typing import Dict, FrozenSet, Optional

import attr

from ..models import OrderStatus

__all__ = ["TRANSITIONS", "EventKind", "Refusal", "Step", "Transition"]


class Refusal(enum.Enum):
    """Why the engine said no; a front end turns it into its gateway's code."""

    NO_ORDER_KEY = "neither an order id nor an order number was given"
    ORDER_NOT_FOUND = "no such order"
    NUMBER_USED = "the order number is taken by another order"
    MISSING_FIELD = "a required field is empty"
    BAD_FIELD = "a field has a wrong value"
    UNKNOWN_CURRENCY = "the currency is not one the terminal takes"
    FEATURE_CONFLICT = "features that cannot go together"
    BINDING_NOT_FOUND = "no such binding, or not in the state asked"
    WRONG_STATE = "the order is not in a state that allows this"
    LIMIT_EXCEEDED = "more than the gateway allows in one request (a page above its maximum size)"


class EventKind(enum.Enum):
    """What happened to an order, for the notifications each front end sends."""

    HELD = "held"
    CHARGED = "charged"  # one-stage: held and deposited at once
    DEPOSITED = "deposited"
    DECLINED = "declined"
    EXPIRED = "expired"
    REVERSED = "reversed"
    REFUNDED = "refunded"  # in part or in full: the order's status tells which
    BINDING_CREATED = "binding_created"

    @property
    def success(self) -> bool:
        """False for the kinds that end an order unpaid."""
        return self not in (EventKind.DECLINED, EventKind.EXPIRED)


class Step(enum.Enum):
    """A move of an order from one status to another (a row of ``TRANSITIONS``)."""

    START_3DS = "start_3ds"
    HOLD = "hold"
    CHARGE = "charge"
    DECLINE = "decline"
    EXPIRE = "expire"
    DEPOSIT = "deposit"
    REVERSE = "reverse"
    REFUND_PART = "refund_part"
    REFUND_ALL = "refund_all"
    VERIFY = "verify"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Transition:
    """One row: from which statuses, to which, the event announced and the refusal's text."""

    sources: FrozenSet[OrderStatus]
    target: OrderStatus
    event: Optional[EventKind]
    refused: str


_UNPAID = frozenset({OrderStatus.CREATED, OrderStatus.ACS_AUTH})

TRANSITIONS: Dict[Step, Transition] = {
    Step.START_3DS: Transition(_UNPAID, OrderStatus.ACS_AUTH, None, "Order is already paid"),
    Step.HOLD: Transition(_UNPAID, OrderStatus.APPROVED, EventKind.HELD, "Order is already paid"),
    Step.CHARGE: Transition(_UNPAID, OrderStatus.DEPOSITED, EventKind.CHARGED, "Order is already paid"),
    Step.DECLINE: Transition(_UNPAID, OrderStatus.DECLINED, EventKind.DECLINED,
                             "Operation is impossible for the current order state"),
    Step.EXPIRE: Transition(_UNPAID, OrderStatus.DECLINED, EventKind.EXPIRED, "Order is not waiting for payment"),
    Step.DEPOSIT: Transition(frozenset({OrderStatus.APPROVED}), OrderStatus.DEPOSITED, EventKind.DEPOSITED,
                             "Payment must be in the correct state (approved)"),
    Step.REVERSE: Transition(frozenset({OrderStatus.APPROVED, OrderStatus.DEPOSITED}), OrderStatus.REVERSED,
                             EventKind.REVERSED, "Operation is impossible for the current order state"),
    Step.REFUND_PART: Transition(frozenset({OrderStatus.DEPOSITED}), OrderStatus.DEPOSITED, EventKind.REFUNDED,
                                 "Payment must be in the correct state (deposited)"),
    Step.REFUND_ALL: Transition(frozenset({OrderStatus.DEPOSITED}), OrderStatus.REFUNDED, EventKind.REFUNDED,
                                "Payment must be in the correct state (deposited)"),
    Step.VERIFY: Transition(_UNPAID, OrderStatus.REVERSED, EventKind.REVERSED, "Order is already paid"),
}
