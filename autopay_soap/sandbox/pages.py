"""The payer's side of the sandbox: the payment page, the ACS page, the dashboard.

Plain HTML forms that work in any browser without JavaScript (the ACS's answer page adds a
one-line auto-submit, with a button for browsers without scripts).
"""

from __future__ import annotations

import html
from typing import Iterable, Mapping, Optional

from .engine import BindingRecord, Movement, Order

__all__ = ["acs_page", "dashboard_page", "message_page", "payment_page", "post_form_page"]

_STYLE = """<style>body{font-family:sans-serif;max-width:44em;margin:2em auto;color:#222}
label{display:block;margin:.6em 0 .2em}input{font-size:1.1em;padding:.3em;width:18em}
button{font-size:1.1em;margin-top:1em;padding:.4em 1.2em}table{border-collapse:collapse;font-size:.85em}
td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left}.note{color:#666;font-size:.9em}</style>"""


def _page(title: str, body: str) -> bytes:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"{_STYLE}</head><body>{body}</body></html>").encode("utf-8")


def payment_page(order: Order, error: Optional[str] = None) -> bytes:
    """The card form for an order (``formUrl``)."""
    amount = f"{order.amount / 100:.2f}"
    err = f"<p id='error' style='color:#b00'>{html.escape(error)}</p>" if error else ""
    return _page("Sandbox payment", f"""
<h1>Sandbox payment</h1>
<p>Order <b id="order-number">{html.escape(order.order_number)}</b>: <b id="amount">{amount}</b>
(currency {html.escape(order.currency)})</p>{err}
<form id="pay" method="post" action="/payment/sandbox/pay">
<input type="hidden" name="mdOrder" value="{html.escape(order.order_id)}">
<label for="pan">Card number</label><input id="pan" name="pan" autocomplete="off" inputmode="numeric" required>
<label for="expiry">Expiry (MM/YY)</label><input id="expiry" name="expiry" placeholder="12/30" required>
<label for="cvc">CVC</label><input id="cvc" name="cvc" type="password" autocomplete="off" required>
<label for="cardholder">Cardholder</label><input id="cardholder" name="cardholder" value="CARD HOLDER">
<button id="submit" type="submit">Pay</button></form>
<p class="note">This is the autopay_soap sandbox: no real money moves. Test cards: see the docs.</p>""")


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
    """A page with a single message (the sandbox merchant's return page, errors)."""
    return _page(title, f"<h1>{html.escape(title)}</h1><p id='{element_id}'>{html.escape(text)}</p>")


def dashboard_page(orders: Iterable[Order], bindings: Iterable[BindingRecord],
                   movements: Iterable[Movement]) -> bytes:
    """The sandbox dashboard: orders, bindings and money movements."""
    def rows(cells: Iterable[Iterable[object]]) -> str:
        return "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in cells)

    order_rows = rows((o.order_number, o.order_id, o.status.name, o.amount, o.approved, o.deposited, o.refunded,
                       o.client_id or "", o.binding_id or "") for o in orders)
    binding_rows = rows((b.binding_id, b.client_id, b.masked_pan, b.expiry, "yes" if b.active else "no")
                        for b in bindings)
    movement_rows = rows((m.kind, m.order_number, m.order_id, m.amount, m.currency) for m in movements)
    return _page("Sandbox dashboard", f"""<h1>Sandbox dashboard</h1>
<p class="note">JSON: <a href="/_sandbox/ledger">/_sandbox/ledger</a>, /_sandbox/orders/&lt;id&gt;</p>
<h2>Orders</h2><table id="orders"><tr><th>number</th><th>id</th><th>status</th><th>amount</th><th>approved</th>
<th>deposited</th><th>refunded</th><th>client</th><th>binding</th></tr>{order_rows}</table>
<h2>Bindings</h2><table id="bindings"><tr><th>id</th><th>client</th><th>card</th><th>expiry</th><th>active</th></tr>
{binding_rows}</table>
<h2>Money movements</h2><table id="movements"><tr><th>kind</th><th>order number</th><th>order id</th>
<th>amount</th><th>currency</th></tr>{movement_rows}</table>""")
