"""The batch runner with worker processes: rows dealt out, each charged once, stops and failures.

Signals with worker processes are in test_batch_stop, run with ``--processes 2``.
"""

import fcntl
import os
import signal
import subprocess
import threading

import pytest

from autopay_soap import ConfigurationError, ValidationError
from autopay_soap.batch import EXIT_OK, BatchConfigError, BatchRunner, BatchWorkerError, JournalBusy, open_journal
from autopay_soap.client import AutopayClient
from autopay_soap.retry import RetryPolicy
from autopay_soap.sandbox import FaultPlan, Sandbox

from ..support import no_wait
from ..support.batch import bind, charge_cmd, start_charging, write_csv


class RecordingFactory:
    """A picklable client factory that leaves a file named after the process that called it."""

    def __init__(self, sandbox_url, return_url, pid_dir):
        self.sandbox_url, self.return_url, self.pid_dir = sandbox_url, return_url, str(pid_dir)

    def __call__(self):
        open(os.path.join(self.pid_dir, str(os.getpid())), "a").close()
        return AutopayClient.from_profile("sandbox", sandbox_url=self.sandbox_url, return_url=self.return_url,
                                          retry=RetryPolicy(attempts=8), sleep=no_wait)


def failing_factory():
    """A client factory whose settings are wrong."""
    raise ConfigurationError("AUTOPAY_PROFILE is not set")


