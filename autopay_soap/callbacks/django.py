"""Django views over the receivers (the ``django`` extra).

Mounting, the handler and what it may trust: docs/django.rst (:doc:`/django`).

The view is exempt from CSRF (the gateway holds no token; the signature and the confirmation
are the check), reads the raw query string or body (a declared ``Content-Length`` over the limit
is refused before reading) and answers as the receiver says (:class:`~autopay_soap.callbacks.RbsReceiver`).
"""

from __future__ import annotations

from typing import Any, Callable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from .receiver import TOO_LARGE, Answer, too_large

__all__ = ["callback_view"]


def _response(answer: Answer) -> HttpResponse:
    return HttpResponse(answer.body, status=answer.status, content_type="text/plain")


def callback_view(receiver: Any) -> Callable[[HttpRequest], HttpResponse]:
    """A Django view answering the gateway's notifications with ``receiver`` (an
    :class:`~autopay_soap.callbacks.RbsReceiver` or
    :class:`~autopay_soap.callbacks.TBankReceiver`)."""

    @csrf_exempt
    def view(request: HttpRequest) -> HttpResponse:
        method = request.method or "GET"
        body = None
        if method == "POST":
            if too_large(request.META.get("CONTENT_LENGTH")):
                return _response(TOO_LARGE)
            body = request.body
        return _response(receiver.receive(method, request.META.get("QUERY_STRING", ""), body))

    return view
