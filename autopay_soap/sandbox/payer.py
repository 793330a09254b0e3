"""The payer, without a browser: the plain-HTTP payer API and the card form's and ACS's posts.

Each function takes what came in and returns what to answer; the HTTP plumbing is
the server's, the routing table's (``sandbox.routes``).
"""

from __future__ import annotations

from typing import Any, Dict, Tuple
from urllib.parse import parse_qs, urlencode, urlsplit

from .. import json_input
from . import pages
from .answer import Answer, Site
from .cards import ACS_CODES, TestCard, TestCards
from .engine import EngineError, Order, pares_for
from .lifecycle import Refusal
from .rbs_words import action_code

__all__ = ["browser_finish_3ds", "browser_pay", "pay_as_payer"]


def pay_as_payer(sandbox: Site, body: bytes, content_type: str) -> Tuple[int, Dict[str, Any]]:
    """``POST /_sandbox/pay``: act as the payer without a browser or our library.

    JSON (or a form) with the order (``form_url``, ``order_id`` or a T-Bank ``payment_id``) and
    the card: a test card's name (``"SUCCESS"``, ``"SUCCESS_3DS"``, ``"TBANK_3DS_CHALLENGE"``...) or
    ``pan``/``expiry``/``cvc``; ``three_ds_code`` answers the ACS (default: the card's own code,
    so a 3-D Secure card passes; a wrong code fails it). Answers the order as JSON: ``orderId``,
    ``paid``, ``orderStatus``, ``statusName``, ``declineReason`` (the sandbox's word for why it was
    declined, see :class:`~autopay_soap.codes.reasons.DeclineReason`), ``actionCode`` (that reason
    as RBS's code) and ``redirectUrl`` (the merchant's return or fail URL); 400 for a request it
    cannot read, 404 for an unknown order, 409 when the order cannot be paid.
    """
    try:
        if "json" in content_type.lower() or body.lstrip().startswith(b"{"):
            data = json_input.loads(body.decode("utf-8"))
        else:
            data = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
        if not isinstance(data, dict):
            raise ValueError("a JSON object is expected")
    except ValueError as exc:
        return 400, {"error": f"the request cannot be read: {exc}"}
    order_id = _order_named(sandbox, data)
    card_name = data.get("card") if isinstance(data.get("card"), str) else None
    card = getattr(TestCards, card_name.upper(), None) if card_name else None
    if card_name and not isinstance(card, TestCard):
        return 400, {"error": f"no test card named {card_name!r}"}
    pan = card.pan if card else str(data.get("pan") or "")
    expiry = card.expiry if card else str(data.get("expiry") or "")
    cvc = card.cvc if card else str(data.get("cvc") or "")
    try:
        result = sandbox.engine.pay_with_card(order_id, pan=pan, expiry=expiry, cvc=cvc,
                                              cardholder=str(data.get("cardholder") or "CARD HOLDER"))
        if result.needs_3ds:
            code = str(data.get("three_ds_code") or (card.three_ds_code if card else "") or "")
            pa_res = pares_for(order_id) if code in ACS_CODES else "failed"
            sandbox.tbank.acs_answered(order_id, pa_res)
            result = sandbox.engine.finish_3ds(order_id, pa_res)
        order = sandbox.engine.order(order_id)
    except EngineError as exc:
        status = 404 if exc.refusal is Refusal.ORDER_NOT_FOUND else 409
        return status, {"error": exc.message, "orderId": order_id or None}
    if not result.paid and not result.declined:
        return 409, {"error": result.message, "orderId": order_id}
    return 200, {"orderId": order_id, "paid": result.paid, "orderStatus": int(order.status),
                 "statusName": order.status.name,
                 "declineReason": order.decline_reason.value if order.decline_reason else None,
                 "actionCode": action_code(order),
                 "redirectUrl": _back_to_merchant(order, result.paid)}


def _order_named(sandbox: Site, data: Dict[str, Any]) -> str:
    """The engine order a payer's request names: by ``form_url`` (an RBS or a T-Bank page),
    ``payment_id`` (T-Bank: the payer opened its form) or ``order_id``; "" when none."""
    order_id = str(data.get("order_id") or "")
    payment_id = str(data.get("payment_id") or "")
    form_url = str(data.get("form_url") or "")
    if form_url:
        parts = urlsplit(form_url)
        if parts.path.startswith("/new/"):
            payment_id = parts.path[len("/new/"):]
        else:
            order_id = parse_qs(parts.query).get("mdOrder", [""])[0]
    if payment_id:
        order_id = sandbox.tbank.payment_of(payment_id) or ""
        sandbox.tbank.form_shown(payment_id)
    return order_id


def _back_to_merchant(order: Order, paid: bool) -> str:
    """Where the payer goes next: the return URL when paid, else the fail URL (or the return
    URL), with ``orderId`` added; the sandbox's own return page when the order names none."""
    url = (order.return_url if paid else (order.fail_url or order.return_url)) or "/_sandbox/return"
    return f"{url}{'&' if '?' in url else '?'}orderId={order.order_id}"


def browser_pay(sandbox: Site, form: Dict[str, str]) -> Answer:
    """The card form's post: pay, then the ACS, the form again with what is wrong, or the merchant."""
    order_id = form.get("mdOrder", "")
    try:
        result = sandbox.engine.pay_with_card(order_id, pan=form.get("pan", ""), expiry=form.get("expiry", ""),
                                              cvc=form.get("cvc", ""), cardholder=form.get("cardholder"))
        order = sandbox.engine.order(order_id)
    except EngineError as exc:
        return Answer.html(409, pages.message_page("Payment refused", exc.message, "error"))
    if result.needs_3ds:
        term = sandbox.url + "/payment/rest/finish3ds.do"
        return Answer.redirect("/payment/sandbox/acs?" + urlencode({"MD": order_id, "PaReq": result.pa_req or "",
                                                                    "TermUrl": term}))
    if not result.paid and not result.declined:
        return Answer.html(200, pages.payment_page(order, result.message))
    return Answer.redirect(_back_to_merchant(order, result.paid))


def browser_finish_3ds(sandbox: Site, form: Dict[str, str]) -> Answer:
    """The ACS's post back (``MD``, ``PaRes``): finish the payment, then to the merchant."""
    order_id = form.get("MD", "")
    try:
        result = sandbox.engine.finish_3ds(order_id, form.get("PaRes", ""))
        order = sandbox.engine.order(order_id)
    except EngineError as exc:
        return Answer.html(409, pages.message_page("Payment refused", exc.message, "error"))
    return Answer.redirect(_back_to_merchant(order, result.paid))


def acs_confirm(sandbox: Site, form: Dict[str, str]) -> Answer:
    """The ACS page's post: the code the payer typed; the PaRes goes back to the merchant's TermUrl."""
    md = form.get("MD", "")
    pa_res = pares_for(md) if form.get("code", "").strip() in ACS_CODES else "failed"
    sandbox.tbank.acs_answered(md, pa_res)
    return Answer.html(200, pages.post_form_page(form.get("TermUrl", ""), {"MD": md, "PaRes": pa_res}))
