"""The sandbox as a WSGI application, served by the standard library's WSGI server (gunicorn
and waitress call the same ``app``): the scenarios over SOAP, REST and T-Bank, the payer API,
and the connection-level faults that need the built-in server."""

import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests

from autopay_soap import AutopayClient, ChargeOutcome, Money
from autopay_soap.sandbox import FaultPlan, Sandbox
from autopay_soap.sandbox.wsgi import make_app


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served():
    sandbox = Sandbox()
    server = make_server("127.0.0.1", 0, make_app(sandbox), server_class=_ThreadingWSGIServer,
                         handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sandbox, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        sandbox.stop()


@pytest.mark.parametrize("transport", ["soap", "rest", "tbank"])
def test_first_payment_and_autopayment_through_the_wsgi_app(served, transport):
    sandbox, base = served
    client = AutopayClient.from_profile("sandbox", sandbox_url=base, transport=transport,
                                        return_url=base + "/_sandbox/return")
    first = client.start_first_payment(f"WSGI-{transport}-1", Money.of("10.00", "RUB"), "wsgi-client")
    assert first.form_url.startswith(base)  # URLs carry the address the client used
    paid = requests.post(base + "/_sandbox/pay", json={"form_url": first.form_url, "card": "SUCCESS"}, timeout=10)
    assert paid.json()["paid"] is True
    done = client.finish_first_payment(order_id=first.order_id, client_id="wsgi-client")
    charge = client.autopay(f"WSGI-{transport}-2", Money.of("3.00", "RUB"), client_id="wsgi-client",
                            binding_id=done.binding.binding_id)
    client.close()
    assert charge.outcome is ChargeOutcome.PAID
    assert sandbox.engine.charges_by_order_number()[f"WSGI-{transport}-2"] == 1


def test_the_wsdl_names_the_wsgi_address(served):
    _, base = served
    wsdl = requests.get(base + "/payment/webservices/merchant-ws?wsdl", timeout=10)
    assert wsdl.status_code == 200 and f'location="{base}/payment/webservices/merchant-ws"' in wsdl.text


def test_connection_faults_say_they_need_the_built_in_server(served):
    sandbox, base = served
    sandbox.faults = FaultPlan.parse("register:refuse=1")
    refused = requests.post(base + "/payment/rest/register.do", data={"userName": "x"}, timeout=10)
    sandbox.faults = FaultPlan.parse("register:http503=1")
    unavailable = requests.post(base + "/payment/rest/register.do", data={"userName": "x"}, timeout=10)
    assert refused.status_code == 502 and "needs the built-in server" in refused.text
    assert unavailable.status_code == 503


def test_a_body_over_the_limit_is_413_under_wsgi_too(served):
    sandbox, base = served
    sandbox.max_body_bytes = 1000
    answer = requests.post(base + "/payment/rest/register.do", data=b"x" * 5000, timeout=10)
    assert answer.status_code == 413


def _waitress(env):
    """``autopay_soap.sandbox.wsgi:app`` under waitress in its own process; (process, base URL)."""
    import os
    import re
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "waitress", "--listen=127.0.0.1:0", "--threads=4",
                             "autopay_soap.sandbox.wsgi:app"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})
    for line in proc.stderr:
        found = re.search(r"Serving on (http://127\.0\.0\.1:\d+)", line)
        if found:
            return proc, found.group(1)
    raise AssertionError(f"waitress did not start (exit {proc.wait(10)})")


def _stop(proc):
    proc.kill()  # as a restart after a crash would: nothing is saved on the way out
    proc.wait(10)
    proc.stderr.close()


def test_the_wsgi_app_keeps_its_state_file_across_a_restart_of_a_real_wsgi_server(tmp_path):
    env = {"AUTOPAY_SANDBOX_STATE": str(tmp_path / "wsgi-state.sqlite")}
    proc, url = _waitress(env)
    try:
        client = AutopayClient.from_profile("sandbox", sandbox_url=url, return_url=url + "/_sandbox/return")
        first = client.start_first_payment("W-ST-1", Money.of("3.00", "RUB"), "wsgi-client")
        paid = requests.post(url + "/_sandbox/pay", json={"form_url": first.payment_url(), "card": "SUCCESS"},
                             timeout=10)
        assert paid.json()["paid"], paid.text
        binding = client.finish_first_payment(order_id=first.order_id).new_binding().binding_id
        client.close()
        second, second_url = _waitress(env)  # a second worker process on the same file: refused, loudly
        try:
            refused = requests.get(second_url + "/_sandbox/ledger", timeout=10)
        finally:
            _stop(second)
    finally:
        _stop(proc)
    assert refused.status_code == 500 and "another sandbox has this state file open" in refused.text
    proc, url = _waitress(env)
    try:
        client = AutopayClient.from_profile("sandbox", sandbox_url=url, return_url=url + "/_sandbox/return")
        again = client.autopay("W-ST-2", Money.of("3.00", "RUB"), client_id="wsgi-client", binding_id=binding)
        found = client.status(order_number="W-ST-1")
        client.close()
    finally:
        _stop(proc)
    assert again.outcome is ChargeOutcome.PAID and found.is_paid and found.binding.binding_id == binding
