"""The mark of a sandbox object changed since it was written to a state file (:mod:`.state`)."""

from __future__ import annotations

from typing import Any

import attr

__all__ = ["mark_dirty"]


def mark_dirty(instance: Any, attribute: "attr.Attribute[Any]", value: Any) -> Any:
    """attrs ``on_setattr`` hook: any change of a field marks the object for the next write."""
    if attribute.name != "dirty":
        object.__setattr__(instance, "dirty", True)
    return value
