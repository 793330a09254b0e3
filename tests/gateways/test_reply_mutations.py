"""Property: whatever a gateway answers, every operation of every transport either returns a
result or raises an AutopayError; after a money operation left, never an error that says
"nothing was sent". The replies are real ones, recorded from the sandbox, then mutated by
hypothesis: fields dropped, values of the wrong type, unknown codes and statuses, nesting,
truncation, garbage."""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict, Tuple

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from autopay_soap import Money
from autopay_soap.errors import AutopayError, ConfigurationError, ValidationError
from autopay_soap.gateways import http_gateway, rbs_rest, rbs_soap, tbank
from autopay_soap.sandbox import Sandbox, TestCards

pytestmark = pytest.mark.slow  # signals and subprocesses, or hypothesis over every reply

RUB = Money.of("10.00", "RUB")
MODULES = {"soap": rbs_soap, "rest": rbs_rest, "tbank": tbank}
POSTING = {"soap": rbs_soap, "rest": http_gateway, "tbank": http_gateway}  # where each transport's post_bounded is
# operations that may move money: an error after sending must never claim nothing was sent
MONEY = {"register_order", "pay_with_binding", "pay_with_account", "deposit", "reverse", "refund"}

Calls = Dict[str, Callable[[Any], Any]]


def _rbs_calls() -> Calls:
    return {
        "register_order": lambda gw: gw.register_order("N-1", RUB, "https://s/ok", client_id="c", auto_payment=True),
        "pay_with_binding": lambda gw: gw.pay_with_binding("00000000-0000-0000-0000-000000000001", "b-1"),
        "order_status_by_id": lambda gw: gw.order_status(order_id="00000000-0000-0000-0000-000000000001"),
        "order_status_by_number": lambda gw: gw.order_status(order_number="N-1"),
        "deposit": lambda gw: gw.deposit("00000000-0000-0000-0000-000000000001"),
        "refund": lambda gw: gw.refund("00000000-0000-0000-0000-000000000001", RUB),
        "reverse": lambda gw: gw.reverse("00000000-0000-0000-0000-000000000001"),
        "bindings": lambda gw: gw.bindings("c"),
        "unbind_card": lambda gw: gw.unbind_card("b-1"),
        "bind_card": lambda gw: gw.bind_card("b-1"),
        "extend_binding": lambda gw: gw.extend_binding("b-1", "203012"),
    }


def _tbank_calls() -> Calls:
    return {
        "register_order": lambda gw: gw.register_order("N-1", RUB, "https://s/ok", auto_payment=True),
        "pay_with_binding": lambda gw: gw.pay_with_binding("7000000001", "1001"),
        "pay_with_account": lambda gw: gw.pay_with_account("7000000001", "token-1"),
        "order_status_by_id": lambda gw: gw.order_status(order_id="7000000001"),
        "order_status_by_number": lambda gw: gw.order_status(order_number="N-1"),
        "deposit": lambda gw: gw.deposit("7000000001"),
        "refund": lambda gw: gw.refund("7000000001", RUB, external_refund_id="r-1"),
        "reverse": lambda gw: gw.reverse("7000000001"),
        "bindings": lambda gw: gw.bindings("c"),
        "add_account_qr": lambda gw: gw.add_account_qr("Подписка"),
        "get_add_account_qr_state": lambda gw: gw.get_add_account_qr_state("rk-1"),
        "get_qr": lambda gw: gw.get_qr("7000000001"),
    }


def _gateway(transport: str, base: str) -> Any:
    if transport == "soap":
        return rbs_soap.RbsSoapGateway(base + "/payment/webservices/merchant-ws", "u", "p")
    if transport == "rest":
        return rbs_rest.RbsRestGateway(base + "/payment/rest/", "u", "p")
    return tbank.TBankGateway("SandboxDEMO", "p", base_url=base + "/v2/")


