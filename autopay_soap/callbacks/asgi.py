"""The receivers as ASGI apps: Starlette, FastAPI or any ASGI server (no dependency).

Mounting, the handler and what it may trust: docs/asgi.rst (:doc:`/asgi`).

(In Starlette: ``Mount("/callbacks/rbs", app=CallbackAsgiApp(...))``.) The body is read up to the
limit and no further; the verification, the gateway's confirmation and your handler run in a
worker thread (``run_in_executor``), never on the event loop, so a slow gateway does not stall
the application. The handler is a plain function: it runs in that thread.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Awaitable, Callable, Dict, MutableMapping, Optional

from .common import MAX_NOTIFICATION_BYTES
from .receiver import TOO_LARGE, Answer, too_large

__all__ = ["CallbackAsgiApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Dict[str, Any]]]
Send = Callable[[Dict[str, Any]], Awaitable[None]]


class CallbackAsgiApp:
    """An ASGI 3 app answering the gateway's notifications with ``receiver`` (an
    :class:`~autopay_soap.callbacks.RbsReceiver` or
    :class:`~autopay_soap.callbacks.TBankReceiver`)."""

    def __init__(self, receiver: Any) -> None:
        self.receiver = receiver

    def __repr__(self) -> str:
        return f"CallbackAsgiApp({self.receiver!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websockets are not ours
            return
        method = str(scope.get("method") or "GET")
        headers = {bytes(k).lower(): bytes(v) for k, v in scope.get("headers") or []}
        body: Optional[bytes] = None
        if method == "POST":
            body = await self._body(receive, headers.get(b"content-length"))
            if body is None:
                return await self._send(send, TOO_LARGE)
        query = bytes(scope.get("query_string") or b"").decode("latin-1")
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(None, functools.partial(self.receiver.receive, method, query, body))
        await self._send(send, answer)

    @staticmethod
    async def _body(receive: Receive, declared: Optional[bytes]) -> Optional[bytes]:
        """The body, or None when it is declared or found over the limit (reading stops there)."""
        if declared is not None and too_large(declared.decode("latin-1")):
            return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message.get("type") != "http.request":
                return None  # the client went away
            chunk = bytes(message.get("body") or b"")
            size += len(chunk)
            if size > MAX_NOTIFICATION_BYTES:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    @staticmethod
    async def _send(send: Send, answer: Answer) -> None:
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(answer.body)).encode())]})
        await send({"type": "http.response.body", "body": answer.body})
