"""The batch wing at scale: the pre-flight of a big file, a cluster producer queuing rows, and
the local runner's own CPU per row.

    python bench/batch_scale.py [--preflight-rows 1000000] [--producer-rows 100000 1000000]
                                [--cpu-rows 5000] [--json FILE]

(a) **Pre-flight**: ``BatchRunner(...).run(file, dry_run=True)`` on a CSV of N rows (every row
    read and checked for the file and for the SOAP transport, no gateway call): seconds and
    peak RSS of a fresh process. Target: within 1.2x of the previous release on both.
(b) **Cluster producer**: ``ClusterRunner`` loading N rows into a real PostgreSQL journal and
    sending N tasks to a real Redis, with no worker running (so the rows stay queued and the
    producer stops waiting at once): rows per second of the queueing (the run's time minus the
    same file's dry run: spooling, loading, sending and the summary) and peak RSS; and, apart,
    the rate of the load-and-send pass alone (``CeleryExecutor.charge``). Targets: 20,000
    rows/s; RSS flat from the smallest to the largest N (ratio <= 1.2).
(c) **Runner CPU per row**: the local runner (threads, SQLite journal) against a client that
    answers at once: the process's CPU per row, against the client CPU of one real autopayment
    over SOAP to the sandbox (in its own process). Target: at most 0.15.

Each measurement runs in a fresh child process that reports its own ``ru_maxrss``. Run it
from a checkout of any version to compare: the APIs it uses are the same since 0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import make_binding, start_sandbox, write_charge_file  # noqa: E402

PREFLIGHT = r"""
import json, resource, sys, time
from autopay_soap import AutopayClient
from autopay_soap.batch import BatchRunner
file, journal = sys.argv[1], sys.argv[2]
factory = lambda: AutopayClient.from_profile("sandbox", sandbox_url="http://127.0.0.1:9", return_url="http://x/r")
started = time.perf_counter()
summary = BatchRunner(factory, journal, check_access=False, quiet=True).run(file, dry_run=True)
print(json.dumps({"rows": summary.rows, "seconds": time.perf_counter() - started,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PRODUCER = r"""
import json, resource, sys, time
from autopay_soap import AutopayClient
from autopay_soap.batch import BatchRunner
from autopay_soap.celery import ClusterRunner
file, journal, broker, folder = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
factory = lambda: AutopayClient.from_profile("sandbox", sandbox_url="http://127.0.0.1:9", return_url="http://x/r")
started = time.perf_counter()
BatchRunner(factory, folder + "/dry.sqlite", check_access=False, quiet=True).run(file, dry_run=True)
dry = time.perf_counter() - started
charging = [0.0]
try:  # the load-and-send pass alone (its short wait for workers included), where the executor exists
    from autopay_soap.celery import CeleryExecutor
    def timed(charge):
        def run(self, job):
            began = time.perf_counter()
            try:
                return charge(self, job)
            finally:
                charging[0] += time.perf_counter() - began
        return run
    CeleryExecutor.charge = timed(CeleryExecutor.charge)
except ImportError:
    charging = [None]
started = time.perf_counter()
summary = ClusterRunner(factory, journal, broker=broker, check_access=False, quiet=True, poll_interval=0.05,
                        give_up_after=0.05).run(file)
run = time.perf_counter() - started
print(json.dumps({"rows": summary.rows, "not_started": summary.not_started, "run_seconds": run, "dry_seconds": dry,
                  "queue_seconds": run - dry, "rows_per_second": summary.rows / max(run - dry, 1e-9),
                  "load_send_seconds": charging[0],
                  "load_send_rows_per_second": summary.rows / charging[0] if charging[0] else None,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

RUNNER_CPU = r"""
import json, resource, sys, time
from autopay_soap import AutopayClient
from autopay_soap.batch import BatchRunner
from autopay_soap.client import ChargeOutcome, ChargeResult

class Instant:
    '''A client whose gateway answers at once: every autopayment is paid.'''
    events = ()
    def __init__(self):
        self.real = AutopayClient.from_profile("sandbox", sandbox_url="http://127.0.0.1:9", return_url="http://x/r")
    def check_autopay(self, *args, **kwargs):
        return self.real.check_autopay(*args, **kwargs)
    def check_access(self):
        pass
    def autopay(self, order_number, amount, **kwargs):
        return ChargeResult(order_number, ChargeOutcome.PAID, order_id="o-" + order_number, action_code=0)
    def charge(self, payment, **kwargs):  # what the batch sends a checked row with (since 0.x)
        return self.autopay(payment.order_number, payment.amount)
    def close(self):
        self.real.close()

file, folder = sys.argv[1], sys.argv[2]
before = time.process_time()
BatchRunner(Instant, folder + "/dry.sqlite", check_access=False, quiet=True).run(file, dry_run=True)
preflight = time.process_time() - before
before = time.process_time()
summary = BatchRunner(Instant, folder + "/run.sqlite", check_access=False, quiet=True, concurrency=1).run(file)
total = time.process_time() - before
print(json.dumps({"rows": summary.rows, "paid": summary.paid, "cpu_per_row_ms": total / summary.rows * 1000,
                  "cpu_per_row_without_preflight_ms": (total - preflight) / summary.rows * 1000}))
"""

CLIENT_CPU = r"""
import json, sys, time
from autopay_soap import AutopayClient, Money
url, binding, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = AutopayClient.from_profile("sandbox", sandbox_url=url, return_url=url + "/r")
tag = time.time_ns() % 10**9
client.autopay(f"CPU-{tag}-w", Money.of("1.00", "RUB"), client_id="bench", binding_id=binding)  # warm up
before = time.process_time()
for i in range(count):
    client.autopay(f"CPU-{tag}-{i}", Money.of("1.00", "RUB"), client_id="bench", binding_id=binding)
print(json.dumps({"autopayments": count, "client_cpu_ms": (time.process_time() - before) / count * 1000}))
"""


def _child(code: str, *args: str) -> Dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def preflight(rows: int) -> Dict[str, Any]:
    """(a): the dry run of ``rows`` rows."""
    folder = Path(tempfile.mkdtemp(prefix="autopay-scale-"))
    file = write_charge_file(folder / "rows.csv", "PF", "b" * 36, rows)
    return _child(PREFLIGHT, str(file), str(folder / "j.sqlite"))


def producer(sizes: List[int]) -> Optional[Dict[str, Any]]:
    """(b): the cluster producer's queueing of each size; None without PostgreSQL and Redis."""
    from tests.support.pg_server import running_server, server_bin
    from tests.support.redis_server import RedisServer, redis_binary

    bin_dir, redis = server_bin(), redis_binary()
    if bin_dir is None or redis is None:
        print("  (b) skipped: needs PostgreSQL and Redis (apt-get install postgresql redis-server)")
        return None
    broker = RedisServer(redis)
    servers = running_server(bin_dir)
    pg = next(servers)
    runs = []
    try:
        for rows in sizes:
            folder = Path(tempfile.mkdtemp(prefix="autopay-producer-"))
            file = write_charge_file(folder / "rows.csv", f"PR{rows}", "b" * 36, rows)
            journal = f"{pg}?merchant=bench&batch=p{rows}-{time.time_ns()}"
            run = _child(PRODUCER, str(file), journal, broker.url, str(folder))
            runs.append(run)
            phase = (f" (load and send alone {run['load_send_rows_per_second']:,.0f} rows/s)"
                     if run.get("load_send_rows_per_second") else "")
            print(f"  (b) producer {rows:>9,} rows: queued in {run['queue_seconds']:7.1f} s, "
                  f"{run['rows_per_second']:8,.0f} rows/s{phase}, peak RSS {run['peak_rss_mib']:6.1f} MiB", flush=True)
    finally:
        servers.close()
        broker.close()
    return {"runs": runs, "rss_ratio": runs[-1]["peak_rss_mib"] / runs[0]["peak_rss_mib"]}


def runner_cpu(rows: int, autopayments: int = 300) -> Dict[str, Any]:
    """(c): the runner's own CPU per row against one autopayment's client CPU."""
    folder = Path(tempfile.mkdtemp(prefix="autopay-cpu-"))
    file = write_charge_file(folder / "rows.csv", "RC", "b" * 36, rows)
    runner = _child(RUNNER_CPU, str(file), str(folder))
    sandbox, url = start_sandbox()
    try:
        client = _child(CLIENT_CPU, url, make_binding(url), str(autopayments))
    finally:
        sandbox.terminate()
        sandbox.wait()
    return {**runner, **client, "ratio": runner["cpu_per_row_ms"] / client["client_cpu_ms"],
            "ratio_without_preflight": runner["cpu_per_row_without_preflight_ms"] / client["client_cpu_ms"]}


def main(argv: List[str] = sys.argv[1:]) -> Dict[str, Any]:
    """Run the three measurements; print a line each and the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preflight-rows", type=int, default=1_000_000)
    parser.add_argument("--producer-rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--cpu-rows", type=int, default=5_000)
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    result: Dict[str, Any] = {}
    if args.preflight_rows:
        found = result["preflight"] = preflight(args.preflight_rows)
        print(f"  (a) pre-flight {found['rows']:>9,} rows: {found['seconds']:6.1f} s, "
              f"peak RSS {found['peak_rss_mib']:6.1f} MiB", flush=True)
    if args.producer_rows:
        result["producer"] = producer(args.producer_rows)
    if args.cpu_rows:
        found = result["runner_cpu"] = runner_cpu(args.cpu_rows)
        print(f"  (c) runner CPU {found['cpu_per_row_ms']:.3f} ms a row "
              f"({found['cpu_per_row_without_preflight_ms']:.3f} ms without the pre-flight) against "
              f"{found['client_cpu_ms']:.3f} ms of client CPU an autopayment: ratio {found['ratio']:.3f} "
              f"({found['ratio_without_preflight']:.3f})", flush=True)
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
