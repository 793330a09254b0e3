"""A throwaway Redis server for the cluster tests (Debian's redis-server on a loopback port, no
persistence: a restart loses every queued message). None of it is the library's."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
from typing import Iterator, Optional


def redis_binary() -> Optional[str]:
    """redis-server, if installed."""
    return shutil.which("redis-server")


class RedisServer:
    """One server on a port of its own; :meth:`restart` brings it back on the same port, empty."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.folder = tempfile.mkdtemp(prefix="autopay-redis.")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        """Start it; return once it says it is ready."""
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.folder, "--logfile", ""], stdout=subprocess.PIPE, text=True)
        ready = threading.Event()
        process = self.process

        def watch() -> None:  # the log on stdout: "Ready to accept connections", then keep the pipe drained
            assert process.stdout is not None
            for line in process.stdout:
                if "Ready to accept connections" in line:
                    ready.set()

        threading.Thread(target=watch, daemon=True).start()
        if not ready.wait(20):
            raise RuntimeError("redis-server did not become ready")

    def stop(self) -> None:
        """kill -9: the broker host dies."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        """Dies and comes back on the same port, with nothing queued."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and remove its files."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def running_redis(binary: str) -> Iterator[str]:
    """Start a server; yield its URL; stop it."""
    server = RedisServer(binary)
    try:
        yield server.url
    finally:
        server.close()
