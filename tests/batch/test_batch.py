"""The batch runner against the sandbox: crash, resume, twice, bad input, two runners (stops: test_batch_stop)."""

import csv
import json
import os
import signal
import subprocess

import pytest

from autopay_soap import Money
from autopay_soap.batch import (
    EXIT_DECLINED,
    EXIT_INVALID_INPUT,
    EXIT_JOURNAL_BUSY,
    EXIT_OK,
    BatchInputError,
    BatchRunner,
    open_journal,
    validate_file,
)
from autopay_soap.client import AutopayClient
from autopay_soap.retry import RetryPolicy
from autopay_soap.sandbox import FaultPlan, Sandbox, TestCards

from ..support import no_wait
from ..support.batch import bind, charge_cmd, start_charging, write_csv


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_charges_each_row_exactly_once(tmp_path, sb):
    rows = 300
    file = tmp_path / "batch.csv"
    faults = FaultPlan.parse("*:drop_after=0.06,http500=0.04,garbage=0.04,refuse=0.03,truncated=0.03", seed=9)
    proc = start_charging(sb, file, "K", rows, rows // 2, "--concurrency", "8", amount="9.90", faults=faults)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with open_journal(file.with_name("batch.csv.journal.sqlite")) as journal:
        states = journal.counts()
    assert states.get("in_flight", 0) + states.get("paid", 0) < rows  # really stopped halfway
    second = subprocess.run(charge_cmd(sb, file, "--report", str(tmp_path / "report.jsonl")),
                            capture_output=True, text=True, timeout=300)
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    sb.faults = None
    charges = sb.engine.charges_by_order_number()
    assert second.returncode == EXIT_OK, second.stderr
    assert summary["paid"] == rows and summary["unknown"] == 0 and summary["not_started"] == 0
    report = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert len(report) == rows and {r["outcome"] for r in report} == {"paid"}
    assert all(charges[f"K-{i:04d}"] == 1 for i in range(rows))
    assert max(charges.values()) == 1


def test_running_the_same_file_twice_charges_nothing_the_second_time(tmp_path, sb):
    binding = bind(sb, "cust")
    file = tmp_path / "twice.csv"
    write_csv(file, [(f"T-{i}", "cust", binding, "1.00", "RUB", "") for i in range(20)])
    first = subprocess.run(charge_cmd(sb, file), capture_output=True, text=True, timeout=120)
    ledger_after_first = len(sb.ledger())
    second = subprocess.run(charge_cmd(sb, file), capture_output=True, text=True, timeout=120)
    assert len(sb.ledger()) == ledger_after_first
    assert first.returncode == second.returncode == EXIT_OK
    assert json.loads(second.stdout)["charged_this_run"] == 0 and json.loads(second.stdout)["paid"] == 20


def test_malformed_file_is_reported_with_line_numbers_and_nothing_is_charged(tmp_path, sb):
    file = tmp_path / "bad.csv"
    write_csv(file, [("OK-1", "cust", "b-1", "1.00", "RUB", ""),
                     ("OK-2", "cust", "b-1", "1.001", "RUB", ""),      # line 3: too many decimals
                     ("bad number!", "cust", "b-1", "1.00", "RUB", ""),  # line 4
                     ("OK-1", "cust", "b-1", "1.00", "RUB", ""),       # line 5: repeats line 2
                     ("OK-5", "", "b-1", "1.00", "RUB", ""),           # line 6: no client
                     ("OK-6", "cust", "b-1", "1.00", "XYZ", ""),       # line 7: currency
                     ("OK-7", "cust", "b-1", "1.00", "RUB", "maybe")])  # line 8: two_stage
    out = subprocess.run(charge_cmd(sb, file), capture_output=True, text=True, timeout=60)
    assert sb.engine.orders() == []
    assert out.returncode == EXIT_INVALID_INPUT
    assert out.stderr.startswith(f"autopay-soap: 6 bad row(s) in {file}; nothing was charged\n")
    for line, column in ((3, "amount"), (4, "order_number"), (5, "order_number"), (6, "client_id"),
                         (7, "currency"), (8, "two_stage")):
        assert f"{file}, line {line}, column {column}: " in out.stderr
    assert "line 2," not in out.stderr and "repeats line 2" in out.stderr
    assert not (tmp_path / "bad.csv.journal.sqlite").exists()


def test_jsonl_and_dry_run(tmp_path, sb):
    file = tmp_path / "rows.jsonl"
    file.write_text('{"order_number": "J-1", "client_id": "c", "binding_id": "b", "amount_minor": 990}\n'
                    '{"order_number": "J-2", "client_id": "c", "binding_id": "b", "amount": "1.50", '
                    '"currency": "USD"}\n'
                    '[1, 2]\n{not json\n')
    found = validate_file(file)
    assert found.rows == 4 and [e.line for e in found.errors] == [3, 4] and found.bad_rows == 2
    file.write_text('{"order_number": "J-1", "client_id": "c", "binding_id": "b", "amount_minor": 990}\n')
    runner = BatchRunner(lambda: AutopayClient.from_profile("sandbox", sandbox_url=sb.url,
                                                            return_url=sb.return_url), tmp_path / "j.sqlite")
    summary = runner.run(file, dry_run=True)
    assert sb.engine.orders() == []
    assert summary.dry_run and summary.rows == 1 and not (tmp_path / "j.sqlite").exists()


def test_a_second_runner_on_the_same_journal_is_refused(tmp_path, sb):
    file = tmp_path / "lock.csv"
    write_csv(file, [("L-1", "cust", "b", "1.00", "RUB", "")])
    with open_journal(tmp_path / "lock.csv.journal.sqlite"):
        out = subprocess.run(charge_cmd(sb, file), capture_output=True, text=True, timeout=60)
    assert sb.engine.orders() == []
    assert out.returncode == EXIT_JOURNAL_BUSY and "another runner" in out.stderr


def test_python_api_with_declines_failures_and_a_report(tmp_path, sb):
    good = bind(sb, "good")
    poor = bind(sb, "poor", TestCards.RECURRING_INSUFFICIENT)
    file = tmp_path / "mixed.csv"
    write_csv(file, [("M-1", "good", good, "5.00", "RUB", ""), ("M-2", "poor", poor, "5.00", "RUB", ""),
                     ("M-3", "good", "no-such-binding", "5.00", "RUB", ""),
                     ("M-4", "good", good, "7.00", "RUB", "true")])

    def client():
        return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url,
                                          retry=RetryPolicy(attempts=3), sleep=no_wait)

    runner = BatchRunner(client, tmp_path / "mixed.sqlite", concurrency=2, rate_limit=1000)
    summary = runner.run(file, report=tmp_path / "mixed-report.csv")
    charges = sb.engine.charges_by_order_number()
    # a binding the gateway does not know is a declined row of kind rebind (the customer must bind again)
    assert (summary.paid, summary.declined, summary.failed, summary.held) == (1, 2, 0, 1)
    assert summary.decline_kinds == {"soft": 1, "rebind": 1}
    assert summary.exit_code == EXIT_DECLINED
    report = list(csv.DictReader((tmp_path / "mixed-report.csv").open()))
    assert [r["outcome"] for r in report] == ["paid", "declined", "declined", "held"]
    assert report[1]["action_code"] == "116" and report[2]["gateway_code"] == "2"
    assert [r["decline_kind"] for r in report] == ["", "soft", "rebind", ""]
    assert report[1]["decline_code"] == "116" and report[1]["next_attempt_at"].endswith("Z")
    assert report[2]["next_attempt_at"] == "" and report[1]["attempt"] == "1"
    assert set(charges) == {"FIRST-good", "FIRST-poor", "M-1", "M-4"}
    with pytest.raises(BatchInputError):
        bad = tmp_path / "empty.csv"
        bad.write_text("order_number,client_id\n")
        runner.run(bad)


