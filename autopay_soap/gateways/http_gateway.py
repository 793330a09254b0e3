"""What the three HTTP gateways share: the session and the limits they are built with, ``close``
and the context manager, a repr that names the endpoint and the login but never the password,
and the bounded POST every request goes through (:func:`autopay_soap.http.post_bounded`).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple, TypedDict, TypeVar, Union

import requests

from .. import json_input
from .. import validation as v
from ..errors import BadResponse, HTTPStatusError, ValidationError
from ..http import DEFAULT_MAX_REPLY_BYTES, Timeouts, make_session, post_bounded
from ..money import Currency, currency
from ..redact import excerpt, mask_mapping, mask_text
from ..secret import Secret

__all__ = ["Connection", "HttpGateway"]

H = TypeVar("H", bound="HttpGateway")
wire_log = logging.getLogger("autopay_soap.wire")


class Connection(TypedDict, total=False):
    """The connection keywords both RBS bindings take (``RbsSoapGateway(..., **connection)``).

    ``timeouts``: connect/read/total timeouts (:class:`~autopay_soap.http.Timeouts`); ``verify``:
    ``True`` (the default) or a CA bundle path for TLS verification; ``session``: a
    ``requests.Session`` to use instead of a new one; ``default_currency``: the currency assumed
    when a reply names none (``RUB``); ``max_reply_bytes``: the largest reply read, a larger one
    is refused before parsing. Written once here; an unknown keyword is a ``TypeError``.
    """

    timeouts: Optional[Timeouts]
    verify: Union[bool, str]
    session: Optional[requests.Session]
    default_currency: Union[str, Currency]
    max_reply_bytes: int


class HttpGateway:
    """Base of :class:`~autopay_soap.gateways.rbs_soap.RbsSoapGateway`,
    :class:`~autopay_soap.gateways.rbs_rest.RbsRestGateway` and
    :class:`~autopay_soap.gateways.tbank.TBankGateway`.

    A subclass calls ``_open_login`` (the RBS bindings) or ``_open_http`` in its ``__init__`` and
    names the attributes its repr shows in ``_repr_fields`` (never a secret: passwords are
    :class:`~autopay_soap.secret.Secret`).
    """

    _repr_fields: ClassVar[Tuple[str, ...]] = ()
    _check_fields: ClassVar[Tuple[str, ...]] = ()
    """The settings a subclass's checks of a request read (besides its class)."""
    timeouts: Timeouts
    max_reply_bytes: int
    _session: requests.Session

    def _open_http(self, *, timeouts: Optional[Timeouts], verify: Union[bool, str],
                   session: Optional[requests.Session], max_reply_bytes: int) -> None:
        """Set the timeouts, the reply cap and the HTTP session (a new one unless given)."""
        self.timeouts = timeouts or Timeouts()
        self.max_reply_bytes = v.check_positive_int(max_reply_bytes, "max_reply_bytes") or DEFAULT_MAX_REPLY_BYTES
        self._session = session or make_session(verify)

    def _open_login(self, transport: str, username: str, password: Union[str, Secret], *,
                    timeouts: Optional[Timeouts] = None, verify: Union[bool, str] = True,
                    session: Optional[requests.Session] = None, default_currency: Union[str, Currency] = "RUB",
                    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES) -> None:
        """Check and keep the login (the password as a :class:`~autopay_soap.secret.Secret`) and
        the default currency, then :meth:`_open_http` with the :class:`Connection` keywords."""
        if not username or not password:
            raise ValidationError(f"username and password are required for the {transport} gateway",
                                  field="username" if not username else "password")
        self.username = username
        self._password = Secret(password)
        self.default_currency = currency(default_currency, "default_currency")
        self._open_http(timeouts=timeouts, verify=verify, session=session, max_reply_bytes=max_reply_bytes)

    def check_key(self) -> Tuple[str, ...]:
        """What this gateway's checks of a request depend on: its class and the settings named
        in ``_check_fields``. Two gateways with equal keys accept and refuse the same requests,
        so a request one of them checked need not be checked again for the other."""
        cls = type(self)
        return (cls.__module__, cls.__qualname__, *(repr(getattr(self, name)) for name in self._check_fields))

    @property
    def session(self) -> requests.Session:
        """The HTTP session (TLS verification on; connections pooled)."""
        return self._session

    def _post(self, url: str, data: Any, context: Mapping[str, Any],
              headers: Optional[Dict[str, str]] = None) -> requests.Response:
        """POST within the timeouts and the reply cap (see :func:`~autopay_soap.http.post_bounded`)."""
        return post_bounded(self._session, url, data=data, headers=headers, timeouts=self.timeouts,
                            max_bytes=self.max_reply_bytes, context=context)

    _status_hints: ClassVar[Mapping[int, str]] = {}
    """What an HTTP status means at this gateway, added to its error (T-Bank's 403: the allow-list)."""

    def _exchange(self, what: str, url: str, data: Any, context: Dict[str, Any], *, shown: Mapping[str, Any],
                  headers: Optional[Dict[str, str]] = None) -> Tuple[Any, requests.Response]:
        """One JSON exchange, the same for REST and T-Bank: the request on the wire log (``shown``,
        masked), the bounded POST, the reply on the wire log (masked), an HTTP status other than
        200 as :class:`~autopay_soap.errors.HTTPStatusError` (4xx) or
        :class:`~autopay_soap.errors.BadResponse`, and the body read as JSON (within the depth and
        size limits of :mod:`~autopay_soap.json_input`). ``what`` names the call in errors."""
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug("%s request to %s: %s", self._wire_label, url, mask_mapping(shown))
        response = self._post(url, data, context, headers)
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug("%s response (HTTP %s): %s", self._wire_label, response.status_code,
                           mask_text(response.content.decode("utf-8", "replace")))
        status = response.status_code
        if status != 200:
            error = HTTPStatusError if 400 <= status < 500 else BadResponse
            raise error(f"HTTP {status} from {what}{self._status_hints.get(status, '')}", http_status=status,
                        excerpt=excerpt(response.content), **context)
        try:
            return json_input.loads(response.content), response
        except ValueError:
            raise BadResponse(f"{what} answered with something that is not JSON", http_status=200,
                              excerpt=excerpt(response.content), **context) from None

    _wire_label: ClassVar[str] = "HTTP"
    """How the wire log names this gateway's exchanges (``REST``, ``T-Bank``)."""

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def __enter__(self: H) -> H:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._repr_fields)
        return f"{type(self).__name__}({fields})"
