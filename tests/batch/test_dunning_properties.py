"""Properties of the dunning plan over random journals: whatever the history, no hard or rebind
decline is retried, no card gets more attempts a day than the schedule allows, and every retry is
the derived next number of a charge whose retry is due."""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopay_soap import Money
from autopay_soap.batch.dunning import plan_dunning
from autopay_soap.batch.journal import open_journal
from autopay_soap.batch.rows import ChargeRow
from autopay_soap.declines import DEFAULT_SCHEDULE, retry_order_number
from autopay_soap.declines.schedule import day_of

from ..support.batch import write_csv

DAY = 86400.0
T0 = 1_796_400_000.0  # 2026-12-04

charge = st.fixed_dictionaries({
    "card": st.sampled_from(["b-1", "b-2", "b-3"]),
    "state": st.sampled_from(["paid", "declined", "declined", "declined", "unknown", "failed"]),
    "kind": st.sampled_from(["soft", "soft", "hard", "rebind", "merchant", None]),
    "finished": st.floats(0, 9).map(lambda d: T0 + d * DAY),
    "next_in": st.one_of(st.none(), st.floats(-3, 3).map(lambda d: d * DAY)),
    "attempt": st.integers(1, 4),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(charge, min_size=1, max_size=12), st.floats(0, 12).map(lambda d: T0 + d * DAY), st.booleans())
def test_a_plan_never_breaks_the_rules(charges, due, include_merchant):
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "in.csv"
        rows, lines = [], []
        for i, c in enumerate(charges):
            root = f"S-{i}"
            number = retry_order_number(root, c["attempt"])
            rows.append((number, root, c))
            lines.append((number, "cust", c["card"], "5.00", "RUB", ""))
        write_csv(file, lines)
        text = file.read_text().splitlines()  # add the retry columns the rows need
        text[0] += ",original_order_number,attempt"
        for k, (_number, root, c) in enumerate(rows, start=1):
            text[k] += f",{root if c['attempt'] > 1 else ''},{c['attempt']}"
        file.write_text("\n".join(text) + "\n")
        with open_journal(Path(folder) / "j.sqlite") as journal:
            for k, (number, root, c) in enumerate(rows, start=2):
                row = ChargeRow(k, number, "cust", c["card"], Money.of("5.00", "RUB"),
                                original_order_number=root if c["attempt"] > 1 else None, attempt=c["attempt"])
                journal.intend(row)
                nxt = c["finished"] + c["next_in"] if c["next_in"] is not None and c["kind"] == "soft" else None
                journal.record(number, c["state"], decline_kind=c["kind"] if c["state"] in ("declined", "failed")
                               else None, finished_at=c["finished"], next_attempt_at=nxt)
            plan = plan_dunning([file], journal, due=due, include_merchant=include_merchant)
            hard_cards = {c["card"] for _n, _r, c in rows if c["state"] in ("declined", "failed")
                          and c["kind"] == "hard"}
            by_number = {number: c for number, _root, c in rows}
            planned_per_card = {}
            for retry in plan.retries:
                before = retry_order_number(retry.original_order_number, retry.attempt - 1)
                source = by_number[before]
                assert retry.order_number == retry_order_number(retry.original_order_number, retry.attempt)
                assert journal.get(retry.order_number) is None
                assert retry.binding_id not in hard_cards
                assert source["state"] in ("declined", "failed") and source["kind"] in ("soft", "merchant")
                if source["kind"] == "merchant":
                    assert include_merchant
                else:
                    assert source["next_in"] is not None and source["finished"] + source["next_in"] <= due
                planned_per_card[retry.binding_id] = planned_per_card.get(retry.binding_id, 0) + 1
            for card, count in planned_per_card.items():
                same_day = sum(1 for _n, _r, c in rows if c["card"] == card and c["kind"] != "merchant"
                               and c["state"] in ("paid", "declined", "failed") and day_of(c["finished"]) == day_of(due)
                               and c["finished"] >= due - 30 * DAY)
                assert same_day + count <= DEFAULT_SCHEDULE.per_card_per_day
