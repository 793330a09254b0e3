"""Capture, reverse and refund (the client's scenarios on money already taken)."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Callable, Optional, cast

import attr

from ..errors import BadResponse, InvalidOrderState, OrderNotFound, OutcomeUnknown
from ..models import OperationResult, OrderDetails, OrderStatus
from ..money import Money
from ..receipts import Receipt, check_receipt_for
from .results import NOT_FOUND
from .steps import AGAIN, GaveUp, ScenarioSteps, Sending, scenario

__all__ = ["MoneyBack"]

log = logging.getLogger("autopay_soap.client")


class MoneyBack(ScenarioSteps):
    """Capture, reverse and refund, each checking the order's state before and after an ambiguous
    answer (rule 4 of :mod:`autopay_soap.client`): a base of :class:`~autopay_soap.client.AutopayClient`."""

    __slots__ = ()

    @scenario
    def capture(self, order_id: str, amount: Optional[Money] = None, *,
                receipt: Optional[Receipt] = None) -> OrderDetails:
        """Deposit a hold (all of it by default). Checks the state first and after doubt.

        ``receipt``: the lines captured (:meth:`Receipt.part <autopay_soap.receipts.Receipt.part>`
        of the first payment's receipt for a part); ``amount`` defaults to their total."""
        cart = check_receipt_for(receipt, amount, "the amount captured")
        if cart is not None and amount is None:
            amount = cart.total  # the receipt says what is captured
        return self._money_step(order_id, lambda d: d.status is OrderStatus.APPROVED,
                                lambda d: d.status is OrderStatus.DEPOSITED,
                                lambda: self.gateway.deposit(order_id, amount, receipt=receipt), "capture")

    @scenario
    def reverse(self, order_id: str) -> OrderDetails:
        """Cancel a hold (or, on RBS, a same-day payment). Checks the state first and after doubt."""
        reversible = (OrderStatus.APPROVED, OrderStatus.DEPOSITED) if self.gateway.features.reverse_after_capture \
            else (OrderStatus.APPROVED,)
        return self._money_step(order_id, lambda d: d.status in reversible,
                                lambda d: d.status is OrderStatus.REVERSED,
                                lambda: self.gateway.reverse(order_id), "reverse")

    @scenario
    def refund(self, order_id: str, amount: Money, *, refund_id: Optional[str] = None,
               receipt: Optional[Receipt] = None) -> OrderDetails:
        """Refund part or all of a deposited order, at most once per call.

        ``receipt``: the lines refunded, adding up to ``amount`` (a partial refund on a terminal
        that fiscalises; a full refund needs none: the gateway uses the stored cart).

        The refund is sent with the amount still deposited as ``expectedDepositedAmount``,
        so a retry after an ambiguous answer cannot refund twice; ``refund_id`` adds
        ``externalRefundId`` where the transport has it (REST).
        """
        check_receipt_for(receipt, amount, "the amount refunded")
        if self.gateway.features.refund_by_key:
            return self._refund_by_key(order_id, amount, refund_id or str(uuid.uuid4()), receipt)
        before = self._must_lookup(order_id)
        nothing = amount.zero()
        deposited, refunded = before.deposited or nothing, before.refunded or nothing
        if refunded > deposited:
            raise BadResponse(f"refund: the gateway says {refunded} refunded of {deposited} deposited",
                              operation="refund", order_id=order_id)
        expected = deposited - refunded
        if amount > expected and before.status in (OrderStatus.DEPOSITED, OrderStatus.REFUNDED):
            raise InvalidOrderState(f"refund: {amount} is more than the {expected} still deposited",
                                    operation="refund", order_id=order_id)
        target = refunded + amount
        kwargs: dict = {"expected_deposited": expected, "receipt": receipt}
        if refund_id is not None and self.gateway.features.external_refund_id:  # not in SOAP's refundOrder
            kwargs["external_refund_id"] = refund_id
        return self._money_step(
            order_id, lambda d: d.status in (OrderStatus.DEPOSITED, OrderStatus.REFUNDED),
            lambda d: (d.refunded or nothing) >= target,
            lambda: self.gateway.refund(order_id, amount, **kwargs), "refund", first=before)

    def _refund_by_key(self, order_id: str, amount: Money, key: str,
                       receipt: Optional[Receipt] = None) -> OrderDetails:
        """T-Bank: Cancel with ``ExternalRequestId``; a repeated key never refunds twice."""
        before = self._must_lookup(order_id)
        if before.status is not OrderStatus.DEPOSITED:
            raise InvalidOrderState(f"refund: not possible in status {before.gateway_status or before.status.name}",
                                    operation="refund", order_id=order_id)

        def settle(sending: Sending) -> Any:
            if sending.error is None:
                return sending.answer
            log.info("refund of %s: outcome unknown; sending again with the same key", order_id)
            return AGAIN

        result = self._reconcile(
            lambda: self.gateway.refund(order_id, amount, external_refund_id=key, receipt=receipt), settle)
        if isinstance(result, GaveUp):
            raise OutcomeUnknown(f"refund: no answer after {self.retry.attempts} attempts; call again with "
                                 f"refund_id={key!r}", operation="refund", order_id=order_id)
        after = self._must_lookup(order_id)
        if result.remaining is not None:
            after = attr.evolve(after, deposited=after.amount, refunded=after.amount - result.remaining)
        return after

    def _must_lookup(self, order_id: str) -> OrderDetails:
        found = self._lookup(order_id=order_id)
        if isinstance(found, OrderDetails):
            return found
        if found is NOT_FOUND:
            raise OrderNotFound("no such order", order_id=order_id)
        raise OutcomeUnknown("could not read the order's state", order_id=order_id)

    def _money_step(self, order_id: str, allowed: Callable[[OrderDetails], bool],
                    done: Callable[[OrderDetails], bool], call: Callable[[], OperationResult], name: str,
                    first: Optional[OrderDetails] = None) -> OrderDetails:
        details = first or self._must_lookup(order_id)
        if done(details):
            return details
        if not allowed(details):
            raise InvalidOrderState(f"{name}: not possible in status {details.status.name}", operation=name,
                                    order_id=order_id)

        def settle(_sending: Sending) -> Any:
            now = self._must_lookup(order_id)
            if done(now):
                return now
            if not allowed(now):
                raise InvalidOrderState(f"{name}: not possible in status {now.status.name}", operation=name,
                                        order_id=order_id)
            return AGAIN  # code 7 may be a system error as much as a wrong state: send again

        finished = self._reconcile(call, settle, settles=(InvalidOrderState,))
        if not isinstance(finished, GaveUp):
            return cast(OrderDetails, finished)
        if finished.last_reached is not None and isinstance(finished.last_reached.error, InvalidOrderState):
            raise finished.last_reached.error
        raise OutcomeUnknown(f"{name}: still not done after {self.retry.attempts} attempts", operation=name,
                             order_id=order_id)
