"""Stopping a batch: after SIGINT or SIGTERM no charge starts; a second signal ends at once.

The signal is sent from inside the sandbox while it answers a charge, so "at that moment" is
exact: the charges the sandbox takes after it are compared with what the runner says was in
flight, and with the concurrency.
"""

import json
import signal
import subprocess
import threading

import pytest

from autopay_soap.batch import EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, open_journal
from autopay_soap.sandbox import Sandbox
from autopay_soap.sandbox.lifecycle import EventKind

from ..support.batch import bind, charge_cmd, write_csv

PAID_KINDS = (EventKind.HELD, EventKind.CHARGED, EventKind.DEPOSITED)

pytestmark = pytest.mark.slow  # signals and subprocesses, or hypothesis over every reply


class SignalAtCharge:
    """Sends ``signum`` to the runner from inside the sandbox when it takes charge number ``at``
    (before it answers), and counts every charge."""

    def __init__(self, sb, at, signum):
        self.at, self.signum = at, signum
        self.count = 0
        self.count_at_signal = None
        self.proc = None
        self.sent = threading.Event()
        self._lock = threading.Lock()
        self._inner = sb.engine.on_event
        sb.engine.on_event = self

    def __call__(self, event):
        if event.kind in PAID_KINDS and event.order.order_number.startswith("S-"):
            with self._lock:
                self.count += 1
                if self.count == self.at:
                    self.count_at_signal = self.count
                    self.proc.send_signal(self.signum)
                    self.sent.set()
        self._inner(event)


@pytest.mark.parametrize("signum, code, processes", [
    (signal.SIGINT, EXIT_INTERRUPTED, "1"),
    (signal.SIGTERM, EXIT_TERMINATED, "1"),
    (signal.SIGINT, EXIT_INTERRUPTED, "2"),
])
def test_after_the_signal_no_charge_starts_even_with_a_rate_limit(tmp_path, signum, code, processes):
    rows, concurrency = 60, 4
    with Sandbox(latency=0.005) as sb:
        binding = bind(sb, "cust")
        file = tmp_path / "stop.csv"
        write_csv(file, [(f"S-{i:03d}", "cust", binding, "1.00", "RUB", "") for i in range(rows)])
        trigger = SignalAtCharge(sb, 10, signum)
        trigger.proc = subprocess.Popen(charge_cmd(sb, file, "--rate", "8", "--concurrency", str(concurrency),
                                                   "--processes", processes),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = trigger.proc.communicate(timeout=120)
        assert trigger.sent.is_set(), err
        charged = trigger.count
        charged_after = charged - trigger.count_at_signal
        summary = json.loads(out.strip().splitlines()[-1])
        with open_journal(tmp_path / "stop.csv.journal.sqlite") as journal:
            states = journal.counts()
        resumed = subprocess.run(charge_cmd(sb, file, "--processes", processes), capture_output=True, text=True,
                                 timeout=120)
        final = sb.engine.charges_by_order_number()
    assert trigger.proc.returncode == code, err
    assert summary["interrupted"] and summary["stopped_by"] == signal.Signals(signum).name
    # the charges the gateway took after the signal were all in flight when it came
    assert charged_after <= summary["in_flight_at_stop"] <= concurrency
    assert summary["paid"] == charged and summary["paid"] < rows // 2
    assert summary["not_started"] + summary["unknown"] == rows - summary["paid"]
    assert "in_flight" not in states  # whatever was in flight was recorded
    assert f"{signal.Signals(signum).name}: stopping; no new charge starts" in err
    assert resumed.returncode == EXIT_OK, resumed.stderr
    assert len(final) == rows + 1 and max(final.values()) == 1  # each row once (plus the first payment)


class HoldCharges:
    """Blocks the sandbox's answer to every batch charge until released; ``entered`` is set at the first."""

    def __init__(self, sb):
        self.entered = threading.Event()
        self.release = threading.Event()
        self._inner = sb.engine.on_event
        sb.engine.on_event = self

    def __call__(self, event):
        if event.kind in PAID_KINDS and event.order.order_number.startswith("H-"):
            self.entered.set()
            self.release.wait(60)
        self._inner(event)


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_second_signal_ends_at_once_and_the_next_run_reconciles(tmp_path, processes, sb):
    rows = 20
    binding = bind(sb, "cust")
    file = tmp_path / "hold.csv"
    write_csv(file, [(f"H-{i:03d}", "cust", binding, "1.00", "RUB", "") for i in range(rows)])
    hold = HoldCharges(sb)
    proc = subprocess.Popen(charge_cmd(sb, file, "--concurrency", "2", "--processes", processes, "--quiet"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert hold.entered.wait(60), "no charge reached the sandbox"
        proc.send_signal(signal.SIGINT)
        first_notice = proc.stderr.readline()  # the runner has closed its gate: the next signal is the second
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)  # while the charge is still held by the sandbox
        held_when_it_ended = not hold.release.is_set()
    finally:
        hold.release.set()
    with open_journal(tmp_path / "hold.csv.journal.sqlite") as journal:
        states = journal.counts()
    resumed = subprocess.run(charge_cmd(sb, file, "--processes", processes), capture_output=True, text=True,
                             timeout=120)
    final = sb.engine.charges_by_order_number()
    assert "SIGINT: stopping; no new charge starts" in first_notice
    assert held_when_it_ended and proc.returncode == EXIT_INTERRUPTED
    assert "stopped at once by a second SIGINT" in err and out == ""
    assert states.get("in_flight", 0) >= 1  # left for the next run
    assert resumed.returncode == EXIT_OK, resumed.stderr
    assert json.loads(resumed.stdout)["reconciled"] >= 1
    assert len(final) == rows + 1 and max(final.values()) == 1
