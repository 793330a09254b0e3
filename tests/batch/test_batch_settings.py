"""A wrong setting costs nothing: found by the pre-flight, or (rotated mid-run) it stops the run
and leaves the refused rows to the next run, with its own exit code."""

import json
import os
import subprocess
import sys
import threading

import pytest

from autopay_soap import Money
from autopay_soap.batch import (
    EXIT_CONFIG,
    EXIT_DECLINED,
    EXIT_INTERRUPTED,
    EXIT_INVALID_INPUT,
    EXIT_JOURNAL_BUSY,
    EXIT_JOURNAL_UNAVAILABLE,
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_UNKNOWN,
    BatchConfigError,
    BatchRunner,
    open_journal,
)
from autopay_soap.client import AutopayClient
from autopay_soap.sandbox import TestCards
from autopay_soap.sandbox.lifecycle import EventKind

from ..support import docs_script
from ..support.batch import bind, charge_cmd, write_csv

CLI = [sys.executable, "-m", "autopay_soap.cli"]


def env_with(**values):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOPAY_")}
    env.update(values)
    return env


@pytest.mark.parametrize("transport", ["soap", "rest", "tbank"])
def test_a_wrong_password_is_found_before_the_first_charge(tmp_path, transport, sb):
    file = tmp_path / "pw.csv"
    key = "rebill_id" if transport == "tbank" else "binding_id"
    file.write_text(f"order_number,client_id,{key},amount\nPW-1,cust,123456,1.00\n")
    out = subprocess.run(charge_cmd(sb, file, "--transport", transport), capture_output=True, text=True,
                         timeout=60, env=env_with(AUTOPAY_PASSWORD="not-the-password"))
    orders = sb.engine.orders()
    assert out.returncode == EXIT_CONFIG, out.stderr
    assert "pre-flight: the gateway refused the credentials" in out.stderr and "nothing was charged" in out.stderr
    assert "not-the-password" not in out.stderr + out.stdout
    assert orders == [] and not (tmp_path / "pw.csv.journal.sqlite").exists()


def test_no_return_url_with_a_real_profile_is_a_setting_not_a_failed_row(tmp_path, sb):
    binding = bind(sb, "cust")
    file = tmp_path / "ret.csv"
    write_csv(file, [(f"RU-{i}", "cust", binding, "1.00", "RUB", "") for i in range(3)])
    env = env_with(AUTOPAY_REST_URL=sb.rest_url, AUTOPAY_USERNAME=sb.username, AUTOPAY_PASSWORD=sb.password)
    cmd = CLI + ["charge", str(file), "--profile", "rbs-test", "--transport", "rest"]
    missing = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert not (tmp_path / "ret.csv.journal.sqlite").exists()
    fixed = subprocess.run(cmd + ["--return-url", sb.return_url], capture_output=True, text=True, timeout=60,
                           env=env)
    charges = sb.engine.charges_by_order_number()
    assert missing.returncode == EXIT_CONFIG
    assert missing.stderr.count("\n") == 1 and "return_url: is required" in missing.stderr
    assert "--return-url" in missing.stderr
    assert fixed.returncode == EXIT_OK, fixed.stderr
    assert json.loads(fixed.stdout)["charged_this_run"] == 3
    assert all(charges[f"RU-{i}"] == 1 for i in range(3))


def test_tbank_rules_are_checked_on_every_row_before_anything_is_charged(tmp_path, sb):
    client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport="tbank",
                                        return_url=sb.return_url)
    first = client.start_first_payment("TB-FIRST", Money.of("1.00", "RUB"), "cust")
    sb.pay(first.form_url, TestCards.TBANK_SUCCESS)
    rebill = client.finish_first_payment(order_id=first.order_id, client_id="cust").binding.binding_id
    client.close()
    file = tmp_path / "tb.csv"
    file.write_text("order_number,rebill_id,amount,currency\n"
                    f"TB-1,{rebill},1.00,RUB\nTB-2,{rebill},1.00,RUB\nTB-3,{rebill},1.00,USD\n")
    out = subprocess.run(charge_cmd(sb, file, "--transport", "tbank"), capture_output=True, text=True,
                         timeout=60)
    charged = [n for n in sb.engine.charges_by_order_number() if n.startswith("TB-") and n != "TB-FIRST"]
    assert out.returncode == EXIT_INVALID_INPUT
    assert "line 4, column amount: T-Bank accepts RUB only, got USD" in out.stderr
    assert charged == []


