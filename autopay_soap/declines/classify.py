"""Classify a decline: a gateway's code and text -> :class:`~.model.Decline`."""

from __future__ import annotations

import re
from typing import Mapping, Optional, Tuple

from ..codes import rbs as rbs_codes
from ..codes import tbank as tbank_codes
from ..codes.table import Code, Entry, Table
from ..errors import BindingStateError, GatewayError, PaymentDeclined
from .model import Decline, DeclineKind

__all__ = ["GATEWAYS", "classify", "classify_error", "parse_code"]

GATEWAYS: Mapping[str, Tuple[Table, object]] = {
    "rbs": (rbs_codes.RBS, rbs_codes.by_text),
    "tbank": (tbank_codes.TBANK, tbank_codes.by_text),
}
_ALIASES = {"soap": "rbs", "rest": "rbs", "rbs": "rbs", "tbank": "tbank", "sbp": "tbank"}
_SIGNED = re.compile(r"[+-]?[0-9]{1,18}\Z")  # longer digit runs are no gateway's code: kept as text, unknown
MAX_CODE_CHARS = 64
"""A code as a gateway sent it is kept to this many characters (a broken or hostile reply's 100 KB
"code" is unknown either way, and must not fill the journal and the reports)."""
UNKNOWN_REASON = "a code this library does not know: retried as a generic soft decline, within the normal cap"


def gateway_family(name: str) -> str:
    """``rbs`` for the SOAP and REST transports, ``tbank`` for T-Bank (card and SBP)."""
    try:
        return _ALIASES[name.lower()]
    except KeyError:
        raise ValueError(f"gateway: no decline table for {name!r} (rbs, soap, rest or tbank)") from None


def parse_code(code: object) -> Optional[Code]:
    """A code as the tables key it: a signed integer (``"-2007"`` -> -2007, ``"0-2007"`` too), else
    the stripped, upper-cased text (``"r0"`` -> ``"R0"``, ``"05"`` stays ``"05"``: a two-character
    processing code), cut to ``MAX_CODE_CHARS``; None for nothing. It never raises: a code no
    table can hold (5,000 digits, say) is text, and so unknown."""
    if code is None or isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    text = str(code).strip()[:MAX_CODE_CHARS]
    if not text:
        return None
    if len(text) == 2 and text.startswith("0"):
        return text  # "01".."09": a processing centre's two-character code, not RBS's 1..9
    if text.startswith("0-") and _SIGNED.match(text[1:]):
        text = text[1:]  # a copy that writes -2007 as "0-2007" (AmeriaBank's vPOS tables)
    if _SIGNED.match(text):
        return int(text)
    return text.upper()


def _entry(table: Table, code: Code) -> Optional[Entry]:
    found = table.get(code)
    if found is None and table is rbs_codes.RBS and isinstance(code, int) and 0 <= code <= 99:
        found = table.get(f"{code:02d}")  # a raw ISO-8583 code passed through as a number (51, 57...)
    return found


def classify(gateway: str, code: object, text: Optional[str] = None,
             overrides: Optional[Mapping[object, DeclineKind]] = None) -> Decline:
    """The :class:`Decline` of ``code`` (with its gateway ``text``) on ``gateway``
    (``rbs``/``soap``/``rest`` or ``tbank``).

    ``overrides`` maps codes to the kind you want instead (``{5: DeclineKind.HARD}``); it wins
    over the table and the text. A code the table does not know is ``soft`` (``known=False``).
    """
    family = gateway_family(gateway)
    table, by_text = GATEWAYS[family]
    key = parse_code(code)
    entry = _entry(table, key) if key is not None else None
    if overrides:
        chosen = next((kind for raw, kind in overrides.items() if parse_code(raw) == key), None)
        if chosen is not None:
            return Decline(chosen, family, key, text, f"classified {chosen.value} by the caller's override"
                           + (f" (table: {entry.reason})" if entry else ""),
                           reconcile=bool(entry and entry.reconcile), known=entry is not None)
    if entry is None:
        return Decline(DeclineKind.SOFT, family, key, text, UNKNOWN_REASON, known=False)
    kind, reason = by_text(key, text) or (entry.kind, entry.reason)  # type: ignore[operator]
    return Decline(kind, family, key, text, reason, reconcile=entry.reconcile,
                   min_delay=entry.min_delay if kind is DeclineKind.SOFT else None)


def classify_error(exc: GatewayError, gateway: str,
                   overrides: Optional[Mapping[object, DeclineKind]] = None) -> Decline:
    """The :class:`Decline` of a final refusal of an autopayment's payment step.

    :class:`~autopay_soap.errors.PaymentDeclined` by its action code; a binding the gateway does
    not know or holds inactive (:class:`~autopay_soap.errors.BindingStateError`) is ``rebind``;
    any other refusal is classified by its code where the table knows it, else ``merchant`` (the
    gateway refused our request: our integration or settings, not the customer's card).
    """
    family = gateway_family(gateway)
    if isinstance(exc, PaymentDeclined):
        return classify(family, exc.action_code if exc.action_code is not None else exc.gateway_code,
                        exc.gateway_message, overrides)
    table, _ = GATEWAYS[family]
    code = parse_code(exc.gateway_code)
    if family == "tbank" and code is not None and table.get(code) is not None:
        return classify(family, code, exc.gateway_message, overrides)
    if isinstance(exc, BindingStateError):
        return Decline(DeclineKind.REBIND, family, code, exc.gateway_message,
                       "the binding is unknown or inactive at the gateway: the customer must pay once to bind again")
    return Decline(DeclineKind.MERCHANT, family, code, exc.gateway_message,
                   "the gateway refused the request itself: check the integration and the terminal's settings")
