"""Money safety on the cluster (issue 25): a broker message names a queued row and is no charge
order; journals come back after a database restart; one connection a worker process; no row
left waiting for a task that is gone; a worker with a refused password stops the batch; a stale
worker cannot roll a row back. Real PostgreSQL, Redis and Celery workers where the item is theirs."""

import json
import threading
import time

import attr
import pytest

from autopay_soap import Money
from autopay_soap.batch import EXIT_CONFIG, EXIT_OK, JournalBusy, JournalUnavailable
from autopay_soap.batch.journal import open_journal
from autopay_soap.batch.rows import ChargeRow
from autopay_soap.sandbox import Sandbox

from ..support import require
from ..support.batch import bind, write_csv
from ..support.cluster import Worker, producer, worker_env

pytestmark = pytest.mark.postgres


def row(number, binding="b-1", amount="10.00", line=2, client_id="cust"):
    return ChargeRow(line=line, order_number=number, amount=Money.of(amount, "RUB"), client_id=client_id,
                     binding_id=binding)


# -- what a message may say ---------------------------------------------------------------------------

def test_forged_messages_on_the_broker_charge_nothing(tmp_path, pg_url, redis_server, sb):
    """What the adversarial run did (a charge order straight on the broker, an unknown merchant,
    a boolean amount, a row of another batch, a paid row again) charges nothing; the real batch is
    charged once, and a worker with a signing key refuses unsigned names of real rows."""
    from autopay_soap.celery import app, row_message, rows_message

    binding = bind(sb, "cust")
    file = tmp_path / "batch.csv"
    write_csv(file, [(f"FG-{i:03d}", "cust", binding, "3.00", "RUB", "") for i in range(5)])
    journal = pg_url + "?merchant=shop&batch=fg"
    worker = Worker("w1", worker_env(sb, pg_url, redis_server), concurrency=1)
    try:
        assert producer(sb, journal, redis_server).run(file).paid == 5
        with open_journal(pg_url + "?merchant=shop&batch=other", runner_lock=False) as other:
            other.queue(row("OT-001", binding))  # queued in another batch, never to be charged under "fg"
        forged = [
            ("shop", "fg", {"line": 2, "order_number": "FG-900", "client_id": "cust", "binding_id": binding,
                            "amount_minor": 99999, "currency": "RUB"}),  # 999.99 RUB, as found
            ({"merchant": "ghost-shop", "batch": "x", "order_number": "FG-901"},),
            ({"merchant": "shop", "batch": "fg", "order_number": "FG-902", "amount_minor": True},),
            ({"merchant": "shop", "batch": "fg", "order_number": "OT-001"},),  # another batch's row
            (row_message("shop", "fg", "FG-000"),),  # a paid row, again
            (row_message("shop", "fg", "FG-999"),),  # never queued
        ]
        with app.connection_for_write(redis_server) as connection:
            for args in forged:
                app.send_task("autopay_soap.charge_row", args=args, connection=connection)
            # the many-row task: a paid row, one never queued, another batch's, and an amount smuggled in
            app.send_task("autopay_soap.charge_rows", args=(rows_message("shop", "fg", ["FG-001", "FG-998",
                                                                                      "OT-001"]),),
                          connection=connection)
            app.send_task("autopay_soap.charge_rows", args=({**rows_message("shop", "fg", ["FG-997"]),
                                                             "amount_minor": 1},), connection=connection)
        assert worker.wait_for("task refused", 5), "".join(worker.lines[-30:])
        assert worker.wait_for("succeeded", 5 + len(forged) + 2), "".join(worker.lines[-30:])
    finally:
        worker.stop()
    charged = sb.engine.charges_by_order_number()
    assert {n: c for n, c in charged.items() if n.startswith(("FG-", "OT-"))} == {
        f"FG-{i:03d}": 1 for i in range(5)}
    assert [m for m in sb.ledger() if m.amount in (99999, 1)] == []

    signed_file = tmp_path / "signed.csv"
    write_csv(signed_file, [(f"SG-{i:03d}", "cust", binding, "2.00", "RUB", "") for i in range(3)])
    signed_journal = pg_url + "?merchant=shop&batch=sg"
    with open_journal(pg_url + "?merchant=shop&batch=sg-x", runner_lock=False) as queued:
        queued.queue(row("SG-777", binding))  # a real queued row, named without a signature
    worker = Worker("w2", worker_env(sb, pg_url, redis_server, AUTOPAY_CELERY_SIGNING_KEY="shared-secret"),
                    concurrency=1)
    try:
        with app.connection_for_write(redis_server) as connection:
            app.send_task("autopay_soap.charge_row", args=(row_message("shop", "sg-x", "SG-777"),),
                          connection=connection)
        assert worker.wait_for("signature is missing or wrong", 1), "".join(worker.lines[-30:])
        summary = producer(sb, signed_journal, redis_server, signing_key="shared-secret").run(signed_file)
    finally:
        worker.stop()
    assert summary.paid == 3
    assert "SG-777" not in sb.engine.charges_by_order_number()


