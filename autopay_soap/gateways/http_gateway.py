"""What the three HTTP gateways share: the session and the limits they are built with, ``close``
and the context manager, a repr that names the endpoint and the login but never the password,
and the bounded POST every request goes through (:func:`autopay_soap.http.post_bounded`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple, TypedDict, TypeVar, Union

import requests

from .. import validation as v
from ..errors import ValidationError
from ..http import DEFAULT_MAX_REPLY_BYTES, Timeouts, make_session, post_bounded
from ..money import Currency, currency
from ..secret import Secret

__all__ = ["Connection", "HttpGateway"]

H = TypeVar("H", bound="HttpGateway")


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
