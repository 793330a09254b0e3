"""The expiring-cards report: cards expiring in different months on both gateways, each listed
once, unreadable expiries reported, the command's CSV and JSON, and save-card links."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from autopay_soap import AutopayClient
from autopay_soap.cli import main
from autopay_soap.errors import ValidationError
from autopay_soap.expiring import ClientSchedule, find_expiring, last_usable_day, read_schedule, save_card_links
from autopay_soap.models import CardCheck
from autopay_soap.sandbox import Sandbox
from autopay_soap.sandbox.cards import Behaviour, TestCard

from ..support import no_wait


def card(expiry, pan="4444555511113333"):
    return TestCard(pan, expiry, "123", Behaviour.APPROVE)


def client_for(sb, transport):
    return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport=transport, return_url=sb.return_url,
                                      sleep=no_wait)


def save(sb, client, client_id, test_card, number):
    check = CardCheck.HOLD if client.gateway.name == "tbank" else None
    started = client.start_card_save(number, client_id, check=check)
    assert sb.pay(started.form_url, test_card).paid
    return client.finish_card_save(started.reference, client_id=client_id, check=check).binding


@pytest.fixture(params=["rest", "tbank"])
def shop(request):
    """A sandbox with three clients: cards expiring 01/27, 06/27 (two cards of one client) and 12/30."""
    with Sandbox() as sb:
        client = client_for(sb, request.param)
        made = {"jan": save(sb, client, "c-jan", card("01/27"), "S-1"),
                "jun": save(sb, client, "c-jun", card("06/27"), "S-2"),
                "jun-2": save(sb, client, "c-jun", card("06/27", "5555555555554444"), "S-3"),
                "far": save(sb, client, "c-far", card("12/30"), "S-4")}
        yield sb, client, made


def test_last_usable_day_is_the_end_of_the_expiry_month():
    assert last_usable_day("202702") == dt.date(2027, 2, 28) and last_usable_day("202802") == dt.date(2028, 2, 29)


def test_cards_expiring_before_the_date_or_the_next_charge_are_listed_once(shop):
    sb, client, made = shop
    schedule = [ClientSchedule("c-jan", dt.date(2027, 1, 10)), ClientSchedule("c-jun", dt.date(2027, 7, 15)),
                ClientSchedule("c-far", dt.date(2027, 3, 1))]
    report = find_expiring(client, schedule, dt.date(2027, 2, 1))
    listed = sorted((c.client_id, c.binding_id, c.reason, c.expiry) for c in report.cards)
    assert listed == sorted([("c-jan", made["jan"].binding_id, "before", "202701"),
                             ("c-jun", made["jun"].binding_id, "next_charge", "202706"),
                             ("c-jun", made["jun-2"].binding_id, "next_charge", "202706")])
    assert report.problems == [] and report.clients == 3
    assert find_expiring(client, schedule, dt.date(2026, 12, 31)).cards[0].reason == "next_charge"  # jun only
    assert [c.client_id for c in find_expiring(client, schedule, dt.date(2026, 12, 31)).cards] == ["c-jun", "c-jun"]


def test_an_unreadable_expiry_is_reported_never_passed_over(shop):
    sb, client, made = shop
    if client.gateway.name == "tbank":  # a broken gateway: GetCardList's ExpDate of month 13
        for saved in sb.tbank.cards.values():
            if saved.rebill_id == made["far"].binding_id:
                saved.exp_date = "1399"
    else:  # getBindings' expiryDate that is no month
        sb.engine._bindings[made["far"].binding_id].expiry = "2099AB"
    report = find_expiring(client, [ClientSchedule("c-far")], dt.date(2027, 2, 1))
    assert [(c.binding_id, c.reason, c.expiry) for c in report.cards] == [(made["far"].binding_id, "unreadable", None)]
    assert "cannot be read" in report.cards[0].message


def test_save_card_links_ask_each_client_once_and_again_finds_the_same_order(shop):
    sb, client, made = shop
    schedule = [ClientSchedule("c-jun", dt.date(2027, 7, 15))]
    report = find_expiring(client, schedule, dt.date(2027, 2, 1))
    assert save_card_links(report, client) == 1
    first, second = report.cards
    assert first.form_url and first.save_outcome == "pending" and first.order_number.startswith("RENEW-")
    assert second.form_url is None and "another card of this client" in second.message
    again = find_expiring(client, schedule, dt.date(2027, 2, 1))
    save_card_links(again, client)
    assert again.cards[0].order_number == first.order_number
    if client.gateway.name != "tbank":  # RBS: the same order, found by number
        assert again.cards[0].form_url == first.form_url or again.cards[0].save_outcome == "pending"
        assert len([o for o in sb.engine.orders() if o.order_number == first.order_number]) == 1


def test_the_command_writes_csv_and_json(shop, tmp_path, capsys):
    sb, client, made = shop
    schedule = tmp_path / "clients.csv"
    schedule.write_text("client_id,next_charge\nc-jan,2027-01-10\nc-jun,2027-07-15\nc-jun,2027-08-15\nc-far,\n")
    base = ["bindings", "expiring", "--before", "2027-02-01", "--clients", str(schedule), "--profile", "sandbox",
            "--sandbox-url", sb.url, "--transport", client.gateway.name if client.gateway.name == "tbank" else "rest"]
    assert main(base) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("client_id,binding_id,masked_pan,expiry,last_usable_day")
    assert sorted(line.split(",")[0] for line in lines[1:]) == ["c-jan", "c-jun", "c-jun"]
    out = tmp_path / "report.json"
    assert main(base + ["--format", "json", "--output", str(out), "--save-card-links"]) == 0
    data = json.loads(out.read_text())
    assert data["clients"] == 3 and len(data["cards"]) == 3 and data["problems"] == []
    assert sum(1 for c in data["cards"] if c["form_url"]) == 2  # one link per client


@pytest.mark.parametrize("text, problem", [
    ("client_id,next_charge\nc-1,2027-13-01\n", "next_charge"),
    ("client_id,next_charge\n,2027-01-01\n", "client_id"),
    ("customer,next_charge\nc-1,\n", "client_id"),
    ("client_id\n" + "x" * 300 + "\n", "client_id"),
])
def test_a_bad_schedule_is_refused_naming_the_line_and_field(tmp_path, text, problem):
    path = tmp_path / "clients.csv"
    path.write_text(text)
    with pytest.raises(ValidationError) as info:
        read_schedule(path)
    assert info.value.field == problem


def test_the_command_refuses_a_bad_date_and_a_missing_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["bindings", "expiring", "--before", "2027-02-30", "--clients", "x.csv", "--profile", "sandbox"])
    assert info.value.code == 2
    assert main(["bindings", "expiring", "--before", "2027-02-01", "--clients", str(tmp_path / "none.csv"),
                 "--profile", "sandbox"]) == 3


def test_a_client_whose_bindings_cannot_be_read_is_a_problem_not_a_crash(tmp_path, capsys):
    with Sandbox() as sb:
        url = sb.url
    client = AutopayClient.from_profile("sandbox", sandbox_url=url, transport="rest", return_url="https://x.example/",
                                        sleep=no_wait)
    report = find_expiring(client, [ClientSchedule("c-1")], dt.date(2027, 1, 1))
    assert report.cards == [] and report.problems[0][0] == "c-1"
    path = tmp_path / "c.csv"
    path.write_text("client_id\nc-1\n")
    assert main(["bindings", "expiring", "--before", "2027-02-01", "--clients", str(path), "--profile", "sandbox",
                 "--sandbox-url", url, "--transport", "rest"]) == 4


def test_the_monthly_script_of_the_docs_writes_the_links(tmp_path, sb):
    import os
    import subprocess

    from ..support import AUTOPAY_MODULE, docs_script

    script, bin_dir = docs_script(tmp_path, "expiring-monthly.sh", AUTOPAY_MODULE)
    client = client_for(sb, "rest")
    soon = save(sb, client, "c-soon", card(dt.date.today().strftime("%m/%y")), "S-9")
    save(sb, client, "c-later", card("12/30"), "S-10")
    (tmp_path / "clients.csv").write_text("client_id,next_charge\nc-soon,\nc-later,\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "AUTOPAY_PROFILE": "sandbox",
           "AUTOPAY_SANDBOX_URL": sb.url, "AUTOPAY_TRANSPORT": "rest"}
    done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, ""), (tmp_path / "expiring.log").read_text()
    reports = list(tmp_path.glob("renew-*.csv"))
    assert len(reports) == 1
    import csv

    rows = list(csv.DictReader(reports[0].open()))
    assert [(r["client_id"], r["binding_id"], r["reason"], r["save_outcome"]) for r in rows] == [
        ("c-soon", soon.binding_id, "before", "pending")]
    assert sb.pay(rows[0]["form_url"], card("12/30", "5555555555554444")).paid
    assert len(client.list_cards("c-soon")) == 2


def test_a_card_expiring_mid_schedule_is_listed_exactly_once(shop, tmp_path):
    """A monthly subscription: the client is on one row per planned charge; its June card is listed
    once, for the first charge it cannot pay, and a card that outlives the schedule is not listed."""
    sb, client, made = shop
    path = tmp_path / "clients.csv"
    rows = "".join(f"c-jun,2027-{month:02d}-15\n" for month in range(1, 13)) + "c-far,2027-03-01\nc-far,2027-04-01\n"
    path.write_text("client_id,next_charge\n" + rows)
    schedule = read_schedule(path)
    assert [(s.client_id, s.next_charge) for s in schedule] == [("c-jun", dt.date(2027, 1, 15)),
                                                                ("c-far", dt.date(2027, 3, 1))]
    report = find_expiring(client, schedule + schedule, dt.date(2027, 9, 1))  # the same client twice over
    assert sorted(c.binding_id for c in report.cards) == sorted([made["jun"].binding_id, made["jun-2"].binding_id])
    assert all(c.reason == "before" for c in report.cards)


def test_the_chapters_command_line_runs_as_written(shop, tmp_path, monkeypatch, capsys):
    """docs/saving-cards.rst's ``autopay-soap bindings expiring ...`` line, word for word, with the
    profile and sandbox from the environment as the chapter's cron script has them."""
    import re
    import shlex
    from pathlib import Path

    sb, client, made = shop
    text = (Path(__file__).resolve().parent.parent.parent / "docs" / "saving-cards.rst").read_text("utf-8")
    line = re.search(r"^    (autopay-soap bindings expiring [^\n]+)$", text, re.M).group(1)
    (tmp_path / "clients.csv").write_text("client_id,next_charge\nc-jan,\nc-far,\n")
    monkeypatch.chdir(tmp_path)
    for name, value in (("AUTOPAY_PROFILE", "sandbox"), ("AUTOPAY_SANDBOX_URL", sb.url),
                        ("AUTOPAY_TRANSPORT", "tbank" if client.gateway.name == "tbank" else "rest")):
        monkeypatch.setenv(name, value)
    assert main(shlex.split(line)[1:]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split(",")[:2] for row in rows] == [["c-jan", made["jan"].binding_id]]
