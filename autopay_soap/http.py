"""HTTP plumbing shared by every transport: sessions, timeouts, TLS trust, error classes.

Timeouts are always set. TLS verification is on by default, and profiles and environment
variables can only add trust (a CA bundle path, the Russian Trusted Root CA case); nothing in
the library turns verification off by itself.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, Tuple, Union
from urllib.parse import urlsplit

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

__all__ = ["GatewaySession", "Timeouts", "classify_request_error", "make_session", "USER_AGENT"]

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


class GatewaySession(requests.Session):
    """A ``requests.Session`` that reads the environment once per gateway host, not per request.

    Plain requests looks at the proxy variables (``HTTPS_PROXY``, ``NO_PROXY``...), the CA
    bundle variables (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) and ``~/.netrc`` on every
    request: a walk over the whole environment and three file look-ups each time, about a sixth
    of the client's CPU per SOAP call (``docs/performance.md``). Here:

    * the proxies for a scheme and host are read from the environment the first time that
      host is called and kept for the life of the session;
    * the CA bundle variables are read once, when the session is made, and are applied exactly
      as requests applies them (they take the place of ``verify=True``);
    * ``.netrc`` is never read: a gateway's login must not come from a file kept for other tools.

    Otherwise the settings are merged exactly as requests merges them (including its rule that
    an environment proxy takes precedence over ``session.proxies`` for the same scheme).
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False  # the environment is applied by merge_environment_settings below
        self._env_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self._env_proxies: Dict[Tuple[str, str], Dict[str, str]] = {}  # setdefault: no lock needed

    def _proxies_for(self, url: str) -> Dict[str, str]:
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        found = self._env_proxies.get(origin)
        if found is None:  # two threads may both read the environment once; the first answer is kept
            found = self._env_proxies.setdefault(origin, requests.utils.get_environ_proxies(url))
        return found

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        """requests' merge of the per-request, environment and session settings, with the environment cached."""
        merged = None if proxies is None else dict(proxies)
        if merged is not None and url:
            text = url.decode() if isinstance(url, bytes) else str(url)
            found = (self._proxies_for(text) if merged.get("no_proxy") is None
                     else requests.utils.get_environ_proxies(text, no_proxy=merged["no_proxy"]))
            for scheme, proxy in found.items():
                merged.setdefault(scheme, proxy)
        if (verify is True or verify is None) and self._env_bundle:
            verify = self._env_bundle
        return super().merge_environment_settings(url, merged, stream, verify, cert)


def make_session(verify: Union[bool, str] = True, *, pool_size: int = 16) -> requests.Session:
    """A :class:`GatewaySession` with TLS verification (or a CA bundle path) and pooling."""
    session = GatewaySession()
    session.verify = verify
    session.headers["User-Agent"] = USER_AGENT
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
