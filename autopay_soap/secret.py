"""A secret value (password, terminal password, callback key) that never shows itself.

Error trackers and debuggers record ``repr()`` of whatever they meet: a gateway, a
``functools.partial`` bound to a password, a batch runner holding that partial. Every place
the library keeps a secret holds it as a :class:`Secret`, whose ``repr`` and ``str`` are
masked; the value is read only where it is used, with :meth:`Secret.reveal`.
"""

from __future__ import annotations

import hmac
from typing import Any, Optional, Union

__all__ = ["Secret", "reveal"]


class Secret:
    """A string kept out of reprs, ``str()``, logs and pickled reprs; compare in constant time.

    ``Secret("pa55")`` shows as ``Secret('***')``. Two secrets compare equal when their
    values do (in constant time); a secret never equals a plain string, so it cannot be
    leaked by an accidental ``==`` in a log filter.
    """

    __slots__ = ("_value",)

    def __init__(self, value: Union[str, "Secret"]) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"a secret is a str, got {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """The value itself: call it only where the secret is used (signing, a request body)."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode("utf-8"), other._value.encode("utf-8"))

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        # worker processes need the value; pickling keeps it, the repr of the pickle does not show it
        return (Secret, (self._value,))


def reveal(value: Union[str, Secret, None]) -> Optional[str]:
    """The plain value of a secret given either way (a ``str`` or a :class:`Secret`), or None."""
    if value is None:
        return None
    return value.reveal() if isinstance(value, Secret) else value
