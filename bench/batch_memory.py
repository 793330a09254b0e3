"""Peak memory of the batch runner for 10,000 and 100,000 rows.

The sandbox runs in its own process (``autopay-soap sandbox``); each batch runs in a fresh
child process that reports its own peak RSS (``ru_maxrss``).

    python bench/batch_memory.py [--rows 10000 100000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import make_binding, start_sandbox  # noqa: E402

CHILD = r"""
import json, resource, sys, time
from autopay_soap import AutopayClient
from autopay_soap.batch import BatchRunner
url, file, journal, concurrency = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
factory = lambda: AutopayClient.from_profile("sandbox", sandbox_url=url, return_url=url + "/r")
started = time.monotonic()
summary = BatchRunner(factory, journal, concurrency=concurrency).run(file)
print(json.dumps({"rows": summary.rows, "paid": summary.paid, "seconds": time.monotonic() - started,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    """Run each size in a fresh process and print the peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    sandbox, url = start_sandbox()
    results = []
    try:
        binding = make_binding(url, "mem")
        for rows in args.rows:
            folder = tempfile.mkdtemp(prefix="autopay-mem-")
            file = os.path.join(folder, "rows.csv")
            with open(file, "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["order_number", "client_id", "binding_id", "amount"])
                for i in range(rows):
                    writer.writerow([f"MEM-{rows}-{i:06d}", "mem", binding, "1.00"])
            started = time.monotonic()
            out = subprocess.run([sys.executable, "-c", CHILD, url, file, os.path.join(folder, "j.sqlite"),
                                  str(args.concurrency)], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["wall_seconds"] = time.monotonic() - started
            results.append(result)
            print(f"{rows:>7} rows: peak RSS {result['peak_rss_mib']:6.1f} MiB, {result['paid']} paid, "
                  f"{result['seconds']:.0f} s ({rows / result['seconds']:.0f} rows/s)", flush=True)
    finally:
        sandbox.terminate()
        sandbox.wait()
    if len(results) >= 2:
        ratio = results[-1]["peak_rss_mib"] / results[0]["peak_rss_mib"]
        print(f"peak RSS {results[-1]['rows']} rows / {results[0]['rows']} rows: {ratio:.3f} (target <= 1.20)")
    print(json.dumps(results))



if __name__ == "__main__":
    main()
