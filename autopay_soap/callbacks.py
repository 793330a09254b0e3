"""Gateway callbacks (notifications): signing strings, checksums, verification.

RBS (facts §4.3): take every parameter except ``checksum`` and ``sign_alias``, sort by name,
join as ``name;value;``; the checksum is HMAC-SHA256 with the merchant's secret (its UTF-8
bytes), upper-case hex. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Mapping

__all__ = ["rbs_hmac_checksum", "rbs_signed_string", "verify_rbs_hmac"]

_EXCLUDED = ("checksum", "sign_alias")


def rbs_signed_string(params: Mapping[str, str]) -> str:
    """The string RBS signs: ``name;value;`` for each parameter but checksum/sign_alias, by name."""
    return "".join(f"{name};{params[name]};" for name in sorted(params) if name not in _EXCLUDED)


def rbs_hmac_checksum(params: Mapping[str, str], secret: str) -> str:
    """The HMAC-SHA256 checksum (upper-case hex) of a callback's parameters."""
    digest = hmac.new(secret.encode("utf-8"), rbs_signed_string(params).encode("utf-8"), hashlib.sha256)
    return digest.hexdigest().upper()


def verify_rbs_hmac(params: Mapping[str, str], secret: str) -> bool:
    """True when ``params['checksum']`` is the HMAC-SHA256 checksum (compared in constant time)."""
    given = params.get("checksum") or ""
    expected = rbs_hmac_checksum(params, secret)
    return hmac.compare_digest(given.upper().encode("ascii", "replace"), expected.encode("ascii"))
