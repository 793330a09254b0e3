"""Named gateway profiles and settings from arguments or ``AUTOPAY_*`` environment variables.

================= ================================================================ ==========
profile           endpoints                                                        transports
================= ================================================================ ==========
``sber-test``     ``https://3dsec.sberbank.ru/payment/...``                        SOAP, REST
``sber-prod``     ``https://securepayments.sberbank.ru/payment/...``               SOAP, REST
``alfa-test``     ``https://alfa.rbsuat.com/payment/...``                          SOAP, REST
``alfa-prod``     ``https://payment.alfabank.ru/payment/...``                      SOAP, REST
``rbs-test``      ``https://test.paymentgate.ru/testpayment/...``                  SOAP, REST
``yookassa-sber`` ``https://3dsec-payments.yookassa.ru/payment/rest/``             REST
``bpc-test``      ``https://dev.bpcbt.com/payment/rest/`` (BPC's newer platform)    REST
``tbank-prod``    ``https://securepay.tinkoff.ru/v2/``                             T-Bank
``tbank-test``    ``https://rest-api-test.tinkoff.ru/v2/`` (IP allow-list)         T-Bank
``sandbox``       ``http://127.0.0.1:8089/payment/...``, ``.../v2/``               SOAP, REST,
                  (``autopay-soap sandbox``)                                       T-Bank
================= ================================================================ ==========

Every URL can be overridden (``soap_url=``, ``rest_url=``, ``tbank_url=`` or
``AUTOPAY_SOAP_URL``, ``AUTOPAY_REST_URL``, ``AUTOPAY_TBANK_URL``). T-Bank takes
``terminal_key`` (``AUTOPAY_TERMINAL_KEY``) and ``password``; on ``sandbox`` they default to
the sandbox terminal ``SandboxDEMO`` / ``sandbox-password``. ``rbs_tii`` (``AUTOPAY_RBS_TII``) says
whether the gateway takes ``tii`` on payments by binding (:data:`RBS_TII`). TLS verification is always on;
``ca_bundle=`` (``AUTOPAY_CA_BUNDLE``) adds trust in a custom CA such as the Russian Trusted Root CA.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from .errors import ConfigurationError
from .http import Timeouts

if TYPE_CHECKING:  # pragma: no cover - the gateways are imported when built, not with this module
    from .gateways.base import Gateway

__all__ = ["PROFILES", "RBS_TII", "SOAP_CARTS", "TBANK_URLS", "TII_MODES", "build_gateway", "profile_urls"]

PROFILES: Dict[str, Tuple[Optional[str], Optional[str]]] = {
    "sber-test": ("https://3dsec.sberbank.ru/payment/webservices/merchant-ws",
                  "https://3dsec.sberbank.ru/payment/rest/"),
    "sber-prod": ("https://securepayments.sberbank.ru/payment/webservices/merchant-ws",
                  "https://securepayments.sberbank.ru/payment/rest/"),
    "alfa-test": ("https://alfa.rbsuat.com/payment/webservices/merchant-ws", "https://alfa.rbsuat.com/payment/rest/"),
    "alfa-prod": ("https://payment.alfabank.ru/payment/webservices/merchant-ws",
                  "https://payment.alfabank.ru/payment/rest/"),
    "rbs-test": ("https://test.paymentgate.ru/testpayment/webservices/merchant-ws",
                 "https://test.paymentgate.ru/testpayment/rest/"),
    "yookassa-sber": (None, "https://3dsec-payments.yookassa.ru/payment/rest/"),
    "bpc-test": (None, "https://dev.bpcbt.com/payment/rest/"),
    "sandbox": ("http://127.0.0.1:8089/payment/webservices/merchant-ws", "http://127.0.0.1:8089/payment/rest/"),
    "tbank-prod": (None, None),
    "tbank-test": (None, None),
}
SOAP_CARTS: Dict[str, str] = {"sber-test": "2019", "sber-prod": "2019", "alfa-test": "2016", "alfa-prod": "2016",
                              "rbs-test": "2016", "sandbox": "2019"}
"""The MerchantService generation each profile's SOAP endpoint serves, for 54-FZ carts: Sber's 2019
schema carries one; the 2016 generation (the Alfa WSDL of the facts, and the RBS test host until a
bank confirms otherwise) cannot, so a receipt is refused there naming the profile. ``soap_cart=``
(``AUTOPAY_SOAP_CART``) overrides it."""
TII_MODES = ("none", "optional", "required")
RBS_TII: Dict[str, str] = {"bpc-test": "required"}
"""Whether a profile's RBS REST gateway takes ``tii`` (the initiator of a payment by binding):
``required`` on BPC's newer platform, whose documentation requires it; ``none`` (never sent) on
every other profile until its bank confirms the field (no SOAP schema carries it, and a gateway
may refuse a field its generation does not know). ``rbs_tii=`` (``AUTOPAY_RBS_TII``) overrides it:
``none``, ``optional`` (sent when an initiator is given) or ``required`` (always sent)."""
TBANK_URLS: Dict[str, str] = {
    "tbank-prod": "https://securepay.tinkoff.ru/v2/",
    "tbank-test": "https://rest-api-test.tinkoff.ru/v2/",
    "sandbox": "http://127.0.0.1:8089/v2/",
}


def profile_urls(name: str) -> Tuple[Optional[str], Optional[str]]:
    """``(soap_url, rest_url)`` of a profile."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigurationError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None


