"""A batch charged by real Celery workers (separate processes) through a real Redis broker, with the
journal in a real PostgreSQL server: exactly once, whatever dies."""

import csv
import json
import os
import subprocess
import threading

import pytest

from autopay_soap.batch import EXIT_CONFIG, EXIT_DECLINED, EXIT_OK
from autopay_soap.errors import ValidationError
from autopay_soap.sandbox import FaultPlan, Sandbox, TestCards
from autopay_soap.sandbox.lifecycle import EventKind

from ..support.batch import bind, charge_cmd, write_csv
from ..support.cluster import Worker, producer, worker_env

pytestmark = pytest.mark.postgres

def _one_customers_batch(sb, tmp_path, prefix, rows, amount):
    """A batch file of ``rows`` autopayments of ``amount`` roubles by one saved card
    (``PREFIX-000``...)."""
    binding = bind(sb, "cust")
    file = tmp_path / "batch.csv"
    write_csv(file, [(f"{prefix}-{i:03d}", "cust", binding, amount, "RUB", "") for i in range(rows)])
    return file



def test_a_cluster_needs_the_workers_postgresql_journal(tmp_path, redis_server):
    with pytest.raises(ValidationError) as info:
        producer(Sandbox(), str(tmp_path / "local.sqlite"), redis_server)
    assert info.value.field == "journal"


@pytest.mark.sandbox(latency=0.005)
def test_two_workers_charge_every_row_once_and_a_rerun_charges_nothing(tmp_path, pg_url, redis_server, sb):
    file = _one_customers_batch(sb, tmp_path, "CL", 60, "3.00")
    env = worker_env(sb, pg_url, redis_server)
    workers = [Worker("w1", env), Worker("w2", env)]
    try:
        journal = pg_url + "?merchant=shop&batch=cl1"
        first = producer(sb, journal, redis_server).run(file)
        again = producer(sb, journal, redis_server).run(file)
    finally:
        for worker in workers:
            worker.stop()
    assert (first.paid, first.exit_code, first.charged_this_run) == (60, EXIT_OK, 60)
    assert (again.paid, again.charged_this_run) == (60, 0)
    charged = sb.engine.charges_by_order_number()
    assert {n: c for n, c in charged.items() if n.startswith("CL-")} == {f"CL-{i:03d}": 1 for i in range(60)}
    both = "".join(workers[0].lines) + "".join(workers[1].lines)
    assert "w1@" in both and "w2@" in both


@pytest.mark.sandbox(latency=0.02)
@pytest.mark.slow
def test_workers_the_producer_and_the_broker_die_and_each_row_is_charged_once(tmp_path, pg_url, sb):
    """2,000 rows, three workers, seeded faults; on the way: kill -9 of a whole worker (twice, with
    requests in flight), kill -9 of the producer (started again with the same command) and of the
    broker (back empty: every queued task lost). The sandbox's ledger is the oracle; then the same
    file through the local runner reports the same outcome for every row and charges nothing."""
    from ..support.redis_server import RedisServer, redis_binary

    if redis_binary() is None:
        pytest.fail("CI needs Redis") if os.environ.get("CI") else pytest.skip("no Redis server")
    broker = RedisServer(redis_binary())
    rows = 2000
    binding = bind(sb, "cust")
    poor = bind(sb, "poor", TestCards.RECURRING_INSUFFICIENT)  # every autopayment on it is declined
    file = tmp_path / "batch.csv"
    declined = {f"K-{i:03d}" for i in range(0, rows, 50)}
    write_csv(file, [(f"K-{i:03d}", "poor" if f"K-{i:03d}" in declined else "cust",
                      poor if f"K-{i:03d}" in declined else binding, "2.00", "RUB", "") for i in range(rows)])
    sb.faults = FaultPlan.parse("*:drop_after=0.08,http500=0.06,garbage=0.06", seed=4)  # 20 % of exchanges
    env = worker_env(sb, pg_url, broker.url)
    journal = pg_url + "?merchant=shop&batch=k1"
    command = charge_cmd(sb, file, "--journal", journal, "--celery", broker.url, "--resend-after", "3",
                         "--quiet", "--report", str(tmp_path / "cluster.csv"))
    workers = {name: Worker(name, env, concurrency=4) for name in ("w1", "w2", "w3")}
    moments = threading.Semaphore(0)
    charged = []
    inner = sb.engine.on_event

    def count(event):  # the sandbox tells the test when to strike, at a charge, mid-run
        if event.kind is EventKind.CHARGED and event.order.order_number.startswith("K-"):
            charged.append(1)
            if len(charged) in (300, 700, 1100, 1500):
                moments.release()
        inner(event)

    sb.engine.on_event = count
    producers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    try:
        for strike in ("worker w1", "producer", "broker", "worker w2"):
            assert moments.acquire(timeout=180), f"the cluster never got to the {strike} strike"
            if strike.startswith("worker"):
                name = strike.split()[1]
                workers[name].kill()  # with requests of its own in flight (latency 20 ms each)
                workers[name] = Worker(name, env, concurrency=4)
            elif strike == "producer":
                producers[-1].kill()
                producers[-1].communicate()
                producers.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                  text=True))
            else:
                broker.restart()
        out, err = producers[-1].communicate(timeout=300)
        sb.faults = None
        final = subprocess.run(command, capture_output=True, text=True, timeout=300)  # the final reconcile
    finally:
        for worker in workers.values():
            worker.stop()
        for producer_ in producers:
            if producer_.poll() is None:
                producer_.kill()
        broker.close()
    assert final.returncode == EXIT_DECLINED, final.stderr
    summary = json.loads(final.stdout.strip().splitlines()[-1])
    assert (summary["paid"], summary["declined"], summary["unknown"], summary["not_started"]) == (
        rows - len(declined), len(declined), 0, 0)
    ledger = {n: c for n, c in sb.engine.charges_by_order_number().items() if n.startswith("K-")}
    assert ledger == {f"K-{i:03d}": 1 for i in range(rows) if f"K-{i:03d}" not in declined}  # declined: never
    held = [m for m in sb.ledger() if m.order_number in declined]
    assert held == []
    import psycopg

    with psycopg.connect(pg_url) as db:  # the worker kills did land mid-row: rows were taken over
        taken_over = db.execute("SELECT COUNT(*) FROM autopay_charges WHERE claims > 1").fetchone()[0]
    assert taken_over >= 1
    local = subprocess.run(charge_cmd(sb, file, "--journal", str(tmp_path / "local.sqlite"), "--quiet",
                                      "--report", str(tmp_path / "local.csv")),
                           capture_output=True, text=True, timeout=300)
    assert local.returncode == EXIT_DECLINED, local.stderr
    assert _outcomes(tmp_path / "local.csv") == _outcomes(tmp_path / "cluster.csv")
    assert {n: c for n, c in sb.engine.charges_by_order_number().items() if n.startswith("K-")} == ledger


