"""54-FZ fiscal receipts: the cart a charge carries to the merchant's cloud cash register.

A merchant whose terminal fiscalises through the acquirer must send, with every payment, what
was sold: each line's name, price, quantity, amount, VAT rate, payment method and payment
object, the taxation system and the buyer's e-mail or phone. :class:`Receipt` and
:class:`ReceiptItem` hold that, in the words T-Bank uses (``vat20``, ``osn``, ``full_payment``,
``service``...); each gateway's wire codes are derived from them (:mod:`autopay_soap.gateways.receipt_wire`).

Everything is checked when the objects are made and again against the charge before anything
is sent, so that a receipt the register would refuse (or, worse, register with wrong sums) never
leaves: every line's amount is its price times its quantity, exactly, in kopecks; the lines add
up to the charge; at most 100 lines, one currency, an e-mail or a phone. A
:class:`~autopay_soap.errors.ValidationError` names the field: ``receipt.items[2].tax``.

For the usual subscription (one line that is the whole charge)::

    Receipt.single_item("Подписка, месяц", Money.of("499.00", "RUB"), tax="vat20", taxation="osn",
                        email="buyer@example.com")

A partial capture or refund carries the lines it captures or refunds: :meth:`Receipt.part`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Dict, Iterable, Optional, Tuple, Union

import attr

from .errors import ValidationError
from .money import Money

__all__ = ["AGENT_SIGNS", "FFD_VERSIONS", "MARK_CODE_TYPES", "MEASURES", "PAYMENT_METHODS", "PAYMENT_OBJECTS",
           "Receipt", "ReceiptItem", "ReceiptStatus", "TAXATIONS", "TAXES", "check_receipt_for"]

FFD_VERSIONS = ("1.05", "1.2")
TAXATIONS = ("osn", "usn_income", "usn_income_outcome", "esn", "patent")
"""The taxation system (FFD tag 1055); ``envd`` was abolished in 2021 and is refused."""
TAXES = ("none", "vat0", "vat5", "vat7", "vat10", "vat20", "vat105", "vat107", "vat110", "vat120")
"""VAT rate of a line (tag 1199)."""
PAYMENT_METHODS = ("full_prepayment", "prepayment", "advance", "full_payment", "partial_payment", "credit",
                   "credit_payment")
"""Payment method (tag 1214), in the order of the numeric codes 1..7."""
_OBJECTS_105 = ("commodity", "excise", "job", "service", "gambling_bet", "gambling_prize", "lottery", "lottery_prize",
                "intellectual_activity", "payment", "agent_commission", "composite", "another")
_OBJECTS_12 = tuple(o for o in _OBJECTS_105 if o != "composite") + (
    "contribution", "property_rights", "unrealization", "tax_reduction", "trade_fee", "resort_tax", "pledge",
    "income_decrease", "ie_pension_insurance_without_payments", "ie_pension_insurance_with_payments",
    "ie_medical_insurance_without_payments", "ie_medical_insurance_with_payments", "social_insurance",
    "casino_chips", "agent_payment", "excisable_goods_without_marking_code", "excisable_goods_with_marking_code",
    "goods_without_marking_code", "goods_with_marking_code")
PAYMENT_OBJECTS: Dict[str, Tuple[str, ...]] = {"1.05": _OBJECTS_105, "1.2": _OBJECTS_12}
"""Payment object (tag 1212) per FFD version (1.2 drops ``composite`` and adds 19)."""
MEASURES = ("шт", "г", "кг", "т", "см", "дм", "м", "см2", "дм2", "м2", "мл", "л", "м3", "кВт*ч", "Гкал", "сут", "дн",
            "ч", "мин", "c", "Кбайт", "Мбайт", "Гбайт", "Тбайт", "-")
"""Measurement units (tag 2108) of FFD 1.2; FFD 1.05 takes any short text (default ``шт``)."""

AGENT_SIGNS = ("bank_paying_agent", "bank_paying_subagent", "paying_agent", "paying_subagent", "attorney",
               "commission_agent", "another")
"""The agent sign of a line sold on behalf of a supplier (tag 1222), in the order of RBS's ``agent_info.type`` 1..7."""
MARK_CODE_TYPES = ("UNKNOWN", "EAN8", "EAN13", "ITF14", "GS10", "GS1M", "SHORT", "FUR", "EGAIS20", "EGAIS30",
                   "RAWCODE")