def _setting(settings: Dict[str, Any], key: str) -> Any:
    value = settings.pop(key, None)
    return value if value is not None else os.environ.get(f"AUTOPAY_{key.upper()}")


def build_gateway(name: Optional[str] = None, **settings: Any) -> "Gateway":
    """A gateway for a profile. Settings: ``username``, ``password``, ``transport``
    (``soap``, ``rest`` or ``tbank``), ``soap_url``, ``rest_url``, ``tbank_url``,
    ``terminal_key``, ``terminal_type`` (T-Bank ``ECOM``/``AFT``), ``notification_url``,
    ``ca_bundle``, ``timeout`` (read timeout, seconds), ``sandbox_url`` (base URL of a
    running sandbox), ``soap_cart`` (``2019`` or ``2016``: see :data:`SOAP_CARTS`); each falls back
    to the ``AUTOPAY_<NAME>`` environment variable.
    ``soap_compiled`` (SOAP only, default True): see ``RbsSoapGateway(compiled=...)``.
    """
    name = name or os.environ.get("AUTOPAY_PROFILE")
    if not name:
        raise ConfigurationError("no profile given (argument or AUTOPAY_PROFILE)")
    soap_url, rest_url = profile_urls(name)
    sandbox_url = _setting(settings, "sandbox_url")
    if name == "sandbox" and sandbox_url:
        base = sandbox_url.rstrip("/")
        soap_url, rest_url = base + "/payment/webservices/merchant-ws", base + "/payment/rest/"
    soap_url = _setting(settings, "soap_url") or soap_url
    rest_url = _setting(settings, "rest_url") or rest_url
    transport = (_setting(settings, "transport") or ("tbank" if name.startswith("tbank") else "soap")).lower()
    password = _setting(settings, "password") or ("sandbox-password" if name == "sandbox" else None)
    ca_bundle = _setting(settings, "ca_bundle")
    timeouts = _timeouts(_setting(settings, "timeout"))
    verify: Any = ca_bundle or True
    if transport == "tbank":
        return _tbank_gateway(name, sandbox_url, password, timeouts, verify, settings)
    username = _setting(settings, "username") or ("sandbox-api" if name == "sandbox" else None)
    compiled = bool(settings.pop("soap_compiled", True))
    tii_mode, cart_layout = _rbs_settings(name, transport, settings)
    _no_more(settings)
    if not username or not password:
        raise ConfigurationError("username and password are required (arguments or AUTOPAY_USERNAME/PASSWORD)")
    if transport == "soap":
        if not soap_url:
            raise ConfigurationError(f"profile {name!r} has no SOAP endpoint; use transport='rest' or soap_url=")
        from .gateways.rbs_soap import RbsSoapGateway

        return RbsSoapGateway(soap_url, username, password, timeouts=timeouts, verify=verify, compiled=compiled,
                              cart_layout=cart_layout, profile=name)
    if transport == "rest":
        if not rest_url:
            raise ConfigurationError(f"profile {name!r} has no REST endpoint")
        from .gateways.rbs_rest import RbsRestGateway

        return RbsRestGateway(rest_url, username, password, timeouts=timeouts, verify=verify, tii_mode=tii_mode)
    raise ConfigurationError(f"unknown transport {transport!r}: 'soap', 'rest' or 'tbank'")


