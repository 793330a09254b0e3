"""RBS MerchantService over SOAP: zeep on the bundled WSDL, WS-Security UsernameToken.

The WSDL is parsed once per process (:func:`autopay_soap.wsdl_bundle.shared_document`), so a
gateway is cheap to build; each gateway has its own ``requests.Session`` and points the
port at its own endpoint. zeep's settings forbid DTDs, entities and external loads.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple, Union

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from .. import validation as v
from ..codes.rbs import error_for_code
from ..errors import (
    AuthenticationError,
    AutopayError,
    BadResponse,
    HTTPStatusError,
    SoapFaultError,
    TransportError,
    UnsupportedOperation,
    ValidationError,
)
from ..http import Timeouts, classify_request_error, post_bounded
from ..models import Binding, OrderDetails, PaymentStep, RegisteredOrder
from ..money import Money
from ..receipts import Receipt, check_receipt_for
from ..redact import excerpt, mask_text
from ..secret import Secret
from ..wsdl_bundle import shared_document, zeep_settings
from .base import GatewayFeatures, guard_replies, make_binding, normalise_error_code, order_details_from
from .http_gateway import Connection, HttpGateway
from .order_list import MAX_PAGE_SIZE, MONEY_STATES, OrderPage, check_page_request, read_page
from .rbs_operations import RbsOperations, Registration
from .receipt_wire import rbs_tax_system, soap_cart_items, soap_order_bundle
from .soap_codec import FALLBACK, OperationCodec, codecs_for

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["RbsSoapGateway", "BINDING_NAME", "SERVICE_NAME", "PORT_NAME"]

_MONEY_OPERATIONS = {"deposit": ("depositOrder", {"amount": "depositAmount", "items": "depositItems"}),
                     "reverse": ("reverseOrder", {}),
                     "refund": ("refundOrder", {"amount": "refundAmount", "items": "refundItems",
                                                "expected_deposited": "expectedDepositedAmount"})}
"""The SOAP operation of each money operation and its fields' names in the ``order`` element."""

CART_LAYOUTS = ("2019", "2016")
"""The MerchantService generations a gateway may serve: ``2019`` carries a 54-FZ cart, ``2016`` cannot."""

log = logging.getLogger(__name__)
wire_log = logging.getLogger("autopay_soap.wire")

SERVICE_NAME = "MerchantServiceImplService"
PORT_NAME = "MerchantServiceImplPort"
BINDING_NAME = "{http://soap.merchant.api.web.phoenix.bpc.ru/}MerchantServiceImplServiceSoapBinding"
_AUTH_FAULT_WORDS = ("security", "authenticat", "wsse", "password", "username")


class _NotSoap(Exception):
    """An HTTP error status whose body is not a SOAP envelope (proxy page, HTML...)."""

    def __init__(self, status: int, body: bytes = b"") -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class _WireTransport(Transport):  # type: ignore[misc]
    """zeep transport that never logs a raw envelope: only masked ones, on our logger.

    zeep's own ``Transport.post`` logs whole envelopes, WS-Security password included, at
    DEBUG; this override replaces it.
    """

    def __init__(self, *, timeouts: Timeouts, max_reply_bytes: int, session: requests.Session) -> None:
        super().__init__(timeout=timeouts.wsdl, operation_timeout=timeouts.requests_timeout, session=session)
        self.timeouts = timeouts
        self.max_reply_bytes = max_reply_bytes

    def post(self, address: str, message: Union[str, bytes], headers: Dict[str, str]) -> requests.Response:
        if wire_log.isEnabledFor(logging.DEBUG):
            text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
            wire_log.debug("SOAP request to %s:\n%s", address, mask_text(text))
        response = post_bounded(self.session, address, data=message, headers=headers, timeouts=self.timeouts,
                                max_bytes=self.max_reply_bytes)
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug("SOAP response (HTTP %s):\n%s", response.status_code,
                           mask_text(response.content.decode("utf-8", "replace")))
        if response.status_code != 200 and b"Envelope" not in response.content[:1024]:
            raise _NotSoap(response.status_code, response.content)
        return response


