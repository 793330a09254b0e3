"""Watching a run: the event hook, OpenTelemetry spans and Prometheus metrics of a 200-row batch,
the metrics file of a cron run, and no secret or card number in any of them."""

from __future__ import annotations

import csv
import json
import logging
import subprocess

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from autopay_soap import Money, observe
from autopay_soap.batch import BatchRunner
from autopay_soap.client import AutopayClient
from autopay_soap.observe_otel import OpenTelemetryHook
from autopay_soap.observe_prometheus import PrometheusHook
from autopay_soap.retry import RetryPolicy
from autopay_soap.sandbox import Sandbox, TestCards

from ..support import no_wait
from ..support.batch import bind, charge_cmd, write_csv

ROWS = 200


def secrets_of(sb):
    return [sb.password, sb.tbank_password, TestCards.SUCCESS.pan, TestCards.RECURRING_INSUFFICIENT.pan]


@pytest.fixture(scope="module")
def watched_batch(tmp_path_factory):
    """A 200-row batch (190 paid, 10 declined soft) charged with a list hook, OpenTelemetry and Prometheus."""
    folder = tmp_path_factory.mktemp("observed")
    events, registry = [], CollectorRegistry()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with Sandbox() as sb:
        good, poor = bind(sb, "good"), bind(sb, "poor", TestCards.RECURRING_INSUFFICIENT)
        file = folder / "batch.csv"
        write_csv(file, [(f"OBS-{i:03d}", "poor" if i % 20 == 7 else "good", poor if i % 20 == 7 else good,
                          "2.00", "RUB", "") for i in range(ROWS)])

        def factory():
            return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url,
                                              retry=RetryPolicy(attempts=3), sleep=no_wait)

        runner = BatchRunner(factory, folder / "batch.sqlite", concurrency=8, quiet=True,
                             events=[events.append, OpenTelemetryHook(provider), PrometheusHook(registry)])
        summary = runner.run(file)
        yield {"sb": sb, "summary": summary, "events": events, "spans": exporter.get_finished_spans(),
               "registry": registry, "secrets": secrets_of(sb)}


def test_every_row_and_exchange_reaches_the_hook(watched_batch):
    summary, events = watched_batch["summary"], watched_batch["events"]
    rows = [e for e in events if e.kind == observe.ROW]
    exchanges = [e for e in events if e.kind == observe.EXCHANGE]
    assert (summary.paid, summary.declined) == (190, 10)
    assert len(rows) == ROWS and {e.order_number for e in rows} == {f"OBS-{i:03d}" for i in range(ROWS)}
    assert sum(e.outcome == "paid" for e in rows) == summary.paid
    assert [e.decline_kind for e in rows if e.outcome == "declined"] == ["soft"] * 10
    per_row = {}
    for e in exchanges:
        per_row.setdefault(e.order_number, []).append(e.operation)
    assert set(per_row.pop(None)) == {"order_status"}  # the pre-flight's access check, before any row
    assert set(per_row) == {e.order_number for e in rows}  # every exchange belongs to its row
    assert all("register_order" in ops and "pay_with_binding" in ops for ops in per_row.values())
    assert all(e.transport == "soap" and e.duration >= 0 and e.outcome == "ok" for e in exchanges
               if e.operation == "register_order")


def test_one_span_per_exchange_each_the_child_of_its_row(watched_batch):
    spans, events = watched_batch["spans"], watched_batch["events"]
    rows = {s.context.span_id: s for s in spans if s.name == "autopay_soap charge"}
    exchanges = [s for s in spans if s.name != "autopay_soap charge" and s.parent is not None]
    assert len(rows) == ROWS
    assert len(exchanges) == sum(e.kind == observe.EXCHANGE and e.order_number is not None for e in events)
    for span in exchanges:
        parent = rows[span.parent.span_id]
        assert parent.attributes["autopay.order_number"] == span.attributes["autopay.order_number"]
        assert span.attributes["autopay.operation"] == span.name.split(" ", 1)[1]
    declined = [s for s in rows.values() if s.attributes["autopay.outcome"] == "declined"]
    assert len(declined) == 10 and all(s.status.status_code.name == "ERROR" for s in declined)
    assert all(s.attributes["autopay.decline_kind"] == "soft" for s in declined)