"""The kinds of marking code of a marked line (tag 1163, FFD 1.2)."""

MAX_ITEMS = 100
NAME_MAX = 128
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{1,63}")
_PHONE = re.compile(r"\+\d{1,18}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _refuse(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}", field=field)


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _refuse(field, "a non-empty text is required")
    if len(value) > limit:
        raise _refuse(field, f"at most {limit} characters, got {len(value)}")
    if _CONTROL.search(value):
        raise _refuse(field, "control characters (a newline, a tab...) are not allowed")
    return value


def _choice(value: Any, field: str, allowed: Iterable[str]) -> str:
    options = tuple(allowed)
    if not isinstance(value, str) or value not in options:
        shown = repr(value)[:40]
        raise _refuse(field, f"{shown} is not one of {', '.join(options)}")
    return value


def _quantity(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise _refuse(field, "a Decimal, an int or a str such as '0.5' (never a float)")
    try:
        quantity = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise _refuse(field, f"{str(value)[:40]!r} is not a number") from None
    if not quantity.is_finite() or quantity <= 0:
        raise _refuse(field, "must be above 0")
    if quantity != quantity.quantize(Decimal("0.001")):
        raise _refuse(field, "at most 3 decimal places")
    if quantity >= 100000:
        raise _refuse(field, "at most 5 integer digits (below 100000)")
    return quantity.to_integral_value() if quantity == quantity.to_integral_value() else quantity.normalize()


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ReceiptItem:
    """One line of a receipt.

    ``price`` is the price of one unit after discounts (:class:`Money`), ``quantity`` a
    ``Decimal`` (at most 3 decimal places; ``measure`` its unit), ``amount`` the line's total,
    which must be ``price × quantity`` exactly in kopecks (leave it out and it is computed; a
    product that is not a whole number of kopecks is refused: split the line). ``tax`` is the
    VAT rate (:data:`TAXES`), ``payment_method`` and ``payment_object`` the FFD tags
    (:data:`PAYMENT_METHODS`, :data:`PAYMENT_OBJECTS`); ``code`` the merchant's article code
    (RBS ``itemCode``; default: the line's position). ``position`` is the line's number in its
    receipt (1, 2...), given by :class:`Receipt`; a partial capture or refund names lines by it.
    A refusal names ``receipt.items[N].<field>`` for a line with its position, ``item.<field>``
    for one made on its own.

    A line sold on behalf of a supplier (an agent scheme) gives ``agent_sign`` (:data:`AGENT_SIGNS`),
    ``supplier_name``, ``supplier_inn`` (10 or 12 digits) and optionally ``supplier_phones``; a
    marked line (FFD 1.2 only, quantity 1) ``mark_code_type`` (:data:`MARK_CODE_TYPES`) and
    ``mark_code``.
    """

    name: str
    price: Money
    quantity: Decimal = attr.ib(default=Decimal(1))
    tax: str = "none"
    payment_method: str = "full_payment"
    payment_object: str = "commodity"
    measure: str = "шт"
    amount: Optional[Money] = None
    code: Optional[str] = None
    position: Optional[int] = None
    agent_sign: Optional[str] = None
    supplier_name: Optional[str] = None
    supplier_inn: Optional[str] = None
    supplier_phones: Tuple[str, ...] = attr.ib(default=(), converter=tuple)
    mark_code_type: Optional[str] = None
    mark_code: Optional[str] = None

    def __attrs_post_init__(self) -> None:
        field = f"receipt.items[{self.position - 1}]" if isinstance(self.position, int) else "item"
        _text(self.name, f"{field}.name", NAME_MAX)
        if not isinstance(self.price, Money) or self.price.minor <= 0:
            raise _refuse(f"{field}.price", "a Money above 0 is required")
        quantity = _quantity(self.quantity, f"{field}.quantity")
        object.__setattr__(self, "quantity", quantity)
        product = self.price.minor * quantity
        if product != product.to_integral_value():
            raise _refuse(f"{field}.quantity", f"price {self.price} × quantity {quantity} is not a whole number of "
                                               "minor units: split the line")
        expected = Money.from_minor(int(product), self.price.currency)
        if self.amount is None:
            object.__setattr__(self, "amount", expected)
        elif not isinstance(self.amount, Money) or self.amount != expected:
            raise _refuse(f"{field}.amount", f"{self.amount} is not price × quantity = {expected}")
        _choice(self.tax, f"{field}.tax", TAXES)
        _choice(self.payment_method, f"{field}.payment_method", PAYMENT_METHODS)
        _choice(self.payment_object, f"{field}.payment_object", _OBJECTS_105 + _OBJECTS_12)
        _text(self.measure, f"{field}.measure", 16)
        if self.code is not None:
            _text(self.code, f"{field}.code", 100)
        if self.position is not None and (isinstance(self.position, bool) or not isinstance(self.position, int)
                                          or not 1 <= self.position <= 999_999_999_999):
            raise _refuse(f"{field}.position", "a whole number from 1")
        self._check_agent(field)
        self._check_mark(field)

    def _check_agent(self, field: str) -> None:
        """A line sold for a supplier names the agent sign and the supplier (name and INN)."""
        if self.agent_sign is None:
            if self.supplier_name or self.supplier_inn or self.supplier_phones:
                raise _refuse(f"{field}.agent_sign", "a supplier is named only with the agent sign")
            return
        _choice(self.agent_sign, f"{field}.agent_sign", AGENT_SIGNS)
        _text(self.supplier_name, f"{field}.supplier_name", 239)
        if not isinstance(self.supplier_inn, str) or not re.fullmatch(r"\d{10}|\d{12}", self.supplier_inn):
            raise _refuse(f"{field}.supplier_inn", "10 or 12 digits")
        for index, phone in enumerate(self.supplier_phones):
            if not isinstance(phone, str) or not _PHONE.fullmatch(phone):
                raise _refuse(f"{field}.supplier_phones[{index}]", "'+' and 1 to 18 digits")

    def _check_mark(self, field: str) -> None:
        """A marked line: the code's kind and value, one piece."""
        if self.mark_code is None and self.mark_code_type is None:
            return
        _choice(self.mark_code_type, f"{field}.mark_code_type", MARK_CODE_TYPES)
        _text(self.mark_code, f"{field}.mark_code", 512)
        if self.quantity != 1:
            raise _refuse(f"{field}.quantity", "a marked line is one piece: quantity 1")

    @property
    def total(self) -> Money:
        """The line's amount (``price × quantity``)."""
        assert self.amount is not None  # set on construction
        return self.amount


def _numbered(items: Any) -> Tuple[ReceiptItem, ...]:
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise _refuse("receipt.items", "a list of ReceiptItem is required")
    listed = list(items)
    if not 1 <= len(listed) <= MAX_ITEMS:
        raise _refuse("receipt.items", f"from 1 to {MAX_ITEMS} lines, got {len(listed)}")
    numbered = []
    for index, item in enumerate(listed):
        if not isinstance(item, ReceiptItem):
            raise _refuse(f"receipt.items[{index}]", "a ReceiptItem is required")
        numbered.append(item if item.position is not None else attr.evolve(item, position=index + 1))
    return tuple(numbered)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Receipt:
    """A 54-FZ receipt: the lines, the taxation system, the buyer's e-mail or phone, the FFD
    version (``1.05`` by default, ``1.2``). Checked on construction (see the module docstring)."""

    items: Tuple[ReceiptItem, ...] = attr.ib(converter=_numbered)
    taxation: str = "osn"
    email: Optional[str] = None
    phone: Optional[str] = None
    ffd_version: str = "1.05"

    def __attrs_post_init__(self) -> None:
        _choice(self.taxation, "receipt.taxation", TAXATIONS)
        _choice(self.ffd_version, "receipt.ffd_version", FFD_VERSIONS)
        if self.email is None and self.phone is None:
            raise _refuse("receipt.email", "an e-mail or a phone of the buyer is required (where the receipt goes)")
        if self.email is not None and (not isinstance(self.email, str) or len(self.email) > 64
                                       or not _EMAIL.fullmatch(self.email)):
            raise _refuse("receipt.email", "not an e-mail address of at most 64 characters")
        if self.phone is not None and (not isinstance(self.phone, str) or not _PHONE.fullmatch(self.phone)):
            raise _refuse("receipt.phone", "'+' and 1 to 18 digits (at most 19 characters), such as +79031234567")
        currencies = {item.price.currency for item in self.items}
        if len(currencies) != 1:
            raise _refuse("receipt.items", "every line in one currency")
        positions = [item.position for item in self.items]
        if len(set(positions)) != len(positions):
            raise _refuse("receipt.items", "two lines with one position")
        for index, item in enumerate(self.items):
            field = f"receipt.items[{index}]"
            if item.payment_object not in PAYMENT_OBJECTS[self.ffd_version]:
                raise _refuse(f"{field}.payment_object", f"{item.payment_object!r} is not an FFD "
                                                         f"{self.ffd_version} payment object")
            if self.ffd_version == "1.2":
                _choice(item.measure, f"{field}.measure", MEASURES)
            elif item.mark_code is not None:
                raise _refuse(f"{field}.mark_code", "marking codes need FFD 1.2 (ffd_version='1.2')")

    @classmethod
    def single_item(cls, name: str, amount: Money, *, tax: str, taxation: str, email: Optional[str] = None,
                    phone: Optional[str] = None, payment_object: str = "service",
                    payment_method: str = "full_payment", ffd_version: str = "1.05") -> "Receipt":
        """A receipt of one line that is the whole charge (a subscription's month)."""
        return cls((ReceiptItem(name, amount, Decimal(1), tax=tax, payment_method=payment_method,
                                payment_object=payment_object),),
                   taxation=taxation, email=email, phone=phone, ffd_version=ffd_version)

    @property
    def total(self) -> Money:
        """The sum of the lines' amounts."""
        first = self.items[0].total
        return Money.from_minor(sum(item.total.minor for item in self.items), first.currency)

    def part(self, quantities: Dict[int, Union[Decimal, int, str]]) -> "Receipt":
        """The receipt of a partial capture or refund: the lines at ``position → quantity``
        (a quantity up to the line's own), with this receipt's taxation, buyer and version."""
        by_position = {item.position: item for item in self.items}
        lines = []
        for position, quantity in quantities.items():
            item = by_position.get(position)
            if item is None:
                raise _refuse("receipt.items", f"no line at position {position!r}")
            wanted = _quantity(quantity, f"receipt.items[{position - 1}].quantity")
            if wanted > item.quantity:
                raise _refuse(f"receipt.items[{position - 1}].quantity",
                              f"{wanted} is more than the line's {item.quantity}")
            lines.append(attr.evolve(item, quantity=wanted, amount=None))
        return attr.evolve(self, items=tuple(lines))

    def as_json(self) -> Dict[str, Any]:
        """The receipt as a batch file's ``receipt`` object (see :meth:`from_json`)."""
        body: Dict[str, Any] = {"taxation": self.taxation, "ffd_version": self.ffd_version, "items": [
            {"name": item.name, "price": str(item.price.major), "quantity": str(item.quantity), "tax": item.tax,
             "payment_method": item.payment_method, "payment_object": item.payment_object, "measure": item.measure,
             "position": item.position, **_optional_json(item)}
            for item in self.items]}
        body.update({key: value for key, value in (("email", self.email), ("phone", self.phone)) if value})
        return body

    @classmethod
    def from_json(cls, data: Any, currency: str = "RUB", *, taxation: Optional[str] = None) -> "Receipt":
        """A receipt from a JSON object: ``taxation`` (or the ``taxation`` given), ``ffd_version``,
        ``email`` / ``phone`` and ``items``, each with ``name``, ``price`` (a decimal string in
        major units, ``"499.00"``; never a float), ``quantity`` (a string or a whole number,
        default 1), ``tax``, ``payment_method``, ``payment_object``, ``measure``, ``code`` and
        ``position``. Refused by field name like the objects themselves."""
        if not isinstance(data, dict):
            raise _refuse("receipt", "a JSON object is required")
        unknown = sorted(set(data) - {"taxation", "ffd_version", "email", "phone", "items"})
        if unknown:
            raise _refuse(f"receipt.{unknown[0]}", "not a field of a receipt")
        items = data.get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
            raise _refuse("receipt.items", f"a list of 1 to {MAX_ITEMS} lines is required")
        lines = [_item_from_json(item, index, currency) for index, item in enumerate(items)]
        fields = {key: data[key] for key in ("ffd_version", "email", "phone") if key in data}
        return cls(lines, taxation=data.get("taxation", taxation) or "", **fields)

    def check_amount(self, amount: Money, what: str = "the charge") -> None:
        """Raise :class:`~autopay_soap.errors.ValidationError` (field ``receipt``) unless the lines
        add up to ``amount``, in its currency."""
        if self.total.currency != amount.currency:
            raise _refuse("receipt", f"the lines are in {self.total.currency.alpha}, {what} in "
                                     f"{amount.currency.alpha}")
        if self.total != amount:
            raise _refuse("receipt", f"the lines add up to {self.total}, {what} is {amount}")


_ITEM_KEYS = {"name", "price", "quantity", "tax", "payment_method", "payment_object", "measure", "code", "position",
              "agent_sign", "supplier_name", "supplier_inn", "supplier_phones", "mark_code_type", "mark_code"}
_OPTIONAL_ITEM_KEYS = ("tax", "payment_method", "payment_object", "measure", "code", "agent_sign", "supplier_name",
                       "supplier_inn", "mark_code_type", "mark_code")


def _optional_json(item: ReceiptItem) -> Dict[str, Any]:
    """The optional fields of a line that are set, for :meth:`Receipt.as_json`."""
    found: Dict[str, Any] = {key: getattr(item, key) for key in _OPTIONAL_ITEM_KEYS
                             if key not in ("tax", "payment_method", "payment_object", "measure")
                             and getattr(item, key) is not None}
    if item.supplier_phones:
        found["supplier_phones"] = list(item.supplier_phones)
    return found


def _item_from_json(data: Any, index: int, currency: str) -> ReceiptItem:
    field = f"receipt.items[{index}]"
    if not isinstance(data, dict):
        raise _refuse(field, "a JSON object is required")
    unknown = sorted(set(data) - _ITEM_KEYS)
    if unknown:
        raise _refuse(f"{field}.{unknown[0]}", "not a field of a receipt line")
    price = data.get("price")
    if not isinstance(price, str) or not re.fullmatch(r"[0-9]+(\.[0-9]{1,3})?", price):
        raise _refuse(f"{field}.price", "a decimal string in major units such as \"499.00\" is required")
    quantity = data.get("quantity", "1")
    if isinstance(quantity, bool) or not isinstance(quantity, (str, int)):
        raise _refuse(f"{field}.quantity", "a string such as \"0.5\" or a whole number (never a float)")
    position = data.get("position", index + 1)
    extra = {key: data[key] for key in _OPTIONAL_ITEM_KEYS if key in data}
    if "supplier_phones" in data:
        phones = data["supplier_phones"]
        if not isinstance(phones, list):
            raise _refuse(f"{field}.supplier_phones", "a list of phone numbers")
        extra["supplier_phones"] = tuple(phones)
    try:
        money = Money.of(price, currency)
    except ValidationError as exc:
        raise _refuse(f"{field}.price", exc.message) from None
    name = data.get("name")
    return ReceiptItem(name if isinstance(name, str) else "", money, _quantity(quantity, f"{field}.quantity"),
                       position=position, **extra)


def check_receipt_for(receipt: Any, amount: Optional[Money], what: str = "the charge") -> Optional[Receipt]:
    """``receipt`` checked to be a :class:`Receipt` whose lines add up to ``amount`` (None passes)."""
    if receipt is None:
        return None
    if not isinstance(receipt, Receipt):
        raise _refuse("receipt", f"a Receipt is required, got {type(receipt).__name__}")
    if amount is not None:
        receipt.check_amount(amount, what)
    return receipt


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ReceiptStatus:
    """Where a receipt of an order stands at the cash register (RBS ``getReceiptStatus``).

    ``kind`` is ``sell`` or ``refund``; ``state`` one of ``pending`` (sent, not yet registered:
    ask again later; the gateway's first answer is worth asking for some minutes after the
    payment), ``done`` (registered, ``fiscal_document_number`` set) or ``failed`` (the register
    refused it: fix the cart or the register, then send a correction). ``gateway_status`` keeps
    the gateway's own code (both generations of RBS codes are mapped to these three states).
    """

    kind: str
    state: str
    receipt_id: Optional[str] = None
    fiscal_document_number: Optional[str] = None
    registered_at: Optional[str] = None
    gateway_status: Optional[int] = None
