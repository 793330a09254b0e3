"""Who initiates each charge, on every gateway and profile: every combination of initiator ×
gateway × profile × scenario is either sent as the facts say (the sandbox shows what arrived)
or refused before anything is sent, naming the field. The expected table is written out here,
not computed by the library."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from autopay_soap import AutopayClient, Initiator, Money, RecurringTerms
from autopay_soap.client import ChargeOutcome
from autopay_soap.errors import ConfigurationError, InvalidRequest, ValidationError
from autopay_soap.initiators import rbs_tii
from autopay_soap.sandbox import Sandbox, TBankTerminal, TestCards

from ..support import no_wait

I = Initiator  # noqa: E741
CUST_SAVES, CUST_RECUR, CUST_INST = I.CUSTOMER_SAVES_CARD, I.CUSTOMER_STARTS_RECURRING, I.CUSTOMER_STARTS_INSTALMENTS
CUST_COF, MIT_U, MIT_R, MIT_I = (I.CUSTOMER_WITH_SAVED_CARD, I.MERCHANT_UNSCHEDULED, I.MERCHANT_RECURRING,
                                 I.MERCHANT_INSTALMENT)
INITIATORS = [None, CUST_SAVES, CUST_RECUR, CUST_INST, CUST_COF, MIT_U, MIT_R, MIT_I, "Z", "U", "F", "2", "R"]
PROFILES = ["soap", "rest-legacy", "rest-optional", "rest-bpc", "tbank-ecom", "tbank-aft"]
REFUSE_I, REFUSE_TWO, REFUSE_TERMS = ("refused", "initiator"), ("refused", "two_stage"), ("refused", "recurring")


def sent(value):
    return ("sent", value)


NONE = sent(None)
# autopay, one stage: what arrives (RBS tii / T-Bank OperationInitiatorType) or the field refused
AUTOPAY = {
    "soap": {None: NONE, CUST_SAVES: REFUSE_I, CUST_RECUR: REFUSE_I, CUST_INST: REFUSE_I, CUST_COF: REFUSE_I,
             MIT_U: NONE, MIT_R: NONE, MIT_I: NONE, "Z": REFUSE_I, "U": NONE, "F": REFUSE_I, "2": REFUSE_I,
             "R": NONE},
    "rest-optional": {None: NONE, CUST_SAVES: REFUSE_I, CUST_RECUR: REFUSE_I, CUST_INST: REFUSE_I,
                      CUST_COF: sent("F"), MIT_U: sent("U"), MIT_R: sent("R"), MIT_I: sent("I"), "Z": REFUSE_I,
                      "U": sent("U"), "F": sent("F"), "2": REFUSE_I, "R": sent("R")},
    "tbank-ecom": {None: sent("R"), CUST_SAVES: REFUSE_I, CUST_RECUR: REFUSE_I, CUST_INST: REFUSE_I,
                   CUST_COF: sent("2"), MIT_U: sent("R"), MIT_R: sent("R"), MIT_I: REFUSE_I, "Z": REFUSE_I,
                   "U": REFUSE_I, "F": REFUSE_I, "2": sent("2"), "R": sent("R")},
    "tbank-aft": {None: sent("I"), CUST_SAVES: REFUSE_I, CUST_RECUR: REFUSE_I, CUST_INST: REFUSE_I,
                  CUST_COF: REFUSE_I, MIT_U: REFUSE_I, MIT_R: REFUSE_I, MIT_I: sent("I"), "Z": REFUSE_I,
                  "U": REFUSE_I, "F": REFUSE_I, "2": REFUSE_I, "R": REFUSE_I},
}
AUTOPAY["rest-legacy"] = AUTOPAY["soap"]
AUTOPAY["rest-bpc"] = {**AUTOPAY["rest-optional"], None: sent("U")}
# two stages: U, R and I are one-stage only on RBS
AUTOPAY_TWO = {p: dict(AUTOPAY[p]) for p in PROFILES}
for profile in ("rest-optional", "rest-bpc"):
    AUTOPAY_TWO[profile].update({k: REFUSE_TWO for k, v in AUTOPAY[profile].items() if v[1] in ("U", "R", "I")})
# the first payment: nothing in tii (the payer's page sets CI/RI/II); T-Bank sends 1 with Recurrent=Y
FIRST = {
    "soap": {None: NONE, CUST_SAVES: NONE, CUST_RECUR: REFUSE_TERMS, CUST_INST: REFUSE_TERMS, CUST_COF: REFUSE_I,
             MIT_U: REFUSE_I, MIT_R: REFUSE_I, MIT_I: REFUSE_I, "Z": REFUSE_I, "U": REFUSE_I, "F": REFUSE_I,
             "2": REFUSE_I, "R": REFUSE_I},
    "tbank-ecom": {None: sent("1"), CUST_SAVES: sent("1"), CUST_RECUR: sent("1"), CUST_INST: sent("1"),
                   CUST_COF: REFUSE_I, MIT_U: REFUSE_I, MIT_R: REFUSE_I, MIT_I: REFUSE_I, "Z": REFUSE_I,
                   "U": REFUSE_I, "F": REFUSE_I, "2": REFUSE_I, "R": REFUSE_I},
}
for profile in ("rest-legacy", "rest-optional", "rest-bpc"):
    FIRST[profile] = FIRST["soap"]
FIRST["tbank-aft"] = FIRST["tbank-ecom"]


def _client(sb, profile):
    if profile.startswith("tbank"):
        terminal = "AFT-T" if profile == "tbank-aft" else None
        settings = {"terminal_key": terminal, "terminal_type": "AFT"} if terminal else {}
        return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport="tbank", sleep=no_wait,
                                          return_url=sb.return_url, **settings)
    transport, mode = ("soap", None) if profile == "soap" else ("rest", profile.split("-")[1])
    settings = {"rbs_tii": {"legacy": "none", "optional": "optional", "bpc": "required"}[mode]} if mode else {}
    return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport=transport, sleep=no_wait,
                                      return_url=sb.return_url, **settings)


@pytest.fixture(scope="module")
def shop():
    terminals = [TBankTerminal("SandboxDEMO", "sandbox-password"),
                 TBankTerminal("AFT-T", "sandbox-password", terminal_type="AFT")]
    with Sandbox(tbank_terminals=terminals, rbs_tii="optional") as sb:
        bindings = {}
        for profile in PROFILES:
            client = _client(sb, profile)
            started = client.start_first_payment(f"FIRST-{profile}", Money.of("1.00", "RUB"), f"cust-{profile}")
            sb.pay(started.form_url, TestCards.SUCCESS)
            done = client.finish_first_payment(order_id=started.order_id, client_id=f"cust-{profile}")
            bindings[profile] = done.binding.binding_id
        yield sb, bindings


def _arrived(sb, profile, order_id):
    """What the sandbox received: RBS paymentOrderBinding's tii, or the T-Bank Init's initiator type."""
    if profile.startswith("tbank"):
        return sb.tbank.payments[order_id].initiator
    return sb.engine.order(order_id).tii


_count = [0]


def _number():
    _count[0] += 1
    return f"T-{_count[0]}"


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("two_stage", [False, True], ids=["one-stage", "two-stage"])
def test_autopay_initiator_table(shop, profile, two_stage):
    sb, bindings = shop
    client = _client(sb, profile)
    table = AUTOPAY_TWO[profile] if two_stage else AUTOPAY[profile]
    for initiator in INITIATORS:
        expected = table[initiator]
        number = _number()
        orders_before = len(sb.engine.orders())
        arguments = dict(client_id=f"cust-{profile}", binding_id=bindings[profile], initiator=initiator,
                         two_stage=two_stage)
        if expected[0] == "refused":
            with pytest.raises(ValidationError) as info:
                client.autopay(number, Money.of("2.00", "RUB"), **arguments)
            assert info.value.field == expected[1], (profile, initiator)
            assert len(sb.engine.orders()) == orders_before, (profile, initiator)  # nothing was sent
            continue
        result = client.autopay(number, Money.of("2.00", "RUB"), **arguments)
        assert result.outcome in (ChargeOutcome.PAID, ChargeOutcome.HELD), (profile, initiator, result)
        assert _arrived(sb, profile, result.order_id) == expected[1], (profile, initiator)


@pytest.mark.parametrize("profile", PROFILES)
def test_first_payment_initiator_table(shop, profile):
    sb, _bindings = shop
    client = _client(sb, profile)
    for initiator in INITIATORS:
        expected = FIRST[profile][initiator]
        orders_before = len(sb.engine.orders())
        if expected[0] == "refused":
            with pytest.raises(ValidationError) as info:
                client.start_first_payment(_number(), Money.of("1.00", "RUB"), "cust-f", initiator=initiator)
            assert info.value.field == expected[1], (profile, initiator)
            assert len(sb.engine.orders()) == orders_before, (profile, initiator)
            continue
        started = client.start_first_payment(_number(), Money.of("1.00", "RUB"), "cust-f", initiator=initiator)
        if profile.startswith("tbank"):
            assert _arrived(sb, profile, started.order_id) == expected[1], (profile, initiator)
        else:
            assert sb.engine.order(started.order_id).params == {}, (profile, initiator)


@pytest.mark.parametrize("profile", ["soap", "rest-legacy", "rest-bpc"])
def test_a_recurring_first_payment_carries_its_terms(shop, profile):
    sb, _bindings = shop
    client = _client(sb, profile)
    terms = RecurringTerms(28, dt.date.today() + dt.timedelta(days=365))
    started = client.start_first_payment(_number(), Money.of("1.00", "RUB"), "cust-r", initiator=CUST_RECUR,
                                         recurring=terms)
    assert sb.engine.order(started.order_id).params == terms.json_params()
    with pytest.raises(ValidationError) as info:
        _client(sb, "tbank-ecom").start_first_payment(_number(), Money.of("1.00", "RUB"), "cust-r",
                                                      initiator=CUST_RECUR, recurring=terms)
    assert info.value.field == "recurring"


def test_rbs_tii_codes():
    assert [rbs_tii(i) for i in (CUST_COF, MIT_U, MIT_R, MIT_I, "F", "U", "R", "I")] == list("FURIFURI")
    for wrong in ("CI", "RI", "II", "X", "", "u", 1, None, "U" * 100, CUST_SAVES):
        with pytest.raises(ValidationError) as info:
            rbs_tii(wrong)
        assert info.value.field == "initiator"


def test_profiles_say_whether_their_gateway_takes_tii():
    for name in ("sber-test", "sber-prod", "alfa-test", "alfa-prod", "rbs-test", "yookassa-sber"):
        gateway = AutopayClient.from_profile(name, transport="rest", username="u", password="p").gateway
        assert gateway.tii_mode == "none", name
    gateway = AutopayClient.from_profile("bpc-test", transport="rest", username="u", password="p").gateway
    assert gateway.tii_mode == "required"
    with pytest.raises(ConfigurationError):  # SOAP has no tii in any schema: not even on request
        AutopayClient.from_profile("sber-test", transport="soap", username="u", password="p", rbs_tii="required")
    with pytest.raises(ConfigurationError):
        AutopayClient.from_profile("sber-test", transport="rest", username="u", password="p", rbs_tii="sometimes")


@pytest.mark.parametrize("mode, tii, two_stage, answer", [
    ("required", None, False, "[tii] is empty"),
    ("required", "Z", False, "Invalid tii"),
    ("required", "CI", False, "Invalid tii"),
    ("optional", "U", True, "one-phase"),
    ("absent", "U", False, "Unknown parameter tii"),
    ("required", "U", False, None),
    ("absent", None, False, None),
])
def test_the_sandbox_refuses_a_wrong_tii_as_the_facts_say(mode, tii, two_stage, answer):
    """A client other than this library (plain HTTP) sending what the gateway's generation refuses."""
    with Sandbox(rbs_tii=mode) as sb:
        client = _client(sb, "rest-legacy")
        started = client.start_first_payment("F-1", Money.of("1.00", "RUB"), "c-1")
        sb.pay(started.form_url, TestCards.SUCCESS)
        binding = client.finish_first_payment(order_id=started.order_id, client_id="c-1").binding.binding_id
        base = {"userName": "sandbox-api", "password": "sandbox-password"}
        method = "registerPreAuth.do" if two_stage else "register.do"
        order = requests.post(sb.rest_url + method, data={**base, "orderNumber": "A-1", "amount": "100",
                                                          "returnUrl": sb.return_url, "clientId": "c-1",
                                                          "features": "AUTO_PAYMENT"}, timeout=5).json()
        body = {**base, "mdOrder": order["orderId"], "bindingId": binding, "ip": "127.0.0.1"}
        if tii is not None:
            body["tii"] = tii
        paid = requests.post(sb.rest_url + "paymentOrderBinding.do", data=body, timeout=5).json()
        if answer is None:
            assert str(paid.get("errorCode", "0")) == "0" and sb.engine.order(order["orderId"]).status.is_paid
        else:
            assert str(paid["errorCode"]) == "5" and answer in paid["errorMessage"]
            assert not sb.engine.order(order["orderId"]).status.is_paid  # nothing charged


@pytest.mark.sandbox(rbs_tii="absent")
def test_a_gateway_that_refuses_tii_is_never_sent_one(sb):
    """A legacy sandbox refuses any tii: the legacy profile's client pays without sending one."""
    client = _client(sb, "rest-legacy")
    started = client.start_first_payment("F-2", Money.of("1.00", "RUB"), "c-2")
    sb.pay(started.form_url, TestCards.SUCCESS)
    binding = client.finish_first_payment(order_id=started.order_id, client_id="c-2").binding.binding_id
    for initiator in (None, MIT_U, MIT_R, MIT_I):
        assert client.autopay(_number(), Money.of("3.00", "RUB"), client_id="c-2", binding_id=binding,
                              initiator=initiator).outcome is ChargeOutcome.PAID
    bpc = _client(sb, "rest-bpc")  # a profile that claims tii on a gateway that refuses it: refused, not paid
    with pytest.raises(InvalidRequest):
        bpc.autopay(_number(), Money.of("3.00", "RUB"), client_id="c-2", binding_id=binding)