def test_prometheus_counters_equal_the_summary(watched_batch):
    registry, summary, events = watched_batch["registry"], watched_batch["summary"], watched_batch["events"]
    assert registry.get_sample_value("autopay_rows_total", {"transport": "soap", "outcome": "paid",
                                                            "decline_kind": ""}) == summary.paid
    assert registry.get_sample_value("autopay_rows_total", {"transport": "soap", "outcome": "declined",
                                                            "decline_kind": "soft"}) == summary.declined
    counted = sum(sample.value for family in registry.collect() if family.name == "autopay_exchanges"
                  for sample in family.samples if sample.name == "autopay_exchanges_total")
    assert counted == sum(e.kind == observe.EXCHANGE for e in events)


def test_no_secret_or_card_number_in_events_spans_or_metrics(watched_batch):
    texts = [repr(e) for e in watched_batch["events"]]
    texts += [json.dumps(dict(s.attributes)) + s.name for s in watched_batch["spans"]]
    texts += [repr(sample) for family in watched_batch["registry"].collect() for sample in family.samples]
    blob = "\n".join(texts)
    for secret in watched_batch["secrets"]:
        assert secret.strip() not in blob


def test_a_failing_hook_never_changes_a_charge_and_events_are_logged_with_fields(caplog):
    def broken(event):
        raise RuntimeError("a bug in the application's hook")

    with Sandbox() as sb:
        binding = bind(sb, "cust")
        client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url,
                                            events=[broken])
        with caplog.at_level(logging.DEBUG, logger="autopay_soap.events"):
            result = client.autopay("HOOK-1", Money.of("1.00", "RUB"), client_id="cust", binding_id=binding)
        client.close()
        secrets = secrets_of(sb)
    assert result.ok and sb.engine.charges_by_order_number()["HOOK-1"] == 1
    records = [r for r in caplog.records if r.name == "autopay_soap.events" and r.levelno == logging.DEBUG]
    assert {r.autopay_operation for r in records} >= {"register_order", "pay_with_binding"}
    assert all(r.autopay_order_number == "HOOK-1" and r.autopay_transport == "soap" for r in records)
    assert "an event hook failed" in caplog.text
    assert not any(secret.strip() in caplog.text for secret in secrets)


def test_the_metrics_file_of_a_cron_run_parses_and_equals_the_summary(tmp_path):
    with Sandbox() as sb:
        good, poor = bind(sb, "good"), bind(sb, "poor", TestCards.RECURRING_INSUFFICIENT)
        file = tmp_path / "subs.csv"
        write_csv(file, [("M-1", "good", good, "1.00", "RUB", ""), ("M-2", "poor", poor, "1.00", "RUB", ""),
                         ("M-3", "good", good, "1.00", "RUB", "true")])
        metrics = tmp_path / "autopay.prom"
        out = subprocess.run(charge_cmd(sb, file, "--quiet", "--metrics-file", str(metrics)), capture_output=True,
                             text=True, timeout=120)
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    rows = {s.labels["outcome"]: s.value for s in families["autopay_batch_rows"].samples}
    assert (rows["paid"], rows["held"], rows["declined"]) == (summary["paid"], summary["held"], summary["declined"])
    assert families["autopay_batch_exit_code"].samples[0].value == out.returncode == summary["exit_code"] == 3
    assert {s.labels["kind"]: s.value for s in families["autopay_batch_declines"].samples} == {"soft": 1}
    assert families["autopay_batch_last_run_timestamp_seconds"].samples[0].value > 1.7e9
    assert list(tmp_path.glob(".autopay.prom.*")) == []  # written whole: no temporary file left


def test_a_metrics_file_in_a_missing_folder_is_refused_before_charging(tmp_path, sb):
    file = tmp_path / "subs.csv"
    write_csv(file, [("M-1", "good", "b-1", "1.00", "RUB", "")])
    out = subprocess.run(charge_cmd(sb, file, "--metrics-file", str(tmp_path / "no" / "a.prom")),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--metrics-file" in out.stderr
    assert sb.engine.charges_by_order_number() == {}
    assert list(csv.reader(file.open()))[0][0] == "order_number"