# -- a database that restarts ---------------------------------------------------------------------------

@pytest.fixture
def own_pg():
    """A PostgreSQL server of this test's own, to crash and start again."""
    from ..support.pg_server import PgServer, server_bin

    require("PostgreSQL", None if server_bin() else "no PostgreSQL server (apt-get install postgresql)", "psycopg",
             'no psycopg (pip install ".[postgres]")')
    server = PgServer(server_bin(), durable=True)
    try:
        yield server
    finally:
        server.close()


def test_a_journal_comes_back_after_a_crash_restart_and_keeps_its_runner_lock(own_pg):
    journal = open_journal(own_pg.url + "?merchant=shop&batch=r1", reconnect_for=30).open()
    try:
        journal.queue(row("RS-1"))
        own_pg.crash()  # every session cut, the runner lock with it
        own_pg.start()
        assert journal.get("RS-1").state == "pending"  # reconnected, same data
        assert journal.session.reconnects == 1
        with pytest.raises(JournalBusy):  # the runner lock was taken again on the new connection
            open_journal(own_pg.url + "?merchant=shop&batch=r1").open()
        assert journal.claim("RS-1", "w", 30) is not None
        own_pg.crash()
        own_pg.start()
        assert journal.intend(row("RS-1"), owner="w", lease_seconds=30)  # a write after the restart
        assert journal.record("RS-1", "paid", owner="w")
        assert journal.get("RS-1").state == "paid"
    finally:
        journal.close()


def test_a_write_whose_connection_died_is_read_back_before_it_is_sent_again(own_pg):
    import psycopg

    with open_journal(own_pg.url + "?batch=rb", runner_lock=False) as journal:
        journal.queue(row("RB-1"))
        assert journal.claim("RB-1", "w", 30) is not None
        backend = journal._run("SELECT pg_backend_pid()", fetch="one")[0]
        with psycopg.connect(own_pg.url, autocommit=True) as admin:  # the connection dies under the journal
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        assert journal.intend(row("RB-1"), owner="w", lease_seconds=30)
        entry = journal.get("RB-1")
        assert entry.state == "in_flight" and entry.attempts == 1  # written once


class LosesOneAnswer:
    """A psycopg connection that loses the answer to the first statement containing ``text``:
    the statement commits, then the connection dies before the answer is read."""

    def __init__(self, db, text, fired):
        self._db, self._text, self._fired = db, text, fired

    def execute(self, sql, params=()):
        import psycopg

        cursor = self._db.execute(sql, params)
        if self._text in sql and not self._fired:
            self._fired.append(sql)
            self._db.close()
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return cursor

    def __getattr__(self, name):
        return getattr(self._db, name)


