"""Prometheus metrics of every gateway exchange and batch row (``prometheus_client``; optional).

Give ``PrometheusHook()`` to a client or a batch runner (``events=[PrometheusHook()]``).

The metrics (labels never hold an order number, a secret or a card number):

* ``autopay_exchanges_total{transport, operation, outcome}``: gateway exchanges;
* ``autopay_exchange_seconds{transport, operation}``: their durations (a histogram);
* ``autopay_exchange_retries_total{transport, operation}``: exchanges that repeated an earlier one;
* ``autopay_rows_total{transport, outcome, decline_kind}``: batch rows recorded, by journal state;
* ``autopay_row_seconds{transport}``: how long a row took.

Served by your application's exporter (``prometheus_client.start_http_server``...). A cron job
that ends before it can be scraped writes its run's counters with ``autopay-soap charge
--metrics-file`` instead (:mod:`autopay_soap.batch.metrics_file`).
"""

from __future__ import annotations

from typing import Any, Optional

from prometheus_client import REGISTRY, Counter, Histogram

from . import observe

__all__ = ["PrometheusHook"]


class PrometheusHook:
    """An :mod:`autopay_soap.observe` hook that counts exchanges and rows.

    :param registry: where the metrics are registered (default: the global registry). Make one
        hook per registry: a second on the same registry is refused by ``prometheus_client``.
    """

    def __init__(self, registry: Optional[Any] = None) -> None:
        where = registry if registry is not None else REGISTRY
        self.exchanges = Counter("autopay_exchanges", "Gateway exchanges", ["transport", "operation", "outcome"],
                                 registry=where)
        self.exchange_seconds = Histogram("autopay_exchange_seconds", "Gateway exchange duration",
                                          ["transport", "operation"], registry=where)
        self.retries = Counter("autopay_exchange_retries", "Exchanges repeating an earlier one of the same order",
                               ["transport", "operation"], registry=where)
        self.rows = Counter("autopay_rows", "Batch rows recorded", ["transport", "outcome", "decline_kind"],
                            registry=where)
        self.row_seconds = Histogram("autopay_row_seconds", "Batch row duration", ["transport"], registry=where)

    def __repr__(self) -> str:
        return "PrometheusHook()"

    def __call__(self, event: observe.Event) -> None:
        """Count ``event``."""
        if event.kind == observe.EXCHANGE:
            self.exchanges.labels(event.transport, event.operation, event.outcome).inc()
            self.exchange_seconds.labels(event.transport, event.operation).observe(event.duration)
            if event.retried:
                self.retries.labels(event.transport, event.operation).inc()
        else:
            self.rows.labels(event.transport, event.outcome, event.decline_kind or "").inc()
            self.row_seconds.labels(event.transport).observe(event.duration)
