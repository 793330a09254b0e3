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
