"""HTTP plumbing shared by every transport: sessions, timeouts, limits, TLS trust, error classes.

Timeouts are always set, and three bound every exchange (``docs/security.rst``):

* ``connect`` and ``read`` as requests applies them (the read timeout is per socket read);
* ``total``: the whole exchange, connecting, sending, and reading a reply that trickles in a
  byte at a time, ends by then. Every socket read of the reply is given at most the time left;
* a scenario deadline (:func:`deadline_scope`, set by :class:`~autopay_soap.client.AutopayClient`
  around one scenario with its retries and look-ups) caps every exchange inside it.

A stop (:func:`stop_scope`, set by the batch runner around its workers) is checked before
every request: once it is set no request that could start or move money leaves, while one
already sent is read to its end; status look-ups (:func:`read_only`) still go, so a charge on
the wire learns its outcome.

These scopes, the end of the exchange on the wire and the gateway call in progress make one
:class:`CallContext` value: each scope replaces it as a whole for its block (a ``ContextVar``,
so every thread and task has its own), and every exchange reads it (:func:`current_context`).

Replies are read with a size cap (:data:`DEFAULT_MAX_REPLY_BYTES`) and refused beyond it,
before any parsing. TLS verification is on by default, and profiles and environment
variables can only add trust (a CA bundle path, the Russian Trusted Root CA case); nothing in
the library turns verification off by itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import io
import logging
import os
import socket
import time
import urllib.parse
from typing import Any, ContextManager, Dict, Iterator, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

import attr
import requests
import urllib3
import urllib3.connection

from .errors import (
    ConnectError,
    ConnectionDropped,
    DeadlineExceeded,
    Interrupted,
    ReplyTooLarge,
    ResponseTimeout,
    TLSError,
    TransportError,
    ValidationError,
)

__all__ = ["CallContext", "DEFAULT_MAX_REPLY_BYTES", "GatewayCall", "GatewaySession", "Timeouts",
           "classify_request_error", "current_context", "deadline_scope", "gateway_call", "make_session", "pause",
           "post_bounded", "read_only", "request_sent", "stop_requested", "stop_scope", "time_left", "was_sent",
           "USER_AGENT"]

log = logging.getLogger(__name__)

USER_AGENT = "autopay_soap (+https://pypi.org/project/autopay_soap/)"


def _positive(_inst: Any, attribute: "attr.Attribute[float]", value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValidationError(f"timeouts.{attribute.name}: must be a positive number of seconds",
                              field=f"timeouts.{attribute.name}")


DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024
"""The largest reply a gateway may send (4 MiB): the largest real one, a long card list, is a few KiB."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Timeouts:
    """Seconds to wait: to connect, for an answer, for a whole exchange, and to load a WSDL.

    The defaults (5 s, 30 s, 60 s, 10 s) suit a remote gateway; all four are always applied.
    ``read`` bounds each wait for the next bytes; ``total`` bounds one whole exchange, so a
    reply that trickles in a byte at a time cannot keep a call alive past it.
    """

    connect: float = attr.ib(default=5.0, validator=_positive)
    read: float = attr.ib(default=30.0, validator=_positive)
    wsdl: float = attr.ib(default=10.0, validator=_positive)
    total: float = attr.ib(default=60.0, validator=_positive)

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
        """requests' merge of the per-request, environment and session settings, with the environment cached.

        ``proxies=None`` is taken as ``{}``, as ``requests.Session.request`` itself passes it:
        requests' own merge differs between versions there (2.32 raises, 2.33 and later skip the
        environment), and a gateway must reach its proxy whichever requests is installed.
        """
        merged = {} if proxies is None else dict(proxies)
        if url:
            text = url.decode() if isinstance(url, bytes) else str(url)
            found = (self._proxies_for(text) if merged.get("no_proxy") is None
                     else requests.utils.get_environ_proxies(text, no_proxy=merged["no_proxy"]))
            for scheme, proxy in found.items():
                merged.setdefault(scheme, proxy)
        if (verify is True or verify is None) and self._env_bundle:
            verify = self._env_bundle
        return super().merge_environment_settings(url, merged, stream, verify, cert)


# -- the time and the size of one exchange --------------------------------------------------------

