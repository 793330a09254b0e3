"""A loopback HTTP server that misbehaves on purpose: a reply that trickles, one that never
ends, one that is huge, or no reply at all. For the tests of the limits every exchange has.

The pacing sleeps are the misbehaviour being emulated (a gateway that sends a byte every
``interval`` seconds), not synchronisation: every test waits on the client's own return.
"""

from __future__ import annotations

import socketserver
import threading
import time
from typing import Iterator

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n"


class _Handler(socketserver.BaseRequestHandler):
    server: "HostileServer"

    def handle(self) -> None:
        self.request.settimeout(10)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            while len(body) < length:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                body += chunk
            self.server.requests += 1
            for piece in getattr(self, "_" + self.server.mode)():
                if self.server.stopped.is_set():
                    return
                self.request.sendall(piece)
        except OSError:  # the client gave up: that is the point
            return

    def _trickle_body(self) -> Iterator[bytes]:
        yield HEAD + b"Content-Length: 100000\r\n\r\n"
        for _ in range(100000):
            time.sleep(self.server.interval)
            yield b" "

    def _trickle_headers(self) -> Iterator[bytes]:
        for byte in HEAD + b"X-Slow: " + b"a" * 100000:
            time.sleep(self.server.interval)
            yield bytes([byte])

    def _huge_chunked(self) -> Iterator[bytes]:
        yield HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
        element = b"<a>1</a>" * 8192
        for _ in range(100 * 1024 * 1024 // len(element)):
            yield b"%x\r\n%s\r\n" % (len(element), element)
        yield b"0\r\n\r\n"

    def _closing_late_body(self) -> Iterator[bytes]:
        """A whole, well-formed answer with ``Connection: close``, its body a moment after its head
        (HTTP/1.0 servers and proxies): the client closes the connection before it reads the body."""
        body = b'{"errorCode":"6","errorMessage":"No such order"}'
        yield (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body))
        time.sleep(self.server.interval)
        yield body

    def _huge_declared(self) -> Iterator[bytes]:
        yield HEAD + b"Content-Length: 104857600\r\n\r\n"
        yield b"<a>1</a>" * 1024
        self.server.stopped.wait(5)

    def _silent(self) -> Iterator[bytes]:
        self.server.stopped.wait(30)
        return iter(())


class HostileServer(socketserver.ThreadingTCPServer):
    """``with HostileServer("trickle_body") as srv:`` — ``srv.url`` is its base URL."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str, interval: float = 0.05) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.interval = interval
        self.requests = 0
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> "HostileServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.shutdown()
        self.server_close()

