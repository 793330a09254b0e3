"""What a sandbox route answers, before any HTTP server writes it (the built-in one or WSGI), and
what it answers from (:class:`Site`: the parts of the sandbox a route may use)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Protocol, Tuple

import attr

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .engine import Engine
    from .fiscal import FiscalLog
    from .rest import RestFrontEnd
    from .soap import SoapFrontEnd
    from .tbank import TBankFrontEnd

__all__ = ["Answer", "ApiCall", "Site"]

HTML = "text/html; charset=utf-8"
JSON = "application/json;charset=UTF-8"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Answer:
    """A whole answer: status, body, content type and any extra headers."""

    status: int
    body: bytes
    content_type: str
    headers: Dict[str, str] = attr.ib(factory=dict)

    @classmethod
    def html(cls, status: int, body: bytes) -> "Answer":
        """A page."""
        return cls(status, body, HTML)

    @classmethod
    def json(cls, status: int, data: Any) -> "Answer":
        """A JSON document (UTF-8, not escaped)."""
        return cls(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), JSON)

    @classmethod
    def text(cls, status: int, body: bytes) -> "Answer":
        """Plain text."""
        return cls(status, body, "text/plain")

    @classmethod
    def redirect(cls, location: str) -> "Answer":
        """303 See Other to ``location``."""
        return cls(303, b"", "text/plain", {"Location": location})


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ApiCall:
    """A gateway API request: answered by ``handle`` (status and body), through the fault plan
    and the latency, which the server applies (some faults act on the connection itself)."""

    operation: Optional[str]
    protocol: str  # soap, rest or tbank: how an injected gateway error looks
    handle: Callable[[], Tuple[int, bytes]]
    content_type: str


class Site(Protocol):
    """What the routes use of the :class:`~autopay_soap.sandbox.Sandbox` (so they need not import it)."""

    engine: "Engine"
    soap: "SoapFrontEnd"
    rest: "RestFrontEnd"
    tbank: "TBankFrontEnd"
    fiscal: "FiscalLog"

    @property
    def url(self) -> str:
        """The base URL clients use."""

    @property
    def soap_url(self) -> str:
        """The SOAP endpoint."""

    def ledger_json(self) -> Dict[str, Any]:
        """The ledger and orders as JSON."""
