"""The sandbox's ``getLastOrdersForMerchants``: the window, the page and the states, read from a
REST form or a SOAP part and checked as the gateway checks them (facts/receipts.md 5.1)."""

from __future__ import annotations

import datetime as dt
from typing import List, Optional, Sequence, Tuple

from .engine import Engine, EngineError, Order
from .lifecycle import Refusal

__all__ = ["MAX_PAGE_SIZE", "listed_page", "rest_time", "soap_time"]

MAX_PAGE_SIZE = 200
_MOSCOW = dt.timezone(dt.timedelta(hours=3))
_STATES = frozenset({"CREATED", "APPROVED", "DEPOSITED", "DECLINED", "REVERSED", "REFUNDED"})


def rest_time(text: Optional[str]) -> Optional[float]:
    """``yyyyMMddHHmmss`` (Moscow time) as seconds since the epoch; None when absent."""
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=_MOSCOW).timestamp()
    except ValueError:
        raise EngineError(Refusal.BAD_FIELD, "Wrong date format") from None


def soap_time(text: Optional[str]) -> Optional[float]:
    """An ``xs:dateTime`` (Moscow time when it names no zone) as seconds since the epoch."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise EngineError(Refusal.BAD_FIELD, "Wrong date format") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=_MOSCOW)).timestamp()


def _number(text: Optional[str], name: str) -> int:
    if text is None or not text.strip().isdigit():
        raise EngineError(Refusal.MISSING_FIELD if not text else Refusal.BAD_FIELD, f"[{name}] is wrong or empty")
    return int(text)


def listed_page(engine: Engine, *, page: Optional[str], size: Optional[str], since: Optional[float],
                until: Optional[float], states: Sequence[str]) -> Tuple[List[Order], int, int, int]:
    """``(orders, totalCount, page, pageSize)`` of one page; EngineError as the gateway refuses."""
    number, page_size = _number(page or "0", "page"), _number(size, "size")
    if page_size > MAX_PAGE_SIZE:
        raise EngineError(Refusal.LIMIT_EXCEEDED, f"Page size must not exceed {MAX_PAGE_SIZE}")
    if page_size < 1:
        raise EngineError(Refusal.BAD_FIELD, "[size] is wrong")
    if since is None or until is None:
        raise EngineError(Refusal.MISSING_FIELD, "Не заполнено одно из обязательных полей")
    if not since < until:
        raise EngineError(Refusal.BAD_FIELD, "[from] must be before [to]")
    if not states or any(state not in _STATES for state in states):
        raise EngineError(Refusal.BAD_FIELD, "[transactionStates] is wrong or empty")
    orders, total = engine.listed_orders(since, until, states, page=number, size=page_size)
    return orders, total, number, page_size
