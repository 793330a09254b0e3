"""Declined autopayments end to end against the sandbox, on SOAP, REST, T-Bank cards and T-Bank SBP:
decline soft -> scheduled -> retried later -> paid; decline hard -> never retried; rebind -> first
payment -> new binding -> paid; a merchant decline stops the run. The sandbox's clock is moved
instead of waiting days."""

import csv
import json
import subprocess
import sys

import pytest

from autopay_soap import Money
from autopay_soap.batch import EXIT_CONFIG, EXIT_DECLINED, EXIT_OK, BatchRunner
from autopay_soap.batch.dunning import create_rebind_links, parse_due, plan_dunning
from autopay_soap.batch.journal import open_journal
from autopay_soap.client import AutopayClient, ChargeOutcome
from autopay_soap.declines import DeclineKind, first_payment_order_number, retry_order_number
from autopay_soap.sandbox import TestCards
from autopay_soap.sandbox.cards import RECOVERY_DAYS

from ..support import no_wait
from ..support.tbank import tbank_client

TRANSPORTS = ("soap", "rest", "tbank", "sbp")
DAY = 86400
COLUMN = {"soap": "binding_id", "rest": "binding_id", "tbank": "rebill_id", "sbp": "account_token"}


def client_for(sb, transport):
    if transport in ("tbank", "sbp"):
        return tbank_client(sb)
    return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport=transport, return_url=sb.return_url,
                                      sleep=no_wait)


def instrument(sb, transport, customer, card):
    """A binding (RBS), a RebillId (T-Bank) or an AccountToken (SBP) that behaves as ``card``."""
    client = client_for(sb, transport)
    if transport == "sbp":
        qr = client.bind_sbp_account("Подписка")
        sb.sbp_bind(qr.request_key, behaviour=card.behaviour)
        return client.sbp_account(qr.request_key).account_token
    if transport == "tbank":
        card = TestCards.TBANK_SUCCESS if card is TestCards.SUCCESS else card
    started = client.start_first_payment(f"FIRST-{customer}", Money.of("1.00", "RUB"), customer)
    sb.pay(started.form_url, card)
    return client.finish_first_payment(order_id=started.order_id, client_id=customer).binding.binding_id


