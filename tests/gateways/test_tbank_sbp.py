"""T-Bank SBP autopayments: account bindings (before and after a payment), refusals and declines."""


import pytest

from autopay_soap.callbacks import (
    TBankAccountNotification,
)
from autopay_soap.client import ChargeOutcome
from autopay_soap.errors import (
    BindingStateError,
    InvalidOrderState,
    ValidationError,
)
from autopay_soap.sandbox import Sandbox, TBankTerminal

from ..support.tbank import RUB, tbank_client


def test_sbp_binding_before_a_payment_notifies_the_terminal_url(receiver):
    url, got = receiver
    terminal = TBankTerminal("SandboxDEMO", "sandbox-password", notification_url=url)
    with Sandbox(tbank_terminals=[terminal], callback_retry_interval=0.01) as sb:
        client = tbank_client(sb, notification_url=url + "?from=init")
        qr = client.bind_sbp_account("Подписка на журнал")
        assert qr.data.startswith("https://qr.nspk.ru/") and client.sbp_account(qr.request_key).status == "NEW"
        sb.sbp_bind(qr.request_key)
        account = client.sbp_account(qr.request_key)
        assert account.active and account.account_token and account.bank_member_id
        paid = client.autopay("SBP-1", RUB("99.00"), account_token=account.account_token)
        assert paid.outcome is ChargeOutcome.PAID and paid.details.gateway_status == "CONFIRMED"
        assert sb.wait_for_callbacks()
        links = [n for n in got if isinstance(n, TBankAccountNotification)]
        assert [(n.status, n.account_token) for n in links] == [("ACTIVE", account.account_token)]
        account_posts = [d["url"] for d in sb.callbacks if "RequestKey" in d["params"]]
        payment_posts = [d["url"] for d in sb.callbacks if "PaymentId" in d["params"]]
        assert account_posts == [url] and payment_posts == [url + "?from=init"]
        for wrong in ({"two_stage": True}, {"initiator": "R"}):
            with pytest.raises(ValidationError) as info:
                client.autopay("SBP-2", RUB("99.00"), account_token=account.account_token, **wrong)
            assert info.value.field == next(iter(wrong))
        assert "SBP-2" not in [o.order_number for o in sb.engine.orders()]  # refused before the Init
        assert [m.kind for m in sb.ledger()] == ["hold", "deposit"]


def test_sbp_binding_after_a_payment(sandbox):
    client = tbank_client(sandbox)
    with pytest.raises(ValidationError) as info:
        client.start_first_payment("SBP-F0", RUB("100.00"), sbp=True)
    assert info.value.field == "description"
    started = client.start_first_payment("SBP-F1", RUB("100.00"), sbp=True, description="Подписка")
    assert started.outcome is ChargeOutcome.PENDING and started.sbp_request_key
    assert started.form_url.startswith("https://qr.nspk.ru/")
    assert client.status(order_id=started.order_id).gateway_status == "FORM_SHOWED"
    sandbox.sbp_pay(started.order_id)
    assert client.finish_first_payment(order_id=started.order_id).outcome is ChargeOutcome.PAID
    token = client.sbp_account(started.sbp_request_key).account_token
    assert client.autopay("SBP-A1", RUB("50.00"), account_token=token).ok
    with pytest.raises(InvalidOrderState) as info:  # ChargeQr twice on one payment: 3037
        client.gateway.charge_qr(client.status(order_number="SBP-A1").order_id, token)
    assert info.value.gateway_code == 3037
    assert sandbox.engine.charges_by_order_number() == {"SBP-F1": 1, "SBP-A1": 1}


def test_sbp_rejected_binding_and_declined_account(sandbox):
    client = tbank_client(sandbox)
    rejected = client.start_first_payment("SBP-R", RUB("100.00"), sbp=True, description="x")
    sandbox.sbp_pay(rejected.order_id, rejected=True)
    assert client.finish_first_payment(order_id=rejected.order_id).outcome is ChargeOutcome.DECLINED
    assert client.sbp_account(rejected.sbp_request_key).status == "INACTIVE"
    expired = client.start_first_payment("SBP-E", RUB("100.00"), sbp=True, description="x")
    sandbox.sbp_pay(expired.order_id, deadline_expired=True)
    assert client.status(order_id=expired.order_id).gateway_status == "DEADLINE_EXPIRED"
    qr = client.bind_sbp_account("x")
    sandbox.sbp_bind(qr.request_key, insufficient_funds=True)
    result = client.autopay("SBP-D", RUB("10.00"), account_token=client.sbp_account(qr.request_key).account_token)
    assert result.outcome is ChargeOutcome.DECLINED and result.action_code == 5060
    pending = client.bind_sbp_account("x")
    with pytest.raises(BindingStateError) as info:  # no such token: 3014
        client.autopay("SBP-N", RUB("10.00"), account_token="no-such-token")
    assert info.value.gateway_code == 3014 and client.sbp_account(pending.request_key).status == "NEW"
    assert sandbox.engine.charges_by_order_number() == {}


def test_t_bank_s_own_sbp_test_scenario_needs_no_data_qr(sb):
    """Init (without DATA.QR) → GetQr → SbpPayTest → GetState CONFIRMED → Cancel → REFUNDED, as
    T-Bank's SBP test instructions have it (a client that never sends DATA.QR, like PyPI tbank)."""
    from ..support.wire import tbank

    init = tbank(sb, "Init", {"Amount": 1500, "OrderId": "QR-PLAIN-1", "Description": "a plain SBP payment"})
    qr = tbank(sb, "GetQr", {"PaymentId": init["PaymentId"]})
    assert qr["Success"] is True and qr["Data"].startswith("https://qr.nspk.ru/") and "RequestKey" not in qr
    assert tbank(sb, "SbpPayTest", {"PaymentId": init["PaymentId"]})["Success"] is True
    state = tbank(sb, "GetState", {"PaymentId": init["PaymentId"]})
    assert (state["Status"], state["Amount"]) == ("CONFIRMED", 1500)
    assert {"Key": "Source", "Value": "qrsbp"} in state["Params"]
    assert tbank(sb, "Cancel", {"PaymentId": init["PaymentId"]})["Status"] == "REFUNDED"
    recurrent = tbank(sb, "Init", {"Amount": 100, "OrderId": "QR-REC-1", "Recurrent": "Y", "CustomerKey": "c",
                                   "Description": "binds a card, not an account"})
    refused = tbank(sb, "GetQr", {"PaymentId": recurrent["PaymentId"]})
    assert refused["ErrorCode"] == "14" and "DATA.QR" in refused["Details"]
