"""Watching the library work: one :class:`Event` for every gateway exchange and every batch row,
handed to the hooks you give (``AutopayClient(events=[...])``, ``BatchRunner(events=[...])``).

A hook is any callable taking an :class:`Event`. A hook that also has an ``opened(kind, operation,
transport, order_number)`` method returning a context manager is entered around the exchange or
row, before it starts (a tracer opens its span there; the event arrives while it is still open).

The events carry the operation, the transport,
the order number (and the gateway's order id when known), when it started, how long it took,
the outcome, the decline kind and whether it was a repeat of the same request — never a secret,
a token, a card number or a gateway's message text. A hook that raises is logged and ignored: it
never changes a charge.

Exchanges are observed where every transport's public methods are guarded
(:func:`~autopay_soap.gateways.base.guard_replies`), once per outer call; rows where every
executor charges them (:func:`~autopay_soap.batch.charge.charge_one`). With no hook the cost is
one context-variable read per call. On top of the hook: :mod:`autopay_soap.observe_otel`
(OpenTelemetry spans) and :mod:`autopay_soap.observe_prometheus` (Prometheus metrics), both
optional, and every event is logged at DEBUG on ``autopay_soap.events`` with its fields as
``extra=`` (``autopay_operation``, ``autopay_outcome``...) for structured logging.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from typing import Any, Callable, ContextManager, Dict, Iterator, NamedTuple, Optional, Sequence, Set, Tuple

__all__ = ["EXCHANGE", "ROW", "Event", "Hook", "current", "emit", "scenario", "watched"]

log = logging.getLogger("autopay_soap.events")

EXCHANGE = "exchange"
"""An :class:`Event` of one call of a gateway operation (``register_order``, ``order_status``...)."""
ROW = "row"
"""An :class:`Event` of one batch row charged (its ``outcome`` is the journal state recorded)."""

OK = "ok"
"""An exchange's outcome: the gateway answered and the answer was read."""
REFUSED = "refused"
"""The gateway said no (a decline, a wrong state...): nothing happened."""
UNKNOWN = "unknown"
"""The request may have been acted on and the answer is not known (a timeout after sending...)."""
NOT_SENT = "not_sent"
"""Nothing left: a check refused an argument, or the connection was never made."""


class Event(NamedTuple):
    """One observed exchange or row (see the module docstring). Times are seconds. An immutable
    tuple: cheap to make once per exchange."""

    kind: str
    operation: str
    transport: str
    started_at: float
    """When it started (seconds since the epoch)."""
    duration: float
    outcome: str
    order_number: Optional[str] = None
    order_id: Optional[str] = None
    decline_kind: Optional[str] = None
    retried: bool = False
    """An exchange: the same operation was already called for this order in this scenario (a
    retry, or a look-up after an unknown outcome). A row: a dunning retry (attempt 2 or more)."""
    error: Optional[str] = None
    """The error's class name (``ReadTimeout``...), never its message."""

    def fields(self) -> Dict[str, Any]:
        """The event as ``extra=`` fields of a log record (each name prefixed ``autopay_``)."""
        return {f"autopay_{name}": value for name, value in self._asdict().items()}


Hook = Callable[[Event], None]
"""What a hook is: a callable taking an :class:`Event`."""


class Scope:
    """The hooks of a scenario running in this context, its order number and the calls made."""

    __slots__ = ("hooks", "openers", "order_number", "seen")

    def __init__(self, hooks: Tuple[Hook, ...], order_number: Optional[str] = None) -> None:
        self.hooks, self.order_number = hooks, order_number
        self.openers = tuple(hook for hook in hooks if getattr(hook, "opened", None) is not None)
        self.seen: Set[Tuple[str, Optional[str]]] = set()


_SCOPE: contextvars.ContextVar[Optional[Scope]] = contextvars.ContextVar("autopay_soap_observe", default=None)


def current() -> Optional[Scope]:
    """The scope of the scenario running here, or None when nobody is watching."""
    return _SCOPE.get()


@contextlib.contextmanager
def scenario(hooks: Sequence[Hook], order_number: Optional[str] = None) -> Iterator[None]:
    """Watch what runs inside with ``hooks`` (nothing at all without hooks). An inner scenario (a
    client method calling another) keeps the outer one's order number and its record of repeats."""
    outer = _SCOPE.get()
    if not hooks or (outer is not None and outer.hooks == tuple(hooks)):
        yield
        return
    token = _SCOPE.set(Scope(tuple(hooks), order_number))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def repeated(scope: Scope, operation: str, key: Optional[str]) -> bool:
    """Note one call of ``operation`` for ``key``; True when it was called before in this scope."""
    mark = (operation, key)
    if mark in scope.seen:
        return True
    scope.seen.add(mark)
    return False


def watched(hooks: Sequence[Hook], kind: str, operation: str, transport: str,
            order_number: Optional[str]) -> ContextManager[None]:
    """Enter the ``opened(...)`` context of every hook that has one, around an exchange or a row
    (a hook whose ``opened`` raises is logged and left out); nothing when none has one."""
    openers = [hook for hook in hooks if getattr(hook, "opened", None) is not None]
    return _opened(openers, kind, operation, transport, order_number) if openers else contextlib.nullcontext()


@contextlib.contextmanager
def _opened(openers: Sequence[Any], kind: str, operation: str, transport: str,
            order_number: Optional[str]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for hook in openers:
            try:
                stack.enter_context(hook.opened(kind, operation, transport, order_number))
            except Exception:  # noqa: BLE001 - an observer never changes a charge
                log.exception("an event hook could not open %s %s", kind, operation)
        yield


def emit(hooks: Sequence[Hook], event: Event) -> None:
    """Hand ``event`` to every hook (a hook that raises is logged and skipped) and log it at DEBUG."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s %s %s outcome=%s order_number=%s duration_ms=%.1f", event.kind, event.transport,
                  event.operation, event.outcome, event.order_number, event.duration * 1000, extra=event.fields())
    for hook in hooks:
        try:
            hook(event)
        except Exception:  # noqa: BLE001 - an observer never changes a charge
            log.exception("an event hook failed on %s %s; the charge goes on", event.kind, event.operation)
