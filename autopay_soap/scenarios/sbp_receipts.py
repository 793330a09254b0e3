"""SBP account bindings and the receipts after a payment (the client's scenarios)."""

from __future__ import annotations

from typing import Optional, Tuple

from ..errors import UnsupportedOperation
from ..gateways.base import ClosingReceiptGateway, ReceiptStatusGateway
from ..gateways.receipt_wire import tbank_receipt
from ..models import SbpAccount, SbpQr
from ..receipts import Receipt, ReceiptStatus, check_receipt_for
from .steps import ScenarioSteps, scenario

__all__ = ["SbpAndReceipts"]


class SbpAndReceipts(ScenarioSteps):
    """SBP account bindings (T-Bank) and 54-FZ receipts after the payment: a base of
    :class:`~autopay_soap.client.AutopayClient`."""

    __slots__ = ()

    @scenario
    def bind_sbp_account(self, description: str) -> SbpQr:
        """Bind the payer's bank account by SBP without a payment (T-Bank ``AddAccountQr``).

        Returns an :class:`~autopay_soap.models.SbpQr`: show ``data`` (the QR payload)
        to the payer, then ask :meth:`sbp_account` with ``request_key`` (or wait for the
        account-binding notification) for the ``AccountToken``.
        """
        return self._sbp_gateway().add_account_qr(description)

    @scenario
    def sbp_account(self, request_key: str) -> SbpAccount:
        """The state of an SBP account binding (``GetAddAccountQrState``): ``account_token`` once ``ACTIVE``."""
        return self._sbp_gateway().get_add_account_qr_state(request_key)

    @scenario
    def send_closing_receipt(self, order_id: str, receipt: Receipt) -> None:
        """The closing (full-settlement) receipt of a prepaid payment: T-Bank's
        ``/cashbox/SendClosingReceipt`` for a ``CONFIRMED`` payment whose receipt had a prepayment
        line. Other transports raise :class:`~autopay_soap.errors.UnsupportedOperation`, nothing sent."""
        check_receipt_for(receipt, None)
        if not (self.gateway.features.closing_receipts and isinstance(self.gateway, ClosingReceiptGateway)):
            raise UnsupportedOperation(f"send_closing_receipt: not built for the {self.gateway.name} transport (RBS "
                                       "closeOfdReceipt is not in this version)", operation="closeOfdReceipt")
        self.gateway.send_closing_receipt(order_id, tbank_receipt(receipt))

    @scenario
    def receipt_status(self, *, order_id: Optional[str] = None,
                       order_number: Optional[str] = None) -> Tuple[ReceiptStatus, ...]:
        """The order's 54-FZ receipts and where each stands at the cash register (RBS REST
        ``getReceiptStatus``). T-Bank reports receipts by fiscal notification instead
        (:class:`~autopay_soap.callbacks.TBankReceiptNotification`), and the SOAP transport has no
        such call: both raise :class:`~autopay_soap.errors.UnsupportedOperation`, nothing sent."""
        reports = self.gateway.features.receipt_reports
        if not (reports == "call" and isinstance(self.gateway, ReceiptStatusGateway)):
            hint = "it sends fiscal notifications (Status=RECEIPT) instead" if reports == "notification" \
                else "use transport='rest'"
            raise UnsupportedOperation(f"receipt_status: the {self.gateway.name} transport has no receipt status "
                                       f"call; {hint}", operation="getReceiptStatus")
        return self.gateway.receipt_status(order_id=order_id, order_number=order_number)
