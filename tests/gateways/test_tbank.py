"""T-Bank over the sandbox: card data, 3-D Secure, terminals, repeated runs and faults."""


import pytest

from autopay_soap import Money
from autopay_soap.client import AutopayClient, ChargeOutcome
from autopay_soap.errors import (
    BindingStateError,
    GatewaySystemError,
    InvalidOrderState,
    InvalidRequest,
    PaymentDeclined,
    ValidationError,
)
from autopay_soap.gateways.tbank import (
    encrypt_card_data,
)
from autopay_soap.retry import RetryPolicy
from autopay_soap.sandbox import SANDBOX_CARD_KEY_PEM, FaultPlan, Sandbox, TBankTerminal, TestCards
from autopay_soap.sandbox.faults import FAULT_KINDS

from ..support.ledger import assert_exactly_once
from ..support.tbank import RUB, _acs, _card, card_binding, tbank_client


def test_card_data_is_encrypted_and_never_shown():
    data = encrypt_card_data(SANDBOX_CARD_KEY_PEM, pan="2200770239097761", expiry="1230", cvv="123")
    assert "2200770239097761" not in data and len(data) == 344  # 2048-bit RSA in base64
    assert data != encrypt_card_data(SANDBOX_CARD_KEY_PEM, pan="2200770239097761", expiry="1230", cvv="123")
    with pytest.raises(ValidationError) as info:
        encrypt_card_data(SANDBOX_CARD_KEY_PEM, pan="2200770239097761", expiry="13/30", cvv="123")
    assert info.value.field == "expiry" and "2200770239097761" not in str(info.value)


def test_pci_parent_payment_without_3ds(sandbox):
    gw = tbank_client(sandbox).gateway
    init = gw.init("PCI-1", RUB("10.00"), customer_key="c1", recurrent=True, initiator="1")
    assert gw.check_3ds_version(init["PaymentId"], _card(TestCards.TBANK_SUCCESS))["Version"] == "1.0.0"
    paid = gw.finish_authorize(init["PaymentId"], _card(TestCards.TBANK_SUCCESS), ip="127.0.0.1")
    assert paid["Status"] == "CONFIRMED" and paid["RebillId"] and paid["CardId"]
    assert [b.binding_id for b in gw.bindings("c1")] == [paid["RebillId"]]


def test_pci_3ds_v1_challenge_then_submit(sandbox):
    gw = tbank_client(sandbox).gateway
    init = gw.init("PCI-2", RUB("10.00"), customer_key="c1", recurrent=True, initiator="1")
    card = TestCards.TBANK_3DS_CHALLENGE
    assert gw.check_3ds_version(init["PaymentId"], _card(card))["Version"] == "2.1.0"
    step = gw.finish_authorize(init["PaymentId"], _card(card))
    assert step["Status"] == "3DS_CHECKING" and step["ACSUrl"] and step["MD"] and step["PaReq"]
    posted = _acs(sandbox, step["ACSUrl"], step["MD"], step["PaReq"], "https://shop.test/term", card.three_ds_code)
    done = gw.submit_3ds_authorization(posted["MD"], posted["PaRes"], init["PaymentId"])
    assert done["Status"] == "CONFIRMED" and done["RebillId"]
    # a wrong code at the ACS: rejected
    init = gw.init("PCI-3", RUB("10.00"), customer_key="c1", recurrent=True, initiator="1")
    step = gw.finish_authorize(init["PaymentId"], _card(card))
    posted = _acs(sandbox, step["ACSUrl"], step["MD"], step["PaReq"], "https://shop.test/term", "000000")
    with pytest.raises(PaymentDeclined) as info:
        gw.submit_3ds_authorization(posted["MD"], posted["PaRes"], init["PaymentId"])
    assert info.value.action_code == 101
    assert sandbox.engine.charges_by_order_number() == {"PCI-2": 1}


def test_pci_3ds_v2_submit_waits_for_the_challenge(sandbox):
    gw = tbank_client(sandbox).gateway
    init = gw.init("PCI-4", RUB("10.00"), two_stage=True)
    card = TestCards.TBANK_3DS_CHALLENGE
    step = gw.finish_authorize(init["PaymentId"], _card(card),
                               data={"cresCallbackUrl": "https://shop.test/cres", "threeDSCompInd": "Y"})
    assert step["Status"] == "3DS_CHECKING" and step["TdsServerTransId"] and step["AcsTransId"]
    with pytest.raises(GatewaySystemError, match="RReq not found"):
        gw.submit_3ds_authorization_v2(init["PaymentId"])
    _acs(sandbox, step["ACSUrl"], step["AcsTransId"], "", "https://shop.test/cres", card.three_ds_code)
    assert gw.submit_3ds_authorization_v2(init["PaymentId"])["Status"] == "AUTHORIZED"


def test_charge_disabled_on_the_terminal_is_error_10(sandbox):
    sandbox.tbank_terminals[0].charge_enabled = False
    client = tbank_client(sandbox)
    binding = card_binding(sandbox, client).binding.binding_id
    with pytest.raises(InvalidRequest) as info:
        client.autopay("AP-1", RUB("10.00"), binding_id=binding)
    assert info.value.gateway_code == 10 and "enable" in str(info.value)
    assert "AP-1" not in sandbox.engine.charges_by_order_number()


def test_installment_initiator_on_an_aft_terminal(sandbox):
    sandbox.tbank_terminals[0].terminal_type = "AFT"
    client = tbank_client(sandbox, terminal_type="AFT")
    binding = card_binding(sandbox, client).binding.binding_id
    assert client.gateway.default_initiator == "I"
    assert client.autopay("AP-I", RUB("10.00"), binding_id=binding).outcome is ChargeOutcome.PAID


