"""The sandbox's checks of 54-FZ carts, as a terminal that fiscalises through the acquirer makes them.

``Sandbox(receipts_required=True)`` (``autopay-soap sandbox --receipts-required``) turns them on:

* T-Bank: an ``Init`` without ``Receipt`` is refused with **309**; a receipt whose lines do not
  add up (a line's ``Price × Quantity`` is not its ``Amount``, or the lines are not the payment's
  ``Amount``) with **308**; one with neither ``Email`` nor ``Phone`` with **329**; more than 100
  lines or a ``Quantity`` with more than 3 decimals with **310**. ``Confirm`` and a partial
  ``Cancel`` need a receipt of what they capture or refund; a full ``Cancel`` needs none.
* RBS (REST and SOAP): a registration without ``orderBundle`` and ``taxSystem``, or with a cart
  that does not add up, is refused with ``errorCode`` 4 (the code observed for a bad cart); a
  partial deposit or refund needs ``depositItems`` / ``refundItems`` that add up to its amount.
  A cart is checked whenever one is sent, required or not.

Every receipt accepted is kept per order (:meth:`FiscalLog.receipts`), each with a status that
moves from ``sent`` to ``delivered`` once a minute has passed on the sandbox clock. On T-Bank,
once the payment is ``CONFIRMED`` (or refunded with a receipt) a fiscal notification
(``Status=RECEIPT``) of each receipt goes to the payment's notification URL.
"""

from __future__ import annotations

import json
import threading
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Dict, List, Mapping, Optional

__all__ = ["FiscalLog", "rbs_cart_problem", "soap_cart_json", "tbank_receipt_problem"]

DELIVERY_SECONDS = 60.0
"""How long after it was sent a receipt is reported delivered."""


def _number(value: Any) -> Optional[Decimal]:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def tbank_receipt_problem(receipt: Any, amount: Optional[int]) -> Optional[tuple]:
    """``(code, message)`` of T-Bank's refusal of ``receipt`` for ``amount`` kopecks, or None."""
    if not isinstance(receipt, Mapping) or not receipt:
        return 309, "Поле Receipt не должно быть пустым"
    items = receipt.get("Items")
    if not isinstance(items, list) or not items:
        return 309, "Поле Receipt.Items не должно быть пустым"
    if len(items) > 100:
        return 310, "Не более 100 позиций в чеке"
    if not receipt.get("Email") and not receipt.get("Phone"):
        return 329, "Необходимо передать Email или Phone"
    total = 0
    for item in items:
        if not isinstance(item, Mapping):
            return 308, "Неверный формат позиции чека"
        price, quantity, line = _number(item.get("Price")), _number(item.get("Quantity")), _number(item.get("Amount"))
        if price is None or quantity is None or line is None or quantity <= 0:
            return 308, "Неверные Price, Quantity или Amount позиции чека"
        if quantity != quantity.quantize(Decimal("0.001")) or quantity >= 100000:
            return 310, "Неверный формат Quantity"
        if price * quantity != line:
            return 308, "Amount позиции не равен Price × Quantity"
        total += int(line)
    if amount is not None and total != amount:
        return 308, "Сумма позиций чека не равна сумме платежа"
    return None


def _rbs_items_total(items: Any) -> Optional[int]:
    """The sum of ``itemAmount`` of well-formed cart lines, or None for a malformed cart."""
    if not isinstance(items, list) or not 1 <= len(items) <= 100:
        return None
    total = 0
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("quantity"), Mapping):
            return None
        price, quantity = _number(item.get("itemPrice")), _number(item["quantity"].get("value"))
        line = _number(item.get("itemAmount"))
        if price is None or quantity is None or line is None or quantity <= 0 or price * quantity != line:
            return None
        if not isinstance(item.get("tax"), Mapping) or _number(item["tax"].get("taxType")) is None:
            return None
        total += int(line)
    return total


