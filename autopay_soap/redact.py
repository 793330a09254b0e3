"""Masking secrets and card data in text that may be logged.

Used for the DEBUG wire log and ``--verbose`` output: passwords, tokens, CVCs and PANs are
replaced before anything leaves the library. Masking is deliberately broad: a false
positive costs a log line, a false negative costs a leaked card.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping

__all__ = ["MASK", "excerpt", "mask_mapping", "mask_pan", "mask_text", "SECRET_KEYS"]

MASK = "***"

SECRET_KEYS = frozenset({
    "password", "token", "cvc", "cvv", "cvc2", "pan", "pares", "pareq", "cardnumber",
    "carddata", "secret", "checksum", "encryptedcarddata", "setoken",
})
_PAN_RE = re.compile(r"(?<!\d)(\d{6})\d{3,9}(\d{4})(?!\d)")
_XML_ELEMENT_RE = re.compile(r"(<(?:[\w-]+:)?(Password|Nonce)\b[^>]*>)[^<]*(</)", re.IGNORECASE)
_XML_ATTR_RE = re.compile(r"""\b(cvc|pan|password|token|paRes|paReq)=(["'])[^"']*\2""", re.IGNORECASE)
_FORM_RE = re.compile(r"""(?i)\b(password|token|cvc|pan|PaRes|PaReq|DATA\.cvc)=([^&\s]*)""")
_JSON_RE = re.compile(r"""(?i)("(?:password|token|cvc|pan|cardData|PaRes|PaReq)"\s*:\s*)"(?:[^"\\]|\\.)*\"""")


def mask_pan(pan: str) -> str:
    """``4111111111111111`` → ``411111******1111``: keep the BIN and the last four."""
    digits = re.sub(r"\D", "", pan)
    if len(digits) < 13:
        return MASK
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def mask_text(text: str) -> str:
    """Mask secrets in an XML envelope, a form body or a JSON body."""
    text = _XML_ELEMENT_RE.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)
    text = _XML_ATTR_RE.sub(lambda m: f"{m.group(1)}={m.group(2)}{MASK}{m.group(2)}", text)
    text = _FORM_RE.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _JSON_RE.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
    return _PAN_RE.sub(lambda m: f"{m.group(1)}{'*' * (len(m.group(0)) - 10)}{m.group(2)}", text)


def excerpt(body: bytes, limit: int = 200) -> str:
    """The start of a reply body for an error (support reads it): decoded, masked, on one line,
    at most ``limit`` characters."""
    text = " ".join(mask_text(body[: limit * 4].decode("utf-8", "replace")).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mask_mapping(data: Mapping[str, Any]) -> Dict[str, Any]:
    """A copy of a flat mapping with secret values masked (keys compared case-insensitively)."""
    return {k: (MASK if k.lower() in SECRET_KEYS else v) for k, v in data.items()}


def describe_callable(func: Any) -> str:
    """A callable named without its bound values: ``<factory AutopayClient.from_profile>``.

    A ``functools.partial`` (or a closure) may carry a password among its arguments; its own
    ``repr`` would show it to every error tracker that records the object holding it.
    """
    inner = func
    while hasattr(inner, "func") and hasattr(inner, "keywords"):  # functools.partial, possibly nested
        inner = inner.func
    name = getattr(inner, "__qualname__", None) or type(inner).__name__
    return f"<factory {name}>"
