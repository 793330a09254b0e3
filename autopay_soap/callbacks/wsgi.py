"""The receivers as WSGI apps: mount them in any WSGI server or framework that takes one."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional

from .receiver import TOO_LARGE, Answer, RbsReceiver, TBankReceiver, too_large

__all__ = ["RbsCallbackApp", "TBankCallbackApp", "wsgi_answer"]


def wsgi_answer(start_response: Callable[..., Any], answer: Answer) -> List[bytes]:
    """Write ``answer`` through ``start_response``; the body to return."""
    start_response(answer.status_line, [("Content-Type", "text/plain"), ("Content-Length", str(len(answer.body)))])
    return [answer.body]


def _read_body(environ: Dict[str, Any]) -> Optional[bytes]:
    """The request body, or None when its length is missing, wrong or over the limit."""
    declared = environ.get("CONTENT_LENGTH")
    if too_large(declared):
        return None
    length = int(str(declared or "0").strip())
    return environ["wsgi.input"].read(length) if length else b""


def _serve(receiver: Any, environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
    method = str(environ.get("REQUEST_METHOD") or "GET")
    body = None
    if method == "POST":
        body = _read_body(environ)
        if body is None:
            return wsgi_answer(start_response, TOO_LARGE)
    return wsgi_answer(start_response, receiver.receive(method, str(environ.get("QUERY_STRING") or ""), body))


class RbsCallbackApp(RbsReceiver):
    """A WSGI app that receives RBS callbacks (GET query or POST form), verifies and confirms each,
    and hands each :class:`~autopay_soap.callbacks.RbsNotification` to ``handler``
    (the arguments are :class:`~autopay_soap.callbacks.RbsReceiver`'s).

    Answers 200 ``OK`` when the handler returned; 403 when verification or confirmation failed
    (logged); 500 when the gateway could not be asked or the handler raised, so that the
    gateway tries again.
    """

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Handle one WSGI request."""
        return _serve(self, environ, start_response)


class TBankCallbackApp(TBankReceiver):
    """A WSGI app that receives T-Bank notifications (JSON POST), verifies and confirms each, and
    hands it to ``handler`` (the arguments are :class:`~autopay_soap.callbacks.TBankReceiver`'s).

    Answers HTTP 200 with exactly ``OK`` when the handler returned (what T-Bank requires);
    403 when the token, the shape or the confirmation fails (logged); 500 when the gateway
    could not be asked or the handler raised, so that T-Bank sends the notification again.
    """

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Handle one WSGI request."""
        return _serve(self, environ, start_response)
