"""JSON read from outside the process: a reply, a notification, a batch row, a request to the
sandbox, a state file.

``json.loads`` raises ``RecursionError`` (not ``ValueError``) for text nested a thousand levels
deep, such as ``[[[[...]]]]``, which anyone can send. :func:`loads` turns it into
``json.JSONDecodeError`` (a ``ValueError``), so every reader's own "not JSON" path handles it:
a gateway reply becomes :class:`~autopay_soap.errors.BadResponse`, a notification is refused,
a batch row is a bad row, the sandbox answers 400.
"""

from __future__ import annotations

import json
from typing import Any, Union

__all__ = ["loads"]


def loads(text: Union[str, bytes, bytearray], **options: Any) -> Any:
    """``json.loads(text, **options)``; text nested too deeply raises ``json.JSONDecodeError``."""
    try:
        return json.loads(text, **options)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None
