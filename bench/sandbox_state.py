"""What the sandbox's state file costs: REST autopayments per second, in memory and with
``Sandbox(state=...)`` (every answer commits what it reports to SQLite first).

    python bench/sandbox_state.py [--payments 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from autopay_soap import AutopayClient, Money  # noqa: E402
from autopay_soap.sandbox import Sandbox, TestCards  # noqa: E402


def rate(state: str, payments: int) -> float:
    """Autopayments per second, one thread, against a sandbox with ``state`` (None: memory)."""
    with Sandbox(state=state or None) as sb:
        client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url, transport="rest")
        first = client.start_first_payment("BENCH-FIRST", Money.of("1.00", "RUB"), "bench")
        sb.pay(first.form_url, TestCards.SUCCESS)
        binding = client.finish_first_payment(order_id=first.order_id).binding.binding_id
        started = time.perf_counter()
        for i in range(payments):
            client.autopay(f"BENCH-{i}", Money.of("1.00", "RUB"), client_id="bench", binding_id=binding)
        elapsed = time.perf_counter() - started
        client.close()
    return payments / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1000)
    args = parser.parse_args()
    memory = rate("", args.payments)
    with tempfile.TemporaryDirectory() as folder:
        on_disk = rate(os.path.join(folder, "state.sqlite"), args.payments)
    print(f"{args.payments} REST autopayments: in memory {memory:.0f}/s, with a state file {on_disk:.0f}/s "
          f"({on_disk / memory:.2f})")


if __name__ == "__main__":
    main()
