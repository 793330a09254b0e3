"""The cost of the event hooks per autopayment: client CPU with no hook, with a no-op hook, and
with the Prometheus hook, against one autopayment's client CPU with none.

    python bench/observe_cost.py [--payments 300] [--json FILE]

The sandbox runs in its own process; this process makes ``--payments`` autopayments over SOAP
(register + pay by binding + status: three exchanges and one scenario each) in each setting, in
turns, and reports the process CPU per autopayment. That difference is within this machine's
noise, so the machinery's own cost is also measured alone (a guarded method that does nothing,
one scenario and three exchanges, with and without a no-op hook) and set against one autopayment's
client CPU. Target: a no-op hook adds at most 2 %.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import make_binding, start_sandbox  # noqa: E402


def _cpu_per_payment(client: Any, binding: str, prefix: str, count: int) -> float:
    from autopay_soap import Money

    amount = Money.of("1.00", "RUB")
    started = time.process_time()
    for n in range(count):
        result = client.autopay(f"{prefix}-{n}", amount, client_id="bench", binding_id=binding)
        assert result.ok
    return (time.process_time() - started) / count


def machinery_us(calls: int = 200_000) -> Dict[str, float]:
    """Microseconds the hook machinery adds to one autopayment (one scenario, three exchanges),
    measured on a guarded method that does nothing: with no hook, and with a no-op hook. The
    end-to-end difference is below this machine's noise; this is the part that is ours."""
    from autopay_soap import observe
    from autopay_soap.gateways.base import guard_replies

    @guard_replies
    class Idle:
        name = "idle"

        def order_status(self, *, order_id: Any = None, order_number: Any = None) -> None:
            return None

    gateway, result = Idle(), {}
    for label, hooks in (("none", ()), ("no-op", (lambda event: None,))):
        started = time.process_time()
        for _ in range(calls // 3):
            with observe.scenario(hooks, "ORDER-1"):
                gateway.order_status(order_number="ORDER-1")
                gateway.order_status(order_number="ORDER-1")
                gateway.order_status(order_number="ORDER-1")
        result[label] = (time.process_time() - started) / (calls // 3) * 1e6
    return {"per_autopayment_us": result, "added_us": result["no-op"] - result["none"]}


def measure(count: int, rounds: int = 5) -> Dict[str, Any]:
    """CPU per autopayment in each setting, the best of ``rounds`` alternating runs."""
    from prometheus_client import CollectorRegistry

    from autopay_soap import AutopayClient
    from autopay_soap.observe_prometheus import PrometheusHook

    proc, url = start_sandbox(0)
    try:
        binding = make_binding(url)
        hooks: Dict[str, List[Any]] = {"none": [], "no-op": [lambda event: None],
                                       "prometheus": [PrometheusHook(CollectorRegistry())]}
        clients = {name: AutopayClient.from_profile("sandbox", sandbox_url=url, return_url=url + "/r", events=found)
                   for name, found in hooks.items()}
        for name, client in clients.items():  # warm up: connections, codecs
            _cpu_per_payment(client, binding, f"WARM-{name}", 20)
        best = {name: float("inf") for name in clients}
        for turn in range(rounds):
            for name, client in clients.items():
                best[name] = min(best[name], _cpu_per_payment(client, binding, f"B{turn}-{name}", count))
        for client in clients.values():
            client.close()
    finally:
        proc.terminate()
        proc.wait()
    base = best["none"]
    machinery = machinery_us()
    return {"payments": count, "rounds": rounds, "cpu_ms": {k: v * 1000 for k, v in best.items()},
            "end_to_end_no_op": best["no-op"] / base - 1, "end_to_end_prometheus": best["prometheus"] / base - 1,
            "machinery": machinery, "no_op_overhead": machinery["added_us"] / (base * 1e6)}


def main() -> None:
    """Measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    report = measure(args.payments)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print("client CPU per autopayment: " + ", ".join(f"{k} {v:.3f} ms" for k, v in report["cpu_ms"].items())
          + f" (end to end: no-op hook {report['end_to_end_no_op']:+.1%}, Prometheus "
          f"{report['end_to_end_prometheus']:+.1%}); the machinery adds {report['machinery']['added_us']:.1f} us "
          f"per autopayment with a no-op hook: {report['no_op_overhead']:.2%} of one", file=sys.stderr)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
