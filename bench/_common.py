"""Helpers shared by the benchmarks: a sandbox in its own process, a binding to charge."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Tuple

import requests


def start_sandbox(latency_ms: float = 0) -> "Tuple[subprocess.Popen[str], str]":
    """``autopay-soap sandbox`` on a free port in a child process; returns it and its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "autopay_soap.cli", "sandbox", "--quiet", "--port", "0", "--latency",
                             f"{latency_ms}ms"], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split()[-1]  # type: ignore[union-attr]
    return proc, url


def make_binding(url: str, client_id: str = "bench") -> str:
    """Pay a first payment on the sandbox page (as the payer) and return the new binding id."""
    from autopay_soap import AutopayClient, Money

    client = AutopayClient.from_profile("sandbox", sandbox_url=url, return_url=url + "/r")
    started = client.start_first_payment(f"BENCH-FIRST-{time.time_ns()}", Money.of("1.00", "RUB"), client_id)
    paid = requests.post(url + "/_sandbox/pay", json={"form_url": started.form_url, "card": "SUCCESS"}, timeout=10)
    paid.raise_for_status()
    binding = client.finish_first_payment(order_id=started.order_id).binding
    client.close()
    assert binding is not None
    return binding.binding_id


def process_cpu(pid: int) -> float:
    """Seconds of CPU process ``pid`` has used so far (Linux ``/proc/PID/stat``: utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_charge_file(path: Path, prefix: str, binding: str, rows: int) -> Path:
    """A batch file of ``rows`` autopayments of 1.00 RUB on ``binding`` (client ``bench``), numbered
    ``<prefix>-0``, ``<prefix>-1``...; returns ``path``."""
    with path.open("w") as handle:
        handle.write("order_number,client_id,binding_id,amount\n")
        for i in range(rows):
            handle.write(f"{prefix}-{i},bench,{binding},1.00\n")
    return path


def sandbox_client_factory(url: str, transport: str = "soap") -> Callable[[], Any]:
    """A client factory for the sandbox at ``url``: ``soap``, ``soap-zeep`` (SOAP with the compiled
    codecs off), ``rest`` or ``tbank``. A partial, not a closure: worker processes unpickle it."""
    from autopay_soap import AutopayClient

    extra = {"soap_compiled": False} if transport == "soap-zeep" else {}
    return functools.partial(AutopayClient.from_profile, "sandbox", sandbox_url=url, return_url=url + "/r",
                             transport=transport.split("-")[0], **extra)
