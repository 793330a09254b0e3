"""Cost of the decline machinery, without a gateway.

* ``classify``: microseconds per classification of a code (RBS and T-Bank, known and unknown);
* the runner's per-row look-ups before it sends a row, on a SQLite journal of N rows: the card's
  hard declines (journal and the merchant's memory file), the per-card caps
  (``card_cap_reached``), and a retry's look-up of its first attempt; for first charges and for
  retries apart;
* ``plan_dunning`` over an input file of N rows whose journal says 10 % declined (soft, hard,
  rebind, merchant in turn): seconds, microseconds per row, peak RSS of the process.

    python bench/dunning_plan.py [--rows 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autopay_soap import Money  # noqa: E402
from autopay_soap.batch.card_memory import CardMemory  # noqa: E402
from autopay_soap.batch.charge import card_cap_reached  # noqa: E402
from autopay_soap.batch.dunning import plan_dunning  # noqa: E402
from autopay_soap.batch.journal import open_journal  # noqa: E402
from autopay_soap.batch.rows import ChargeRow  # noqa: E402
from autopay_soap.declines import DEFAULT_SCHEDULE, classify  # noqa: E402

KINDS = ("soft", "hard", "rebind", "merchant")


def classify_cost(n: int = 200_000) -> float:
    """Microseconds per :func:`classify` call over a mix of codes."""
    codes = [("soap", 116), ("rest", "-2007"), ("rbs", 100), ("tbank", 1051), ("tbank", 3042), ("rbs", 424242)]
    started = time.perf_counter()
    for i in range(n):
        gateway, code = codes[i % len(codes)]
        classify(gateway, code, "Insufficient funds")
    return (time.perf_counter() - started) / n * 1e6


def build(folder: str, rows: int, now: float) -> str:
    """An input file of ``rows`` rows and its journal (10 % declined, due now)."""
    file = os.path.join(folder, "in.csv")
    with open(file, "w", encoding="utf-8") as out:
        out.write("order_number,client_id,binding_id,amount_minor,currency\n")
        for i in range(rows):
            out.write(f"D-{i:07d},c{i % 5000},b-{i % 20000},49900,RUB\n")
    with open_journal(os.path.join(folder, "j.sqlite")) as journal:
        journal.db.execute("BEGIN")
        for i in range(rows):
            row = ChargeRow(i + 2, f"D-{i:07d}", f"c{i % 5000}", f"b-{i % 20000}", Money.from_minor(49900, "RUB"))
            journal.db.execute(
                "INSERT INTO charges (order_number, line, amount_minor, currency, client_id, instrument, two_stage, "
                "attempt, state, attempts, updated_at, decline_kind, finished_at, next_attempt_at) "
                "VALUES (?, ?, 49900, 'RUB', ?, ?, 0, 1, ?, 1, ?, ?, ?, ?)",
                (row.order_number, row.line, row.client_id, row.instrument, "declined" if i % 10 == 0 else "paid",
                 now, KINDS[(i // 10) % 4] if i % 10 == 0 else None, now - 2 * 86400,
                 now - 86400 if i % 10 == 0 and KINDS[(i // 10) % 4] == "soft" else None))
        journal.db.execute("COMMIT")
    return file


def measure(rows: int) -> dict:
    """One size: the runner's look-ups and the plan."""
    now = time.time()
    folder = tempfile.mkdtemp(prefix="autopay-dunning-")
    file = build(folder, rows, now)
    memory = CardMemory(os.path.join(folder, "hard-declines.sqlite"))
    with open_journal(os.path.join(folder, "j.sqlite")) as journal:
        step = max(rows // 2000, 1)
        firsts = [ChargeRow(2, f"D-{i:07d}", "c", f"b-{i % 20000}", Money.from_minor(1, "RUB"))
                  for i in range(0, rows, step)]
        retries = [ChargeRow(2, f"D-{i:07d}/r1", "c", f"b-{i % 20000}", Money.from_minor(1, "RUB"),
                             original_order_number=f"D-{i:07d}", attempt=2) for i in range(0, rows, step)]

        def per_row(sample: list) -> float:
            started = time.perf_counter()
            for row in sample:  # what blocked_or_charged asks before it sends a row
                journal.hard_decline(row.instrument, row.order_number)
                memory.hard_decline(row.instrument, row.order_number)
                card_cap_reached(journal, row, DEFAULT_SCHEDULE, now)
                if row.attempt > 1:
                    journal.get(row.root_order_number)
            return (time.perf_counter() - started) / len(sample) * 1e6

        per_row(firsts[:50])  # warm the caches and open the memory file
        lookups = min(per_row(firsts) for _ in range(5))  # the least disturbed of five passes
        retry_lookups = min(per_row(retries) for _ in range(5))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        plan = plan_dunning([file], journal, due=now)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    memory.close()
    return {"rows": rows, "runner_lookups_us_per_row": round(lookups, 1),
            "runner_lookups_us_per_retry_row": round(retry_lookups, 1), "plan_seconds": round(seconds, 2),
            "plan_us_per_row": round(seconds / rows * 1e6, 1), "plan": plan.counts(),
            "peak_rss_mib": round(peak / 1024, 1), "rss_growth_mib": round((peak - before) / 1024, 1)}


def main() -> None:
    """Print one JSON line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print(json.dumps({"classify_us": round(classify_cost(), 2)}))
    for rows in args.rows:
        print(json.dumps(measure(rows)), flush=True)


if __name__ == "__main__":
    main()
