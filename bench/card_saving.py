"""Saving cards and the monthly expiring-cards report, against the embedded sandbox.

    python bench/card_saving.py [SAVES] [CLIENTS]      (defaults 200 and 2,000)

1. Card saves per second, start to saved, on each transport (``start_card_save``, the payer's
   API pays the page, ``finish_card_save``): what an onboarding burst costs the client.
2. The expiring-cards report over CLIENTS clients with one binding each (a twelfth of them
   expiring in each of the next twelve months): clients per second read and judged
   (one ``getBindings`` / ``GetCardList`` per client), on REST and SOAP, and the peak memory of
   the report. Bindings are made in the sandbox's engine directly (the report reads them over
   the wire like any gateway's).

Run it three times and keep the best: on a small machine timings drift by up to 30 %.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autopay_soap import AutopayClient  # noqa: E402
from autopay_soap.expiring import ClientSchedule, find_expiring  # noqa: E402
from autopay_soap.models import CardCheck  # noqa: E402
from autopay_soap.sandbox import Sandbox, TestCards  # noqa: E402
from autopay_soap.sandbox.cards import Behaviour  # noqa: E402
from autopay_soap.sandbox.engine import BindingRecord  # noqa: E402


def _client(sb: Sandbox, transport: str) -> AutopayClient:
    return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport=transport, return_url=sb.return_url)


def saves_per_second(sb: Sandbox, transport: str, count: int) -> float:
    """Card saves (start, pay on the page, finish) per second."""
    client = _client(sb, transport)
    check = CardCheck.HOLD if transport == "tbank" else None
    began = time.perf_counter()
    for number in range(count):
        started = client.start_card_save(f"BS-{transport}-{number}", f"bench-{transport}-{number}", check=check)
        sb.pay(started.form_url, TestCards.SUCCESS)
        saved = client.finish_card_save(started.reference, client_id=f"bench-{transport}-{number}", check=check)
        assert saved.chargeable, saved
    return count / (time.perf_counter() - began)


def report_rate(sb: Sandbox, transport: str, clients: int) -> tuple:
    """(clients per second, cards listed, peak MiB) of one report over ``clients`` clients."""
    today = dt.date.today()
    for number in range(clients):
        month = (today.month - 1 + number % 12) % 12 + 1
        year = today.year + (today.month - 1 + number % 12) // 12
        record = BindingRecord(f"bind-{number}", f"c-{number}", "444455**3333", f"{year}{month:02d}",
                               Behaviour.APPROVE)
        sb.engine._bindings[record.binding_id] = record
    schedule = [ClientSchedule(f"c-{number}") for number in range(clients)]
    before = (today.replace(day=1) + dt.timedelta(days=95)).replace(day=1)  # the cards of about three months
    client = _client(sb, transport)
    tracemalloc.start()
    began = time.perf_counter()
    report = find_expiring(client, schedule, before)
    spent = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    assert not report.problems
    return clients / spent, len(report.cards), peak


def main() -> None:
    saves = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    for transport in ("soap", "rest", "tbank"):
        with Sandbox() as sb:
            print(f"card saves, {transport}: {saves_per_second(sb, transport, saves):.1f}/s over {saves}")
    for transport in ("rest", "soap"):
        with Sandbox() as sb:
            rate, listed, peak = report_rate(sb, transport, clients)
            print(f"expiring report, {transport}: {rate:.0f} clients/s over {clients} ({listed} cards listed), "
                  f"peak {peak:.1f} MiB")


if __name__ == "__main__":
    main()
