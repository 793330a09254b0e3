"""Every T-Bank answer of the sandbox, checked against the answer schemas of T-Bank's published
OpenAPI description (derived into ``tests/data/tbank_answers.json`` by
``tests/data/derive_tbank_answers.py``).

A success answer must carry every required field with the declared JSON type. An error answer
must carry ``Success`` false, a non-zero string ``ErrorCode`` and a ``Message``, and whatever
else it carries must have the declared type; the fields that describe a payment, a customer or
a card are echoed when the sandbox knows them (``tests/sandbox/test_sandbox_wire.py`` checks the
echoes), and left out when the request named nothing the sandbox knows, rather than invented;
except in the methods of :data:`ERRORS_CARRY_REQUIRED`, whose error answers carry every required
field too (``GetState`` of a payment the sandbox does not know: ``OrderId`` "", ``Amount`` 0,
``Status`` ``UNKNOWN``, a member of the description's own status enum).

Where the description contradicts itself, the sandbox follows the rest of the description and
the API's documented behaviour; each such place is listed in :data:`CONTRADICTIONS`.
"""

import json
from pathlib import Path
from typing import Any, Dict, List

_ANSWERS = Path(__file__).parent.parent / "data" / "tbank_answers.json"
SPEC: Dict[str, Any] = json.loads(_ANSWERS.read_text("utf-8"))["methods"]

CONTRADICTIONS: Dict[tuple, str] = {
    ("Cancel", "PaymentId"): "declared a number here, a string in the Init, Confirm, Charge and GetState answers; "
                             "the sandbox answers the same string everywhere",
    ("AddAccountQr", "RequestKey"): "declared a number, but a RequestKey is a UUID (the description's own examples)",
    ("GetAddAccountQrState", "RequestKey"): "declared a number, but a RequestKey is a UUID",
    ("GetQr", "RequestKey"): "declared required (and a number), but described as present only for a payment "
                             "that also binds the account; the sandbox sends it then, as a UUID",
    ("GetAccountQrList", "RequestKey"): "declared required at the root, but it belongs to each AccountTokens item",
    ("GetAccountQrList", "Status"): "declared required at the root, but it belongs to each AccountTokens item",
    ("GetCardList", "CardType"): "declared a number while every other card field is a string; the sandbox "
                                 "sends the number",
}

ERRORS_CARRY_REQUIRED = {"GetState"}

_TYPES = {"string": str, "boolean": bool, "array": list, "object": dict}


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "number":
        return isinstance(value, int) and not isinstance(value, bool)
    expected = _TYPES.get(kind)
    return expected is None or isinstance(value, expected)


def problems(method: str, answer: Any) -> List[str]:
    """What in ``answer`` (of ``/v2/<method>``) disagrees with the published answer schema."""
    spec = SPEC.get(method)
    if spec is None:
        return []
    if spec["array"] and isinstance(answer, list):
        items = answer
    elif isinstance(answer, dict):
        items = [answer]
    else:
        return [f"{method}: the answer is a {type(answer).__name__}"]
    found = []
    for item in items:
        error = item.get("Success") is False
        if error:
            if not isinstance(item.get("ErrorCode"), str) or item.get("ErrorCode") == "0":
                found.append(f"{method}: an error answer needs a non-zero string ErrorCode")
            if not isinstance(item.get("Message"), str):
                found.append(f"{method}: an error answer needs a Message")
        if not error or method in ERRORS_CARRY_REQUIRED:
            for name in spec["required"]:
                if name not in item and (method, name) not in CONTRADICTIONS:
                    found.append(f"{method}: {name} is required")
        for name, value in item.items():
            kind = spec["types"].get(name)
            if kind is not None and value is not None and not _type_ok(kind, value) \
                    and (method, name) not in CONTRADICTIONS:
                found.append(f"{method}: {name} should be a {kind}, is {type(value).__name__} {value!r}")
    return found
