"""The sandbox's routing table: which function answers which method and path.

A route returns an :class:`~.answer.Answer`, or an :class:`~.answer.ApiCall` for the gateway
APIs (SOAP, REST, T-Bank), which the server runs through the fault plan. Exact paths are looked
up in a table; the few families of paths (``/v2/<Method>``, ``/payment/rest/<method>.do``,
``/new/<PaymentId>``...) by prefix, in order.
"""

from __future__ import annotations

import json
import re
from typing import Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import parse_qs, urlsplit

import attr

from .. import json_input
from ..wsdl_bundle import wsdl_dir
from . import pages
from .answer import JSON, Answer, ApiCall, Site
from .clock import SandboxClock
from .engine import EngineError, Order
from .payer import acs_confirm, browser_finish_3ds, browser_pay, pay_as_payer
from .tbank import CASHBOX_METHODS

__all__ = ["REST_PREFIX", "SOAP_PATH", "TBANK_PREFIX", "Request", "route"]

TBANK_PREFIX = "/v2/"
SOAP_PATH = "/payment/webservices/merchant-ws"
REST_PREFIX = "/payment/rest/"
_REST_RE = re.compile(r"^/payment/rest/([A-Za-z0-9]+)\.do$")
_NOT_FOUND = Answer.text(404, b"not found")

Target = Union[Answer, ApiCall]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Request:
    """One request as the routes see it."""

    method: str
    path: str
    query: str
    body: bytes = b""
    content_type: str = ""

    @property
    def args(self) -> Dict[str, str]:
        """The query's parameters (the first value of each)."""
        return {k: v[0] for k, v in parse_qs(self.query).items()}

    @property
    def form(self) -> Dict[str, str]:
        """The body as a form (blank values kept)."""
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True).items()}

    @classmethod
    def of(cls, method: str, target: str, body: bytes = b"", content_type: str = "") -> "Request":
        """From the request line's target (path and query)."""
        parts = urlsplit(target)
        return cls(method, parts.path, parts.query, body, content_type)


Route = Callable[[Site, Request], Target]


def route(sandbox: Site, request: Request) -> Target:
    """What answers ``request``: its route's answer, or 404."""
    exact, prefixed = _ROUTES.get(request.method, ({}, []))
    handler: Optional[Route] = exact.get(request.path)
    if handler is None:
        handler = next((h for prefix, h in prefixed if request.path.startswith(prefix)), None)
    if handler is None:
        return Answer.text(405, b"method not allowed\n") if request.method not in _ROUTES else _NOT_FOUND
    return handler(sandbox, request)


# -- pages and the JSON inspection API --------------------------------------------------------

def _order_or_none(sandbox: Site, order_id: str) -> Optional[Order]:
    try:
        return sandbox.engine.order(order_id or "-")
    except EngineError:
        return None


def _tbank_page(sandbox: Site, request: Request) -> Target:
    payment_id = request.path[len("/new/"):]
    engine_id = sandbox.tbank.payment_of(payment_id)
    if engine_id is None:
        return Answer.html(404, pages.message_page("Not found", "No such payment"))
    sandbox.tbank.form_shown(payment_id)
    return Answer.html(200, pages.payment_page(sandbox.engine.order(engine_id)))


def _rbs_page(sandbox: Site, request: Request) -> Target:
    if not request.path.endswith(".html"):
        return _NOT_FOUND
    order = _order_or_none(sandbox, request.args.get("mdOrder", ""))
    if order is None:
        return Answer.html(404, pages.message_page("Not found", "No such order"))
    return Answer.html(200, pages.payment_page(order))


def _acs_page(sandbox: Site, request: Request) -> Target:
    fields = request.args if request.method == "GET" else request.form
    return Answer.html(200, pages.acs_page(fields.get("MD", ""), fields.get("PaReq", ""), fields.get("TermUrl", "")))


def _return_page(sandbox: Site, request: Request) -> Target:
    return Answer.html(200, pages.return_page(_order_or_none(sandbox, request.args.get("orderId", ""))))


def _dashboard(sandbox: Site, request: Request) -> Target:
    engine = sandbox.engine
    orders = list(engine.orders())
    receipts = [(order, entry) for order in orders for entry in sandbox.fiscal.receipts(order.order_id)]
    return Answer.html(200, pages.dashboard_page(orders, engine.all_bindings(), engine.movements(), receipts))


def _order_json(sandbox: Site, request: Request) -> Target:
    order = _order_or_none(sandbox, request.path.rsplit("/", 1)[1])
    if order is None:
        return Answer.json(404, {"error": "order not found"})
    receipts = [{"operation": r["operation"], "amount": r["amount"], "status": r["status"], "uuid": r["uuid"],
                 "receipt": r["receipt"]} for r in sandbox.fiscal.receipts(order.order_id)]
    return Answer.json(200, {**order.as_json(), "receipts": receipts})


