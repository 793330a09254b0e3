"""RetrySchedule: when a soft-declined autopayment is tried again, within the card schemes' rules.

The default (``docs/declines.rst``, "The schedule"):

* soft declines are retried about +1, +3, +5 and +7 days after the first failed attempt: four
  retries, five attempts in all (Cielo allows four retries 1-4 days apart; Stripe recommends
  eight tries within two weeks);
* at most one attempt per card (binding or account) per calendar day (UTC), and at most ten
  per card within 30 days (the lowest published figure for recurring payments: Visa allows
  15, from May 2025 20, Mastercard's excessive-retry rules start at 10 a day);
* a code that asks for a longer wait (T-Bank 3041, RBS 1112-1118: a day; T-Bank 3042: an
  hour) is never retried sooner than that;
* hard and rebind declines are never retried; merchant declines are not the customer's and
  do not count, they stop the run until the settings are fixed.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional, Sequence, Tuple

import attr

from ..errors import ValidationError
from .model import Decline, DeclineKind

__all__ = ["DEFAULT_SCHEDULE", "RetrySchedule"]

DAY = 86400.0


def _offsets(_inst: object, _attribute: object, value: Sequence[float]) -> None:
    if not value or any(isinstance(x, bool) or not isinstance(x, (int, float)) or x <= 0 for x in value) \
            or list(value) != sorted(value):
        raise ValidationError("offsets_days: increasing positive numbers of days", field="offsets_days")


def _at_least_one(_inst: object, attribute: "attr.Attribute[int]", value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{attribute.name}: a whole number of at least 1", field=attribute.name)


def next_day_start(at: float) -> float:
    """The start (00:00 UTC) of the calendar day after ``at`` (seconds since the epoch)."""
    day = dt.datetime.fromtimestamp(at, dt.timezone.utc).date() + dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()


def day_of(at: float) -> str:
    """The UTC calendar day of ``at`` as ``YYYY-MM-DD``."""
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%d")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RetrySchedule:
    """When soft declines are retried (see the module docstring for the default and its sources).

    :param offsets_days: days after the first failed attempt at which retry 1, 2... fall due;
        their number is the number of retries.
    :param per_card_per_day: attempts per card (binding or SBP account) per UTC calendar day.
    :param per_card_30_days: attempts per card within any 30 days (all its charges together).
    """

    offsets_days: Tuple[float, ...] = attr.ib(default=(1, 3, 5, 7), converter=tuple, validator=_offsets)
    per_card_per_day: int = attr.ib(default=1, validator=_at_least_one)
    per_card_30_days: int = attr.ib(default=10, validator=_at_least_one)

    @property
    def max_attempts(self) -> int:
        """Attempts of one charge in all: the first and the retries."""
        return 1 + len(self.offsets_days)

    def next_attempt(self, decline: Decline, attempt: int, first_failed_at: float,
                     failed_at: float) -> Optional[float]:
        """When attempt ``attempt + 1`` falls due (seconds since the epoch), or None: never
        (not a soft decline, or the retries are used up).

        ``attempt`` is the number of the attempt that just failed (1 = the original charge),
        ``first_failed_at`` when attempt 1 failed, ``failed_at`` when this one did. The result
        is never earlier than the next UTC day after ``failed_at`` (one attempt per card per
        day) nor than the code's own minimum wait.
        """
        if decline.kind is not DeclineKind.SOFT or attempt >= self.max_attempts:
            return None
        due = first_failed_at + self.offsets_days[attempt - 1] * DAY
        due = max(due, next_day_start(failed_at) if self.per_card_per_day == 1 else failed_at)
        if decline.min_delay:
            due = max(due, failed_at + decline.min_delay)
        return due


DEFAULT_SCHEDULE = RetrySchedule()
"""The documented default schedule."""