def _outcomes(report):
    with open(report, newline="", encoding="utf-8") as handle:
        return sorted((row["order_number"], row["outcome"]) for row in csv.DictReader(handle))


@pytest.mark.sandbox(latency=0.05)
def test_a_stop_starts_no_new_row_and_a_second_run_goes_on(tmp_path, pg_url, redis_server, sb):
    file = _one_customers_batch(sb, tmp_path, "ST", 40, "1.00")
    env = worker_env(sb, pg_url, redis_server)
    worker = Worker("w1", env, concurrency=2)
    journal = pg_url + "?merchant=shop&batch=st"
    runner = producer(sb, journal, redis_server)
    at_stop = []
    inner = sb.engine.on_event

    def stop_after_five(event):
        if event.kind is EventKind.CHARGED and event.order.order_number.startswith("ST-"):
            charged = sum(1 for n in sb.engine.charges_by_order_number() if n.startswith("ST-"))
            if charged == 5 and not at_stop:
                at_stop.append(charged)
                runner.stop()  # as Ctrl-C on the producer
        inner(event)

    sb.engine.on_event = stop_after_five
    done = {}
    try:
        first = runner.run(file)
        sb.engine.on_event = inner
        # the rows the stop left queued are queued again at once, not after a resend timeout
        again = threading.Thread(daemon=True, target=lambda: done.update(
            second=producer(sb, journal, redis_server, resend_after=3600).run(file)))
        again.start()
        again.join(60)
        assert not again.is_alive(), "the resumed run did not queue the rows the stop left"
    finally:
        worker.stop()
    second = done["second"]
    assert first.interrupted and first.not_started > 0
    assert first.paid <= at_stop[0] + 2  # at most the two charges in flight at the stop
    assert (second.paid, second.not_started) == (40, 0)
    charged = {n: c for n, c in sb.engine.charges_by_order_number().items() if n.startswith("ST-")}
    assert charged == {f"ST-{i:03d}": 1 for i in range(40)}


def test_tasks_lost_by_the_broker_are_sent_again(tmp_path, pg_url, redis_server, sb):
    import psycopg
    import redis

    file = _one_customers_batch(sb, tmp_path, "LB", 20, "1.00")
    env = worker_env(sb, pg_url, redis_server)
    journal = pg_url + "?merchant=shop&batch=lb"
    runner = producer(sb, journal, redis_server, resend_after=1.0)
    result = {}
    run = threading.Thread(daemon=True, target=lambda: result.update(summary=runner.run(file)))
    run.start()
    worker = None
    try:
        with psycopg.connect(pg_url) as db:  # until the producer has queued every row (bounded)
            for _ in range(3000):
                try:
                    found = db.execute("SELECT COUNT(*) FROM autopay_charges WHERE batch = 'lb' "
                                       "AND state = 'pending'").fetchone()[0]
                except psycopg.errors.UndefinedTable:  # the producer has not opened the journal yet
                    db.rollback()
                    found = 0
                if found == 20:
                    break
                run.join(0.01)
            assert found == 20
        redis.Redis.from_url(redis_server).flushall()  # the broker loses every message
        worker = Worker("w1", env)
        run.join(120)
        assert not run.is_alive(), "the producer waited for ever for lost tasks"
    finally:
        if worker is not None:
            worker.stop()
    assert result["summary"].paid == 20
    charged = {n: c for n, c in sb.engine.charges_by_order_number().items() if n.startswith("LB-")}
    assert charged == {f"LB-{i:03d}": 1 for i in range(20)}


