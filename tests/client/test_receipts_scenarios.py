"""54-FZ receipts through every transport against ``Sandbox(receipts_required=True)``: the seeds'
scenarios with receipts pass, and each one without a receipt (or with one that does not add up)
is refused as the real gateway refuses it, the error naming the receipt."""

from decimal import Decimal

import pytest
import requests

from autopay_soap import AutopayClient, ChargeOutcome, Money, Receipt, ReceiptItem
from autopay_soap.errors import GatewayError, UnsupportedOperation, ValidationError
from autopay_soap.sandbox import Sandbox, TestCards

from ..support import no_wait
from ..support.receipts import month

RUB = lambda text: Money.of(text, "RUB")  # noqa: E731


def cart(email="buyer@example.com"):
    """The facts' TV-5 shape: 1000.00 + 2 × 250.00 = 1500.00."""
    return Receipt([ReceiptItem("Подписка, месяц", RUB("1000.00"), Decimal(1), tax="vat20", payment_object="service",
                                code="SUB-1"),
                    ReceiptItem("Доп. услуга", RUB("250.00"), Decimal(2), tax="none", payment_object="service",
                                code="ADD-2")],
                   taxation="osn", email=email)


def client_for(sb, transport):
    return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport=transport, return_url=sb.return_url,
                                      sleep=no_wait)


def first_binding(sb, client, number, customer, transport, receipt, two_stage=False):
    started = client.start_first_payment(number, receipt.total, customer, receipt=receipt, two_stage=two_stage)
    card = TestCards.TBANK_SUCCESS if transport == "tbank" else TestCards.SUCCESS
    assert sb.pay(started.payment_url(), card).paid
    done = client.finish_first_payment(order_id=started.order_id, client_id=customer)
    return started, done


@pytest.mark.parametrize("transport", ["soap", "rest", "tbank"])
def test_first_payment_autopayment_capture_and_refunds_with_receipts(transport):
    with Sandbox(receipts_required=True) as sb:
        client = client_for(sb, transport)
        _, done = first_binding(sb, client, "R-FIRST", "r-client", transport, month("10.00"))
        binding = done.new_binding().binding_id
        paid = client.autopay("R-AUTO-1", RUB("499.00"), client_id="r-client", binding_id=binding, receipt=month())
        assert paid.outcome is ChargeOutcome.PAID
        # two-stage: a hold of the whole cart, capture of line 1, then a partial refund by lines and a full one
        held, _ = first_binding(sb, client, "R-HOLD", "r-client-2", transport, cart(), two_stage=True)
        captured = client.capture(held.order_id, receipt=cart().part({1: 1}))
        assert captured.deposited == RUB("1000.00")
        refunded = client.refund(held.order_id, RUB("100.00"),
                                 receipt=Receipt([ReceiptItem("Подписка, месяц", RUB("100.00"), tax="vat20",
                                                              payment_object="service", code="SUB-1", position=1)],
                                                 taxation="osn", email="buyer@example.com"))
        assert refunded.refunded == RUB("100.00")
        fully = client.refund(held.order_id, RUB("900.00"))  # the rest: no receipt (the stored cart is used)
        assert fully.refunded == RUB("1000.00")
        kept = {operation for order in list(sb.engine._orders) for operation in
                (r["operation"] for r in sb.fiscal.receipts(order))}
        client.close()
    assert kept == {"sell", "capture", "refund"}


@pytest.mark.parametrize("transport", ["soap", "rest", "tbank"])
def test_each_step_without_a_receipt_is_refused_as_the_gateway_refuses_it(transport):
    with Sandbox(receipts_required=True) as sb:
        client = client_for(sb, transport)
        with pytest.raises(GatewayError) as first:
            client.start_first_payment("N-FIRST", RUB("10.00"), "n-client")
        _, done = first_binding(sb, client, "N-OK", "n-client", transport, month("10.00"))
        with pytest.raises(GatewayError) as auto:
            client.autopay("N-AUTO", RUB("499.00"), client_id="n-client", binding_id=done.new_binding().binding_id)
        held, _ = first_binding(sb, client, "N-HOLD", "n-client-2", transport, cart(), two_stage=True)
        with pytest.raises(GatewayError) as capture:
            client.capture(held.order_id, RUB("1000.00"))  # a part of the hold with no lines
        client.capture(held.order_id, receipt=cart())  # all of it, with its lines (T-Bank's Confirm needs them)
        with pytest.raises(GatewayError) as refund:
            client.refund(held.order_id, RUB("250.00"))
        charged = sb.engine.charges_by_order_number()
        client.close()
    for refused in (first, auto, capture, refund):
        text = str(refused.value)
        assert "Receipt" in text or "orderBundle" in text or "items of a partial operation" in text, text
    if transport == "tbank":
        assert (first.value.gateway_code, refund.value.gateway_code) == (309, 309)
    else:
        assert first.value.gateway_code == 4
    assert "N-FIRST" not in charged and "N-AUTO" not in charged


