import pytest

from autopay_soap import AutopayClient, ConfigurationError
from autopay_soap.gateways.rbs_rest import RbsRestGateway
from autopay_soap.gateways.rbs_soap import RbsSoapGateway
from autopay_soap.gateways.tbank import TBankGateway
from autopay_soap.profiles import PROFILES, TBANK_URLS, build_gateway


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for key in ("PROFILE", "USERNAME", "PASSWORD", "TRANSPORT", "SOAP_URL", "REST_URL", "CA_BUNDLE", "TIMEOUT",
                "SANDBOX_URL", "TERMINAL_KEY", "TBANK_URL", "TERMINAL_TYPE", "NOTIFICATION_URL"):
        monkeypatch.delenv(f"AUTOPAY_{key}", raising=False)


def test_every_profile_builds_both_transports_where_it_has_them():
    for name, (soap, rest) in PROFILES.items():
        if soap:
            gw = build_gateway(name, username="u-api", password="p", transport="soap")
            assert isinstance(gw, RbsSoapGateway) and gw.endpoint == soap
        if rest:
            gw = build_gateway(name, username="u-api", password="p", transport="rest")
            assert isinstance(gw, RbsRestGateway) and gw.base_url == rest
        else:
            with pytest.raises(ConfigurationError, match="no REST endpoint"):
                build_gateway(name, username="u-api", password="p", transport="rest")
    assert "3dsec.sberbank.ru" in PROFILES["sber-test"][0]


def test_tbank_profiles_and_the_sandbox_terminal(monkeypatch):
    for name, url in TBANK_URLS.items():
        gw = build_gateway(name, terminal_key="Shop1DEMO", password="p", transport="tbank")
        assert isinstance(gw, TBankGateway) and gw.base_url == url and gw.terminal_key == "Shop1DEMO"
    assert build_gateway("tbank-prod", terminal_key="T", password="p").name == "tbank"  # the default transport
    sandbox = build_gateway("sandbox", transport="tbank", sandbox_url="http://127.0.0.1:9999")
    assert sandbox.base_url == "http://127.0.0.1:9999/v2/" and sandbox.terminal_key == "SandboxDEMO"
    monkeypatch.setenv("AUTOPAY_TERMINAL_KEY", "EnvTerminal")
    monkeypatch.setenv("AUTOPAY_PASSWORD", "env-password")
    gw = build_gateway("tbank-test", terminal_type="AFT")
    assert gw.terminal_key == "EnvTerminal" and gw.terminal_type == "AFT" and "env-password" not in repr(gw)
    monkeypatch.delenv("AUTOPAY_TERMINAL_KEY")
    with pytest.raises(ConfigurationError, match="terminal_key and password are required"):
        build_gateway("tbank-prod")


def test_settings_from_environment_and_overrides(monkeypatch, tmp_path):
    ca = tmp_path / "russian_trusted_root_ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("AUTOPAY_PROFILE", "alfa-test")
    monkeypatch.setenv("AUTOPAY_USERNAME", "shop-api")
    monkeypatch.setenv("AUTOPAY_PASSWORD", "env-secret")
    monkeypatch.setenv("AUTOPAY_TRANSPORT", "rest")
    monkeypatch.setenv("AUTOPAY_CA_BUNDLE", str(ca))
    monkeypatch.setenv("AUTOPAY_TIMEOUT", "12.5")
    client = AutopayClient.from_profile(rest_url="https://pay.example/payment/rest/")
    gw = client.gateway
    assert isinstance(gw, RbsRestGateway) and gw.base_url == "https://pay.example/payment/rest/"
    assert gw.session.verify == str(ca) and gw.timeouts.read == 12.5
    assert "env-secret" not in repr(client) and "env-secret" not in repr(gw)


def test_verification_is_on_by_default():
    gw = build_gateway("sber-prod", username="u", password="p", transport="rest")
    assert gw.session.verify is True


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "nope", "username": "u", "password": "p"}, "unknown profile"),
    ({"name": "sber-test"}, "username and password"),
    ({"name": "yookassa-sber", "username": "u", "password": "p", "transport": "soap"}, "no SOAP endpoint"),
    ({"name": "sber-test", "username": "u", "password": "p", "transport": "ftp"}, "unknown transport"),
    ({"name": "sber-test", "username": "u", "password": "p", "colour": "red"}, "unknown settings"),
    ({}, "no profile"),
])
def test_configuration_errors(kwargs, message):
    name = kwargs.pop("name", None)
    with pytest.raises(ConfigurationError, match=message):
        build_gateway(name, **kwargs)