def test_tbank_rows_by_rebill_id_and_account_token_through_the_cli(tmp_path):
    with Sandbox() as sb:
        client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport="tbank",
                                            return_url=sb.return_url)
        started = client.start_first_payment("FIRST-T", Money.of("1.00", "RUB"), "cust-t")
        sb.pay(started.form_url, TestCards.TBANK_SUCCESS)
        rebill = client.finish_first_payment(order_id=started.order_id, client_id="cust-t").binding.binding_id
        qr = client.bind_sbp_account("Подписка")
        sb.sbp_bind(qr.request_key)
        token = client.sbp_account(qr.request_key).account_token
        file = tmp_path / "tbank.csv"
        with open(file, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["order_number", "rebill_id", "account_token", "amount", "two_stage"])
            writer.writerows([("T-CARD-1", rebill, "", "10.00", ""), ("T-CARD-2", rebill, "", "20.00", "true"),
                              ("T-SBP-1-with-a-36-character-number-x", "", token, "30.00", "")])
        cmd = charge_cmd(sb, file, "--transport", "tbank", "--journal", str(tmp_path / "t.sqlite"))
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)  # a re-run charges nothing
        assert again.returncode == 0, again.stdout + again.stderr
        charges = sb.engine.charges_by_order_number()
        client.close()
    assert charges == {"FIRST-T": 1, "T-CARD-1": 1, "T-CARD-2": 1, "T-SBP-1-with-a-36-character-number-x": 1}
    moves = sorted((m.order_number, m.kind, m.amount) for m in sb.ledger() if m.order_number.startswith("T-"))
    assert moves == [("T-CARD-1", "deposit", 1000), ("T-CARD-1", "hold", 1000), ("T-CARD-2", "hold", 2000),
                     ("T-SBP-1-with-a-36-character-number-x", "deposit", 3000),
                     ("T-SBP-1-with-a-36-character-number-x", "hold", 3000)]  # the two-stage row is held


def test_row_rules_for_tbank_columns(tmp_path):
    from autopay_soap.batch.rows import ChargeRow, RowError, read_rows

    file = tmp_path / "rows.csv"
    file.write_text("order_number,binding_id,rebill_id,account_token,amount,two_stage\n"
                    "A-1,b1,r1,,1.00,\n"        # two keys
                    "A-2,,,tok,1.00,true\n"     # SBP is one-stage
                    "A-3,b1,,,1.00,\n"          # RBS row needs a client_id
                    "A-4,,r1,,1.00,\n", encoding="utf-8")
    rows = list(read_rows(file))
    assert [(r.line, r.field) for r in rows if isinstance(r, RowError)] == [(2, "binding_id"), (3, "two_stage"),
                                                                            (4, "client_id")]
    good = [r for r in rows if isinstance(r, ChargeRow)]
    assert [(r.order_number, r.binding_id, r.client_id) for r in good] == [("A-4", "r1", "")]
