"""``autopay-soap sandbox-bindings`` makes saved cards on a running sandbox and the batch file that
charges them: the recipe in its module docstring and in docs/batch.rst, run as written."""

import json
import subprocess
import sys

import pytest

from autopay_soap.sandbox import Sandbox

CLI = [sys.executable, "-m", "autopay_soap.cli"]


def run(*arguments, cwd):
    return subprocess.run(CLI + list(arguments), capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.mark.parametrize("transport", ["soap", "tbank"])
def test_the_recipe_makes_bindings_and_a_batch_that_charges_each_once(tmp_path, transport):
    with Sandbox() as sb:
        made = run("sandbox-bindings", "--count", "5", "--out", "batch.csv", "--sandbox-url", sb.url,
                   "--transport", transport, "--amount", "2.50", cwd=tmp_path)
        charged = run("charge", "batch.csv", "--profile", "sandbox", "--sandbox-url", sb.url, "--transport", transport,
                      "--quiet", cwd=tmp_path)
        again = run("sandbox-bindings", "--count", "1", "--out", "batch.csv", "--sandbox-url", sb.url, cwd=tmp_path)
        charges = sb.engine.charges_by_order_number()
    assert made.returncode == 0, made.stderr
    assert f"batch file batch.csv (charge it: autopay-soap charge batch.csv --profile sandbox --sandbox-url {sb.url}" \
        in made.stderr
    lines = (tmp_path / "batch.csv").read_text().splitlines()
    assert lines[0] == "order_number,client_id,binding_id,amount" and len(lines) == 6
    assert lines[1].startswith("SANDBOX-1,sandbox-customer-1,") and lines[1].endswith(",2.50")
    assert charged.returncode == 0, charged.stderr
    assert json.loads(charged.stdout)["paid"] == 5
    assert all(charges[f"SANDBOX-{n}"] == 1 for n in range(1, 6))
    assert again.returncode == 2 and "batch.csv exists: a batch file is never overwritten" in again.stderr
    assert len((tmp_path / "batch.csv").read_text().splitlines()) == 6


def test_a_url_that_is_not_a_sandbox_is_one_line_and_exit_2(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run("sandbox-bindings", "--count", "1", "--out", "b.csv", "--sandbox-url", f"http://127.0.0.1:{port}",
               cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"could not connect to http://127.0.0.1:{port}/payment/webservices/merchant-ws: connection refused" \
        in done.stderr
    assert not (tmp_path / "b.csv").exists()


@pytest.mark.parametrize("option, value", [("--count", "0"), ("--amount", "1.005"), ("--amount", "-1"),
                                           ("--prefix", "bad prefix")])
def test_bad_options_are_refused_before_anything_is_made(tmp_path, option, value):
    arguments = {"--count": "1", "--amount": "1.00", "--prefix": "OK"}
    arguments[option] = value
    done = run("sandbox-bindings", "--out", "b.csv", "--sandbox-url", "http://127.0.0.1:9",
               *[item for pair in arguments.items() for item in pair], cwd=tmp_path)
    assert done.returncode == 2 and f"argument {option}" in done.stderr