@pytest.mark.sandbox(receipts_required=True)
def test_a_receipt_that_does_not_add_up_is_refused_before_anything_is_sent(sb):
    for transport in ("soap", "rest", "tbank"):
        client = client_for(sb, transport)
        with pytest.raises(ValidationError) as info:
            client.start_first_payment(f"SUM-{transport}", RUB("1499.00"), "c", receipt=cart())
        assert info.value.field == "receipt" and "add up to 1500.00 RUB" in str(info.value)
        client.close()
    assert sb.engine.charges_by_order_number() == {} and not sb.engine._orders


def test_the_soap_wire_carries_the_cart_in_the_2019_layout_and_the_bundled_schema_takes_it():
    seen = what_the_sandbox_got("soap", "W-3")
    from lxml import etree

    from autopay_soap.wsdl_bundle import envelope_validator, parse_xml

    envelope = parse_xml(next(body for body in seen if b"registerOrder" in body))
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
    assert envelope_validator().first_error(body) is None  # the bundled XSD takes the cart
    order = envelope.find(".//order")
    assert order.get("taxSystem") == "0"
    second = order.findall("orderBundle/cartItems/items")[1]
    assert second.get("positionId") == "2"
    assert [child.tag for child in second] == ["name", "quantity", "itemAmount", "itemCurrency", "itemCode", "tax",
                                               "itemPrice", "itemAttributes"]
    assert (second.find("quantity").text, second.find("quantity").get("measure")) == ("2", "шт")
    assert [(a.get("name"), a.text) for a in second.findall("itemAttributes/attributes")] == [
        ("paymentMethod", "4"), ("paymentObject", "4")]
    assert etree.QName(order.find("orderBundle")).localname == "orderBundle"


def test_t_bank_sbp_autopayment_with_a_receipt():
    with Sandbox(receipts_required=True) as sb:
        client = client_for(sb, "tbank")
        qr = client.bind_sbp_account("Подписка на журнал")
        sb.sbp_bind(qr.request_key)
        token = client.sbp_account(qr.request_key).account_token
        paid = client.autopay("SBP-R-1", RUB("99.00"), account_token=token, receipt=month("99.00"))
        with pytest.raises(GatewayError) as refused:
            client.autopay("SBP-R-2", RUB("99.00"), account_token=token)
        client.close()
    assert paid.outcome is ChargeOutcome.PAID and refused.value.gateway_code == 309


def what_the_sandbox_got(transport, number):
    """Every request a fiscal sandbox's ``transport`` front end got while a first payment of
    ``cart()`` was started over it (SOAP: the envelopes; REST and T-Bank: method and fields)."""
    seen = []
    with Sandbox(receipts_required=True) as sb:
        front_end = {"soap": sb.soap, "rest": sb.rest, "tbank": sb.tbank}[transport]
        original = front_end.handle

        def spy(*request):
            seen.append(request[0] if transport == "soap" else (request[0], dict(request[1])))
            return original(*request)

        front_end.handle = spy
        client = client_for(sb, transport)
        client.start_first_payment(number, RUB("1500.00"), "w", receipt=cart())
        client.close()
    return seen


