"""Requests to the sandbox as a third-party client sends them: a SOAP envelope, a REST call,
a signed T-Bank call."""

import requests

from autopay_soap.signing import make_token
from autopay_soap.wsdl_bundle import SOAP_ENV_NS


def envelope(sb, operation, inner):
    return (f'<s:Envelope xmlns:s="{SOAP_ENV_NS}"><s:Header><w:Security xmlns:w="http://docs.oasis-open.org/wss/'
            '2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><w:UsernameToken>'
            f'<w:Username>{sb.username}</w:Username><w:Password>{sb.password}</w:Password></w:UsernameToken>'
            f'</w:Security></s:Header><s:Body><m:{operation} xmlns:m="http://engine.paymentgate.ru/webservices/'
            f'merchant">{inner}</m:{operation}></s:Body></s:Envelope>')


def rest(sb, method, **params):
    params.setdefault("userName", sb.username)
    params.setdefault("password", sb.password)
    return requests.post(f"{sb.rest_url}{method}.do", data=params, timeout=5).json()


def tbank(sb, method, body, sign=True):
    body = dict(body)
    body.setdefault("TerminalKey", sb.tbank_terminal_key)
    if sign:
        body["Token"] = make_token(body, sb.tbank_password)
    answer = requests.post(sb.tbank_url + method, json=body, timeout=10)
    assert answer.status_code == 200
    return answer.json()