@pytest.mark.parametrize("step", ["claim", "intend_owned", "intend_local", "record_owned"])
def test_a_write_that_landed_before_its_answer_was_lost_is_not_written_again(pg_url, monkeypatch, step):
    from autopay_soap.batch.journal.postgres import PgSession

    text = {"claim": "claims = claims + 1", "intend_owned": "attempts = attempts + 1, updated_at = now(), lease_until",
            "intend_local": "INSERT INTO autopay_charges", "record_owned": "owner = NULL"}[step]
    with open_journal(pg_url + "?batch=lost", runner_lock=False) as journal:
        journal.queue(row("LA-1"))
        if step != "claim":
            assert journal.claim("LA-1", "w", 30) is not None
        if step == "record_owned":
            assert journal.intend(row("LA-1"), owner="w", lease_seconds=30)
        fired = []
        connect = PgSession._connect

        def connect_then_lose(session):
            connect(session)
            session._db = LosesOneAnswer(session._db, text, fired)

        journal.session._drop()
        monkeypatch.setattr(PgSession, "_connect", connect_then_lose)
        if step == "claim":
            claim = journal.claim("LA-1", "w", 30)
            assert claim is not None and claim.claims == 1  # found ours on reading back
        elif step == "intend_owned":
            assert journal.intend(row("LA-1"), owner="w", lease_seconds=30)
        elif step == "intend_local":
            assert journal.intend(row("LA-2"))
        else:
            assert journal.record("LA-1", "paid", owner="w", order_id="o-1", finished_at=1.5)
        assert fired and journal.session.reconnects == 1  # the answer was lost, and the connection came back
        entry = journal.get("LA-2" if step == "intend_local" else "LA-1")
        expected = {"claim": ("pending", 0), "intend_owned": ("in_flight", 1), "intend_local": ("in_flight", 1),
                    "record_owned": ("paid", 1)}[step]
        assert (entry.state, entry.attempts) == expected  # written once


def test_a_database_down_past_the_budget_is_journal_unavailable(own_pg):
    journal = open_journal(own_pg.url + "?batch=down", runner_lock=False, reconnect_for=1.5).open()
    try:
        own_pg.crash()
        started = time.monotonic()
        with pytest.raises(JournalUnavailable, match="could not be reached for 2 s"):
            journal.counts()
        assert time.monotonic() - started < 15  # bounded: the budget and one connect timeout at most
    finally:
        journal.close()
        own_pg.start()


def test_the_producer_stops_with_journal_unavailable_and_the_cli_exits_8(tmp_path, own_pg, redis_server,
                                                                         monkeypatch, capsys):
    from autopay_soap.batch import EXIT_JOURNAL_UNAVAILABLE
    from autopay_soap.batch.journal.postgres import PostgresJournal
    from autopay_soap.cli import main

    with Sandbox() as sb:
        binding = bind(sb, "cust")
        file = tmp_path / "batch.csv"
        write_csv(file, [(f"DN-{i:03d}", "cust", binding, "3.00", "RUB", "") for i in range(3)])
        original, crashed = PostgresJournal.queue_many, threading.Event()

        def queue_then_crash(self, items):  # the database dies right after the first rows are queued
            queued = original(self, items)
            if not crashed.is_set():
                crashed.set()
                self.session.reconnect_for = 1.0
                own_pg.crash()
            return queued

        monkeypatch.setattr(PostgresJournal, "queue_many", queue_then_crash)
        try:
            code = main(["charge", str(file), "--profile", "sandbox", "--sandbox-url", sb.url, "--quiet",
                         "--journal", own_pg.url + "?merchant=shop&batch=dn", "--celery", redis_server])
        finally:
            own_pg.start()
    assert code == EXIT_JOURNAL_UNAVAILABLE == 8
    said = capsys.readouterr().err
    assert "could not be reached" in said and "Run the same command again" in said and "Traceback" not in said
    assert sb.engine.charges_by_order_number().get("DN-000") is None


# -- connections, leases, orphans, refused credentials ----------------------------------------------------

def test_worker_connections_stay_bounded_over_ten_batches(tmp_path, pg_url, redis_server, sb):
    import psycopg

    binding = bind(sb, "cust")
    worker = Worker("w1", worker_env(sb, pg_url, redis_server), concurrency=2)
    try:
        for night in range(10):
            file = tmp_path / f"n{night}.csv"
            write_csv(file, [(f"N{night}-{i}", "cust", binding, "1.00", "RUB", "") for i in range(4)])
            assert producer(sb, pg_url + f"?merchant=shop&batch=n{night}", redis_server).run(file).paid == 4
        with psycopg.connect(pg_url) as db:
            open_ = db.execute("SELECT COUNT(*) FROM pg_stat_activity "
                               "WHERE application_name = 'autopay_soap worker'").fetchone()[0]
    finally:
        worker.stop()
    assert 1 <= open_ <= 2  # one a pool process, whatever the number of batches


