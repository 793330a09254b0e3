"""The sandbox's notification sender: callbacks leave from a thread of their own, with retries."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import requests

__all__ = ["Notifier"]


class Notifier:
    """Sends callbacks in a background thread; retries like the gateway (3 tries).

    RBS callbacks are GET queries, delivered on HTTP 200; T-Bank notifications are JSON
    POSTs (``as_json``), delivered only on HTTP 200 with the body ``OK``.
    """

    def __init__(self, *, attempts: int = 3, retry_interval: float = 30.0) -> None:
        self.attempts = attempts
        self.retry_interval = retry_interval
        self.queue: "queue.Queue[Optional[Tuple[str, Dict[str, Any], bool]]]" = queue.Queue()
        self.delivered: List[Dict[str, Any]] = []
        self.outstanding: List[Tuple[str, Dict[str, Any], bool]] = []
        self.idle = threading.Condition()
        self._pending = 0
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="sandbox-callbacks", daemon=True)
        self._thread.start()

    def submit(self, url: str, params: Dict[str, Any], *, as_json: bool = False) -> None:
        """Queue one notification (a GET query, or a JSON POST with ``as_json``)."""
        item = (url, params, as_json)
        with self.idle:
            self._pending += 1
            self.outstanding.append(item)
        self.queue.put(item)

    def snapshot(self) -> List[Dict[str, Any]]:
        """The notifications not yet delivered or given up (for a state file)."""
        with self.idle:
            return [{"url": url, "params": params, "as_json": as_json} for url, params, as_json in self.outstanding]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued callback was delivered or given up; for tests."""
        with self.idle:
            return self.idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            url, params, as_json = item
            attempts, status, delivered = 0, None, False
            while attempts < self.attempts:
                attempts += 1
                try:
                    if as_json:
                        answer = self._session.post(url, json=params, timeout=(2, 5))
                        delivered = answer.status_code == 200 and answer.content.strip() == b"OK"
                    else:
                        answer = self._session.get(url, params=params, timeout=(2, 5))
                        delivered = answer.status_code == 200
                    status = answer.status_code
                except requests.RequestException:
                    status = None
                if delivered:
                    break
                time.sleep(self.retry_interval)  # the gateway's retry period
            self.delivered.append({"url": url, "params": params, "status": status, "attempts": attempts,
                                   "delivered": delivered})
            with self.idle:
                self._pending -= 1
                if item in self.outstanding:
                    self.outstanding.remove(item)
                self.idle.notify_all()

    def stop(self) -> None:
        """Stop the thread once the queue before the stop is done (at most 5 s)."""
        self.queue.put(None)
        self._thread.join(timeout=5)
        self._session.close()
