"""The gateway interface every transport implements, and helpers they share.

A gateway speaks one protocol and returns :mod:`autopay_soap.models`; it validates its
arguments before sending and raises from :mod:`autopay_soap.errors`. It does not retry:
reconciliation belongs to the client, which knows what a step means.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import time
from typing import Any, Callable, Dict, Mapping, Optional, Protocol, Tuple, Type, TypeVar, runtime_checkable

import attr

from .. import http, observe
from ..errors import AutopayError, BadResponse, ConfigurationError, ValidationError
from ..models import (
    Binding,
    BindingInfo,
    CardInfo,
    OperationResult,
    OrderDetails,
    OrderStatus,
    PaymentState,
    PaymentStep,
    RegisteredOrder,
    SbpAccount,
    SbpQr,
)
from ..money import Currency, Money, currency
from ..receipts import Receipt, ReceiptStatus

__all__ = ["ClosingReceiptGateway", "Fields", "Gateway", "GatewayFeatures", "ReceiptStatusGateway", "SbpGateway",
           "expiry_yyyymm", "guard_replies", "make_binding",
           "normalise_error_code", "optional_text", "order_amount", "order_details_from"]

G = TypeVar("G")


def _call_guarded(name: str, method: Callable[..., Any], gateway: Any, args: Any, kwargs: Any,
                  call: http.GatewayCall) -> Any:
    """Run ``method`` as the gateway call ``call`` (whose ``sent`` tells, when it fails, a refused
    argument from a reply that could not be read)."""
    try:
        with http.gateway_call(call):
            return method(gateway, *args, **kwargs)
    except (ValidationError, ConfigurationError) as exc:
        if not call.sent:
            raise  # our own check refused an argument: nothing was sent
        raise BadResponse(f"{name}: the reply could not be read ({exc.message})", operation=name) from None
    except AutopayError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a malformed reply makes the parsing raise
        if not call.sent:
            raise
        raise BadResponse(f"{name}: the reply could not be read ({type(exc).__name__})",
                          operation=name) from None


def _observed(scope: Any, name: str, method: Callable[..., Any], gateway: Any, args: Any, kwargs: Any,
              takes_order_id: bool) -> Any:
    """:func:`_call_guarded`, reported to the scenario's hooks as an :class:`~autopay_soap.observe.Event`."""
    order_id = kwargs.get("order_id") or (args[0] if takes_order_id and args else None)
    key = scope.order_number or order_id
    retried = observe.repeated(scope, name, str(key) if key is not None else None)
    transport = str(getattr(gateway, "name", type(gateway).__name__))
    with observe.watched(scope.openers, observe.EXCHANGE, name, transport, scope.order_number):
        started, clock = time.time(), time.perf_counter()
        outcome, decline_kind, error = observe.OK, None, None
        call = http.GatewayCall()
        try:
            return _call_guarded(name, method, gateway, args, kwargs, call)
        except AutopayError as exc:
            outcome = observe.NOT_SENT if not call.sent else \
                observe.UNKNOWN if exc.ambiguous else observe.REFUSED
            decline = getattr(exc, "decline", None)
            decline_kind, error = (decline.kind.value if decline is not None else None), type(exc).__name__
            raise
        except Exception as exc:  # noqa: BLE001 - reported, then raised as it was
            outcome, error = observe.NOT_SENT, type(exc).__name__
            raise
        finally:
            if outcome != observe.OK or call.sent:  # a local check that sent nothing is no exchange
                observe.emit(scope.hooks, observe.Event(
                    observe.EXCHANGE, name, transport, started, time.perf_counter() - clock, outcome,
                    scope.order_number, str(order_id) if order_id else None, decline_kind, retried, error))


_NOT_EXCHANGES = frozenset({"check_registration", "operations", "close", "sign", "session"})
"""Public gateway methods that send nothing: guarded, never observed as an exchange."""


