"""Take the screenshots of the sandbox's pages shown in docs/sandbox.rst (needs Debian's chromium).

    python docs/make_screenshots.py

Each page is drawn by a real headless Chromium at 900 px wide and saved to docs/screenshots/.
"""

import base64
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autopay_soap import Money  # noqa: E402
from autopay_soap.gateways.rbs_soap import RbsSoapGateway  # noqa: E402
from autopay_soap.sandbox import Sandbox, TestCards  # noqa: E402
from tests.support.browser import Browser  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def shot(browser: Browser, url: str, name: str, ready: str, height: int = 700) -> None:
    browser.open(url)
    browser.call("Emulation.setDeviceMetricsOverride", {"width": 900, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})
    browser.wait_for(ready)
    data = browser.call("Page.captureScreenshot", {"format": "png"})["data"]
    (OUT / f"{name}.png").write_bytes(base64.b64decode(data))
    print(f"docs/screenshots/{name}.png")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    browser = Browser()
    try:
        with Sandbox() as sb:
            gw = RbsSoapGateway(sb.soap_url, sb.username, sb.password)
            shot(browser, sb.url + "/_sandbox/", "dashboard-empty",
                 "document.getElementById('orders-empty') !== null", 400)
            paid = gw.register_order("SUB-2026-11-001", Money.of("101.00", "RUB"), sb.return_url,
                                     client_id="customer-42", fail_url=sb.return_url)
            shot(browser, paid.form_url, "payment-page", "document.getElementById('pay') !== null")
            sb.pay(paid.form_url, TestCards.SUCCESS)
            declined = gw.register_order("SUB-2026-11-002", Money.of("499.00", "RUB"), sb.return_url,
                                         fail_url=sb.return_url)
            sb.pay(declined.form_url, TestCards.INSUFFICIENT_FUNDS)
            with_error = gw.register_order("SUB-2026-11-003", Money.of("10.00", "RUB"), sb.return_url)
            browser.open(with_error.form_url)
            browser.wait_for("document.getElementById('pay') !== null")
            browser.submit({"pan": "4444555511113334", "expiry": "12/30", "cvc": "123"}, "submit")
            browser.wait_for("document.getElementById('error') !== null")
            data = browser.call("Page.captureScreenshot", {"format": "png"})["data"]
            (OUT / "payment-page-error.png").write_bytes(base64.b64decode(data))
            print("docs/screenshots/payment-page-error.png")
            three_ds = gw.register_order("SUB-2026-11-004", Money.of("250.00", "RUB"), sb.return_url)
            browser.open(three_ds.form_url)
            browser.wait_for("document.getElementById('pay') !== null")
            card = TestCards.SUCCESS_3DS
            browser.submit({"pan": card.pan, "expiry": card.expiry, "cvc": card.cvc}, "submit")
            browser.wait_for("document.getElementById('acs') !== null")
            data = browser.call("Page.captureScreenshot", {"format": "png"})["data"]
            (OUT / "acs-page.png").write_bytes(base64.b64decode(data))
            print("docs/screenshots/acs-page.png")
            shot(browser, f"{sb.url}/_sandbox/return?orderId={paid.order_id}", "return-paid",
                 "document.getElementById('outcome') !== null", 300)
            shot(browser, f"{sb.url}/_sandbox/return?orderId={declined.order_id}", "return-declined",
                 "document.getElementById('outcome') !== null", 300)
            shot(browser, sb.url + "/_sandbox/", "dashboard", "document.getElementById('orders') !== null", 650)
            shot(browser, sb.url + "/_sandbox/cards", "test-cards", "document.getElementById('cards') !== null", 650)
            gw.close()
    finally:
        browser.close()


if __name__ == "__main__":
    main()
