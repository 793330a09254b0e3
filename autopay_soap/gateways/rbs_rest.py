"""RBS over REST (``/payment/rest/<method>.do``, form-encoded POST): the fallback transport.

Same interface and results as :class:`~autopay_soap.gateways.rbs_soap.RbsSoapGateway`. The REST
quirks are normalised here: ``errorCode`` as a string, a number or absent; keys whose case
changed between versions (read case-insensitively); dates in epoch milliseconds; and a
declined binding payment answering ``errorCode 0`` with an ``error`` field.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Dict, Iterable, Mapping, Optional, Tuple, Union

import attr

from .. import validation as v
from ..codes.rbs import error_for_code
from ..errors import BadResponse, PaymentDeclined, ValidationError
from ..models import Binding, OrderDetails, PaymentStep, RegisteredOrder
from ..money import Money
from ..receipts import Receipt, ReceiptStatus, check_receipt_for
from ..redact import excerpt
from ..secret import Secret
from .base import GatewayFeatures, guard_replies, make_binding, normalise_error_code, order_details_from
from .http_gateway import Connection, HttpGateway
from .order_list import MAX_PAGE_SIZE, MONEY_STATES, OrderPage, check_page_request, read_page, rest_time
from .rbs_operations import RbsOperations, Registration
from .receipt_wire import rbs_items_json, rbs_order_bundle, rbs_receipt_statuses, rbs_tax_system

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["RbsRestGateway"]

_MONEY_FIELDS = {"deposit": {"amount": "amount", "items": "depositItems"}, "reverse": {},
                 "refund": {"amount": "amount", "items": "refundItems", "expected_deposited": "expectedDepositedAmount",
                            "external_refund_id": "externalRefundId"}}
"""The REST names of the money operations' fields (the method is ``<kind>.do``)."""

log = logging.getLogger(__name__)


