import subprocess
import sys

import autopay_soap


def test_public_names_are_pinned():
    assert sorted(autopay_soap.__all__) == sorted([
        "AccessDenied", "AuthenticationError", "AutopayClient", "AutopayError", "BadResponse", "Binding",
        "BindingInfo", "BindingStateError", "CallbackVerificationError", "CardInfo", "ChargeOutcome", "ChargeResult",
        "CardCheck", "CardSave", "CardSaveOutcome", "Initiator", "RecurringTerms",
        "ConfigurationError", "ConnectError", "ConnectionDropped", "Currency", "DeadlineExceeded", "Decline",
        "DeclineKind", "RetrySchedule",
        "DuplicateOrderNumber", "GatewayError", "GatewaySystemError", "HTTPStatusError", "InvalidOrderState",
        "Interrupted", "InvalidRequest", "Money", "OperationResult", "OrderDetails", "OrderMismatch", "OrderNotFound",
        "OrderStatus", "OutcomeUnknown", "PaymentDeclined", "PaymentState", "PaymentStep", "RbsRestGateway",
        "RbsSoapGateway", "Receipt", "ReceiptItem", "RegisteredOrder", "ReplyTooLarge", "ResponseTimeout",
        "RetryPolicy", "SoapFaultError",
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


def test_logging_conventions():
    import logging

    import autopay_soap.client
    import autopay_soap.gateways.rbs_soap

    root = logging.getLogger("autopay_soap")
    assert [type(h) for h in root.handlers] == [logging.NullHandler]
    assert autopay_soap.client.log.name == "autopay_soap.client"
    assert autopay_soap.gateways.rbs_soap.log.name == "autopay_soap.gateways.rbs_soap"


def test_python_dash_m_and_version():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "autopay_soap", "--version"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"autopay-soap {autopay_soap.__version__}"


def test_no_module_cites_a_document_outside_the_repository():
    import pathlib

    root = pathlib.Path(autopay_soap.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text("utf-8")
        assert "facts §" not in text and "seed 00" not in text, path
