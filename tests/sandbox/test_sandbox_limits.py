"""The sandbox protected against its clients: body limit, bad Content-Length, silent and too many
connections. Raw sockets, so that nothing in between fixes the request up."""

import socket

import pytest

from autopay_soap.sandbox import Sandbox


def exchange(sb, raw, timeout=10):
    """Send ``raw`` bytes on a new connection and read until the server closes it."""
    with socket.create_connection((sb.host, sb.port), timeout=timeout) as conn:
        conn.sendall(raw)
        chunks = []
        while True:
            try:
                chunk = conn.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def post(path, headers, body=b""):
    lines = [f"POST {path} HTTP/1.1", "Host: sandbox"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_a_huge_body_is_refused_with_413_before_it_is_read():
    with Sandbox(max_body_bytes=64 * 1024) as sb:
        answer = exchange(sb, post("/payment/rest/register.do", {"Content-Length": str(100 * 1024 * 1024)},
                                   b"x" * 1024))
        assert sb.engine.orders() == []
    assert answer.startswith(b"HTTP/1.1 413 ") and b"over the limit of 65536" in answer


@pytest.mark.parametrize("length", ["abc", "-5", "1e3", "\u0661\u0662"])
def test_a_bad_content_length_is_400(length, sb):
    answer = exchange(sb, post("/v2/Init", {"Content-Length": length}))
    assert answer.startswith(b"HTTP/1.1 400 ") and b"bad Content-Length" in answer


def test_a_chunked_body_is_411(sb):
    answer = exchange(sb, post("/payment/rest/register.do", {"Transfer-Encoding": "chunked"}, b"0\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 411 ")


@pytest.mark.sandbox(connection_timeout=0.3)
def test_a_silent_connection_is_closed_after_the_connection_timeout(sb):
    with socket.create_connection((sb.host, sb.port), timeout=10) as conn:
        conn.sendall(b"POST /payment/rest/register.do HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly-a-little")
        assert conn.recv(1024) == b""  # closed by the server, well before our own 10 s


def test_connections_beyond_the_bound_get_503_at_once():
    with Sandbox(max_connections=2) as sb:
        held = [socket.create_connection((sb.host, sb.port), timeout=10) for _ in range(2)]
        try:
            for conn in held:  # each is being served: one request answered on it, the connection kept open
                conn.sendall(b"GET /_sandbox/ledger HTTP/1.1\r\nHost: sandbox\r\n\r\n")
                assert conn.recv(65536).startswith(b"HTTP/1.1 200 ")
            answer = exchange(sb, b"GET /_sandbox/ledger HTTP/1.1\r\nHost: sandbox\r\n\r\n")
        finally:
            for conn in held:
                conn.close()
    assert answer.startswith(b"HTTP/1.1 503 ") and b"too many connections" in answer
