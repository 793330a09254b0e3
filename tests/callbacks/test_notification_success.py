"""After confirmation, ``success`` means "paid now" on both gateways (issue 25, item 9): a replayed
notification of a payment refunded, reversed or rejected since reaches the handler unpaid."""

import pytest

from autopay_soap import Money
from autopay_soap.callbacks import (
    RbsNotification,
    TBankPaymentNotification,
    confirm_rbs_callback,
    confirm_tbank_notification,
)
from autopay_soap.codes.tbank import STATUS_MAP as TBANK_STATUSES
from autopay_soap.models import OrderDetails, OrderStatus


class NowGateway:
    """A gateway whose order is in ``status`` now (what GetState / getOrderStatusExtended says)."""

    def __init__(self, status, word=None):
        self.status, self.word = status, word

    def order_status(self, order_id=None, order_number=None):
        return OrderDetails(order_number="SUB-1", status=self.status, amount=Money.from_minor(49900, "RUB"),
                            order_id="p-1", gateway_status=self.word)


PAID_NOW = {"AUTHORIZED", "PARTIAL_REVERSED", "REVERSING", "CONFIRMING", "CONFIRMED", "COMPLETING", "COMPLETED",
            "REFUNDING", "ASYNC_REFUNDING", "PARTIAL_REFUNDED"}


@pytest.mark.parametrize("word", sorted(TBANK_STATUSES))
def test_a_confirmed_tbank_notification_is_a_success_only_while_paid(word):
    claimed = TBankPaymentNotification("T", "SUB-1", "p-1", "CONFIRMED", True, amount=49900)
    confirmed = confirm_tbank_notification(claimed, NowGateway(TBANK_STATUSES[word], word))
    assert confirmed.confirmed and confirmed.status == word and confirmed.claimed_status is None
    assert confirmed.success is (word in PAID_NOW), word


@pytest.mark.parametrize("status", list(OrderStatus))
def test_a_confirmed_rbs_callback_is_a_success_only_while_paid(status):
    claimed = RbsNotification(order_id="p-1", order_number="SUB-1", operation="deposited", success=True,
                              amount=49900)
    confirmed = confirm_rbs_callback(claimed, NowGateway(status))
    assert confirmed.success is status.is_paid is confirmed.is_payment
    assert confirmed.success is (status in (OrderStatus.APPROVED, OrderStatus.DEPOSITED,
                                            OrderStatus.PARTLY_DEPOSITED))