def wait_for_workers(journal_path, timeout=60):
    """Block until no worker process holds the journal's workers lock (they finish what is in flight)."""
    fd = os.open(str(journal_path) + ".workers.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def take():
        fcntl.flock(fd, fcntl.LOCK_EX)
        fcntl.flock(fd, fcntl.LOCK_UN)

    waiter = threading.Thread(target=take, daemon=True)
    waiter.start()
    waiter.join(timeout)
    os.close(fd)
    assert not waiter.is_alive(), "worker processes never finished"


@pytest.mark.slow
def test_rows_are_dealt_to_worker_processes_and_each_is_charged_once(tmp_path, sb):
    rows = 120
    pids = tmp_path / "pids"
    pids.mkdir()
    binding = bind(sb, "cust")
    file = tmp_path / "p.csv"
    write_csv(file, [(f"MP-{i:03d}", "cust", binding, "3.00", "RUB", "") for i in range(rows)])
    sb.faults = FaultPlan.parse("*:drop_after=0.05,http500=0.05,refuse=0.03", seed=4)
    runner = BatchRunner(RecordingFactory(sb.url, sb.return_url, pids), tmp_path / "p.sqlite",
                         concurrency=4, processes=2)
    summary = runner.run(file, report=tmp_path / "report.csv")
    workers = {int(name) for name in os.listdir(pids)}
    sb.faults = None
    again = runner.run(file)
    charges = sb.engine.charges_by_order_number()
    assert os.getpid() in workers  # the pre-flight's client
    assert len(workers - {os.getpid()}) == 2  # and two other processes built the charging clients
    assert (summary.paid, summary.unknown, summary.failed, summary.charged_this_run) == (rows, 0, 0, rows)
    assert summary.exit_code == EXIT_OK
    assert again.charged_this_run == 0 and again.paid == rows
    assert {n: c for n, c in charges.items() if n.startswith("MP-")} == {f"MP-{i:03d}": 1 for i in range(rows)}
    assert (tmp_path / "report.csv").read_text().count(",paid,") == rows


@pytest.mark.slow
def test_kill_9_of_the_runner_lets_its_workers_finish_then_resume_charges_each_row_once(tmp_path):
    rows = 240
    with Sandbox(latency=0.005) as sb:
        file = tmp_path / "k.csv"
        proc = start_charging(sb, file, "KP", rows, 40, "--concurrency", "4", "--processes", "2", amount="2.00")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        journal_path = tmp_path / "k.csv.journal.sqlite"
        wait_for_workers(journal_path)  # the orphaned workers stop feeding and record what was in flight
        with open_journal(journal_path) as journal:
            stopped = journal.counts()
        resumed = subprocess.run(charge_cmd(sb, file, "--processes", "2"), capture_output=True, text=True,
                                 timeout=300)
        final = sb.engine.charges_by_order_number()
    assert sum(stopped.values()) < rows  # the workers really stopped early
    assert "in_flight" not in stopped  # they finished and recorded their charges in flight
    assert resumed.returncode == EXIT_OK, resumed.stderr
    assert max(final.values()) == 1 and len(final) == rows + 1


def test_a_live_worker_of_an_earlier_runner_keeps_a_new_runner_out(tmp_path):
    path = tmp_path / "j.sqlite"
    with open_journal(path, runner_lock=False):  # as a worker process whose parent was killed
        with pytest.raises(JournalBusy, match="earlier runner"):
            open_journal(path).open()
    with open_journal(path) as journal:  # once it is gone, a runner opens the journal
        assert journal.is_empty()


def test_a_factory_that_cannot_be_sent_to_a_process_is_refused_before_anything(tmp_path, sb):
    file = tmp_path / "f.csv"
    write_csv(file, [("F-1", "cust", "b-1", "1.00", "RUB", "")])
    runner = BatchRunner(lambda: AutopayClient.from_profile("sandbox", sandbox_url=sb.url), tmp_path / "f.sqlite",
                         processes=2)
    with pytest.raises(ValidationError) as info:
        runner.run(file)
    assert sb.engine.orders() == []
    assert info.value.field == "client_factory" and "picklable" in info.value.message
    assert not (tmp_path / "f.sqlite").exists()


@pytest.mark.parametrize("field, value", [("concurrency", 0), ("processes", 0), ("processes", 1.5),
                                          ("concurrency", True)])
def test_concurrency_and_processes_must_be_whole_and_positive(tmp_path, field, value):
    with pytest.raises(ValidationError) as info:
        BatchRunner(failing_factory, tmp_path / "j.sqlite", **{field: value})
    assert info.value.field == field


class WorksOnlyForThePreflight:
    """A picklable factory: the first client (the pre-flight's, in the runner) is real, every later one fails."""

    def __init__(self, sandbox_url, return_url):
        self.sandbox_url, self.return_url, self.pid, self.calls = sandbox_url, return_url, os.getpid(), 0

    def __call__(self):
        self.calls += 1
        if os.getpid() != self.pid or self.calls > 1:
            raise ConfigurationError("AUTOPAY_PROFILE is not set")
        return AutopayClient.from_profile("sandbox", sandbox_url=self.sandbox_url, return_url=self.return_url)


def test_a_factory_that_cannot_build_a_client_is_found_by_the_preflight(tmp_path):
    file = tmp_path / "w.csv"
    write_csv(file, [(f"W-{i}", "cust", "b-1", "1.00", "RUB", "") for i in range(5)])
    runner = BatchRunner(failing_factory, tmp_path / "w.sqlite", concurrency=4)
    with pytest.raises(BatchConfigError, match="could not be built: ConfigurationError: AUTOPAY_PROFILE is not set"):
        runner.run(file)
    assert not (tmp_path / "w.sqlite").exists()


@pytest.mark.parametrize("processes", [1, 2])
def test_a_worker_that_cannot_build_its_client_stops_the_run_and_says_why(tmp_path, processes, sb):
    file = tmp_path / "w.csv"
    write_csv(file, [(f"W-{i}", "cust", "b-1", "1.00", "RUB", "") for i in range(50)])
    runner = BatchRunner(WorksOnlyForThePreflight(sb.url, sb.return_url), tmp_path / "w.sqlite", concurrency=4,
                         processes=processes)
    with pytest.raises(BatchWorkerError) as info:
        runner.run(file)
    assert sb.engine.orders() == []
    assert "AUTOPAY_PROFILE is not set" in str(info.value) and "0 paid" in str(info.value)
