"""The sandbox HTTP server and the :class:`Sandbox` handle.

``with Sandbox() as gw:`` starts the gateway emulator on a free loopback port in a
background thread; ``gw.url``, ``gw.soap_url``, ``gw.rest_url``, ``gw.username`` and
``gw.password`` point a client at it; ``gw.ledger()`` lists the money movements.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional

import attr
import requests

from ..redact import mask_text
from ..signing import make_token, rbs_hmac_checksum
from . import routes
from .answer import ApiCall
from .cabinet import MerchantCabinet
from .cards import Behaviour, TestCard, TestCards
from .clock import SandboxClock
from .engine import Engine, Event, Movement
from .faults import FaultPlan
from .fiscal import FiscalLog
from .notifier import Notifier
from .rbs_words import CALLBACK_OPERATION
from .rest import RestFrontEnd
from .settings import (  # noqa: F401 - the defaults are still named here, where callers import them
    DEFAULT_CONNECTION_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_PASSWORD,
    DEFAULT_TBANK_TERMINAL,
    DEFAULT_USERNAME,
    SandboxSettings,
)
from .soap import SoapFrontEnd, fault_envelope
from .state import StateFile, restore, save
from .tbank import TBankFrontEnd, TBankTerminal

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_TBANK_TERMINAL", "DEFAULT_USERNAME", "PayerResult", "Sandbox"]

log = logging.getLogger(__name__)
access_log = logging.getLogger("autopay_soap.sandbox.access")


def access_line(requestline: str, limit: int = 300) -> str:
    """A request line fit for a log: secrets masked (:func:`~autopay_soap.redact.mask_text`),
    control characters escaped (no forged log lines), at most ``limit`` characters."""
    text = mask_text(requestline[:limit * 2])
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."

@attr.s(frozen=True, slots=True, auto_attribs=True)
class PayerResult:
    """What happened when the payer paid on the sandbox page."""

    order_id: str
    paid: bool
    redirect_url: Optional[str]



_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 36\r\n"
         b"Connection: close\r\n\r\nsandbox busy: too many connections\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sandbox: "Sandbox"
    slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        """One thread per connection, up to the sandbox's ``max_connections``; beyond, 503 at once."""
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class _Drop(Exception):
    """Close the connection without an answer."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave in two writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """One line per answer on the ``autopay_soap.sandbox.access`` logger (INFO): client,
        request line with secrets masked (a REST call may carry ``password=`` in its query),
        status, size. ``autopay-soap sandbox`` shows it on stderr unless ``--quiet``."""
        if access_log.isEnabledFor(logging.INFO):
            access_log.info('%s "%s" %s %s', self.client_address[0], access_line(self.requestline), code, size)

    # -- plumbing --------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.sandbox.connection_timeout)  # every read of this connection

    def _body(self) -> bytes:
        """The request body, within the sandbox's limits: 400 for a bad ``Content-Length``, 411
        for a chunked body, 413 beyond ``max_body_bytes`` (the body is then not read)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._refuse(411, "a Content-Length is required (chunked bodies are not accepted)")
        text = (self.headers.get("Content-Length") or "0").strip()
        if not text.isdigit() or not text.isascii():
            self._refuse(400, "bad Content-Length")
        length = int(text)
        limit = self.server.sandbox.max_body_bytes
        if length > limit:
            self._refuse(413, f"a request body of {length} bytes is over the limit of {limit}")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self._drop()  # the client went away (or timed out) mid-body
        return body

    def _refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` with ``reason`` and close the connection (the rest is not read)."""
        self.close_connection = True
        self._send(status, (reason + "\n").encode(), "text/plain; charset=utf-8", {"Connection": "close"})
        raise _Drop()

    def _send(self, status: int, body: bytes, content_type: str, headers: Optional[Dict[str, str]] = None) -> None:
        self.server.sandbox.save_state()  # what this answer reports is on disk before it leaves
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(303, b"", "text/plain", {"Location": location})

    def _reset(self) -> None:
        # SO_LINGER 0: the close sends a TCP RST, like a refused or reset connection
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        raise _Drop()

    def _drop(self) -> None:
        self.close_connection = True
        raise _Drop()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _Drop:
            self.close_connection = True
        except (ConnectionError, BrokenPipeError, socket.timeout):
            self.close_connection = True

    # -- dispatch --------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch(routes.Request.of("GET", self.path))

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self._body()
        self._dispatch(routes.Request.of("POST", self.path, body, self.headers.get("Content-Type") or ""))

    def _dispatch(self, request: routes.Request) -> None:
        target = routes.route(self.server.sandbox, request)
        if isinstance(target, ApiCall):
            self._with_faults(target)
        else:
            self._send(target.status, target.body, target.content_type, target.headers)

    # -- the API, with faults and latency --------------------------------------------------

    def _with_faults(self, call: ApiCall) -> None:
        sandbox = self.server.sandbox
        fault = sandbox.faults.draw(call.operation) if sandbox.faults else None
        if fault == "refuse":
            self._reset()
        if fault in ("http500", "http503"):
            status = 500 if fault == "http500" else 503
            self._send(status, f"<html><body><h1>{status}</h1></body></html>".encode(), "text/html")
            return
        if fault == "soap_fault":
            if call.protocol == "tbank":
                self._send(200, '{"Success":false,"ErrorCode":"9999","Message":"Попробуйте повторить попытку '
                                'позже"}'.encode("utf-8"), call.content_type)
            elif call.protocol == "soap":
                self._send(500, fault_envelope("soap:Server", "Internal error"), "text/xml; charset=utf-8")
            else:
                self._send(200, b'{"errorCode":"7","errorMessage":"System error"}', call.content_type)
            return
        status, answer = call.handle()
        if sandbox.latency:
            time.sleep(sandbox.latency)  # emulates the remote gateway's latency
        if fault == "drop_after":
            self._drop()
        if fault == "slow":
            time.sleep(sandbox.faults.slow_seconds if sandbox.faults else 0)
        if fault == "garbage":
            answer = b"\x00\x17<<garbage>> not what you expected"
        if fault == "truncated":
            answer = answer[: len(answer) // 2]
        self._send(status, answer, call.content_type)


class Sandbox:
    """The embedded RBS gateway emulator.

    :param host: address to listen on; loopback unless ``allow_remote=True``.
    :param port: 0 picks a free port.
    :param settings: what it is built with (:class:`~autopay_soap.sandbox.settings.SandboxSettings`:
        credentials, latency, faults, callbacks, clock, T-Bank terminals, limits, state file,
        54-FZ and ``tii`` behaviour); by default the defaults.
    :param options: fields of :class:`~autopay_soap.sandbox.settings.SandboxSettings` that differ
        from ``settings`` (``Sandbox(latency=0.005)``); an unknown one is a ``TypeError``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, settings: Optional[SandboxSettings] = None,
                 **options: Any) -> None:
        settings = attr.evolve(settings or SandboxSettings(), **options)
        self.settings = settings
        if host not in ("127.0.0.1", "localhost", "::1") and not settings.allow_remote:
            raise ValueError("the sandbox listens on loopback only unless allow_remote=True")
        self.public_url: Optional[str] = None
        self.host, self.port = host, port
        self.max_body_bytes, self.connection_timeout, self.max_connections = \
            settings.max_body_bytes, settings.connection_timeout, settings.max_connections
        self.username, self.password, self.latency = settings.username, settings.password, settings.latency
        faults = settings.faults
        self.faults = FaultPlan.parse(faults, seed=settings.seed) if isinstance(faults, str) else faults
        self.callback_url, self._callback_secret = settings.callback_url, settings.callback_secret
        self.callback_retry_interval, self.callback_attempts = \
            settings.callback_retry_interval, settings.callback_attempts
        self.clock: Callable[[], float] = settings.clock if settings.clock is not None else SandboxClock()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._notifier: Optional[Notifier] = None
        self._waiting_notifications: List[Dict[str, Any]] = []
        self.receipts_required = settings.receipts_required
        self._build_front_ends(settings.validate, settings.rbs_tii, settings.tbank_terminals,
                               settings.tbank_repeated_order_ids)
        self._state_path = settings.state
        self._state: Optional[StateFile] = self._open_state() if settings.state is not None else None
        self.cabinet = MerchantCabinet(self.engine, self._after_cabinet)
        """The merchant cabinet: refunds, reversals and charges made outside any API client."""

    def _build_front_ends(self, validate: bool, rbs_tii: str, tbank_terminals: Optional[List[TBankTerminal]],
                          tbank_repeated_order_ids: bool) -> None:
        """The engine, its three front ends (SOAP, REST, T-Bank) and the fiscal log they share."""
        self.engine = Engine(clock=self.clock, on_event=self._on_event)
        self.soap = SoapFrontEnd(self.engine, self.username, self.password, self._absolute, validate=validate)
        self.rest = RestFrontEnd(self.engine, self.username, self.password, self._absolute, tii_mode=rbs_tii)
        self.tbank_terminals = list(tbank_terminals or [TBankTerminal(DEFAULT_TBANK_TERMINAL, self.password)])
        self.tbank = TBankFrontEnd(self.engine, self.tbank_terminals, self._absolute, self._notify_json,
                                   accept_repeated_order_ids=tbank_repeated_order_ids)
        self.fiscal = FiscalLog(self.clock)
        for front_end in (self.soap, self.rest, self.tbank):
            front_end.receipts_required, front_end.fiscal = self.receipts_required, self.fiscal

    def __repr__(self) -> str:
        return f"Sandbox(url={self.url if self._server else None!r}, username={self.username!r})"

    def _open_state(self) -> StateFile:
        """Open (and lock) the state file and load what it holds."""
        assert self._state_path is not None
        state = StateFile(self._state_path)
        try:
            restore(self.engine, self.tbank, self.tbank_terminals.append, self.resubmit_notification, state)
        except BaseException:
            state.close()  # a file that cannot be restored is left as it was found
            raise
        return state

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> "Sandbox":
        """Start serving in a background thread (a sandbox stopped before opens its state file again)."""
        if self._state_path is not None and self._state is None:
            self._state = StateFile(self._state_path)
        server = _Server((self.host, self.port), _Handler)
        server.sandbox = self
        server.slots = threading.BoundedSemaphore(self.max_connections)
        self._server = server
        self.port = server.server_address[1]
        self.start_notifier()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="sandbox-http", daemon=True)
        self._thread.start()
        return self

    def start_notifier(self) -> None:
        """Start the thread that sends callbacks and notifications (:meth:`start` does; a WSGI
        server hosting :mod:`autopay_soap.sandbox.wsgi` needs it on its own)."""
        if self._notifier is None:
            self._notifier = Notifier(attempts=self.callback_attempts,
                                      retry_interval=self.callback_retry_interval)
            waiting, self._waiting_notifications = self._waiting_notifications, []
            for item in waiting:  # restored from a state file
                self._notifier.submit(item["url"], item["params"], as_json=bool(item["as_json"]))

    def save_state(self) -> None:
        """Write what changed to the state file (nothing without one). Called before each answer."""
        if self._state is not None:
            save(self.engine, self.tbank, self.pending_notifications(), self._state)

    def _after_cabinet(self) -> None:
        if self._state is not None:
            self.save_state()

    def pending_notifications(self) -> List[Dict[str, Any]]:
        """Callbacks and notifications queued and not yet delivered or given up."""
        if self._notifier is None:
            return list(self._waiting_notifications)
        return self._notifier.snapshot()

    def resubmit_notification(self, item: Dict[str, Any]) -> None:
        """Queue a notification restored from a state file (sent once the sandbox serves)."""
        if self._notifier is None:
            self._waiting_notifications.append(item)
        else:
            self._notifier.submit(item["url"], item["params"], as_json=bool(item["as_json"]))

    def stop(self) -> None:
        """Stop serving, release the port and close the state file (which another sandbox may
        then open)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._notifier is not None:
            self.save_state()  # before the notifier stops: what it has not delivered stays in the file
            self._notifier.stop()
            self._notifier = None
        elif self._state is not None:
            self.save_state()
        if self._state is not None:
            self._state.close()
            self._state = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the ``autopay-soap sandbox`` command)."""
        if self._server is None:
            self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>`` (or ``public_url`` when set: behind a WSGI
        server or a proxy, the address clients use)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _absolute(self, path: str) -> str:
        return self.url + path

    @property
    def soap_url(self) -> str:
        """The SOAP endpoint (``?wsdl`` serves the WSDL with this address)."""
        return self.url + routes.SOAP_PATH

    @property
    def wsdl_url(self) -> str:
        """The WSDL's URL."""
        return self.soap_url + "?wsdl"

    @property
    def rest_url(self) -> str:
        """The REST base, ending in ``/payment/rest/``."""
        return self.url + routes.REST_PREFIX

    @property
    def tbank_url(self) -> str:
        """The T-Bank API base, ending in ``/v2/``."""
        return self.url + routes.TBANK_PREFIX

    @property
    def tbank_terminal_key(self) -> str:
        """The first T-Bank terminal's key (``SandboxDEMO`` by default)."""
        return self.tbank_terminals[0].key

    @property
    def tbank_password(self) -> str:
        """The first T-Bank terminal's password."""
        return self.tbank_terminals[0].password

    def rotate_password(self, password: str) -> None:
        """Change the merchant's API password (SOAP and REST) and the first T-Bank terminal's,
        effective for the next request: how a client meets a password rotated under it."""
        self.password = password
        self.soap._password = password
        self.rest._password = password
        self.tbank_terminals[0].password = password

    def tbank_control(self, method: str, fields: Dict[str, Any], terminal_key: Optional[str] = None) -> Dict[str, Any]:
        """Call a T-Bank test method (``SbpPayTest``, ``SbpBindTest``) signed for a terminal, in-process."""
        key = terminal_key or self.tbank_terminal_key
        terminal = next((t for t in self.tbank_terminals if t.key == key), None)
        if terminal is None:
            raise ValueError(f"no T-Bank terminal {key!r} in this sandbox")
        body = {**fields, "TerminalKey": terminal.key}
        body["Token"] = make_token(body, terminal.password)
        return self.tbank.handle(method, body)

    def sbp_pay(self, payment_id: str, *, rejected: bool = False, deadline_expired: bool = False,
                terminal_key: Optional[str] = None) -> Dict[str, Any]:
        """The payer pays (or rejects) an SBP QR, as T-Bank's ``SbpPayTest`` does."""
        return self.tbank_control("SbpPayTest", {"PaymentId": str(payment_id), "IsRejected": rejected,
                                                 "IsDeadlineExpired": deadline_expired}, terminal_key)

    def sbp_bind(self, request_key: str, *, rejected: bool = False, insufficient_funds: bool = False,
                 behaviour: Optional[Behaviour] = None, terminal_key: Optional[str] = None) -> Dict[str, Any]:
        """The payer approves (or rejects) an SBP account binding in the bank app.

        ``insufficient_funds``: every later ChargeQr from this account is declined (5060).
        ``behaviour``: one of the autopayment behaviours of the test cards
        (:data:`~autopay_soap.sandbox.cards.AUTOPAY_BEHAVIOURS`): the account's ChargeQr calls
        decline as that card's autopayments do (5060, 5065, 5066, 3013; a recovering balance).
        """
        body: Dict[str, Any] = {"RequestKey": request_key, "IsRejected": rejected,
                                "IsInsufficientFunds": insufficient_funds}
        if behaviour is not None:
            body["Behaviour"] = behaviour.value
        return self.tbank_control("SbpBindTest", body, terminal_key)

    @property
    def return_url(self) -> str:
        """A return page on the sandbox itself, for demos and tests."""
        return self.url + "/_sandbox/return"

    # -- inspection ------------------------------------------------------------------------

    def ledger(self) -> List[Movement]:
        """Every money movement (hold, deposit, reverse, refund), oldest first."""
        return self.engine.movements()

    def ledger_json(self) -> Dict[str, Any]:
        """The ledger as served at ``/_sandbox/ledger``."""
        return {"movements": [m.as_dict() for m in self.engine.movements()],
                "orders": [o.as_json() for o in self.engine.orders()],
                "bindings": [{"bindingId": b.binding_id, "clientId": b.client_id, "maskedPan": b.masked_pan,
                              "expiryDate": b.expiry, "active": b.active} for b in self.engine.all_bindings()]}

    @property
    def callbacks(self) -> List[Dict[str, Any]]:
        """Callbacks delivered (or given up) so far: url, params, HTTP status, attempts, delivered."""
        return list(self._notifier.delivered) if self._notifier else []

    def wait_for_callbacks(self, timeout: float = 10.0) -> bool:
        """Block until every queued callback was delivered or given up."""
        return self._notifier.wait_idle(timeout) if self._notifier else True

    def _notify_json(self, url: str, body: Dict[str, Any]) -> None:
        if self._notifier is not None:
            self._notifier.submit(url, body, as_json=True)

    def _on_event(self, event: Event) -> None:
        if self.tbank.owns(event.order.order_id):
            self.tbank.on_event(event)
            return
        order = event.order
        url = order.callback_url or self.callback_url
        if not url or self._notifier is None:
            return
        operation = CALLBACK_OPERATION[event.kind]
        params = {"mdOrder": order.order_id, "orderNumber": order.order_number, "operation": operation,
                  "status": "1" if event.success else "0"}
        if operation in ("approved", "deposited"):
            params["amount"] = str(order.amount)
        if order.client_id:
            params["clientId"] = order.client_id
        params.update(event.extra)
        if self._callback_secret:
            params["checksum"] = rbs_hmac_checksum(params, self._callback_secret)
        self._notifier.submit(url, params)

    # -- the payer -------------------------------------------------------------------------

    def pay(self, form_url: str, card: TestCard = TestCards.SUCCESS, *, three_ds_code: Optional[str] = None,
            timeout: float = 10.0) -> PayerResult:
        """Pay as the payer does, over the plain-HTTP payer API (``POST /_sandbox/pay``): the card,
        then the ACS with the card's own code (or ``three_ds_code``) if it asks. A card the form
        refuses (a wrong check digit...) leaves the order unpaid: ``paid`` False, no redirect."""
        body = {"form_url": form_url, "pan": card.pan, "expiry": card.expiry, "cvc": card.cvc,
                "cardholder": card.cardholder,
                "three_ds_code": three_ds_code if three_ds_code is not None else (card.three_ds_code or "")}
        answer = requests.post(self.url + "/_sandbox/pay", json=body, timeout=timeout)
        data = answer.json()
        if answer.status_code == 409 and data.get("orderId"):
            return PayerResult(str(data["orderId"]), False, None)
        if answer.status_code != 200:
            raise RuntimeError(f"the sandbox could not pay {form_url}: {data.get('error')}")
        return PayerResult(str(data["orderId"]), bool(data["paid"]), data.get("redirectUrl"))


