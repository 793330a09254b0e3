"""The outcome of a payment scenario: :class:`ChargeOutcome` and :class:`ChargeResult`."""

from __future__ import annotations

import enum
from typing import Optional

import attr

from ..declines import Decline
from ..errors import OutcomeUnknown, PaymentDeclined
from ..models import BindingInfo, OrderDetails, OrderStatus

__all__ = ["ChargeOutcome", "ChargeResult", "NOT_FOUND", "NotFound", "outcome_of"]


class ChargeOutcome(enum.Enum):
    """Where a charge ended: paid, held (two-stage), declined, pending (payer) or unknown."""

    PAID = "paid"
    HELD = "held"
    DECLINED = "declined"
    PENDING = "pending"
    UNKNOWN = "unknown"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ChargeResult:
    """The outcome of a payment scenario, with the order as the gateway last described it.

    ``outcome`` is ``ChargeOutcome.UNKNOWN`` when the gateway could not be asked after
    an ambiguous step: reconcile later by ``order_number``; never treat it as failed.
    """

    order_number: str
    outcome: ChargeOutcome
    order_id: Optional[str] = None
    details: Optional[OrderDetails] = None
    action_code: Optional[int] = None
    message: Optional[str] = None
    form_url: Optional[str] = None
    sbp_request_key: Optional[str] = None
    """T-Bank SBP bind-and-pay: the ``RequestKey`` whose account binding the payment creates."""
    decline: Optional[Decline] = None
    """For a DECLINED outcome: what kind of decline it is (soft, hard, rebind, merchant), the
    gateway's code and text and a reason in plain words (see "Declines and retries" in the docs)."""

    @property
    def ok(self) -> bool:
        """True when the money is taken or held."""
        return self.outcome in (ChargeOutcome.PAID, ChargeOutcome.HELD)

    @property
    def binding(self) -> Optional[BindingInfo]:
        """The binding the payment created or used, when the gateway reported one."""
        return self.details.binding if self.details else None

    def payment_url(self) -> str:
        """The page to send the payer to (``form_url``; on T-Bank SBP, the QR payload), as a
        ``str`` a type checker accepts. Raises :class:`OutcomeUnknown` when there is none: the
        registration's answer was lost (run :meth:`~AutopayClient.start_first_payment` again
        with the same order number: the order is found, never registered twice) or the order
        is already past its payment page (see ``outcome``)."""
        if self.form_url is None:
            raise OutcomeUnknown(f"no payment page: outcome {self.outcome.value}"
                                 + (f" ({self.message})" if self.message else ""),
                                 order_number=self.order_number, order_id=self.order_id)
        return self.form_url

    def new_binding(self) -> BindingInfo:
        """The binding a paid first payment created, for a type checker as much as for people.
        Raises :class:`PaymentDeclined` or :class:`OutcomeUnknown` (see :meth:`raise_for_outcome`)
        unless paid or held, and :class:`OutcomeUnknown` when the gateway named no binding (the
        first payment was started without ``client_id``; on T-Bank give ``client_id`` to
        :meth:`~AutopayClient.finish_first_payment`)."""
        self.raise_for_outcome()
        if self.binding is None or not self.binding.binding_id:
            raise OutcomeUnknown("paid, but the gateway named no binding (was client_id given?)",
                                 order_number=self.order_number, order_id=self.order_id)
        return self.binding

    def raise_for_outcome(self) -> "ChargeResult":
        """Raise :class:`PaymentDeclined` or :class:`OutcomeUnknown` unless paid or held."""
        detail = f": {self.message}" if self.message else ""
        if self.outcome is ChargeOutcome.DECLINED:
            raise PaymentDeclined(f"payment declined{detail}", action_code=self.action_code,
                                  order_number=self.order_number, order_id=self.order_id, decline=self.decline)
        if self.outcome in (ChargeOutcome.UNKNOWN, ChargeOutcome.PENDING):
            raise OutcomeUnknown(f"payment outcome {self.outcome.value}{detail}",
                                 order_number=self.order_number, order_id=self.order_id)
        return self


class NotFound:
    """Marker: the gateway said there is no such order."""


NOT_FOUND = NotFound()


def outcome_of(details: OrderDetails) -> ChargeOutcome:
    """The scenario's outcome of an order in this state (held, paid, declined or still pending)."""
    if details.status is OrderStatus.APPROVED:
        return ChargeOutcome.HELD
    if details.status.is_paid or details.status in (OrderStatus.REFUNDED, OrderStatus.REVERSED):
        return ChargeOutcome.PAID
    if details.status is OrderStatus.DECLINED:
        return ChargeOutcome.DECLINED
    return ChargeOutcome.PENDING