def _record(transport: str) -> Dict[str, Tuple[str, bytes]]:
    """Real replies of every operation, from the sandbox: operation → (URL, body)."""
    replies: Dict[str, Tuple[str, bytes]] = {}
    module = POSTING[transport]
    real = module.post_bounded
    current = {"name": ""}

    def recording(session: Any, url: str, **kwargs: Any) -> Any:
        response = real(session, url, **kwargs)
        replies[current["name"]] = (url, response.content)
        return response

    def run(name: str, call: Callable[[], Any]) -> Any:
        current["name"] = name
        return call()

    module.post_bounded = recording
    try:
        with Sandbox() as sb:
            if transport == "tbank":
                gw = tbank.TBankGateway(sb.tbank_terminal_key, sb.tbank_password, base_url=sb.tbank_url)
            elif transport == "soap":
                gw = rbs_soap.RbsSoapGateway(sb.soap_url, sb.username, sb.password)
            else:
                gw = rbs_rest.RbsRestGateway(sb.rest_url, sb.username, sb.password)
            first = gw.register_order("FP-1", RUB, sb.return_url, client_id="c")
            sb.pay(first.form_url, TestCards.SUCCESS)
            run("order_status_by_id", lambda: gw.order_status(order_id=first.order_id))
            run("order_status_by_number", lambda: gw.order_status(order_number="FP-1"))
            binding = run("bindings", lambda: gw.bindings("c"))[0].binding_id
            auto = run("register_order", lambda: gw.register_order("AP-1", RUB, sb.return_url, client_id="c",
                                                                   auto_payment=True, two_stage=True))
            run("pay_with_binding", lambda: gw.pay_with_binding(auto.order_id, binding))
            run("deposit", lambda: gw.deposit(auto.order_id))
            run("refund", lambda: gw.refund(auto.order_id, Money.of("1.00", "RUB"),
                                            **({"external_refund_id": "r-1"} if transport == "tbank" else {})))
            held = gw.register_order("AP-2", RUB, sb.return_url, client_id="c", auto_payment=True, two_stage=True)
            gw.pay_with_binding(held.order_id, binding)
            run("reverse", lambda: gw.reverse(held.order_id))
            if transport == "tbank":
                qr = run("add_account_qr", lambda: gw.add_account_qr("Подписка"))
                sb.sbp_bind(qr.request_key)
                token = run("get_add_account_qr_state", lambda: gw.get_add_account_qr_state(qr.request_key))
                sbp = gw.register_order("SBP-1", RUB, sb.return_url, auto_payment=True, sbp=True)
                run("pay_with_account", lambda: gw.pay_with_account(sbp.order_id, token.account_token))
                sbp_first = gw.register_order("SBP-2", RUB, sb.return_url, sbp=True, description="Подписка")
                run("get_qr", lambda: gw.get_qr(sbp_first.order_id))
            else:
                run("extend_binding", lambda: gw.extend_binding(binding, "203012"))
                run("unbind_card", lambda: gw.unbind_card(binding))
                run("bind_card", lambda: gw.bind_card(binding))
            gw.close()
    finally:
        module.post_bounded = real
    return replies


RECORDED = {transport: _record(transport) for transport in MODULES}
CASES = [(transport, name) for transport, calls in (("soap", _rbs_calls()), ("rest", _rbs_calls()),
                                                    ("tbank", _tbank_calls())) for name in calls]


def test_every_operation_was_recorded():
    for transport, name in CASES:
        assert name in RECORDED[transport], (transport, name)


# -- mutations ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.sampled_from(["", "0", "-1", "42", "CONFIRMED", "NEW", "REJECTED", "1e3", "٣", "true", "Infinity"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


def _paths(data: Any, prefix: Tuple[Any, ...] = ()) -> list:
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, prefix + (index,))
    return found


@st.composite
def mutated_json(draw: Any, body: bytes) -> bytes:
    data = json.loads(body)
    kind = draw(st.sampled_from(["replace", "drop", "replace", "whole", "truncate", "garbage"]))
    if kind == "truncate":
        return body[:draw(st.integers(0, max(len(body) - 1, 0)))]
    if kind == "garbage":
        return draw(st.binary(max_size=60))
    if kind == "whole":
        return json.dumps(draw(json_values)).encode()
    paths = _paths(data)
    for _ in range(draw(st.integers(1, 3))):
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for step in path[:-1]:
            parent = parent[step] if isinstance(parent, (dict, list)) else None
        if not isinstance(parent, (dict, list)):
            continue
        try:
            if kind == "drop" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values)
        except (IndexError, KeyError, TypeError):
            continue
        paths = _paths(data)
    return json.dumps(data, ensure_ascii=False).encode()


@st.composite
def mutated_xml(draw: Any, body: bytes) -> bytes:
    kind = draw(st.sampled_from(["attr", "attr", "drop", "text", "truncate", "garbage"]))
    if kind == "truncate":
        return body[:draw(st.integers(0, len(body) - 1))]
    if kind == "garbage":
        return draw(st.binary(max_size=60))
    root = etree.fromstring(body)
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    for _ in range(draw(st.integers(1, 3))):
        element = draw(st.sampled_from(elements))
        value = draw(st.sampled_from(["", "-1", "42", "99999999999999999999", "x", "1.5", "true", "\u0660"])
                     | st.text(max_size=12))
        if kind == "drop" and element.getparent() is not None and element.getparent().getparent() is not None:
            element.getparent().remove(element)
            elements = [e for e in root.iter() if isinstance(e.tag, str)]
        elif kind == "text":
            try:
                element.text = value
            except ValueError:  # lxml refuses control characters in text
                continue
        elif element.attrib:
            name = draw(st.sampled_from(sorted(element.attrib)))
            try:
                element.set(name, value)
            except ValueError:
                continue
        else:
            try:
                element.set(draw(st.sampled_from(["errorCode", "orderStatus", "amount", "currency"])), value)
            except ValueError:
                continue
    return etree.tostring(root)


@pytest.mark.parametrize("transport,name", CASES)
def test_a_mutated_reply_never_escapes_the_error_tree(transport, name):
    url, body = RECORDED[transport][name]
    calls = _tbank_calls() if transport == "tbank" else _rbs_calls()
    strategy = mutated_xml(body) if transport == "soap" else mutated_json(body)
    gw = _gateway(transport, "https://gw.test")

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(reply=strategy)
    def check(reply: bytes) -> None:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add(responses.POST, re.compile(r"https://gw\.test/.*"), body=reply, status=200)
            try:
                calls[name](gw)
            except AutopayError as exc:
                if name in MONEY:
                    assert not isinstance(exc, (ValidationError, ConfigurationError)), (reply, exc)
            # anything else propagates and fails the property

    check()
    gw.close()