def test_a_stale_worker_cannot_roll_a_finished_row_back(pg_url):
    with open_journal(pg_url + "?batch=stale", runner_lock=False) as journal:
        journal.queue(row("SL-1"))
        assert journal.claim("SL-1", "slow", 1) is not None
        journal._run("UPDATE autopay_charges SET lease_until = now() - interval '1 second'")  # waited for a slot
        assert journal.claim("SL-1", "fast", 30).takeover  # the slow one may have sent: look the order up first
        assert journal.intend(row("SL-1"), owner="fast", lease_seconds=30)
        assert journal.record("SL-1", "paid", owner="fast", order_id="o-1")
        assert journal.intend(row("SL-1"), owner="slow", lease_seconds=30) is False  # nothing is sent
        assert journal.record("SL-1", "unknown", owner="slow") is False
        entry = journal.get("SL-1")
        assert (entry.state, entry.order_id, entry.attempts) == ("paid", "o-1", 1)


def test_rows_whose_task_is_gone_are_sent_again_and_a_stop_ends_the_wait(tmp_path, pg_url, redis_server, sb):
    """A worker killed with its lease (its row left in_flight) and a broker that lost the task:
    the producer sends those rows again and the new worker looks the order up first."""
    from autopay_soap.batch.executors import RunTracker, ThreadExecutor
    from autopay_soap.celery import _RunView, app

    binding = bind(sb, "cust")
    file = tmp_path / "batch.csv"
    write_csv(file, [(f"OR-{i:03d}", "cust", binding, "1.00", "RUB", "") for i in range(4)])
    journal_url = pg_url + "?merchant=shop&batch=or"
    runner = producer(sb, journal_url, redis_server, resend_after=0.5)
    with open_journal(journal_url, runner_lock=False) as journal:
        for number in ("OR-000", "OR-001"):  # a dead worker's rows: in flight, lease run out, no task
            journal.queue(row(number, binding, amount="1.00"))
            journal.claim(number, "dead-host:1", 30)
            journal.intend(row(number, binding, amount="1.00"), owner="dead-host:1", lease_seconds=30)
        journal._run("UPDATE autopay_charges SET lease_until = now() - interval '1 second'")
        executor, tracker = runner.executor, RunTracker(ThreadExecutor.gate())
        executor._run = _RunView(tracker, journal.counts())
        tracker.request_stop("SIGINT")  # Ctrl-C while the producer waits for rows no live worker holds
        started = time.monotonic()
        executor._follow(journal, tracker)  # the wait ends at once: what no live worker holds is the next run's
        assert time.monotonic() - started < 5
        assert journal.waiting() == {"pending": 0, "in_flight": 2, "in_flight_live": 0}
        worker = Worker("w1", worker_env(sb, pg_url, redis_server), concurrency=2)
        try:
            journal.set_stopped(False)
            app.conf.broker_url = redis_server
            follower, going_on = producer(sb, journal_url, redis_server, resend_after=0.5).executor, \
                RunTracker(ThreadExecutor.gate())
            follower._run = _RunView(going_on, journal.counts())
            follower._follow(journal, going_on)  # not stopped: the orphans are sent again and charged
            assert journal.waiting()["in_flight"] == 0
            summary = producer(sb, journal_url, redis_server, resend_after=0.5).run(file)
        finally:
            worker.stop()
    assert "taken over from a worker that stopped" in "".join(worker.lines)
    assert (summary.paid, summary.exit_code) == (4, EXIT_OK)
    charged = sb.engine.charges_by_order_number()
    assert {n: c for n, c in charged.items() if n.startswith("OR-")} == {f"OR-{i:03d}": 1 for i in range(4)}


