"""The sandbox's SOAP front end: ``/payment/webservices/merchant-ws``.

Every request is parsed safely, must carry a WS-Security UsernameToken with the merchant's
credentials (otherwise a SOAP Fault, as the real WSS4J stack answers), and is validated
against the bundled schema; every answer is built from the engine's state and validated
against the same schema before it leaves. Malformed XML and unknown operations get a SOAP
Fault, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from typing import Any, Callable, Dict, Optional, Tuple

from lxml import etree

from ..models import OrderStatus
from ..wsdl_bundle import MERCHANT_NS, SOAP_ENV_NS, WSSE_NS, UnsafeXML, envelope_validator, parse_xml
from .engine import Engine, EngineError, Order, PaymentResult
from .fiscal import FiscalLog, rbs_cart_problem, soap_cart_json
from .order_list import listed_page, soap_time
from .rbs_words import action_code, action_text, error_code
from .rest import of_binding_type

__all__ = ["SoapFrontEnd", "WSS_FAULT"]

WSS_FAULT = "An error was discovered processing the <wsse:Security> header"
_MSK = dt.timezone(dt.timedelta(hours=3))


def _xs_datetime(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, _MSK).isoformat(timespec="milliseconds")


def fault_envelope(code: str, text: str) -> bytes:
    """A SOAP 1.1 Fault envelope."""
    env = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap": SOAP_ENV_NS})
    body = etree.SubElement(env, f"{{{SOAP_ENV_NS}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP_ENV_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = code
    etree.SubElement(fault, "faultstring").text = text
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


class SoapFrontEnd:
    """Turns SOAP requests into engine calls and engine state into schema-valid answers.

    :param urls: builds the sandbox's own URLs (``urls("/payment/...")``).
    """

    def __init__(self, engine: Engine, username: str, password: str, urls: Callable[[str], str],
                 validate: bool = True) -> None:
        self.engine = engine
        self.username = username
        self._password = password
        self.receipts_required = False  # set by the Sandbox (see sandbox.fiscal)
        self.fiscal: Optional[FiscalLog] = None
        self.urls = urls
        self.validate = validate
        self._validator = envelope_validator() if validate else None
        self._handlers: Dict[str, Callable[[etree._Element], etree._Element]] = {
            "registerOrder": lambda p: self._register(p, two_stage=False),
            "registerOrderPreAuth": lambda p: self._register(p, two_stage=True),
            "paymentOrderBinding": self._pay_binding,
            "finishThreeDs": self._finish_3ds,
            "depositOrder": self._deposit,
            "reverseOrder": self._reverse,
            "refundOrder": self._refund,
            "getOrderStatus": self._status,
            "getOrderStatusExtended": self._status_extended,
            "getBindings": self._bindings,
            "getBindingsByCardOrId": self._bindings_by_id,
            "bindCard": lambda p: self._bind(p, True),
            "unBindCard": lambda p: self._bind(p, False),
            "extendBinding": self._extend,
            "getLastOrdersForMerchants": self._order_list,
        }

    # -- entry point -----------------------------------------------------------------------

    def operation_of(self, body: bytes) -> Optional[str]:
        """The operation a request names (for fault plans), or None if it names none."""
        try:
            root = parse_xml(body)
        except (etree.XMLSyntaxError, UnsafeXML):
            return None
        wrapper = root.find(f"{{{SOAP_ENV_NS}}}Body/*")
        return etree.QName(wrapper).localname if wrapper is not None else None

    def handle(self, body: bytes) -> Tuple[int, bytes]:
        """Answer one SOAP request: ``(HTTP status, envelope bytes)``."""
        try:
            root = parse_xml(body)
        except (etree.XMLSyntaxError, UnsafeXML, ValueError) as exc:
            return 500, fault_envelope("soap:Client", f"Error reading XMLStreamReader: {type(exc).__name__}")
        if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
            return 500, fault_envelope("soap:VersionMismatch", "Not a SOAP 1.1 envelope")
        if not self._authenticated(root):
            return 500, fault_envelope("ns1:InvalidSecurity", WSS_FAULT)
        wrapper = root.find(f"{{{SOAP_ENV_NS}}}Body/*")
        if wrapper is None:
            return 500, fault_envelope("soap:Client", "Empty SOAP body")
        qname = etree.QName(wrapper)
        handler = self._handlers.get(qname.localname) if qname.namespace == MERCHANT_NS else None
        if handler is None:
            return 500, fault_envelope("soap:Client", f"Unexpected wrapper element {qname.text} found")
        if self._validator is not None:
            error = self._validator.first_error(wrapper)
            if error is not None:
                return 500, fault_envelope("soap:Client", f"Unmarshalling Error: {error}")
        part = wrapper[0] if len(wrapper) else None
        if part is None:
            return 500, fault_envelope("soap:Client", "Missing part")
        answer = handler(part)
        response = etree.Element(f"{{{MERCHANT_NS}}}{qname.localname}Response", nsmap={"ns1": MERCHANT_NS})
        response.append(answer)
        if self._validator is not None:
            error = self._validator.first_error(response)
            if error is not None:  # a bug in the sandbox: never send an invalid answer
                return 500, fault_envelope("soap:Server", f"Sandbox produced an invalid answer: {error}")
        env = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap": SOAP_ENV_NS})
        etree.SubElement(env, f"{{{SOAP_ENV_NS}}}Body").append(response)
        return 200, etree.tostring(env, xml_declaration=True, encoding="UTF-8")

    def _authenticated(self, root: etree._Element) -> bool:
        token = root.find(f"{{{SOAP_ENV_NS}}}Header/{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
        if token is None:
            return False
        user = token.findtext(f"{{{WSSE_NS}}}Username") or ""
        password = token.findtext(f"{{{WSSE_NS}}}Password") or ""
        ok_user = hmac.compare_digest(user.encode(), self.username.encode())
        ok_password = hmac.compare_digest(password.encode(), self._password.encode())
        return ok_user and ok_password

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _ret(**attrs: Any) -> etree._Element:
        ret = etree.Element("return")
        for key, value in attrs.items():
            if value is not None:
                ret.set(key, str(value).lower() if isinstance(value, bool) else str(value))
        return ret

    def _error(self, exc: EngineError) -> etree._Element:
        return self._ret(errorCode=error_code(exc.refusal), errorMessage=exc.message)

    @staticmethod
    def _int(part: etree._Element, name: str) -> Optional[int]:
        value = part.get(name)
        return int(value) if value not in (None, "") else None

    # -- operations ------------------------------------------------------------------------

    def _cart_refused(self, element: Optional[etree._Element], amount: Optional[int], *, bundle: bool,
                      partial: bool = True) -> Optional[etree._Element]:
        """errorCode 4 for a cart the terminal refuses (see :mod:`.fiscal`), or None."""
        text = soap_cart_json(element, bundle=bundle)
        if not text and not (self.receipts_required and partial):
            return None
        problem = rbs_cart_problem(text, amount, bundle=bundle)
        return self._ret(errorCode=4, errorMessage=problem) if problem else None

    def _keep(self, order_id: str, operation: str, element: Optional[etree._Element], amount: int,
              bundle: bool) -> None:
        if element is not None and self.fiscal is not None:
            self.fiscal.add(order_id, operation, json.loads(soap_cart_json(element, bundle=bundle) or "{}"), amount)

    def _register(self, part: etree._Element, *, two_stage: bool) -> etree._Element:
        refused = self._cart_refused(part.find("orderBundle"), self._int(part, "amount"), bundle=True)
        if refused is None and (part.find("orderBundle") is not None or self.receipts_required) and \
                (part.get("taxSystem") or "") not in ("0", "1", "2", "3", "4", "5"):
            refused = self._ret(errorCode=4, errorMessage="taxSystem is required with a cart (0..5)")
        if refused is not None:
            return refused
        features = [f.text or "" for f in part.findall("features/feature")]
        params = {p.get("name"): p.get("value") for p in part.findall("params")}
        try:
            order = self.engine.register(
                order_number=part.get("merchantOrderNumber"), amount=self._int(part, "amount"),
                currency=part.get("currency"), return_url=part.findtext("returnUrl"),
                fail_url=part.findtext("failUrl"), description=part.get("description"),
                client_id=part.findtext("clientId"), features=features, binding_id=part.get("bindingId"),
                session_timeout_secs=self._int(part, "sessionTimeoutSecs"), two_stage=two_stage,
                callback_url=params.get("dynamicCallbackUrl"),
                params={k: x for k, x in params.items() if k and x is not None and k != "dynamicCallbackUrl"},
            )
        except EngineError as exc:
            return self._error(exc)
        self._keep(order.order_id, "sell", part.find("orderBundle"), order.amount, bundle=True)
        ret = self._ret(errorCode=0, orderId=order.order_id)
        etree.SubElement(ret, "formUrl").text = self.urls(
            f"/payment/merchants/sandbox/payment_ru.html?mdOrder={order.order_id}")
        return ret

    def _payment_result(self, result: PaymentResult) -> etree._Element:
        order = result.order
        if result.needs_3ds:
            return self._ret(errorCode=0, info="Your order is proceeded, redirecting to the ACS",
                             acsUrl=self.urls("/payment/sandbox/acs"), paReq=result.pa_req,
                             redirect=self.urls("/payment/rest/finish3ds.do"))
        if result.declined:
            # errorCode 0 only means "processed": the decline is in errorMessage and the status.
            return self._ret(errorCode=0, errorMessage=f"Operation declined. {result.message}",
                             info=f"Operation declined. {result.message}")
        return self._ret(errorCode=0, info="Your order is proceeded, redirecting...",
                         redirect=self.urls(f"/payment/sandbox/finish?orderId={order.order_id}"))

    def _pay_binding(self, part: etree._Element) -> etree._Element:
        try:
            result = self.engine.pay_with_binding(part.get("mdOrder") or "", part.get("bindingId") or "",
                                                  cvc=part.get("cvc"), ip=part.get("ip"))
        except EngineError as exc:
            return self._error(exc)
        return self._payment_result(result)

    def _finish_3ds(self, part: etree._Element) -> etree._Element:
        try:
            result = self.engine.finish_3ds(part.get("md") or "", part.get("paRes") or "")
            order = self.engine.order(result.order.order_id)
        except EngineError as exc:
            return self._error(exc)
        url = order.return_url if result.paid else (order.fail_url or order.return_url)
        return self._ret(errorCode=0, returnUrl=f"{url}{'&' if '?' in (url or '') else '?'}orderId={order.order_id}")

    def _deposit(self, part: etree._Element) -> etree._Element:
        amount = self._int(part, "depositAmount") or 0
        order_id, items = part.get("orderId") or "", part.find("depositItems")
        try:
            approved = self.engine.order(order_id).approved
        except EngineError as exc:
            return self._error(exc)
        refused = self._cart_refused(items, amount, bundle=False, partial=0 < amount < approved)
        if refused is not None:
            return refused
        return self._money(lambda: self.engine.deposit(order_id, amount),
                           lambda: self._keep(order_id, "capture", items, amount, bundle=False))

    def _reverse(self, part: etree._Element) -> etree._Element:
        return self._money(lambda: self.engine.reverse(part.get("orderId") or ""))

    def _refund(self, part: etree._Element) -> etree._Element:
        expected = part.findtext("expectedDepositedAmount")
        order_id, amount, items = part.get("orderId") or "", self._int(part, "refundAmount") or 0, \
            part.find("refundItems")
        try:
            order = self.engine.order(order_id)
        except EngineError as exc:
            return self._error(exc)
        refused = self._cart_refused(items, amount, bundle=False, partial=amount < order.deposited - order.refunded)
        if refused is not None:
            return refused
        return self._money(lambda: self.engine.refund(order_id, amount,
                                                      expected_deposited=int(expected) if expected else None),
                           lambda: self._keep(order_id, "refund", items, amount, bundle=False))

    def _money(self, call: Callable[[], Order], done: Optional[Callable[[], None]] = None) -> etree._Element:
        try:
            call()
        except EngineError as exc:
            return self._error(exc)
        if done is not None:  # what to keep once the engine did it (a receipt)
            done()
        return self._ret(errorCode=0)

    def _status(self, part: etree._Element) -> etree._Element:
        try:
            order = self.engine.order(part.get("orderId") or "")
        except EngineError as exc:
            # the WSDL requires orderStatus, amount and authCode; -1 is no order's status, so no
            # client reading the status first can take this answer for a created, unpaid order
            return self._ret(errorCode=error_code(exc.refusal), errorMessage=exc.message, orderStatus=-1, amount=0,
                             authCode=0)
        return self._ret(
            errorCode=2 if order.status is OrderStatus.DECLINED else 0,
            errorMessage=action_text(order) or None, orderStatus=int(order.status),
            orderNumber=order.order_number, pan=order.masked_pan,
            expiration=order.card_expiry, cardholderName=order.cardholder, amount=order.amount,
            currency=order.currency, approvalCode=order.approval_code, authCode=2,
            date=_xs_datetime(order.created_at), orderDescription=order.description,
            clientId=order.client_id, bindingId=order.binding_id,
        )

    def _status_extended(self, part: etree._Element) -> etree._Element:
        try:
            order = self.engine.order(part.get("orderId"), part.findtext("merchantOrderNumber"))
        except EngineError as exc:
            return self._error(exc)
        return self._order_element(order, self._ret(errorCode=0, errorMessage="Success"))

    @staticmethod
    def _order_element(order: Order, ret: etree._Element) -> etree._Element:
        """``ret`` filled as a ``getOrderStatusExtendedResponse`` of ``order``."""
        attributes = dict(
            orderNumber=order.order_number, orderStatus=int(order.status),
            actionCode=action_code(order),
            actionCodeDescription=action_text(order) or None, amount=order.amount, currency=order.currency,
            date=_xs_datetime(order.created_at), orderDescription=order.description,
        )
        for key, value in attributes.items():
            if value is not None:
                ret.set(key, str(value))
        etree.SubElement(ret, "attributes", name="mdOrder", value=order.order_id)
        if order.masked_pan:
            card = etree.SubElement(ret, "cardAuthInfo", maskedPan=order.masked_pan,
                                    expiration=order.card_expiry or "")
            if order.cardholder:
                card.set("cardholderName", order.cardholder)
            if order.approval_code:
                card.set("approvalCode", order.approval_code)
        if order.binding_id:
            etree.SubElement(ret, "bindingInfo", clientId=order.client_id or "", bindingId=order.binding_id)
        if order.paid_at:
            etree.SubElement(ret, "authDateTime").text = _xs_datetime(order.paid_at)
            etree.SubElement(ret, "terminalId").text = "SANDBOX1"
        etree.SubElement(ret, "paymentAmountInfo", paymentState=order.payment_state,
                         approvedAmount=str(order.approved), depositedAmount=str(order.deposited),
                         refundedAmount=str(order.refunded))
        etree.SubElement(ret, "bankInfo", bankName="SANDBOX BANK", bankCountryCode="RU",
                         bankCountryName="Russia")
        for amount, at in order.refunds:
            etree.SubElement(ret, "refunds", amount=str(amount), date=_xs_datetime(at), actionCode="0")
        return ret

    def _order_list(self, part: etree._Element) -> etree._Element:
        try:
            orders, total, page, size = listed_page(
                self.engine, page=part.findtext("page"), size=part.findtext("size"),
                since=soap_time(part.findtext("from")), until=soap_time(part.findtext("to")),
                states=[e.text or "" for e in part.findall("transactionStates/transactionStates")])
        except EngineError as exc:
            return self._ret(errorCode=error_code(exc.refusal), errorMessage=exc.message)
        ret = self._ret(errorCode=0, errorMessage="Success")
        for order in orders:
            self._order_element(order, etree.SubElement(ret, "orderStatuses", errorCode="0"))
        for name, value in (("totalCount", total), ("page", page), ("pageSize", size)):
            etree.SubElement(ret, name).text = str(value)
        return ret

    def _binding_list(self, bindings: list) -> etree._Element:
        ret = self._ret(errorCode=0 if bindings else 2,
                        errorMessage=None if bindings else "Information not found")
        holder = etree.SubElement(ret, "bindings")
        for b in bindings:
            etree.SubElement(holder, "binding", bindingId=b.binding_id, maskedPan=b.masked_pan,
                             expiryDate=b.expiry, clientId=b.client_id)
        return ret

    def _no_bindings(self, message: str) -> etree._Element:
        """An error answer of the bindings operations: code 5 and an empty ``bindings``."""
        ret = self._ret(errorCode=5, errorMessage=message)
        etree.SubElement(ret, "bindings")
        return ret

    def _bindings(self, part: etree._Element) -> etree._Element:
        client = part.get("clientId")
        if not client:
            return self._no_bindings("[clientId] is empty")
        try:
            bindings = of_binding_type(
                self.engine.bindings(client, binding_id=part.get("bindingId") or None,  # "" means absent
                                     show_expired=part.get("showExpired") == "true"),
                part.get("bindingType"))
        except EngineError as exc:
            return self._no_bindings(exc.message)
        return self._binding_list(bindings)

    def _bindings_by_id(self, part: etree._Element) -> etree._Element:
        binding_id = part.get("bindingId")
        if not binding_id:
            return self._no_bindings("[bindingId] is empty (PAN look-ups are not emulated)")
        return self._binding_list(self.engine.bindings(binding_id=binding_id,
                                                       show_expired=part.get("showExpired") == "true"))

    def _bind(self, part: etree._Element, active: bool) -> etree._Element:
        try:
            self.engine.set_binding_active(part.text or "", active)
        except EngineError as exc:
            return self._error(exc)
        return self._ret(errorCode=0)

    def _extend(self, part: etree._Element) -> etree._Element:
        try:
            self.engine.extend_binding(part.get("bindingId") or "", part.get("newExpiry") or "")
        except EngineError as exc:
            return self._ret(errorCode=str(error_code(exc.refusal)), errorMessage=exc.message)
        return self._ret(errorCode="0")
