import subprocess
import sys

import autopay_soap


def test_public_names_are_pinned():
    assert sorted(autopay_soap.__all__) == sorted([
        "AccessDenied", "AuthenticationError", "AutopayClient", "AutopayError", "BadResponse", "Binding",
        "BindingInfo", "BindingStateError", "CallbackVerificationError", "CardInfo", "ChargeOutcome", "ChargeResult",
        "ConfigurationError", "ConnectError", "ConnectionDropped", "Currency", "DeadlineExceeded",
        "DuplicateOrderNumber", "GatewayError", "GatewaySystemError", "HTTPStatusError", "InvalidOrderState",
        "Interrupted", "InvalidRequest", "Money", "OperationResult", "OrderDetails", "OrderMismatch", "OrderNotFound",
        "OrderStatus", "OutcomeUnknown", "PaymentDeclined", "PaymentState", "PaymentStep", "RbsRestGateway",
        "RbsSoapGateway", "RegisteredOrder", "ReplyTooLarge", "ResponseTimeout", "RetryPolicy", "SoapFaultError",
        "TBankGateway", "TLSError", "Timeouts", "TransportError", "UnsupportedOperation", "ValidationError",
        "__version__",
    ])
    for name in autopay_soap.__all__:
        assert getattr(autopay_soap, name) is not None


def test_importing_the_package_does_not_import_zeep():
    code = "import sys, autopay_soap; print('zeep' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_public_class_and_function_has_a_docstring():
    import importlib
    import inspect
    import pkgutil

    missing = []
    for info in pkgutil.walk_packages(autopay_soap.__path__, "autopay_soap."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
                missing.append(f"{info.name}.{name}")
    assert missing == []
