"""Progress that tells the truth: it moves while charges are in flight, counts earlier runs,
prints plain lines where there is no terminal, and ``--quiet`` silences it. No sleeps: a
charge is held inside the sandbox until the display has been seen to redraw."""

import io
import os
import pty
import subprocess
import threading

from autopay_soap.batch import EXIT_OK, BatchRunner, JournalBusy, open_journal
from autopay_soap.client import AutopayClient
from autopay_soap.sandbox import Sandbox
from autopay_soap.sandbox.lifecycle import EventKind

from ..support.batch import bind, charge_cmd, write_csv


class Output:
    """Text written by another thread or process, with a way to wait for it to grow."""

    def __init__(self):
        self.text = ""
        self.changed = threading.Condition()

    def add(self, chunk):
        with self.changed:
            self.text += chunk
            self.changed.notify_all()

    def wait_for(self, predicate, timeout=20):
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self.text), timeout)


class HoldUntil:
    """Holds the sandbox's answer to the first batch charge until ``predicate(output)`` holds."""

    def __init__(self, sb, output, predicate):
        self.output, self.predicate = output, predicate
        self.held = None
        self.text_when_held = ""
        self._inner = sb.engine.on_event
        sb.engine.on_event = self

    def __call__(self, event):
        paid = event.kind in (EventKind.CHARGED, EventKind.DEPOSITED)
        if self.held is None and paid and event.order.order_number.startswith("G-"):
            start = len(self.output.text)
            self.held = self.output.wait_for(lambda text: self.predicate(text[start:]))
            self.text_when_held = self.output.text[start:]
        self._inner(event)


def run_in_pty(cmd):
    """Run ``cmd`` with its standard error on a pseudo-terminal; (process, Output, reader thread)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    output = Output()

    def read():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            output.add(chunk.decode("utf-8", "replace"))
        os.close(master)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return proc, output, reader


def test_on_a_terminal_the_line_redraws_while_a_charge_is_in_flight(tmp_path, sb):
    binding = bind(sb, "cust")
    file = tmp_path / "g.csv"
    write_csv(file, [(f"G-{i}", "cust", binding, "1.00", "RUB", "") for i in range(2)])
    proc, output, reader = run_in_pty(charge_cmd(sb, file, "--concurrency", "1"))
    hold = HoldUntil(sb, output, lambda text: text.count("\r") >= 3)  # three redraws while held
    out, _ = proc.communicate(timeout=60)
    reader.join(10)
    assert proc.returncode == EXIT_OK
    assert hold.held, "the display did not redraw while a charge was held in flight"
    frames = [frame for frame in hold.text_when_held.split("\r") if frame.strip()]
    assert frames and all(frame.startswith("0/2 done") and "in flight 1" in frame for frame in frames)
    last = [frame for frame in output.text.split("\r") if frame.strip()][-1]
    assert last.startswith("2/2 done  paid 2  declined 0  unknown 0") and "/s  ETA" in last


def test_quiet_shows_no_progress_on_a_terminal(tmp_path, sb):
    binding = bind(sb, "cust")
    file = tmp_path / "q.csv"
    write_csv(file, [(f"Q-{i}", "cust", binding, "1.00", "RUB", "") for i in range(3)])
    proc, output, reader = run_in_pty(charge_cmd(sb, file, "--quiet"))
    out, _ = proc.communicate(timeout=60)
    reader.join(10)
    assert proc.returncode == EXIT_OK and '"paid": 3' in out
    assert "done" not in output.text and "\r" not in output.text


class TerminalStream(io.StringIO):
    """An in-memory stream that says it is a terminal."""

    def isatty(self):
        return True


def make_runner(sb, journal, concurrency=2, **options):
    return BatchRunner(lambda: AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url),
                       journal, concurrency=concurrency, **options)


def test_a_resumed_run_counts_the_rows_done_earlier(tmp_path, sb):
    binding = bind(sb, "cust")
    file = tmp_path / "r.csv"
    rows = [(f"R-{i:02d}", "cust", binding, "1.00", "RUB", "") for i in range(50)]
    write_csv(file, rows[:15])
    make_runner(sb, tmp_path / "r.sqlite", quiet=True).run(file)
    write_csv(file, rows)  # the same batch, the rest of it added
    stream = TerminalStream()
    summary = make_runner(sb, tmp_path / "r.sqlite", progress=stream).run(file)
    frames = [frame for frame in stream.getvalue().split("\r") if frame.strip()]
    assert summary.paid == 50 and summary.charged_this_run == 35
    assert frames[0].startswith("15/50 done  paid 15")
    assert frames[-1].startswith("50/50 done  paid 50")


class PlainStream:
    """Not a terminal: a log file, or cron's mail."""

    def __init__(self, output):
        self.output = output

    def write(self, text):
        self.output.add(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def test_elsewhere_a_plain_status_line_is_printed_at_an_interval(tmp_path, sb):
    binding = bind(sb, "cust")
    file = tmp_path / "g.csv"
    write_csv(file, [(f"G-{i}", "cust", binding, "1.00", "RUB", "") for i in range(2)])
    output = Output()
    hold = HoldUntil(sb, output, lambda text: text.count("\n") >= 2)
    summary = make_runner(sb, tmp_path / "g.sqlite", concurrency=1, progress=PlainStream(output),
                          progress_interval=0.05).run(file)
    assert summary.paid == 2 and hold.held
    lines = hold.text_when_held.splitlines()
    assert "\r" not in output.text
    assert all(line.startswith("autopay-soap: 0/2 done") and "in flight 1" in line for line in lines)


def test_a_symlink_to_a_journal_in_use_is_refused(tmp_path):
    journal = tmp_path / "real.sqlite"
    link = tmp_path / "link.sqlite"
    link.symlink_to(journal)
    with open_journal(journal):
        try:
            open_journal(link).open()
        except JournalBusy as exc:
            refused = str(exc)
        else:
            refused = None
        with Sandbox() as sb:
            file = tmp_path / "s.csv"
            write_csv(file, [("SL-1", "cust", "b-1", "1.00", "RUB", "")])
            out = subprocess.run(charge_cmd(sb, file, "--journal", str(link)), capture_output=True, text=True,
                                 timeout=60)
            assert sb.engine.orders() == []
    assert refused and "another runner" in refused
    assert out.returncode == 6 and "another runner" in out.stderr