def _guarded(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    parameters = list(inspect.signature(method).parameters)
    takes_order_id = len(parameters) > 1 and parameters[1] == "order_id"

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if http.current_context().call is not None:  # an inner call of a guarded method: the outer one decides
            return method(self, *args, **kwargs)
        scope = observe.current()
        if scope is None or name in _NOT_EXCHANGES:  # nobody watching: nothing more than the guard
            return _call_guarded(name, method, self, args, kwargs, http.GatewayCall())
        return _observed(scope, name, method, self, args, kwargs, takes_order_id)
    return call


def guard_replies(cls: Type[G]) -> Type[G]:
    """Class decorator: a reply the gateway's methods cannot read surfaces as :class:`BadResponse`.

    Whatever a malformed reply makes the parsing raise once a request has left (a
    ``ValueError`` for an ``orderStatus`` of 42, a ``TypeError`` for a list where a dict
    belongs, a :class:`ValidationError` for an unknown currency in the reply...) becomes
    :class:`~autopay_soap.errors.BadResponse`: the outcome is unknown, since money may have
    moved. Before anything is sent, errors pass unchanged (a bad argument stays a
    :class:`ValidationError`). Every public method of ``cls`` is wrapped.
    """
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not callable(member) or isinstance(member, (staticmethod, classmethod, type)):
            continue
        setattr(cls, name, _guarded(name, member))
    return cls


@attr.s(frozen=True, slots=True, auto_attribs=True)
class GatewayFeatures:
    """What a transport can do, where the gateways differ; the client reads it.

    :param reverse_after_capture: a reversal also cancels a captured payment the same day (RBS);
        on T-Bank, ``Cancel`` of a captured payment is a refund, so the client reverses holds only.
    :param refund_by_key: refunds are made idempotent by a key the gateway deduplicates
        (T-Bank ``ExternalRequestId``), not by an expected-amount guard (RBS).
    :param external_refund_id: a refund also carries the caller's refund id (RBS REST
        ``externalRefundId``; SOAP's ``refundOrder`` has no such field).
    :param sbp: SBP (FPS) account bindings and autopayments by ``ChargeQr``.
    :param initiator_types: the card-on-file initiator type (``DATA.OperationInitiatorType``) is sent.
    :param binding_via_card_list: the status of a paid order does not name its binding; the
        client reads it from the customer's card list (T-Bank ``GetCardList``).
    :param order_number_unique: the gateway is documented to refuse a second registration of an
        order number (RBS code 1). Where it is not (T-Bank: what ``Init`` does with a repeated
        ``OrderId`` is undocumented), the client looks an order number up before registering it
        again, and never relies on a refusal.
    :param tii_mode: whether the payment by binding carries RBS's initiator ``tii`` (``none``,
        ``optional``, ``required``: a REST gateway's setting; never over SOAP or on T-Bank).
    :param receipt_reports: how the gateway tells where a 54-FZ receipt stands: ``call`` (a
        :class:`ReceiptStatusGateway`, RBS REST ``getReceiptStatus``), ``notification`` (T-Bank's
        fiscal notifications) or ``none``.
    :param closing_receipts: a :class:`ClosingReceiptGateway`: the closing receipt of a prepaid
        payment can be sent (T-Bank ``SendClosingReceipt``).
    """

    reverse_after_capture: bool = True
    refund_by_key: bool = False
    external_refund_id: bool = False
    sbp: bool = False
    initiator_types: bool = False
    binding_via_card_list: bool = False
    order_number_unique: bool = True
    card_checks: Tuple[str, ...] = ("VERIFY",)
    """How a card is saved without a payment: RBS ``VERIFY`` (an order), T-Bank's ``AddCard``
    check types."""
    tii_mode: str = attr.ib(default="none", validator=attr.validators.in_(("none", "optional", "required")))
    receipt_reports: str = attr.ib(default="none", validator=attr.validators.in_(("call", "notification", "none")))
    closing_receipts: bool = False


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


def expiry_yyyymm(value: Any, layout: str = "MMYY") -> Optional[str]:
    """A card expiry from a gateway (T-Bank ``MMYY``, RBS ``YYYYMM``) as ``YYYYMM``; None when
    absent or not a real month and year (``1399``, ``12/30``, text)."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if layout == "MMYY" and len(text) == 4 and text.isdigit():
        month, year = text[:2], "20" + text[2:]
    elif layout == "YYYYMM" and len(text) == 6 and text.isdigit():
        year, month = text[:4], text[4:]
    else:
        return None
    return year + month if 1 <= int(month) <= 12 and year >= "2000" else None


def optional_text(value: Any) -> Optional[str]:
    """A reply's field as text, or None when it is absent or empty."""
    return None if value is None or value == "" else str(value)


def make_binding(binding_id: str, client_id: Optional[str], masked_pan: Optional[str],
                 expiry: Optional[str]) -> Binding:
    """A :class:`Binding` as a gateway lists it; active while its ``YYYYMM`` expiry has not passed."""
    import datetime as dt

    this_month = dt.date.today().strftime("%Y%m")
    read = expiry_yyyymm(expiry, "YYYYMM")
    text = None if read or expiry in (None, "") else str(expiry)[:16]
    return Binding(binding_id, client_id, masked_pan, read, active=not read or read >= this_month, expiry_text=text)


class Fields(Protocol):
    """A reply read by field name: a (case-insensitive) dict over REST, a view of zeep's object over SOAP."""

    def get(self, key: str, default: Any = None) -> Any:
        """The field's value, or ``default``."""
        ...


def parse_date(value: Any) -> Optional[dt.datetime]:
    """A gateway date: ``xs:dateTime`` (SOAP, already parsed) or epoch milliseconds (REST)."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, dt.timezone.utc)
    return None


def order_amount(status: OrderStatus, raw: Any) -> int:
    """The order's amount in minor units from a status reply; ValueError (an unreadable reply:
    the outcome is unknown) when it is not a whole number of at least 0, or missing where money
    moved (a paid, refunded or reversed order read as 0.00 would be a false confirmation)."""
    if raw is None or raw == "":
        if status.is_paid or status in (OrderStatus.REFUNDED, OrderStatus.REVERSED):
            raise ValueError(f"a status reply of a {status.name} order without a readable amount")
        return 0
    if isinstance(raw, bool) or isinstance(raw, float):
        raise ValueError("a status reply's amount is not a whole number")
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ValueError("a status reply's amount is not a whole number of minor units")
    return int(text)


def order_details_from(reply: Fields, *, order_id: Optional[str], default_currency: Currency) -> OrderDetails:
    """:class:`OrderDetails` from a ``getOrderStatusExtended`` reply, whatever the transport.

    The gateway's order id comes from the ``attributes`` entry named ``mdOrder`` when present.
    A reply without ``orderStatus`` (the schema requires it; "no such order" is error code 6) or
    with an amount that cannot be read raises ValueError, which the transports report as
    :class:`~autopay_soap.errors.BadResponse`: unknown, never "not found" or "paid 0.00".
    """
    if reply.get("orderStatus") is None:
        raise ValueError("a status reply without orderStatus")
    for attribute in reply.get("attributes") or []:
        if hasattr(attribute, "get") and attribute.get("name") == "mdOrder":
            order_id = attribute.get("value")
    cur = currency(reply.get("currency")) if reply.get("currency") else default_currency
    amounts, card, binding = reply.get("paymentAmountInfo"), reply.get("cardAuthInfo"), reply.get("bindingInfo")

    def money(value: Any) -> Optional[Money]:
        return Money.from_minor(int(value), cur) if value is not None else None

    action_code = reply.get("actionCode")
    status = OrderStatus(int(reply.get("orderStatus")))
    return OrderDetails(
        order_number=reply.get("orderNumber"),
        order_id=order_id,
        status=status,
        amount=Money.from_minor(order_amount(status, reply.get("amount")), cur),
        action_code=int(action_code) if action_code is not None else None,
        action_code_description=reply.get("actionCodeDescription") or None,
        payment_state=PaymentState(amounts.get("paymentState")) if amounts and amounts.get("paymentState") else None,
        approved=money(amounts.get("approvedAmount")) if amounts else None,
        deposited=money(amounts.get("depositedAmount")) if amounts else None,
        refunded=money(amounts.get("refundedAmount")) if amounts else None,
        description=reply.get("orderDescription") or None,
        created_at=parse_date(reply.get("date")),
        card=CardInfo(card.get("maskedPan") or card.get("pan"), card.get("expiration"), card.get("cardholderName"),
                      card.get("approvalCode"), card.get("paymentSystem")) if card else None,
        binding=BindingInfo(binding.get("bindingId"), binding.get("clientId"))
        if binding and binding.get("bindingId") else None,
    )


@runtime_checkable
class Gateway(Protocol):
    """What the client needs from a transport. All amounts are :class:`Money`."""

    name: str
    features: GatewayFeatures

    @property
    def register_order(self) -> Callable[..., RegisteredOrder]:
        """``register_order(order_number, amount, return_url, **options)``: register an order
        (``registerOrder`` / ``registerOrderPreAuth`` when ``two_stage``), with the 54-FZ ``receipt``
        of the charge where given (a transport that cannot carry it refuses). Its keywords are written
        once per gateway: see :meth:`RbsOperations.register_order
        <autopay_soap.gateways.rbs_operations.RbsOperations.register_order>` and
        :meth:`TBankGateway.register_order <autopay_soap.gateways.tbank.TBankGateway.register_order>`.
        A keyword a gateway does not know is a ``TypeError``, a value it cannot carry a
        :class:`~autopay_soap.errors.ValidationError`, both before anything is sent."""
        ...

    def check_registration(self, order_number: str, amount: Money, return_url: Optional[str], *,
                           receipt: Optional[Receipt] = None, **options: Any) -> None:
        """Every check :meth:`register_order` makes with these arguments (``options``: its other
        keywords), nothing sent (raises :class:`~autopay_soap.errors.ValidationError` naming the field)."""
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

    def deposit(self, order_id: str, amount: Optional[Money] = None, *,
                receipt: Optional[Receipt] = None) -> OperationResult:
        """Capture a hold, in full (``amount=None``) or in part (``receipt``: the lines captured)."""
        ...

    def reverse(self, order_id: str) -> OperationResult:
        """Cancel a hold or a same-day payment. Only once per order."""
        ...

    def refund(
        self, order_id: str, amount: Money, *, expected_deposited: Optional[Money] = None,
        external_refund_id: Optional[str] = None, receipt: Optional[Receipt] = None,
    ) -> OperationResult:
        """Refund part or all of a deposited order (``receipt``: the lines refunded)."""
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

    def unbind_card(self, binding_id: str, *, client_id: Optional[str] = None) -> OperationResult:
        """Deactivate a binding: it can no longer be charged (T-Bank needs the ``client_id``)."""
        ...

    def extend_binding(self, binding_id: str, new_expiry: str) -> OperationResult:
        """Set a binding's expiry (``YYYYMM``)."""
        ...

    def close(self) -> None:
        """Release the HTTP session."""
        ...


