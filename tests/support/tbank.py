"""Helpers shared by the T-Bank test files: the facts' Token vectors, a client on the sandbox, signed
requests, the ACS and a loopback WSGI call."""

import json
import re
from urllib.parse import urljoin

import requests

from autopay_soap import Money
from autopay_soap.client import AutopayClient
from autopay_soap.gateways.tbank import (
    encrypt_card_data,
    make_token,
)
from autopay_soap.sandbox import SANDBOX_CARD_KEY_PEM, TestCards

from . import no_wait

RUB = lambda text: Money.of(text, "RUB")  # noqa: E731


API = "https://tbank.test/v2/"


V1 = {"TerminalKey": "MerchantTerminalKey", "Amount": 19200, "OrderId": "21090",
      "Description": "Подарочная карта на 1000 рублей", "DATA": {"Phone": "+71234567890", "Email": "a@test.com"},
      "Receipt": {"Email": "a@test.com", "Taxation": "osn", "Items": [{"Name": "x", "Amount": 19200}]}}


V3 = {"TerminalKey": "1321054611234DEMO", "OrderId": "201709", "Success": True, "Status": "AUTHORIZED",
      "PaymentId": 8742591, "ErrorCode": "0", "Amount": 9855, "CardId": 322264, "Pan": "430000******0777",
      "ExpDate": "1122", "RebillId": 101709}


V3_TOKEN = "b906d28e76c6428e37b25fcf86c0adc52c63d503013fdd632e300593d165766b"


def tbank_client(sb, **settings):
    return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport="tbank", return_url=sb.return_url,
                                      sleep=no_wait, **settings)


def card_binding(sb, client, number="FP-1", customer="cust-1", card=TestCards.TBANK_SUCCESS, **kwargs):
    started = client.start_first_payment(number, RUB("100.00"), customer, **kwargs)
    sb.pay(started.form_url, card)
    return client.finish_first_payment(order_id=started.order_id, client_id=customer)


def signed(sb, body, terminal=None):
    terminal = terminal or sb.tbank_terminals[0]
    body = dict(body, TerminalKey=terminal.key)
    body["Token"] = make_token(body, terminal.password)
    return body


def post(sb, method, body):
    return requests.post(sb.tbank_url + method, json=body, timeout=5).json()


def _wsgi(app, body):
    import io

    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    seen = {}

    def start_response(status, headers):
        seen["status"] = status

    answer = b"".join(app({"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(raw)),
                           "wsgi.input": io.BytesIO(raw)}, start_response))
    return seen["status"], answer


def _card(card):
    month, year = card.expiry.split("/")
    return encrypt_card_data(SANDBOX_CARD_KEY_PEM, pan=card.pan, expiry=month + year, cvv=card.cvc)


def _acs(sb, acs_url, md, pa_req, term_url, code):
    page = requests.get(acs_url, params={"MD": md, "PaReq": pa_req, "TermUrl": term_url}, timeout=5).text
    action = re.search(r'<form id="acs" method="post" action="([^"]+)"', page).group(1)
    answer = requests.post(urljoin(acs_url, action), data={"MD": md, "PaReq": pa_req, "TermUrl": term_url,
                                                           "code": code}, timeout=5).text
    return dict(re.findall(r"name='(MD|PaRes)' value='([^']*)'", answer))
