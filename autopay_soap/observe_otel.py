"""OpenTelemetry spans of every gateway exchange and batch row (``opentelemetry-api``; optional).

Give ``OpenTelemetryHook()`` to a client or a batch runner (``events=[OpenTelemetryHook()]``).

Each exchange is a ``CLIENT`` span named ``autopay_soap <operation>`` (``autopay_soap
pay_with_binding``), each batch row an ``INTERNAL`` span ``autopay_soap charge`` that is the parent
of its row's exchanges; both children of whatever span is current when they start. Attributes:
``autopay.operation``, ``autopay.transport``, ``autopay.order_number``, ``autopay.outcome``,
``autopay.decline_kind``, ``autopay.retried`` — never a secret, a token or a card number. An
exchange or row that did not end ``ok`` (or a row not ``paid``/``held``) has the span status
``ERROR`` with the outcome as its description.

Only the API is used: with no SDK configured by the application the spans are no-ops.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

from opentelemetry import trace

from . import observe

__all__ = ["OpenTelemetryHook"]

_FINE_ROWS = ("paid", "held")


class OpenTelemetryHook:
    """An :mod:`autopay_soap.observe` hook that opens a span around each exchange and row.

    :param tracer_provider: the provider to take the tracer from (default: the global one).
    """

    def __init__(self, tracer_provider: Optional[Any] = None) -> None:
        self._tracer = trace.get_tracer("autopay_soap", tracer_provider=tracer_provider)

    def __repr__(self) -> str:
        return "OpenTelemetryHook()"

    @contextlib.contextmanager
    def opened(self, kind: str, operation: str, transport: str, order_number: Optional[str]) -> Iterator[None]:
        """The span of one exchange or row, current while it runs."""
        span_kind = trace.SpanKind.CLIENT if kind == observe.EXCHANGE else trace.SpanKind.INTERNAL
        attributes = {"autopay.kind": kind, "autopay.operation": operation, "autopay.transport": transport}
        if order_number:
            attributes["autopay.order_number"] = order_number
        with self._tracer.start_as_current_span(f"autopay_soap {operation}", kind=span_kind, attributes=attributes,
                                                record_exception=False, set_status_on_exception=False):
            yield

    def __call__(self, event: observe.Event) -> None:
        """Record the event's outcome on the span it belongs to (the current one)."""
        span = trace.get_current_span()
        span.set_attribute("autopay.outcome", event.outcome)
        span.set_attribute("autopay.retried", event.retried)
        if event.decline_kind:
            span.set_attribute("autopay.decline_kind", event.decline_kind)
        if event.error:
            span.set_attribute("autopay.error", event.error)
        fine = event.outcome == observe.OK if event.kind == observe.EXCHANGE else event.outcome in _FINE_ROWS
        if not fine:
            span.set_status(trace.Status(trace.StatusCode.ERROR, event.outcome))
