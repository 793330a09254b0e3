"""The decline tables, classification, the retry schedule and derived order numbers.

The expected kinds below are transcribed from ``facts/declines.md`` separately from the tables in
``autopay_soap/declines``; every code of a table must be listed here, so a code added to a table
without its expectation fails too.
"""

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopay_soap.codes import rbs
from autopay_soap.codes.rbs import RBS
from autopay_soap.codes.reasons import DeclineReason
from autopay_soap.codes.tbank import TBANK, decline_code, error_for_tbank_code
from autopay_soap.declines import (
    DEFAULT_SCHEDULE,
    DeclineKind,
    RetrySchedule,
    classify,
    classify_error,
    first_payment_order_number,
    retry_order_number,
)
from autopay_soap.declines.numbers import digest_length_of, root_and_attempt
from autopay_soap.errors import BindingStateError, InvalidRequest, PaymentDeclined, ValidationError

S, H, R, M = "soft", "hard", "rebind", "merchant"


def _codes(text):
    out = []
    for part in text.split():
        if re.fullmatch(r"-?\d+\.\.-?\d+", part):
            low, high = part.split("..")
            out += list(range(int(low), int(high) + 1))
        elif re.fullmatch(r"-?\d+", part):
            out.append(int(part))
        else:
            out.append(part)
    return out


RBS_EXPECTED = {
    S: _codes("-30001 -100 -20010 121 902 903 -2200 -2023 -2022 -2018 -2013 -2007 0 5 909 916 20 116 90 100 "
              "103 907 910 912 106 123 814 904 913 920 998 151019 -1 1112..1118 2023 151018 -9000 -2016 -2011 "
              "-2005 -2002 107 209 9001 341014 151017"),
    H: _codes("4 62 63 119 72 78 111 125 120 151 999 181 203 204 208 212 239 240 555 823 2030 -2000 104 200 2001"),
    R: _codes("-2025 -2006 4032 -2009 -301 1 73 82 88 101 906 1434 71015"),
    M: _codes("-2024 -2020 -2014 87 109 941 110 117 124 914 950 968 1120 341041 911 4005 2002 2003 -2004 2012 2016 "
              "8204 -2019 -2015 -2012 2005 -2001 1001 10"),
}
RBS_ISO_EXPECTED = {  # the processing centre's two-character codes, keyed as text
    S: "01 05 31 68 91 96 51 61 65 B1 90 AE BA".split(),
    H: "04 36 37 B3 B4 14 32 AF 16 41 43 57 93 B2 62 F1 R0 R1 R3 TS".split(),
    R: "33 81 82 AB AC S1".split(),
    M: "03 09 10 13 30 92 12".split(),
}
TBANK_EXPECTED = {
    S: _codes("99 102 103 116 1051 1013 1019 1061 1065 1075 119 2200 603 120 123 125 999 9001 402 903 1030 1034 1089 "
              "3 7999 1096 1091 1001 1017 1005 1006 1008 1012 1062 1088 1092 1204 1018 100 1038 1055 1086 1085 "
              "3040 9999 3041 3042 3009 5032 5043 5060 5061 5062"),
    H: _codes("1004 1007 1043 1059 1063 1093 1094 1041 1039 1053 1014 1015 1057 1058 506 600 3003 76 77 1205 1217 "
              "1218 5036 5063 5038 5067 5064 5065"),
    R: _codes("104 101 2014 511 252 1033 1054 1080 1082 1071 262 107 231 503 1078 106 108 507 3012 5031 3014 3015 "
              "5066"),
    M: _codes("10 1125 1126 204 205 202 501 648 8 9 12 20 54 255 623 1316 201 203 206..230 232..251 308..335 384 105 "
              "1235 1202 1203 3013 3001 3019 3037"),
}


def _flat(expected):
    return {code: kind for kind, codes in expected.items() for code in codes}


@pytest.mark.parametrize("gateway,table,expected", [
    ("rbs", RBS, {**_flat(RBS_EXPECTED), **_flat(RBS_ISO_EXPECTED)}),
    ("tbank", TBANK, _flat(TBANK_EXPECTED)),
])
def test_every_table_code_has_the_fact_sheets_kind(gateway, table, expected):
    assert set(table.entries) == set(expected), "the table and the fact sheet list different codes"
    wrong = {code: (classify(gateway, code).kind.value, kind) for code, kind in expected.items()
             if classify(gateway, code).kind.value != kind}
    assert wrong == {}


