"""Charging in worker processes: row *i* to process *i* mod *N*, each with threads.

Each process is started afresh ("spawn"), builds its own clients from the picklable
``client_factory``, opens the journal without the runner lock (its parent holds it) and charges
its share with a :class:`~.threads.ThreadExecutor`, reporting to the parent through a queue
(the same :class:`~.events.RunEvents` calls). The start gate is shared:
a stop in the parent stops every process.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import time
from typing import Any, Callable, List, Optional, Tuple

import attr

from ...client import AutopayClient
from ...declines import DEFAULT_SCHEDULE, RetrySchedule
from ...errors import ValidationError
from ...redact import describe_callable
from ..card_memory import CardMemory
from ..gate import StartGate
from ..journal import open_journal
from ..states import RowState
from .events import ChargePass, RunEvents
from .threads import ThreadExecutor

__all__ = ["ProcessExecutor"]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ProcessExecutor:
    """``processes`` worker processes sharing ``concurrency`` threads and ``rate_limit``."""

    processes: int
    concurrency: int = 8
    rate_limit: Optional[float] = None

    def check(self, journal: str, client_factory: Callable[[], AutopayClient]) -> None:
        """The client factory must be picklable: each process builds its own clients."""
        try:
            pickle.dumps(client_factory)
        except Exception as exc:  # noqa: BLE001 - pickle raises several types
            raise ValidationError(
                "client_factory: with processes > 1 it must be picklable (a module-level function or a "
                f"functools.partial), this one is not ({type(exc).__name__})", field="client_factory") from None

    @staticmethod
    def gate() -> StartGate:
        """A start gate shared with the worker processes."""
        return StartGate.for_processes(multiprocessing.get_context("spawn"))

    def charge(self, job: ChargePass) -> int:
        """Charge the rows of one pass in the worker processes; how many were handed to their threads."""
        context = multiprocessing.get_context("spawn")
        count = self.processes
        events = context.Queue()
        rate = self.rate_limit / count if self.rate_limit else None
        shares = [self.concurrency // count + (1 if k < self.concurrency % count else 0) for k in range(count)]
        memory = str(job.memory.path) if job.memory is not None else None
        tasks = [_ShardTask(job.client_factory, job.journal.location, job.rows_from, k, count, shares[k], rate,
                            job.reconcile, job.fresh, os.getpid(), job.schedule, job.clock, memory)
                 for k in range(count)]
        gate = job.events.gate
        workers = [context.Process(target=_charge_shard, args=(task, (gate.stop, gate.lock, gate.started), events),
                                   daemon=True, name=f"autopay-batch-{task.index}") for task in tasks]
        for worker in workers:
            worker.start()
        try:
            submitted = _follow(job.events, events, workers)
        finally:
            if job.events.aborted:
                for worker in workers:
                    worker.kill()  # a second signal: at once; their rows in flight stay in the journal
            for worker in workers:
                worker.join()
            events.close()
        for worker in workers:
            if worker.exitcode != 0:
                job.events.failed(f"worker process {worker.name} exited with code {worker.exitcode}")
        return submitted


def _follow(run: RunEvents, events: Any, workers: List[Any]) -> int:
    """Pass the processes' reports on to the run until each has finished (or died)."""
    submitted = finished = 0
    while finished < len(workers):
        try:
            kind, value = events.get(timeout=0.25)
        except queue.Empty:
            if not any(worker.is_alive() for worker in workers):
                break  # a process that died never reports
            continue
        if kind == "charged":
            run.charged(RowState(value))
        elif kind == "submitted":
            submitted += value
            finished += 1
        elif kind == "setting":
            run.setting_refused(value)
        elif kind == "failure":  # the worker logged it and closed the shared gate already
            run.failed(value)
        elif kind == "say":
            run.say(value)
    return submitted


@attr.s(slots=True)
class _QueueEvents:
    """A worker process's :class:`~.events.RunEvents`: everything goes to the parent."""

    gate: StartGate = attr.ib()
    queue: Any = attr.ib()
    aborted: bool = attr.ib(default=False)

    def charged(self, state: RowState) -> None:
        self.queue.put(("charged", state.value))

    def setting_refused(self, reason: str) -> None:
        self.gate.close()
        self.queue.put(("setting", reason))

    def failed(self, reason: str) -> None:
        self.gate.close()
        self.queue.put(("failure", reason))

    def say(self, text: str) -> None:
        self.queue.put(("say", text))

    def when_stopped(self, hook: Callable[[], None]) -> None:
        raise NotImplementedError("a worker process's stop is its parent's")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class _ShardTask:
    """What a worker process needs to charge its share of one pass (picklable)."""

    client_factory: Callable[[], AutopayClient] = attr.ib(repr=describe_callable)
    journal: str
    rows_from: str
    """The run's row spool (:class:`~autopay_soap.batch.spool.RowSpool`), by its path."""
    index: int
    count: int
    concurrency: int
    rate_limit: Optional[float]
    reconcile: bool
    fresh: bool
    parent_pid: int
    schedule: RetrySchedule = DEFAULT_SCHEDULE
    clock: Callable[[], float] = time.time
    card_memory: Optional[str] = None


def _charge_shard(task: _ShardTask, gate: Tuple[Any, Any, Any], events: Any) -> None:
    """The body of a worker process: charge rows ``index`` mod ``count`` with threads, then report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # so does a service manager's SIGTERM
    executor = ThreadExecutor(task.concurrency, task.rate_limit, shard=(task.index, task.count),
                              parent_pid=task.parent_pid)
    memory = CardMemory(task.card_memory) if task.card_memory is not None else None
    with open_journal(task.journal, runner_lock=False) as journal:
        job = ChargePass(task.rows_from, journal, _QueueEvents(StartGate(*gate), events), task.reconcile, task.fresh,
                         task.client_factory, task.schedule, task.clock, memory)
        submitted = executor.charge(job)
    events.put(("submitted", submitted))
