"""The SOAP hot path: zeep, the compiled codecs and the lxml floor, per operation; then the client
CPU of one autopayment (register, paymentOrderBinding, getOrderStatusExtended) over SOAP compiled,
SOAP with zeep only, and REST, against the sandbox in its own process.

    python bench/soap_codec.py [--n 2000] [--autopayments 300]

The floor is lxml alone: the same envelope built element by element from a list made in
advance, and the same reply parsed and every attribute and text read into a dict.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import requests
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import make_binding, sandbox_client_factory, start_sandbox  # noqa: E402

ARGS = {
    "registerOrder": {"order": {"merchantOrderNumber": "SUB-42-0002", "amount": 49900, "currency": "643",
                                "returnUrl": "https://shop.example/ok", "clientId": "c-42",
                                "features": {"feature": ["AUTO_PAYMENT"]}}},
    "registerOrderPreAuth": {"order": {"merchantOrderNumber": "SUB-42-0002", "amount": 49900, "currency": "643",
                                       "returnUrl": "https://shop.example/ok", "clientId": "c-42"}},
    "paymentOrderBinding": {"order": {"mdOrder": "5f0b7c1e-1d2a-4a7e-9c55-0f5e1d9a6b21",
                                      "bindingId": "b1a2c3d4-e5f6-4711-8899-aabbccddeeff", "ip": "10.0.0.1"}},
    "getOrderStatusExtended": {"order": {"orderId": "5f0b7c1e-1d2a-4a7e-9c55-0f5e1d9a6b21"}},
    "depositOrder": {"order": {"orderId": "5f0b7c1e-1d2a-4a7e-9c55-0f5e1d9a6b21", "depositAmount": 0}},
}
NS = "http://engine.paymentgate.ru/webservices/merchant"


def reply(operation: str, inner: str) -> bytes:
    return (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f'<ns1:{operation}Response xmlns:ns1="{NS}">{inner}</ns1:{operation}Response></soap:Body>'
            "</soap:Envelope>").encode()


REPLIES = {
    "registerOrder": reply("registerOrder", '<return errorCode="0" orderId="5f0b7c1e-1d2a-4a7e-9c55-0f5e1d9a6b21">'
                                            "<formUrl>https://gw.example/payment/merchants/x/payment_ru.html?mdOrder=5f0b"
                                            "</formUrl></return>"),
    "registerOrderPreAuth": reply("registerOrderPreAuth", '<return errorCode="0" orderId="o-1"/>'),
    "paymentOrderBinding": reply("paymentOrderBinding", '<return errorCode="0" info="Ваш платёж обработан" '
                                                        'redirect="https://shop.example/ok?orderId=o-1"/>'),
    "getOrderStatusExtended": reply("getOrderStatusExtended", (
        '<return errorCode="0" errorMessage="Успешно" orderNumber="SUB-42-0002" orderStatus="2" actionCode="0" '
        'actionCodeDescription="" amount="49900" currency="643" date="2026-12-04T03:00:00+03:00" ip="10.0.0.1">'
        '<attributes name="mdOrder" value="o-1"/><cardAuthInfo maskedPan="411111**1111" expiration="203012" '
        'cardholderName="CARD HOLDER" approvalCode="123456" paymentSystem="VISA"/>'
        '<bindingInfo clientId="c-42" bindingId="b-1"/><paymentAmountInfo paymentState="DEPOSITED" '
        'approvedAmount="49900" depositedAmount="49900" refundedAmount="0"/>'
        '<bankInfo bankName="BANK" bankCountryCode="RU" bankCountryName="Россия"/></return>')),
    "depositOrder": reply("depositOrder", '<return errorCode="0"/>'),
}


def per_call(call: Callable[[], Any], n: int) -> float:
    call()
    started = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - started) / n * 1e6


def _recipe(element: etree._Element) -> List[Tuple[int, str, Dict[str, str], Any]]:
    """The envelope as a flat list (parent index, tag, attributes, text) for the floor's builder."""
    out: List[Tuple[int, str, Dict[str, str], Any]] = []

    def walk(node: etree._Element, parent: int) -> None:
        out.append((parent, node.tag, dict(node.attrib), node.text))
        me = len(out) - 1
        for child in node:
            walk(child, me)
    walk(element, -1)
    return out


def floor_build(recipe: List[Tuple[int, str, Dict[str, str], Any]], nsmap: Dict[str, str]) -> bytes:
    nodes: List[etree._Element] = []
    for parent, tag, attrs, text in recipe:
        node = etree.Element(tag, attrs, nsmap=nsmap) if parent < 0 else etree.SubElement(nodes[parent], tag, attrs)
        node.text = text
        nodes.append(node)
    return etree.tostring(nodes[0])


