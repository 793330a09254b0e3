"""The payer's side of the sandbox: the payment page, the ACS page, the dashboard.

Plain HTML forms that work in any browser without JavaScript (the ACS's answer page adds a
one-line auto-submit, with a button for browsers without scripts).
"""

from __future__ import annotations

import html
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from ..errors import ValidationError
from ..models import OrderStatus
from ..money import Money
from .cards import TestCard, TestCards
from .engine import BindingRecord, Movement, Order

__all__ = ["acs_page", "cards_page", "dashboard_page", "message_page", "money_text", "payment_page",
           "post_form_page", "return_page"]

_STYLE = """<style>body{font-family:sans-serif;max-width:44em;margin:2em auto;padding:0 1em;color:#222}
body.wide{max-width:none}label{display:block;margin:.8em 0 .2em}input{display:block;font-size:1.1em;padding:.3em;
width:18em;max-width:100%}button{display:block;font-size:1.1em;margin-top:1.2em;padding:.4em 1.2em}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left;
white-space:nowrap}.scroll{overflow-x:auto}
td.num{text-align:right;white-space:nowrap}td.id{font-family:monospace;font-size:.85em;white-space:nowrap}
.note{color:#666;font-size:.9em}.empty{color:#666;font-style:italic}.error{color:#b00}.ok{color:#070}</style>"""


def _page(title: str, body: str, *, wide: bool = False) -> bytes:
    css = " class='wide'" if wide else ""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"{_STYLE}</head><body{css}>{body}</body></html>").encode("utf-8")


def money_text(minor: int, currency_code: str) -> str:
    """``10100`` and ``"643"`` as ``101.00 RUB`` (the raw values when the currency is unknown)."""
    try:
        code: object = int(currency_code) if str(currency_code).isdigit() else currency_code
        return str(Money.from_minor(int(minor), code))  # type: ignore[arg-type]
    except (ValidationError, ValueError, TypeError):
        return f"{minor} (currency {currency_code})"


def payment_page(order: Order, error: Optional[str] = None) -> bytes:
    """The card form for an order (``formUrl``)."""
    amount, _, alpha = money_text(order.amount, order.currency).partition(" ")
    err = f"<p id='error' class='error' role='alert'>{html.escape(error)}</p>" if error else ""
    if order.card_check is not None:  # a card saved without a payment: the same form, nothing charged
        err = "<p id='card-check'>Saving your card: nothing is charged (a check of zero).</p>" + err
    verb = "Save card" if order.card_check is not None else "Pay"
    return _page("Sandbox payment", f"""
<h1>Sandbox payment</h1>
<p>Order <b id="order-number">{html.escape(order.order_number)}</b>:
<b><span id="amount">{html.escape(amount)}</span> <span id="currency">{html.escape(alpha)}</span></b></p>{err}
<form id="pay" method="post" action="/payment/sandbox/pay">
<input type="hidden" name="mdOrder" value="{html.escape(order.order_id)}">
<label for="pan">Card number</label><input id="pan" name="pan" autocomplete="off" inputmode="numeric" required>
<label for="expiry">Expiry (MM/YY)</label><input id="expiry" name="expiry" placeholder="12/30" required>
<label for="cvc">CVC</label><input id="cvc" name="cvc" type="password" autocomplete="off" inputmode="numeric"
required>
<label for="cardholder">Cardholder</label><input id="cardholder" name="cardholder" value="CARD HOLDER">
<button id="submit" type="submit">{verb} {html.escape(amount)} {html.escape(alpha)}</button></form>
<p class="note">This is the autopay_soap sandbox: no real money moves.
<a id="cards-link" href="/_sandbox/cards" target="_blank">Test cards</a></p>""")


def cards_page() -> bytes:
    """The sandbox's test cards, for a person paying on the sandbox page."""
    cards = [(name, card) for name, card in vars(TestCards).items() if isinstance(card, TestCard)]
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td class='id'>{html.escape(card.pan)}</td>"
                   f"<td>{html.escape(card.expiry)}</td><td>{html.escape(card.cvc)}</td>"
                   f"<td>{html.escape(card.three_ds_code or '')}</td>"
                   f"<td>{html.escape(card.behaviour.value.replace('_', ' '))}</td></tr>" for name, card in cards)
    return _page("Sandbox test cards", f"""<h1>Test cards</h1>
<p class="note">Any cardholder name. No real money moves.</p>
<table id="cards"><tr><th>name</th><th>number</th><th>expiry</th><th>CVC</th><th>3-D Secure code</th>
<th>behaviour</th></tr>{rows}</table>""")


def acs_page(md: str, pa_req: str, term_url: str) -> bytes:
    """The issuer's 3-D Secure page: asks for the one-time code."""
    return _page("Sandbox 3-D Secure", f"""
<h1>3-D Secure</h1><p>Enter the code sent to your phone (sandbox code: 12345678).</p>
<form id="acs" method="post" action="/payment/sandbox/acs/confirm">
<input type="hidden" name="MD" value="{html.escape(md)}">
<input type="hidden" name="PaReq" value="{html.escape(pa_req)}">
<input type="hidden" name="TermUrl" value="{html.escape(term_url)}">
<label for="code">Code</label><input id="code" name="code" autocomplete="off" required>
<button id="confirm" type="submit">Confirm</button></form>""")


