"""The shape of a code table: code -> kind, reason, and the two flags."""

from __future__ import annotations

from typing import Dict, Iterable, Optional, Union

import attr

from .model import DeclineKind

__all__ = ["Code", "Entry", "Table"]

Code = Union[int, str]
DAY = 86400.0
HOUR = 3600.0


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