def test_the_wire_carries_the_receipt_outside_the_token():
    """What the T-Bank sandbox received: the Receipt object as T-Bank spells it."""
    seen = what_the_sandbox_got("tbank", "W-1")
    init = next(body for method, body in seen if method == "Init")
    assert init["Receipt"] == {
        "FfdVersion": "1.05", "Taxation": "osn", "Email": "buyer@example.com",
        "Items": [{"Name": "Подписка, месяц", "Price": 100000, "Quantity": 1, "Amount": 100000, "Tax": "vat20",
                   "PaymentMethod": "full_payment", "PaymentObject": "service"},
                  {"Name": "Доп. услуга", "Price": 25000, "Quantity": 2, "Amount": 50000, "Tax": "none",
                   "PaymentMethod": "full_payment", "PaymentObject": "service"}]}


def test_the_rest_wire_carries_order_bundle_and_tax_system():
    import json

    seen = what_the_sandbox_got("rest", "W-2")
    register = next(params for method, params in seen if method == "register")
    bundle = json.loads(register["orderBundle"])
    assert register["taxSystem"] == "0" and bundle["customerDetails"] == {"email": "buyer@example.com"}
    assert bundle["cartItems"]["items"][1] == {
        "positionId": 2, "name": "Доп. услуга", "quantity": {"value": 2, "measure": "шт"}, "itemPrice": 25000,
        "itemAmount": 50000, "itemCurrency": "643", "itemCode": "ADD-2", "tax": {"taxType": 0},
        "itemAttributes": {"attributes": [{"name": "paymentMethod", "value": "4"},
                                          {"name": "paymentObject", "value": "4"}]}}


def test_a_fiscal_sandbox_is_a_command_line_option():
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "autopay_soap.cli", "sandbox", "--quiet", "--port", "0",
                             "--receipts-required"], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split()[-1]
        answer = requests.post(url + "/payment/rest/register.do", data={
            "userName": "sandbox-api", "password": "sandbox-password", "orderNumber": "CLI-1", "amount": "100",
            "returnUrl": "https://shop/ok"}, timeout=10).json()
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
    assert answer["errorCode"] == "4" and "orderBundle is required" in answer["errorMessage"]


def test_receipt_status_moves_from_pending_to_done_on_the_sandbox_clock():
    with Sandbox(receipts_required=True) as sb:
        client = client_for(sb, "rest")
        started, _ = first_binding(sb, client, "RS-1", "rs-client", "rest", cart())
        before = client.receipt_status(order_number="RS-1")
        sb.clock.advance(seconds=61)
        after = client.receipt_status(order_id=started.order_id)
        client.refund(started.order_id, RUB("250.00"), receipt=cart().part({2: 1}))
        refunded = client.receipt_status(order_number="RS-1")
        for transport in ("soap", "tbank"):
            other = client_for(sb, transport)
            with pytest.raises(UnsupportedOperation, match="no receipt status call"):
                other.receipt_status(order_number="RS-1")
            other.close()
        client.close()
    assert [(s.kind, s.state, s.fiscal_document_number) for s in before] == [("sell", "pending", None)]
    assert [(s.kind, s.state) for s in after] == [("sell", "done")] and after[0].fiscal_document_number
    assert after[0].receipt_id == before[0].receipt_id
    assert [(s.kind, s.state) for s in refunded] == [("sell", "done"), ("refund", "pending")]


def test_both_generations_of_receipt_status_codes_map_to_one_state_and_unknown_codes_are_refused():
    from autopay_soap.errors import BadResponse
    from autopay_soap.gateways.receipt_wire import rbs_receipt_statuses

    ecom = {"receipts": [{"receiptId": "r1", "receiptType": "SELL", "receiptStatus": 3,
                          "payload": {"fiscalDocumentNumber": 77}},
                         {"receiptId": "r2", "receiptType": "SELL_REFUND", "receiptStatus": 6}]}
    assert [(s.kind, s.state, s.fiscal_document_number) for s in rbs_receipt_statuses(ecom)] == [
        ("sell", "done", "77"), ("refund", "failed", None)]
    legacy = {"receipt": [{"receiptStatus": "2", "uuid": "u"}, {"receiptStatus": 4, "uuid": "v"}]}
    assert [(s.kind, s.state) for s in rbs_receipt_statuses(legacy)] == [("sell", "failed"), ("refund", "done")]
    for reply in ({"receipt": [{"receiptStatus": 9}]}, {"receipts": [{"receiptType": "SELL", "receiptStatus": 7}]},
                  {"receipts": [{"receiptType": "GIFT", "receiptStatus": 3}]}, {"receipt": ["x"]}):
        with pytest.raises(BadResponse):
            rbs_receipt_statuses(reply)