def floor_read(content: bytes) -> Dict[str, Any]:
    root = etree.fromstring(content)
    return {element.tag: (dict(element.attrib), element.text) for element in root.iter()}


def _operation_costs(gateway: Any, codec: Any, name: str, n: int) -> Dict[str, Any]:
    """One operation's serialise + parse three ways."""
    from zeep.wsdl.utils import etree_to_string

    client, binding, args, content = gateway._client, gateway._binding, ARGS[name], REPLIES[name]
    response = requests.models.Response()
    response._content, response.status_code, response.encoding = content, 200, "utf-8"
    operation = binding.get(name)

    def with_zeep() -> None:
        envelope, _headers = binding._create(name, (), args, client=client)
        etree_to_string(envelope)
        binding.process_reply(client, operation, response)

    def compiled() -> None:
        etree.tostring(codec.envelope("shop-api", "pa55-w0rd", args), xml_declaration=True, encoding="utf-8")
        codec.read(content)

    built = codec.envelope("shop-api", "pa55-w0rd", args)
    recipe, nsmap = _recipe(built), dict(built.nsmap)

    def floor() -> None:
        floor_build(recipe, nsmap)
        floor_read(content)

    zeep_us, compiled_us, floor_us = per_call(with_zeep, n), per_call(compiled, n), per_call(floor, n)
    return {"zeep_us": round(zeep_us, 1), "compiled_us": round(compiled_us, 1), "lxml_floor_us": round(floor_us, 1),
            "compiled_over_floor": round(compiled_us / floor_us, 2),
            "zeep_over_compiled": round(zeep_us / compiled_us, 1)}


def codec_costs(n: int) -> Dict[str, Any]:
    """Serialise + parse per operation: zeep, compiled, floor (microseconds)."""
    from autopay_soap.gateways.rbs_soap import RbsSoapGateway
    from autopay_soap.gateways.soap_codec import codecs_for

    gateway = RbsSoapGateway("https://gw.example/payment/webservices/merchant-ws", "shop-api", "pa55-w0rd")
    codecs = codecs_for(gateway._binding)
    try:
        return {name: _operation_costs(gateway, codecs[name], name, n) for name in ARGS}
    finally:
        gateway.close()


def autopayment_cpu(autopayments: int, rounds: int = 6) -> Dict[str, Any]:
    """Client CPU (process time) per autopayment against the sandbox (0 ms latency, own process).

    The three clients take turns: ``rounds`` rounds, each charging ``autopayments / rounds``
    through every client, in an order that rotates, so that a machine that slows down or speeds
    up during the measurement weighs on all three alike. Each figure is the median of its rounds.
    """
    from autopay_soap import Money

    proc, url = start_sandbox(0)
    transports = {"soap_compiled": "soap", "soap_zeep": "soap-zeep", "rest": "rest"}
    labels = tuple(transports)
    clients: Dict[str, Any] = {}
    try:
        binding = make_binding(url, "cpu")
        per_round = max(autopayments // rounds, 1)
        samples: Dict[str, List[float]] = {label: [] for label in labels}
        for label in labels:
            clients[label] = sandbox_client_factory(url, transports[label])()
            clients[label].autopay(f"{label[:2]}{time.time_ns() % 10**9}-w", Money.of("1.00", "RUB"),
                                   client_id="cpu", binding_id=binding)  # warm: WSDL, codecs, connection
        for k in range(rounds):
            for label in labels[k % 3:] + labels[:k % 3]:
                tag = f"{label[:2]}{time.time_ns() % 10**9}"
                started = time.process_time()
                for i in range(per_round):
                    result = clients[label].autopay(f"{tag}-{i}", Money.of("1.00", "RUB"), client_id="cpu",
                                                    binding_id=binding)
                    assert result.ok, result
                samples[label].append((time.process_time() - started) / per_round * 1000)
        results = {label + "_ms": round(sorted(samples[label])[len(samples[label]) // 2], 3) for label in labels}
        results["soap_compiled_over_rest"] = round(results["soap_compiled_ms"] / results["rest_ms"], 2)
        results["soap_zeep_over_rest"] = round(results["soap_zeep_ms"] / results["rest_ms"], 2)
        results["rounds"] = rounds
        return results
    finally:
        for client in clients.values():
            client.close()
        proc.terminate()
        proc.wait()


def main() -> None:
    """Print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--autopayments", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps({"codecs": codec_costs(args.n), "autopayment_cpu": autopayment_cpu(args.autopayments)}))


if __name__ == "__main__":
    main()
