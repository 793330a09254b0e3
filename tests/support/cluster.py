"""The cluster's helpers: a real Celery worker process, its environment, a ClusterRunner."""

import os
import signal
import subprocess
import sys
import threading

from autopay_soap.client import AutopayClient

from . import no_wait


class Worker:
    """``celery -A autopay_soap.celery worker`` in a session of its own (a host, for kill -9)."""

    def __init__(self, name, env, concurrency=2):
        self.ready = threading.Event()
        self.lines = []
        self._said = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "autopay_soap.celery", "worker", "-n", f"{name}@%h", "--pool",
             "prefork", "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        assert self.ready.wait(60), "the worker never became ready:\n" + "".join(self.lines[-20:])

    def _read(self):
        for line in self.proc.stdout:
            with self._said:
                self.lines.append(line)
                self._said.notify_all()
            if " ready." in line:
                self.ready.set()

    def wait_for(self, text, count=1, timeout=60):
        """True once ``text`` has appeared in ``count`` lines of the worker's log (False after ``timeout``)."""
        with self._said:
            return self._said.wait_for(lambda: sum(text in line for line in self.lines) >= count, timeout)

    def kill(self):
        """kill -9 of the whole worker (its pool processes too): a host that dies."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def worker_env(sb, pg_url, redis_url, **extra):
    env = dict(os.environ, AUTOPAY_PROFILE="sandbox", AUTOPAY_SANDBOX_URL=sb.url, AUTOPAY_RETURN_URL=sb.return_url,
               AUTOPAY_JOURNAL_DSN=pg_url, AUTOPAY_CELERY_BROKER=redis_url, AUTOPAY_CELERY_LEASE="3",
               AUTOPAY_CELERY_VISIBILITY="5")
    env.pop("AUTOPAY_PASSWORD", None)
    env.update(extra)
    return env


def producer(sb, journal, redis_url, **kw):
    from autopay_soap.celery import ClusterRunner

    factory = lambda: AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url,  # noqa: E731
                                                 sleep=no_wait)
    return ClusterRunner(factory, journal, broker=redis_url, **{"quiet": True, **kw})
