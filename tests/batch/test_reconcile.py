"""Reconciliation against the sandbox: one of each difference, on SOAP, REST and T-Bank."""

import csv
import datetime as dt
import json
import sqlite3

import pytest

from autopay_soap.batch import open_journal
from autopay_soap.batch.states import RowState
from autopay_soap.cli import main
from autopay_soap.reconcile import EXIT_DIFFERENCES, EXIT_OK, Kind, ReportWriter, reconcile
from autopay_soap.sandbox import Sandbox, TestCards

from ..support import AUTOPAY_MODULE, docs_script
from ..support.reconcile import charged_journal, client_for

UTC = dt.timezone.utc


def make_one_of_each(sb, journal):
    """A cabinet refund (R-1), a charge outside the journal (OUT-1), a deleted journal row (R-2),
    an amount edited in the journal (R-3) and a row left unknown (R-4)."""
    sb.cabinet.refund("R-1")
    sb.cabinet.charge("OUT-1", 900)
    with sqlite3.connect(journal) as db:
        db.execute("DELETE FROM charges WHERE order_number = 'R-2'")
        db.execute("UPDATE charges SET amount_minor = 600 WHERE order_number = 'R-3'")
        db.execute("UPDATE charges SET state = ? WHERE order_number = 'R-4'", (RowState.UNKNOWN.value,))


def window():
    now = dt.datetime.now(UTC)
    return now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)


def run(sb, transport, journal, lines):
    with client_for(sb, transport) as client, open_journal(journal) as opened:
        return reconcile(client, opened, *window(), report=lines.append, lookups_per_second=None,
                         ignore=("WEB-*",))


@pytest.mark.parametrize("transport", ["soap", "rest"])
def test_one_of_each_difference_is_reported_once_on_rbs(tmp_path, transport, sb):
    journal = charged_journal(sb, transport, tmp_path)
    make_one_of_each(sb, journal)
    lines = []
    summary = run(sb, transport, journal, lines)
    found = sorted((line.kind.value, line.order_number) for line in lines)
    assert found == [("amount_differs", "R-3"), ("gateway_only", "OUT-1"), ("gateway_only", "R-2"),
                     ("refunded", "R-1"), ("resolved", "R-4")]
    refund = next(line for line in lines if line.kind is Kind.REFUNDED)
    assert (refund.refunded, refund.new_refunded, refund.gateway_status) == (500, 500, "REFUNDED")
    amount = next(line for line in lines if line.kind is Kind.AMOUNT_DIFFERS)
    assert (amount.journal_amount, amount.gateway_amount, amount.currency) == (600, 500, "RUB")
    assert summary.complete and summary.cannot_see == () and summary.exit_code == EXIT_DIFFERENCES
    assert (summary.gateway_orders, summary.ignored) == (8, 1)  # R-1..R-6, OUT-1; WEB-... is another system's
    with open_journal(journal) as opened:  # the unknown row is settled; nothing else was changed
        assert opened.get("R-4").state is RowState.PAID
        assert opened.get("R-3").amount_minor == 600 and opened.get("R-2") is None
    again = []
    run(sb, transport, journal, again)  # the refund and the settled row are not reported twice
    assert sorted((line.kind.value, line.order_number) for line in again) == [
        ("amount_differs", "R-3"), ("gateway_only", "OUT-1"), ("gateway_only", "R-2")]
    sb.cabinet.refund("R-5", 200)  # a partial refund, then the rest: each reported with its new part
    partial = []
    run(sb, transport, journal, partial)
    sb.cabinet.refund("R-5")
    rest = []
    run(sb, transport, journal, rest)
    assert [(x.refunded, x.new_refunded) for x in partial if x.kind is Kind.REFUNDED] == [(200, 200)]
    assert [(x.refunded, x.new_refunded) for x in rest if x.kind is Kind.REFUNDED] == [(500, 300)]


def test_tbank_reports_what_it_can_see_and_says_what_it_cannot(tmp_path, sb):
    journal = charged_journal(sb, "tbank", tmp_path)
    make_one_of_each(sb, journal)
    sb.cabinet.reverse("R-5")
    lines = []
    summary = run(sb, "tbank", journal, lines)
    found = sorted((line.kind.value, line.order_number) for line in lines)
    assert found == [("amount_differs", "R-3"), ("refunded", "R-1"), ("resolved", "R-4"), ("reversed", "R-5")]
    assert summary.cannot_see == ("gateway_only",) and summary.gateway_orders == 0
    assert summary.as_dict()["cannot_see"] == ["gateway_only"]
    assert summary.lookups == 6  # R-4 to settle, then, R-4 (now paid), R-5, R-6 (R-2 is gone)