def post_form_page(action: str, fields: Mapping[str, str], title: str = "Redirecting") -> bytes:
    """A form that posts ``fields`` to ``action`` by itself (and by a button without scripts)."""
    inputs = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
                     for k, v in fields.items())
    return _page(title, f"""<h1>{html.escape(title)}</h1>
<form id="post" method="post" action="{html.escape(action)}">{inputs}
<button id="continue" type="submit">Continue</button></form>
<script>document.getElementById('post').submit()</script>""")


def message_page(title: str, text: str, element_id: str = "message") -> bytes:
    """A page with a single message (errors)."""
    return _page(title, f"<h1>{html.escape(title)}</h1><p id='{element_id}'>{html.escape(text)}</p>")


def return_page(order: Optional[Order]) -> bytes:
    """The sandbox merchant's return page: what happened to the order, in words that match it."""
    if order is None:
        return message_page("Order not found", "The sandbox has no such order.", "outcome")
    amount = money_text(order.amount, order.currency)
    number = html.escape(order.order_number)
    if order.status is OrderStatus.DEPOSITED or order.status is OrderStatus.REFUNDED:
        title, css, text = "Payment received", "ok", f"Order {number}: {amount} paid."
    elif order.status is OrderStatus.APPROVED:
        title, css, text = "Payment authorised", "ok", f"Order {number}: {amount} held, to be captured."
    elif order.status is OrderStatus.DECLINED:
        said = order.decline_reason.text if order.decline_reason else ""
        reason = f" ({html.escape(said)})" if said else ""
        title, css, text = "Payment declined", "error", f"Order {number}: {amount} was not paid{reason}."
    elif order.status is OrderStatus.REVERSED:
        title, css, text = "Payment cancelled", "error", f"Order {number}: the hold of {amount} was released."
    else:
        title, css, text = "Payment not finished", "note", f"Order {number}: {amount} is not paid yet."
    return _page(title, f"<h1 id='outcome' class='{css}'>{html.escape(title)}</h1><p id='message'>{text}</p>"
                        f"<p class='note'>Order id <span class='id'>{html.escape(order.order_id)}</span></p>")


def dashboard_page(orders: Iterable[Order], bindings: Iterable[BindingRecord],
                   movements: Iterable[Movement], receipts: Iterable[Tuple[Order, Dict[str, Any]]] = ()) -> bytes:
    """The sandbox dashboard: orders, bindings, money movements and the receipts the fiscal
    terminals accepted (``receipts``: ``(order, entry)`` of :meth:`~.fiscal.FiscalLog.receipts`)."""
    def table(table_id: str, heads: Iterable[str], rows: Iterable[Iterable[Tuple[str, str]]], empty: str) -> str:
        body = "".join("<tr>" + "".join(f"<td class='{css}'>{html.escape(str(text))}</td>" for css, text in row)
                       + "</tr>" for row in rows)
        if not body:
            return f"<p id='{table_id}-empty' class='empty'>{html.escape(empty)}</p>"
        head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
        return f"<div class='scroll'><table id='{table_id}'><tr>{head}</tr>{body}</table></div>"

    def amount(order: Order, minor: int) -> Tuple[str, str]:
        return "num", money_text(minor, order.currency)

    orders_html = table("orders", ("number", "status", "amount", "approved", "deposited", "refunded", "client",
                                   "order id", "binding"),
                        ((("", o.order_number), ("", o.status.name), amount(o, o.amount), amount(o, o.approved),
                          amount(o, o.deposited), amount(o, o.refunded), ("", o.client_id or ""),
                          ("id", o.order_id), ("id", o.binding_id or "")) for o in orders),
                        "No orders yet.")
    bindings_html = table("bindings", ("binding id", "client", "card", "expiry", "active"),
                          ((("id", b.binding_id), ("", b.client_id), ("id", b.masked_pan), ("", b.expiry),
                            ("", "yes" if b.active else "no")) for b in bindings),
                          "No bindings yet.")
    movements_html = table("movements", ("kind", "order number", "amount", "order id"),
                           ((("", m.kind), ("", m.order_number), ("num", money_text(m.amount, m.currency)),
                             ("id", m.order_id)) for m in movements),
                           "No money has moved yet.")
    receipts_html = table("receipts", ("order number", "receipt", "amount", "lines", "status"),
                          ((("", o.order_number), ("", r["operation"]), amount(o, r["amount"]),
                            ("num", str(_lines_of(r["receipt"]))), ("", r["status"])) for o, r in receipts),
                          "No receipts yet (Sandbox(receipts_required=True) checks them on every payment).")
    return _page("Sandbox dashboard", f"""<h1>Sandbox dashboard</h1>
<p class="note">JSON: <a href="/_sandbox/ledger">/_sandbox/ledger</a>, /_sandbox/orders/&lt;id&gt;.
<a href="/_sandbox/cards">Test cards</a></p>
<h2>Orders</h2>{orders_html}<h2>Bindings</h2>{bindings_html}<h2>Money movements</h2>{movements_html}
<h2>Receipts</h2>{receipts_html}""", wide=True)


def _lines_of(receipt: Any) -> int:
    """How many lines a kept receipt has (T-Bank's Items, RBS's cartItems.items or items)."""
    if not isinstance(receipt, dict):
        return 0
    items = receipt.get("Items") or (receipt.get("cartItems") or {}).get("items") or receipt.get("items") or []
    return len(items) if isinstance(items, list) else 0
