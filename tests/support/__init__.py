"""What the tests share besides fixtures: helpers, fake servers and replies, and the client and
sandbox helpers of each transport (:mod:`.tbank`, :mod:`.batch`). Tests import these from here;
``conftest.py`` holds the fixtures only, and no test imports it."""

from __future__ import annotations

import os
import sys
from typing import Any, Optional
from wsgiref.simple_server import WSGIRequestHandler

import pytest

SOAP_URL = "https://gw.test/payment/webservices/merchant-ws"


def docs_script(tmp_path, name: str, command_body: str):
    """``(script, bin_dir)``: the docs' shell script ``name`` copied to ``tmp_path``, and a folder
    whose ``autopay-soap`` runs ``command_body`` (put it first on PATH)."""
    from pathlib import Path

    script = tmp_path / name
    script.write_text((Path(__file__).parent.parent.parent / "docs" / name).read_text())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    command = bin_dir / "autopay-soap"
    command.write_text(f"#!/bin/sh\n{command_body}\n")
    command.chmod(0o755)
    return script, bin_dir


AUTOPAY_MODULE = f'exec "{sys.executable}" -m autopay_soap "$@"'
"""The body of an ``autopay-soap`` that runs this checkout's code (:func:`docs_script`)."""


def no_wait(seconds: float) -> None:
    """A client's ``sleep=`` for tests: retries without the backoff's waits."""


def soap_reply(operation: str, inner: str) -> str:
    """A SOAP 1.1 reply of ``operation`` whose ``return`` part is ``inner``."""
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<ns1:{operation}Response xmlns:ns1="http://engine.paymentgate.ru/webservices/merchant">'
        f"{inner}</ns1:{operation}Response></soap:Body></soap:Envelope>"
    )


class FakeClock:
    """Seconds since the epoch, moved by the test (``clock.now += 61``)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class QuietHandler(WSGIRequestHandler):
    """A wsgiref handler that logs nothing."""

    def log_message(self, *args: Any) -> None:
        pass


def require(what: str, missing_server: Optional[str], module: str, missing_module: str) -> None:
    """Skip (with the reason) when a server or a module is missing; in CI, which installs them, fail."""
    import importlib.util

    missing = missing_server or (None if importlib.util.find_spec(module) else missing_module)
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs {what}: {missing}")
        pytest.skip(missing)
