"""Saving a card without a payment (RBS features=VERIFY over SOAP and REST, T-Bank AddCard with each
check type), then charging it; the ledger; the AddCard notification, forged, replayed and genuine."""

from __future__ import annotations

import datetime as dt

import pytest

from autopay_soap import AutopayClient
from autopay_soap.callbacks.tbank import TBankCardNotification, verify_tbank_notification_offline
from autopay_soap.client import ChargeOutcome
from autopay_soap.errors import CallbackVerificationError, OrderMismatch, ValidationError
from autopay_soap.initiators import Initiator, RecurringTerms
from autopay_soap.models import CardCheck, CardSaveOutcome
from autopay_soap.sandbox import Sandbox, TBankTerminal, TestCards
from autopay_soap.signing import make_token

from ..support import no_wait
from ..support.tbank import RUB, tbank_client


def rbs_client(sb, transport):
    return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport=transport, return_url=sb.return_url,
                                      sleep=no_wait)


def _moves(sb, since):
    return [(m.kind, m.amount) for m in sb.ledger()[since:]]


@pytest.mark.parametrize("transport", ["soap", "rest"])
@pytest.mark.parametrize("card", [TestCards.SUCCESS, TestCards.SUCCESS_3DS], ids=["no-3ds", "3ds"])
def test_rbs_saves_a_card_without_a_charge_then_autopays_it(sandbox, transport, card):
    client = rbs_client(sandbox, transport)
    started = client.start_card_save("SAVE-1", "client-7")
    assert started.outcome is CardSaveOutcome.PENDING and started.check is CardCheck.VERIFY
    assert sandbox.engine.order(started.reference).amount == 0
    assert sandbox.engine.order(started.reference).features == ("VERIFY",)
    assert sandbox.pay(started.form_url, card).paid
    saved = client.finish_card_save(started.reference, client_id="client-7")
    assert saved.outcome is CardSaveOutcome.SAVED and saved.chargeable
    assert saved.binding.masked_pan == card.masked_pan and saved.binding.expiry == card.expiry_yyyymm
    assert _moves(sandbox, 0) == [("hold", 0), ("reverse", 0)]  # a zero hold, released: no money moved
    assert client.finish_card_save(order_number="SAVE-1", client_id="client-7") == saved
    assert [b.binding_id for b in client.list_cards("client-7")] == [saved.binding.binding_id]
    paid = client.autopay("AP-1", RUB("250.00"), client_id="client-7", binding_id=saved.binding.binding_id)
    assert paid.outcome is ChargeOutcome.PAID
    assert _moves(sandbox, 2) == [("hold", 25000), ("deposit", 25000)]


def test_rbs_card_save_is_exactly_once_by_order_number(sandbox):
    client = rbs_client(sandbox, "rest")
    first = client.start_card_save("SAVE-2", "client-8")
    again = client.start_card_save("SAVE-2", "client-8")  # a re-run: found by number, never a second order
    assert again.reference == first.reference and again.outcome is CardSaveOutcome.PENDING
    assert len([o for o in sandbox.engine.orders() if o.order_number == "SAVE-2"]) == 1
    sandbox.pay(first.form_url, TestCards.SUCCESS)
    assert client.start_card_save("SAVE-2", "client-8").outcome is CardSaveOutcome.SAVED
    with pytest.raises(OrderMismatch):  # the number is another client's card check
        client.start_card_save("SAVE-2", "client-9")


def test_rbs_declined_card_check_saves_nothing(sandbox):
    client = rbs_client(sandbox, "soap")
    started = client.start_card_save("SAVE-3", "client-3")
    sandbox.pay(started.form_url, TestCards.DECLINED)
    refused = client.finish_card_save(started.reference, client_id="client-3")
    assert refused.outcome is CardSaveOutcome.REFUSED and refused.binding is None
    assert client.list_cards("client-3") == () and sandbox.ledger() == []


