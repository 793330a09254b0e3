"""The batch runner against edited rows, reused order numbers and replies nobody foresaw."""

from __future__ import annotations

import csv
import threading

import pytest

from autopay_soap import Money
from autopay_soap.batch import EXIT_MISMATCH, EXIT_UNKNOWN, BatchRunner
from autopay_soap.client import AutopayClient
from autopay_soap.sandbox import TestCards

from ..support.batch import bind, write_csv


def factory_for(sb):
    return lambda: AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url,
                                              sleep=lambda s: None)


def report_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["order_number"]: row for row in csv.DictReader(handle)}


def test_a_row_edited_after_it_was_charged_is_a_mismatch_on_the_same_journal(tmp_path, sb):
    binding = bind(sb, "cust")
    file, journal = tmp_path / "rows.csv", tmp_path / "j.sqlite"
    write_csv(file, [("ED-1", "cust", binding, "1.00", "RUB", ""), ("ED-2", "cust", binding, "2.00", "RUB", "")])
    assert BatchRunner(factory_for(sb), journal).run(file).paid == 2
    write_csv(file, [("ED-1", "cust", binding, "250.00", "RUB", ""), ("ED-2", "cust", binding, "2.00", "RUB", "")])
    summary = BatchRunner(factory_for(sb), journal).run(file, report=tmp_path / "report.csv")
    report = report_rows(tmp_path / "report.csv")
    charges = sb.engine.charges_by_order_number()
    assert (summary.mismatch, summary.paid, summary.exit_code) == (1, 1, EXIT_MISMATCH)
    assert report["ED-1"]["outcome"] == "mismatch"
    assert "1.00 RUB" in report["ED-1"]["message"] and "250.00 RUB" in report["ED-1"]["message"]
    assert report["ED-2"]["outcome"] == "paid"
    assert charges == {"FIRST-cust": 1, "ED-1": 1, "ED-2": 1}


@pytest.mark.parametrize("transport", ["rest", "tbank"])
def test_a_row_edited_and_run_on_a_new_journal_is_a_mismatch_from_the_gateway(tmp_path, transport, sb):
    def make():
        return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url,
                                          transport=transport, sleep=lambda s: None)

    client = make()
    started = client.start_first_payment("FIRST-1", Money.of("1.00", "RUB"), "cust")
    sb.pay(started.form_url, TestCards.SUCCESS)
    binding = client.finish_first_payment(order_id=started.order_id, client_id="cust").binding.binding_id
    column = "rebill_id" if transport == "tbank" else "binding_id"
    file = tmp_path / "rows.csv"
    with open(file, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_number", "client_id", column, "amount"])
        writer.writerow(["NJ-1", "cust", binding, "1.00"])
    assert BatchRunner(make, tmp_path / "first.sqlite").run(file).paid == 1
    with open(file, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_number", "client_id", column, "amount"])
        writer.writerow(["NJ-1", "cust", binding, "250.00"])
    summary = BatchRunner(make, tmp_path / "second.sqlite").run(file, report=tmp_path / "r.csv")
    row = report_rows(tmp_path / "r.csv")["NJ-1"]
    assert sb.engine.charges_by_order_number()["NJ-1"] == 1
    client.close()
    assert (summary.mismatch, summary.exit_code) == (1, EXIT_MISMATCH)
    assert row["outcome"] == "mismatch" and "250.00 RUB" in row["message"] and "1.00 RUB" in row["message"]


class _Exploding(AutopayClient):
    """A client whose charge (what the batch sends each checked row with) raises what no
    gateway error class covers, on some rows."""

    def charge(self, payment, **kwargs):  # type: ignore[override]
        if payment.order_number.endswith(("3", "7")):
            raise RuntimeError("a reply nobody foresaw")
        return super().charge(payment, **kwargs)


def test_an_unexpected_exception_never_kills_a_worker_and_the_run_ends(tmp_path, sb):
    binding = bind(sb, "cust")
    file = tmp_path / "rows.csv"
    write_csv(file, [(f"EX-{i:02d}", "cust", binding, "1.00", "RUB", "") for i in range(40)])

    def make():
        from autopay_soap.gateways.rbs_rest import RbsRestGateway

        return _Exploding(RbsRestGateway(sb.rest_url, sb.username, sb.password), return_url=sb.return_url)

    outcome = {}
    # two workers: before the fix each exploding row killed a thread and the run hung for ever
    worker = threading.Thread(target=lambda: outcome.update(
        summary=BatchRunner(make, tmp_path / "j.sqlite", concurrency=2).run(file)), daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the batch run hung"
    summary = outcome["summary"]
    assert (summary.paid, summary.unknown, summary.exit_code) == (32, 8, EXIT_UNKNOWN)


def test_a_gateway_system_error_escaping_a_charge_is_unknown_not_failed():
    from autopay_soap.batch.charge import outcome_of_row
    from autopay_soap.batch.rows import ChargeRow
    from autopay_soap.errors import GatewaySystemError, InvalidRequest

    row = ChargeRow(2, "SYS-1", "c", "b", Money.of("1.00", "RUB"))

    class Raising:
        def __init__(self, exc):
            self.exc = exc

        def check_autopay(self, **arguments):
            return arguments

        def charge(self, *args, **kwargs):
            raise self.exc

    assert outcome_of_row(Raising(GatewaySystemError("[7] System error")), row)[0] == "unknown"  # may be charged
    assert outcome_of_row(Raising(InvalidRequest("[4] bad binding")), row)[0] == "failed"  # refused: nothing


def test_an_unexpected_error_in_a_worker_thread_stops_the_run_and_never_hangs_it(tmp_path, sb):
    """A defect that raises inside a worker thread outside the gateway call killed the thread
    (here: a client wrapper written before 0.x without ``events``, as the bench's own was); with
    every thread gone the runner waited for ever to hand them the end of the pass. The run now
    stops, says which row, and leaves the rows for the next run."""
    from autopay_soap.batch import BatchWorkerError, open_journal

    binding = bind(sb, "cust")
    file = tmp_path / "batch.csv"
    write_csv(file, [(f"UX-{i}", "cust", binding, "2.00", "RUB", "") for i in range(20)])

    class Broken:
        """The sandbox's client behind a wrapper that lacks ``events``."""

        def __init__(self):
            self.real = factory_for(sb)()

        def __getattr__(self, name):
            if name == "events":
                raise AttributeError(name)
            return getattr(self.real, name)

    def broken_factory():
        return Broken()

    runner = BatchRunner(broken_factory, tmp_path / "j.sqlite", quiet=True, concurrency=2, check_access=False)
    with pytest.raises(BatchWorkerError, match="unexpected AttributeError in a worker thread"):
        runner.run(file)
    assert [n for n in sb.engine.charges_by_order_number() if n.startswith("UX-")] == []
    summary = BatchRunner(factory_for(sb), tmp_path / "j.sqlite", quiet=True).run(file)  # the next run
    assert summary.paid == 20
    with open_journal(tmp_path / "j.sqlite") as journal:
        assert journal.counts() == {"paid": 20}
