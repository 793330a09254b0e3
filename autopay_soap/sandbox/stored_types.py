"""Checks that a value read back from a state file has the type its attrs field declares.

A state file is input like any other: it may have been edited by hand, written by another
program, or truncated. :func:`check_fields` refuses, by field name, what the sandbox would only
trip over later while serving (an amount that is text, a flag that is a list, an enum value it
does not know), so that a bad file is one line at start-up instead of a traceback mid-request.
"""

from __future__ import annotations

import enum
import math
import typing
from typing import Any, Dict, Type

import attr

__all__ = ["check_fields", "check_value"]

_NONE = type(None)


def check_value(value: Any, expected: Any, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` unless ``value`` fits the type hint ``expected``.

    Understands what the sandbox's stored classes use: ``str``, ``int`` (not ``bool``),
    ``float`` (finite; an ``int`` is fine), ``bool``, enums, ``Optional``, ``Tuple``, ``List``,
    ``Dict`` and ``Any``.
    """
    if expected is Any:
        return
    origin = typing.get_origin(expected)
    if origin is typing.Union:
        options = typing.get_args(expected)
        if value is None and _NONE in options:
            return
        problems = []
        for option in options:
            if option is _NONE:
                continue
            try:
                check_value(value, option, where)
                return
            except ValueError as exc:
                problems.append(str(exc))
        raise ValueError(problems[0] if problems else f"{where}: {_shown(value)} is not allowed")
    if origin in (tuple, list, dict):
        _check_container(value, expected, origin, where)
        return
    if isinstance(expected, type) and issubclass(expected, enum.Enum):
        if not isinstance(value, expected):
            raise ValueError(f"{where}: {_shown(value)} is not one of {expected.__name__}")
        return
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{where}: {_shown(value)} is not a finite number")
        return
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}: {_shown(value)} is not a whole number")
        return
    if expected in (str, bool):
        if not isinstance(value, expected):
            raise ValueError(f"{where}: {_shown(value)} is not a {expected.__name__}")
        return
    raise TypeError(f"{where}: stored_types cannot check {expected!r}")  # a field type added without a rule


def _check_container(value: Any, expected: Any, origin: Any, where: str) -> None:
    """``check_value`` for ``Tuple``, ``List`` and ``Dict`` hints."""
    args = typing.get_args(expected)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: {_shown(value)} is not an object")
        key_hint, value_hint = args or (Any, Any)
        for key, item in value.items():
            check_value(key, key_hint, f"{where} key")
            check_value(item, value_hint, f"{where}[{key!r}]")
        return
    if not isinstance(value, origin):
        raise ValueError(f"{where}: {_shown(value)} is not a {origin.__name__}")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ValueError(f"{where}: {len(value)} items where {len(args)} are expected")
        for index, (item, hint) in enumerate(zip(value, args)):
            check_value(item, hint, f"{where}[{index}]")
        return
    for index, item in enumerate(value):
        check_value(item, args[0] if args else Any, f"{where}[{index}]")


def check_fields(cls: Type[Any], fields: Dict[str, Any], where: str) -> None:
    """Check every stored field of the attrs class ``cls`` (all required ones present, none of
    another type; fields the class does not have are left to the caller, who ignores them)."""
    hints = typing.get_type_hints(cls)
    for field in attr.fields(cls):
        if field.name == "dirty":
            continue
        if field.name not in fields:
            if field.default is attr.NOTHING:
                raise ValueError(f"{where}: {field.name} is missing")
            continue
        check_value(fields[field.name], hints[field.name], f"{where}: {field.name}")


def _shown(value: Any) -> str:
    """A short picture of a value for a message (never the whole of a huge one)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