def test_a_paid_order_is_not_taken_for_a_card_check(sandbox):
    client = rbs_client(sandbox, "rest")
    first = client.start_first_payment("FP-9", RUB("10.00"), "client-1")
    sandbox.pay(first.form_url, TestCards.SUCCESS)
    with pytest.raises(OrderMismatch):
        client.finish_card_save(order_number="FP-9", client_id="client-1")


@pytest.mark.parametrize("transport", ["soap", "rest"])
def test_recurring_terms_go_with_the_card_check(sandbox, transport):
    client = rbs_client(sandbox, transport)
    terms = RecurringTerms(30, dt.date.today() + dt.timedelta(days=400))
    started = client.start_card_save("SAVE-4", "client-4", initiator=Initiator.CUSTOMER_STARTS_RECURRING,
                                     recurring=terms)
    assert started.outcome is CardSaveOutcome.PENDING
    assert sandbox.engine.order(started.reference).params == {
        "recurringFrequency": "30", "recurringExpiry": terms.expiry.strftime("%Y%m%d")}


@pytest.mark.parametrize("arguments, field", [
    ({"check": CardCheck.HOLD}, "check"),
    ({"check": "SOMETHING"}, "check"),
    ({"initiator": Initiator.MERCHANT_RECURRING}, "initiator"),
    ({"initiator": Initiator.CUSTOMER_STARTS_RECURRING}, "recurring"),
    ({"recurring": RecurringTerms(30, dt.date(2020, 1, 1))}, "recurring"),
    ({"currency": "XYZ"}, "currency"),
    ({"return_url": "not a url"}, "return_url"),
])
def test_bad_card_save_arguments_are_refused_before_sending(sandbox, arguments, field):
    client = rbs_client(sandbox, "rest")
    with pytest.raises(ValidationError) as info:
        client.start_card_save("SAVE-5", "client-5", **arguments)
    assert info.value.field == field
    assert sandbox.engine.orders() == []


def test_the_2016_soap_generation_cannot_save_a_card(sandbox):
    client = AutopayClient.from_profile("sandbox", sandbox_url=sandbox.url, transport="soap", soap_cart="2016",
                                        return_url=sandbox.return_url)
    with pytest.raises(ValidationError) as info:
        client.start_card_save("SAVE-6", "client-6")
    assert info.value.field == "verify" and sandbox.engine.orders() == []


# -- T-Bank -----------------------------------------------------------------------------------------------

EXPECTED = {  # check -> card -> (saved?, chargeable?, ledger of the save)
    CardCheck.NONE: {"SUCCESS": (True, False, []), "SUCCESS_3DS": (True, False, []), "DECLINED": (True, False, [])},
    CardCheck.HOLD: {"SUCCESS": (True, True, [("hold", 0), ("reverse", 0)]),
                     "SUCCESS_3DS": (True, True, [("hold", 0), ("reverse", 0)]), "DECLINED": (False, False, [])},
    CardCheck.THREE_DS: {"SUCCESS": (False, False, []), "SUCCESS_3DS": (True, True, [("hold", 0), ("reverse", 0)]),
                         "DECLINED": (False, False, [])},
    CardCheck.THREE_DS_HOLD: {"SUCCESS": (True, True, [("hold", 0), ("reverse", 0)]),
                              "SUCCESS_3DS": (True, True, []), "DECLINED": (False, False, [])},
}