def test_the_wait_for_lost_tasks_is_bounded(tmp_path, pg_url, redis_server):
    import redis

    with Sandbox() as sb:
        binding = bind(sb, "cust")
        file = tmp_path / "batch.csv"
        write_csv(file, [(f"GU-{i:03d}", "cust", binding, "1.00", "RUB", "") for i in range(3)])
        started = time.monotonic()  # no worker at all: the tasks wait on the broker for ever
        try:
            summary = producer(sb, pg_url + "?merchant=shop&batch=gu", redis_server, resend_after=0.3,
                               give_up_after=1.0).run(file, report=tmp_path / "report.csv")
        finally:
            redis.Redis.from_url(redis_server).flushall()  # no later test's worker meets these tasks
    assert time.monotonic() - started < 30
    assert summary.not_started == 3 and summary.exit_code == 4
    assert (tmp_path / "report.csv").read_text().count("not_started") == 3


def test_a_worker_with_a_refused_password_stops_the_batch(tmp_path, pg_url, redis_server):
    with Sandbox() as sb:
        binding = bind(sb, "cust")
        file = tmp_path / "batch.csv"
        write_csv(file, [(f"PW-{i:03d}", "cust", binding, "1.00", "RUB", "") for i in range(40)])
        worker = Worker("w1", worker_env(sb, pg_url, redis_server, AUTOPAY_PASSWORD="rotated-yesterday"),
                        concurrency=2)
        try:
            summary = producer(sb, pg_url + "?merchant=shop&batch=pw", redis_server).run(file)
        finally:
            worker.stop()
    assert summary.exit_code == EXIT_CONFIG
    assert "setting was refused" in summary.config_error
    assert summary.retry <= 4 and summary.not_started >= 36  # stopped at the first refusals, not drained
    assert sb.engine.charges_by_order_number().get("PW-000") is None


# -- everything at once -------------------------------------------------------------------------------

