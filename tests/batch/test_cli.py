import subprocess
import sys

import requests


def test_help_lists_commands_without_importing_zeep():
    code = ("import sys; from autopay_soap import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('ZEEP' if 'zeep' in sys.modules else 'NOZEEP')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "sandbox" in out and out.strip().endswith("NOZEEP")


def test_sandbox_command_serves_until_stopped():
    proc = subprocess.Popen([sys.executable, "-m", "autopay_soap.cli", "sandbox", "--port", "0", "--latency", "1ms",
                             "--faults", "registerOrder:http500=0"], stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("sandbox listening on http://127.0.0.1:")
        url = first.split()[-1]
        wsdl = requests.get(url + "/payment/webservices/merchant-ws?wsdl", timeout=10)
        assert wsdl.status_code == 200 and "MerchantServiceImplService" in wsdl.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_sandbox_command_refuses_remote_bind_without_opt_in():
    out = subprocess.run([sys.executable, "-m", "autopay_soap.cli", "sandbox", "--host", "0.0.0.0", "--port", "0"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "loopback" in out.stderr


def test_demo_succeeds_over_every_transport():
    out = subprocess.run([sys.executable, "-m", "autopay_soap.cli", "demo"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "demo: all scenarios succeeded" in out.stdout and "no double charge" in out.stdout
    table = [line for line in out.stdout.splitlines() if line.startswith(("soap ", "rest ", "tbank "))]
    assert len(table) == 17 and all(line.rstrip().endswith("yes") for line in table)
    assert sum("SBP" in line for line in table) == 2  # T-Bank's two ways of binding an account
    assert "dashboard" not in out.stdout.splitlines()[0]  # the demo's sandbox dies with it: no URL to visit later
    assert out.stdout.rstrip().endswith("your first payment and autopayment in code (docs/quickstart.rst)")
    assert "  autopay-soap sandbox        a sandbox that stays up" in out.stdout


def test_demo_verbose_shows_envelopes_with_secrets_masked():
    out = subprocess.run([sys.executable, "-m", "autopay_soap.cli", "demo", "--transport", "soap", "--verbose"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    assert "<wsse:Password" in out.stdout and "registerOrder" in out.stdout
    assert "sandbox-password" not in out.stdout
    out = subprocess.run([sys.executable, "-m", "autopay_soap.cli", "demo", "--transport", "rest", "--verbose"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "'password': '***'" in out.stdout and "sandbox-password" not in out.stdout
    out = subprocess.run([sys.executable, "-m", "autopay_soap.cli", "demo", "--transport", "tbank", "--verbose"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "T-Bank request to" in out.stdout and "'Token': '***'" in out.stdout
    assert "sandbox-password" not in out.stdout and "2201382000000047" not in out.stdout


def test_status_command_against_a_running_sandbox(capsys):
    from autopay_soap import Money
    from autopay_soap.cli import main
    from autopay_soap.gateways.rbs_rest import RbsRestGateway
    from autopay_soap.sandbox import Sandbox, TestCards

    with Sandbox() as sb:
        gw = RbsRestGateway(sb.rest_url, sb.username, sb.password)
        order = gw.register_order("STATUS-1", Money.of("12.34", "RUB"), sb.return_url)
        sb.pay(order.form_url, TestCards.SUCCESS)
        assert main(["status", "STATUS-1", "--profile", "sandbox", "--sandbox-url", sb.url]) == 0
        by_number = capsys.readouterr().out
        assert main(["status", order.order_id, "--profile", "sandbox", "--sandbox-url", sb.url,
                     "--transport", "rest"]) == 0
        by_id = capsys.readouterr().out
        assert main(["status", "NOPE-1", "--profile", "sandbox", "--sandbox-url", sb.url]) == 3  # no such order
    assert "2 DEPOSITED" in by_number and "12.34 RUB" in by_number and "444455**3333" in by_number
    assert by_id == by_number


def test_sandbox_command_can_accept_repeated_tbank_order_ids():
    from autopay_soap import Money
    from autopay_soap.gateways.tbank import TBankGateway

    proc = subprocess.Popen([sys.executable, "-m", "autopay_soap.cli", "sandbox", "--port", "0",
                             "--tbank-repeated-order-ids"], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split()[-1]
        gw = TBankGateway("SandboxDEMO", "sandbox-password", base_url=url + "/v2/")
        first = gw.init("REPEAT-1", Money.of("10.00", "RUB"))["PaymentId"]
        second = gw.init("REPEAT-1", Money.of("10.00", "RUB"))["PaymentId"]
        assert first != second
        gw.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
