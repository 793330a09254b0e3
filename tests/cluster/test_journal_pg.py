"""The PostgreSQL journal against a real server: the SQLite journal's operations, claims with
leases, one runner per batch, merchants and batches in one database, and the batch runner on it."""

import subprocess
import sys
import threading

import pytest

from autopay_soap import Money
from autopay_soap.batch import EXIT_CONFIG, EXIT_MISMATCH, EXIT_OK, BatchConfigError, BatchRunner, JournalBusy
from autopay_soap.batch.journal import open_journal, split_url
from autopay_soap.batch.rows import ChargeRow
from autopay_soap.client import AutopayClient
from autopay_soap.sandbox import Sandbox

from ..support import no_wait
from ..support.batch import bind, charge_cmd, write_csv

pytestmark = pytest.mark.postgres


def row(number, amount="10.00", line=2):
    return ChargeRow(line=line, order_number=number, amount=Money.of(amount, "RUB"), client_id="c1",
                     binding_id="b-1")


def test_the_url_names_merchant_and_batch_and_the_repr_no_password():
    dsn, merchant, batch = split_url("postgresql://u:s3cret@db.example:5433/pay?merchant=shop-1&batch=nightly"
                                     "&sslmode=require")
    assert (dsn, merchant, batch) == ("postgresql://u:s3cret@db.example:5433/pay?sslmode=require", "shop-1",
                                      "nightly")
    assert split_url("postgres://h/db")[1:] == ("default", "default")
    with pytest.raises(ValueError, match="batch= is empty"):
        split_url("postgresql://h/db?batch=")
    journal = open_journal("postgresql://u:s3cret@db.example/pay")
    assert "s3cret" not in repr(journal) and "db.example" in repr(journal)
    assert journal.shared and not open_journal("j.sqlite").shared  # the merchant's database, not one file's


def test_the_sqlite_operations_behave_the_same(pg_url):
    with open_journal(pg_url) as journal:
        assert journal.is_empty() and journal.get("A-1") is None
        journal.intend(row("A-1"))
        assert journal.get("A-1").state == "in_flight" and journal.unresolved_count() == 1
        journal.intend(row("A-1", amount="99.00"))  # a retry never changes what the number asked for
        entry = journal.get("A-1")
        assert entry.attempts == 2 and entry.amount_minor == 1000
        assert entry.differences(row("A-1", amount="99.00")) != [] and entry.differences(row("A-1")) == []
        journal.record("A-1", "paid", order_id="o-1", gateway_code=0, action_code=0, message=None)
        assert journal.get("A-1").state == "paid" and journal.get("A-1").order_id == "o-1"
        assert journal.counts() == {"paid": 1} and journal.unresolved_count() == 0 and not journal.is_empty()


def test_one_runner_per_batch_and_the_lock_dies_with_its_process(pg_url):
    with open_journal(pg_url + "?batch=b1"):
        with pytest.raises(JournalBusy):
            open_journal(pg_url + "?batch=b1").open()
        with open_journal(pg_url + "?batch=b2"):  # another batch: its own lock
            pass
        with open_journal(pg_url + "?batch=b1", runner_lock=False):  # a worker of the runner
            pass
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys; from autopay_soap.batch.journal import open_journal; "
                               f"j = open_journal({pg_url + '?batch=b3'!r}).open(); print('held', flush=True); "
                               "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(JournalBusy):
            open_journal(pg_url + "?batch=b3").open()
    finally:
        holder.kill()  # kill -9: the server ends the session and its advisory lock
        holder.wait()
    with open_journal(pg_url + "?batch=b3"):
        pass


