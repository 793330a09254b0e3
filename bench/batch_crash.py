"""Crash and resume: N autopayments against the sandbox with mixed faults; the runner is
killed with SIGKILL about halfway, then run again on the same journal. The sandbox ledger is
then compared with the report: one charge per row reported paid, none per row declined.

    python bench/batch_crash.py [--rows 2000] [--faults 0.2]
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from autopay_soap import AutopayClient, Money
from autopay_soap.sandbox import FaultPlan, Sandbox, TestCards
from autopay_soap.sandbox.faults import FAULT_KINDS
from autopay_soap.sandbox.lifecycle import EventKind


def main() -> None:
    """Run the crash-and-resume scenario and print the counts."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--faults", type=float, default=0.2, help="total fault probability per call")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="autopay-crash-")
    file = os.path.join(folder, "batch.csv")
    with Sandbox() as sb:
        client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url)
        bindings = {}
        for name, card in (("good", TestCards.SUCCESS), ("poor", TestCards.RECURRING_INSUFFICIENT)):
            started = client.start_first_payment(f"FIRST-{name}", Money.of("1.00", "RUB"), name)
            sb.pay(started.form_url or "", card)
            bindings[name] = client.finish_first_payment(order_id=started.order_id).binding.binding_id  # type: ignore
        with open(file, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["order_number", "client_id", "binding_id", "amount"])
            for i in range(args.rows):
                who = "poor" if i % 10 == 0 else "good"
                writer.writerow([f"C-{i:05d}", who, bindings[who], "4.99"])
        plan = FaultPlan(seed=2026, slow_seconds=0.5)
        for kind in FAULT_KINDS:
            plan.add("*", kind, args.faults / len(FAULT_KINDS))
        sb.faults = plan
        halfway = threading.Event()
        taken = [0]
        inner = sb.engine.on_event

        def count(event):  # type: ignore[no-untyped-def]
            if event.kind in (EventKind.CHARGED, EventKind.DEPOSITED):
                taken[0] += 1
                if taken[0] >= args.rows // 2:
                    halfway.set()
            inner(event)

        sb.engine.on_event = count
        cmd = [sys.executable, "-m", "autopay_soap.cli", "charge", file, "--profile", "sandbox", "--sandbox-url",
               sb.url, "--concurrency", str(args.concurrency), "--attempts", "8"]
        started_at = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        halfway.wait(600)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        first_seconds = time.monotonic() - started_at
        charges_at_kill = sum(1 for n in sb.engine.charges_by_order_number() if n.startswith("C-"))
        started_at = time.monotonic()
        second = subprocess.run(cmd + ["--report", os.path.join(folder, "report.csv")], capture_output=True,
                                text=True)
        second_seconds = time.monotonic() - started_at
        sb.faults = None
        charges = sb.engine.charges_by_order_number()
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    report = list(csv.DictReader(open(os.path.join(folder, "report.csv"))))
    outcomes = collections.Counter(r["outcome"] for r in report)
    paid_ok = sum(1 for r in report if r["outcome"] == "paid" and charges.get(r["order_number"]) == 1)
    declined_clean = sum(1 for r in report if r["outcome"] == "declined" and r["order_number"] not in charges)
    doubles = sum(1 for n, c in charges.items() if c > 1)
    print(f"rows {args.rows}, faults {args.faults:.0%} over {len(FAULT_KINDS)} kinds: {dict(plan.injected)}")
    print(f"first run killed with SIGKILL after {first_seconds:.1f} s, with {charges_at_kill} rows charged")
    print(f"second run: exit {second.returncode} in {second_seconds:.1f} s; reconciled {summary['reconciled']}")
    print(f"report outcomes: {dict(outcomes)}")
    print(f"ledger: paid rows charged exactly once {paid_ok}/{outcomes['paid']}; declined rows with no charge "
          f"{declined_clean}/{outcomes['declined']}; orders charged twice: {doubles}")


if __name__ == "__main__":
    main()