def _wsdl(sandbox: Site, request: Request) -> Target:
    base = sandbox.soap_url
    if request.query == "wsdl":
        text = (wsdl_dir() / "merchant-ws.wsdl").read_text("utf-8")
        text = re.sub(r'location="https://[^"]+"', f'location="{base}"', text)
        text = text.replace('location="MerchantService.wsdl"', f'location="{base}?wsdl=MerchantService.wsdl"')
    elif request.query == "wsdl=MerchantService.wsdl":
        text = (wsdl_dir() / "MerchantService.wsdl").read_text("utf-8")
        text = text.replace('schemaLocation="merchant.xsd"', f'schemaLocation="{base}?xsd=merchant.xsd"')
    elif request.query == "xsd=merchant.xsd":
        text = (wsdl_dir() / "merchant.xsd").read_text("utf-8")
    else:
        return _NOT_FOUND
    return Answer(200, text.encode("utf-8"), "text/xml; charset=utf-8")


# -- the gateway APIs -------------------------------------------------------------------------

def _soap(sandbox: Site, request: Request) -> Target:
    body = request.body
    return ApiCall(sandbox.soap.operation_of(body), "soap", lambda: sandbox.soap.handle(body),
                   "text/xml; charset=utf-8")


def _rest(sandbox: Site, request: Request) -> Target:
    match = _REST_RE.match(request.path)
    if not match:
        return _NOT_FOUND
    form, method = request.form, match.group(1)
    if method == "finish3ds" and "userName" not in form:  # the ACS's post back, from the payer's browser
        return browser_finish_3ds(sandbox, form)
    return ApiCall(method, "rest", lambda: (200, json.dumps(sandbox.rest.handle(method, form),
                                                            ensure_ascii=False).encode("utf-8")), JSON)


def _tbank(sandbox: Site, request: Request) -> Target:
    method = request.path[len(TBANK_PREFIX):]
    if method in CASHBOX_METHODS:  # served under /cashbox/, as T-Bank serves it
        return _NOT_FOUND
    return _tbank_call(sandbox, request, method)


def _tbank_call(sandbox: Site, request: Request, method: str) -> Target:
    try:
        if "json" in request.content_type.lower():
            data = json_input.loads(request.body.decode("utf-8"))
        else:
            data = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()}
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError:
        return Answer.json(200, {"Success": False, "ErrorCode": "9999", "Message": "Неверный формат запроса"})
    return ApiCall(method, "tbank", lambda: (200, json.dumps(sandbox.tbank.handle(method, data),
                                                             ensure_ascii=False).encode("utf-8")),
                   "application/json; charset=utf-8")


def _clock(sandbox: Site, request: Request) -> Target:
    """``POST /_sandbox/clock`` ``{"advance_seconds": N}``: move a :class:`SandboxClock` forward."""
    clock = getattr(sandbox, "clock", None)
    try:
        data = json_input.loads(request.body.decode("utf-8") or "{}")
        step = data.get("advance_seconds", 0) if isinstance(data, dict) else None
        if isinstance(step, bool) or not isinstance(step, (int, float)):
            raise ValueError("advance_seconds: a number of seconds")
        if not isinstance(clock, SandboxClock):
            return Answer.json(409, {"error": "this sandbox runs on a clock of its own that cannot be moved"})
        return Answer.json(200, {"now": clock.advance(seconds=step), "offset": clock.offset})
    except ValueError as exc:
        return Answer.json(400, {"error": str(exc).splitlines()[0]})


def _payer_api(sandbox: Site, request: Request) -> Target:
    return Answer.json(*pay_as_payer(sandbox, request.body, request.content_type))


_GET: Dict[str, Route] = {
    SOAP_PATH: _wsdl,
    "/payment/sandbox/acs": _acs_page,
    "/payment/sandbox/finish": _return_page,
    "/_sandbox/return": _return_page,
    "/_sandbox/cards": lambda sandbox, request: Answer.html(200, pages.cards_page()),
    "/_sandbox": _dashboard,
    "/_sandbox/": _dashboard,
    "/_sandbox/ledger": lambda sandbox, request: Answer.json(200, sandbox.ledger_json()),
}
_GET_PREFIXED: List[Tuple[str, Route]] = [
    ("/new/", _tbank_page),
    ("/payment/merchants/", _rbs_page),
    ("/_sandbox/orders/", _order_json),
]
_POST: Dict[str, Route] = {
    SOAP_PATH: _soap,
    "/payment/sandbox/pay": lambda sandbox, request: browser_pay(sandbox, request.form),
    "/_sandbox/pay": _payer_api,
    "/_sandbox/clock": _clock,
    "/cashbox/SendClosingReceipt": lambda sandbox, request: _tbank_call(sandbox, request, "SendClosingReceipt"),
    "/payment/sandbox/acs": _acs_page,
    "/payment/sandbox/acs/confirm": lambda sandbox, request: acs_confirm(sandbox, request.form),
}
_POST_PREFIXED: List[Tuple[str, Route]] = [
    (TBANK_PREFIX, _tbank),
    (REST_PREFIX, _rest),
]
_ROUTES = {"GET": (_GET, _GET_PREFIXED), "POST": (_POST, _POST_PREFIXED)}