def test_a_raw_iso_code_sent_as_a_number_is_read_as_that_iso_code():
    for code, kind in _flat(RBS_ISO_EXPECTED).items():
        if code.isdigit() and int(code) not in _flat(RBS_EXPECTED):
            assert classify("rbs", int(code)).kind.value == kind, code


@pytest.mark.parametrize("gateway,code,kind", [
    ("soap", 116, S), ("rest", "116", S), ("rbs", " -2007 ", S), ("rbs", 823, H), ("rbs", 101, R),
    ("rbs", -2004, M), ("rbs", -2001, M), ("rbs", 2001, H), ("rbs", "r0", H), ("rbs", 51, S), ("rbs", 57, H),
    ("rbs", 41, H), ("rbs", 33, R), ("tbank", "1051", S), ("tbank", 1041, H), ("tbank", 1054, R), ("tbank", 105, M),
    ("tbank", 5060, S), ("tbank", 5065, H), ("tbank", 5066, R), ("tbank", 3013, M), ("sbp", 3015, R),
])
def test_representative_codes(gateway, code, kind):
    assert classify(gateway, code).kind.value == kind


def test_a_sign_is_never_dropped():
    assert classify("rbs", "-2001").kind is DeclineKind.MERCHANT
    assert classify("rbs", "2001").kind is DeclineKind.HARD
    assert classify("rbs", -2007).code == -2007


def test_codes_whose_meaning_changed_are_read_by_their_text():
    assert classify("rbs", 100, "Issuer forbids internet transactions on this card").kind is DeclineKind.HARD
    assert classify("rbs", 100, "Запрещены интернет-транзакции").kind is DeclineKind.HARD
    assert classify("rbs", 100, "Over the credit limit").kind is DeclineKind.SOFT
    assert classify("rbs", 100).kind is DeclineKind.SOFT
    assert classify("rbs", 151017, "3-D Secure authentication failed").kind is DeclineKind.REBIND
    assert classify("rbs", 151017, "3-D Secure connection error").kind is DeclineKind.SOFT
    assert classify("tbank", 100, "Карта неактивна").kind is DeclineKind.HARD
    assert classify("tbank", 100, "Необходимо подключить SMS-3DS").kind is DeclineKind.MERCHANT
    found = classify("tbank", 100, "Повторите попытку")
    assert found.kind is DeclineKind.SOFT and found.reconcile


def test_timeout_codes_ask_for_a_look_up_first():
    for gateway, code in (("rbs", 151019), ("rbs", 998), ("rbs", -1), ("rbs", 90), ("tbank", 1018)):
        assert classify(gateway, code).reconcile, (gateway, code)
    assert not classify("rbs", 116).reconcile


def test_an_unknown_code_is_soft_and_marked_unknown():
    found = classify("rbs", 777777, "something new")
    assert found.kind is DeclineKind.SOFT and not found.known and found.text == "something new"
    assert classify("tbank", None).known is False


def test_overrides_win_over_the_table_and_the_text():
    assert classify("rbs", 5, overrides={5: DeclineKind.HARD}).kind is DeclineKind.HARD
    assert classify("rbs", "5", overrides={"5": DeclineKind.HARD}).kind is DeclineKind.HARD
    assert classify("rbs", 116, overrides={5: DeclineKind.HARD}).kind is DeclineKind.SOFT


def test_an_unknown_gateway_is_refused():
    with pytest.raises(ValueError, match="gateway"):
        classify("paypal", 5)


def test_refusals_of_the_payment_step():
    gone = BindingStateError("binding not found", gateway_code=2, gateway_message="Binding is not active")
    assert classify_error(gone, "soap").kind is DeclineKind.REBIND
    assert classify_error(error_for_tbank_code(3015, "Неверный статус AccountToken"), "tbank").kind \
        is DeclineKind.REBIND
    assert classify_error(error_for_tbank_code(10, "Метод Charge заблокирован"), "tbank").kind is DeclineKind.MERCHANT
    assert classify_error(InvalidRequest("refused", gateway_code=5), "rest").kind is DeclineKind.MERCHANT
    declined = PaymentDeclined("declined", action_code=1054, gateway_code=1054)
    assert classify_error(declined, "tbank").kind is DeclineKind.REBIND


