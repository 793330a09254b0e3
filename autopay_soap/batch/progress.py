"""The batch runner's progress display.

On a terminal one line is redrawn four times a second from its own thread, so it moves while
the runner waits for charges in flight; elsewhere (a log file, cron's mail) a plain status
line is printed every ``interval`` seconds. Counts cover every row of the file: those done by
earlier runs on the same journal plus this run's.

Hand-written rather than a progress library: what is shown (paid, declined, unknown and in
flight as well as done/total, rate and ETA), the plain-line mode for non-terminals and the
stop notices are a few dozen lines, while ``tqdm`` would add a dependency that still needs
the same code around it (see ``docs/batch.rst``).
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, Optional, TextIO

from .states import RowState

__all__ = ["Progress"]

REDRAW_SECONDS = 0.25


class Progress:
    """Draws the progress of a run to ``stream`` (None: nothing at all).

    :param total: rows in the file.
    :param counts: this run's rows per final state (a callable, read at every redraw).
    :param in_flight: charges started and not yet recorded (a callable).
    :param earlier: rows done by earlier runs on the same journal, per state.
    :param tty: redraw one line (True) or print a status line every ``interval`` s (False).
    :param notices: where :meth:`notice` writes (default: ``stream``); set when the progress is off.
    """

    def __init__(self, stream: Optional[TextIO], total: int, counts: Callable[[], Dict[str, int]],
                 in_flight: Callable[[], int], *, earlier: Optional[Dict[str, int]] = None, tty: bool = False,
                 interval: float = 30.0, notices: Optional[TextIO] = None) -> None:
        self.stream = stream
        self.notices = notices if notices is not None else stream
        self.total = total
        self.counts = counts
        self.in_flight = in_flight
        self.earlier = dict(earlier or {})
        self.tty = tty
        self.interval = interval
        self.started = time.monotonic()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._width = 0

    def start(self) -> None:
        """Begin drawing (a daemon thread) until :meth:`finish`."""
        if self.stream is None:
            return
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._tick, name="batch-progress", daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        period = REDRAW_SECONDS if self.tty else self.interval
        if self.tty:
            self.draw()
        while not self._done.wait(period):
            self.draw()

    def line(self) -> str:
        """The status text of now."""
        now = self.counts()
        merged = {key: self.earlier.get(key, 0) + now.get(key, 0) for key in set(self.earlier) | set(now)}
        done = sum(merged.values())
        this_run = sum(now.values())
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = this_run / elapsed
        left = max(self.total - done, 0)
        eta = f"{left / rate:.0f}s" if rate > 0 and left else ("-" if left else "0s")
        def count(*states: RowState) -> int:
            return sum(merged.get(state.value, 0) for state in states)

        return (f"{done}/{self.total} done  paid {count(RowState.PAID, RowState.HELD)}  "
                f"declined {count(RowState.DECLINED)}  unknown {count(RowState.UNKNOWN)}  "
                f"failed {count(RowState.FAILED, RowState.MISMATCH)}  in flight {self.in_flight()}  "
                f"{rate:.1f}/s  ETA {eta}")

    def draw(self) -> None:
        """Draw once: redraw the line on a terminal, print a status line elsewhere."""
        if self.stream is None:
            return
        text = self.line()
        with self._lock:
            if self.tty:
                pad = " " * max(self._width - len(text), 0)
                self._width = len(text)
                self.stream.write(f"\r{text}{pad}")
            else:
                self.stream.write(f"autopay-soap: {text}\n")
            self.stream.flush()

    def notice(self, text: str) -> None:
        """A message on its own line (a stop, a refusal), the progress line redrawn under it.
        Shown even when the progress is not (``notices``)."""
        if self.notices is None:
            return
        with self._lock:
            prefix = "\r" + " " * self._width + "\r" if self.tty and self.notices is self.stream else ""
            self.notices.write(f"{prefix}autopay-soap: {text}\n")
            self._width = 0
            self.notices.flush()

    def finish(self) -> None:
        """Stop drawing; on a terminal, draw the last state and end the line."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.stream is not None and self.tty:
            self.draw()
            with self._lock:
                self.stream.write("\n")
                self.stream.flush()
