"""The retry policy: a small, frozen, pure object.

It only says how many attempts a step gets and how long to wait between them; whether a
step may be repeated at all is decided by the client's reconciliation rules (a status
look-up first, see :mod:`autopay_soap.client`). TLS errors are never retried.
"""

from __future__ import annotations

import random
from typing import Iterator, Optional

import attr

from .errors import AutopayError

__all__ = ["RetryPolicy"]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RetryPolicy:
    """Attempts per step and exponential backoff with jitter.

    The ``n``-th wait (``n`` from 0) is ``min(max_delay, base_delay * 2**n)``, scaled by a
    random factor in ``[1 - jitter, 1]``.
    """

    attempts: int = attr.ib(default=6, validator=attr.validators.instance_of(int))
    base_delay: float = 0.2
    max_delay: float = 5.0
    jitter: float = 0.5

    def __attrs_post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not 0 <= self.jitter <= 1 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must be >= 0 and jitter within 0..1")

    def delay(self, retry_number: int, rng: Optional[random.Random] = None) -> float:
        """Seconds to wait before retry ``retry_number`` (0 = the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** retry_number))
        factor = 1.0 - self.jitter * (rng or random).random()
        return ceiling * factor

    def delays(self, rng: Optional[random.Random] = None) -> Iterator[float]:
        """The waits between the attempts: ``attempts - 1`` of them."""
        for n in range(self.attempts - 1):
            yield self.delay(n, rng)

    @staticmethod
    def retryable(error: AutopayError) -> bool:
        """True for errors after which another attempt may help: the class property
        :attr:`~autopay_soap.errors.AutopayError.retryable` (not sent, but never a TLS error;
        outcome unknown; a SOAP Fault or a gateway "system error")."""
        return bool(error.retryable)
