"""Every exchange is bounded: in total time (a trickling reply), in size, and a whole scenario
by its deadline. Each against a loopback server that misbehaves on purpose, on every transport."""

from __future__ import annotations

import time

import pytest

from autopay_soap import Money
from autopay_soap.client import AutopayClient, ChargeOutcome
from autopay_soap.errors import DeadlineExceeded, ReplyTooLarge, ResponseTimeout
from autopay_soap.gateways.rbs_rest import RbsRestGateway
from autopay_soap.gateways.rbs_soap import RbsSoapGateway
from autopay_soap.gateways.tbank import TBankGateway
from autopay_soap.http import Timeouts, deadline_scope

from ..support.hostile_server import HostileServer

RUB = Money.of("10.00", "RUB")
TRANSPORTS = ["soap", "rest", "tbank"]


def gateway(transport: str, base: str, timeouts: Timeouts, **kw):
    if transport == "soap":
        return RbsSoapGateway(base + "/payment/webservices/merchant-ws", "shop-api", "pw", timeouts=timeouts, **kw)
    if transport == "rest":
        return RbsRestGateway(base + "/payment/rest/", "shop-api", "pw", timeouts=timeouts, **kw)
    return TBankGateway("TestDEMO", "pw", base_url=base + "/v2/", timeouts=timeouts, **kw)


def register(gw):
    return gw.register_order("LIM-1", RUB, "https://shop.example/ok", client_id="c1", auto_payment=True)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", ["trickle_body", "trickle_headers"])
def test_a_trickling_reply_ends_at_the_total_timeout(transport, mode):
    # a byte every 50 ms never trips a 0.4 s read timeout; before the fix this ran for minutes
    with HostileServer(mode, interval=0.05) as server:
        gw = gateway(transport, server.url, Timeouts(connect=1, read=0.4, total=0.8))
        started = time.monotonic()
        with pytest.raises(ResponseTimeout) as info:
            register(gw)
        elapsed = time.monotonic() - started
        gw.close()
    assert info.value.operation in ("registerOrder", "register", "Init")
    assert elapsed < 3.0, f"the call lasted {elapsed:.1f} s with total=0.8"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", ["huge_chunked", "huge_declared"])
def test_a_huge_reply_is_refused_before_parsing(transport, mode):
    with HostileServer(mode) as server:
        gw = gateway(transport, server.url, Timeouts(connect=1, read=5, total=20), max_reply_bytes=256 * 1024)
        with pytest.raises(ReplyTooLarge) as info:
            register(gw)
        gw.close()
    expected = ("more than 262144 bytes was refused" if mode == "huge_chunked"
                else "a reply of 104857600 bytes is over the limit of 262144")
    assert expected in str(info.value)
    assert info.value.http_status == 200


def test_the_default_cap_refuses_a_100_mb_reply():
    with HostileServer("huge_declared") as server:
        gw = gateway("rest", server.url, Timeouts(connect=1, read=5, total=20))
        with pytest.raises(ReplyTooLarge, match="104857600 bytes is over the limit of 4194304"):
            register(gw)
        gw.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_scenario_deadline_bounds_retries_and_look_ups(transport):
    # a gateway that accepts and never answers: 6 attempts x 6 look-ups of 0.3 s each without a deadline
    with HostileServer("silent") as server:
        gw = gateway(transport, server.url, Timeouts(connect=1, read=0.3, total=5))
        client = AutopayClient(gw, return_url="https://shop.example/ok", deadline=1.0, sleep=lambda s: None)
        started = time.monotonic()
        result = client.autopay("LIM-2", RUB, client_id="c1", binding_id="b-1")
        elapsed = time.monotonic() - started
        client.close()
        asked = server.requests
    assert result.outcome is ChargeOutcome.UNKNOWN
    assert elapsed < 2.5, f"autopay lasted {elapsed:.1f} s with deadline=1.0"
    assert asked <= 5


def test_nothing_is_sent_once_the_deadline_has_passed():
    with HostileServer("silent") as server:
        gw = gateway("rest", server.url, Timeouts())
        with deadline_scope(0.0), pytest.raises(DeadlineExceeded):
            register(gw)
        gw.close()
        assert server.requests == 0


def test_total_must_be_positive():
    from autopay_soap.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        Timeouts(total=0)
    assert info.value.field == "timeouts.total"


def test_a_connection_close_answer_is_read_to_its_end():
    """The bounded reader keeps the socket open while the answer is read, as the standard reader
    does: a ``Connection: close`` answer whose body comes after its head is not 'cut off'."""
    from autopay_soap.errors import OrderNotFound

    with HostileServer("closing_late_body") as srv:
        gw = gateway("rest", srv.url, Timeouts(total=10))
        try:
            for _ in range(3):
                with pytest.raises(OrderNotFound):
                    gw.order_status(order_id="00000000-0000-0000-0000-000000000000")
        finally:
            gw.close()
