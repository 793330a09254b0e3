"""The receipt model: what it accepts adds up and is what each gateway's schema takes; what it
refuses is refused by name, before anything is sent."""

import itertools
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopay_soap import AutopayClient, Money, Receipt, ReceiptItem, ValidationError
from autopay_soap.gateways.receipt_wire import rbs_items, rbs_order_bundle, rbs_tax_system, tbank_receipt
from autopay_soap.receipts import PAYMENT_METHODS, PAYMENT_OBJECTS, TAXATIONS, TAXES
from autopay_soap.sandbox.fiscal import rbs_cart_problem, tbank_receipt_problem

RUB = lambda text: Money.of(text, "RUB")  # noqa: E731
SCHEMAS = json.loads((Path(__file__).parent.parent / "data" / "tbank_receipts.json").read_text("utf-8"))["schemas"]


def schema_problems(body, key):
    """What in ``body`` disagrees with the derived T-Bank schema ``key`` (required, type, enum, length)."""
    schema, found = SCHEMAS[key], []
    for name in schema["required"]:
        if name not in body:
            found.append(f"{key}: {name} is required")
    for name, value in body.items():
        rule = schema["fields"].get(name)
        if rule is None:
            found.append(f"{key}: {name} is not a field")
            continue
        kind = rule.get("type")
        if kind == "string" and not isinstance(value, str) or kind == "number" and (
                isinstance(value, bool) or not isinstance(value, (int, float))) or kind == "array" and not isinstance(
                value, list):
            found.append(f"{key}: {name} is not a {kind}")
        if "enum" in rule and value not in rule["enum"]:
            found.append(f"{key}: {name} {value!r} is not allowed")
        if "maxLength" in rule and len(str(value)) > rule["maxLength"]:
            found.append(f"{key}: {name} is longer than {rule['maxLength']}")
    return found


@st.composite
def receipt_items(draw):
    """A line whose price × quantity is a whole number of kopecks, as the model demands."""
    if draw(st.booleans()):
        quantity = Decimal(draw(st.integers(1, 99)))
        price = draw(st.integers(1, 10_000_000))
    else:
        quantity = Decimal(draw(st.integers(1, 99_999))) / 1000
        price = 1000 * draw(st.integers(1, 10_000))
    version = draw(st.sampled_from(["1.05", "1.2"]))
    return version, ReceiptItem(
        draw(st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=128).filter(str.strip)),
        Money.from_minor(price, "RUB"), quantity, tax=draw(st.sampled_from(TAXES)),
        payment_method=draw(st.sampled_from(PAYMENT_METHODS)),
        payment_object=draw(st.sampled_from(PAYMENT_OBJECTS[version])), measure="шт")


@st.composite
def receipts(draw):
    version = draw(st.sampled_from(["1.05", "1.2"]))
    lines = [item for item_version, item in draw(st.lists(receipt_items(), min_size=1, max_size=8))
             if item.payment_object in PAYMENT_OBJECTS[version]] or [ReceiptItem("x", RUB("1.00"))]
    contact = draw(st.sampled_from([{"email": "a@test.ru"}, {"phone": "+79031234567"},
                                    {"email": "b@shop.example", "phone": "+7999"}]))
    return Receipt(lines, taxation=draw(st.sampled_from(TAXATIONS)), ffd_version=version, **contact)


@settings(max_examples=200, deadline=None)
@given(receipts())
def test_every_receipt_the_model_accepts_adds_up_and_fits_t_bank_s_schema(receipt):
    assert receipt.total.minor == sum(item.price.minor * item.quantity for item in receipt.items)
    body = tbank_receipt(receipt)
    version = receipt.ffd_version
    assert schema_problems(body, f"receipt_{version}") == []
    for line in body["Items"]:
        assert schema_problems(line, f"items_{version}") == []
        assert Decimal(str(line["Price"])) * Decimal(str(line["Quantity"])) == line["Amount"]
    assert sum(line["Amount"] for line in body["Items"]) == receipt.total.minor
    assert tbank_receipt_problem(body, receipt.total.minor) is None  # the fiscal sandbox takes it
    assert len(json.dumps(body["Items"][0]["Quantity"])) <= 9  # at most 5 + 1 + 3 characters


