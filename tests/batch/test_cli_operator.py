"""The operator's night: a command piped into ``head`` ends quietly, ``status`` says with its exit
code (and ``--json``) whether the order is missing or the gateway is, a connection error names
the address and the cause, and an option that does not exist is refused with the sub-command's
usage (a credential given as an option is pointed to its environment variable)."""

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from autopay_soap import AutopayClient, ConnectError, Money, TLSError
from autopay_soap.cli import main
from autopay_soap.sandbox import TestCards

CLI = [sys.executable, "-m", "autopay_soap.cli"]


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command, codes", [(["wsdl"], {141}), (["--help"], {0, 141}),
                                            (["status", "--help"], {0, 141})])
def test_a_reader_that_goes_away_ends_the_command_quietly(command, codes):
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: the first write meets EPIPE, as after `| head` has quit
    try:
        done = subprocess.run(CLI + command, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    # 141: as a tool killed by SIGPIPE; argparse's help from Python 3.11 swallows the broken pipe itself: 0
    assert done.returncode in codes and done.stderr == ""


def status(*arguments, env=None):
    return subprocess.run(CLI + ["status", *arguments], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_status_exit_codes_and_json_tell_found_missing_unreachable_and_refused_apart(sb):
    client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url)
    first = client.start_first_payment("ST-OP-1", Money.of("12.34", "RUB"), "op-client")
    sb.pay(first.payment_url(), TestCards.SUCCESS)
    client.close()
    where = ["--profile", "sandbox", "--sandbox-url", sb.url]
    found = status("ST-OP-1", *where, "--json")
    missing = status("NOPE-1", *where, "--json")
    refused = status("ST-OP-1", *where, "--json", env={"AUTOPAY_PASSWORD": "not-the-password"})
    unreachable = status("ST-OP-1", "--profile", "sandbox", "--sandbox-url", f"http://127.0.0.1:{closed_port()}",
                         "--json")
    assert found.returncode == 0, found.stderr
    order = json.loads(found.stdout)
    assert order["order_number"] == "ST-OP-1" and order["status_name"] == "DEPOSITED"
    assert order["amount"] == {"minor": 1234, "currency": "RUB"} and order["client_id"] == "op-client"
    assert order["binding_id"] and "**" in order["masked_pan"]
    assert (missing.returncode, json.loads(missing.stdout)["error"]) == (3, "not_found")
    assert (unreachable.returncode, json.loads(unreachable.stdout)["error"]) == (4, "unreachable")
    assert (refused.returncode, json.loads(refused.stdout)["error"]) == (2, "setting")
    assert "not-the-password" not in refused.stdout + refused.stderr
    assert "connection refused" in json.loads(unreachable.stdout)["message"]


def test_status_help_documents_its_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["status", "--help"])
    text = capsys.readouterr().out
    assert "3    the gateway has no such order" in text and "4    the gateway could not be asked" in text


@pytest.mark.parametrize("option, variable", [("--password", "AUTOPAY_PASSWORD"), ("--username=shop",
                                                                                      "AUTOPAY_USERNAME")])
def test_a_credential_given_as_an_option_is_pointed_to_the_environment(capsys, option, variable):
    with pytest.raises(SystemExit) as exit_:
        main(["status", "ORDER-1", option, "secret-value"] if "=" not in option else ["status", "ORDER-1", option])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("usage: autopay-soap status ")
    assert f"set {variable} in the environment" in err and "secret-value" not in err


def test_an_unknown_option_shows_the_sub_command_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["charge", "rows.csv", "--concurency", "4"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("usage: autopay-soap charge ")
    assert "unrecognized arguments: --concurency 4" in err


def test_a_refused_connection_names_the_address_and_the_cause():
    url = f"http://127.0.0.1:{closed_port()}"
    client = AutopayClient.from_profile("sandbox", sandbox_url=url, transport="rest", return_url="https://s/ok")
    with pytest.raises(ConnectError) as refused:
        client.status(order_number="X-1")
    client.close()
    assert str(refused.value).startswith(f"could not connect to {url}/payment/rest/getOrderStatusExtended.do: "
                                         "connection refused")


def test_a_name_that_does_not_resolve_is_called_dns(monkeypatch):
    def no_such_name(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    client = AutopayClient.from_profile("sber-test", username="u", password="p", transport="rest",
                                        rest_url="https://user:pw@gw.example/payment/rest/", return_url="https://s/ok")
    with pytest.raises(ConnectError) as refused:
        client.status(order_number="X-1")
    client.close()
    message = str(refused.value)
    assert message.startswith("could not connect to https://gw.example/payment/rest/getOrderStatusExtended.do: the "
                              "host name could not be resolved (DNS)")
    assert "pw" not in message.replace("payment", "")  # the address, never its credentials


def _self_signed(tmp_path):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return tmp_path / "cert.pem", tmp_path / "key.pem"


def test_a_certificate_nobody_trusts_is_named_with_the_setting_that_fixes_it(tmp_path):
    cert, key = _self_signed(tmp_path)

    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Quiet)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        client = AutopayClient.from_profile("sandbox", sandbox_url=url, transport="rest", return_url="https://s/ok")
        with pytest.raises(TLSError) as refused:
            client.status(order_number="X-1")
        client.close()
    finally:
        server.shutdown()
        server.server_close()
    assert str(refused.value).startswith(f"TLS handshake with {url}/payment/rest/getOrderStatusExtended.do failed: "
                                         "the certificate was not issued by a CA in the trust store")
    assert "ca_bundle" in str(refused.value)


def _sandbox_process(*options):
    proc = subprocess.Popen(CLI + ["sandbox", "--port", "0", *options], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split()[-1]
    assert url.startswith("http://127.0.0.1:"), url
    return proc, url


def test_the_sandbox_logs_each_request_with_secrets_masked_and_quiet_silences_it():
    import requests

    proc, url = _sandbox_process()
    try:
        answer = requests.get(url + "/payment/rest/getOrderStatusExtended.do?userName=sandbox-api"
                                    "&password=hunter2-secret&orderNumber=LOG-1", timeout=10)
        logged = proc.stderr.readline()
        host, port = url[len("http://"):].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:  # a request line that forges a log
            raw.sendall(b"GET /x\x1b[2J\rforged HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw.recv(4096)
        forged = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    assert ('"GET /payment/rest/getOrderStatusExtended.do?userName=sandbox-api&password=***&orderNumber=LOG-1 '
            f'HTTP/1.1" {answer.status_code} ') in logged and "hunter2" not in logged  # (REST is POST: a 404)
    assert "127.0.0.1 " in logged and "\\x1b[2J\\x0dforged" in forged and "\x1b" not in forged

    quiet, url = _sandbox_process("--quiet")
    try:
        assert requests.get(url + "/_sandbox/ledger", timeout=10).status_code == 200
    finally:
        quiet.terminate()
        quiet.wait(10)
        quiet.stdout.close()
        said = quiet.stderr.read()
        quiet.stderr.close()
    assert said == ""
