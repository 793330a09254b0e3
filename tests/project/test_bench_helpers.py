"""The benchmarks' own helpers still work against the sandbox (python -m bench is not run by CI:
a helper left behind by a refactoring breaks it silently)."""

import pytest

from autopay_soap.sandbox import Sandbox
from bench._common import make_binding


def test_make_binding_pays_a_first_payment_and_returns_its_binding(sb):
    binding = make_binding(sb.url, client_id="bench-test")
    assert [b.binding_id for b in sb.engine.bindings("bench-test")] == [binding]


def test_a_charge_file_is_a_valid_batch_file_that_a_sandbox_client_charges(tmp_path):
    import os

    from autopay_soap.batch import BatchRunner, read_rows
    from bench._common import process_cpu, sandbox_client_factory, write_charge_file

    with Sandbox() as sb:
        binding = make_binding(sb.url, client_id="bench")
        file = write_charge_file(tmp_path / "rows.csv", "T-1", binding, 3)
        rows = list(read_rows(file))
        assert [r.order_number for r in rows] == ["T-1-0", "T-1-1", "T-1-2"]
        assert {(r.binding_id, r.amount.minor, r.client_id) for r in rows} == {(binding, 100, "bench")}
        for transport in ("soap", "soap-zeep", "rest"):
            client = sandbox_client_factory(sb.url, transport)()
            try:
                gateway = client.gateway
                assert type(gateway).__name__ == ("RbsRestGateway" if transport == "rest" else "RbsSoapGateway")
                assert getattr(gateway, "compiled", None) is (None if transport == "rest" else transport == "soap")
            finally:
                client.close()
        summary = BatchRunner(sandbox_client_factory(sb.url, "rest"), tmp_path / "j.sqlite", quiet=True).run(file)
        assert summary.paid == 3
        charged = {k: v for k, v in sb.engine.charges_by_order_number().items() if k.startswith("T-")}
        assert charged == {"T-1-0": 1, "T-1-1": 1, "T-1-2": 1}
    spent = process_cpu(os.getpid())
    assert 0 < spent and abs(spent - sum(os.times()[:2])) < 0.05  # the same clock the OS reports for itself


@pytest.mark.postgres
def test_the_producer_phases_script_times_every_phase(pg_url, redis_server, monkeypatch, capsys):
    """``bench/producer_phases.py`` (named in docs/performance.md) measures what it says."""
    pytest.importorskip("celery")
    from autopay_soap.batch import runner as runner_module
    from autopay_soap.batch.journal.postgres import PostgresJournal
    from autopay_soap.celery import CeleryExecutor
    from bench.producer_phases import measure

    for owner, name in ((runner_module, "check_file"), (runner_module, "summarise"), (CeleryExecutor, "charge"),
                        (CeleryExecutor, "_send_all"), (CeleryExecutor, "_follow"), (PostgresJournal, "queue_many"),
                        (PostgresJournal, "entries")):
        monkeypatch.setattr(owner, name, getattr(owner, name))  # the timers go when the test ends
    found = measure(300, pg_url, redis_server)
    assert found["rows"] == 300 and found["queued"] == 300  # no worker: every row stays queued
    assert all(found[phase] > 0 for phase in ("pre-flight", "load, send, wait", "  COPY and upsert", "  sends",
                                             "summary", "  summary look-ups"))
    assert "300 rows: dry run" in capsys.readouterr().out


def test_the_card_saving_bench_measures_what_it_says():
    """``bench/card_saving.py``: saves that end chargeable, and a report listing the cards of the
    months it covers (a twelfth of the clients per month)."""
    from autopay_soap.sandbox import Sandbox
    from bench.card_saving import report_rate, saves_per_second

    with Sandbox() as sb:
        assert saves_per_second(sb, "tbank", 2) > 0
    with Sandbox() as sb:
        rate, listed, peak = report_rate(sb, "rest", 24)
        assert rate > 0 and peak > 0 and 4 <= listed <= 8  # two clients a month, about three months
