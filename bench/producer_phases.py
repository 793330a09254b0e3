"""Where a cluster producer's time goes, phase by phase: the pre-flight (with its spool), the
journal's ``COPY`` and upsert, the sends to Redis, the wait for workers, the summary and its
journal look-ups, per row, against the same file's dry run.

    python bench/producer_phases.py [ROWS]      (default 100,000; needs PostgreSQL and Redis)

It starts a throw-away PostgreSQL and Redis (as the tests do), runs no worker, and wraps the
runner's phases with timers. Run it three times and keep the best of each phase: on a small
machine the timings drift by up to 30 % between runs.
"""

from __future__ import annotations

import functools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import write_charge_file  # noqa: E402

SPENT: Dict[str, float] = {}


def _timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[name] = SPENT.get(name, 0.0) + time.perf_counter() - began
    return run


def _install_timers() -> None:
    from autopay_soap.batch import runner as runner_module
    from autopay_soap.batch.journal.postgres import PostgresJournal
    from autopay_soap.celery import CeleryExecutor

    if getattr(CeleryExecutor.charge, "__wrapped__", None) is not None:
        return  # installed already
    runner_module.check_file = _timed("pre-flight", runner_module.check_file)
    runner_module.summarise = _timed("summary", runner_module.summarise)
    CeleryExecutor.charge = _timed("load, send, wait", CeleryExecutor.charge)
    CeleryExecutor._send_all = _timed("  sends", CeleryExecutor._send_all)
    CeleryExecutor._follow = _timed("  wait", CeleryExecutor._follow)
    PostgresJournal.queue_many = _timed("  COPY and upsert", PostgresJournal.queue_many)
    PostgresJournal.entries = _timed("  summary look-ups", PostgresJournal.entries)


def measure(rows: int, pg: str, broker: str) -> Dict[str, float]:
    """Time each phase of one producer run of ``rows`` rows against the PostgreSQL server ``pg``
    and the Redis ``broker``; print them per row and return the seconds of each."""
    from autopay_soap import AutopayClient
    from autopay_soap.batch import BatchRunner
    from autopay_soap.celery import ClusterRunner

    _install_timers()
    folder = Path(tempfile.mkdtemp(prefix="autopay-phases-"))
    file = write_charge_file(folder / "rows.csv", "PH", "b" * 36, rows)

    def factory() -> AutopayClient:
        return AutopayClient.from_profile("sandbox", sandbox_url="http://127.0.0.1:9", return_url="http://x/r")

    began = time.perf_counter()
    BatchRunner(factory, str(folder / "dry.sqlite"), check_access=False, quiet=True).run(file, dry_run=True)
    dry = time.perf_counter() - began
    SPENT.clear()
    began = time.perf_counter()
    summary = ClusterRunner(factory, pg + f"?merchant=bench&batch=phases-{time.time_ns()}", broker=broker,
                            check_access=False, quiet=True, poll_interval=0.05, give_up_after=0.05).run(file)
    total = time.perf_counter() - began
    print(f"{rows:,} rows: dry run {dry / rows * 1e6:.1f} us a row; the run {total / rows * 1e6:.1f} us a row, "
          f"{rows / (total - dry):,.0f} rows/s beyond the dry run")
    for name in ("pre-flight", "load, send, wait", "  COPY and upsert", "  sends", "  wait", "summary",
                 "  summary look-ups"):
        print(f"  {name:22s} {SPENT.get(name, 0.0) / rows * 1e6:6.1f} us a row")
    return {"rows": summary.rows, "queued": summary.not_started, "dry": dry, "total": total, **SPENT}


def main(rows: int) -> Dict[str, float]:
    """:func:`measure` against a throw-away PostgreSQL and Redis."""
    from tests.support.pg_server import running_server, server_bin
    from tests.support.redis_server import RedisServer, redis_binary

    bin_dir, redis = server_bin(), redis_binary()
    if bin_dir is None or redis is None:
        raise SystemExit("needs PostgreSQL and Redis (apt-get install postgresql redis-server)")
    broker, servers = RedisServer(redis), running_server(bin_dir)
    try:
        return measure(rows, next(servers), broker.url)
    finally:
        servers.close()
        broker.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
