"""Money as integer minor units with an ISO 4217 currency.

Amounts never pass through ``float``: a :class:`Money` is built from a
:class:`~decimal.Decimal`, a decimal string such as ``"499.00"``, or an ``int`` of minor
units (kopecks, cents). Anything that would lose or invent a minor unit is refused with a
:class:`~autopay_soap.errors.ValidationError` that names the field.

>>> Money.of("499.00", "RUB")
Money(minor=49900, currency='RUB')
>>> Money.from_minor(49900, "643").major
Decimal('499.00')
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Dict, Union

import attr

from .errors import ValidationError

__all__ = ["Currency", "Money", "currency"]


@attr.s(frozen=True, slots=True, auto_attribs=True, repr=False)
class Currency:
    """An ISO 4217 currency: alphabetic code, numeric code and minor-unit exponent."""

    alpha: str
    numeric: str
    exponent: int

    def __repr__(self) -> str:
        return f"Currency({self.alpha!r})"

    def __str__(self) -> str:
        return self.alpha


_TABLE = [
    # alpha, numeric, exponent: the currencies Russian acquirers settle, plus common ones.
    ("RUB", "643", 2), ("USD", "840", 2), ("EUR", "978", 2), ("GBP", "826", 2),
    ("CNY", "156", 2), ("KZT", "398", 2), ("BYN", "933", 2), ("AMD", "051", 2),
    ("UZS", "860", 2), ("KGS", "417", 2), ("TJS", "972", 2), ("AZN", "944", 2),
    ("GEL", "981", 2), ("TRY", "949", 2), ("AED", "784", 2), ("CHF", "756", 2),
    ("INR", "356", 2), ("JPY", "392", 0), ("KRW", "410", 0), ("VND", "704", 0),
    ("KWD", "414", 3), ("BHD", "048", 3), ("OMR", "512", 3),
]
_BY_CODE: Dict[str, Currency] = {}
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?\Z")
for _alpha, _numeric, _exp in _TABLE:
    _cur = Currency(_alpha, _numeric, _exp)
    _BY_CODE[_alpha] = _cur
    _BY_CODE[_numeric] = _cur
    _BY_CODE[str(int(_numeric))] = _cur


def currency(code: Union[str, int, Currency], field: str = "currency") -> Currency:
    """Look a currency up by alphabetic (``"RUB"``) or numeric (``"643"``, ``643``) code."""
    if isinstance(code, Currency):
        return code
    if isinstance(code, bool) or not isinstance(code, (str, int)):
        raise ValidationError(f"{field}: expected an ISO 4217 code, got {type(code).__name__}", field=field)
    key = str(code).strip().upper()
    found = _BY_CODE.get(key)
    if found is None:
        raise ValidationError(f"{field}: unknown currency {key!r}", field=field)
    return found


@attr.s(frozen=True, slots=True, repr=False, eq=True, order=False, hash=True)
class Money:
    """An amount in integer minor units of one currency. Immutable and never negative.

    ``+``, ``-`` and the comparisons work between amounts of one currency only; mixing
    currencies raises :class:`~autopay_soap.errors.ValidationError` (``field="currency"``), and so
    does a difference below zero.
    """

    minor: int = attr.ib()
    currency: Currency = attr.ib(converter=currency)

    @minor.validator
    def _check_minor(self, _attribute: "attr.Attribute[int]", value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(
                f"amount: minor units must be an int, got {type(value).__name__}", field="amount"
            )
        if value < 0:
            raise ValidationError("amount: must not be negative", field="amount")
        if value > 999_999_999_999:  # the gateways' N..12
            raise ValidationError("amount: more than 12 digits of minor units", field="amount")

    @classmethod
    def _checked(cls, minor: int, alpha: str) -> "Money":
        """An amount that was checked before (``minor`` and the currency's ``alpha`` code taken
        from a :class:`Money`): built without its checks again. For values this library stored
        itself (a run's row spool), never for input."""
        money = object.__new__(cls)
        object.__setattr__(money, "minor", minor)
        object.__setattr__(money, "currency", _BY_CODE[alpha])
        return money

    @classmethod
    def from_minor(cls, minor: int, currency_code: Union[str, int, Currency]) -> "Money":
        """Build from an ``int`` of minor units (kopecks for RUB)."""
        return cls(minor, currency(currency_code))

    @classmethod
    def of(cls, amount: Union[Decimal, str, int], currency_code: Union[str, int, Currency]) -> "Money":
        """Build from a major-unit amount: ``Decimal("499.00")``, ``"499.00"`` or ``499``.

        A ``float`` is refused (it cannot hold kopecks exactly), and so is any amount with
        more decimals than the currency has. A string must be plain decimal notation
        (``"499.00"``, ``"-1"``): ``"1e3"``, ``"5_000"``, ``".5"`` and non-ASCII digits, all of
        which ``Decimal`` would take, are refused.
        """
        cur = currency(currency_code)
        if isinstance(amount, bool) or isinstance(amount, float) or not isinstance(amount, (Decimal, str, int)):
            raise ValidationError(
                f"amount: give a Decimal, a str or an int, not {type(amount).__name__}", field="amount"
            )
        try:
            value = Decimal(amount.strip() if isinstance(amount, str) else amount)
        except (InvalidOperation, ValueError):
            raise ValidationError(f"amount: {amount!r} is not a decimal number", field="amount") from None
        if not value.is_finite():
            raise ValidationError("amount: must be a finite number", field="amount")
        if isinstance(amount, str) and not _PLAIN_DECIMAL.match(amount.strip()):
            raise ValidationError(
                f"amount: {amount!r} is not in plain decimal notation (ASCII digits, a point and the decimals: "
                "'499.00'); exponents, underscores, a bare point and other digits are refused", field="amount")
        scaled = value.scaleb(cur.exponent)
        if scaled != scaled.to_integral_value():
            raise ValidationError(
                f"amount: {cur.alpha} has {cur.exponent} decimal places, {amount!r} has more",
                field="amount",
            )
        return cls(int(scaled), cur)

    @property
    def major(self) -> Decimal:
        """The amount in major units as an exact ``Decimal`` (``Decimal('499.00')``)."""
        return Decimal(self.minor).scaleb(-self.currency.exponent)

    def _same_currency(self, other: object, operation: str) -> "Money":
        if not isinstance(other, Money):
            raise TypeError(f"cannot {operation} Money and {type(other).__name__}")
        if other.currency != self.currency:
            raise ValidationError(f"amount: cannot {operation} {self.currency.alpha} and {other.currency.alpha}",
                                  field="currency")
        return other

    def __add__(self, other: object) -> "Money":
        """The sum, in the same currency (another currency raises :class:`ValidationError`)."""
        return Money(self.minor + self._same_currency(other, "add").minor, self.currency)

    def __sub__(self, other: object) -> "Money":
        """The difference, in the same currency; a negative result raises :class:`ValidationError`."""
        return Money(self.minor - self._same_currency(other, "subtract").minor, self.currency)

    def __lt__(self, other: object) -> bool:
        return self.minor < self._same_currency(other, "compare").minor

    def __le__(self, other: object) -> bool:
        return self.minor <= self._same_currency(other, "compare").minor

    def __gt__(self, other: object) -> bool:
        return self.minor > self._same_currency(other, "compare").minor

    def __ge__(self, other: object) -> bool:
        return self.minor >= self._same_currency(other, "compare").minor

    def zero(self) -> "Money":
        """Nothing, in this currency."""
        return Money(0, self.currency)

    def __repr__(self) -> str:
        return f"Money(minor={self.minor}, currency={self.currency.alpha!r})"

    def __str__(self) -> str:
        return f"{self.major} {self.currency.alpha}"
