"""Helpers of the batch tests: a bound card, a batch file, the ``autopay-soap charge`` command,
a run started and stopped at a known point."""

import csv
import subprocess
import sys
import threading

from autopay_soap import Money
from autopay_soap.client import AutopayClient
from autopay_soap.sandbox import TestCards
from autopay_soap.sandbox.lifecycle import EventKind


def bind(sb, client_id, card=TestCards.SUCCESS):
    client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url)
    started = client.start_first_payment(f"FIRST-{client_id}", Money.of("1.00", "RUB"), client_id)
    sb.pay(started.form_url, card)
    return client.finish_first_payment(order_id=started.order_id).binding.binding_id


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_number", "client_id", "binding_id", "amount", "currency", "two_stage"])
        writer.writerows(rows)


def charge_cmd(sb, file, *extra):
    return [sys.executable, "-m", "autopay_soap.cli", "charge", str(file), "--profile", "sandbox",
            "--sandbox-url", sb.url, "--attempts", "8", *extra]


class ChargeCounter:
    """Sets an event once the sandbox has taken ``target`` charges (no polling, no sleeping)."""

    def __init__(self, sb, target):
        self.target, self.count, self.reached = target, 0, threading.Event()
        self._inner = sb.engine.on_event
        self._lock = threading.Lock()
        sb.engine.on_event = self

    def __call__(self, event):
        if event.kind in (EventKind.HELD, EventKind.CHARGED, EventKind.DEPOSITED):
            with self._lock:
                self.count += 1
                if self.count >= self.target:
                    self.reached.set()
        self._inner(event)


def start_charging(sb, file, prefix, rows, after, *args, amount="1.00", faults=None):
    """Bind a card, write ``rows`` rows, start ``autopay-soap charge`` and return once ``after`` are charged."""
    binding = bind(sb, "cust")
    write_csv(file, [(f"{prefix}-{i:04d}", "cust", binding, amount, "RUB", "") for i in range(rows)])
    sb.faults = faults
    counter = ChargeCounter(sb, after)
    proc = subprocess.Popen(charge_cmd(sb, file, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert counter.reached.wait(120), "the runner never charged that many rows"
    return proc
