"""The sandbox's REST front end: ``/payment/rest/<method>.do`` (form-encoded POST).

Answers are JSON with the real gateway's quirks: ``errorCode`` is a string and is absent
from a successful ``register.do``; dates are epoch milliseconds; a declined binding payment
answers ``errorCode "0"`` with an ``error`` field.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Callable, Dict, Mapping, Optional

from .. import json_input
from ..models import OrderStatus
from .engine import Engine, EngineError, Order, PaymentResult
from .fiscal import FiscalLog, rbs_cart_problem
from .lifecycle import Refusal
from .order_list import listed_page, rest_time
from .rbs_words import action_code, action_text, error_code

__all__ = ["BINDING_TYPES", "RestFrontEnd", "REST_METHODS", "of_binding_type"]

REST_METHODS = (
    "register", "registerPreAuth", "paymentOrderBinding", "deposit", "reverse", "refund",
    "getOrderStatus", "getOrderStatusExtended", "getBindings", "getBindingsByCardOrId", "bindCard",
    "unBindCard", "extendBinding", "decline", "finish3ds",
)


BINDING_TYPES = {"C": "COMMON", "R": "RECURRENT", "I": "INSTALLMENT"}
"""``bindingType`` of getBindings: the ``bindingCategory`` it selects. Sandbox bindings are COMMON."""


def of_binding_type(bindings: list, binding_type: Optional[str]) -> list:
    """The bindings of ``bindingType`` (C, R or I; empty or absent: all); code 5 for another value."""
    if not binding_type:
        return bindings
    category = BINDING_TYPES.get(binding_type.upper())
    if category is None:
        raise EngineError(Refusal.BAD_FIELD, "Wrong value of [bindingType]: C, R or I")
    return [b for b in bindings if b.category == category]


TII_MODES = ("optional", "required", "absent")
TII_CODES = ("F", "U", "R", "I")


def json_params(text: Optional[str]) -> Dict[str, str]:
    """``jsonParams``: a JSON object of text values (error 5 "invalid jsonParams" otherwise)."""
    if not text:
        return {}
    try:
        value = json_input.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in value.items()):
        raise EngineError(Refusal.BAD_FIELD, "Invalid jsonParams")
    return dict(value)


def _int(params: Mapping[str, str], name: str) -> Optional[int]:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)  # type: ignore[arg-type]
    except ValueError:
        raise EngineError(Refusal.BAD_FIELD, f"Wrong value of [{name}]") from None


class RestFrontEnd:
    """Turns REST form posts into engine calls and engine state into the gateway's JSON."""

    def __init__(self, engine: Engine, username: str, password: str, urls: Callable[[str], str], *,
                 tii_mode: str = "optional") -> None:
        if tii_mode not in TII_MODES:
            raise ValueError(f"rbs_tii: {tii_mode!r} is not one of {', '.join(TII_MODES)}")
        self.tii_mode = tii_mode
        self.engine = engine
        self.username = username
        self._password = password
        self.receipts_required = False  # set by the Sandbox (see sandbox.fiscal)
        self.fiscal: Optional[FiscalLog] = None
        self.urls = urls
        self._handlers: Dict[str, Callable[[Mapping[str, str]], Dict[str, Any]]] = {
            "register": lambda p: self._register(p, False),
            "registerPreAuth": lambda p: self._register(p, True),
            "paymentOrderBinding": self._pay_binding,
            "deposit": self._deposit,
            "reverse": lambda p: self._ok(self.engine.reverse(self._order_id(p))),
            "refund": self._refund,
            "getOrderStatus": self._status,
            "getOrderStatusExtended": self._status_extended,
            "getBindings": self._bindings,
            "getBindingsByCardOrId": self._bindings_by_id,
            "bindCard": lambda p: self._binding_active(p, True),
            "unBindCard": lambda p: self._binding_active(p, False),
            "extendBinding": self._extend,
            "decline": lambda p: self._ok(self.engine.decline(self._order_id(p))),
            "finish3ds": self._finish_3ds,
            "getReceiptStatus": self._receipt_status,
            "getLastOrdersForMerchants": self._order_list,
        }

    def handle(self, method: str, params: Mapping[str, str]) -> Dict[str, Any]:
        """Answer one REST call with the gateway's JSON object."""
        handler = self._handlers.get(method)
        if handler is None:
            return {"errorCode": "7", "errorMessage": f"Unknown method {method}.do"}
        user = params.get("userName") or ""
        password = params.get("password") or ""
        if not (hmac.compare_digest(user.encode(), self.username.encode())
                & hmac.compare_digest(password.encode(), self._password.encode())):
            return {"errorCode": "5", "errorMessage": "Access denied"}
        try:
            return handler(params)
        except EngineError as exc:
            return {"errorCode": str(error_code(exc.refusal)), "errorMessage": exc.message}

    # -- helpers ---------------------------------------------------------------------------

    def _order_id(self, params: Mapping[str, str]) -> str:
        order_id = params.get("orderId")
        if not order_id and params.get("orderNumber"):
            order_id = self.engine.order(order_number=params["orderNumber"]).order_id
        if not order_id:
            raise EngineError(Refusal.BAD_FIELD, "[orderId] is empty")
        return order_id

    @staticmethod
    def _ok(_order: Any = None) -> Dict[str, Any]:
        return {"errorCode": "0", "errorMessage": "Success"}

    # -- methods ---------------------------------------------------------------------------

    def _cart_refusal(self, text: Optional[str], amount: Optional[int], *, bundle: bool,
                      partial: bool = True) -> Optional[Dict[str, Any]]:
        """errorCode 4 for a cart the terminal refuses (see :mod:`.fiscal`), or None."""
        if not text and not (self.receipts_required and partial):
            return None
        problem = rbs_cart_problem(text, amount, bundle=bundle)
        return {"errorCode": "4", "errorMessage": problem} if problem else None

    def _register(self, p: Mapping[str, str], two_stage: bool) -> Dict[str, Any]:
        refused = self._cart_refusal(p.get("orderBundle"), _int(p, "amount"), bundle=True)
        if refused is None and (p.get("orderBundle") or self.receipts_required) and \
                (p.get("taxSystem") or "") not in ("0", "1", "2", "3", "4", "5"):
            refused = {"errorCode": "4", "errorMessage": "taxSystem is required with a cart (0..5)"}
        if refused:
            return refused
        features = [f for f in (p.get("features") or "").replace(";", ",").split(",") if f.strip()]
        order = self.engine.register(
            order_number=p.get("orderNumber"), amount=_int(p, "amount"), currency=p.get("currency"),
            return_url=p.get("returnUrl"), fail_url=p.get("failUrl"), description=p.get("description"),
            client_id=p.get("clientId"), features=[f.strip() for f in features], binding_id=p.get("bindingId"),
            session_timeout_secs=_int(p, "sessionTimeoutSecs"), two_stage=two_stage,
            callback_url=p.get("dynamicCallbackUrl"), params=json_params(p.get("jsonParams")),
        )
        if p.get("orderBundle") and self.fiscal is not None:
            self.fiscal.add(order.order_id, "sell", json.loads(p["orderBundle"]), order.amount)
        return {"orderId": order.order_id,
                "formUrl": self.urls(f"/payment/merchants/sandbox/payment_ru.html?mdOrder={order.order_id}")}

    def _deposit(self, p: Mapping[str, str]) -> Dict[str, Any]:
        order = self.engine.order(self._order_id(p))
        amount = _int(p, "amount") or 0
        refused = self._cart_refusal(p.get("depositItems"), amount, bundle=False,
                                     partial=0 < amount < order.approved)
        if refused:
            return refused
        self.engine.deposit(order.order_id, amount)
        if p.get("depositItems") and self.fiscal is not None:
            self.fiscal.add(order.order_id, "capture", json.loads(p["depositItems"]), amount)
        return self._ok()

    def _payment_json(self, result: PaymentResult) -> Dict[str, Any]:
        if result.needs_3ds:
            return {"errorCode": "0", "info": "Your order is proceeded, redirecting to the ACS",
                    "acsUrl": self.urls("/payment/sandbox/acs"), "paReq": result.pa_req,
                    "termUrl": self.urls("/payment/rest/finish3ds.do?lang=ru")}
        if result.declined:
            return {"errorCode": 0, "error": f"Operation declined. {result.message}",
                    "processingErrorType": "CLIENT_ERROR", "displayErrorMessage": result.message}
        return {"errorCode": 0, "info": "Your order is proceeded, redirecting...",
                "redirect": self.urls(f"/payment/sandbox/finish?orderId={result.order.order_id}")}

    def _pay_binding(self, p: Mapping[str, str]) -> Dict[str, Any]:
        if not p.get("mdOrder"):
            raise EngineError(Refusal.BAD_FIELD, "[mdOrder] is empty")
        if not p.get("bindingId"):
            raise EngineError(Refusal.BAD_FIELD, "[bindingId] is empty")
        tii = self._check_tii(p.get("tii"), p["mdOrder"])
        return self._payment_json(self.engine.pay_with_binding(p["mdOrder"], p["bindingId"], cvc=p.get("cvc"),
                                                               ip=p.get("ip"), tii=tii))

    def _check_tii(self, tii: Optional[str], order_id: str) -> Optional[str]:
        """``tii`` as the gateway's generation takes it (error 5 otherwise; nothing is charged)."""
        if tii is not None and self.tii_mode == "absent":
            raise EngineError(Refusal.BAD_FIELD, "Unknown parameter tii")
        if tii is None:
            if self.tii_mode == "required":
                raise EngineError(Refusal.BAD_FIELD, "[tii] is empty")
            return None
        if tii not in TII_CODES:
            raise EngineError(Refusal.BAD_FIELD, "Invalid tii: F, U, R or I on a payment by binding")
        if tii in ("U", "R", "I") and self.engine.order(order_id).two_stage:
            raise EngineError(Refusal.BAD_FIELD, f"tii {tii} is for one-phase payments only")
        return tii

    def _finish_3ds(self, p: Mapping[str, str]) -> Dict[str, Any]:
        order_id = p.get("MD") or p.get("mdOrder") or ""
        result = self.engine.finish_3ds(order_id, p.get("PaRes") or p.get("paRes") or "")
        order = self.engine.order(order_id)
        url = order.return_url if result.paid else (order.fail_url or order.return_url)
        return {"errorCode": "0", "redirect": f"{url}{'&' if '?' in (url or '') else '?'}orderId={order_id}"}

    def _refund(self, p: Mapping[str, str]) -> Dict[str, Any]:
        amount = _int(p, "amount")
        if amount is None:
            raise EngineError(Refusal.BAD_FIELD, "[amount] is empty")
        order = self.engine.order(self._order_id(p))
        refused = self._cart_refusal(p.get("refundItems"), amount, bundle=False,
                                     partial=amount < order.deposited - order.refunded)
        if refused:
            return refused
        self.engine.refund(order.order_id, amount, expected_deposited=_int(p, "expectedDepositedAmount"),
                           external_refund_id=p.get("externalRefundId"))
        if p.get("refundItems") and self.fiscal is not None:
            self.fiscal.add(order.order_id, "refund", json.loads(p["refundItems"]), amount)
        return self._ok()

    def _receipt_status(self, p: Mapping[str, str]) -> Dict[str, Any]:
        """``getReceiptStatus.do`` in the legacy generation's words (codes 0..5)."""
        order = self.engine.order(self._order_id(p))
        codes = {("sell", "sent"): 0, ("sell", "delivered"): 1, ("refund", "sent"): 3, ("refund", "delivered"): 4}
        receipts = []
        for item in self.fiscal.receipts(order.order_id) if self.fiscal is not None else []:
            kind = "refund" if item["operation"] == "refund" else "sell"
            receipts.append({"receiptStatus": codes[(kind, item["status"])], "uuid": item["uuid"],
                             "receipt_datetime": int(item["sent_at"]), "amount_total": f"{item['amount'] / 100:.2f}",
                             "fiscal_document_number": item["number"] if item["status"] == "delivered" else None})
        return {"errorCode": "0", "errorMessage": "Success", "orderNumber": order.order_number,
                "orderId": order.order_id, "receipt": receipts}

    def _status(self, p: Mapping[str, str]) -> Dict[str, Any]:
        try:
            order = self.engine.order(self._order_id(p))
        except EngineError as exc:  # the legacy method's keys too, and no OrderStatus to misread
            code = str(error_code(exc.refusal))
            return {"ErrorCode": code, "ErrorMessage": exc.message, "errorCode": code, "errorMessage": exc.message}
        return {  # the legacy method answers in PascalCase
            "OrderStatus": int(order.status), "ErrorCode": "2" if order.status is OrderStatus.DECLINED else "0",
            "ErrorMessage": action_text(order), "OrderNumber": order.order_number, "Pan": order.masked_pan,
            "expiration": order.card_expiry, "cardholderName": order.cardholder, "Amount": order.amount,
            "currency": order.currency, "approvalCode": order.approval_code, "depositAmount": order.deposited,
            "clientId": order.client_id, "bindingId": order.binding_id, "Ip": None,
        }

    def _status_extended(self, p: Mapping[str, str]) -> Dict[str, Any]:
        if not p.get("orderId") and not p.get("orderNumber"):
            raise EngineError(Refusal.NO_ORDER_KEY, "orderId or orderNumber expected")
        order = self.engine.order(p.get("orderId") or None, None if p.get("orderId") else p.get("orderNumber"))
        return self.status_json(order)

    def _order_list(self, p: Mapping[str, str]) -> Dict[str, Any]:
        orders, total, page, size = listed_page(
            self.engine, page=p.get("page"), size=p.get("size"), since=rest_time(p.get("from")),
            until=rest_time(p.get("to")), states=[s for s in (p.get("transactionStates") or "").split(",") if s])
        return {"errorCode": "0", "errorMessage": "Success", "orderStatuses": [self.status_json(o) for o in orders],
                "totalCount": total, "page": page, "pageSize": size}

    @staticmethod
    def status_json(order: Order) -> Dict[str, Any]:
        """``getOrderStatusExtended.do``'s JSON for an order."""
        body: Dict[str, Any] = {
            "errorCode": "0", "errorMessage": "Success", "orderNumber": order.order_number,
            "orderStatus": int(order.status), "actionCode": action_code(order) or 0,
            "actionCodeDescription": action_text(order), "amount": order.amount, "currency": order.currency,
            "date": int(order.created_at * 1000), "orderDescription": order.description or "",
            "merchantOrderParams": [], "attributes": [{"name": "mdOrder", "value": order.order_id}],
            "paymentAmountInfo": {"paymentState": order.payment_state, "approvedAmount": order.approved,
                                  "depositedAmount": order.deposited, "refundedAmount": order.refunded},
            "bankInfo": {"bankName": "SANDBOX BANK", "bankCountryCode": "RU", "bankCountryName": "Russia"},
        }
        if order.masked_pan:  # "pan" too: older integrations read only that key
            body["cardAuthInfo"] = {"maskedPan": order.masked_pan, "pan": order.masked_pan,
                                    "expiration": order.card_expiry,
                                    "cardholderName": order.cardholder or "", "approvalCode": order.approval_code}
        if order.binding_id:
            body["bindingInfo"] = {"clientId": order.client_id, "bindingId": order.binding_id}
        if order.paid_at:
            body["authDateTime"] = int(order.paid_at * 1000)
            body["terminalId"] = "SANDBOX1"
        if order.refunds:
            body["refunds"] = [{"amount": a, "date": int(t * 1000), "actionCode": 0} for a, t in order.refunds]
        return body

    def _binding_list(self, bindings: list) -> Dict[str, Any]:
        if not bindings:
            return {"errorCode": "2", "errorMessage": "Information not found"}
        return {"errorCode": "0", "errorMessage": "Success", "bindings": [
            {"bindingId": b.binding_id, "maskedPan": b.masked_pan, "expiryDate": b.expiry,
             "clientId": b.client_id, "bindingCategory": b.category} for b in bindings]}

    def _bindings(self, p: Mapping[str, str]) -> Dict[str, Any]:
        if not p.get("clientId"):
            raise EngineError(Refusal.BAD_FIELD, "[clientId] is empty")
        bindings = self.engine.bindings(p["clientId"], binding_id=p.get("bindingId") or None,  # "" means absent
                                        show_expired=p.get("showExpired") == "true")
        return self._binding_list(of_binding_type(bindings, p.get("bindingType")))

    def _bindings_by_id(self, p: Mapping[str, str]) -> Dict[str, Any]:
        if not p.get("bindingId"):
            raise EngineError(Refusal.BAD_FIELD, "[bindingId] is empty (PAN look-ups are not emulated)")
        return self._binding_list(self.engine.bindings(binding_id=p["bindingId"],
                                                       show_expired=p.get("showExpired") == "true"))

    def _binding_active(self, p: Mapping[str, str], active: bool) -> Dict[str, Any]:
        self.engine.set_binding_active(p.get("bindingId") or "", active)
        return self._ok()

    def _extend(self, p: Mapping[str, str]) -> Dict[str, Any]:
        self.engine.extend_binding(p.get("bindingId") or "", p.get("newExpiry") or "")
        return self._ok()
