"""Flask views over the receivers (the ``flask`` extra).

Mounting, the handler and what it may trust: docs/flask.rst (:doc:`/flask`).

The route also takes a ``Blueprint``. The view reads the raw query string or body — never
``request.args`` or ``request.form``, whose ``MultiDict`` hides a repeated parameter behind its
first value — and refuses a declared ``Content-Length`` over the limit before reading.
"""

from __future__ import annotations

from typing import Any, Callable

from flask import Response, request

from .common import MAX_NOTIFICATION_BYTES
from .receiver import TOO_LARGE, Answer, too_large

__all__ = ["add_callback_route", "callback_view"]


def _response(answer: Answer) -> Response:
    return Response(answer.body, status=answer.status, mimetype="text/plain")


def callback_view(receiver: Any) -> Callable[[], Response]:
    """A Flask view function answering the gateway's notifications with ``receiver``."""

    def view() -> Response:
        body = None
        if request.method == "POST":
            if too_large(request.headers.get("Content-Length")):
                return _response(TOO_LARGE)
            body = request.stream.read(MAX_NOTIFICATION_BYTES + 1)  # never more than the limit, whatever was declared
            if len(body) > MAX_NOTIFICATION_BYTES:
                return _response(TOO_LARGE)
        return _response(receiver.receive(request.method, request.environ.get("QUERY_STRING", ""), body))

    return view


def add_callback_route(app: Any, rule: str, receiver: Any, *, endpoint: str = "") -> None:
    """Route ``rule`` of ``app`` (a ``Flask`` app or a ``Blueprint``) to ``receiver``, for the
    methods it takes; ``endpoint`` defaults to one named after the rule."""
    name = endpoint or "autopay_callback" + rule.replace("/", "_").replace("<", "").replace(">", "")
    app.add_url_rule(rule, endpoint=name, view_func=callback_view(receiver), methods=list(receiver.methods))
