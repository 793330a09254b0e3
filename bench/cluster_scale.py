"""Scale-out: autopayments per second charged by 1, 2 and 4 Celery workers (4 processes each)
against the sandbox at 100 ms latency, with the journal in PostgreSQL and Redis as the broker,
both throwaway servers on this machine.

    python bench/cluster_scale.py [--rows 400] [--workers 1 2 4]

ideal = rows x calls per autopayment x latency / (workers x 4); efficiency = ideal / actual;
speed-up = rate with N workers / rate with one (target >= 0.85 x N). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import make_binding, process_cpu, start_sandbox, write_charge_file  # noqa: E402
from tests.support.pg_server import running_server, server_bin  # noqa: E402
from tests.support.redis_server import RedisServer, redis_binary  # noqa: E402

CALLS_PER_AUTOPAYMENT = 3  # registerOrder, paymentOrderBinding, getOrderStatusExtended
PROCESSES_PER_WORKER = 4
LATENCY_MS = 100.0


def _worker(name: str, env: Dict[str, str]) -> "subprocess.Popen[str]":
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "autopay_soap.celery", "worker", "-n",
                             f"{name}@%h", "--pool", "prefork", "--concurrency", str(PROCESSES_PER_WORKER),
                             "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if " ready." in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        raise RuntimeError(f"worker {name} did not start")
    return proc


def _cpu_times() -> List[int]:
    """The machine's CPU counters (/proc/stat): busy and total jiffies."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return [sum(fields) - idle, sum(fields)]


def one_run(workers: int, rows: int, url: str, binding: str, pg: str, broker: str,
            sandbox_pid: int) -> Dict[str, Any]:
    """Charge ``rows`` with ``workers`` workers; the timing."""
    import psycopg

    from autopay_soap.celery import ClusterRunner
    from autopay_soap.client import AutopayClient

    database = f"scale_{workers}_{time.time_ns()}"
    with psycopg.connect(pg, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{database}"')
    dsn = pg.rsplit("/", 1)[0] + "/" + database
    env = dict(os.environ, AUTOPAY_PROFILE="sandbox", AUTOPAY_SANDBOX_URL=url, AUTOPAY_RETURN_URL=url + "/r",
               AUTOPAY_JOURNAL_DSN=dsn, AUTOPAY_CELERY_BROKER=broker)
    procs = [_worker(f"w{i}", env) for i in range(workers)]
    folder = Path(tempfile.mkdtemp(prefix="autopay-scale-"))
    file = write_charge_file(folder / "rows.csv", f"SC{workers}-{database[-8:]}", binding, rows)
    try:
        runner = ClusterRunner(lambda: AutopayClient.from_profile("sandbox", sandbox_url=url, return_url=url + "/r"),
                               dsn + "?merchant=bench&batch=scale", broker=broker, quiet=True, poll_interval=0.05)
        cpu_before, sandbox_before = _cpu_times(), process_cpu(sandbox_pid)
        started = time.perf_counter()
        summary = runner.run(file)
        actual = time.perf_counter() - started
        cpu_after, sandbox_cpu = _cpu_times(), process_cpu(sandbox_pid) - sandbox_before
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    ideal = rows * CALLS_PER_AUTOPAYMENT * LATENCY_MS / 1000 / (workers * PROCESSES_PER_WORKER)
    return {"workers": workers, "rows": rows, "paid": summary.paid, "actual_s": actual, "ideal_s": ideal,
            "efficiency": ideal / actual, "per_second": rows / actual,
            "machine_cpu_busy": (cpu_after[0] - cpu_before[0]) / max(cpu_after[1] - cpu_before[1], 1),
            "sandbox_cpu_of_one_core": sandbox_cpu / actual}


def main(argv: List[str] = sys.argv[1:]) -> Dict[str, Any]:
    """Run every worker count; print a line each and the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args(argv)
    bin_dir, redis = server_bin(), redis_binary()
    if bin_dir is None or redis is None:
        raise SystemExit("the scale-out benchmark needs PostgreSQL and Redis (apt-get install postgresql redis-server)")
    sandbox, url = start_sandbox(LATENCY_MS)
    broker = RedisServer(redis)
    pg_servers = running_server(bin_dir)
    pg = next(pg_servers)
    runs = []
    try:
        binding = make_binding(url)
        for workers in args.workers:
            run = one_run(workers, args.rows, url, binding, pg, broker.url, sandbox.pid)
            runs.append(run)
            print(f"  cluster {workers} worker(s) x {PROCESSES_PER_WORKER}: {run['actual_s']:6.1f} s, "
                  f"ideal {run['ideal_s']:5.1f} s, efficiency {run['efficiency']:.2f}, {run['per_second']:5.1f}/s, "
                  f"machine CPU busy {run['machine_cpu_busy']:.0%}, "
                  f"sandbox {run['sandbox_cpu_of_one_core']:.0%} of a core",
                  flush=True)
    finally:
        pg_servers.close()
        broker.close()
        sandbox.terminate()
        sandbox.wait()
    base = runs[0]["per_second"] / runs[0]["workers"]
    for run in runs:
        run["speed_up"] = run["per_second"] / base
        run["speed_up_over_ideal"] = run["speed_up"] / run["workers"]
    result = {"latency_ms": LATENCY_MS, "processes_per_worker": PROCESSES_PER_WORKER, "runs": runs}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