def test_claims_are_exclusive_until_the_lease_runs_out_and_a_takeover_says_so(pg_url):
    with open_journal(pg_url) as journal:
        assert journal.claim("C-1", "worker-a", 30) is None  # never queued: nothing to claim, nothing created
        assert journal.get("C-1") is None
        journal.queue(row("C-1"))
        first = journal.claim("C-1", "worker-a", 30)
        assert first is not None and not first.takeover
        assert journal.claim("C-1", "worker-b", 30) is None  # a live lease
        assert journal.intend(row("C-1"), owner="worker-a", lease_seconds=30)  # worker-a sends its request... dies
        journal._run("UPDATE autopay_charges SET lease_until = now() - interval '1 second'")  # time passes
        taken = journal.claim("C-1", "worker-b", 30)
        assert taken is not None and taken.takeover and taken.claims == 2  # look the order up first
        journal.record("C-1", "paid", owner="worker-b")
        assert journal.claim("C-1", "worker-c", 30) is None  # final: never claimed again


def test_concurrent_claimers_share_the_rows_without_overlap(pg_url):
    rows = [row(f"R-{i:03d}", line=i + 2) for i in range(200)]
    with open_journal(pg_url, runner_lock=False) as journal:
        for item in rows:
            journal.queue(item)
    won = {}
    lock = threading.Lock()

    def claimer(name):
        with open_journal(pg_url, runner_lock=False) as journal:
            for item in rows:
                if journal.claim(item.order_number, name, 60) is not None:
                    with lock:
                        won.setdefault(item.order_number, []).append(name)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 200 and all(len(owners) == 1 for owners in won.values())


def test_a_batch_is_one_file(pg_url):
    with open_journal(pg_url + "?batch=nightly") as journal:
        journal.bind_file("a" * 64)
        journal.bind_file("a" * 64)  # the same file again: fine (a resumed run)
        with pytest.raises(ValueError, match="another file"):
            journal.bind_file("b" * 64)


def _runner(sb, journal):
    return BatchRunner(lambda: AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url,
                                                          sleep=no_wait), journal, concurrency=4, quiet=True)


def test_the_batch_runner_charges_exactly_once_on_a_postgresql_journal(pg_url, tmp_path, sb):
    binding = bind(sb, "cust")
    file = tmp_path / "batch.csv"
    write_csv(file, [(f"PG-{i:03d}", "cust", binding, "5.00", "RUB", "") for i in range(40)])
    first = _runner(sb, pg_url + "?merchant=shop&batch=n1").run(file)
    again = _runner(sb, pg_url + "?merchant=shop&batch=n1").run(file)
    assert (first.paid, first.exit_code) == (40, EXIT_OK)
    assert again.paid == 40 and again.charged_this_run == 0
    assert sb.engine.charges_by_order_number() == {f"PG-{i:03d}": 1 for i in range(40)} | {"FIRST-cust": 1}
    # the same number in another batch of the same merchant, with another amount: a mismatch
    other = tmp_path / "other.csv"
    write_csv(other, [("PG-000", "cust", binding, "7.00", "RUB", "")])
    mixed = _runner(sb, pg_url + "?merchant=shop&batch=n2").run(other)
    assert mixed.mismatch == 1 and mixed.exit_code == EXIT_MISMATCH
    assert sb.engine.charges_by_order_number()["PG-000"] == 1
    with open_journal(pg_url + "?merchant=shop&batch=n1", runner_lock=False) as journal:
        kept = journal.get("PG-000")  # the first batch's record is untouched: no request was even sent
    assert (kept.state, kept.amount_minor, kept.attempts) == ("paid", 500, 1)