def rbs_cart_problem(text: Optional[str], amount: Optional[int], *, bundle: bool) -> Optional[str]:
    """Why RBS refuses an ``orderBundle`` (``bundle``) or ``depositItems``/``refundItems`` JSON
    string for ``amount`` minor units, or None."""
    if not text:
        return "orderBundle is required: this terminal fiscalises (54-FZ)" if bundle else \
            "the items of a partial operation are required: this terminal fiscalises (54-FZ)"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return "the cart is not JSON"
    if not isinstance(data, dict):
        return "the cart is not a JSON object"
    if bundle:
        customer = data.get("customerDetails")
        if not isinstance(customer, Mapping) or not (customer.get("email") or customer.get("phone")):
            return "customerDetails.email or customerDetails.phone is required"
        data = data.get("cartItems")
        if not isinstance(data, dict):
            return "cartItems is required"
    total = _rbs_items_total(data.get("items"))
    if total is None:
        return "a cart line is malformed (itemAmount must be itemPrice × quantity.value; tax.taxType required)"
    if amount is not None and total != amount:
        return f"the cart adds up to {total}, the amount is {amount}"
    return None


def soap_cart_json(element: Any, *, bundle: bool) -> Optional[str]:
    """An ``orderBundle`` (``bundle``) or ``depositItems`` / ``refundItems`` element of a SOAP
    request in the REST dialect's JSON, for :func:`rbs_cart_problem` (None without the element)."""
    if element is None:
        return None
    lines = []
    for item in element.findall("items") if not bundle else element.findall("cartItems/items"):
        quantity, tax = item.find("quantity"), item.find("tax")
        lines.append({
            "positionId": item.get("positionId"), "name": item.findtext("name"),
            "quantity": {"value": quantity.text if quantity is not None else None,
                         "measure": quantity.get("measure") if quantity is not None else None},
            "itemPrice": item.findtext("itemPrice"), "itemAmount": item.findtext("itemAmount"),
            "tax": {"taxType": tax.findtext("taxType")} if tax is not None else None})
    if not bundle:
        return json.dumps({"items": lines}, ensure_ascii=False)
    customer = {key: element.findtext(f"customerDetails/{key}") for key in ("email", "phone")}
    return json.dumps({"customerDetails": {k: x for k, x in customer.items() if x},
                       "cartItems": {"items": lines}}, ensure_ascii=False)


class FiscalLog:
    """The receipts the sandbox accepted, per order id, each with a status on the sandbox clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._receipts: Dict[str, List[Dict[str, Any]]] = {}
        self._count = 0  # the register's document numbers, one per receipt kept

    def add(self, order_id: str, operation: str, receipt: Any, amount: int) -> None:
        """Keep an accepted receipt of ``operation`` (``sell``, ``capture``, ``refund``)."""
        with self._lock:
            self._count += 1
            self._receipts.setdefault(order_id, []).append(
                {"operation": operation, "amount": amount, "sent_at": self.clock(), "receipt": receipt,
                 "uuid": str(uuid.uuid4()), "number": self._count})

    def take_unannounced(self, order_id: str, operations: tuple) -> List[Dict[str, Any]]:
        """The receipts of ``operations`` not yet announced by a fiscal notification (now they are),
        each with its number in the sandbox's register (``number``, given when it was kept)."""
        with self._lock:
            taken = []
            for entry in self._receipts.get(order_id, ()):
                if entry["operation"] in operations and not entry.get("announced"):
                    entry["announced"] = True
                    taken.append(dict(entry))
            return taken

    def receipts(self, order_id: str) -> List[Dict[str, Any]]:
        """The receipts of an order, oldest first, each with its ``status`` now."""
        now = self.clock()
        with self._lock:
            kept = list(self._receipts.get(order_id, ()))
        return [{**{k: x for k, x in item.items() if k != "announced"},
                 "status": "delivered" if now - item["sent_at"] >= DELIVERY_SECONDS else "sent"} for item in kept]