def test_the_closing_receipt_of_a_prepaid_payment_goes_to_the_cash_box_path():
    prepaid = Receipt.single_item("Курс, предоплата", RUB("300.00"), tax="vat20", taxation="osn",
                                  email="buyer@example.com", payment_method="full_prepayment")
    settled = Receipt.single_item("Курс", RUB("300.00"), tax="vat20", taxation="osn", email="buyer@example.com")
    with Sandbox(receipts_required=True) as sb:
        client = client_for(sb, "tbank")
        first, _ = first_binding(sb, client, "CL-1", "cl-client", "tbank", prepaid)
        client.send_closing_receipt(first.order_id, settled)
        plain, _ = first_binding(sb, client, "CL-2", "cl-client-2", "tbank", settled)
        with pytest.raises(GatewayError) as refused:
            client.send_closing_receipt(plain.order_id, settled)  # nothing was prepaid
        kept = [r["operation"] for r in sb.fiscal.receipts(sb.tbank.payment_of(first.order_id))]
        under_v2 = requests.post(sb.tbank_url + "SendClosingReceipt", json={}, timeout=10).status_code
        rest = client_for(sb, "rest")
        with pytest.raises(UnsupportedOperation):
            rest.send_closing_receipt(first.order_id, settled)
        rest.close()
        client.close()
    assert kept == ["sell", "closing"] and refused.value.gateway_code == 311 and under_v2 == 404


def test_the_dashboard_and_the_order_json_show_each_order_s_receipts():
    with Sandbox(receipts_required=True) as sb:
        client = client_for(sb, "soap")
        started, _ = first_binding(sb, client, "DB-1", "db-client", "soap", cart())
        client.refund(started.order_id, RUB("250.00"), receipt=cart().part({2: 1}))
        client.close()
        page = requests.get(sb.url + "/_sandbox/", timeout=10).text
        order = requests.get(sb.url + f"/_sandbox/orders/{started.order_id}", timeout=10).json()
        empty = requests.get(sb.url + "/_sandbox/orders/nope", timeout=10).status_code
    receipts_table = page[page.index("<table id='receipts'>"):]
    assert "DB-1" in receipts_table and "sell" in receipts_table and "refund" in receipts_table
    assert "1500.00 RUB" in receipts_table and "250.00 RUB" in receipts_table
    assert [(r["operation"], r["amount"], r["status"]) for r in order["receipts"]] == [("sell", 150000, "sent"),
                                                                                       ("refund", 25000, "sent")]
    assert empty == 404


def test_a_profile_whose_soap_generation_cannot_carry_a_cart_refuses_a_receipt_naming_the_profile():
    from autopay_soap.errors import ConfigurationError

    alfa = AutopayClient.from_profile("alfa-prod", username="shop", password="pw", transport="soap",
                                      return_url="https://shop/ok")  # nothing is sent: a send would hit the guard
    with pytest.raises(UnsupportedOperation, match="profile 'alfa-prod' serves the 2016-generation"):
        alfa.start_first_payment("A-1", RUB("499.00"), "c", receipt=month())
    with pytest.raises(UnsupportedOperation, match="profile 'alfa-prod'"):
        alfa.check_autopay("A-2", RUB("499.00"), client_id="c", binding_id="6f1c2a40-0000-4000-8000-000000000001",
                           receipt=month())
    alfa.close()
    sber = AutopayClient.from_profile("sber-prod", username="shop", password="pw", transport="soap",
                                      return_url="https://shop/ok")
    sber.check_autopay("S-1", RUB("499.00"), client_id="c", binding_id="6f1c2a40-0000-4000-8000-000000000001",
                       receipt=month())  # Sber's schema carries the cart: no refusal
    sber.close()
    newer = AutopayClient.from_profile("alfa-prod", username="shop", password="pw", transport="soap",
                                       soap_cart="2019", return_url="https://shop/ok")
    assert newer.gateway.cart_layout == "2019"
    newer.close()
    with pytest.raises(ConfigurationError, match="soap_cart"):
        AutopayClient.from_profile("alfa-prod", username="shop", password="pw", transport="soap", soap_cart="2020")
