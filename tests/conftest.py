"""Shared fixtures. Every test runs with sockets limited to loopback."""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

import pytest

from autopay_soap.callbacks import TBankCallbackApp
from autopay_soap.sandbox import Engine, Sandbox

from .support import SOAP_URL, FakeClock, QuietHandler, require

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if isinstance(address, tuple):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise RuntimeError(f"test tried to reach {host!r}: only loopback is allowed")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _own_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test (and the commands it runs) keeps the merchant's hard-decline memory in a folder
    of its own, never in the home folder."""
    monkeypatch.setenv("AUTOPAY_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture
def soap_gateway():
    from autopay_soap.gateways.rbs_soap import RbsSoapGateway

    gw = RbsSoapGateway(SOAP_URL, "shop-api", "pa55-w0rd-secret")
    yield gw
    gw.close()


@pytest.fixture(autouse=True)
def _tbank_answers_follow_the_published_schemas(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every answer the sandbox's T-Bank front end gives, in every test, is checked against the
    answer schemas of T-Bank's published OpenAPI description (tests/support/tbank_schema.py)."""
    from autopay_soap.sandbox.tbank import TBankFrontEnd

    from .support.tbank_schema import problems

    seen: list = []
    original = TBankFrontEnd.handle

    def checked(self: Any, method: str, body: Any) -> Any:
        answer = original(self, method, body)
        seen.extend(problems(method, answer))
        return answer

    monkeypatch.setattr(TBankFrontEnd, "handle", checked)
    yield
    assert not seen, "T-Bank answers that disagree with the published schemas:\n" + "\n".join(sorted(set(seen)))


# -- the sandbox engine on a clock the test moves ------------------------------------------------

@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves."""
    return FakeClock()


@pytest.fixture
def engine(clock: FakeClock) -> Engine:
    """A sandbox engine (no HTTP) on ``clock``."""
    return Engine(clock=clock)


# -- the sandbox and a notification receiver, for any test that asks ------------------------------

@pytest.fixture
def sb(request: Any) -> Any:
    """A sandbox on loopback (the name the tests give it), closed when the test ends: the default
    settings, or those of the test's ``@pytest.mark.sandbox(receipts_required=True, ...)`` (the
    fields of :class:`~autopay_soap.sandbox.settings.SandboxSettings`). A test that looks at the
    sandbox after it closed, or runs two, starts its own with ``with Sandbox(...) as sb:``."""
    marker = request.node.get_closest_marker("sandbox")
    with Sandbox(**(marker.kwargs if marker else {})) as started:
        yield started


@pytest.fixture
def sandbox() -> Any:
    """A sandbox on loopback whose notifications retry at once."""
    with Sandbox(callback_retry_interval=0.01) as sb:
        yield sb


@pytest.fixture
def receiver() -> Any:
    """A loopback notification receiver: the library's own WSGI app behind wsgiref."""
    got: list = []
    done = threading.Condition()

    def handler(note: Any) -> None:
        with done:
            got.append(note)
            done.notify_all()

    app = TBankCallbackApp(handler, password="sandbox-password", offline=True)  # the sandbox's claims as sent
    server = make_server("127.0.0.1", 0, app, server_class=WSGIServer, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/notify", got
    server.shutdown()
    server.server_close()


# -- a real PostgreSQL server (the postgres extra) ---------------------------------------------------

@pytest.fixture(scope="session")
def pg_server() -> Any:
    """A throwaway PostgreSQL server's URL. Outside CI a missing server or psycopg skips with the
    reason; in CI (which installs both) it fails."""
    from .support.pg_server import running_server, server_bin

    bin_dir = server_bin()
    require("PostgreSQL", None if bin_dir else "no PostgreSQL server (apt-get install postgresql)",
             "psycopg", 'no psycopg (pip install ".[postgres]")')
    yield from running_server(bin_dir or "")


@pytest.fixture
def pg_url(pg_server: str, request: pytest.FixtureRequest) -> str:
    """A journal URL on the test server in a database of this test's own."""
    import re

    import psycopg

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50]
    with psycopg.connect(pg_server, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}"')
        db.execute(f'CREATE DATABASE "{name}"')
    return pg_server.rsplit("/", 1)[0] + "/" + name


# -- a real Redis server, as a Celery broker (the celery extra) ---------------------------------------

@pytest.fixture(scope="session")
def redis_server() -> Any:
    """A throwaway Redis server's URL. Outside CI a missing server or Celery skips with the
    reason; in CI (which installs both) it fails."""
    from .support.redis_server import redis_binary, running_redis

    binary = redis_binary()
    require("Redis and Celery", None if binary else "no Redis server (apt-get install redis-server)",
             "celery", 'no Celery (pip install ".[celery]")')
    yield from running_redis(binary or "")