@pytest.mark.sandbox(latency=0.02)
@pytest.mark.slow
def test_chaos_every_queued_row_is_charged_once_and_nothing_else(tmp_path, own_pg, sb):
    """300 rows; two worker hosts each killed -9 twice, a PostgreSQL crash-restart, the broker
    killed and back empty, every task delivered twice, forged messages injected. The sandbox's
    ledger holds exactly one charge per queued row and nothing else; the producer never hangs and
    its resumed run leaves no row unresolved."""
    from autopay_soap.batch import BatchRunner
    from autopay_soap.celery import CeleryExecutor, app, row_message
    from autopay_soap.sandbox.lifecycle import EventKind

    from ..support.redis_server import RedisServer, redis_binary

    require("Redis and Celery", None if redis_binary() else "no Redis server (apt-get install redis-server)",
             "celery", 'no Celery (pip install ".[celery]")')
    broker = RedisServer(redis_binary())
    rows = 300

    class TwiceExecutor(CeleryExecutor):  # at least once means sometimes twice: every task is sent twice
        def _send(self, journal, order_number, connection):
            CeleryExecutor._send(self, journal, order_number, connection)
            CeleryExecutor._send(self, journal, order_number, connection)

    def TwiceRunner(factory, journal, *, broker, resend_after, give_up_after, **options):  # noqa: N802
        executor = TwiceExecutor(broker, resend_after=resend_after, give_up_after=give_up_after)
        return BatchRunner(factory, journal, executor=executor, **options)

    binding = bind(sb, "cust")
    file = tmp_path / "chaos.csv"
    write_csv(file, [(f"CH-{i:03d}", "cust", binding, "2.00", "RUB", "") for i in range(rows)])
    env = worker_env(sb, own_pg.url, broker.url, AUTOPAY_JOURNAL_RECONNECT="60")
    journal = own_pg.url + "?merchant=shop&batch=chaos"
    workers = {name: Worker(name, env, concurrency=3) for name in ("w1", "w2")}
    everyone = list(workers.values())  # the killed ones too: their logs hold refusals
    moments = threading.Semaphore(0)
    charged = []
    inner = sb.engine.on_event

    def count(event):
        if event.kind is EventKind.CHARGED and event.order.order_number.startswith("CH-"):
            charged.append(1)
            if len(charged) in (40, 80, 120, 160, 200, 240):
                moments.release()
        inner(event)

    sb.engine.on_event = count

    def make_runner():
        from autopay_soap.client import AutopayClient

        from ..support import no_wait

        return TwiceRunner(lambda: AutopayClient.from_profile("sandbox", sandbox_url=sb.url,
                                                              return_url=sb.return_url, sleep=no_wait),
                           journal, broker=broker.url, quiet=True, resend_after=2.0, give_up_after=120.0)

    outcome = {}
    run = threading.Thread(target=lambda: outcome.update(first=make_runner().run(file)),
                                         daemon=True)
    started = time.monotonic()
    run.start()
    try:
        for strike in ("w1", "postgres", "w2", "broker", "w1", "w2"):
            assert moments.acquire(timeout=180), f"the cluster never got to the {strike} strike"
            if strike in workers:
                workers[strike].kill()  # a host dies with its requests in flight
                workers[strike] = Worker(strike, env, concurrency=3)
                everyone.append(workers[strike])
            elif strike == "postgres":
                own_pg.crash()
                own_pg.start()
            else:
                broker.restart()
            for forged in ((("shop", "chaos", {"order_number": "CH-FORGED", "binding_id": binding,
                                              "amount_minor": 99999, "currency": "RUB"}),),
                           ({"merchant": "ghost", "batch": "chaos", "order_number": "CH-000"},),
                           ({"merchant": "shop", "batch": "chaos", "order_number": "CH-000",
                             "amount_minor": True},),
                           (row_message("shop", "chaos", "CH-999"),)):
                try:  # through this broker, not the app's pooled connection to an earlier test's
                    with app.connection_for_write(broker.url) as connection:
                        app.send_task("autopay_soap.charge_row", args=forged, connection=connection)
                except Exception:  # noqa: BLE001 - the broker may be coming back: a lost forgery is fine
                    pass
        run.join(300)
        assert not run.is_alive(), "the producer hung"
        resumed = make_runner().run(file)  # the resume: reconciles whatever the first left
    finally:
        for worker in workers.values():
            worker.stop()
        broker.close()
    assert time.monotonic() - started < 600
    assert (resumed.paid, resumed.unknown, resumed.not_started, resumed.retry) == (rows, 0, 0, 0)
    ledger = sb.engine.charges_by_order_number()
    assert {n: c for n, c in ledger.items() if n != "FIRST-cust"} == {f"CH-{i:03d}": 1 for i in range(rows)}
    assert [m for m in sb.ledger() if m.amount in (99999, 1)] == []
    lines = "".join(line for worker in everyone for line in worker.lines)
    assert "task refused, nothing charged" in lines


def test_a_stop_without_a_reason_keeps_the_workers_reason(pg_url):
    with open_journal(pg_url + "?batch=why", runner_lock=False) as journal:
        journal.set_stopped(True, "a worker's setting was refused (row W-1): not charged")
        journal.set_stopped(True)  # the producer's own stop, after it read the reason
        assert journal.stop_state() == (True, "a worker's setting was refused (row W-1): not charged")
        journal.set_stopped(False)  # the next run goes on: the reason is gone
        assert journal.stop_state() == (False, None)


def test_a_hand_edited_queued_row_is_refused_not_charged(pg_url):
    """The journal is a way in too: a row no producer could have written (amount 0, a binding
    that does not match its digest, a card column cleared, an unknown currency) is refused."""
    from autopay_soap.errors import ValidationError

    edits = {"amount_minor = 0": "amount_minor", "amount_minor = -5": "amount_minor",
             "binding_id = 'someone-elses'": "binding_id", "instrument_column = NULL": "journal",
             "currency = 'XXX'": None}
    with open_journal(pg_url + "?merchant=shop&batch=ed", runner_lock=False) as journal:
        for k, (edit, field) in enumerate(edits.items()):
            number = f"ED-{k}"
            journal.queue(row(number))
            assert journal.queued_row(number)[0].amount.minor == 1000
            journal._run(f"UPDATE autopay_charges SET {edit} WHERE order_number = %s", (number,))
            with pytest.raises(ValidationError) as info:
                journal.queued_row(number)
            if field is not None:
                assert info.value.field == field, edit
        journal._run("UPDATE autopay_charges SET batch = 'another' WHERE order_number = 'ED-0'")
        assert journal.queued_row("ED-0") is None  # another batch's row is not this batch's to charge