def _rbs_settings(name: str, transport: str, settings: Dict[str, Any]) -> Tuple[str, str]:
    """The RBS profile's ``rbs_tii`` mode and SOAP cart layout, each checked."""
    tii_given = _setting(settings, "rbs_tii")
    tii_mode = str(tii_given or RBS_TII.get(name, "none"))
    if tii_mode not in TII_MODES:
        raise ConfigurationError(f"rbs_tii (AUTOPAY_RBS_TII): {tii_mode!r} is not one of {', '.join(TII_MODES)}")
    if transport == "soap" and tii_given and tii_mode != "none":
        raise ConfigurationError("rbs_tii: no SOAP schema carries tii; use transport='rest' for a gateway that "
                                 "takes it")
    cart_layout = str(_setting(settings, "soap_cart") or SOAP_CARTS.get(name, "2019"))
    if cart_layout not in ("2019", "2016"):
        raise ConfigurationError(f"soap_cart (AUTOPAY_SOAP_CART): {cart_layout!r} is not 2019 or 2016")
    return tii_mode, cart_layout


def _timeouts(value: Any) -> Timeouts:
    """``timeout`` (or ``AUTOPAY_TIMEOUT``): the read timeout in seconds, a number above 0."""
    if value is None or value == "":
        return Timeouts()
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not 0 < seconds < float("inf"):
        raise ConfigurationError(f"timeout (AUTOPAY_TIMEOUT): {value!r} is not a number of seconds above 0")
    return Timeouts(read=seconds)


def _no_more(settings: Dict[str, Any]) -> None:
    if settings:
        raise ConfigurationError(f"unknown settings: {', '.join(sorted(settings))}")


def _tbank_gateway(name: str, sandbox_url: Optional[str], password: Optional[str], timeouts: Timeouts, verify: Any,
                   settings: Dict[str, Any]) -> "Gateway":
    from .gateways.tbank import TBankGateway

    url = _setting(settings, "tbank_url") or (sandbox_url.rstrip("/") + "/v2/" if name == "sandbox" and sandbox_url
                                               else TBANK_URLS.get(name))
    terminal_key = _setting(settings, "terminal_key") or ("SandboxDEMO" if name == "sandbox" else None)
    terminal_type = _setting(settings, "terminal_type") or "ECOM"
    notification_url = _setting(settings, "notification_url")
    settings.pop("username", None)  # RBS's login: a script that sets it for every transport is not refused
    settings.pop("rbs_tii", None)  # RBS only, likewise
    _no_more(settings)
    if not url:
        raise ConfigurationError(f"profile {name!r} has no T-Bank endpoint; give tbank_url=")
    if not terminal_key or not password:
        raise ConfigurationError("terminal_key and password are required (arguments or AUTOPAY_TERMINAL_KEY/"
                                 "AUTOPAY_PASSWORD)")
    return TBankGateway(terminal_key, password, base_url=url, terminal_type=terminal_type,
                        notification_url=notification_url, timeouts=timeouts, verify=verify)