@pytest.mark.parametrize("check", list(EXPECTED), ids=lambda c: c.value)
@pytest.mark.parametrize("card_name", ["SUCCESS", "SUCCESS_3DS", "DECLINED"])
def test_tbank_add_card_with_each_check_type(sandbox, check, card_name):
    client = tbank_client(sandbox)
    customer = f"cust-{check.value}-{card_name}"
    started = client.start_card_save("SAVE-T", customer, check=check)
    assert started.outcome is CardSaveOutcome.PENDING and started.form_url and started.reference
    assert client.finish_card_save(started.reference, client_id=customer, check=check).outcome \
        is CardSaveOutcome.PENDING
    sandbox.pay(started.form_url, getattr(TestCards, card_name))
    done = client.finish_card_save(started.reference, client_id=customer, check=check)
    saved, chargeable, ledger = EXPECTED[check][card_name]
    assert (done.outcome is CardSaveOutcome.SAVED, done.chargeable) == (saved, chargeable)
    assert _moves(sandbox, 0) == ledger
    if not chargeable:
        assert client.list_cards(customer) == ()
        return
    assert [b.binding_id for b in client.list_cards(customer)] == [done.binding.binding_id]
    assert done.binding.expiry == getattr(TestCards, card_name).expiry_yyyymm and done.card_id
    paid = client.autopay("AP-T", RUB("99.00"), binding_id=done.binding.binding_id)
    assert paid.outcome is ChargeOutcome.PAID and _moves(sandbox, len(ledger)) == [("hold", 9900), ("deposit", 9900)]
    client.remove_card(done.binding.binding_id, client_id=customer)
    assert client.list_cards(customer) == ()


def test_tbank_default_check_gives_a_rebill_id(sandbox):
    client = tbank_client(sandbox)
    started = client.start_card_save("SAVE-D", "cust-d")
    assert started.check is CardCheck.THREE_DS_HOLD
    sandbox.pay(started.form_url, TestCards.SUCCESS)
    assert client.finish_card_save(started.reference, client_id="cust-d").chargeable


def test_tbank_refuses_what_it_cannot_carry_before_sending(sandbox):
    client = tbank_client(sandbox)
    for arguments, field in (({"check": CardCheck.VERIFY}, "check"),
                             ({"recurring": RecurringTerms(30, dt.date.today() + dt.timedelta(days=30))}, "recurring"),
                             ({"initiator": "R"}, "initiator")):
        with pytest.raises(ValidationError) as info:
            client.start_card_save("SAVE-X", "cust-x", **arguments)
        assert info.value.field == field
    assert sandbox.engine.orders() == []
    with pytest.raises(ValidationError) as info:
        client.finish_card_save(None, client_id="cust-x")
    assert info.value.field == "reference"


# -- the AddCard notification ------------------------------------------------------------------------------

def _saved_with_notifications(receiver, check=CardCheck.HOLD):
    url, got = receiver
    terminal = TBankTerminal("SandboxDEMO", "sandbox-password", notification_url=url)
    sb = Sandbox(tbank_terminals=[terminal], callback_retry_interval=0.01).start()
    client = tbank_client(sb)
    started = client.start_card_save("SAVE-N", "cust-n", check=check)
    sb.pay(started.form_url, TestCards.SUCCESS)
    assert sb.wait_for_callbacks()
    return sb, client, started, got


def test_add_card_notification_is_signed_and_confirmed(receiver):
    sb, client, started, got = _saved_with_notifications(receiver)
    try:
        notes = [n for n in got if isinstance(n, TBankCardNotification)]
        assert len(notes) == 1 and notes[0].status == "COMPLETED" and notes[0].request_key == started.reference
        done = client.finish_card_save(started.reference, client_id="cust-n", check=CardCheck.HOLD)
        assert notes[0].rebill_id == done.binding.binding_id and notes[0].card_id == done.card_id
        payload = next(d["params"] for d in sb.callbacks if "RequestKey" in d["params"])
        from autopay_soap.callbacks.tbank import confirm_tbank_notification

        verified = verify_tbank_notification_offline(payload, "sandbox-password")
        confirmed = confirm_tbank_notification(verified, client.gateway)
        assert confirmed.confirmed and confirmed.card_active
        forged = dict(payload, RebillId=int(payload["RebillId"]) + 1)
        with pytest.raises(CallbackVerificationError):  # the Token no longer verifies
            verify_tbank_notification_offline(forged, "sandbox-password")
        forged["Token"] = make_token({k: v for k, v in forged.items() if k != "Token"}, "sandbox-password")
        with pytest.raises(CallbackVerificationError):  # signed with the password, but the gateway disagrees
            confirm_tbank_notification(verify_tbank_notification_offline(forged, "sandbox-password"),
                                       client.gateway)
        client.remove_card(done.binding.binding_id, client_id="cust-n")
        replayed = confirm_tbank_notification(verify_tbank_notification_offline(payload, "sandbox-password"),
                                              client.gateway)
        assert replayed.confirmed and replayed.card_active is False  # the receiver acknowledges it, hands nothing
    finally:
        sb.stop()


