"""The merchant cabinet of the sandbox: what a bank's staff or the merchant's accountant does by
hand in the bank's web cabinet, outside any API client — a refund, a reversal, a charge that
never went through autopay_soap. Tests and demos use it to make the differences that
reconciliation (:mod:`autopay_soap.reconcile`) must find.

Every action goes through the engine, so the ledger, the callbacks, the status look-ups and the
order lists of every transport see it as they see an API call's work.
"""

from __future__ import annotations

from typing import Callable, Optional

from .engine import Engine, Order

__all__ = ["MerchantCabinet"]


class MerchantCabinet:
    """Payer-less, client-less actions on the sandbox's orders (``sandbox.cabinet``).

    :param engine: the sandbox's engine; :param after: called after each action (the sandbox
        writes its state file there).
    """

    def __init__(self, engine: Engine, after: Callable[[], None]) -> None:
        self._engine = engine
        self._after = after

    def _done(self, order: Order) -> Order:
        self._after()
        return order

    def refund(self, order_number: str, amount: int = 0) -> Order:
        """Refund ``amount`` minor units (0: all that is left) of the order numbered ``order_number``."""
        order = self._engine.order(order_number=order_number)
        return self._done(self._engine.refund(order.order_id, amount))

    def reverse(self, order_number: str) -> Order:
        """Reverse (cancel) the order numbered ``order_number``."""
        order = self._engine.order(order_number=order_number)
        return self._done(self._engine.reverse(order.order_id))

    def charge(self, order_number: str, amount: int, *, currency: str = "643", two_stage: bool = False,
               masked_pan: str = "411111**1111", description: Optional[str] = None) -> Order:
        """A paid order made in the cabinet (a manual charge by card), no API client involved."""
        order = self._engine.register(order_number=order_number, amount=amount, currency=currency,
                                      return_url="https://cabinet.invalid/", two_stage=two_stage,
                                      description=description or "charged in the merchant cabinet")
        self._engine.pay_external(order.order_id, masked_pan)
        return self._done(self._engine.order(order.order_id))