class _ZeepView:
    """Reads a zeep reply object by field name, like a dict (see ``base.Fields``)."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self._obj, key, None)
        if value is None:
            return default
        if isinstance(value, list):
            return [_ZeepView(item) if hasattr(item, "__values__") else item for item in value]
        return _ZeepView(value) if hasattr(value, "__values__") else value


def _order_element(r: Registration) -> Dict[str, Any]:
    """The ``order`` of a ``registerOrder``: the registration's fields, its feature (AUTO_PAYMENT or
    VERIFY), the recurring terms as ``params``, the cart as ``orderBundle`` and ``@taxSystem``."""
    order: Dict[str, Any] = {
        "merchantOrderNumber": r.order_number, "amount": r.amount.minor, "currency": r.amount.currency.numeric,
        "description": r.description, "language": r.language, "returnUrl": r.return_url,
        "failUrl": r.fail_url, "email": r.email, "clientId": r.client_id,
        "bindingId": r.binding_id, "sessionTimeoutSecs": r.session_timeout_secs,
    }
    if r.feature is not None:
        order["features"] = {"feature": [r.feature]}
    if r.recurring is not None:
        order["params"] = [{"name": k, "value": x} for k, x in r.recurring.json_params().items()]
    if r.cart is not None:
        order["orderBundle"], order["taxSystem"] = r.cart
    return order


@guard_replies
class RbsSoapGateway(RbsOperations, HttpGateway):
    """The RBS gateway over SOAP.

    :param endpoint: the ``merchant-ws`` address, e.g.
        ``https://3dsec.sberbank.ru/payment/webservices/merchant-ws`` (no ``?wsdl``).
    :param username: the API login (usually ending in ``-api``).
    :param password: its password; never logged, never in a repr or an exception.
    :param connection: ``timeouts`` (connect/read/WSDL), ``verify`` (``True`` or a CA bundle path),
        ``session``, ``default_currency``, ``max_reply_bytes``: see
        :class:`~autopay_soap.gateways.http_gateway.Connection`.
    :param compiled: build and read the envelopes of the operations a batch repeats
        (:data:`~autopay_soap.gateways.soap_codec.HOT_OPERATIONS`) with codecs compiled from zeep's
        binding (default); ``False`` uses zeep for every operation. Either way zeep builds every
        other request and reads every reply the codecs do not cover exactly (a Fault...).
    """

    name = "soap"
    features = GatewayFeatures()
    _repr_fields = ("endpoint", "username")
    _check_fields = ("cart_layout",)
    """No SOAP schema carries ``tii``: never sent over SOAP."""

    def __init__(self, endpoint: str, username: str, password: Union[str, Secret], *, compiled: bool = True,
                 cart_layout: str = "2019", profile: Optional[str] = None, **connection: Unpack[Connection]) -> None:
        if cart_layout not in CART_LAYOUTS:
            raise ValidationError(f"cart_layout: {cart_layout!r} is not one of {', '.join(CART_LAYOUTS)}",
                                  field="cart_layout")
        self.cart_layout, self.profile = cart_layout, profile
        self.endpoint = v.check_url(endpoint, "endpoint") or ""
        self._open_login("SOAP", username, password, **connection)
        transport = _WireTransport(timeouts=self.timeouts, max_reply_bytes=self.max_reply_bytes,
                                   session=self._session)
        self._client = zeep.Client(
            shared_document(), wsse=UsernameToken(username, self._password.reveal()), transport=transport,
            settings=zeep_settings(),
        )
        self._service = self._client.create_service(BINDING_NAME, self.endpoint)
        self._binding = self._client.wsdl.bindings[BINDING_NAME]
        self._transport = transport
        self.compiled = bool(compiled)
        self._codecs = codecs_for(self._binding) if self.compiled else {}

    # -- plumbing -------------------------------------------------------------------------

    def _cart(self, receipt: Optional[Receipt], amount: Optional[Money], what: str,
              operation: str) -> Optional[Receipt]:
        """The receipt checked against ``amount``; refused before anything is sent when this
        gateway serves the 2016-generation WSDL, whose ``orderBundle`` cannot carry a 54-FZ cart."""
        cart = check_receipt_for(receipt, amount, what)
        if cart is not None and self.cart_layout == "2016":
            whose = f"profile {self.profile!r}" if self.profile else "this gateway"
            raise UnsupportedOperation(
                f"receipt: {whose} serves the 2016-generation MerchantService WSDL, whose orderBundle cannot carry a "
                "54-FZ cart; use transport='rest' for charges with receipts (or soap_cart='2019' once the bank "
                "confirms a current WSDL)", operation=operation)
        return cart

    def operations(self) -> List[str]:
        """The operation names of the bundled WSDL's binding."""
        binding = self._client.wsdl.bindings[BINDING_NAME]
        return sorted(binding._operations)

    def call(self, operation: str, **parts: Any) -> Any:
        """The escape hatch: any operation of the bundled WSDL's binding, by name, with its parts
        as zeep takes them (``gateway.call("getOrderStatusExtended", order={"orderId": ...})``).

        It goes through this gateway's zeep client: the same timeouts, reply size limit,
        WS-Security UsernameToken, safe XML parsing and redacted wire log as the facade's calls,
        and the same errors (a Fault, an unreadable reply, a timeout; an ``errorCode`` other than
        0 raises as :func:`~autopay_soap.codes.rbs.error_for_code` says). Returns zeep's result
        object. Nothing checks the parts beyond the WSDL's schema: this is for what the facade
        does not wrap (docs/soap.rst); prefer the facade where it does.
        """
        if operation not in self.operations():
            raise ValidationError(f"operation: {operation!r} is not an operation of the bundled WSDL "
                                  f"({', '.join(self.operations())})", field="operation")
        context: Dict[str, Any] = {}
        result = self._call(operation, context, **parts)
        self._check(result, context, operation)
        return result

    def _call(self, operation: str, context: Dict[str, Any], **parts: Any) -> Any:
        context = {"operation": operation, **{k: val for k, val in context.items() if val is not None}}
        started = time.perf_counter()
        codec = self._codecs.get(operation)
        try:
            result = self._compiled_call(codec, parts) if codec is not None else \
                getattr(self._service, operation)(**parts)
        except TransportError as exc:  # from post_bounded: not sent, timed out, too large
            raise exc.add_context(**context) from None
        except requests.exceptions.RequestException as exc:  # the WSDL's own loading, never a call
            raise classify_request_error(exc, **context) from None
        except zeep.exceptions.Fault as exc:
            raise self._fault_error(exc, context) from None
        except (zeep.exceptions.TransportError, _NotSoap) as exc:
            status = (exc.status if isinstance(exc, _NotSoap) else exc.status_code) or None
            body = excerpt(exc.body if isinstance(exc, _NotSoap) else (exc.content or b""))
            if status is not None and 400 <= status < 500:
                raise HTTPStatusError(f"HTTP {status} without a SOAP answer", http_status=status, excerpt=body,
                                      **context) from None
            raise BadResponse(f"an answer that is not a SOAP message (HTTP {status})",
                              http_status=status, excerpt=body, **context) from None
        except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden) as exc:
            raise BadResponse(f"unsafe XML refused ({type(exc).__name__})", **context) from None
        except zeep.exceptions.ValidationError as exc:
            raise ValidationError(f"{operation}: {exc.message}", field=operation) from None
        except (zeep.exceptions.Error, etree.XMLSyntaxError) as exc:
            raise BadResponse(f"an answer that does not fit the WSDL ({type(exc).__name__})",
                              **context) from None
        code = normalise_error_code(getattr(result, "errorCode", None))
        log.debug("%s order_number=%s order_id=%s errorCode=%s duration_ms=%.1f", operation,
                  context.get("order_number"), context.get("order_id"), code,
                  (time.perf_counter() - started) * 1000)
        return result

    def _compiled_call(self, codec: OperationCodec, parts: Dict[str, Any]) -> Any:
        """One exchange through a compiled codec; zeep builds what the codec does not cover and
        reads what it does not recognise exactly (the same response: zeep's result or error)."""
        try:
            envelope = codec.envelope(self.username, self._password.reveal(), parts)
        except FALLBACK:
            return getattr(self._service, codec.name)(**parts)
        response = self._transport.post_xml(self.endpoint, envelope, dict(codec.headers))
        try:
            return codec.read(response.content)
        except FALLBACK:
            return self._binding.process_reply(self._client, self._binding.get(codec.name), response)

    @staticmethod
    def _fault_error(exc: "zeep.exceptions.Fault", context: Dict[str, Any]) -> AutopayError:
        text = (exc.message or "").strip()
        code = str(exc.code or "")
        if any(word in (text + " " + code).lower() for word in _AUTH_FAULT_WORDS):
            return AuthenticationError(f"credentials refused: {text}", **context)
        return SoapFaultError(f"SOAP Fault: {text}", fault_code=code, gateway_message=text, **context)

    def _check(self, result: Any, context: Dict[str, Any], operation: str) -> None:
        code = normalise_error_code(getattr(result, "errorCode", None))
        if code != 0:
            extra = {k: val for k, val in context.items() if val is not None}
            raise error_for_code(code, getattr(result, "errorMessage", None), operation=operation, **extra)

    # -- operations -----------------------------------------------------------------------

    # -- registration: the arguments and checks are RbsOperations'; the wire is SOAP's ---------------

    def _refuse_unsupported(self, checked: Dict[str, Any], verify: bool) -> None:
        if checked["callback_url"] is not None:
            raise ValidationError("callback_url: registerOrder over SOAP has no dynamic callback URL; use "
                                  "transport='rest'", field="callback_url")
        if verify and self.cart_layout == "2016":
            raise ValidationError(f"verify: the 2016 MerchantService generation of profile {self.profile!r} "
                                  "carries no features; save cards over transport='rest'", field="verify")

    def _wire_cart(self, receipt: Optional[Receipt], amount: Money) -> Any:
        cart = self._cart(receipt, amount, "the charge", "registerOrder")
        if cart is None:
            return None
        return soap_order_bundle(cart), rbs_tax_system(cart)  # every code RBS has for it, or refused by name

    def _send_registration(self, registration: Registration) -> RegisteredOrder:
        order_number, operation = registration.order_number, registration.operation
        context = {"order_number": order_number}
        order = _order_element(registration)
        result = self._call(operation, context, order={k: val for k, val in order.items() if val is not None})
        self._check(result, context, operation)
        if not result.orderId:
            raise BadResponse("registration answered without an orderId", operation=operation,
                              order_number=order_number)
        return RegisteredOrder(order_id=result.orderId, order_number=order_number, form_url=result.formUrl)

    def _send_payment(self, order_id: str, fields: Dict[str, Any]) -> PaymentStep:
        context = {"order_id": order_id}
        result = self._call("paymentOrderBinding", context, order=fields)
        self._check(result, context, "paymentOrderBinding")
        return PaymentStep(
            order_id=order_id, info=result.info, redirect=result.redirect, acs_url=result.acsUrl,
            pa_req=result.paReq, term_url=result.redirect if result.acsUrl else None,
        )

    def _send_3ds(self, order_id: str, pa_res: str) -> Optional[str]:
        context = {"order_id": order_id}
        result = self._call("finishThreeDs", context, request={"md": order_id, "paRes": pa_res})
        self._check(result, context, "finishThreeDs")
        return result.returnUrl  # type: ignore[no-any-return]

    def _wire_items(self, receipt: Optional[Receipt], amount: Optional[Money], what: str, kind: str) -> Any:
        cart = self._cart(receipt, amount, what, _MONEY_OPERATIONS[kind][0])
        return soap_cart_items(cart) if cart is not None else None

    def _send_money(self, kind: str, order_id: str, fields: Dict[str, Any]) -> None:
        if fields.get("external_refund_id") is not None:
            raise ValidationError(
                "external_refund_id: the SOAP refundOrder has no such field; use expected_deposited "
                "(or the REST transport)", field="external_refund_id")
        operation, names = _MONEY_OPERATIONS[kind]
        order = {"orderId": order_id, **{names[k]: x for k, x in fields.items() if x is not None and k in names}}
        context = {"order_id": order_id}
        result = self._call(operation, context, order=order)
        self._check(result, context, operation)

    def order_status(self, *, order_id: Optional[str] = None, order_number: Optional[str] = None) -> OrderDetails:
        """``getOrderStatusExtended`` by gateway order id or by merchant order number."""
        if (order_id is None) == (order_number is None):
            raise ValidationError("give exactly one of order_id and order_number", field="order_id")
        order: Dict[str, Any] = {}
        if order_id is not None:
            order["orderId"] = v.check_order_id(order_id)
        else:
            order["merchantOrderNumber"] = v.check_order_number(order_number)
        context = {"order_id": order_id, "order_number": order_number}
        result = self._call("getOrderStatusExtended", context, order=order)
        self._check(result, context, "getOrderStatusExtended")
        return order_details_from(_ZeepView(result), order_id=order_id, default_currency=self.default_currency)

    def order_page(self, since: dt.datetime, until: dt.datetime, *, page: int = 0, size: int = MAX_PAGE_SIZE,
                   states: Iterable[str] = MONEY_STATES) -> OrderPage:
        """``getLastOrdersForMerchants``: one page of the orders paid in ``[since, until)`` (see
        :mod:`~autopay_soap.gateways.order_list`)."""
        since, until, chosen = check_page_request(since, until, page, size, states)
        request = {"page": page, "size": size, "from": since, "to": until,
                   "transactionStates": {"transactionStates": list(chosen)}}
        context: Dict[str, Any] = {}
        result = self._call("getLastOrdersForMerchants", context, request=request)
        self._check(result, context, "getLastOrdersForMerchants")
        view = _ZeepView(result)
        return read_page(view, [_ZeepView(entry) for entry in (getattr(result, "orderStatuses", None) or [])
                                if entry is not None],
                         page=page, size=size, default_currency=self.default_currency,
                         read=lambda entry: order_details_from(entry, order_id=None,
                                                               default_currency=self.default_currency))

    def bindings(self, client_id: str, *, show_expired: bool = False) -> Tuple[Binding, ...]:
        """``getBindings``: a client's saved cards; an empty tuple when there are none."""
        client_id = v.check_client_id(client_id, required=True) or ""
        result = self._call("getBindings", {}, request={"clientId": client_id, "showExpired": bool(show_expired)})
        code = normalise_error_code(result.errorCode)
        if code == 2:  # "information not found": no bindings
            return ()
        self._check(result, {}, "getBindings")
        return self._binding_list(result)

    def bindings_by_card_or_id(
        self, *, binding_id: Optional[str] = None, show_expired: bool = False,
    ) -> Tuple[Binding, ...]:
        """``getBindingsByCardOrId`` by binding id (PAN look-ups are not offered: no card data)."""
        request = {"bindingId": v.check_binding_id(binding_id), "showExpired": bool(show_expired)}
        result = self._call("getBindingsByCardOrId", {}, request=request)
        if normalise_error_code(result.errorCode) == 2:
            return ()
        self._check(result, {}, "getBindingsByCardOrId")
        return self._binding_list(result)

    @staticmethod
    def _binding_list(result: Any) -> Tuple[Binding, ...]:
        items = result.bindings.binding if result.bindings is not None else []
        return tuple(make_binding(b.bindingId, b.clientId, b.maskedPan, b.expiryDate) for b in items or [])

    def _send_binding_change(self, operation: str, fields: Dict[str, Any]) -> None:
        parts = {"request": fields} if operation == "extendBinding" else fields  # the WSDL's shapes differ
        result = self._call(operation, {}, **parts)
        self._check(result, {}, operation)

