from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopay_soap import Money, ValidationError
from autopay_soap.money import currency


def test_from_string_and_decimal_and_minor_agree():
    assert Money.of("499.00", "RUB") == Money.of(Decimal("499"), "643") == Money.from_minor(49900, 643)
    assert Money.of("499.00", "RUB").major == Decimal("499.00")
    assert str(Money.of("0.05", "USD")) == "0.05 USD"


def test_currency_lookup_by_alpha_and_numeric():
    rub = currency("rub")
    assert (rub.alpha, rub.numeric, rub.exponent) == ("RUB", "643", 2)
    assert currency(643) is rub
    assert currency("392").exponent == 0  # JPY
    assert currency("KWD").exponent == 3


@pytest.mark.parametrize(
    "amount, code, field, reason",
    [
        (1.5, "RUB", "amount", "not float"),
        ("-1.00", "RUB", "amount", "must not be negative"),
        ("1.001", "RUB", "amount", "RUB has 2 decimal places"),
        ("1.5", "JPY", "amount", "JPY has 0 decimal places"),
        ("abc", "RUB", "amount", "is not a decimal number"),
        ("NaN", "RUB", "amount", "must be a finite number"),
        ("Infinity", "RUB", "amount", "must be a finite number"),
        (True, "RUB", "amount", "not bool"),
        ("10.00", "XXX", "currency", "unknown currency 'XXX'"),
        ("10.00", "", "currency", "unknown currency ''"),
    ],
)
def test_bad_amounts_are_refused_naming_the_field(amount, code, field, reason):
    with pytest.raises(ValidationError) as info:
        Money.of(amount, code)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ") and reason in str(info.value)


def test_minor_units_must_be_int():
    with pytest.raises(ValidationError):
        Money.from_minor(1.0, "RUB")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Money.from_minor(-1, "RUB")
    with pytest.raises(ValidationError):
        Money.from_minor(10**12, "RUB")


def test_money_is_immutable_and_hashable():
    m = Money.from_minor(100, "RUB")
    with pytest.raises(AttributeError):
        m.minor = 5  # type: ignore[misc]
    assert {m: 1}[Money.of("1", "RUB")] == 1


@given(minor=st.integers(min_value=0, max_value=999_999_999_999),
       code=st.sampled_from(["RUB", "USD", "JPY", "KWD"]))
def test_round_trip_minor_major_str(minor, code):
    money = Money.from_minor(minor, code)
    assert Money.of(money.major, code) == money
    assert Money.of(str(money.major), code) == money


@given(minor=st.integers(min_value=0, max_value=10**9), extra=st.integers(min_value=1, max_value=9))
def test_one_digit_too_many_is_always_refused(minor, extra):
    text = f"{Decimal(minor).scaleb(-2)}{extra}"  # a third decimal for a 2-decimal currency
    with pytest.raises(ValidationError):
        Money.of(text, "RUB")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_always_refused(value):
    with pytest.raises(ValidationError):
        Money.of(value, "RUB")  # type: ignore[arg-type]


def test_arithmetic_and_comparison_within_one_currency():
    a, b = Money.of("10.50", "RUB"), Money.of("0.50", "RUB")
    assert a + b == Money.of("11.00", "RUB") and a - b == Money.of("10.00", "RUB")
    assert b < a and a > b and a >= a and b <= b and not a < a
    assert a.zero() == Money.from_minor(0, "RUB")
    with pytest.raises(ValidationError) as info:
        a + Money.of("1.00", "USD")
    assert info.value.field == "currency"
    with pytest.raises(ValidationError):
        assert Money.of("1.00", "RUB") < Money.of("1.00", "EUR")
    with pytest.raises(ValidationError):
        b - a  # never negative
    with pytest.raises(TypeError):
        a + 1  # type: ignore[operator]
