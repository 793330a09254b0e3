"""Where a batch's time goes beyond the gateway's latency: the wall time of one call, by threads.

A status look-up is made over and over by 1, 8 and 16 threads of one process against the
sandbox (in its own process) at 20 ms latency, and by one thread at 0 ms. The mean wall time
of a call minus the latency is what the client and the sandbox add; with more threads, what
the threads add waiting for the one interpreter lock. Client CPU per call is measured too.

    python bench/call_latency.py [--calls 60] [--transports soap rest]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import start_sandbox  # noqa: E402


def measure(url: str, transport: str, threads: int, calls: int, order_id: str) -> Dict[str, Any]:
    """``threads`` threads, each with its own gateway, each making ``calls`` status look-ups."""
    from autopay_soap.gateways.rbs_rest import RbsRestGateway
    from autopay_soap.gateways.rbs_soap import RbsSoapGateway

    times: List[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(threads + 1)

    def work() -> None:
        gateway: Any = (RbsSoapGateway(url + "/payment/webservices/merchant-ws", "sandbox-api", "sandbox-password")
                        if transport == "soap" else
                        RbsRestGateway(url + "/payment/rest/", "sandbox-api", "sandbox-password"))
        gateway.order_status(order_id=order_id)  # warm: connection open, WSDL parsed
        ready.wait()
        mine = []
        for _ in range(calls):
            started = time.perf_counter()
            gateway.order_status(order_id=order_id)
            mine.append(time.perf_counter() - started)
        with lock:
            times.extend(mine)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    ready.wait()
    cpu, wall = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.join()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"transport": transport, "threads": threads, "mean_call_ms": statistics.mean(times) * 1000,
            "p90_call_ms": sorted(times)[int(len(times) * 0.9)] * 1000,
            "client_cpu_per_call_ms": cpu / len(times) * 1000, "calls_per_second": len(times) / wall}


def main() -> None:
    """Print one line per case, then all of them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--transports", nargs="+", default=["soap", "rest"])
    args = parser.parse_args()
    from autopay_soap import Money
    from autopay_soap.gateways.rbs_rest import RbsRestGateway

    results = []
    for latency_ms, thread_counts in ((0.0, [1]), (20.0, [1, 8, 16])):
        proc, url = start_sandbox(latency_ms)
        try:
            order_id = RbsRestGateway(url + "/payment/rest/", "sandbox-api", "sandbox-password").register_order(
                f"LAT-{time.time_ns()}", Money.of("1.00", "RUB"), url + "/r").order_id
            for transport in args.transports:
                for threads in thread_counts:
                    row = {"latency_ms": latency_ms, **measure(url, transport, threads, args.calls, order_id)}
                    results.append(row)
                    print(f"{transport} latency {latency_ms:4.0f} ms, {threads:2d} threads: call "
                          f"{row['mean_call_ms']:6.2f} ms (p90 {row['p90_call_ms']:6.2f}), client CPU "
                          f"{row['client_cpu_per_call_ms']:.2f} ms/call, {row['calls_per_second']:.0f} calls/s",
                          flush=True)
        finally:
            proc.terminate()
            proc.wait()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
