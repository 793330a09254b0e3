"""Who charges a batch's rows: threads of this process, worker processes, or a Celery cluster.

Every executor is handed one :class:`~.events.ChargePass` at a time by the
:class:`~autopay_soap.batch.runner.BatchRunner`, charges each of its rows through the one
:func:`~autopay_soap.batch.charge.charge_one` (the Celery tasks call it on the workers), and
reports through :class:`~.events.RunEvents`:

* :class:`~.threads.ThreadExecutor` (the default): ``concurrency`` threads;
* :class:`~.processes.ProcessExecutor`: ``processes`` spawned processes, each with threads;
* ``autopay_soap.celery.CeleryExecutor``: rows queued in the PostgreSQL journal and sent to
  Celery workers (the ``celery`` extra).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from ..gate import StartGate
from .events import ChargePass, RunEvents, RunTracker
from .processes import ProcessExecutor
from .threads import ThreadExecutor

__all__ = ["ChargePass", "Executor", "ProcessExecutor", "RunEvents", "RunTracker", "ThreadExecutor"]


class Executor(Protocol):
    """What charges the rows of a pass."""

    def check(self, journal: str, client_factory: Callable[[], Any]) -> None:
        """Refuse settings this executor cannot work with, before anything is charged
        (:class:`~autopay_soap.errors.ValidationError`)."""

    def gate(self) -> StartGate:
        """The run's start gate (shared with worker processes, where there are any)."""

    def charge(self, job: ChargePass) -> int:
        """Charge the rows of ``job``; how many were handed on."""
