"""The exception tree of autopay_soap.

Every exception the library raises on purpose derives from :class:`AutopayError`::

    AutopayError
    ├── ValidationError            our own check refused the input; nothing was sent
    ├── ConfigurationError         a setting is missing or contradictory; nothing was sent
    │   └── UnsupportedOperation   the transport has no such operation (bindCard on T-Bank...)
    ├── GatewayError               the gateway answered and said no (a final answer)
    │   ├── DuplicateOrderNumber   code 1: the order number is already used
    │   ├── InvalidRequest         codes 3, 4, 5, 13, 14: the gateway refused a parameter
    │   │   └── AccessDenied       code 5 "access denied" / password must be changed
    │   ├── OrderNotFound          code 6
    │   ├── InvalidOrderState      code 7 on a money operation: wrong state or amount
    │   ├── BindingStateError      code 2 on bindings: unknown, already (in)active
    │   ├── GatewaySystemError     code 7 elsewhere, or an unmapped code
    │   ├── PaymentDeclined        the payment itself was declined (action code)
    │   └── SoapFaultError         a SOAP Fault that is not about authentication
    ├── AuthenticationError        credentials refused (WS-Security SOAP Fault)
    ├── CallbackVerificationError  a callback's checksum or signature is missing or wrong, or the
    │                              gateway does not confirm what it claims
    ├── OrderMismatch              the order number leads to an order that is not this charge
    │                              (another amount, currency, client or binding): never PAID
    ├── Interrupted                the caller asked to stop; the next request was not sent
    └── TransportError             the exchange itself went wrong
        ├── ConnectError           the request never reached the gateway: safe to retry
        │   └── TLSError           certificate problem: never retried
        ├── HTTPStatusError        an HTTP 4xx without a gateway answer: nothing done
        └── OutcomeUnknown         the request may have been processed: reconcile!
            ├── ResponseTimeout    no answer within the read timeout
            ├── ConnectionDropped  connection reset or closed after the request was sent
            ├── DeadlineExceeded   the scenario's deadline passed (its retries and look-ups included)
            └── BadResponse        5xx, truncated, garbage, malformed or unsafe (DTD/entity) reply
                └── ReplyTooLarge  a reply over the size cap, refused before parsing

Each error carries what a support engineer needs: ``operation``, ``order_number``,
``order_id``, ``gateway_code``, ``gateway_message``, ``http_status`` and, for a reply that
could not be used, ``excerpt`` (its start, masked). None of them ever holds a password,
token, PAN or CVC.

:class:`OutcomeUnknown` is not a failure: the charge may have happened. Reconcile it by a
status lookup (see the "Operations" chapter of the docs); never treat it as declined.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional

__all__ = [
    "AccessDenied",
    "AuthenticationError",
    "AutopayError",
    "BadResponse",
    "BindingStateError",
    "CallbackVerificationError",
    "ConfigurationError",
    "ConnectError",
    "ConnectionDropped",
    "DeadlineExceeded",
    "DuplicateOrderNumber",
    "GatewayError",
    "GatewaySystemError",
    "HTTPStatusError",
    "InvalidOrderState",
    "Interrupted",
    "InvalidRequest",
    "OrderMismatch",
    "OrderNotFound",
    "OutcomeUnknown",
    "PaymentDeclined",
    "ReplyTooLarge",
    "ResponseTimeout",
    "SoapFaultError",
    "TLSError",
    "TransportError",
    "UnsupportedOperation",
    "ValidationError",
]


class AutopayError(Exception):
    """Root of every exception autopay_soap raises on purpose.

    Two class properties say what to do next, the same for the client, the batch runner and
    your code: :attr:`ambiguous` (the request may have been carried out: reconcile by a look-up
    before anything else) and :attr:`retryable` (another attempt may help).
    """

    ambiguous: ClassVar[bool] = False
    """True when the gateway may have done what was asked although this was raised."""
    retryable: ClassVar[bool] = False
    """True when another attempt may help (after a look-up, when ``ambiguous``)."""

    def __init__(
        self,
        message: str,
        *,
        operation: Optional[str] = None,
        order_number: Optional[str] = None,
        order_id: Optional[str] = None,
        gateway_code: Optional[int] = None,
        gateway_message: Optional[str] = None,
        http_status: Optional[int] = None,
        excerpt: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.order_number = order_number
        self.order_id = order_id
        self.gateway_code = gateway_code
        self.gateway_message = gateway_message
        self.http_status = http_status
        self.excerpt = excerpt
        """The start of the reply that caused this, masked (:func:`autopay_soap.redact.excerpt`)."""

    def add_context(self, **context: Any) -> "AutopayError":
        """Fill the support fields (``operation``, ``order_number``...) that are not set yet; returns self."""
        for key in ("operation", "order_number", "order_id", "gateway_code", "gateway_message", "http_status",
                    "excerpt"):
            if context.get(key) is not None and getattr(self, key) is None:
                setattr(self, key, context[key])
        return self

    def context(self) -> Dict[str, Any]:
        """The error's fields that are set, as a dict (for logs and reports)."""
        fields = {
            "operation": self.operation,
            "order_number": self.order_number,
            "order_id": self.order_id,
            "gateway_code": self.gateway_code,
            "gateway_message": self.gateway_message,
            "http_status": self.http_status,
            "excerpt": self.excerpt,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def __str__(self) -> str:
        ctx = self.context()
        if not ctx:
            return self.message
        details = ", ".join(f"{k}={v!r}" for k, v in ctx.items())
        return f"{self.message} ({details})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ValidationError(AutopayError, ValueError):
    """Our own validation refused an argument before anything was sent.

    ``field`` names the offending argument (``amount``, ``order_number``, ...).
    """

    def __init__(self, message: str, *, field: str, **context: Any) -> None:
        super().__init__(message, **context)
        self.field = field


class ConfigurationError(AutopayError):
    """A setting is missing or contradictory (no credentials, unknown profile...)."""


class UnsupportedOperation(ConfigurationError):
    """The chosen transport has no such operation (e.g. ``bindCard`` over T-Bank); nothing was sent."""


class GatewayError(AutopayError):
    """The gateway answered and refused the request. The answer is final.

    ``decline`` is set (an :class:`autopay_soap.declines.model.Decline`) when the refusal ended an
    autopayment's payment step: a binding the gateway no longer knows is a ``rebind``, a refused
    request of ours a ``merchant`` decline.
    """

    decline: Any = None


class DuplicateOrderNumber(GatewayError):
    """RBS code 1: an order with this number was already registered or processed."""


class InvalidRequest(GatewayError):
    """The gateway refused a parameter (RBS codes 3, 4, 5, 13, 14)."""


class AccessDenied(InvalidRequest):
    """RBS code 5 with "access denied": wrong login, environment or expired password."""


class OrderNotFound(GatewayError):
    """RBS code 6: no order with this id or number."""


class InvalidOrderState(GatewayError):
    """RBS code 7 on a money operation: the order is not in a state that allows it."""


class BindingStateError(GatewayError):
    """RBS code 2 on bindCard/unBindCard/paymentOrderBinding: binding unknown or already (in)active."""


class GatewaySystemError(GatewayError):
    """RBS code 7 (system error) or a code this library does not know."""

    ambiguous = True
    retryable = True


class PaymentDeclined(GatewayError):
    """The payment was declined; ``action_code`` says why (116 = insufficient funds...) and
    ``decline`` (an :class:`autopay_soap.declines.model.Decline`, when classified) what kind of
    decline it is: soft, hard, rebind or merchant."""

    def __init__(self, message: str, *, action_code: Optional[int] = None, decline: Any = None,
                 **context: Any) -> None:
        super().__init__(message, **context)
        self.action_code = action_code
        if decline is not None:
            self.decline = decline

    def context(self) -> Dict[str, Any]:
        """The error's fields that are set, with the action code."""
        ctx = super().context()
        if self.action_code is not None:
            ctx["action_code"] = self.action_code
        return ctx


class SoapFaultError(GatewayError):
    """A SOAP Fault that is not an authentication failure (``fault_code`` kept)."""

    ambiguous = True
    retryable = True

    def __init__(self, message: str, *, fault_code: Optional[str] = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.fault_code = fault_code


class AuthenticationError(AutopayError):
    """The gateway refused the credentials (WS-Security fault over SOAP)."""


class CallbackVerificationError(AutopayError):
    """A callback (notification) whose checksum, signature or token does not verify."""


class OrderMismatch(AutopayError):
    """The order number leads to an existing order that is not the charge asked for.

    Raised when a reused order number (a retry, a resumed batch row, a caller's mistake) finds
    an order whose amount, currency, client or binding differs from the request. Nothing was
    charged for this request; the existing order was left as it is. Not retryable: fix the
    order number or the request. ``requested`` and ``found`` hold both sides as plain dicts
    (``amount`` in minor units, ``currency``, ``client_id``, ``binding_id``), ``differs`` the
    names of the fields that differ.
    """

    def __init__(self, message: str, *, requested: Dict[str, Any], found: Dict[str, Any], **context: Any) -> None:
        super().__init__(message, **context)
        self.requested = dict(requested)
        self.found = dict(found)
        self.differs = tuple(k for k in requested if k in found and requested[k] != found[k])


class Interrupted(AutopayError):
    """The caller asked to stop (:func:`autopay_soap.http.stop_scope`), so the next request of
    the scenario was not sent.

    Requests sent before it may have landed (an order registered, not yet paid): the scenario
    is unfinished, not failed. Call it again with the same order number (or look the order up)
    to reconcile, exactly as after :class:`OutcomeUnknown`. Never retried automatically.
    """

    ambiguous = True


class TransportError(AutopayError):
    """The HTTP exchange with the gateway went wrong."""


class ConnectError(TransportError):
    """The request never reached the gateway (refused, DNS, connect timeout): safe to retry."""

    retryable = True


class TLSError(ConnectError):
    """The TLS handshake failed (untrusted certificate...). Never retried automatically."""

    retryable = False


class HTTPStatusError(TransportError):
    """An HTTP 4xx status without a gateway answer (wrong URL...): nothing was done."""


class OutcomeUnknown(TransportError):
    """The request may have reached the gateway, and we do not know what it did.

    Not a failure: reconcile by looking the order up (by order number after a
    registration, by order id after a payment step) before anything else.
    """

    ambiguous = True
    retryable = True


class ResponseTimeout(OutcomeUnknown):
    """No answer within the read timeout after the request was sent."""


class ConnectionDropped(OutcomeUnknown):
    """The connection was reset or closed after the request was sent."""


class DeadlineExceeded(OutcomeUnknown):
    """The scenario's deadline (``AutopayClient(deadline=...)``) passed; earlier attempts may have landed."""


class BadResponse(OutcomeUnknown):
    """An answer we cannot trust: HTTP 5xx, truncated or malformed body, DTD or entities,
    a field of the wrong type or an unknown status."""


class ReplyTooLarge(BadResponse):
    """A reply over the size cap (``max_reply_bytes``), refused before it was parsed."""