# -- the schedule ------------------------------------------------------------------------------------

T0 = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.timezone.utc).timestamp()
DAY = 86400


def test_the_default_ladder_is_one_three_five_seven_days():
    soft = classify("rbs", 116)
    due = [DEFAULT_SCHEDULE.next_attempt(soft, n, T0, T0 + (0, 1, 3, 5)[n - 1] * DAY) for n in (1, 2, 3, 4)]
    assert [(d - T0) / DAY for d in due] == [1, 3, 5, 7]
    assert DEFAULT_SCHEDULE.next_attempt(soft, 5, T0, T0 + 7 * DAY) is None  # five attempts in all
    assert DEFAULT_SCHEDULE.max_attempts == 5


def test_hard_rebind_and_merchant_are_never_scheduled():
    for code in (823, 101, -2004):
        assert DEFAULT_SCHEDULE.next_attempt(classify("rbs", code), 1, T0, T0) is None


def test_never_twice_on_one_calendar_day_and_never_before_the_codes_wait():
    late = dt.datetime(2026, 12, 1, 23, 59, tzinfo=dt.timezone.utc).timestamp()
    schedule = RetrySchedule(offsets_days=(0.0001, 0.0002))
    due = schedule.next_attempt(classify("rbs", 116), 1, late, late)
    assert dt.datetime.fromtimestamp(due, dt.timezone.utc) == dt.datetime(2026, 12, 2, tzinfo=dt.timezone.utc)
    assert DEFAULT_SCHEDULE.next_attempt(classify("tbank", 3041), 1, T0, T0) >= T0 + DAY
    assert RetrySchedule(per_card_per_day=2, offsets_days=(0.01,)).next_attempt(
        classify("tbank", 3042), 1, T0, T0) == T0 + 3600


@pytest.mark.parametrize("bad", [(), (3, 1), (0, 1), (-1,), ("1",)])
def test_a_bad_schedule_is_refused(bad):
    with pytest.raises(ValidationError) as info:
        RetrySchedule(offsets_days=bad)
    assert info.value.field == "offsets_days"


# -- derived order numbers ---------------------------------------------------------------------------

def test_retry_numbers_are_derived_from_the_original():
    assert retry_order_number("SUB-42-0002", 1) == "SUB-42-0002"
    assert retry_order_number("SUB-42-0002", 2) == "SUB-42-0002/r1"
    assert retry_order_number("SUB-42-0002", 5) == "SUB-42-0002/r4"
    assert first_payment_order_number("SUB-42-0002") == "SUB-42-0002/b1"
    root_and_attempt("SUB-42-0002/r2", "SUB-42-0002", 3)
    with pytest.raises(ValidationError) as info:
        root_and_attempt("SUB-42-0002/r9", "SUB-42-0002", 3)
    assert info.value.field == "order_number"
    with pytest.raises(ValidationError):
        retry_order_number("SUB-1", 0)


@given(st.text(alphabet="ABCxyz0189_-./:#", min_size=1, max_size=36), st.integers(1, 40),
       st.sampled_from([32, 36]))
def test_derived_numbers_fit_the_gateway_and_stay_unique(original, attempt, max_len):
    if len(original) > max_len:
        original = original[:max_len]
    number = retry_order_number(original, attempt, max_len=max_len)
    assert len(number) <= max_len and re.fullmatch(r"[A-Za-z0-9_\-./:#]+", number)
    assert number == retry_order_number(original, attempt, max_len=max_len)
    if attempt > 1:
        assert number != retry_order_number(original, attempt - 1, max_len=max_len)
        other = original + "x" if len(original) < max_len else original[:-1] + ("y" if original[-1] != "y" else "z")
        assert number != retry_order_number(other, attempt, max_len=max_len)


def test_retry_numbers_of_many_long_originals_that_share_their_start_never_meet():
    """A nightly file of 30,000 numbers of 32 characters that differ only at the end: every retry
    number is cut to the same start, and the digest alone tells them apart. With six hex digits
    (24 bits) 29 would meet another; with twelve, none."""
    originals = [f"BATCH-20261205-CLIENT-{n:010d}" for n in range(30_000)]
    for attempt in (2, 3):
        numbers = {retry_order_number(o, attempt, max_len=32) for o in originals}
        assert len(numbers) == len(originals)
    legacy = {retry_order_number(o, 2, max_len=32, digest_length=6) for o in originals}
    assert len(originals) - len(legacy) == 29  # the weakness the twelve digits mend (docs/declines.rst)


