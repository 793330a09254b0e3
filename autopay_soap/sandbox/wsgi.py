"""The sandbox as a WSGI application, for a shared test environment behind a production server.

::

    gunicorn --threads 8 'autopay_soap.sandbox.wsgi:app'
    waitress-serve --port 8089 autopay_soap.sandbox.wsgi:app

One process holds the sandbox's state, so run one worker process (with threads). Settings come
from the environment: ``AUTOPAY_SANDBOX_USERNAME``, ``AUTOPAY_SANDBOX_PASSWORD``,
``AUTOPAY_SANDBOX_PUBLIC_URL`` (the base URL clients use, put into form URLs and the WSDL;
default: taken from the first request's ``Host``), ``AUTOPAY_SANDBOX_CALLBACK_URL`` and
``AUTOPAY_SANDBOX_STATE``: a state file (see :mod:`autopay_soap.sandbox.state`) that keeps
orders, bindings and the ledger across restarts of the WSGI server; without it everything is in
memory. The file is locked by the process that opens it, so a second worker process is refused
(every request it gets is answered 500 with that one line, also logged) rather than sharing it.

The same routes and answers as the built-in server (``autopay-soap sandbox``), which stays the
default. Two injected faults act on the connection itself and need the built-in server:
``refuse`` (a TCP reset) and ``drop_after`` (the connection closed after the work, without an
answer). Under WSGI they are answered with HTTP 502 and a body that says so; every other fault
(``http500``, ``http503``, ``soap_fault``, ``garbage``, ``truncated``, ``slow``) and the latency
work the same. The request-body limit is the sandbox's own (413); timeouts and the number of
connections are the WSGI server's to set.
"""

from __future__ import annotations

import email.message
import io
import logging
import os
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..errors import ConfigurationError
from .server import DEFAULT_PASSWORD, DEFAULT_USERNAME, Sandbox, _Drop, _Handler

__all__ = ["SandboxApp", "app", "make_app"]

log = logging.getLogger(__name__)

StartResponse = Callable[[str, List[Tuple[str, str]]], Any]
_REASONS = {200: "OK", 303: "See Other", 400: "Bad Request", 404: "Not Found", 409: "Conflict",
            411: "Length Required", 413: "Payload Too Large", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable"}


class _Server:
    """What a request handler asks of its server: the sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox


class _WsgiRequest(_Handler):
    """One WSGI request run through the built-in server's routing; the answer is kept, not written."""

    def __init__(self, sandbox: Sandbox, environ: Dict[str, Any]) -> None:  # no socket: no super().__init__
        self.server = _Server(sandbox)  # type: ignore[assignment]
        self.command = environ.get("REQUEST_METHOD", "GET")
        query = environ.get("QUERY_STRING", "")
        self.path = (environ.get("PATH_INFO") or "/") + (f"?{query}" if query else "")
        headers = email.message.Message()
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers[key[5:].replace("_", "-").title()] = value
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        self.headers = headers  # type: ignore[assignment]
        self.rfile = environ.get("wsgi.input") or io.BytesIO()
        self.close_connection = False
        self.answer: Optional[Tuple[int, List[Tuple[str, str]], bytes]] = None

    def _send(self, status: int, body: bytes, content_type: str, headers: Optional[Dict[str, str]] = None) -> None:
        self.server.sandbox.save_state()
        pairs = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        pairs += [(k, v) for k, v in (headers or {}).items() if k.lower() != "connection"]
        self.answer = (status, pairs, body)

    def _reset(self) -> None:
        raise _ConnectionFault("refuse")

    def _drop(self) -> None:
        raise _ConnectionFault("drop_after")


class _ConnectionFault(Exception):
    """A fault that acts on the connection: not possible under WSGI."""


class SandboxApp:
    """A WSGI application serving ``sandbox`` (see the module docstring)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._lock = threading.Lock()
        sandbox.start_notifier()

    def __call__(self, environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            if self.sandbox.public_url is None:  # the address clients reach us by, for form URLs and the WSDL
                host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
                self.sandbox.public_url = f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
        request = _WsgiRequest(self.sandbox, environ)
        try:
            if request.command == "POST":
                request.do_POST()
            elif request.command == "GET":
                request.do_GET()
            else:
                request._send(405, b"method not allowed\n", "text/plain")
        except _ConnectionFault as fault:
            request._send(502, f"the fault {fault} acts on the connection and needs the built-in server "
                               "(autopay-soap sandbox)\n".encode(), "text/plain")
        except _Drop:  # a refusal (_refuse) already holds its answer
            pass
        status, headers, body = request.answer or (500, [("Content-Type", "text/plain")], b"no answer\n")
        start_response(f"{status} {_REASONS.get(status, 'Status')}", headers)
        return [body]


def make_app(sandbox: Optional[Sandbox] = None) -> SandboxApp:
    """A WSGI application for ``sandbox`` (default: one built from the ``AUTOPAY_SANDBOX_*`` variables)."""
    if sandbox is None:
        sandbox = Sandbox(username=os.environ.get("AUTOPAY_SANDBOX_USERNAME", DEFAULT_USERNAME),
                          password=os.environ.get("AUTOPAY_SANDBOX_PASSWORD", DEFAULT_PASSWORD),
                          callback_url=os.environ.get("AUTOPAY_SANDBOX_CALLBACK_URL") or None,
                          state=os.environ.get("AUTOPAY_SANDBOX_STATE") or None)
        sandbox.public_url = os.environ.get("AUTOPAY_SANDBOX_PUBLIC_URL") or None
    return SandboxApp(sandbox)


class _LazyApp:
    """``app``: the sandbox is built at the first request, so importing this module costs nothing."""

    def __init__(self) -> None:
        self._app: Optional[SandboxApp] = None
        self._lock = threading.Lock()

    def __call__(self, environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            if self._app is None:
                try:
                    self._app = make_app()
                except ConfigurationError as exc:  # a state file it cannot use: say so, on every request
                    log.error("the sandbox cannot start: %s", exc)
                    start_response("500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8")])
                    return [f"the sandbox cannot start: {exc}\n".encode()]
        return self._app(environ, start_response)


app = _LazyApp()
"""The WSGI entry point: ``autopay_soap.sandbox.wsgi:app``."""
