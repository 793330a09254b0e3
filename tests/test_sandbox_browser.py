"""The payer's page and the ACS page, driven by a real headless Chromium."""

import pytest

from autopay_soap import Money, OrderStatus
from autopay_soap.gateways.rbs_soap import RbsSoapGateway
from autopay_soap.sandbox import Sandbox, TestCards

from .browser import Browser


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.mark.parametrize("card, final_status", [
    (TestCards.SUCCESS_3DS, OrderStatus.DEPOSITED),
    (TestCards.SUCCESS, OrderStatus.DEPOSITED),
    (TestCards.INSUFFICIENT_FUNDS, OrderStatus.DECLINED),
], ids=["3ds", "no-3ds", "declined"])
def test_payer_pays_in_a_real_browser(browser, card, final_status):
    with Sandbox() as sb:
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
