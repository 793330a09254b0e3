"""docs/reconciliation.rst's command and snippets run as written against the sandbox."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from ..support.reconcile import charged_journal

CHAPTER = Path(__file__).resolve().parent.parent.parent / "docs" / "reconciliation.rst"


def blocks(kind):
    text = CHAPTER.read_text("utf-8") + "\n\nend"
    found = re.findall(rf"\.\. code-block:: {kind}\n\n(.*?)\n\n(?=\S)", text, re.S)
    return ["\n".join(line[3:] for line in block.splitlines()) for block in found]


def test_the_chapter_runs_as_written(tmp_path, monkeypatch, sb):
    console = blocks("console")[0].splitlines()
    command = shlex.split(" ".join(line.rstrip("\\").strip() for line in console[:2]).lstrip("$ "))
    assert command[:2] == ["autopay-soap", "reconcile"]
    python_snippet, cabinet_snippet = blocks("python")
    journal = charged_journal(sb, "soap", tmp_path, rows=2)
    journal.rename(tmp_path / "subs.sqlite")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTOPAY_PROFILE", "sandbox")
    monkeypatch.setenv("AUTOPAY_SANDBOX_URL", sb.url)
    ran = subprocess.run([sys.executable, "-m", "autopay_soap", *command[1:]], capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stderr  # the 4th of December: nothing of this sandbox's day
    assert json.loads(ran.stdout)["complete"] is True
    printed = []
    exec(compile(python_snippet, str(CHAPTER), "exec"), {"print": printed.append})
    assert printed[0]["transport"] == "soap" and printed[0]["exit_code"] == 0
    assert (tmp_path / "reconcile-2026-12-04.csv").read_text().startswith("kind,order_number")
    exec(compile(cabinet_snippet, str(CHAPTER), "exec"), {"sandbox": sb})
    assert sb.engine.order(order_number="R-1").status.name == "REFUNDED"
    assert sb.engine.order(order_number="R-2").status.name == "REVERSED"
    assert sb.engine.order(order_number="OUT-1").deposited == 900
