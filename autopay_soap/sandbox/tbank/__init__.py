"""The sandbox's T-Bank front end: ``/v2/<Method>`` JSON on the same engine and ledger.

Terminals (:class:`TBankTerminal`) belong to merchants. A request is answered only when its
``Token`` verifies with the terminal's password (else ``ErrorCode 204``). Payments map onto
engine orders, so the ledger counts T-Bank charges like any other; the T-Bank state that the
engine does not know (PaymentId, initiator type, QR flag, RebillIds, SBP accounts, refund
keys) lives here, under its own lock; ``export_changed`` and
``import_records`` are what a state file reads and restores.

Rules emulated where T-Bank's documentation says how:

* statuses NEW → FORM_SHOWED → 3DS_CHECKING → AUTHORIZED / CONFIRMED → REVERSED /
  PARTIAL_REFUNDED / REFUNDED, or REJECTED / CANCELED / DEADLINE_EXPIRED;
* ``DATA.OperationInitiatorType``: unknown value 1125; incompatible with ``Recurrent``,
  with a ``Charge`` or with the terminal type (ECOM/AFT) 1126;
* ``Charge`` needs the terminal option (error 10 when disabled) and a payment without
  ``Recurrent``; a RebillId is scoped to the terminal that made the parent payment;
* SBP: ``GetQr`` of any new payment makes it an SBP payment (T-Bank's own test scenario is
  Init → GetQr → SbpPayTest, without ``DATA.QR``); binding the payer's account needs
  ``Recurrent=Y`` + ``DATA.QR``, whose ``GetQr`` returns a ``RequestKey``; an
  account bound on one terminal is chargeable from every terminal of the same merchant;
  ``ChargeQr`` is one-stage and a second call on a payment answers 3037; the account-binding
  notification goes to the terminal's configured URL, never to the Init's NotificationURL;
* ``Cancel`` with an ``ExternalRequestId`` already seen answers the state, refunds nothing.

Not emulated: marketplaces, partial reversal of a hold (answered with error 8).

The package by concern: ``records`` (terminals, payments, cards, accounts), ``rules``
(reading a request, T-Bank's codes), ``core`` (the records under one lock and what every
method reads), the methods in ``payments``, ``cards``, ``pci`` and ``sbp``,
``notifications``, and ``frontend`` (one call in, one answer out).
"""

from .frontend import TBankFrontEnd
from .pci import SANDBOX_CARD_KEY_PEM, decrypt_card_data
from .records import TBankError, TBankTerminal
from .rules import CASHBOX_METHODS, TBANK_METHODS

__all__ = ["CASHBOX_METHODS", "SANDBOX_CARD_KEY_PEM", "TBANK_METHODS", "TBankError", "TBankFrontEnd", "TBankTerminal",
           "decrypt_card_data"]