def test_an_unreachable_server_is_a_setting_error_before_any_charge(tmp_path, pg_server, sb):
    binding = bind(sb, "cust")
    file = tmp_path / "batch.csv"
    write_csv(file, [("U-1", "cust", binding, "5.00", "RUB", "")])
    port = int(pg_server.rsplit(":", 1)[1].split("/")[0])
    done = subprocess.run(charge_cmd(sb, file, "--journal", f"postgresql://postgres@127.0.0.1:{port + 1}/x"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert "journal" in done.stderr and "U-1" not in sb.engine.charges_by_order_number()


@pytest.mark.parametrize("tail", ["?bogus=1", "?merchant=", ""])
def test_a_bad_journal_url_is_refused_before_charging_and_never_prints_its_password(tmp_path, pg_server, tail):
    port = int(pg_server.rsplit(":", 1)[1].split("/")[0])
    host = f"127.0.0.1:{port}" if tail else f"127.0.0.1:{port + 1}"  # "": a server that is not there
    url = f"postgresql://postgres:s3cret-pw@{host}/postgres{tail}"
    with Sandbox() as sb:
        binding = bind(sb, "cust")
        file = tmp_path / "batch.csv"
        write_csv(file, [("P-1", "cust", binding, "5.00", "RUB", "")])
        with pytest.raises(BatchConfigError) as info:
            _runner(sb, url).run(file)
    assert info.value.setting == "journal" and "s3cret-pw" not in str(info.value)
    assert "P-1" not in sb.engine.charges_by_order_number()


def test_an_edited_file_is_not_mixed_into_a_running_batch(pg_url, tmp_path, sb):
    binding = bind(sb, "cust")
    file = tmp_path / "batch.csv"
    write_csv(file, [(f"ED-{i}", "cust", binding, "5.00", "RUB", "") for i in range(3)])
    assert _runner(sb, pg_url + "?batch=ed").run(file).paid == 3
    write_csv(file, [(f"ED-{i}", "cust", binding, "5.00", "RUB", "") for i in range(4)])  # a row more
    with pytest.raises(BatchConfigError, match="another file") as info:
        _runner(sb, pg_url + "?batch=ed").run(file)
    assert info.value.setting == "journal" and "ED-3" not in sb.engine.charges_by_order_number()
    assert _runner(sb, pg_url + "?batch=ed-2").run(file).paid == 4  # as a new batch it runs
    assert sb.engine.charges_by_order_number()["ED-0"] == 1


def test_a_table_of_an_older_version_gains_the_decline_columns_and_keeps_its_rows(pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as db:  # the table as the previous release made it
        db.execute("CREATE TABLE autopay_charges (merchant TEXT NOT NULL, order_number TEXT NOT NULL, batch TEXT NOT "
                   "NULL, line INTEGER NOT NULL, amount_minor BIGINT NOT NULL, currency TEXT NOT NULL, client_id TEXT,"
                   " instrument TEXT, two_stage INTEGER, state TEXT NOT NULL, order_id TEXT, gateway_code INTEGER, "
                   "action_code INTEGER, message TEXT, attempts INTEGER NOT NULL DEFAULT 0, owner TEXT, lease_until "
                   "TIMESTAMPTZ, claims INTEGER NOT NULL DEFAULT 0, updated_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
                   "PRIMARY KEY (merchant, order_number))")
        db.execute("INSERT INTO autopay_charges (merchant, order_number, batch, line, amount_minor, currency, state) "
                   "VALUES ('default', 'OLD-1', 'default', 2, 1000, 'RUB', 'declined')")
    with open_journal(pg_url) as journal:
        old = journal.get("OLD-1")
        assert old.state == "declined" and old.decline_kind is None and old.next_attempt_at is None
        journal.intend(row("NEW-1"))
        journal.record("NEW-1", "declined", decline_kind="soft", decline_code="116", finished_at=100.0,
                       next_attempt_at=86500.0, message="Insufficient funds")
        new = journal.get("NEW-1")
    assert (new.decline_kind, new.decline_code, new.finished_at, new.next_attempt_at, new.attempt) == \
        ("soft", "116", 100.0, 86500.0, 1)


def test_the_dunning_loop_on_a_postgresql_journal(pg_url, tmp_path):
    """A batch per night in one database: the retries of one batch are another batch of the same
    merchant, and the card counts and the hard-decline memory span them all."""
    from autopay_soap.batch.dunning import plan_dunning
    from autopay_soap.sandbox import TestCards

    def runner(sb, batch):
        return BatchRunner(lambda: AutopayClient.from_profile("sandbox", sandbox_url=sb.url,
                                                              return_url=sb.return_url, sleep=no_wait),
                           f"{pg_url}?merchant=shop&batch={batch}", quiet=True, clock=sb.clock)

    with Sandbox() as sb:
        soft = bind(sb, "c-soft", TestCards.RECOVERING_FUNDS)
        hard = bind(sb, "c-hard", TestCards.RECURRING_STOLEN)
        night = tmp_path / "night.csv"
        write_csv(night, [("D-1", "c-soft", soft, "5.00", "RUB", ""), ("D-2", "c-hard", hard, "6.00", "RUB", "")])
        assert runner(sb, "night").run(night).decline_kinds == {"soft": 1, "hard": 1}
        files = [night]
        for day in (1, 3):
            sb.clock.advance(days=day - (0 if day == 1 else 1))
            with open_journal(f"{pg_url}?merchant=shop&batch=dunning", runner_lock=False) as journal:
                plan = plan_dunning(files, journal, due=sb.clock())
                assert [r.order_number for r, _ in plan.hard] == ["D-2"]
            retry = tmp_path / f"retry-{day}.csv"
            plan.write(retry)
            files.append(retry)
            runner(sb, f"retry-{day}").run(retry)
        charges = sb.engine.charges_by_order_number()
    assert charges.get("D-1/r2") == 1 and "D-2" not in charges
    assert not any(number.startswith("D-2/") for number in charges)


def test_rows_are_queued_many_at_a_time_and_a_final_one_is_left_alone(pg_url):
    with open_journal(pg_url + "?merchant=qm&batch=b1") as journal:
        journal.intend(row("QM-2"))
        journal.record("QM-2", "paid", order_id="o-2")
        journal.intend(row("QM-3"))
        journal.record("QM-3", "unknown")
        queued = journal.queue_many([row("QM-1", line=2), row("QM-2", line=3), row("QM-3", line=4)])
        assert sorted(queued) == ["QM-1", "QM-3"]  # paid stays paid: the table has no move out of it
        assert [journal.get(n).state for n in ("QM-1", "QM-2", "QM-3")] == ["pending", "paid", "pending"]
        assert journal.get("QM-2").order_id == "o-2" and journal.queue_many([]) == []
        again = journal.queue_many([row("QM-1", line=2, amount="99.00")])  # queued again: what it asked stays
        assert again == ["QM-1"] and journal.get("QM-1").amount_minor == 1000


def test_reconcile_a_merchants_batches_together_and_leave_a_live_workers_row(pg_url, tmp_path):
    import datetime as dt

    from autopay_soap.reconcile import reconcile

    with Sandbox() as sb:
        binding = bind(sb, "cust")
        for batch, numbers in (("n1", ["M-1", "M-2"]), ("n2", ["M-3"])):
            file = tmp_path / f"{batch}.csv"
            write_csv(file, [(n, "cust", binding, "5.00", "RUB", "") for n in numbers])
            assert _runner(sb, pg_url + f"?merchant=shop&batch={batch}").run(file).paid == len(numbers)
        other = tmp_path / "other.csv"  # another merchant's rows: never this merchant's differences
        write_csv(other, [("X-1", "cust", binding, "5.00", "RUB", "")])
        _runner(sb, pg_url + "?merchant=elsewhere&batch=n1").run(other)
        sb.cabinet.refund("M-3", 100)
        with open_journal(pg_url + "?merchant=shop&batch=n2", runner_lock=False) as journal:
            journal._run("UPDATE autopay_charges SET state = 'unknown' WHERE order_number = 'M-1'")
            journal.queue(row("M-9"))  # a worker holds M-9 under a live lease: not settled
            journal.claim("M-9", "worker-a", 300)
            journal.intend(row("M-9"), owner="worker-a", lease_seconds=300)
        now = dt.datetime.now(dt.timezone.utc)
        lines = []
        with AutopayClient.from_profile("sandbox", sandbox_url=sb.url, sleep=no_wait) as client, \
                open_journal(pg_url + "?merchant=shop", runner_lock=False) as journal:
            summary = reconcile(client, journal, now - dt.timedelta(hours=1), now + dt.timedelta(hours=1),
                                report=lines.append, lookups_per_second=None, ignore=["FIRST-*"])
            settled, held = journal.get("M-1"), journal.get("M-9")
    found = sorted((line.kind.value, line.order_number) for line in lines)
    assert found == [("gateway_only", "X-1"), ("refunded", "M-3"), ("resolved", "M-1")]
    assert settled.state == "paid" and held.state == "in_flight" and summary.complete
