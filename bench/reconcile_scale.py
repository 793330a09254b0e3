"""Reconciliation at scale: N orders in the window, paged through and compared with a journal.

    python bench/reconcile_scale.py [--orders 2000 10000] [--transports rest soap] [--json FILE]

For each N a sandbox (its own process) holds N paid orders of one day, made through its merchant
cabinet, and a SQLite journal holds the same N rows as paid — except 1 % deleted (reported
``gateway_only``) and 1 % refunded in the cabinet (reported ``refunded``). A fresh child process
runs ``reconcile`` over the window (pages of 200, the gateway's maximum) and reports its time, its
peak RSS (``VmHWM``: its own, not the parent's at the fork) and what it found; the found counts
are checked, so a fast wrong answer cannot pass.

Target: memory flat in the number of orders (peak RSS at the largest N within 1.2x of the
smallest) — the list is streamed a page at a time, the order numbers seen are kept on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DAY_START = 1_795_000_000.0  # a fixed day (2026-11-18), so every run lists the same window

SANDBOX = r"""
import sys
from autopay_soap.sandbox import Sandbox
orders, start = int(sys.argv[1]), float(sys.argv[2])
clock = [start]
with Sandbox(clock=lambda: clock[0]) as sb:
    for n in range(orders):
        clock[0] = start + 60 + n * 0.5
        sb.cabinet.charge(f"B-{n:07d}", 100 + n % 900)
        if n % 100 == 1:
            sb.cabinet.refund(f"B-{n:07d}", 50)
    print(sb.url, flush=True)
    sys.stdin.read()  # serve until the bench closes our stdin
"""

RECONCILE = r"""
import datetime as dt, json, resource, sys, time
from autopay_soap import AutopayClient
from autopay_soap.batch import open_journal
from autopay_soap.reconcile import reconcile
url, transport, journal, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
since = dt.datetime.fromtimestamp(start, dt.timezone.utc)
until = since + dt.timedelta(days=1)
started = time.perf_counter()
with AutopayClient.from_profile("sandbox", sandbox_url=url, transport=transport) as client, \
        open_journal(journal) as opened:
    summary = reconcile(client, opened, since, until, lookups_per_second=None)
def peak_rss_mib():
    # VmHWM: this process's own high-water mark. ru_maxrss would carry the parent's RSS at the fork
    # over the exec (Linux keeps the larger of the two), so a parent that built a big journal
    # would show up as this child's memory.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": time.perf_counter() - started, "found": summary.counts,
                  "orders": summary.gateway_orders, "pages": -(-summary.gateway_orders // 200),
                  "complete": summary.complete, "lookups": summary.lookups,
                  "peak_rss_mib": peak_rss_mib()}))
"""


def _journal(path: Path, orders: int) -> Dict[str, int]:
    """N-1 % rows paid, as the sandbox made them; the expected counts of each kind."""
    from autopay_soap.batch import open_journal

    with open_journal(path):
        pass
    deleted = refunded = 0
    with sqlite3.connect(str(path)) as db:
        rows = []
        for n in range(orders):
            if n % 100 == 3:
                deleted += 1
                continue
            refunded += n % 100 == 1
            rows.append((f"B-{n:07d}", n + 1, 100 + n % 900, DAY_START + 60 + n * 0.5))
        db.executemany("INSERT INTO charges (order_number, line, amount_minor, currency, state, attempts, updated_at, "
                       "finished_at) VALUES (?, ?, ?, 'RUB', 'paid', 1, 0, ?)", rows)
    return {"gateway_only": deleted, "refunded": refunded}


def measure(orders: int, transports: List[str]) -> List[Dict[str, Any]]:
    """Reconcile ``orders`` orders over each transport; one result per transport."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sandbox = subprocess.Popen([sys.executable, "-c", SANDBOX, str(orders), str(DAY_START)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env)
    results = []
    try:
        url = sandbox.stdout.readline().strip() if sandbox.stdout else ""
        with tempfile.TemporaryDirectory() as folder:
            for transport in transports:
                journal = Path(folder) / f"{transport}.sqlite"
                expected = _journal(journal, orders)
                out = subprocess.run([sys.executable, "-c", RECONCILE, url, transport, str(journal), str(DAY_START)],
                                     capture_output=True, text=True, env=env, check=True)
                found = json.loads(out.stdout.strip().splitlines()[-1])
                counts = {k: v for k, v in found.pop("found").items() if v}
                if counts != expected or not found["complete"] or found["orders"] != orders:
                    raise SystemExit(f"wrong answer for {orders} orders over {transport}: {counts} != {expected}")
                results.append({"transport": transport, "orders": orders, **found, "found": counts,
                                "orders_per_second": orders / found["seconds"]})
    finally:
        if sandbox.stdin:
            sandbox.stdin.close()
        sandbox.wait(timeout=60)
    return results


def main() -> None:
    """Measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--transports", nargs="+", default=["rest", "soap"], choices=["rest", "soap"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    runs = [run for orders in args.orders for run in measure(orders, args.transports)]
    ratios = {}
    for transport in args.transports:
        mine = [r for r in runs if r["transport"] == transport]
        ratios[transport] = max(r["peak_rss_mib"] for r in mine) / min(r["peak_rss_mib"] for r in mine)
    report = {"runs": runs, "rss_ratio": ratios, "total_seconds": time.perf_counter() - started}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    for run in runs:
        print(f"{run['transport']:5} {run['orders']:>7,} orders: {run['seconds']:6.1f} s "
              f"({run['orders_per_second']:,.0f}/s), peak RSS {run['peak_rss_mib']:.1f} MiB, found {run['found']}",
              file=sys.stderr)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