@settings(max_examples=200, deadline=None)
@given(receipts())
def test_every_receipt_on_rbs_is_a_cart_the_fiscal_sandbox_takes(receipt):
    try:
        bundle = rbs_order_bundle(receipt)
    except ValidationError as exc:  # a value RBS has no published code for: refused by name, never guessed
        assert exc.field.startswith("receipt.items[") and "has no RBS code" in str(exc)
        return
    assert rbs_cart_problem(bundle, receipt.total.minor, bundle=True) is None
    assert rbs_tax_system(receipt) in (0, 1, 2, 4, 5)
    positions = [line["positionId"] for line in rbs_items(receipt)["items"]]
    assert positions == [item.position for item in receipt.items]


@settings(max_examples=100, deadline=None)
@given(receipts(), st.integers(-100_000, 100_000).filter(bool), st.sampled_from(["soap", "rest", "tbank"]))
def test_every_receipt_whose_sums_differ_is_refused_before_sending(receipt, delta, transport):
    amount = receipt.total.minor + delta
    if amount <= 0:
        amount = receipt.total.minor + abs(delta)
    client = AutopayClient.from_profile("sandbox", sandbox_url="http://127.0.0.1:9", transport=transport,
                                        return_url="https://shop/ok")  # nothing listens: a send would be seen
    with pytest.raises(ValidationError) as refused:
        client.start_first_payment("SUM-1", Money.from_minor(amount, "RUB"), "c", receipt=receipt)
    client.close()
    assert refused.value.field == "receipt" and "add up to" in str(refused.value)


def test_the_facts_vector_tv1_sums_and_token_hold_with_the_receipt_outside_the_token():
    from autopay_soap.signing import make_token

    receipt = Receipt([ReceiptItem("Наименование товара 1", Money.from_minor(10000, "RUB"), Decimal(1), tax="vat10"),
                       ReceiptItem("Наименование товара 2", Money.from_minor(20000, "RUB"), Decimal(2), tax="vat20"),
                       ReceiptItem("Наименование товара 3", Money.from_minor(30000, "RUB"), Decimal(3), tax="vat10")],
                      taxation="osn", email="a@test.ru", phone="+79031234567")
    assert receipt.total.minor == 140000
    body = {"TerminalKey": "TinkoffBankTest", "Amount": 140000, "OrderId": "21090",
            "Description": "Подарочная карта на 1000 рублей", "Receipt": tbank_receipt(receipt)}
    assert make_token(body, "usaf8fw8fsw21g") == "be6e613ae3f4eef2736c14c03b7ffaba552bfeaa2e3c843f45e8d6b322b9b5cb"


def test_the_facts_partial_refund_vector_tv2():
    line = ReceiptItem("Item12", Money.from_minor(50000, "RUB"), Decimal("0.1"), tax="none", payment_object="service")
    assert line.total.minor == 5000
    assert tbank_receipt(Receipt([line], email="a@test.ru"))["Items"][0]["Quantity"] == 0.1


def test_single_item_and_part():
    receipt = Receipt.single_item("Подписка, месяц", RUB("499.00"), tax="vat20", taxation="usn_income",
                                  email="buyer@example.com")
    assert receipt.total == RUB("499.00") and receipt.items[0].payment_object == "service"
    two = Receipt([ReceiptItem("A", RUB("100.00"), Decimal(2)), ReceiptItem("B", RUB("10.00"))], email="a@b.ru")
    assert two.part({1: 1}).total == RUB("100.00") and two.part({1: 1}).items[0].position == 1
    with pytest.raises(ValidationError, match=r"receipt.items\[0\].quantity: 3 is more than the line's 2"):
        two.part({1: 3})
    with pytest.raises(ValidationError, match="no line at position 7"):
        two.part({7: 1})


