"""The counters of one ``autopay-soap charge`` run as a Prometheus text file.

A cron job ends before any Prometheus can scrape it; the convention is the node exporter's
*textfile collector*: the job writes ``NAME.prom`` into the collector's folder and the exporter
serves it. ``autopay-soap charge FILE --metrics-file /var/lib/node_exporter/autopay.prom`` writes:

* ``autopay_batch_rows{outcome}``: the file's rows by outcome (``paid``, ``held``, ``declined``,
  ``failed``, ``unknown``, ``mismatch``, ``retry``, ``not_started``) — the summary's counts;
* ``autopay_batch_declines{kind}``: declined rows by decline kind;
* ``autopay_batch_charged_this_run``, ``autopay_batch_reconciled``: what this run recorded and
  settled by look-up;
* ``autopay_batch_exit_code``, ``autopay_batch_duration_seconds`` and
  ``autopay_batch_last_run_timestamp_seconds`` (alert when it grows old: the job stopped running).

The file is written whole or not at all (a temporary file renamed over it), so the exporter
never serves half of it. No label holds an order number, a file name or anything secret.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, List, Tuple, Union

from .outcome import BatchSummary
from .states import RowState

__all__ = ["OUTCOMES", "render", "write_metrics_file"]

OUTCOMES = tuple(state.value for state in (RowState.PAID, RowState.HELD, RowState.DECLINED, RowState.FAILED,
                                           RowState.UNKNOWN, RowState.MISMATCH, RowState.RETRY)) + ("not_started",)
"""The summary's counts, one ``autopay_batch_rows`` series each."""


def _metric(name: str, help_text: str, samples: Iterable[Tuple[str, float]]) -> List[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    lines += [f"{name}{labels} {value:g}" if isinstance(value, float) else f"{name}{labels} {value}"
              for labels, value in samples]
    return lines


def render(summary: BatchSummary, *, finished_at: float) -> str:
    """The text file of ``summary`` (Prometheus text exposition format 0.0.4)."""
    lines = _metric("autopay_batch_rows", "Rows of the last run's file by outcome",
                    [(f'{{outcome="{name}"}}', getattr(summary, name)) for name in OUTCOMES])
    lines += _metric("autopay_batch_declines", "Declined rows of the last run's file by decline kind",
                     [(f'{{kind="{kind}"}}', count) for kind, count in sorted(summary.decline_kinds.items())
                      if kind.isidentifier()])
    for name, help_text, value in (
            ("autopay_batch_charged_this_run", "Rows the last run recorded", summary.charged_this_run),
            ("autopay_batch_reconciled", "Rows the last run settled by a status look-up", summary.reconciled),
            ("autopay_batch_exit_code", "Exit code of the last run", summary.exit_code),
            ("autopay_batch_duration_seconds", "Duration of the last run", float(summary.elapsed)),
            ("autopay_batch_last_run_timestamp_seconds", "When the last run ended", float(finished_at))):
        lines += _metric(name, help_text, [("", value)])
    return "\n".join(lines) + "\n"


def write_metrics_file(path: Union[str, Path], summary: BatchSummary, *, finished_at: float) -> None:
    """Write :func:`render` to ``path`` atomically (a temporary file in the same folder, renamed)."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(render(summary, finished_at=finished_at))
        os.chmod(temporary, 0o644)  # the exporter runs as another user
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
