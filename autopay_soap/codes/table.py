"""What a decline code can mean (:class:`DeclineKind`) and the shape of a gateway's code table:
code -> kind, reason, and the two flags."""

from __future__ import annotations

import enum
from typing import Dict, Iterable, Optional, Union

import attr

__all__ = ["Code", "DeclineKind", "Entry", "Table"]

Code = Union[int, str]
DAY = 86400.0
HOUR = 3600.0


class DeclineKind(enum.Enum):
    """What to do about a declined autopayment, the same for every gateway.

    The split is this library's reading of the gateways' code tables (``docs/declines.rst``);
    no gateway publishes it.
    """

    SOFT = "soft"
    """Retry later with a new order (insufficient funds, a limit, the issuer unreachable)."""
    HARD = "hard"
    """Never charge this card again; tell the customer (lost, stolen, closed, fraud, recurring revoked)."""
    REBIND = "rebind"
    """This binding cannot be charged without the customer (expired, binding gone, CVC or 3-D
    Secure required): ask the customer to pay once to create a new binding."""
    MERCHANT = "merchant"
    """Our integration or terminal is misconfigured: do not dun the customer, alert the merchant."""

    @property
    def retryable(self) -> bool:
        """True for :attr:`SOFT`: a later attempt with a new order may succeed."""
        return self is DeclineKind.SOFT


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Entry:
    """One row of a code table."""

    kind: DeclineKind
    reason: str
    reconcile: bool = False
    min_delay: Optional[float] = None


class Table:
    """A gateway's decline codes; built once at import by :meth:`add` calls (a code twice is a bug)."""

    def __init__(self, gateway: str) -> None:
        self.gateway = gateway
        self.entries: Dict[Code, Entry] = {}

    def add(self, kind: DeclineKind, codes: Iterable[Code], reason: str, *, reconcile: bool = False,
            min_delay: Optional[float] = None) -> None:
        """Give ``codes`` the kind and reason."""
        for code in codes:
            if code in self.entries:
                raise ValueError(f"{self.gateway} code {code!r} is in the table twice")
            self.entries[code] = Entry(kind, reason, reconcile, min_delay)

    def get(self, code: Code) -> Optional[Entry]:
        """The entry of a code, if the table has it."""
        return self.entries.get(code)