def test_a_journal_in_agreement_exits_0_and_a_paid_row_the_gateway_declined_is_reported(tmp_path, sb):
    journal = charged_journal(sb, "rest", tmp_path, rows=2)
    lines = []
    assert run(sb, "rest", journal, lines).exit_code == EXIT_OK and lines == []
    with sqlite3.connect(journal) as db:  # a row the journal holds as paid, unknown to the gateway
        db.execute("UPDATE charges SET order_number = 'GHOST-1' WHERE order_number = 'R-1'")
    run(sb, "rest", journal, lines)
    kinds = sorted((line.kind.value, line.order_number) for line in lines)
    assert kinds == [("gateway_only", "R-1"), ("not_paid_at_gateway", "GHOST-1")]
    ghost = next(line for line in lines if line.order_number == "GHOST-1")
    assert "no order with this number" in ghost.detail and ghost.journal_state == "paid"


def test_the_command_writes_the_report_and_a_json_summary(tmp_path, capsys, sb):
    journal = charged_journal(sb, "soap", tmp_path)
    make_one_of_each(sb, journal)
    since, until = window()
    report = tmp_path / "differences.jsonl"
    code = main(["reconcile", "--journal", str(journal), "--from", since.isoformat(), "--to", until.isoformat(),
                 "--profile", "sandbox", "--sandbox-url", sb.url, "--report", str(report), "--ignore", "WEB-*",
                 "--rate", "1000"])
    out = json.loads(capsys.readouterr().out)
    assert code == EXIT_DIFFERENCES == out["exit_code"]
    assert out["differences"]["gateway_only"] == 2 and out["differences"]["resolved"] == 1
    assert out["complete"] is True and out["report"] == str(report)
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(line["kind"] for line in lines) == ["amount_differs", "gateway_only", "gateway_only", "refunded",
                                                      "resolved"]


def test_csv_report_quotes_what_a_spreadsheet_would_run(tmp_path):
    from autopay_soap.reconcile import Difference

    writer = ReportWriter(tmp_path / "r.csv")
    writer(Difference(Kind.GATEWAY_ONLY, "=HYPERLINK(\"http://x\")", gateway_amount=100, detail="-1"))
    writer.close()
    row = next(csv.DictReader((tmp_path / "r.csv").open()))
    assert row["order_number"].startswith("'=") and row["detail"] == "'-1" and row["gateway_amount"] == "100"


@pytest.mark.parametrize("argv, message", [
    (["--from", "2026-12-05", "--to", "2026-12-04"], "--from must be before --to"),
    (["--from", "2026-12-04", "--to", "2026-12-05", "--report", "out.txt"], "must end in .csv or .jsonl"),
])
def test_bad_settings_exit_2_before_the_gateway_is_asked(tmp_path, capsys, argv, message):
    journal = tmp_path / "j.sqlite"
    with open_journal(journal):
        pass
    code = main(["reconcile", "--journal", str(journal), "--profile", "sandbox", "--sandbox-url",
                 "http://127.0.0.1:9", *argv])
    assert code == 2 and message in capsys.readouterr().err


def test_a_missing_journal_and_a_busy_one_are_refused(tmp_path, capsys):
    assert main(["reconcile", "--journal", str(tmp_path / "none.sqlite"), "--from", "2026-12-04",
                 "--to", "2026-12-05", "--profile", "sandbox"]) == 2
    assert "does not exist" in capsys.readouterr().err
    journal = tmp_path / "j.sqlite"
    with Sandbox() as sb, open_journal(journal):  # a charge run holds it
        code = main(["reconcile", "--journal", str(journal), "--from", "2026-12-04", "--to", "2026-12-05",
                     "--profile", "sandbox", "--sandbox-url", sb.url])
    assert code == 6 and "reconcile once the charge run has ended" in capsys.readouterr().err