def _item(**changes):
    fields = dict(name="Подписка", price=RUB("10.00"), quantity=Decimal(1), tax="vat20", position=3)
    fields.update(changes)
    return ReceiptItem(**fields)


@pytest.mark.parametrize("make, field", [
    (lambda: Receipt([_item(position=None)] * 1 + [_item(position=None, name=f"n{i}") for i in range(100)],
                     email="a@b.ru"), "receipt.items"),
    (lambda: _item(name="x" * 10_000_000), "receipt.items[2].name"),
    (lambda: _item(name="Подписка\nПодделка"), "receipt.items[2].name"),
    (lambda: _item(name="bell\x07"), "receipt.items[2].name"),
    (lambda: _item(quantity=Decimal(-1)), "receipt.items[2].quantity"),
    (lambda: _item(quantity=Decimal(0)), "receipt.items[2].quantity"),
    (lambda: _item(quantity=Decimal("0.0001")), "receipt.items[2].quantity"),
    (lambda: _item(quantity=0.5), "receipt.items[2].quantity"),
    (lambda: _item(quantity=Decimal("NaN")), "receipt.items[2].quantity"),
    (lambda: _item(price=RUB("0.33"), quantity=Decimal("0.5")), "receipt.items[2].quantity"),
    (lambda: _item(amount=RUB("9.99")), "receipt.items[2].amount"),
    (lambda: _item(tax="vat18"), "receipt.items[2].tax"),
    (lambda: _item(payment_method="cash"), "receipt.items[2].payment_method"),
    (lambda: _item(payment_object="bitcoin"), "receipt.items[2].payment_object"),
    (lambda: Receipt([_item()], email="buyer@example.com\nBcc: x@y.z"), "receipt.email"),
    (lambda: Receipt([_item()], email="x" * 10_000_000 + "@a.ru"), "receipt.email"),
    (lambda: Receipt([_item()], phone="89031234567"), "receipt.phone"),
    (lambda: Receipt([_item()]), "receipt.email"),
    (lambda: Receipt([_item()], email="a@b.ru", taxation="envd"), "receipt.taxation"),
    (lambda: Receipt([_item()], email="a@b.ru", ffd_version="1.1"), "receipt.ffd_version"),
    (lambda: Receipt([_item(payment_object="composite")], email="a@b.ru", ffd_version="1.2"),
     "receipt.items[0].payment_object"),
    (lambda: Receipt([_item(measure="штук")], email="a@b.ru", ffd_version="1.2"), "receipt.items[0].measure"),
    (lambda: Receipt([_item(), _item(price=Money.of("1.00", "USD"), position=4)], email="a@b.ru"), "receipt.items"),
    (lambda: Receipt([], email="a@b.ru"), "receipt.items"),
    (lambda: Receipt("not a list", email="a@b.ru"), "receipt.items"),
])
def test_hostile_receipts_are_refused_by_field(make, field):
    with pytest.raises(ValidationError) as refused:
        make()
    assert refused.value.field == field, str(refused.value)
    assert len(str(refused.value)) < 1000  # a 10 MB value is never echoed


def test_a_price_with_four_decimal_places_cannot_even_be_money():
    with pytest.raises(ValidationError) as refused:
        ReceiptItem("x", Money.of("1.0001", "RUB"))
    assert refused.value.field == "amount"


def test_an_item_made_on_its_own_names_itself():
    with pytest.raises(ValidationError) as refused:
        ReceiptItem("x", RUB("1.00"), tax="vat18")
    assert refused.value.field == "item.tax"


def test_vat_rates_rbs_has_no_code_for_are_refused_on_rbs_only():
    receipt = Receipt.single_item("x", RUB("1.00"), tax="vat5", taxation="osn", email="a@b.ru")
    assert tbank_receipt(receipt)["Items"][0]["Tax"] == "vat5"
    with pytest.raises(ValidationError) as refused:
        rbs_order_bundle(receipt)
    assert refused.value.field == "receipt.items[0].tax" and "has no RBS code" in str(refused.value)


