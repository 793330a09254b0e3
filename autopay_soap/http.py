"""HTTP plumbing shared by every transport: sessions, timeouts, TLS trust, error classes.

Timeouts are always set. TLS verification is on by default, and profiles and environment
variables can only add trust (a CA bundle path, the Russian Trusted Root CA case); nothing in
the library turns verification off by itself.
"""

from __future__ import annotations

import logging
from typing import Any, Union

import attr
import requests

from .errors import (
    ConnectError,
    ConnectionDropped,
    ResponseTimeout,
    TLSError,
    TransportError,
    ValidationError,
)

__all__ = ["Timeouts", "classify_request_error", "make_session", "USER_AGENT"]

log = logging.getLogger("autopay_soap.http")

USER_AGENT = "autopay_soap (+https://pypi.org/project/autopay_soap/)"


def _positive(_inst: Any, attribute: "attr.Attribute[float]", value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValidationError(f"timeouts.{attribute.name}: must be a positive number of seconds",
                              field=f"timeouts.{attribute.name}")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Timeouts:
    """Seconds to wait: to connect, for an answer, and to load a WSDL.

    The defaults (5 s, 30 s, 10 s) suit a remote gateway; all three are always applied.
    """

    connect: float = attr.ib(default=5.0, validator=_positive)
    read: float = attr.ib(default=30.0, validator=_positive)
    wsdl: float = attr.ib(default=10.0, validator=_positive)

    @property
    def requests_timeout(self) -> "tuple[float, float]":
        """The ``(connect, read)`` pair requests expects."""
        return (self.connect, self.read)


def make_session(verify: Union[bool, str] = True, *, pool_size: int = 16) -> requests.Session:
    """A ``requests.Session`` with TLS verification (or a CA bundle path) and pooling."""
    session = requests.Session()
    session.verify = verify
    session.headers["User-Agent"] = USER_AGENT
    session.trust_env = True
    adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def classify_request_error(exc: requests.exceptions.RequestException, **context: Any) -> TransportError:
    """Turn a requests exception into "never reached" or "outcome unknown".

    * TLS failure, connection refused, DNS failure, connect timeout: the request was not
      sent (:class:`ConnectError`, :class:`TLSError`).
    * Read timeout: sent, no answer (:class:`ResponseTimeout`).
    * Reset, closed or truncated after sending: (:class:`ConnectionDropped`).
    """
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError):
        return TLSError(f"TLS handshake failed: {name}", **context)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ConnectError("could not connect in time; the request was not sent", **context)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return ResponseTimeout("no answer within the read timeout; the outcome is unknown", **context)
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = repr(exc.args[0]) if exc.args else ""
        if ("NewConnectionError" in reason or "NameResolutionError" in reason
                or "Failed to establish" in reason or "Connection refused" in reason):
            return ConnectError("could not connect; the request was not sent", **context)
        return ConnectionDropped("the connection broke after the request was sent; the outcome is unknown",
                                 **context)
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return ConnectionDropped("the answer was cut off; the outcome is unknown", **context)
    return ConnectionDropped(f"HTTP exchange failed ({name}); the outcome is unknown", **context)
