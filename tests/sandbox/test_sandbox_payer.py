"""Another team's test suite against ``autopay-soap sandbox``: no browser, no client of ours.

The banner names every endpoint and the credentials; plain HTTP registers an order, pays it as
the payer (3-D Secure included) and reads the order and the ledger as JSON.
"""

import subprocess
import sys

import pytest
import requests

from autopay_soap.signing import make_token


@pytest.fixture(scope="module")
def server():
    proc = subprocess.Popen([sys.executable, "-m", "autopay_soap.cli", "sandbox", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    banner = []
    while not banner or not banner[-1].lstrip().startswith("dashboard"):
        line = proc.stdout.readline()
        assert line, "the sandbox ended before its banner was printed"
        banner.append(line.rstrip("\n"))
    try:
        yield banner
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def field(banner, label):
    line = next(line for line in banner if line.lstrip().startswith(label))
    return line.split()[1]


def test_the_banner_names_every_endpoint_and_the_default_credentials(server):
    base = server[0].split()[-1]
    text = "\n".join(server)
    for part in (f"{base}/payment/webservices/merchant-ws", "?wsdl", f"{base}/payment/rest/<method>.do",
                 f"{base}/v2/<Method>", f"{base}/_sandbox/pay", f"{base}/_sandbox/ledger", f"{base}/_sandbox/",
                 "userName sandbox-api  password sandbox-password",
                 "TerminalKey SandboxDEMO  password sandbox-password"):
        assert part in text, part


def test_rest_order_paid_with_3ds_as_the_payer_over_plain_http(server):
    base = server[0].split()[-1]
    rest = base + "/payment/rest/"
    creds = {"userName": "sandbox-api", "password": "sandbox-password"}
    order = requests.post(rest + "register.do", data={**creds, "orderNumber": "PAYER-1", "amount": "10100",
                                                      "returnUrl": "https://shop.example/ok"}, timeout=10).json()
    paid = requests.post(base + "/_sandbox/pay", json={"form_url": order["formUrl"], "card": "SUCCESS_3DS"},
                         timeout=10)
    assert paid.status_code == 200
    body = paid.json()
    assert body["paid"] is True and body["statusName"] == "DEPOSITED" and body["orderId"] == order["orderId"]
    assert body["redirectUrl"] == f"https://shop.example/ok?orderId={order['orderId']}"
    again = requests.post(base + "/_sandbox/pay", json={"order_id": order["orderId"], "card": "SUCCESS"}, timeout=10)
    assert again.status_code == 409  # an order is paid once
    as_json = requests.get(f"{base}/_sandbox/orders/{order['orderId']}", timeout=10).json()
    assert as_json["orderNumber"] == "PAYER-1" and as_json["depositedAmount"] == 10100
    ledger = requests.get(base + "/_sandbox/ledger", timeout=10).json()
    assert {"hold", "deposit"} <= {m["kind"] for m in ledger["movements"] if m["orderNumber"] == "PAYER-1"}


def test_a_wrong_3ds_code_and_a_declining_card_are_not_paid(server):
    base = server[0].split()[-1]
    creds = {"userName": "sandbox-api", "password": "sandbox-password"}
    results = []
    for number, payer in (("PAYER-2", {"card": "SUCCESS_3DS", "three_ds_code": "000"}),
                          ("PAYER-3", {"card": "DECLINED"}),
                          ("PAYER-4", {"pan": "4444555511113333", "expiry": "12/30", "cvc": "123"})):
        order = requests.post(base + "/payment/rest/register.do", data={**creds, "orderNumber": number,
                                                                       "amount": "500", "returnUrl": "https://s/ok",
                                                                       "failUrl": "https://s/fail"},
                              timeout=10).json()
        results.append(requests.post(base + "/_sandbox/pay", json={"order_id": order["orderId"], **payer},
                                     timeout=10).json())
    assert [r["paid"] for r in results] == [False, False, True]
    assert results[0]["statusName"] == results[1]["statusName"] == "DECLINED"
    assert [(r["declineReason"], r["actionCode"]) for r in results] == [
        ("authentication_failed", 151017), ("issuer_declined", 5), (None, 0)]
    assert results[1]["redirectUrl"].startswith("https://s/fail?orderId=")
    assert requests.post(base + "/_sandbox/pay", json={"order_id": "nope", "card": "SUCCESS"},
                         timeout=10).status_code == 404
    assert requests.post(base + "/_sandbox/pay", json={"order_id": "x", "card": "NO_SUCH_CARD"},
                         timeout=10).status_code == 400


def test_a_t_bank_payment_paid_by_its_payment_id(server):
    base = server[0].split()[-1]
    body = {"TerminalKey": "SandboxDEMO", "Amount": 1000, "OrderId": "PAYER-TB-1"}
    body["Token"] = make_token(body, "sandbox-password")
    init = requests.post(base + "/v2/Init", json=body, timeout=10).json()
    paid = requests.post(base + "/_sandbox/pay", json={"payment_id": init["PaymentId"],
                                                        "card": "TBANK_3DS_CHALLENGE"}, timeout=10).json()
    state = {"TerminalKey": "SandboxDEMO", "PaymentId": init["PaymentId"]}
    state["Token"] = make_token(state, "sandbox-password")
    assert paid["paid"] is True
    assert requests.post(base + "/v2/GetState", json=state, timeout=10).json()["Status"] == "CONFIRMED"