@pytest.fixture(scope="module")
def fiscal_sandbox():
    from autopay_soap.sandbox import Sandbox

    with Sandbox(receipts_required=True) as sb:  # validates every SOAP request against the bundled XSD
        yield sb


_NUMBERS = itertools.count(1)


@settings(max_examples=60, deadline=None)
@given(receipt=receipts(), transport=st.sampled_from(["soap", "rest"]))
def test_every_receipt_rbs_can_carry_is_registered_over_soap_and_rest(fiscal_sandbox, receipt, transport):
    try:
        rbs_order_bundle(receipt)
    except ValidationError:
        return  # a value without an RBS code: refused by name (the test above)
    client = AutopayClient.from_profile("sandbox", sandbox_url=fiscal_sandbox.url, transport=transport,
                                        return_url="https://shop/ok")
    started = client.start_first_payment(f"P-{next(_NUMBERS)}", receipt.total, "c", receipt=receipt)
    client.close()
    assert started.payment_url() and fiscal_sandbox.fiscal.receipts(started.order_id)[0]["amount"] == \
        receipt.total.minor


def test_an_agent_line_and_a_marked_line_on_t_bank_and_refused_by_name_on_rbs():
    agent = ReceiptItem("Билет", RUB("100.00"), tax="none", payment_object="service", agent_sign="commission_agent",
                        supplier_name="ООО Театр", supplier_inn="7700000000", supplier_phones=["+74951234567"])
    marked = ReceiptItem("Обувь", RUB("50.00"), tax="vat20", payment_object="goods_with_marking_code",
                         mark_code_type="EAN13", mark_code="4600000000000")
    receipt = Receipt([agent, marked], email="a@b.ru", ffd_version="1.2")
    lines = tbank_receipt(receipt)["Items"]
    assert lines[0]["AgentData"] == {"AgentSign": "commission_agent"}
    assert lines[0]["SupplierInfo"] == {"Name": "ООО Театр", "Inn": "7700000000", "Phones": ["+74951234567"]}
    assert lines[1]["MarkCode"] == {"MarkCodeType": "EAN13", "Value": "4600000000000"}
    assert lines[1]["MarkProcessingMode"] == "0"
    for line in lines:  # the published schema, except MarkCode: an object, as its prose and examples have it
        assert [p for p in schema_problems(line, "items_1.2") if "MarkCode is not" not in p] == []
    assert Receipt.from_json(receipt.as_json()) == receipt
    with pytest.raises(ValidationError) as refused:
        rbs_order_bundle(receipt)
    assert refused.value.field == "receipt.items[0].agent_sign"


@pytest.mark.parametrize("changes, field", [
    ({"agent_sign": "smuggler"}, "receipt.items[2].agent_sign"),
    ({"agent_sign": "attorney", "supplier_name": "X", "supplier_inn": "123"}, "receipt.items[2].supplier_inn"),
    ({"agent_sign": "attorney", "supplier_inn": "7700000000"}, "receipt.items[2].supplier_name"),
    ({"agent_sign": "attorney", "supplier_name": "X", "supplier_inn": "7700000000", "supplier_phones": ["8495"]},
     "receipt.items[2].supplier_phones[0]"),
    ({"supplier_name": "X"}, "receipt.items[2].agent_sign"),
    ({"mark_code_type": "EAN13", "mark_code": "46", "quantity": Decimal(2)}, "receipt.items[2].quantity"),
    ({"mark_code_type": "QR", "mark_code": "46"}, "receipt.items[2].mark_code_type"),
    ({"mark_code_type": "EAN13", "mark_code": "46\n"}, "receipt.items[2].mark_code"),
])
def test_agent_and_marking_fields_are_checked(changes, field):
    with pytest.raises(ValidationError) as refused:
        _item(**changes)
    assert refused.value.field == field


def test_a_marking_code_needs_ffd_1_2():
    with pytest.raises(ValidationError) as refused:
        Receipt([_item(mark_code_type="EAN13", mark_code="46")], email="a@b.ru")
    assert refused.value.field == "receipt.items[0].mark_code"