def test_the_sandbox_list_pages_and_refuses_as_the_gateway_does(sb):
    import requests

    for number in range(5):
        sb.cabinet.charge(f"P-{number}", 100 + number)
    since, until = window()
    form = {"userName": sb.username, "password": sb.password, "from": since.astimezone(
        dt.timezone(dt.timedelta(hours=3))).strftime("%Y%m%d%H%M%S"),
        "to": until.astimezone(dt.timezone(dt.timedelta(hours=3))).strftime("%Y%m%d%H%M%S"),
        "transactionStates": "DEPOSITED", "size": "2"}

    def ask(**changes):
        return requests.post(sb.rest_url + "getLastOrdersForMerchants.do", data={**form, **changes},
                             timeout=10).json()

    pages = [ask(page=str(n)) for n in range(3)]
    too_big, bad_state, no_window = ask(size="201"), ask(transactionStates="PAID"), ask(**{"from": ""})
    with client_for(sb, "soap") as client:
        soap_pages = [client.gateway.order_page(since, until, page=n, size=2) for n in range(3)]
    assert [[o["orderNumber"] for o in p["orderStatuses"]] for p in pages] == [["P-0", "P-1"], ["P-2", "P-3"],
                                                                              ["P-4"]]
    assert {(p["totalCount"], p["pageSize"]) for p in pages} == {(5, 2)} and [p["page"] for p in pages] == [0, 1, 2]
    assert [[o.order_number for o in p.orders] for p in soap_pages] == [["P-0", "P-1"], ["P-2", "P-3"], ["P-4"]]
    assert soap_pages[2].last and not soap_pages[1].last and soap_pages[0].orders[1].amount.minor == 101
    assert (too_big["errorCode"], bad_state["errorCode"], no_window["errorCode"]) == ("10", "5", "4")


def test_the_nightly_reconciliation_script_reports_a_cabinet_refund_once(tmp_path, sb):
    import os
    import subprocess

    script, bin_dir = docs_script(tmp_path, "reconcile-nightly.sh", AUTOPAY_MODULE)
    journal = charged_journal(sb, "soap", tmp_path, rows=3)
    journal.rename(tmp_path / "subs.sqlite")
    day = dt.datetime.now(dt.timezone(dt.timedelta(hours=3))).date().isoformat()  # today, Moscow time
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "AUTOPAY_PROFILE": "sandbox",
           "AUTOPAY_SANDBOX_URL": sb.url, "DAY": day}
    agree = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert (agree.returncode, agree.stderr) == (0, ""), (tmp_path / "reconcile.log").read_text()
    sb.cabinet.refund("R-2", 150)
    found = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert found.returncode == 1 and f"differences on {day}" in found.stderr
    rows = list(csv.DictReader((tmp_path / f"reconcile-{day}.csv").open()))
    assert [(r["kind"], r["order_number"], r["new_refunded"]) for r in rows] == [("refunded", "R-2", "150")]
    again = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and not (tmp_path / f"reconcile-{day}.csv").exists()  # reported once


def test_a_file_that_is_not_a_journal_and_ctrl_c_end_with_one_line(tmp_path, capsys, monkeypatch):
    not_a_journal = tmp_path / "batch.csv"
    not_a_journal.write_text("order_number,amount\nA-1,1.00\n" * 200)
    argv = ["reconcile", "--from", "2026-12-04", "--to", "2026-12-05", "--profile", "sandbox"]
    assert main([*argv, "--journal", str(not_a_journal)]) == 2
    assert "cannot be read as a journal" in capsys.readouterr().err
    journal = tmp_path / "j.sqlite"
    with open_journal(journal):
        pass

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("autopay_soap.reconcile.run.reconcile", interrupted)
    with Sandbox() as sb:
        code = main([*argv, "--journal", str(journal), "--sandbox-url", sb.url, "--report", str(tmp_path / "r.csv")])
    assert code == 130 and "run the same command again" in capsys.readouterr().err
    assert (tmp_path / "r.csv").read_text().startswith("kind,")  # what was found so far stays readable


@pytest.mark.parametrize("transport", ["soap", "rest"])
def test_a_card_saved_without_a_payment_is_no_difference(tmp_path, transport, sb):
    """An RBS card check (VERIFY) is an order of zero that ends REVERSED: no money moved, so the
    nightly reconciliation does not report it as a charge the journal does not know."""
    journal = charged_journal(sb, transport, tmp_path, rows=1)
    with client_for(sb, transport) as client:
        started = client.start_card_save("TRIAL-1", "cust-trial")
        sb.pay(started.form_url, TestCards.SUCCESS)
        assert client.finish_card_save(started.reference, client_id="cust-trial").chargeable
    lines = []
    assert run(sb, transport, journal, lines).exit_code == EXIT_OK and lines == []
