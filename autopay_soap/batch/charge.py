"""One row's charge, the same for every executor: intent, the card's rules, the gateway, the result.

:func:`charge_one` is the body of every worker — a thread of the local runner, a worker
process, a Celery task: it journals the intent (``in_flight``) before anything is sent, keeps a
card declined hard (or over its caps) from being sent at all, charges through the client (which
looks an order number up before sending it again), maps whatever happens to a
:class:`~autopay_soap.batch.states.RowState`, records it, and says when the batch must stop (a
setting refused, a merchant decline). No exception of the gateway's escapes it; a journal that
cannot be written or read raises :class:`JournalFailed` with nothing sent after the failure.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Optional, Tuple

import attr

from .. import observe
from ..client import AutopayClient, ChargeOutcome
from ..declines import DEFAULT_SCHEDULE, DeclineKind, RetrySchedule, retry_order_number
from ..declines.schedule import DAY, next_day_start
from ..errors import (
    AccessDenied,
    AuthenticationError,
    AutopayError,
    ConfigurationError,
    GatewayError,
    Interrupted,
    OrderMismatch,
    TLSError,
    ValidationError,
)
from .card_memory import CardMemory
from .journal import Journal
from .preflight import describe
from .rows import ChargeRow
from .states import RowState

__all__ = ["Charged", "JournalFailed", "blocked_or_charged", "card_cap_reached", "charge_one", "merchant_declined",
           "merchant_stop_reason", "outcome_of_row"]

log = logging.getLogger(__name__)

_STATE_OF = {ChargeOutcome.PAID: RowState.PAID, ChargeOutcome.HELD: RowState.HELD,
             ChargeOutcome.DECLINED: RowState.DECLINED, ChargeOutcome.UNKNOWN: RowState.UNKNOWN,
             ChargeOutcome.PENDING: RowState.UNKNOWN}
_CONFIG_ERRORS = (AuthenticationError, AccessDenied, TLSError, ConfigurationError)
"""Errors that are about the settings, not the row: the run stops and the row is left for the next run."""


def outcome_of_row(client: AutopayClient, row: ChargeRow, *, schedule: RetrySchedule = DEFAULT_SCHEDULE,
                   clock: Callable[[], float] = time.time,
                   first_failed_at: Optional[float] = None) -> Tuple[RowState, Dict[str, Any]]:
    """Charge one row; its journal state and fields, whatever happens (no exception escapes).

    A declined (or refused) row gets its ``decline_kind`` and ``decline_code`` and, by
    ``schedule``, its ``next_attempt_at`` (``first_failed_at``: when the charge's first attempt
    failed; this attempt's time for a first charge). A retry row (``attempt`` 2 or more) looks the
    attempt before it up first (:meth:`AutopayClient.autopay`'s ``retry_of``).
    """
    state, fields = _charge_outcome(client, row)
    now = clock()
    fields["finished_at"] = now
    decline = fields.pop("decline", None)
    if decline is not None:
        fields["decline_kind"] = decline.kind.value
        fields["decline_code"] = None if decline.code is None else str(decline.code)
        fields["next_attempt_at"] = schedule.next_attempt(decline, row.attempt, first_failed_at or now, now)
        if fields.get("message") is None:
            fields["message"] = decline.reason
    return state, fields


def _charge_outcome(client: AutopayClient, row: ChargeRow) -> Tuple[RowState, Dict[str, Any]]:
    retry_of = retry_order_number(row.root_order_number, row.attempt - 1, max_len=row.max_order_number,
                                  digest_length=row.digest_length) if row.attempt > 1 else None
    try:  # the pre-flight's checked request, as it is; a row read from the journal is checked here, once
        payment = row.payment if row.payment is not None else client.check_autopay(**row.charge_arguments())
        result = client.charge(payment, retry_of=retry_of)
    except OrderMismatch as exc:  # the number is another charge's: nothing was charged for this row
        return RowState.MISMATCH, {"order_id": exc.order_id, "message": exc.message}
    except Interrupted:  # the run is stopping: an earlier request of the row may have landed
        return RowState.UNKNOWN, {"message": "the run stopped before this charge's next request; the next run with the "
                                      "same journal reconciles it"}
    except _CONFIG_ERRORS as exc:  # a setting, not the row: charged by the next run once it is fixed
        return RowState.RETRY, {"order_id": exc.order_id, "gateway_code": exc.gateway_code,
                         "message": f"not charged: {describe(exc)}; fix the setting and run again"}
    except ValidationError as exc:  # refused before sending (cannot happen after the pre-flight's row checks)
        return RowState.FAILED, {"message": exc.message}
    except GatewayError as exc:  # the gateway's word: a refusal (nothing charged), or a system error (ambiguous)
        fields = {"order_id": exc.order_id, "gateway_code": exc.gateway_code, "message": exc.message}
        if exc.ambiguous:
            return RowState.UNKNOWN, fields
        if exc.decline is not None:  # the payment step was refused: a binding gone, a terminal setting
            return RowState.DECLINED, {**fields, "decline": exc.decline}
        return RowState.FAILED, fields
    except AutopayError as exc:  # not sent, or unknown
        return RowState.UNKNOWN, {"message": exc.message}
    except Exception as exc:  # noqa: BLE001 - a bug or a reply nobody foresaw: the row may have been charged
        log.error("row %s: unexpected %s; recorded as unknown, reconciled by the next run", row.order_number,
                  type(exc).__name__)
        return RowState.UNKNOWN, {"message": f"unexpected error ({type(exc).__name__}); run again to reconcile"}
    return _STATE_OF[result.outcome], {"order_id": result.order_id, "action_code": result.action_code,
                                       "message": result.message, "decline": result.decline}


def merchant_declined(fields: Dict[str, Any]) -> bool:
    """True when a row's result is a merchant decline: the terminal's settings, not the card, so
    every later row would be refused the same way and the run stops."""
    return fields.get("decline_kind") == DeclineKind.MERCHANT.value


def merchant_stop_reason(where: str) -> str:
    """The stop reason of a run that met a merchant decline (``where``: the row or rows)."""
    return (f"the gateway refused an autopayment for the merchant's own settings ({where}); fix them, then retry "
            "those rows with autopay-soap dunning --include-merchant")


def blocked_or_charged(client: AutopayClient, journal: Journal, row: ChargeRow, *,
                       schedule: RetrySchedule = DEFAULT_SCHEDULE,
                       clock: Callable[[], float] = time.time,
                       memory: Optional[CardMemory] = None) -> Tuple[RowState, Dict[str, Any]]:
    """The state and fields of a row whose intent is journaled: a card the journal (or the
    merchant's ``memory``, ``autopay_soap.batch.card_memory``) knows as hard-declined is not
    charged at all (``declined``, kind ``hard``, nothing sent); any other row is charged by
    :func:`outcome_of_row`, its retries scheduled from the first attempt's failure."""
    earlier = journal.hard_decline(row.instrument, row.order_number) or (
        memory.hard_decline(row.instrument, row.order_number) if memory is not None else None)
    if earlier is not None:
        log.warning("row %s: the card was declined hard on order %s; not charged", row.order_number, earlier)
        return RowState.DECLINED, {"decline_kind": DeclineKind.HARD.value,
                            "message": f"not sent: this card was declined hard on order {earlier}; it is never "
                                       "charged again (ask the customer for another card)"}
    now = clock()
    postponed = card_cap_reached(journal, row, schedule, now)
    if postponed is not None:
        log.warning("row %s: %s", row.order_number, postponed)
        return RowState.POSTPONED, {"message": postponed, "next_attempt_at": next_day_start(now)}
    root = journal.get(row.root_order_number) if row.attempt > 1 else None
    first = root.finished_at if root is not None else None
    return outcome_of_row(client, row, schedule=schedule, clock=clock, first_failed_at=first)


def card_cap_reached(journal: Journal, row: ChargeRow, schedule: RetrySchedule, now: float) -> Optional[str]:
    """Why ``row`` may not be sent now under the schedule's per-card caps (None: it may); one
    look-up in the journal.

    Checked when the charge is about to be sent, whatever order files were planned and charged
    in: a retry (attempt 2 or more) needs room in the card's attempts of this UTC day and of 30
    days; a first charge is held back only on a card retried earlier this UTC day (the card is in
    dunning; several subscriptions charged on one card the same night are not held back)."""
    today = next_day_start(now) - DAY
    if row.attempt == 1:
        if journal.card_history(row.instrument, today, retries_only=True):
            return "not sent: the card was retried earlier today (dunning); postponed to the next UTC day"
        return None
    history = journal.card_history(row.instrument, now - 30 * DAY)
    tried_today = sum(1 for at in history if at >= today)
    if tried_today >= schedule.per_card_per_day:
        return (f"not sent: the card had {tried_today} attempt(s) today (at most {schedule.per_card_per_day} a "
                "day); postponed to the next UTC day")
    if len(history) >= schedule.per_card_30_days:
        return (f"not sent: the card had {len(history)} attempts in 30 days (at most "
                f"{schedule.per_card_30_days}); postponed to the next UTC day")
    return None


class JournalFailed(RuntimeError):
    """The journal could not be written (``step`` ``"written"``) or read (``"read"``) around a
    charge: nothing more is sent for the row; ``cause`` is the database's error (a
    :class:`~autopay_soap.batch.journal.JournalUnavailable` among them)."""

    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"the journal could not be {step}")
        self.step, self.cause = step, cause


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Charged:
    """What :func:`charge_one` did with a row.

    ``state`` None: nothing was sent (a cluster worker lost the row to another before sending).
    ``recorded`` False: another worker took the row over during the charge; its result stands.
    ``stop``: why the whole batch must stop starting charges (a setting the gateway refused, a
    merchant decline), or None.
    """

    state: Optional[RowState]
    fields: Dict[str, Any] = attr.ib(factory=dict)
    recorded: bool = True
    stop: Optional[str] = None


def charge_one(client: AutopayClient, journal: Journal, row: ChargeRow, *,
               schedule: RetrySchedule = DEFAULT_SCHEDULE, clock: Callable[[], float] = time.time,
               memory: Optional[CardMemory] = None, owner: Optional[str] = None,
               lease_seconds: Optional[float] = None,
               on_stop: Optional[Callable[[str], None]] = None) -> Charged:
    """Charge one row exactly once (see the module docstring); every executor's worker body.

    ``owner``/``lease_seconds``: a cluster worker holding the row's claim. ``memory``: the
    merchant's hard-decline memory beside a file journal (a hard decline is remembered in it).
    ``on_stop``: called as soon as the batch must stop (before the result is recorded, for a
    refused setting), so the gate closes while this row is still being written. The client's
    :attr:`~autopay_soap.client.AutopayClient.events` hooks observe the row (one
    :data:`~autopay_soap.observe.ROW` event once it is recorded) around its exchanges.
    """
    if not client.events:
        return _charge_one(client, journal, row, schedule, clock, memory, owner, lease_seconds, on_stop)
    transport = client.gateway.name
    with observe.watched(client.events, observe.ROW, "charge", transport, row.order_number):
        started, began = time.time(), time.perf_counter()
        done = _charge_one(client, journal, row, schedule, clock, memory, owner, lease_seconds, on_stop)
        if done.state is not None and done.recorded:
            observe.emit(client.events, observe.Event(
                observe.ROW, "charge", transport, started, time.perf_counter() - began, done.state.value,
                row.order_number, done.fields.get("order_id"), done.fields.get("decline_kind"), row.attempt > 1))
        return done


def _charge_one(client: AutopayClient, journal: Journal, row: ChargeRow, schedule: RetrySchedule,
                clock: Callable[[], float], memory: Optional[CardMemory], owner: Optional[str],
                lease_seconds: Optional[float], on_stop: Optional[Callable[[str], None]]) -> Charged:
    try:
        if not journal.intend(row, owner=owner, lease_seconds=lease_seconds):
            return Charged(None, recorded=False)
    except Exception as exc:  # noqa: BLE001 - a journal that cannot be written: nothing may be charged
        raise JournalFailed("written", exc) from exc
    try:
        state, fields = blocked_or_charged(client, journal, row, schedule=schedule, clock=clock, memory=memory)
    except Exception as exc:  # noqa: BLE001 - the journal could not be read: nothing was sent
        raise JournalFailed("read", exc) from exc
    stop = fields["message"] if state is RowState.RETRY else None
    if stop is not None and on_stop is not None:
        on_stop(stop)
    try:
        recorded = journal.record(row.order_number, state, owner=owner, **fields)
    except Exception as exc:  # noqa: BLE001 - the row stays in flight and is reconciled by the next run
        raise JournalFailed("written", exc) from exc
    if recorded and fields.get("decline_kind") == DeclineKind.HARD.value and memory is not None:
        try:
            memory.remember(row.instrument, row.order_number)
        except Exception as exc:  # noqa: BLE001 - the journal has it; the memory must not miss it
            raise JournalFailed(f"written to the hard-decline memory {memory.path}", exc) from exc
    if recorded and merchant_declined(fields):
        stop = merchant_stop_reason(f"row {row.order_number}: {fields.get('message')}")
        if on_stop is not None:
            on_stop(stop)
    return Charged(state, fields, recorded, stop)
