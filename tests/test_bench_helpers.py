"""The benchmarks' own helpers still work against the sandbox (python -m bench is not run by CI:
a helper left behind by a refactoring breaks it silently)."""

from autopay_soap.sandbox import Sandbox
from bench._common import make_binding


def test_make_binding_pays_a_first_payment_and_returns_its_binding():
    with Sandbox() as sb:
        binding = make_binding(sb.url, client_id="bench-test")
        assert [b.binding_id for b in sb.engine.bindings("bench-test")] == [binding]
