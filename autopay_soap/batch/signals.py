"""SIGINT and SIGTERM during a batch run: the first stops starting charges, the second ends the run at once."""

from __future__ import annotations

import signal
import threading
from typing import Any, Dict, Optional

from .errors import BatchAborted
from .executors.events import RunTracker

__all__ = ["StopOnSignals"]


class StopOnSignals:
    """While entered (in the main thread; elsewhere it does nothing), SIGINT and SIGTERM close the
    run's start gate — through a stopper thread, since a handler may take no lock — and a second
    signal raises :class:`~autopay_soap.batch.errors.BatchAborted` in the main thread."""

    def __init__(self, tracker: RunTracker) -> None:
        self.tracker = tracker
        self._signal: Optional[int] = None
        self._wake = threading.Event()
        self._previous: Dict[int, Any] = {}
        self._stopper = threading.Thread(target=self._await_signal, name="batch-stopper", daemon=True)

    def __enter__(self) -> "StopOnSignals":
        self._stopper.start()
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGINT,
                                                                                          signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._wake.set()  # release the stopper thread (after the handlers are gone)
        self._stopper.join()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._signal is not None:
            self.tracker.aborted = True
            raise BatchAborted(signum)
        self._signal = signum
        self._wake.set()  # only the stopper thread waits on this event: no lock is held here

    def _await_signal(self) -> None:
        self._wake.wait()
        if self._signal is not None:
            self.tracker.request_stop(signal.Signals(self._signal).name)