class _CI(dict):  # type: ignore[type-arg]
    """A dict read case-insensitively (``bindingInfo`` / ``BindingInfo``)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__({str(k).lower(): (_CI(x) if isinstance(x, dict) else x) for k, x in data.items()})

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@guard_replies
class RbsRestGateway(RbsOperations, HttpGateway):
    """The RBS gateway over REST.

    :param base_url: the REST base, e.g. ``https://3dsec.sberbank.ru/payment/rest/``.
    :param username: the API login; :param password: its password (never logged or shown).
    :param connection: ``timeouts``, ``verify`` (``True`` or a CA bundle path), ``session``,
        ``default_currency``, ``max_reply_bytes``: see :class:`~autopay_soap.gateways.http_gateway.Connection`.
    :param tii_mode: whether this gateway takes ``tii`` on ``paymentOrderBinding``: ``none``
        (never sent: the default), ``optional`` or ``required`` (see :data:`~autopay_soap.profiles.RBS_TII`).
    """

    name = "rest"
    features = GatewayFeatures(external_refund_id=True, receipt_reports="call")
    _wire_label = "REST"
    _repr_fields = ("base_url", "username")
    _check_fields = ("tii_mode",)

    def __init__(self, base_url: str, username: str, password: Union[str, Secret], *, tii_mode: str = "none",
                 **connection: Unpack[Connection]) -> None:
        if tii_mode not in ("none", "optional", "required"):
            raise ValidationError(f"tii_mode: {tii_mode!r} is not none, optional or required", field="tii_mode")
        self.features = attr.evolve(RbsRestGateway.features, tii_mode=tii_mode)
        base = v.check_url(base_url, "base_url") or ""
        self.base_url = base if base.endswith("/") else base + "/"
        self._open_login("REST", username, password, **connection)

    # -- plumbing -------------------------------------------------------------------------

    def call(self, method: str, **params: Any) -> Dict[str, Any]:
        """The escape hatch: any ``<method>.do`` of the REST API, by name, with its form fields
        (``gateway.call("getOrderStatusExtended", orderId=...)``), through this gateway's session:
        the same timeouts, reply limit, credentials and redacted wire log as the facade's calls,
        and the same errors (an ``errorCode`` other than 0 raises). Returns the reply as a dict
        read case-insensitively. Nothing checks the fields: prefer the facade where it does.
        """
        if not method or not method.isascii() or not method.replace("_", "").isalnum():
            raise ValidationError("method: the name of a REST method, letters and digits only", field="method")
        taken = sorted(name for name in params if name.lower() in ("username", "password", "token"))
        if taken:
            raise ValidationError(f"{taken[0]}: the gateway's credentials are its own, not a field", field=taken[0])
        context: Dict[str, Any] = {}
        result = self._call(method, params, context)
        self._check(result, method, context)
        return result

    def _call(self, method: str, params: Dict[str, Any], context: Dict[str, Any]) -> _CI:
        context = {"operation": method, **{k: x for k, x in context.items() if x is not None}}
        form = {"userName": self.username, "password": self._password.reveal(),
                **{k: str(x).lower() if isinstance(x, bool) else str(x) for k, x in params.items() if x is not None}}
        url = f"{self.base_url}{method}.do"
        started = time.perf_counter()
        data, response = self._exchange(f"{method}.do", url, form, context, shown=form)
        if not isinstance(data, dict):
            raise BadResponse(f"{method}.do answered with JSON that is not an object", http_status=200,
                              excerpt=excerpt(response.content), **context)
        result = _CI(data)
        log.debug("%s order_number=%s order_id=%s errorCode=%s duration_ms=%.1f", method,
                  context.get("order_number"), context.get("order_id"), result.get("errorCode"),
                  (time.perf_counter() - started) * 1000)
        return result

    @staticmethod
    def _check(result: _CI, method: str, context: Dict[str, Any]) -> None:
        code = normalise_error_code(result.get("errorCode"))
        if code != 0:
            raise error_for_code(code, result.get("errorMessage"), operation=method,
                                 **{k: x for k, x in context.items() if x is not None})

    # -- operations -----------------------------------------------------------------------

    # -- registration: the arguments and checks are RbsOperations'; the wire is REST's ---------------

    def _wire_cart(self, receipt: Optional[Receipt], amount: Money) -> Any:
        return _cart(receipt, amount) or None

    def _send_registration(self, r: Registration) -> RegisteredOrder:
        params = {**(r.cart or {}),
            "orderNumber": r.order_number, "amount": r.amount.minor, "currency": r.amount.currency.numeric,
            "returnUrl": r.return_url, "failUrl": r.fail_url, "description": r.description,
            "language": r.language, "clientId": r.client_id, "bindingId": r.binding_id,
            "sessionTimeoutSecs": r.session_timeout_secs, "email": r.email, "features": r.feature,
            "dynamicCallbackUrl": r.callback_url,
            "jsonParams": json.dumps(r.recurring.json_params()) if r.recurring else None,
        }
        method = "registerPreAuth" if r.two_stage else "register"
        context = {"order_number": r.order_number}
        result = self._call(method, params, context)
        self._check(result, method, context)
        if not result.get("orderId"):
            raise BadResponse("registration answered without an orderId", operation=method,
                              order_number=r.order_number)
        return RegisteredOrder(result.get("orderId"), r.order_number, result.get("formUrl"))

    def _send_payment(self, order_id: str, fields: Dict[str, Any]) -> PaymentStep:
        context = {"order_id": order_id}
        result = self._call("paymentOrderBinding", fields, context)
        self._check(result, "paymentOrderBinding", context)
        if result.get("error"):
            raise PaymentDeclined(f"payment declined: {result.get('error')}", operation="paymentOrderBinding",
                                  order_id=order_id, gateway_code=0, gateway_message=result.get("error"))
        return PaymentStep(order_id, result.get("info"), result.get("redirect"), result.get("acsUrl"),
                           result.get("paReq"), result.get("termUrl"))

    def _send_3ds(self, order_id: str, pa_res: str) -> Optional[str]:
        context = {"order_id": order_id}
        result = self._call("finish3ds", {"MD": order_id, "PaRes": pa_res}, context)
        self._check(result, "finish3ds", context)
        return result.get("redirect")  # type: ignore[no-any-return]

    def _wire_items(self, receipt: Optional[Receipt], amount: Optional[Money], what: str, kind: str) -> Any:
        if receipt is None:
            return None
        check_receipt_for(receipt, amount, what)
        return rbs_items_json(receipt)

    def _send_money(self, kind: str, order_id: str, fields: Dict[str, Any]) -> None:
        names = _MONEY_FIELDS[kind]
        context = {"order_id": order_id}
        result = self._call(kind, {"orderId": order_id, **{names[k]: x for k, x in fields.items()}}, context)
        self._check(result, kind, context)

    def order_status(self, *, order_id: Optional[str] = None, order_number: Optional[str] = None) -> OrderDetails:
        """``getOrderStatusExtended.do`` by order id or merchant order number."""
        result = self._order_call("getOrderStatusExtended", order_id, order_number)
        return order_details_from(result, order_id=order_id, default_currency=self.default_currency)

    def order_page(self, since: dt.datetime, until: dt.datetime, *, page: int = 0, size: int = MAX_PAGE_SIZE,
                   states: Iterable[str] = MONEY_STATES) -> OrderPage:
        """``getLastOrdersForMerchants.do``: one page of the orders paid in ``[since, until)`` (by
        payment date; see :mod:`~autopay_soap.gateways.order_list`)."""
        since, until, chosen = check_page_request(since, until, page, size, states)
        params = {"page": page, "size": size, "from": rest_time(since), "to": rest_time(until),
                  "transactionStates": ",".join(chosen), "searchByCreatedDate": False}
        context: Dict[str, Any] = {}
        result = self._call("getLastOrdersForMerchants", params, context)
        self._check(result, "getLastOrdersForMerchants", context)
        entries = result.get("orderStatuses")
        if entries is not None and not isinstance(entries, list):
            raise ValueError("orderStatuses is not a list")
        return read_page(result, entries, page=page, size=size, default_currency=self.default_currency,
                         read=lambda entry: order_details_from(entry, order_id=None,
                                                               default_currency=self.default_currency))

    def _order_call(self, method: str, order_id: Optional[str], order_number: Optional[str]) -> _CI:
        """``method`` for one order, by gateway id or merchant order number (exactly one), checked."""
        if (order_id is None) == (order_number is None):
            raise ValidationError("give exactly one of order_id and order_number", field="order_id")
        params = ({"orderId": v.check_order_id(order_id)} if order_id is not None
                  else {"orderNumber": v.check_order_number(order_number)})
        context = {"order_id": order_id, "order_number": order_number}
        result = self._call(method, params, context)
        self._check(result, method, context)
        return result

    def receipt_status(self, *, order_id: Optional[str] = None,
                       order_number: Optional[str] = None) -> Tuple[ReceiptStatus, ...]:
        """``getReceiptStatus.do``: the order's receipts and where each stands (see
        :class:`~autopay_soap.receipts.ReceiptStatus`); an empty tuple when none was sent yet."""
        return rbs_receipt_statuses(dict(self._order_call("getReceiptStatus", order_id, order_number)))

    def _binding_list(self, method: str, params: Dict[str, Any]) -> Tuple[Binding, ...]:
        result = self._call(method, params, {})
        if normalise_error_code(result.get("errorCode")) == 2:
            return ()
        self._check(result, method, {})
        return tuple(make_binding(b.get("bindingId"), b.get("clientId"), b.get("maskedPan"), b.get("expiryDate"))
                     for b in result.get("bindings") or [])

    def bindings(self, client_id: str, *, show_expired: bool = False) -> Tuple[Binding, ...]:
        """``getBindings.do``: a client's saved cards; an empty tuple when there are none."""
        return self._binding_list("getBindings", {"clientId": v.check_client_id(client_id, required=True),
                                                  "showExpired": bool(show_expired)})

    def bindings_by_card_or_id(self, *, binding_id: Optional[str] = None,
                               show_expired: bool = False) -> Tuple[Binding, ...]:
        """``getBindingsByCardOrId.do`` by binding id."""
        return self._binding_list("getBindingsByCardOrId", {"bindingId": v.check_binding_id(binding_id),
                                                            "showExpired": bool(show_expired)})

    def _send_binding_change(self, operation: str, fields: Dict[str, Any]) -> None:
        result = self._call(operation, fields, {})
        self._check(result, operation, {})

def _cart(receipt: Optional[Receipt], amount: Money) -> Dict[str, Any]:
    """``orderBundle`` and ``taxSystem`` of a registration (nothing without a receipt)."""
    if receipt is None:
        return {}
    check_receipt_for(receipt, amount)
    return {"orderBundle": rbs_order_bundle(receipt), "taxSystem": rbs_tax_system(receipt)}