def test_a_number_derived_by_0_1_is_still_read_as_its_attempt():
    long = "X" * 32
    old = retry_order_number(long, 3, max_len=32, digest_length=6)
    assert len(old.split(".")[1].split("/")[0]) == 6 and old != retry_order_number(long, 3, max_len=32)
    assert digest_length_of(old, long, 3, max_len=32) == 6
    assert digest_length_of(retry_order_number(long, 3, max_len=32), long, 3, max_len=32) == 12
    root_and_attempt(old, long, 3, max_len=32)
    with pytest.raises(ValidationError) as info:
        root_and_attempt(old, long, 2, max_len=32)
    assert info.value.field == "order_number"
    docs = (Path(__file__).parent.parent.parent / "docs" / "declines.rst").read_text("utf-8")
    assert f"is ``{retry_order_number(long.replace('X', 'A'), 3, max_len=32)}``" in docs  # the example, as given
    with pytest.raises(ValidationError) as info:
        retry_order_number(long, 2, max_len=32, digest_length=8)
    assert info.value.field == "digest_length"


def test_code_spellings():
    assert classify("rbs", "0-2007").code == -2007
    assert classify("rbs", "05").code == "05" and classify("rbs", "05").kind is DeclineKind.SOFT
    assert classify("rbs", "01").kind is DeclineKind.SOFT and classify("rbs", 1).kind is DeclineKind.REBIND


@pytest.mark.parametrize("code", ["1" * 5000, "-" + "9" * 19, "x" * 100_000, " 12345678901234567890 "])
def test_a_code_no_table_can_hold_is_unknown_and_short_never_an_error(code):
    """A broken or hostile reply's "code" (5,000 digits, 100 KB of text) classifies as an unknown
    soft decline, kept to MAX_CODE_CHARS, on every path that reads one."""
    from autopay_soap.declines.classify import MAX_CODE_CHARS
    from autopay_soap.gateways.base import normalise_error_code

    for gateway in ("rbs", "tbank"):
        found = classify(gateway, code, "?")
        assert found.kind is DeclineKind.SOFT and not found.known
        assert isinstance(found.code, str) and 0 < len(found.code) <= MAX_CODE_CHARS
    refused = error_for_tbank_code(normalise_error_code(code), "?")  # as the T-Bank gateway reads ErrorCode
    assert classify_error(refused, "tbank").kind is DeclineKind.MERCHANT
    declined = PaymentDeclined("declined", action_code=None, gateway_code=code)
    assert classify_error(declined, "soap").known is False
    assert classify("rbs", "1" * 18).code == int("1" * 18)  # the longest run still read as a number


AUTOPAY_REASONS = [DeclineReason.ISSUER_DECLINED, DeclineReason.INSUFFICIENT_FUNDS, DeclineReason.CARD_EXPIRED,
                   DeclineReason.CARD_STOLEN, DeclineReason.AUTOPAY_NOT_ALLOWED]


def test_every_decline_reason_of_the_sandbox_has_one_rbs_action_code():
    assert set(rbs.ACTION_OF) == set(DeclineReason)
    assert len(set(rbs.ACTION_OF.values())) == len(DeclineReason)
    assert all(rbs.REASON_OF[code] is reason for reason, code in rbs.ACTION_OF.items())


@pytest.mark.parametrize("reason", AUTOPAY_REASONS, ids=[r.name for r in AUTOPAY_REASONS])
def test_an_autopayment_declined_for_one_reason_is_one_kind_on_every_gateway(reason):
    """What a test card's autopayment decline means to the dunning does not depend on the gateway
    the sandbox answers as: RBS's actionCode, T-Bank's card ErrorCode and its SBP ErrorCode."""
    kinds = {RBS.get(rbs.ACTION_OF[reason]).kind, TBANK.get(decline_code(reason)[0]).kind,
             TBANK.get(decline_code(reason, sbp=True)[0]).kind}
    assert len(kinds) == 1, kinds


def test_a_t_bank_payment_declined_for_no_listed_reason_is_the_issuers_refusal():
    assert decline_code(None) == decline_code(DeclineReason.CANCELLED) == (1012, "Отказ эмитента")
    assert decline_code(None, sbp=True)[0] == 5032
