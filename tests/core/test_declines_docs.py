"""The docs of declines stay true: the generated code table, the nightly dunning script, the
sandbox clock that the loop's tests move."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from autopay_soap import Money
from autopay_soap.sandbox import Sandbox, TestCards
from autopay_soap.sandbox.clock import SandboxClock

from ..support import AUTOPAY_MODULE, docs_script
from ..support.batch import bind, write_csv

DOCS = Path(__file__).parent.parent.parent / "docs"


def test_the_code_table_in_the_docs_is_the_code_table():
    sys.path.insert(0, str(DOCS))
    try:
        import make_decline_tables
    finally:
        sys.path.remove(str(DOCS))
    assert (DOCS / "decline-codes.inc").read_text(encoding="utf-8") == make_decline_tables.render(), \
        "run python docs/make_decline_tables.py"
    assert "decline-codes.inc" in (DOCS / "declines.rst").read_text()


def test_the_sandbox_clock_moves_forward_only():
    base = [1000.0]
    clock = SandboxClock(lambda: base[0])
    assert clock() == 1000.0
    assert clock.advance(days=1, hours=1, seconds=1) == 1000.0 + 86400 + 3600 + 1
    base[0] += 5
    assert clock() == 1005.0 + 90001 and clock.offset == 90001
    for bad in (-1, float("inf"), float("nan"), 101 * 365.25 * 86400):
        with pytest.raises(ValueError, match="forward"):
            clock.advance(seconds=bad)
    clock.advance(days=36500)  # 100 years in all is the most
    with pytest.raises(ValueError, match="100 years"):
        clock.advance(days=100)


def test_the_sandbox_clock_over_http_moves_what_the_engine_sees():
    with Sandbox() as sb:
        before = sb.engine.clock()
        answer = requests.post(sb.url + "/_sandbox/clock", json={"advance_seconds": 86400}, timeout=5)
        assert answer.status_code == 200 and answer.json()["offset"] == 86400
        assert sb.engine.clock() - before >= 86400
        for body in ({"advance_seconds": -5}, {"advance_seconds": "1"}, {"advance_seconds": True}, [1],
                     {"advance_seconds": 1e300}, {"advance_seconds": 101 * 365.25 * 86400}):
            refused = requests.post(sb.url + "/_sandbox/clock", json=body, timeout=5)
            assert refused.status_code == 400, body
        assert requests.post(sb.url + "/_sandbox/clock", data=b"{not json", timeout=5).status_code == 400
        assert sb.clock.offset == 86400
    with Sandbox(clock=lambda: 1_800_000_000.0) as fixed:
        assert requests.post(fixed.url + "/_sandbox/clock", json={"advance_seconds": 1}, timeout=5).status_code == 409


def test_the_nightly_dunning_script_retries_what_is_due(tmp_path, sb):
    script, bin_dir = docs_script(tmp_path, "dunning-nightly.sh", AUTOPAY_MODULE)
    shim = bin_dir / "autopay-soap"
    soft = bind(sb, "c-soft", TestCards.RECURRING_INSUFFICIENT)
    write_csv(tmp_path / "subs-2026-12-01.csv", [("N-1", "c-soft", soft, "4.00", "RUB", "")])
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "AUTOPAY_PROFILE": "sandbox",
           "AUTOPAY_SANDBOX_URL": sb.url}
    charged = subprocess.run([str(shim), "charge", "subs-2026-12-01.csv", "--journal", "subs.sqlite", "--quiet"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert charged.returncode == 3, charged.stderr
    quiet = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert (quiet.returncode, quiet.stderr) == (0, "")  # nothing due yet: silence
    assert not list(tmp_path.glob("retries-*.csv"))
    import sqlite3

    with sqlite3.connect(str(tmp_path / "subs.sqlite")) as db:  # the night's charges were yesterday's
        db.execute("UPDATE charges SET finished_at = finished_at - 86400")
    due = subprocess.run(["sh", str(script)], env={**env, "DUE": "2999-01-01"}, capture_output=True, text=True,
                         timeout=120)
    assert (due.returncode, due.stderr) == (0, "")
    retries = list(tmp_path.glob("retries-*-report.csv"))
    assert len(retries) == 1
    row = next(csv.DictReader(retries[0].open()))
    assert (row["order_number"], row["outcome"], row["attempt"]) == ("N-1/r1", "declined", "2")
    assert sb.engine.order(order_number="N-1/r1").amount == Money.of("4.00", "RUB").minor