def test_a_replayed_add_card_notification_of_a_removed_card_is_not_handed_over(sb):
    from autopay_soap.callbacks import TBankCallbackApp

    handed = []
    client = tbank_client(sb)
    started = client.start_card_save("SAVE-R", "cust-r", check=CardCheck.HOLD)
    sb.pay(started.form_url, TestCards.SUCCESS)
    done = client.finish_card_save(started.reference, client_id="cust-r", check=CardCheck.HOLD)
    body = {"TerminalKey": sb.tbank_terminal_key, "CustomerKey": "cust-r", "RequestKey": started.reference,
            "Success": True, "Status": "COMPLETED", "PaymentId": 1, "ErrorCode": "0",
            "RebillId": int(done.binding.binding_id), "CardId": int(done.card_id)}
    body["Token"] = make_token(body, sb.tbank_password)
    app = TBankCallbackApp(handed.append, password=sb.tbank_password, gateway=client.gateway)
    from ..support.tbank import _wsgi

    assert _wsgi(app, body) == ("200 OK", b"OK") and len(handed) == 1
    client.remove_card(done.binding.binding_id, client_id="cust-r")
    assert _wsgi(app, body) == ("200 OK", b"OK") and len(handed) == 1  # acknowledged, not handed over
    for shifted in ({"Status": "REJECTED"}, {"Success": False}, {"CustomerKey": "cust-other"},
                    {"OrderId": "x"}, {"RequestKey": "../../etc"}):
        forged = {k: v for k, v in body.items() if k != "Token"}
        forged.update(shifted)
        forged["Token"] = make_token(forged, sb.tbank_password)
        assert _wsgi(app, forged)[0].startswith("403"), shifted
    assert len(handed) == 1


def test_the_payers_page_says_nothing_is_charged(sandbox):
    import requests

    client = rbs_client(sandbox, "rest")
    started = client.start_card_save("SAVE-P", "client-p")
    page = requests.get(started.form_url, timeout=5).text
    assert "nothing is charged" in page and "Save card 0.00" in page
    paying = client.start_first_payment("FP-P", RUB("5.00"), "client-p")
    assert "nothing is charged" not in requests.get(paying.form_url, timeout=5).text
    tbank = tbank_client(sandbox).start_card_save("SAVE-PT", "cust-p")
    assert "nothing is charged" in requests.get(tbank.form_url, timeout=5).text


def test_tbank_card_save_with_no_time_left_is_unknown_not_a_crash(sandbox):
    client = tbank_client(sandbox, deadline=1e-9)  # the deadline is over before the first attempt
    started = client.start_card_save("SAVE-U", "cust-u")
    assert started.outcome is CardSaveOutcome.UNKNOWN and started.order_number == "SAVE-U"
    with pytest.raises(ValidationError) as info:
        tbank_client(sandbox).start_card_save("bad number with spaces", "cust-u")
    assert info.value.field == "order_number"


def test_a_removed_card_saved_again_can_be_charged_again(sandbox):
    client = tbank_client(sandbox)
    for round_ in (1, 2):
        started = client.start_card_save(f"SAVE-A{round_}", "cust-a", check=CardCheck.HOLD)
        sandbox.pay(started.form_url, TestCards.SUCCESS)
        saved = client.finish_card_save(started.reference, client_id="cust-a", check=CardCheck.HOLD)
        assert [b.binding_id for b in client.list_cards("cust-a")] == [saved.binding.binding_id]
        assert client.autopay(f"AP-A{round_}", RUB("1.00"), binding_id=saved.binding.binding_id).outcome \
            is ChargeOutcome.PAID
        client.remove_card(saved.binding.binding_id, client_id="cust-a")
        assert client.list_cards("cust-a") == ()