def test_repeat_runs_and_3037_never_charge_twice(sandbox):
    client = tbank_client(sandbox)
    binding = card_binding(sandbox, client).binding.binding_id
    first = client.autopay("AP-1", RUB("10.00"), binding_id=binding, initiator="2")
    again = client.autopay("AP-1", RUB("10.00"), binding_id=binding, initiator="2")  # Init answers 20, found
    assert first.outcome is again.outcome is ChargeOutcome.PAID and again.order_id == first.order_id
    with pytest.raises(InvalidOrderState):
        client.gateway.charge(first.order_id, binding)  # already CONFIRMED: error 8
    assert sandbox.engine.charges_by_order_number()["AP-1"] == 1


def test_two_merchants_and_a_second_terminal():
    terminals = [TBankTerminal("ShopADEMO", "pa", merchant="m1"), TBankTerminal("ShopBDEMO", "pb", merchant="m1"),
                 TBankTerminal("OtherDEMO", "po", merchant="m2")]
    with Sandbox(tbank_terminals=terminals) as sb:
        a = tbank_client(sb, terminal_key="ShopADEMO", password="pa")
        b = tbank_client(sb, terminal_key="ShopBDEMO", password="pb")
        other = tbank_client(sb, terminal_key="OtherDEMO", password="po")
        qr = a.bind_sbp_account("Подписка")
        sb.sbp_bind(qr.request_key, terminal_key="ShopADEMO")
        token = a.sbp_account(qr.request_key).account_token
        # the account bound on terminal A is charged from terminal B of the same merchant (seed 004)
        assert b.autopay("B-1", RUB("15.00"), account_token=token).outcome is ChargeOutcome.PAID
        with pytest.raises(BindingStateError) as info:  # another merchant: 3014
            other.autopay("O-1", RUB("15.00"), account_token=token)
        assert info.value.gateway_code == 3014
        # a card RebillId belongs to the terminal of its parent payment
        rebill = card_binding(sb, a).binding.binding_id
        with pytest.raises(BindingStateError):
            b.autopay("B-2", RUB("15.00"), binding_id=rebill)
        assert set(sb.engine.charges_by_order_number()) == {"B-1", "FP-1"}


@pytest.mark.sandbox(callback_retry_interval=0.01)
@pytest.mark.slow
@pytest.mark.parametrize("method", ["card", "sbp"])
def test_200_autopayments_with_faults_on_init_charge_and_chargeqr(method, sb):
    """Every fault kind on Init, Charge/ChargeQr and the look-ups: no double and no lost charge."""
    per_kind = 0.3 / len(FAULT_KINDS)
    client = tbank_client(sb, timeout=0.4)
    client.retry = RetryPolicy(attempts=8)
    if method == "card":
        good = {"binding_id": card_binding(sb, client).binding.binding_id}
        bad = {"binding_id": card_binding(sb, client, "FP-2", "cust-2", TestCards.RECURRING_INSUFFICIENT)
               .binding.binding_id}
    else:
        tokens = []
        for flag in (False, True):
            qr = client.bind_sbp_account("Подписка")
            sb.sbp_bind(qr.request_key, insufficient_funds=flag)
            tokens.append(client.sbp_account(qr.request_key).account_token)
        good, bad = {"account_token": tokens[0]}, {"account_token": tokens[1]}
    plan = FaultPlan(seed=5, slow_seconds=0.6)
    for operation in ("Init", "Charge" if method == "card" else "ChargeQr", "GetState", "CheckOrder"):
        for kind in FAULT_KINDS:
            plan.add(operation, kind, per_kind)
    sb.faults = plan
    results = [client.autopay(f"AP-{i:04d}", RUB("12.00"), **(bad if i % 10 == 0 else good)) for i in range(200)]
    sb.faults = None
    assert_exactly_once(f"tbank {method}", results, sb, plan, client)


def test_operation_results_use_one_vocabulary_on_every_transport(sb):
    results = {}
    for transport in ("rest", "tbank"):
        client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport=transport,
                                            return_url=sb.return_url)
        first = client.start_first_payment(f"VOC-{transport}", Money.of("10.00", "RUB"), "voc", two_stage=True)
        sb.pay(first.form_url, TestCards.TBANK_SUCCESS if transport == "tbank" else TestCards.SUCCESS)
        gateway = client.gateway
        results[transport] = [gateway.deposit(first.order_id).operation,
                              gateway.refund(first.order_id, Money.of("1.00", "RUB"),
                                             external_refund_id="voc-1").operation]
        client.close()
    assert results["rest"] == results["tbank"] == ["deposit", "refund"]


def test_init_options_are_one_typed_list_and_a_misspelt_one_is_refused_before_sending(sandbox):
    """``init``'s keywords are :class:`InitOptions`: an unknown one is a TypeError, nothing sent."""
    gw = tbank_client(sandbox).gateway
    with pytest.raises(TypeError, match="custmer_key"):
        gw.init("OPT-1", RUB("10.00"), custmer_key="c1", recurrent=True)  # type: ignore[call-arg]
    assert [p for p in sandbox.tbank.payments.values() if p.order_id == "OPT-1"] == []
    init = gw.init("OPT-1", RUB("10.00"), customer_key="c1", recurrent=True, two_stage=True, description="plan")
    payment = sandbox.tbank.payments[init["PaymentId"]]
    order = sandbox.engine.order(payment.engine_id)
    assert (payment.order_id, payment.customer_key, payment.recurrent, order.two_stage, order.description) == (
        "OPT-1", "c1", True, True, "plan")
