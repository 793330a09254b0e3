"""A card declined hard is never charged again by a later file, even with the default per-file
journal, and an upper-case copy of its binding id is the same card (issue 25, item 7)."""

import csv
import os
import subprocess

import pytest

from autopay_soap.batch import EXIT_CONFIG, EXIT_DECLINED
from autopay_soap.batch.card_memory import CardMemory, default_card_memory
from autopay_soap.sandbox import Sandbox, TestCards

from ..support.batch import bind, charge_cmd, write_csv


def test_next_months_file_with_its_own_journal_does_not_charge_a_hard_declined_card(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPAY_STATE_DIR", str(tmp_path / "state"))
    with Sandbox() as sb:
        stolen = bind(sb, "c-hard", TestCards.RECURRING_STOLEN)
        december, january = tmp_path / "december.csv", tmp_path / "january.csv"
        write_csv(december, [("DEC-1", "c-hard", stolen, "10.00", "RUB", "")])
        write_csv(january, [("JAN-1", "c-hard", stolen.upper(), "10.00", "RUB", "")])
        first = subprocess.run(charge_cmd(sb, december, "--quiet"), capture_output=True, text=True, timeout=120)
        assert first.returncode == EXIT_DECLINED, first.stderr
        tried = len([o for o in sb.engine.orders() if o.order_number == "DEC-1"])
        second = subprocess.run(charge_cmd(sb, january, "--quiet", "--report", str(tmp_path / "jan.csv")),
                                capture_output=True, text=True, timeout=120)  # journal: january.csv.journal.sqlite
        assert second.returncode == EXIT_DECLINED, second.stderr
        report = next(csv.DictReader((tmp_path / "jan.csv").open()))
        assert report["decline_kind"] == "hard" and "DEC-1" in report["message"]
        assert [o for o in sb.engine.orders() if o.order_number == "JAN-1"] == []  # nothing was sent
        assert tried == 1
    assert (tmp_path / "state" / "hard-declines.sqlite").is_file()


def test_the_memory_keeps_digests_and_the_default_follows_the_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPAY_STATE_DIR", str(tmp_path / "s"))
    assert default_card_memory() == tmp_path / "s" / "hard-declines.sqlite"
    monkeypatch.delenv("AUTOPAY_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_card_memory() == tmp_path / "xdg" / "autopay_soap" / "hard-declines.sqlite"
    memory = CardMemory(tmp_path / "m.sqlite")
    memory.remember("abc", "N-1")
    memory.remember("abc", "N-2")  # the first order stays
    assert memory.hard_decline("abc", "N-9") == "N-1" and memory.hard_decline("abc", "N-1") is None
    assert memory.hard_decline("other", "N-9") is None
    memory.close()
    assert b"abc" in (tmp_path / "m.sqlite").read_bytes()


@pytest.mark.parametrize("kind", ["garbage", "folder", "fifo"])
def test_a_memory_file_that_cannot_be_used_stops_the_run_before_any_charge(tmp_path, kind, sb):
    memory = tmp_path / "hard-declines.sqlite"
    if kind == "garbage":
        memory.write_bytes(b"\x00not a database\xff" * 100)
    elif kind == "folder":
        memory.mkdir()
    else:
        os.mkfifo(memory)  # reading it would never end
    card = bind(sb, "cust")
    file = tmp_path / "batch.csv"
    write_csv(file, [("CM-1", "cust", card, "10.00", "RUB", "")])
    out = subprocess.run(charge_cmd(sb, file, "--quiet", "--card-memory", str(memory)), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == EXIT_CONFIG, out.stderr
    assert f"card_memory: {memory} cannot be used" in out.stderr and "Traceback" not in out.stderr
    assert [o for o in sb.engine.orders() if o.order_number == "CM-1"] == []