def write_rows(path, transport, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_number", "client_id", COLUMN[transport], "amount", "currency"])
        writer.writerows([(number, customer, value, amount, "RUB") for number, customer, value, amount in rows])


def runner(sb, transport, journal):
    return BatchRunner(lambda: client_for(sb, transport), journal, concurrency=2, quiet=True, clock=sb.clock)


def orders_numbered(sb, prefix):
    return sorted(o.order_number for o in sb.engine.orders() if o.order_number.startswith(prefix))


def charge_once(sb, tmp_path, transport, journal, card, number, customer="c-1", amount="15.00"):
    """An instrument that behaves as ``card``, one row ``number`` on it charged by a run; the
    file, the instrument and the run's summary."""
    value = instrument(sb, transport, customer, card)
    file = tmp_path / f"{number}.csv"
    write_rows(file, transport, [(number, customer, value, amount)])
    return file, value, runner(sb, transport, journal).run(file)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_whole_loop_soft_hard_and_rebind(tmp_path, transport, sb):
    journal = tmp_path / "subs.sqlite"
    soft = instrument(sb, transport, "c-soft", TestCards.RECOVERING_FUNDS)
    hard = instrument(sb, transport, "c-hard", TestCards.RECURRING_STOLEN)
    gone = instrument(sb, transport, "c-gone", TestCards.RECURRING_EXPIRED)
    good = instrument(sb, transport, "c-good", TestCards.SUCCESS)
    night = tmp_path / "night.csv"
    write_rows(night, transport, [("S-1", "c-soft", soft, "10.00"), ("H-1", "c-hard", hard, "11.00"),
                                  ("G-1", "c-gone", gone, "12.00"), ("OK-1", "c-good", good, "13.00")])
    first = runner(sb, transport, journal).run(night, report=tmp_path / "night-report.csv")
    assert (first.paid, first.declined) == (1, 3) and first.exit_code == EXIT_DECLINED
    assert first.decline_kinds == {"soft": 1, "hard": 1, "rebind": 1}
    report = {r["order_number"]: r for r in csv.DictReader((tmp_path / "night-report.csv").open())}
    assert report["S-1"]["next_attempt_at"] and not report["H-1"]["next_attempt_at"]

    files = [night]
    with open_journal(journal) as j:  # the same day: nothing is due yet
        plan = plan_dunning(files, j, due=sb.clock())
    assert plan.counts() == {"retries": 0, "postponed": 0, "later": 1, "exhausted": 0, "hard": 1, "rebind": 1,
                             "merchant": 0}
    assert plan.next_due() >= sb.clock() + DAY - 60

    elapsed = 0
    for day, expect in ((1, "declined"), (RECOVERY_DAYS, "paid")):  # the balance comes back
        sb.clock.advance(days=day - elapsed)
        elapsed = day
        with open_journal(journal) as j:
            plan = plan_dunning(files, j, due=sb.clock())
        assert [r.order_number for r in plan.retries] == [f"S-1/r{len(files)}"]
        retry_file = tmp_path / f"retries-{day}.csv"
        plan.write(retry_file)
        files.append(retry_file)
        summary = runner(sb, transport, journal).run(retry_file)
        assert (summary.paid, summary.declined) == ((1, 0) if expect == "paid" else (0, 1))

    with open_journal(journal) as j:  # paid: nothing more for S-1; H-1 and G-1 are never retried
        plan = plan_dunning(files, j, due=sb.clock() + 30 * DAY)
        links_file = tmp_path / "links.csv"
        client = client_for(sb, transport)
        assert create_rebind_links(plan, client, links_file) == 1
    assert plan.retries == [] and [r.order_number for r, _ in plan.hard] == ["H-1"]
    assert orders_numbered(sb, "H-1") == ["H-1"] and orders_numbered(sb, "S-1") == ["S-1", "S-1/r1", "S-1/r2"]
    charges = sb.engine.charges_by_order_number()
    assert charges.get("S-1/r2") == 1 and "S-1" not in charges and "S-1/r1" not in charges

    link = next(csv.DictReader(links_file.open()))
    assert link["order_number"] == "G-1/b1" and link["outcome"] == "pending" and link["form_url"]
    if transport == "sbp":
        sb.sbp_pay(link["order_id"])
        new = client.sbp_account(link["sbp_request_key"]).account_token
    else:
        sb.pay(link["form_url"], TestCards.TBANK_SUCCESS if transport == "tbank" else TestCards.SUCCESS)
        new = client.finish_first_payment(order_id=link["order_id"], client_id="c-gone").binding.binding_id
    assert new and new != gone
    again = tmp_path / "rebound.csv"
    write_rows(again, transport, [("G-2", "c-gone", new, "12.00")])
    assert runner(sb, transport, journal).run(again).exit_code == EXIT_OK
    assert sb.engine.charges_by_order_number()["G-2"] == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_making_the_rebind_links_twice_registers_each_first_payment_once(tmp_path, transport, sb):
    """An operator who runs the links step again (after a Ctrl-C, or by mistake) gets the same
    orders back: no second first payment is registered for a customer."""
    journal = tmp_path / "j.sqlite"
    night, _gone, summary = charge_once(sb, tmp_path, transport, journal, TestCards.RECURRING_EXPIRED, "G-1")
    assert summary.decline_kinds == {"rebind": 1}
    with open_journal(journal) as j:
        plan = plan_dunning([night], j, due=sb.clock())
    client = client_for(sb, transport)
    links = []
    for attempt in ("first.csv", "again.csv"):
        assert create_rebind_links(plan, client, tmp_path / attempt) == 1
        links.append(next(csv.DictReader((tmp_path / attempt).open())))
    assert links[0]["order_number"] == links[1]["order_number"] == "G-1/b1"
    assert links[0]["order_id"] and links[1]["order_id"] == links[0]["order_id"]
    assert orders_numbered(sb, "G-1/") == ["G-1/b1"]


@pytest.mark.parametrize("transport", ("soap", "tbank", "sbp"))
def test_a_hard_declined_card_is_never_charged_again_by_any_file(tmp_path, transport, sb):
    journal = tmp_path / "j.sqlite"
    _first, hard, summary = charge_once(sb, tmp_path, transport, journal, TestCards.RECURRING_STOLEN, "A-1")
    assert summary.decline_kinds == {"hard": 1}
    second = tmp_path / "b.csv"  # another subscription on the same card, the next month
    write_rows(second, transport, [("B-1", "c-1", hard, "17.00")])
    summary = runner(sb, transport, journal).run(second, report=tmp_path / "b.csv.report.csv")
    row = next(csv.DictReader((tmp_path / "b.csv.report.csv").open()))
    assert summary.declined == 1 and row["decline_kind"] == "hard" and "never charged again" in row["message"]
    assert orders_numbered(sb, "B-") == []  # nothing was sent for it


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_merchant_decline_stops_the_run_and_is_retried_only_when_asked(tmp_path, transport, sb):
    journal = tmp_path / "j.sqlite"
    file, _bad, summary = charge_once(sb, tmp_path, transport, journal, TestCards.RECURRING_MERCHANT, "M-1")
    assert summary.exit_code == EXIT_CONFIG and summary.decline_kinds == {"merchant": 1}
    assert "merchant's own settings" in summary.config_error
    with open_journal(journal) as j:
        assert plan_dunning([file], j, due=sb.clock() + 9 * DAY).counts()["merchant"] == 1
        plan = plan_dunning([file], j, due=sb.clock(), include_merchant=True)
    assert [r.order_number for r in plan.retries] == ["M-1/r1"]


def test_a_retry_whose_earlier_attempt_turned_out_paid_charges_nothing(tmp_path, sb):
    good = instrument(sb, "soap", "c", TestCards.SUCCESS)
    client = client_for(sb, "soap")
    assert client.autopay("P-1", Money.of("3.00", "RUB"), client_id="c", binding_id=good).ok
    again = client.autopay("P-1/r1", Money.of("3.00", "RUB"), client_id="c", binding_id=good, retry_of="P-1")
    assert again.outcome is ChargeOutcome.PAID and "turned out paid" in again.message
    assert orders_numbered(sb, "P-1") == ["P-1"]


def test_declined_results_carry_their_kind_on_every_transport(sb):
    for transport in TRANSPORTS:
        client = client_for(sb, transport)
        for card, kind in ((TestCards.RECURRING_INSUFFICIENT, DeclineKind.SOFT),
                           (TestCards.RECURRING_STOLEN, DeclineKind.HARD),
                           (TestCards.RECURRING_EXPIRED, DeclineKind.REBIND),
                           (TestCards.RECURRING_MERCHANT, DeclineKind.MERCHANT)):
            customer = f"{transport}-{card.pan[-4:]}"
            value = instrument(sb, transport, customer, card)
            key = "account_token" if transport == "sbp" else "binding_id"
            result = client.autopay(f"K-{customer}", Money.of("12.00", "RUB"),
                                    client_id=None if transport in ("tbank", "sbp") else customer, **{key: value})
            assert result.outcome is ChargeOutcome.DECLINED and result.decline.kind is kind, (transport, card)
            assert result.decline.gateway == ("tbank" if transport in ("tbank", "sbp") else "rbs")


def test_the_dunning_command(tmp_path, sb):
    soft = instrument(sb, "soap", "c-soft", TestCards.RECOVERING_FUNDS)
    file = tmp_path / "n.csv"
    write_rows(file, "soap", [("N-1", "c-soft", soft, "4.00")])
    journal = tmp_path / "n.sqlite"
    env_args = ["--profile", "sandbox", "--sandbox-url", sb.url]
    charged = subprocess.run([sys.executable, "-m", "autopay_soap", "charge", str(file), "--journal", str(journal),
                              "--quiet", *env_args], capture_output=True, text=True, timeout=120)
    assert charged.returncode == EXIT_DECLINED, charged.stderr
    out = tmp_path / "r.csv"
    base = [sys.executable, "-m", "autopay_soap", "dunning", str(file), "--journal", str(journal), "--output",
            str(out)]
    today = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert today.returncode == 0 and json.loads(today.stdout)["later"] == 1 and not out.exists()
    assert "no retry is due" in today.stderr
    ahead = subprocess.run(base + ["--due", "2999-01-01"], capture_output=True, text=True, timeout=60)
    planned = json.loads(ahead.stdout)  # due far ahead, but sent today: the card had its attempt today
    assert (planned["retries"], planned["postponed"]) == (0, 1)
    import sqlite3

    with sqlite3.connect(str(journal)) as db:  # the charge was yesterday's run
        db.execute("UPDATE charges SET finished_at = finished_at - 86400")
    later = subprocess.run(base + ["--due", "2999-01-01"], capture_output=True, text=True, timeout=60)
    assert json.loads(later.stdout)["retries"] == 1
    rows = list(csv.DictReader(out.open()))
    assert [(r["order_number"], r["original_order_number"], r["attempt"], r["binding_id"], r["amount_minor"])
            for r in rows] == [("N-1/r1", "N-1", "2", soft, "400")]
    bad = subprocess.run(base + ["--due", "tomorrow"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == EXIT_CONFIG and "YYYY-MM-DD" in bad.stderr
    nojournal = subprocess.run(base[:6] + [str(tmp_path / "typo.sqlite"), "--output", str(out)],
                               capture_output=True, text=True, timeout=60)
    assert nojournal.returncode == EXIT_CONFIG and "does not exist" in nojournal.stderr


def test_due_is_read_strictly():
    assert parse_due(None, 5.0) == 5.0
    assert parse_due("2026-12-05T03:00:00Z", 0) == 1796439600.0
    assert parse_due("2026-12-05", 0) == pytest.approx(1796515200.0 - 0.001)
    for bad in ("05.12.2026", "2026-12-05T03:00:00", "soon"):
        with pytest.raises(ValueError, match="due"):
            parse_due(bad, 0)


@pytest.mark.parametrize("transport", ["soap", "tbank"])
def test_the_card_caps_hold_when_rows_are_sent_whatever_order_files_come_in(tmp_path, transport, sb):
    """Two plans made before charging, or a regular file charged after the retries, no longer give
    a card two attempts in one day: the runner checks the card's history before it sends a row;
    a postponed retry is planned again (the same number) by the next dunning run."""
    journal = tmp_path / "caps.sqlite"
    file, card, first = charge_once(sb, tmp_path, transport, journal, TestCards.RECOVERING_FUNDS, "CP-1",
                                    customer="c-cap")
    assert first.decline_kinds == {"soft": 1}
    sb.clock.advance(days=1)
    with open_journal(journal) as j:
        plans = [plan_dunning([file], j, due=sb.clock()) for _ in range(2)]  # planned twice before charging
    for k, plan in enumerate(plans):
        plan.write(tmp_path / f"plan{k}.csv")
    orders_before = len(sb.engine.orders())
    runs = [runner(sb, transport, journal).run(tmp_path / f"plan{k}.csv") for k in range(2)]
    regular = tmp_path / "regular.csv"
    write_rows(regular, transport, [("CP-2", "c-cap", card, "15.00")])  # next month's charge, same card, same day
    third = runner(sb, transport, journal).run(regular, report=tmp_path / "regular-report.csv")
    sent_today = len(sb.engine.orders()) - orders_before
    assert sent_today == 1  # one attempt on the card today, whatever came after
    assert runs[0].charged_this_run == 1 and runs[1].charged_this_run == 0  # the second plan: already tried
    report = next(csv.DictReader((tmp_path / "regular-report.csv").open()))
    assert report["outcome"] == "not_started" and "retried earlier today" in report["message"]
    assert third.exit_code == 4
    sb.clock.advance(days=1)
    tomorrow = runner(sb, transport, journal).run(regular)  # the same file the next day: sent now
    assert tomorrow.not_started == 0 and len(sb.engine.orders()) - orders_before == 2


def test_a_retry_postponed_at_send_time_is_planned_again_with_its_number(tmp_path, sb):
    journal = tmp_path / "pp.sqlite"
    file, card, _ = charge_once(sb, tmp_path, "soap", journal, TestCards.RECOVERING_FUNDS, "PP-1", customer="c-p")
    sb.clock.advance(days=1)
    with open_journal(journal) as j:
        plan = plan_dunning([file], j, due=sb.clock())
    plan.write(tmp_path / "retry.csv")
    other = tmp_path / "other.csv"
    write_rows(other, "soap", [("PP-9", "c-p", card, "1.00")])  # another charge tried the card first today
    runner(sb, "soap", journal).run(other)
    postponed = runner(sb, "soap", journal).run(tmp_path / "retry.csv")
    assert postponed.not_started == 1 and "PP-1/r1" not in orders_numbered(sb, "PP-1/")
    sb.clock.advance(days=1)
    with open_journal(journal) as j:
        again = plan_dunning([file, tmp_path / "retry.csv"], j, due=sb.clock())
    assert [r.order_number for r in again.retries] == ["PP-1/r1"]


LONG = "SUBSCRIPTION-2026-12-CLIENT-0042"  # 32 characters: every retry number is cut and digested


def test_a_chain_begun_with_six_digest_digits_is_continued_not_begun_again(tmp_path, sb):
    """Upgrading in the middle of a dunning cycle: attempt 2 was numbered by 0.1 (six digest
    digits). The next plan retries it as attempt 3 in the same form, and plans no second attempt 2
    in the new form (which would charge the card once more than the schedule allows)."""
    journal = tmp_path / "up.sqlite"
    legacy = [retry_order_number(LONG, n, max_len=32, digest_length=6) for n in (2, 3)]
    assert legacy[0] != retry_order_number(LONG, 2, max_len=32)
    night, card, _ = charge_once(sb, tmp_path, "soap", journal, TestCards.RECOVERING_FUNDS, LONG, customer="c-u")
    sb.clock.advance(days=1)
    old = tmp_path / "retries-before-upgrade.csv"
    with old.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([("order_number", "original_order_number", "attempt", "client_id",
                                    "binding_id", "amount_minor", "currency"),
                                   (legacy[0], LONG, 2, "c-u", card, 1500, "RUB")])
    assert runner(sb, "soap", journal).run(old).declined == 1
    sb.clock.advance(days=RECOVERY_DAYS)
    with open_journal(journal) as j:
        plan = plan_dunning([night, old], j, due=sb.clock())
    assert [(r.order_number, r.attempt) for r in plan.retries] == [(legacy[1], 3)]
    plan.write(tmp_path / "retries-after.csv")
    assert runner(sb, "soap", journal).run(tmp_path / "retries-after.csv").paid == 1
    assert orders_numbered(sb, LONG[:16]) == sorted([LONG, *legacy])
    assert sb.engine.charges_by_order_number().get(legacy[1]) == 1


def test_a_rebind_link_made_before_the_upgrade_is_found_again(tmp_path, sb):
    journal = tmp_path / "rb.sqlite"
    night, _gone, _ = charge_once(sb, tmp_path, "rest", journal, TestCards.RECURRING_EXPIRED, LONG)
    client = client_for(sb, "rest")
    legacy = first_payment_order_number(LONG, max_len=32, digest_length=6)
    before = client.start_first_payment(legacy, Money.of("15.00", "RUB"), "c-1")
    with open_journal(journal) as j:
        plan = plan_dunning([night], j, due=sb.clock())
    assert create_rebind_links(plan, client, tmp_path / "links.csv") == 1
    link = next(csv.DictReader((tmp_path / "links.csv").open()))
    assert (link["order_number"], link["order_id"]) == (legacy, before.order_id)
    assert orders_numbered(sb, LONG[:16]) == sorted([LONG, legacy])
    fresh = tmp_path / "fresh.sqlite"  # with no such order, today's number is registered
    night2, _, _ = charge_once(sb, tmp_path, "rest", fresh, TestCards.RECURRING_EXPIRED, LONG[:-1] + "3",
                              customer="c-2")
    with open_journal(fresh) as j:
        assert create_rebind_links(plan_dunning([night2], j, due=sb.clock()), client, tmp_path / "l2.csv") == 1
    assert next(csv.DictReader((tmp_path / "l2.csv").open()))["order_number"] == \
        first_payment_order_number(LONG[:-1] + "3", max_len=32)
