"""The payer's page and the ACS page, driven by a real headless Chromium (skipped with a reason
when Chromium is absent, except in CI, where it is required)."""

import os

import pytest

from autopay_soap import Money, OrderStatus
from autopay_soap.gateways.rbs_soap import RbsSoapGateway
from autopay_soap.sandbox import TestCards

from ..support.browser import Browser, chromium_path


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed: the browser tests need Debian's chromium (.ci/run installs it)")
    b = Browser()
    yield b
    b.close()


@pytest.mark.parametrize("card, final_status", [
    (TestCards.SUCCESS_3DS, OrderStatus.DEPOSITED),
    (TestCards.SUCCESS, OrderStatus.DEPOSITED),
    (TestCards.INSUFFICIENT_FUNDS, OrderStatus.DECLINED),
], ids=["3ds", "no-3ds", "declined"])
def test_payer_pays_in_a_real_browser(browser, card, final_status, sb):
    gw = RbsSoapGateway(sb.soap_url, sb.username, sb.password)
    order = gw.register_order("WEB-" + card.pan[-4:], Money.of("499.00", "RUB"), sb.return_url,
                              client_id="browser-client")
    browser.open(order.form_url)
    browser.wait_for("document.getElementById('pay') !== null")
    assert browser.evaluate("document.getElementById('amount').textContent") == "499.00"
    assert browser.evaluate("document.getElementById('cvc').type") == "password"
    browser.submit({"pan": card.pan, "expiry": card.expiry, "cvc": card.cvc}, "submit")
    if card.three_ds_code:
        browser.wait_for("document.getElementById('acs') !== null")
        browser.submit({"code": card.three_ds_code}, "confirm")
    browser.wait_for("location.pathname === '/_sandbox/return'")
    assert browser.evaluate("location.search") == f"?orderId={order.order_id}"
    details = gw.order_status(order_id=order.order_id)
    assert details.status is final_status
    assert (details.binding is not None) == (final_status is OrderStatus.DEPOSITED)
    assert sb.engine.charges_by_order_number().get(order.order_number, 0) == \
        (1 if final_status is OrderStatus.DEPOSITED else 0)


def register(sb, number, amount="101.00"):
    gw = RbsSoapGateway(sb.soap_url, sb.username, sb.password)
    order = gw.register_order(number, Money.of(amount, "RUB"), sb.return_url, client_id="browser-client",
                              fail_url=sb.return_url)
    gw.close()
    return order


def test_the_payer_page_reads_right(browser, sb):
    order = register(sb, "PAGE-1")
    browser.open(order.form_url)
    browser.wait_for("document.getElementById('pay') !== null")
    assert browser.evaluate("document.getElementById('amount').textContent") == "101.00"
    assert browser.evaluate("document.getElementById('currency').textContent") == "RUB"
    assert "currency 643" not in browser.evaluate("document.body.innerText")
    # the cardholder field and the Pay button each on a line of their own
    assert browser.evaluate("document.getElementById('submit').getBoundingClientRect().top >= "
                            "document.getElementById('cardholder').getBoundingClientRect().bottom")
    assert browser.evaluate("document.getElementById('submit').textContent") == "Pay 101.00 RUB"
    href = browser.evaluate("document.getElementById('cards-link').href")
    assert href.endswith("/_sandbox/cards")
    browser.open(href)
    browser.wait_for("document.getElementById('cards') !== null")
    assert TestCards.SUCCESS_3DS.pan in browser.evaluate("document.getElementById('cards').innerText")


@pytest.mark.parametrize("fields, named", [
    ({"pan": "4444555511113334", "expiry": "12/30", "cvc": "123"}, "Card number"),
    ({"pan": "4444555511113333", "expiry": "13/30", "cvc": "123"}, "Expiry"),
    ({"pan": "4444555511113333", "expiry": "12/30", "cvc": "12"}, "CVC"),
])
def test_a_bad_card_names_the_field(browser, fields, named, sb):
    order = register(sb, "BAD-" + named[:3])
    browser.open(order.form_url)
    browser.wait_for("document.getElementById('pay') !== null")
    browser.submit(fields, "submit")
    error = browser.wait_for("document.getElementById('error') && document.getElementById('error').textContent")
    assert error.startswith(named + ":")


def test_after_a_declined_card_the_return_page_says_declined(browser, sb):
    order = register(sb, "DECL-1")
    browser.open(order.form_url)
    browser.wait_for("document.getElementById('pay') !== null")
    card = TestCards.INSUFFICIENT_FUNDS
    browser.submit({"pan": card.pan, "expiry": card.expiry, "cvc": card.cvc}, "submit")
    browser.wait_for("location.pathname === '/_sandbox/return'")
    outcome = browser.wait_for("document.getElementById('outcome') && "
                               "document.getElementById('outcome').textContent")
    text = browser.evaluate("document.body.innerText")
    assert outcome == "Payment declined" and "finished" not in text and "101.00 RUB was not paid" in text


def test_the_dashboard_shows_money_with_its_currency_and_says_when_it_is_empty(browser, sb):
    browser.open(sb.url + "/_sandbox/")
    browser.wait_for("document.getElementById('orders-empty') !== null")
    assert browser.evaluate("document.getElementById('orders-empty').textContent") == "No orders yet."
    for i in range(12):
        order = register(sb, f"DASH-{i:02d}")
        sb.pay(order.form_url, TestCards.SUCCESS)
    browser.open(sb.url + "/_sandbox/")
    browser.wait_for("document.getElementById('orders') !== null")
    text = browser.evaluate("document.getElementById('orders').innerText")
    heights = browser.evaluate("Array.from(document.querySelectorAll('#orders tr')).map(r => r.offsetHeight)")
    line = browser.evaluate("parseFloat(getComputedStyle(document.body).lineHeight) || 20")
    assert "101.00 RUB" in text and "10100" not in text
    assert max(heights) < 2 * line  # an order id no longer wraps over several lines