def test_a_worker_puts_the_task_back_while_the_journal_is_unavailable(monkeypatch):
    require("Celery", None, "celery", 'no Celery (pip install ".[celery]")')
    from celery.exceptions import Retry

    import autopay_soap.celery as cluster
    from autopay_soap.batch.task_message import row_message

    def down(*_args):
        raise JournalUnavailable("the journal's PostgreSQL server (db) could not be reached for 60 s")

    put_back = []

    def retry(countdown=None, **_kw):
        put_back.append(countdown)
        return Retry(when=countdown)

    monkeypatch.setattr(cluster, "_charge_queued", down)
    monkeypatch.setattr(cluster.charge_row, "retry", retry)
    monkeypatch.setenv("AUTOPAY_CELERY_LEASE", "300")
    monkeypatch.delenv("AUTOPAY_CELERY_SIGNING_KEY", raising=False)
    with pytest.raises(Retry):
        cluster.charge_row(row_message("shop", "b", "JU-1"))
    assert put_back == [30]  # back on the broker in 30 s, charged once the database is back


def _charge_rows_with(monkeypatch, outcome):
    """Run the task ``charge_rows`` over A-1..A-4 with ``_charge_queued`` replaced by ``outcome``;
    what it charged, and what it put back on the broker (the message, the countdown)."""
    require("Celery", None, "celery", 'no Celery (pip install ".[celery]")')
    from celery.exceptions import Retry

    import autopay_soap.celery as cluster
    from autopay_soap.batch.task_message import read_rows_message, rows_message

    tried, put_back = [], []

    def charge(merchant, batch, number, lease):
        tried.append(number)
        return outcome(number)

    def retry(args=None, countdown=None, **_kw):
        put_back.append((read_rows_message(args[0], b"key"), countdown))
        return Retry(when=countdown)

    monkeypatch.setattr(cluster, "_charge_queued", charge)
    monkeypatch.setattr(cluster.charge_rows, "retry", retry)
    monkeypatch.setenv("AUTOPAY_CELERY_LEASE", "300")
    monkeypatch.setenv("AUTOPAY_CELERY_SIGNING_KEY", "key")
    try:
        result = cluster.charge_rows(rows_message("shop", "b", ["A-1", "A-2", "A-3", "A-4"], key=b"key"))
    except Retry:
        result = None
    return result, tried, put_back


def test_a_rows_task_charges_each_row_and_puts_back_only_what_it_could_not(monkeypatch):
    import autopay_soap.celery as cluster

    result, tried, put_back = _charge_rows_with(monkeypatch, lambda number: "paid")
    assert result == {"A-1": "paid", "A-2": "paid", "A-3": "paid", "A-4": "paid"} and put_back == []

    def busy_second(number):
        if number == "A-2":
            raise cluster._LeaseBusy()
        return "paid"

    result, tried, put_back = _charge_rows_with(monkeypatch, busy_second)
    assert tried == ["A-1", "A-2", "A-3", "A-4"]  # a row another worker holds does not hold up the rest
    assert put_back == [(("shop", "b", ["A-2"]), 300)]  # it alone comes back, signed, after the lease

    def down_at_third(number):
        if number == "A-3":
            raise JournalUnavailable("the journal's PostgreSQL server (db) could not be reached for 60 s")
        if number == "A-1":
            raise cluster._LeaseBusy()
        return "paid"

    result, tried, put_back = _charge_rows_with(monkeypatch, down_at_third)
    assert tried == ["A-1", "A-2", "A-3"]  # nothing more is tried while the journal is down
    assert put_back == [(("shop", "b", ["A-1", "A-3", "A-4"]), 30)]  # A-2 is done; the rest come back


