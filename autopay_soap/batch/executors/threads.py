"""Charging with threads of this process (the default executor).

``concurrency`` worker threads take rows from a bounded queue; each builds its own client and
charges every row through :func:`~autopay_soap.batch.charge.charge_one`, after the rate limiter
and the start gate let it start.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import List, Optional, Tuple

import attr

from ...http import stop_scope
from ..charge import JournalFailed, charge_one
from ..gate import StartGate, _RateLimiter
from ..preflight import describe
from ..rows import ChargeRow
from ..states import UNRESOLVED
from .events import ChargePass

__all__ = ["ThreadExecutor"]

log = logging.getLogger(__name__)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ThreadExecutor:
    """``concurrency`` threads, at most ``rate_limit`` charges started per second (None: no limit).

    ``shard`` ``(k, n)``: charge only the rows whose position modulo ``n`` is ``k`` (a worker
    process's share); ``parent_pid``: stop feeding once that process is gone.
    """

    concurrency: int = 8
    rate_limit: Optional[float] = None
    shard: Tuple[int, int] = (0, 1)
    parent_pid: Optional[int] = None

    def check(self, journal: str, client_factory: object) -> None:
        """Nothing to check: threads share this process."""

    @staticmethod
    def gate() -> StartGate:
        """A start gate for the threads of this process."""
        return StartGate.for_threads()

    def charge(self, job: ChargePass) -> int:
        """Charge the rows of one pass; how many were handed to the threads."""
        work: "queue.Queue[Optional[ChargeRow]]" = queue.Queue(maxsize=self.concurrency)
        limiter = _RateLimiter(self.rate_limit)
        workers = [threading.Thread(target=self._worker, args=(job, work, limiter), daemon=True, name=f"batch-{i}")
                   for i in range(self.concurrency)]
        for worker in workers:
            worker.start()
        submitted = 0
        try:
            for row in job.rows(UNRESOLVED, shard=self.shard):
                if self._orphaned(job) or not self._put(job, work, row, workers):
                    break
                submitted += 1
        finally:
            if not job.events.aborted:  # a second signal: leave at once, the daemon threads die with the process
                for _ in workers:
                    self._put_end(work, workers)
                for worker in workers:
                    worker.join()
        return submitted

    @staticmethod
    def _put_end(work: "queue.Queue[Optional[ChargeRow]]", workers: List[threading.Thread]) -> None:
        """Tell one thread the pass is over; no thread left to take it (all ended): nothing to tell."""
        while True:
            try:
                work.put(None, timeout=0.2)
                return
            except queue.Full:
                if not any(worker.is_alive() for worker in workers):
                    return

    def _put(self, job: ChargePass, work: "queue.Queue[Optional[ChargeRow]]", row: ChargeRow,
             workers: List[threading.Thread]) -> bool:
        """Hand ``row`` to a thread: False when the run stops first."""
        while not job.events.gate.stop.is_set() and not self._orphaned(job):
            try:
                work.put(row, timeout=0.2)
                return True
            except queue.Full:
                if not any(worker.is_alive() for worker in workers):  # cannot happen; never hang
                    job.events.failed("every worker thread ended")
        return False

    def _orphaned(self, job: ChargePass) -> bool:
        """In a worker process: True (and stop) once the runner that started it is gone."""
        if self.parent_pid is None or os.getppid() == self.parent_pid:
            return False
        if not job.events.gate.stop.is_set():
            log.error("the batch runner process %d is gone; this worker stops feeding rows", self.parent_pid)
            job.events.gate.close()
        return True

    def _worker(self, job: ChargePass, work: "queue.Queue[Optional[ChargeRow]]", limiter: _RateLimiter) -> None:
        events = job.events
        try:
            client = job.client_factory()
        except Exception as exc:  # noqa: BLE001 - any failure: stop the run, say why, charge nothing more
            events.failed(f"a worker could not build its client ({describe(exc)})")
            while work.get() is not None:  # drain so the feeder never blocks on a full queue
                pass
            return
        try:
            with stop_scope(events.gate.stop):
                while True:
                    row = work.get()
                    if row is None:
                        return
                    limiter.wait(events.gate.stop)
                    if events.aborted or not events.gate.enter():
                        continue  # stopped: the row stays not started
                    try:
                        done = charge_one(client, job.journal, row, schedule=job.schedule, clock=job.clock,
                                          memory=job.memory, on_stop=events.setting_refused)
                    except JournalFailed as exc:
                        if not events.aborted:
                            events.failed(f"{exc} ({describe(exc.cause)})")
                        continue
                    except Exception as exc:  # noqa: BLE001 - a defect: stop the run and say so, never hang
                        log.exception("row %s: unexpected error in a worker thread", row.order_number)
                        events.failed(f"row {row.order_number}: unexpected {type(exc).__name__} in a worker thread "
                                      "(the row is left for the next run to reconcile)")
                        continue
                    if done.state is not None and done.recorded:
                        events.charged(done.state)
        finally:
            client.close()