@runtime_checkable
class ReceiptStatusGateway(Protocol):
    """A transport that reports an order's receipts on request (``features.receipt_reports`` is
    ``call``: RBS REST)."""

    def receipt_status(self, *, order_id: Optional[str] = None,
                       order_number: Optional[str] = None) -> Tuple[ReceiptStatus, ...]:
        """The order's 54-FZ receipts and where each stands at the cash register."""
        ...


@runtime_checkable
class ClosingReceiptGateway(Protocol):
    """A transport that sends the closing receipt of a prepaid payment (``features.closing_receipts``:
    T-Bank)."""

    def send_closing_receipt(self, payment_id: str, receipt: Mapping[str, Any]) -> Dict[str, Any]:
        """Send the closing receipt (the gateway's wire form of it) of payment ``payment_id``."""
        ...


@runtime_checkable
class SbpGateway(Protocol):
    """A transport with SBP autopayments (T-Bank): the client checks ``isinstance(gateway, SbpGateway)``."""

    def pay_with_account(self, order_id: str, account_token: str, *, ip: Optional[str] = None) -> PaymentStep:
        """Charge the bound SBP account ``account_token`` for the registered order (``ChargeQr``)."""
        ...

    def get_qr(self, payment_id: str, *, data_type: str = "PAYLOAD") -> SbpQr:
        """The SBP QR of a registered payment (``GetQr``)."""
        ...

    def add_account_qr(self, description: str, *, data_type: str = "PAYLOAD", data: Optional[Any] = None,
                       redirect_due: Optional[Any] = None) -> SbpQr:
        """A QR that binds the payer's account without a payment (``AddAccountQr``)."""
        ...

    def get_add_account_qr_state(self, request_key: str) -> SbpAccount:
        """The state of an account binding (``GetAddAccountQrState``)."""
        ...