def test_one_rate_for_the_whole_cluster(tmp_path, pg_url, redis_server, sb):
    """AUTOPAY_RATE is the merchant's, not a worker's: two workers of 2 processes each at 20 a
    second together start 41 charges over at least 2 s (four separate limits would take 0.5 s)."""
    file = _one_customers_batch(sb, tmp_path, "RT", 41, "1.00")
    env = worker_env(sb, pg_url, redis_server, AUTOPAY_RATE="20")
    workers = [Worker("w1", env), Worker("w2", env)]
    try:
        summary = producer(sb, pg_url + "?merchant=rate&batch=r1", redis_server).run(file)
    finally:
        for worker in workers:
            worker.stop()
    assert summary.paid == 41
    started = sorted(o.created_at for o in sb.engine.orders() if o.order_number.startswith("RT-"))
    assert started[-1] - started[0] >= 2.0 * 0.95  # 40 gaps of 1/20 s (a little slack for clock reads)


@pytest.mark.sandbox(latency=0.01)
def test_every_task_delivered_three_times_charges_each_row_once(tmp_path, pg_url, redis_server, sb):
    """At least once means sometimes twice or more: each row's task is sent twice before the run
    (as a broker that redelivers, or a retried send), and the run sends it a third time."""
    from autopay_soap.batch.journal import open_journal
    from autopay_soap.batch.rows import read_rows
    from autopay_soap.celery import app, charge_row, row_message

    file = _one_customers_batch(sb, tmp_path, "DU", 30, "1.00")
    journal_url = pg_url + "?merchant=shop&batch=du"
    app.conf.broker_url = redis_server
    with open_journal(journal_url, runner_lock=False) as journal:
        for row in read_rows(file):
            journal.queue(row)
            for _ in range(2):
                charge_row.apply_async(args=(row_message("shop", "du", row.order_number),))
    workers = [Worker("w1", worker_env(sb, pg_url, redis_server)),
               Worker("w2", worker_env(sb, pg_url, redis_server))]
    try:
        summary = producer(sb, journal_url, redis_server).run(file)
    finally:
        for worker in workers:
            worker.stop()
    assert summary.paid == 30
    charged = {n: c for n, c in sb.engine.charges_by_order_number().items() if n.startswith("DU-")}
    assert charged == {f"DU-{i:03d}": 1 for i in range(30)}


def test_a_merchant_decline_stops_the_cluster_batch(tmp_path, pg_url, redis_server, sb):
    bad = bind(sb, "shop-setting", TestCards.RECURRING_MERCHANT)
    good = bind(sb, "cust")
    file = tmp_path / "m.csv"
    write_csv(file, [("MC-000", "shop-setting", bad, "1.00", "RUB", "")]
              + [(f"MC-{i:03d}", "cust", good, "1.00", "RUB", "") for i in range(1, 40)])
    worker = Worker("w1", worker_env(sb, pg_url, redis_server), concurrency=1)
    try:
        summary = producer(sb, pg_url + "?merchant=shop&batch=mc", redis_server).run(
            file, report=tmp_path / "m-report.csv")
    finally:
        worker.stop()
    report = {r["order_number"]: r for r in csv.DictReader((tmp_path / "m-report.csv").open())}
    assert summary.exit_code == EXIT_CONFIG and "merchant" in summary.config_error
    assert report["MC-000"]["decline_kind"] == "merchant"
    assert summary.not_started > 0  # the rows after the stop were left for the next run


def test_a_producer_without_workers_says_so_and_a_resumed_batch_does_not_count_queued_rows_done(
        tmp_path, pg_url, redis_server, sb):
    """Three operator defects of issue 28: with no worker running the producer said nothing; a
    resumed batch whose rows were all still queued showed ``10/10 done``; ``charged_this_run``
    counted rows merely queued."""
    import io

    file = _one_customers_batch(sb, tmp_path, "NW", 10, "3.00")
    journal = pg_url + "?merchant=shop&batch=nw"
    runs = []
    for _ in range(2):  # the second run resumes the batch its first left queued
        shown = io.StringIO()
        summary = producer(sb, journal, redis_server, quiet=False, progress=shown, progress_interval=0.05,
                           give_up_after=0.6, no_worker_after=0.3).run(file)
        runs.append((summary, shown.getvalue()))
    assert sb.engine.charges_by_order_number().get("NW-000") is None  # no worker: nothing charged
    for summary, shown in runs:
        assert summary.charged_this_run == 0 and summary.paid == 0 and summary.not_started == 10
        lines = [line for line in shown.splitlines() if " done " in line]
        assert lines and all(line.startswith("autopay-soap: 0/10 done") for line in lines), lines
        assert shown.count("no worker has taken a row of this batch") == 1
        assert f"broker redis://127.0.0.1:{redis_server.rsplit(':', 1)[1].split('/')[0]}" in shown
