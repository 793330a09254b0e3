"""Where a charge starts: the start gate that a stop closes, and the rate limiter.

After :meth:`StartGate.close` no charge passes, in any thread or worker process, and ``close``
returns exactly how many passed before it: the number the runner reports as in flight when
it was stopped.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

__all__ = ["StartGate", "_RateLimiter"]


class _Count:
    """An integer with a ``value``, like ``multiprocessing.Value`` (for the threads-only gate)."""

    def __init__(self) -> None:
        self.value = 0


class StartGate:
    """Where a charge starts. After :meth:`close` none passes, in any thread or process, and
    :meth:`close` returns exactly how many passed before it."""

    def __init__(self, stop: Any, lock: Any, started: Any) -> None:
        self.stop = stop
        self.lock = lock
        self.started = started

    @classmethod
    def for_threads(cls) -> "StartGate":
        """A gate for the threads of this process."""
        return cls(threading.Event(), threading.Lock(), _Count())

    @classmethod
    def for_processes(cls, context: Any) -> "StartGate":
        """A gate shared with worker processes (pass its parts to them)."""
        return cls(context.Event(), context.Lock(), context.Value("q", 0, lock=False))

    def enter(self) -> bool:
        """Start a charge: False once the gate is closed."""
        with self.lock:
            if self.stop.is_set():
                return False
            self.started.value += 1
            return True

    def close(self) -> int:
        """Close the gate; the number of charges started before it closed."""
        with self.lock:
            self.stop.set()
            return int(self.started.value)

    def started_count(self) -> int:
        """Charges started so far."""
        return int(self.started.value)


class _RateLimiter:
    """Start at most ``rate`` operations per second (None: unlimited), shared by threads."""

    def __init__(self, rate: Optional[float]) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self, stop: Any) -> None:
        """Wait for the next slot, or until ``stop`` is set (the caller then starts nothing)."""
        if not self.interval:
            return
        with self._lock:
            slot = max(self._next, time.monotonic())
            self._next = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            stop.wait(delay)
