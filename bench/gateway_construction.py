"""How much building an RBS SOAP gateway costs: the first (which parses the bundled WSDL)
against the next ones (which share the parse). Runs in fresh processes, offline.

    python bench/gateway_construction.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys

PROBE = r"""
import json, time
t0 = time.perf_counter()
from autopay_soap.gateways.rbs_soap import RbsSoapGateway
t1 = time.perf_counter()
first = RbsSoapGateway("https://offline.invalid/ws", "u", "p")
t2 = time.perf_counter()
seconds = []
for _ in range(20):
    s = time.perf_counter()
    RbsSoapGateway("https://offline.invalid/ws", "u", "p").close()
    seconds.append(time.perf_counter() - s)
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "next": sorted(seconds)[len(seconds) // 2]}))
"""


def main() -> None:
    """Run the probe ``--repeat`` times in fresh interpreters and print medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"machine: {platform.machine()} {platform.python_implementation()} {platform.python_version()}")
    print(f"import autopay_soap.gateways.rbs_soap: {med['import'] * 1000:8.2f} ms")
    print(f"first gateway (parses the WSDL):       {med['first'] * 1000:8.2f} ms")
    print(f"next gateway (shared parse, median):   {med['next'] * 1000:8.2f} ms")
    print(f"next / first:                           {med['next'] / med['first'] * 100:7.2f} %")
    print(json.dumps({"median_seconds": med, "runs": args.repeat}))


if __name__ == "__main__":
    main()
