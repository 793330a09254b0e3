"""Receipts the tests charge with."""

from autopay_soap import Money, Receipt

RUB = lambda text: Money.of(text, "RUB")  # noqa: E731


def month(amount="499.00"):
    return Receipt.single_item("Подписка, месяц", RUB(amount), tax="vat20", taxation="usn_income",
                               phone="+79031234567")