@attr.s(frozen=True, slots=True, auto_attribs=True)
class CallContext:
    """The context the calls of one thread (or task) run in, one value replaced as a whole by the
    scopes below and read by every exchange: ``deadline`` (the scenario's, monotonic seconds),
    ``stop`` (the batch's stop event), ``read_only`` (look-ups that go on after a stop),
    ``exchange_deadline`` (the end of the exchange on the wire, for each socket read) and
    ``call`` (the guarded gateway call in progress, which knows whether a request of it left)."""

    deadline: Optional[float] = None
    stop: Any = None
    read_only: bool = False
    exchange_deadline: Optional[float] = None
    call: Optional["GatewayCall"] = None


class GatewayCall:
    """One guarded gateway call: ``sent`` once a request of it is about to leave, after which
    whatever goes wrong is about the reply (see :func:`autopay_soap.gateways.base.guard_replies`)."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


_OUTSIDE = CallContext()
"""The context outside every scope (frozen: a scope replaces it, never changes it)."""
_CONTEXT: "contextvars.ContextVar[CallContext]" = contextvars.ContextVar("autopay_soap_call_context",
                                                                         default=_OUTSIDE)


_CONTEXT_FIELDS = tuple(field.name for field in attr.fields(CallContext))
"""The names a scope carries over from the context it replaces (every field: none is forgotten)."""


def current_context() -> CallContext:
    """The :class:`CallContext` of this thread (or task) now."""
    return _CONTEXT.get()


class _context:  # noqa: N801 - used as a ``with`` statement's function, like contextlib's
    """Within the block the context is the current one with ``changes``; then it is as before.

    A class rather than ``contextlib.contextmanager`` and a constructor call rather than
    ``attr.evolve``: two of these wrap every gateway exchange (``bench/run.py``'s CPU per call)."""

    __slots__ = ("_changes", "_token")

    def __init__(self, **changes: Any) -> None:
        self._changes = changes
        self._token: "Optional[contextvars.Token[CallContext]]" = None

    def __enter__(self) -> CallContext:
        now = _CONTEXT.get()
        values = {name: getattr(now, name) for name in _CONTEXT_FIELDS}
        values.update(self._changes)
        context = CallContext(**values)
        self._token = _CONTEXT.set(context)
        return context

    def __exit__(self, *exc_info: Any) -> None:
        if self._token is not None:
            _CONTEXT.reset(self._token)


def _scope_deadline() -> Optional[float]:
    return _CONTEXT.get().deadline


@contextlib.contextmanager
def deadline_scope(seconds: Optional[float]) -> Iterator[None]:
    """Within the block, no exchange of this thread runs past ``seconds`` from now.

    Scopes nest: an inner scope never extends an outer one. ``None`` adds no bound.
    """
    outer = _scope_deadline()
    mine = None if seconds is None else time.monotonic() + seconds
    with _context(deadline=mine if outer is None else (outer if mine is None else min(outer, mine))):
        yield


def time_left() -> Optional[float]:
    """Seconds left in this thread's :func:`deadline_scope` (None outside one; may be negative)."""
    deadline = _scope_deadline()
    return None if deadline is None else deadline - time.monotonic()


@contextlib.contextmanager
def stop_scope(stop: Any) -> Iterator[None]:
    """Within the block, once ``stop`` (a ``threading.Event`` or a ``multiprocessing`` one) is
    set, no new request of this thread is sent: :func:`post_bounded` raises
    :class:`~autopay_soap.errors.Interrupted` instead, and :func:`pause` wakes at once."""
    with _context(stop=stop):
        yield


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    """Within the block the requests only read (status look-ups): a stop does not hold them back,
    so that a charge already on the wire can still learn its outcome."""
    with _context(read_only=True):
        yield


def gateway_call(call: GatewayCall) -> ContextManager[CallContext]:
    """Within the block, requests are ``call``'s (:func:`request_sent` marks it)."""
    return _context(call=call)


def stop_requested() -> bool:
    """True when this thread's :func:`stop_scope` has been set (and it is not in :func:`read_only`)."""
    context = _CONTEXT.get()
    return context.stop is not None and not context.read_only and context.stop.is_set()


def pause(seconds: float) -> None:
    """Sleep ``seconds``, waking early when this thread's :func:`stop_scope` is set (not in
    :func:`read_only`, whose look-ups keep their pace)."""
    context = _CONTEXT.get()
    if context.stop is None or context.read_only:
        time.sleep(seconds)
    else:
        context.stop.wait(seconds)


def request_sent() -> None:
    """Note that the gateway call in progress is about to send a request: whatever goes wrong from
    here on is about the reply, so the outcome may be unknown."""
    call = _CONTEXT.get().call
    if call is not None:
        call.sent = True


def was_sent() -> bool:
    """True once a request of the gateway call in progress was noted by :func:`request_sent`."""
    call = _CONTEXT.get().call
    return call is not None and call.sent


class _DeadlineReader(io.RawIOBase):
    """The socket of one reply, read with at most the time left until ``deadline`` per read.

    Reads go through the socket's own ``SocketIO`` (``makefile("rb", buffering=0)``), which
    holds a reference on the socket: when the connection is closed while its reply is still
    being read (a ``Connection: close`` or HTTP/1.0 answer), the descriptor stays open until
    this reader is closed, as with the standard ``makefile``.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("the total time of the exchange is up")
        previous = self._sock.gettimeout()
        self._sock.settimeout(remaining if previous is None else min(previous, remaining))
        try:
            return int(self._raw.readinto(buffer) or 0)
        finally:
            try:
                self._sock.settimeout(previous)
            except OSError:  # the socket was closed meanwhile
                pass

    def close(self) -> None:
        if not self.closed:
            self._raw.close()  # releases the reference on the socket
        super().close()


class _DeadlineSocket:
    """What ``http.client.HTTPResponse`` needs of a socket (``makefile``), bounded by a deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineResponse(http.client.HTTPResponse):
    """A reply whose every socket read ends by the deadline of the exchange that is reading it."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        deadline = _CONTEXT.get().exchange_deadline
        super().__init__(_DeadlineSocket(sock, deadline) if deadline is not None else sock,  # type: ignore[arg-type]
                         *args, **kwargs)


class _HTTPConnection(urllib3.connection.HTTPConnection):
    response_class = _DeadlineResponse


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    response_class = _DeadlineResponse


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _BoundedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections read replies through :class:`_DeadlineResponse`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager


def post_bounded(session: requests.Session, url: str, *, data: Any, headers: Optional[Mapping[str, str]] = None,
                 timeouts: Timeouts, max_bytes: int = DEFAULT_MAX_REPLY_BYTES,
                 context: Optional[Mapping[str, Any]] = None) -> requests.Response:
    """POST and read the whole reply within ``timeouts.total`` (and the scenario's deadline) and
    ``max_bytes``; the reply's ``content`` is filled in.

    Raises :class:`~autopay_soap.errors.ConnectError` when nothing was sent,
    :class:`~autopay_soap.errors.ResponseTimeout` when the time ran out after sending,
    :class:`~autopay_soap.errors.ReplyTooLarge` for a reply over ``max_bytes`` (refused
    before parsing), :class:`~autopay_soap.errors.DeadlineExceeded` when the scenario's
    deadline had passed already and :class:`~autopay_soap.errors.Interrupted` when this
    thread's :func:`stop_scope` is set (nothing is sent then).
    """
    ctx = dict(context or {})
    now = time.monotonic()
    end = now + timeouts.total
    scope = _scope_deadline()
    if scope is not None:
        if scope <= now:
            raise DeadlineExceeded("the scenario's deadline has passed; nothing more was sent", **ctx)
        end = min(end, scope)
    remaining = end - now
    if stop_requested():
        raise Interrupted("stopped before sending: the request was not sent", **ctx)
    request_sent()
    try:
        with _context(exchange_deadline=end):
            response = session.post(url, data=data, headers=headers, stream=True,
                                    timeout=(min(timeouts.connect, remaining), min(timeouts.read, remaining)))
    except requests.exceptions.RequestException as exc:
        raise _exchange_error(exc, end, ctx) from None
    response._content = _read_bounded(response, max_bytes, end, ctx)
    response._content_consumed = True  # type: ignore[attr-defined]
    return response


def _read_bounded(response: requests.Response, max_bytes: int, end: float, ctx: Dict[str, Any]) -> bytes:
    """The whole body of a streamed reply, refused past ``max_bytes`` (declared or read); the
    connection is closed either way."""
    try:
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
            raise ReplyTooLarge(f"a reply of {int(declared)} bytes is over the limit of {max_bytes}",
                                http_status=response.status_code, **ctx)
        chunks = []
        size = 0
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > max_bytes:
                raise ReplyTooLarge(f"a reply of more than {max_bytes} bytes was refused",
                                    http_status=response.status_code, **ctx)
            chunks.append(chunk)
    except requests.exceptions.RequestException as exc:
        raise _exchange_error(exc, end, ctx) from None
    finally:
        response.close()
    return b"".join(chunks)


def _exchange_error(exc: requests.exceptions.RequestException, end: float,
                    context: Dict[str, Any]) -> TransportError:
    error = classify_request_error(exc, **context)
    if time.monotonic() >= end - 0.001 and not isinstance(error, ConnectError):
        return ResponseTimeout("the exchange ran out of time (total timeout or the scenario's deadline); "
                               "the outcome is unknown", **context)
    return error


def make_session(verify: Union[bool, str] = True, *, pool_size: int = 16) -> requests.Session:
    """A :class:`GatewaySession` with TLS verification (or a CA bundle path) and pooling."""
    session = GatewaySession()
    session.verify = verify
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept-Encoding"] = "identity"  # the size cap counts what the gateway sends, not a gzip bomb
    adapter = _BoundedAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def classify_request_error(exc: requests.exceptions.RequestException, **context: Any) -> TransportError:
    """Turn a requests exception into "never reached" or "outcome unknown".

    * TLS failure, connection refused, DNS failure, connect timeout: the request was not
      sent (:class:`ConnectError`, :class:`TLSError`); the message names the address (scheme,
      host, port and path: never credentials or a query) and the cause.
    * Read timeout: sent, no answer (:class:`ResponseTimeout`).
    * Reset, closed or truncated after sending: (:class:`ConnectionDropped`).
    """
    name = type(exc).__name__
    where = request_address(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return TLSError(f"TLS handshake with {where} failed: {_tls_cause(exc)}; the request was not sent", **context)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ConnectError(f"could not connect to {where}: no connection within the connect timeout; the request "
                            "was not sent", **context)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return ResponseTimeout("no answer within the read timeout; the outcome is unknown", **context)
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = repr(exc.args[0]) if exc.args else ""
        if ("NewConnectionError" in reason or "NameResolutionError" in reason
                or "Failed to establish" in reason or "Connection refused" in reason):
            return ConnectError(f"could not connect to {where}: {_connect_cause(reason)}; the request was not sent",
                                **context)
        return ConnectionDropped("the connection broke after the request was sent; the outcome is unknown",
                                 **context)
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return ConnectionDropped("the answer was cut off; the outcome is unknown", **context)
    return ConnectionDropped(f"HTTP exchange failed ({name}); the outcome is unknown", **context)


def request_address(exc: requests.exceptions.RequestException) -> str:
    """Where a failed request went: ``scheme://host:port/path`` (no user, password or query,
    which may carry secrets); ``the gateway`` when requests did not keep the request."""
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    if not url:
        return "the gateway"
    parts = urllib.parse.urlsplit(str(url))
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path}"


def _connect_cause(reason: str) -> str:
    """Why a connection was not made, in words an operator acts on."""
    lowered = reason.lower()
    if ("nameresolutionerror" in lowered or "name or service not known" in lowered or "getaddrinfo" in lowered
            or "nodename nor servname" in lowered or "temporary failure in name resolution" in lowered):
        return "the host name could not be resolved (DNS)"
    if "connection refused" in lowered:
        return "connection refused (nothing listens there: wrong port, or the gateway is down)"
    if "network is unreachable" in lowered or "no route to host" in lowered:
        return "no route to the host (network unreachable)"
    if "timed out" in lowered:
        return "no connection within the connect timeout"
    return "the connection could not be made"


def _tls_cause(exc: Exception) -> str:
    """What went wrong in a TLS handshake (never a certificate's or a key's content)."""
    text = repr(exc).lower()
    if "hostname mismatch" in text or "doesn't match" in text or "not valid for" in text:
        return "the certificate is for another host name"
    if "certificate has expired" in text:
        return "the certificate has expired"
    if "self-signed" in text or "self signed" in text or "unable to get local issuer" in text:
        return ("the certificate was not issued by a CA in the trust store (a gateway with its own CA: the "
                "ca_bundle setting)")
    if "certificate verify failed" in text:
        return "the certificate could not be verified"
    if "wrong version number" in text or "unknown protocol" in text or "record layer failure" in text:
        return "the server does not speak TLS there (an http:// port?)"
    return type(exc).__name__
