"""The sandbox clock: real time plus an offset that tests (and people) move forward.

A declined autopayment is retried days later; a test cannot wait days. Every time the sandbox
reads (order expiry, binding expiry, a recovering balance) comes from its clock, so moving the
clock moves the sandbox's world: ``sandbox.clock.advance(days=3)``, or over HTTP
``POST /_sandbox/clock`` with ``{"advance_seconds": 259200}`` for a sandbox in another process.
The clock never goes back.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

__all__ = ["MAX_OFFSET", "SandboxClock"]

MAX_OFFSET = 100 * 365.25 * 86400
"""How far the clock may be moved in all: 100 years (beyond, dates no longer make sense)."""


class SandboxClock:
    """Seconds since the epoch: ``base()`` (real time by default) plus what :meth:`advance` added."""

    def __init__(self, base: Callable[[], float] = time.time) -> None:
        self._base = base
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._base() + self._offset

    @property
    def offset(self) -> float:
        """Seconds the clock was moved forward in all."""
        return self._offset

    def advance(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> float:
        """Move the clock forward; returns the new time. A negative or non-finite step, or one that
        would take the clock more than ``MAX_OFFSET`` ahead, is refused."""
        step = days * 86400 + hours * 3600 + seconds
        with self._lock:
            if not 0 <= step <= MAX_OFFSET - self._offset:
                raise ValueError("the sandbox clock only moves forward, by a finite step, and at most 100 years "
                                 "in all")
            self._offset += step
        return self()