class RotateAt:
    """Rotates the sandbox's password while it answers batch charge number ``at``."""

    def __init__(self, sb, at, prefix):
        self.sb, self.at, self.prefix, self.count = sb, at, prefix, 0
        self._lock = threading.Lock()
        self._inner = sb.engine.on_event
        sb.engine.on_event = self

    def __call__(self, event):
        if event.kind in (EventKind.CHARGED, EventKind.DEPOSITED) and event.order.order_number.startswith(self.prefix):
            with self._lock:
                self.count += 1
                if self.count == self.at:
                    self.sb.rotate_password("rotated-password")
        self._inner(event)


@pytest.mark.parametrize("transport", ["soap", "rest"])
def test_a_password_rotated_mid_run_stops_the_run_and_the_fixed_run_charges_the_rest_once(tmp_path, transport, sb):
    rows = 40
    binding = bind(sb, "cust")
    file = tmp_path / "rot.csv"
    write_csv(file, [(f"RO-{i:03d}", "cust", binding, "1.00", "RUB", "") for i in range(rows)])
    RotateAt(sb, 8, "RO-")
    first = subprocess.run(charge_cmd(sb, file, "--transport", transport, "--concurrency", "2"),
                           capture_output=True, text=True, timeout=120)
    with open_journal(tmp_path / "rot.csv.journal.sqlite") as journal:
        states = journal.counts()
    second = subprocess.run(charge_cmd(sb, file, "--transport", transport), capture_output=True, text=True,
                            timeout=120, env=env_with(AUTOPAY_PASSWORD="rotated-password"))
    charges = sb.engine.charges_by_order_number()
    summary = json.loads(first.stdout)
    assert first.returncode == EXIT_CONFIG, first.stderr
    assert summary["config_error"] and summary["stopped_by"] == "configuration" and not summary["interrupted"]
    assert "failed" not in states and summary["failed"] == 0  # never "failed for ever"
    assert summary["retry"] >= 1 and summary["paid"] + summary["retry"] + summary["not_started"] \
        + summary["unknown"] == rows
    assert summary["paid"] < rows
    assert "stopped:" in first.stderr and "left for the next run" in first.stderr
    assert second.returncode == EXIT_OK, second.stderr
    again = json.loads(second.stdout)
    assert again["paid"] == rows and again["charged_this_run"] == rows - summary["paid"]
    assert all(charges[f"RO-{i:03d}"] == 1 for i in range(rows))


def test_the_python_api_raises_a_configuration_error_for_refused_credentials(tmp_path, sb):
    file = tmp_path / "api.csv"
    write_csv(file, [("API-1", "cust", "b-1", "1.00", "RUB", "")])
    runner = BatchRunner(lambda: AutopayClient.from_profile("sandbox", sandbox_url=sb.url, password="wrong",
                                                            return_url=sb.return_url, transport="rest"),
                         tmp_path / "api.sqlite")
    with pytest.raises(BatchConfigError) as info:
        runner.run(file, dry_run=True)  # a dry run runs the whole pre-flight
    assert info.value.setting == "credentials" and "AccessDenied" in str(info.value)


def test_charge_help_lists_every_exit_code_and_the_environment():
    out = subprocess.run(CLI + ["charge", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    codes = {int(line.split()[0]) for line in out.stdout.split("exit codes:")[1].split("environment")[0].splitlines()
             if line.strip()[:1].isdigit()}
    assert codes == {EXIT_OK, EXIT_CONFIG, EXIT_DECLINED, EXIT_UNKNOWN, EXIT_INVALID_INPUT, EXIT_JOURNAL_BUSY,
                     EXIT_MISMATCH, EXIT_JOURNAL_UNAVAILABLE, EXIT_INTERRUPTED}
    assert "143 by SIGTERM" in out.stdout and EXIT_TERMINATED == 143
    for name in ("AUTOPAY_PROFILE", "AUTOPAY_PASSWORD", "AUTOPAY_RETURN_URL", "AUTOPAY_TIMEOUT", "AUTOPAY_CA_BUNDLE"):
        assert name in out.stdout


@pytest.mark.parametrize("code, finished", [(EXIT_OK, True), (EXIT_DECLINED, True), (EXIT_UNKNOWN, False),
                                            (EXIT_INTERRUPTED, False), (EXIT_TERMINATED, False),
                                            (EXIT_CONFIG, False), (EXIT_INVALID_INPUT, False),
                                            (EXIT_JOURNAL_BUSY, False), (EXIT_MISMATCH, False)])
def test_the_cron_script_in_the_docs_alerts_on_every_code_but_a_finished_run(tmp_path, code, finished):
    script, bin_dir = docs_script(tmp_path, "charge-nightly.sh", f'echo "$@" > "{tmp_path}/args"\nexit {code}')
    out = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=30,
                         env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert (tmp_path / "args").read_text().startswith("charge today.csv --profile sber-prod")
    assert (out.returncode == 0) is finished
    assert (out.stderr == "") is finished  # cron mails any output: silence means done
    if not finished:
        assert f"(exit {code}" in out.stderr
