"""A tiny Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (no extra packages).

Chromium reads commands from fd 3 and writes answers to fd 4, each a JSON text ended by NUL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any, Dict, Optional

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--remote-debugging-pipe"]


def chromium_path() -> Optional[str]:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self) -> None:
        path = chromium_path()
        if path is None:
            raise RuntimeError("chromium is not installed (.ci/run installs Debian's chromium)")
        self.profile = tempfile.mkdtemp(prefix="autopay-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # the child needs the pipes at fds 3 and 4
        def setup() -> None:
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen([path, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     preexec_fn=setup, pass_fds=(3, 4),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._id = 0
        self.session: Optional[str] = None

    def call(self, method: str, params: Optional[Dict[str, Any]] = None, session: bool = True,
             timeout: float = 30) -> Dict[str, Any]:
        self._id += 1
        message: Dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                if time.monotonic() > deadline:
                    raise TimeoutError(method)
                chunk = os.read(self._from_chrome, 65536)
                if not chunk:
                    raise RuntimeError("chromium exited")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.call("Page.enable")
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str, timeout: float = 20) -> Any:
        """Evaluate a side-effect-free expression; asks again if the page was navigating."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                        "awaitPromise": True})
                return result.get("result", {}).get("value")
            except RuntimeError as exc:
                if ("navigated" not in str(exc) and "context" not in str(exc).lower()) or time.monotonic() > deadline:
                    raise

    def submit(self, fields: Dict[str, str], button: str) -> None:
        """Fill inputs by id and click ``button`` once; the click runs after this call returns."""
        script = "".join(f"document.getElementById({k!r}).value = {v!r};" for k, v in fields.items())
        self.evaluate(script + f"setTimeout(() => document.getElementById({button!r}).click(), 0); true")

    def wait_for(self, expression: str, timeout: float = 20) -> Any:
        """Poll a JS expression until it is truthy (pages load asynchronously in the browser)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            self.evaluate("new Promise(r => setTimeout(r, 50))")  # let the page move on
        raise TimeoutError(expression)

    def close(self) -> None:
        try:
            self.call("Browser.close", session=False, timeout=5)
        except Exception:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        shutil.rmtree(self.profile, ignore_errors=True)