def test_a_rows_task_refuses_a_forged_message_and_charges_nothing(monkeypatch):
    from autopay_soap.batch.task_message import rows_message

    calls = []
    monkeypatch.setattr("autopay_soap.celery._charge_queued", lambda *a: calls.append(a))
    import autopay_soap.celery as cluster

    monkeypatch.setenv("AUTOPAY_CELERY_SIGNING_KEY", "key")
    shifted = {**rows_message("shop", "b", ["A-1"], key=b"key"), "order_numbers": ["A-9"]}
    assert cluster.charge_rows(shifted) == {"*": "refused"}
    assert cluster.charge_rows(rows_message("shop", "b", ["A-1"], key=b"key"), "extra") == {"*": "refused"}
    assert calls == []


def test_a_producer_cuts_a_small_pass_fine_and_a_big_one_into_full_tasks():
    require("Celery", None, "celery", 'no Celery (pip install ".[celery]")')
    from autopay_soap.celery import CeleryExecutor
    from autopay_soap.errors import ValidationError

    executor = CeleryExecutor("redis://127.0.0.1:9/0")
    assert executor.task_rows(10, 0) == 1  # ten rows: ten tasks, one for each worker process
    assert executor.task_rows(400, 0) == 7  # 58 tasks
    assert executor.task_rows(2000, 0) == 32 and executor.task_rows(2000, 2000) == 63
    assert executor.task_rows(2000, 998_000) == 100  # deep in a big pass: the most a task names
    for bad in (0, 1001, True, "5"):
        with pytest.raises(ValidationError, match="rows_per_task"):
            CeleryExecutor("redis://127.0.0.1:9/0", rows_per_task=bad)


def test_a_big_load_keeps_the_planner_statistics_fresh(pg_url):
    """After 10,000 rows loaded the table is analyzed: with the statistics of an empty table,
    PostgreSQL read all of a merchant's rows for every look-up of an order number (a merchant's
    second batch of 100,000 rows queued at 1,840 rows/s instead of 7,962)."""
    import psycopg

    rows = [row(f"AN-{i:05d}", line=i + 2) for i in range(10_000)]
    with psycopg.connect(pg_url, autocommit=True) as db:
        with open_journal(pg_url + "?merchant=shop&batch=analyze", runner_lock=False) as journal:
            assert journal.queue_many(rows[:9_000]) == [r.order_number for r in rows[:9_000]]
            assert journal.queue_many(rows[9_000:]) == [r.order_number for r in rows[9_000:]]
        plan = db.execute("EXPLAIN (FORMAT JSON) SELECT 1 FROM autopay_charges WHERE merchant = 'shop'").fetchone()
    estimate = plan[0][0]["Plan"]["Plan Rows"]
    assert estimate >= 9_000, f"the planner believes the merchant has {estimate} rows"


def test_a_queued_row_carries_its_receipt_to_the_worker_and_an_edited_one_is_refused(pg_url):
    from autopay_soap import Money, Receipt, ReceiptItem
    from autopay_soap.errors import ValidationError

    receipt = Receipt([ReceiptItem("Подписка", Money.of("6.00", "RUB"), tax="vat20", payment_object="service"),
                       ReceiptItem("Сбор", Money.of("2.00", "RUB"), 2, tax="none", payment_object="service")],
                      taxation="usn_income", email="buyer@example.com")
    with open_journal(pg_url + "?merchant=shop&batch=receipts", runner_lock=False) as journal:
        for number in ("RQ-1", "RQ-2", "RQ-3"):
            journal.queue(attr.evolve(row(number), amount=Money.of("10.00", "RUB"), receipt=receipt))
        queued, state = journal.queued_row("RQ-1")
        assert state == "pending" and queued.receipt == receipt and queued.receipt_digest == journal.get("RQ-1") \
            .receipt_digest
        edited = json.dumps({**receipt.as_json(), "email": "forger@example.com"})
        journal._run("UPDATE autopay_charges SET receipt = %s WHERE order_number = 'RQ-2'", (edited,))
        with pytest.raises(ValidationError, match="receipt does not match its digest"):
            journal.queued_row("RQ-2")
        journal._run("UPDATE autopay_charges SET receipt = '{\"items\": 1}' WHERE order_number = 'RQ-3'")
        with pytest.raises(ValidationError, match="RQ-3's receipt cannot be read"):
            journal.queued_row("RQ-3")
