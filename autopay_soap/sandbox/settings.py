"""What a :class:`~autopay_soap.sandbox.Sandbox` is built with, as one value.

``Sandbox(latency=0.005, faults="timeout:0.1")`` still works: its keywords are the fields of
:class:`SandboxSettings`, checked once (an unknown one is a ``TypeError``). A test suite or a
deployment that builds many sandboxes alike keeps one ``SandboxSettings`` and passes it as
``Sandbox(settings=...)``, with keywords for what differs (``attr.evolve`` semantics).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Optional, Union

import attr

from .faults import FaultPlan
from .tbank import TBankTerminal

__all__ = ["DEFAULT_CONNECTION_TIMEOUT", "DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_CONNECTIONS", "DEFAULT_PASSWORD",
           "DEFAULT_TBANK_TERMINAL", "DEFAULT_USERNAME", "SandboxSettings"]

DEFAULT_USERNAME = "sandbox-api"
DEFAULT_PASSWORD = "sandbox-password"
DEFAULT_TBANK_TERMINAL = "SandboxDEMO"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""The largest request body the sandbox reads (a bigger one is answered 413 and not read)."""
DEFAULT_CONNECTION_TIMEOUT = 30.0
"""Seconds a connection may stay silent (between requests, or within one) before it is closed."""
DEFAULT_MAX_CONNECTIONS = 64
"""Connections served at once; one more is answered 503 at once and closed."""


@attr.s(frozen=True, slots=True, auto_attribs=True, kw_only=True)
class SandboxSettings:
    """Everything a sandbox is built with but the address it listens on.

    :param username, password: the merchant's API credentials (SOAP and REST); the password is
        never in the repr.
    :param latency: seconds added to every API answer, to emulate a remote gateway.
    :param faults: a :class:`~autopay_soap.sandbox.faults.FaultPlan` or its spec string.
    :param seed: seed of the fault plan's random draws.
    :param callback_url: where callbacks go (an order's ``dynamicCallbackUrl`` wins).
    :param callback_secret: with it, callbacks carry an HMAC-SHA256 ``checksum`` (not in the repr).
    :param callback_retry_interval: seconds between tries of an undelivered notification.
    :param callback_attempts: tries of a notification (both read when the notifier starts).
    :param clock: the engine's clock (default a :class:`~autopay_soap.sandbox.clock.SandboxClock` on
        real time, which ``sandbox.clock.advance(days=3)`` moves; tests may pass any callable).
    :param validate: the SOAP front end checks each request against the WSDL's schema.
    :param allow_remote: listen on an address other than loopback.
    :param tbank_terminals: the T-Bank terminals (default: ``SandboxDEMO`` with ``password``).
    :param tbank_repeated_order_ids: T-Bank ``Init`` accepts an ``OrderId`` already used and creates
        another payment, as a gateway may (refusing it is not documented); by default it answers
        error 20. Clients must never rely on the refusal: the exactly-once tests run with both.
    :param max_body_bytes: the largest request body read (default 1 MiB; beyond: 413, unread).
    :param connection_timeout: seconds a connection may stay silent before it is closed (default 30).
    :param max_connections: connections served at once (default 64; one more: 503 at once).
    :param state: a SQLite file that keeps the state across restarts (see
        :mod:`autopay_soap.sandbox.state`); by default everything is in memory.
    :param receipts_required: the terminals fiscalise (54-FZ): a payment without a receipt, or
        with one that does not add up, is refused as the gateways refuse it (see
        :mod:`autopay_soap.sandbox.fiscal`).
    :param rbs_tii: what RBS REST's ``paymentOrderBinding`` does with ``tii``: ``optional`` (the
        default: a valid one is recorded), ``required`` (BPC's newer platform: a payment without
        it is refused) or ``absent`` (an older generation: any ``tii`` is refused). A value other
        than ``F``/``U``/``R``/``I``, and ``U``/``R``/``I`` on a two-stage order, are refused (error 5).
    """

    username: str = DEFAULT_USERNAME
    password: str = attr.ib(default=DEFAULT_PASSWORD, repr=False)
    latency: float = 0.0
    faults: Union[FaultPlan, str, None] = None
    seed: int = 0
    callback_url: Optional[str] = None
    callback_secret: Optional[str] = attr.ib(default=None, repr=False)
    callback_retry_interval: float = 30.0
    callback_attempts: int = 3
    clock: Optional[Callable[[], float]] = attr.ib(default=None, repr=False)
    validate: bool = True
    allow_remote: bool = False
    tbank_terminals: Optional[List[TBankTerminal]] = attr.ib(default=None, repr=False)
    tbank_repeated_order_ids: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    connection_timeout: float = DEFAULT_CONNECTION_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    state: Union[str, Path, None] = None
    receipts_required: bool = False
    rbs_tii: str = "optional"
