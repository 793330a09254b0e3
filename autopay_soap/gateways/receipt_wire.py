"""A :class:`~autopay_soap.receipts.Receipt` as each gateway spells it.

* T-Bank: the ``Receipt`` object of ``Init``, ``Confirm`` and ``Cancel`` (FFD 1.05 or 1.2), the
  words as they are; ``Quantity`` a JSON number; ``MeasurementUnit`` in FFD 1.2 only (FFD 1.05
  registers refuse it). A nested object: never part of the Token.
* RBS REST (the legacy dialect): ``orderBundle`` (a JSON string in a form field) with
  ``cartItems.items[]`` carrying ``itemPrice``, ``itemAmount``, ``tax.taxType`` and the
  ``paymentMethod`` / ``paymentObject`` codes in ``itemAttributes``, and ``taxSystem`` beside it;
  ``depositItems`` / ``refundItems`` for a partial capture or refund, with the lines' positions.
* RBS SOAP: the same lines as elements in the 2019 layout (``orderBundle`` in the order and
  ``@taxSystem`` on it, ``depositItems``, ``refundItems``), given to zeep as nested dicts.

RBS has numeric codes; those the facts could not establish (VAT 5 %, 7 %, 5/105, 7/107, and
some FFD 1.2 payment objects) are refused before sending, naming the field, rather than guessed.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Dict, List, Optional, Tuple, Union

from ..errors import BadResponse, ValidationError
from ..receipts import _OBJECTS_105, PAYMENT_METHODS, Receipt, ReceiptItem, ReceiptStatus

__all__ = ["rbs_items", "rbs_order_bundle", "rbs_receipt_statuses", "rbs_tax_system", "soap_cart_items",
           "soap_order_bundle", "tbank_receipt"]

RBS_TAX_SYSTEM = {"osn": 0, "usn_income": 1, "usn_income_outcome": 2, "esn": 4, "patent": 5}
RBS_TAX_TYPE = {"none": 0, "vat0": 1, "vat10": 2, "vat110": 4, "vat20": 6, "vat120": 7}
RBS_PAYMENT_METHOD = {name: index + 1 for index, name in enumerate(PAYMENT_METHODS)}
RBS_PAYMENT_OBJECT = {
    "1.05": {name: index + 1 for index, name in enumerate(_OBJECTS_105)},
    "1.2": {"commodity": 1, "excise": 2, "job": 3, "service": 4, "gambling_bet": 5, "lottery": 7,
            "intellectual_activity": 9, "payment": 10, "agent_commission": 11, "contribution": 12, "another": 13,
            "property_rights": 14, "unrealization": 15, "trade_fee": 17, "resort_tax": 18, "pledge": 19,
            "excisable_goods_without_marking_code": 30, "excisable_goods_with_marking_code": 31,
            "goods_without_marking_code": 32, "goods_with_marking_code": 33},
}
RBS_MEASURE_12 = {"шт": 0, "г": 10, "кг": 11, "т": 12, "см": 20, "дм": 21, "м": 22, "см2": 30, "дм2": 31, "м2": 32,
                  "мл": 40, "л": 41, "м3": 42, "кВт*ч": 50, "Гкал": 51, "сут": 70, "дн": 70, "ч": 71, "мин": 72,
                  "c": 73, "Кбайт": 80, "Мбайт": 81, "Гбайт": 82, "Тбайт": 83, "-": 255}


def _number(quantity: Decimal) -> Union[int, float]:
    """A quantity as a JSON number (at most 3 decimal places: the float's text is exact)."""
    return int(quantity) if quantity == quantity.to_integral_value() else float(quantity)


def tbank_receipt(receipt: Receipt) -> Dict[str, Any]:
    """T-Bank's ``Receipt`` object."""
    items = []
    for item in receipt.items:
        line: Dict[str, Any] = {"Name": item.name, "Price": item.price.minor, "Quantity": _number(item.quantity),
                                "Amount": item.total.minor, "Tax": item.tax, "PaymentMethod": item.payment_method,
                                "PaymentObject": item.payment_object}
        if receipt.ffd_version == "1.2":
            line["MeasurementUnit"] = item.measure
        if item.agent_sign is not None:
            line["AgentData"] = {"AgentSign": item.agent_sign}
            line["SupplierInfo"] = {"Name": item.supplier_name, "Inn": item.supplier_inn,
                                    **({"Phones": list(item.supplier_phones)} if item.supplier_phones else {})}
        if item.mark_code is not None:  # an object, as T-Bank's prose and examples have it (the schema says array)
            line["MarkProcessingMode"] = "0"
            line["MarkCode"] = {"MarkCodeType": item.mark_code_type, "Value": item.mark_code}
        items.append(line)
    body: Dict[str, Any] = {"FfdVersion": receipt.ffd_version, "Taxation": receipt.taxation, "Items": items}
    if receipt.email is not None:
        body["Email"] = receipt.email
    if receipt.phone is not None:
        body["Phone"] = receipt.phone
    return body


def _rbs_code(table: Dict[str, int], value: str, field: str) -> int:
    if value not in table:
        raise ValidationError(f"{field}: {value!r} has no RBS code (RBS gateways publish none for it); "
                              "use another value or the T-Bank transport", field=field)
    return table[value]


def _rbs_item(item: ReceiptItem, index: int, ffd_version: str) -> Dict[str, Any]:
    field = f"receipt.items[{index}]"
    for name in ("agent_sign", "mark_code"):
        if getattr(item, name) is not None:  # the facts do not fix RBS's layout of these: refused, never dropped
            raise ValidationError(f"{field}.{name}: RBS carts with an agent scheme or marking codes are not sent by "
                                  "this version; use the T-Bank transport for such lines", field=f"{field}.{name}")
    measure: Union[str, int] = item.measure
    if ffd_version == "1.2":
        measure = _rbs_code(RBS_MEASURE_12, item.measure, f"{field}.measure")
    method = _rbs_code(RBS_PAYMENT_METHOD, item.payment_method, f"{field}.payment_method")
    obj = _rbs_code(RBS_PAYMENT_OBJECT[ffd_version], item.payment_object, f"{field}.payment_object")
    return {
        "positionId": item.position, "name": item.name,
        "quantity": {"value": _number(item.quantity), "measure": measure},
        "itemPrice": item.price.minor, "itemAmount": item.total.minor, "itemCurrency": item.price.currency.numeric,
        "itemCode": item.code or str(item.position),
        "tax": {"taxType": _rbs_code(RBS_TAX_TYPE, item.tax, f"{field}.tax")},
        "itemAttributes": {"attributes": [{"name": "paymentMethod", "value": str(method)},
                                          {"name": "paymentObject", "value": str(obj)}]},
    }


def rbs_items(receipt: Receipt) -> Dict[str, List[Dict[str, Any]]]:
    """``{"items": [...]}``: ``cartItems`` of a registration, or ``depositItems`` / ``refundItems``."""
    return {"items": [_rbs_item(item, index, receipt.ffd_version) for index, item in enumerate(receipt.items)]}


def rbs_order_bundle(receipt: Receipt) -> str:
    """``orderBundle`` of ``register.do`` / ``registerPreAuth.do``: a JSON string."""
    customer = {key: value for key, value in (("email", receipt.email), ("phone", receipt.phone)) if value}
    return json.dumps({"customerDetails": customer, "cartItems": rbs_items(receipt)}, ensure_ascii=False,
                      separators=(",", ":"))


def rbs_tax_system(receipt: Receipt) -> int:
    """``taxSystem`` beside the ``orderBundle``."""
    return _rbs_code(RBS_TAX_SYSTEM, receipt.taxation, "receipt.taxation")


def soap_cart_items(receipt: Receipt) -> Dict[str, Any]:
    """``cartItems`` (or ``depositItems`` / ``refundItems``) for zeep: the REST lines in the SOAP
    layout (``quantity`` a decimal with its ``@measure``, attributes as named values)."""
    lines = []
    for line in rbs_items(receipt)["items"]:
        quantity = line["quantity"]
        lines.append({
            "positionId": line["positionId"], "name": line["name"],
            "quantity": {"_value_1": Decimal(str(quantity["value"])), "measure": str(quantity["measure"])},
            "itemAmount": line["itemAmount"], "itemCurrency": int(line["itemCurrency"]), "itemCode": line["itemCode"],
            "tax": {"taxType": line["tax"]["taxType"]}, "itemPrice": line["itemPrice"],
            "itemAttributes": {"attributes": [{"_value_1": a["value"], "name": a["name"]}
                                              for a in line["itemAttributes"]["attributes"]]},
        })
    return {"items": lines}


def soap_order_bundle(receipt: Receipt) -> Dict[str, Any]:
    """``orderBundle`` of ``registerOrder`` / ``registerOrderPreAuth`` for zeep (``taxSystem`` is an
    attribute of the order: :func:`rbs_tax_system`)."""
    customer = {key: value for key, value in (("email", receipt.email), ("phone", receipt.phone)) if value}
    return {"customerDetails": customer, "cartItems": soap_cart_items(receipt)}


def rbs_items_json(receipt: Receipt) -> str:
    """``depositItems`` / ``refundItems``: the lines as a JSON string."""
    return json.dumps(rbs_items(receipt), ensure_ascii=False, separators=(",", ":"))


_LEGACY_STATES = {0: ("sell", "pending"), 1: ("sell", "done"), 2: ("sell", "failed"), 3: ("refund", "pending"),
                  4: ("refund", "done"), 5: ("refund", "failed")}
_ECOM_STATES = {0: "pending", 1: "pending", 2: "pending", 3: "done", 4: "failed", 5: "failed", 6: "failed"}


def _code(value: Any) -> Optional[int]:
    text = str(value).strip() if value is not None and not isinstance(value, bool) else ""
    return int(text) if text.isdigit() else None


def rbs_receipt_statuses(reply: Dict[str, Any]) -> Tuple[ReceiptStatus, ...]:
    """The receipts of a ``getReceiptStatus`` answer: the legacy one (``receipt[]`` with codes 0..5)
    or Sber ecom's (``receipts[]``, ``receiptType`` and codes 0..6). An unknown code is a
    :class:`~autopay_soap.errors.BadResponse`, never a guess."""
    found = []
    legacy, ecom = reply.get("receipt"), reply.get("receipts")
    for item in legacy if isinstance(legacy, list) else []:
        code = _code(item.get("receiptStatus")) if isinstance(item, dict) else None
        if code not in _LEGACY_STATES:
            raise BadResponse("getReceiptStatus answered a receipt status it does not document",
                              operation="getReceiptStatus")
        kind, state = _LEGACY_STATES[code]
        found.append(ReceiptStatus(kind, state, _text(item.get("uuid")), _text(item.get("fiscal_document_number")),
                                   _text(item.get("receipt_datetime")), code))
    for item in ecom if isinstance(ecom, list) else []:
        code = _code(item.get("receiptStatus")) if isinstance(item, dict) else None
        sign = {"SELL": "sell", "SELL_REFUND": "refund"}.get(str(item.get("receiptType") or "").upper()) \
            if isinstance(item, dict) else None
        if code not in _ECOM_STATES or sign is None:
            raise BadResponse("getReceiptStatus answered a receipt it does not document", operation="getReceiptStatus")
        payload = item.get("payload") if isinstance(item.get("payload"), dict) else {}
        found.append(ReceiptStatus(sign, _ECOM_STATES[code], _text(item.get("receiptId")),
                                   _text(payload.get("fiscalDocumentNumber")), _text(payload.get("receiptDatetime")),
                                   code))
    return tuple(found)


def _text(value: Any) -> Optional[str]:
    return None if value is None or isinstance(value, (dict, list)) or str(value) == "" else str(value)
