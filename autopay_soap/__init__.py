"""autopay_soap: autopayments through Russian acquiring gateways (RBS SOAP/REST, T-Bank).

The public API is re-exported here and pinned by ``tests/project/test_public_api.py``. Importing the
package is cheap: zeep is imported only when a SOAP gateway is built.

Logging: every module logs to ``logging.getLogger(__name__)`` under the ``autopay_soap``
logger, which has a ``NullHandler`` and nothing else: the library never configures logging.
Exchanges (secrets masked) go to ``autopay_soap.wire`` at DEBUG.
"""

from __future__ import annotations

import logging
from typing import Any

from .client import AutopayClient, ChargeOutcome, ChargeResult
from .declines import Decline, DeclineKind, RetrySchedule
from .errors import (
    AccessDenied,
    AuthenticationError,
    AutopayError,
    BadResponse,
    BindingStateError,
    CallbackVerificationError,
    ConfigurationError,
    ConnectError,
    ConnectionDropped,
    DeadlineExceeded,
    DuplicateOrderNumber,
    GatewayError,
    GatewaySystemError,
    HTTPStatusError,
    Interrupted,
    InvalidOrderState,
    InvalidRequest,
    OrderMismatch,
    OrderNotFound,
    OutcomeUnknown,
    PaymentDeclined,
    ReplyTooLarge,
    ResponseTimeout,
    SoapFaultError,
    TLSError,
    TransportError,
    UnsupportedOperation,
    ValidationError,
)
from .http import Timeouts
from .initiators import Initiator, RecurringTerms
from .models import (
    Binding,
    BindingInfo,
    CardCheck,
    CardInfo,
    CardSave,
    CardSaveOutcome,
    OperationResult,
    OrderDetails,
    OrderStatus,
    PaymentState,
    PaymentStep,
    RegisteredOrder,
)
from .money import Currency, Money
from .receipts import Receipt, ReceiptItem
from .retry import RetryPolicy

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "AccessDenied", "AuthenticationError", "AutopayClient", "AutopayError", "BadResponse", "Binding", "BindingInfo",
    "BindingStateError", "CallbackVerificationError", "CardCheck", "CardInfo", "CardSave", "CardSaveOutcome",
    "ChargeOutcome", "ChargeResult", "Initiator", "RecurringTerms",
    "Decline", "DeclineKind", "RetrySchedule",
    "ConfigurationError", "ConnectError", "ConnectionDropped", "Currency", "DeadlineExceeded",
    "DuplicateOrderNumber", "GatewayError", "GatewaySystemError", "HTTPStatusError", "Interrupted",
    "InvalidOrderState", "InvalidRequest", "Money", "OperationResult", "OrderDetails", "OrderMismatch",
    "OrderNotFound", "OrderStatus", "OutcomeUnknown", "PaymentDeclined", "PaymentState", "PaymentStep",
    "RbsRestGateway", "RbsSoapGateway", "Receipt", "ReceiptItem",
    "RegisteredOrder", "ReplyTooLarge", "ResponseTimeout", "RetryPolicy", "SoapFaultError", "TBankGateway",
    "TLSError", "Timeouts", "TransportError", "UnsupportedOperation", "ValidationError", "__version__",
]


def __getattr__(name: str) -> Any:
    # Lazy: keep `import autopay_soap` (and `autopay-soap --help`) free of zeep.
    if name == "RbsSoapGateway":
        from .gateways.rbs_soap import RbsSoapGateway

        return RbsSoapGateway
    if name == "RbsRestGateway":
        from .gateways.rbs_rest import RbsRestGateway

        return RbsRestGateway
    if name == "TBankGateway":
        from .gateways.tbank import TBankGateway

        return TBankGateway
    raise AttributeError(f"module 'autopay_soap' has no attribute {name!r}")
