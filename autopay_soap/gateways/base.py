"""The gateway interface every transport implements, and helpers they share.

A gateway speaks one protocol and returns :mod:`autopay_soap.models`; it validates its
arguments before sending and raises from :mod:`autopay_soap.errors`. It does not retry:
reconciliation belongs to the client, which knows what a step means.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol, Tuple, runtime_checkable

from ..models import Binding, OperationResult, OrderDetails, PaymentStep, RegisteredOrder
from ..money import Money

__all__ = ["Gateway", "make_binding", "normalise_error_code"]


def normalise_error_code(value: Any) -> int:
    """The gateways' ``errorCode`` as an int: absent, ``""``, ``"0"`` and ``0`` all mean 0.

    A value that is not a number becomes -1 (an unmapped error).
    """
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return -1


def make_binding(binding_id: str, client_id: Optional[str], masked_pan: Optional[str],
                 expiry: Optional[str]) -> Binding:
    """A :class:`Binding` as a gateway lists it; active while its ``YYYYMM`` expiry has not passed."""
    import datetime as dt

    this_month = dt.date.today().strftime("%Y%m")
    return Binding(binding_id, client_id, masked_pan, expiry, active=not expiry or expiry >= this_month)


@runtime_checkable
class Gateway(Protocol):
    """What the client needs from a transport. All amounts are :class:`Money`."""

    name: str

    def register_order(
        self,
        order_number: str,
        amount: Money,
        return_url: str,
        *,
        two_stage: bool = False,
        client_id: Optional[str] = None,
        auto_payment: bool = False,
        binding_id: Optional[str] = None,
        fail_url: Optional[str] = None,
        description: Optional[str] = None,
        language: Optional[str] = None,
        session_timeout_secs: Optional[int] = None,
        email: Optional[str] = None,
    ) -> RegisteredOrder:
        """Register an order (``registerOrder`` / ``registerOrderPreAuth`` when two-stage)."""
        ...

    def pay_with_binding(
        self, order_id: str, binding_id: str, *, ip: Optional[str] = None, cvc: Optional[str] = None,
        language: Optional[str] = None, email: Optional[str] = None,
    ) -> PaymentStep:
        """Pay a registered order with a saved card (``paymentOrderBinding``)."""
        ...

    def finish_3ds(self, order_id: str, pa_res: str) -> Optional[str]:
        """Complete 3-D Secure with the ACS's ``PaRes``; returns the return URL."""
        ...

    def deposit(self, order_id: str, amount: Optional[Money] = None) -> OperationResult:
        """Capture a hold, in full (``amount=None``) or in part."""
        ...

    def reverse(self, order_id: str) -> OperationResult:
        """Cancel a hold or a same-day payment. Only once per order."""
        ...

    def refund(
        self, order_id: str, amount: Money, *, expected_deposited: Optional[Money] = None,
        external_refund_id: Optional[str] = None,
    ) -> OperationResult:
        """Refund part or all of a deposited order."""
        ...

    def order_status(self, *, order_id: Optional[str] = None, order_number: Optional[str] = None) -> OrderDetails:
        """Look an order up by gateway id or by the merchant's order number."""
        ...

    def bindings(self, client_id: str, *, show_expired: bool = False) -> Tuple[Binding, ...]:
        """The saved cards of a client (an empty tuple when there are none)."""
        ...

    def bind_card(self, binding_id: str) -> OperationResult:
        """Re-activate a binding."""
        ...

    def unbind_card(self, binding_id: str) -> OperationResult:
        """Deactivate a binding: it can no longer be charged."""
        ...

    def extend_binding(self, binding_id: str, new_expiry: str) -> OperationResult:
        """Set a binding's expiry (``YYYYMM``)."""
        ...

    def close(self) -> None:
        """Release the HTTP session."""
        ...
