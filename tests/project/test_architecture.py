"""The shape of the code: no import cycle, no lower layer importing a higher one, no function over 50
lines, no class over 350 (but three capped debts)."""

import ast
import pathlib

import autopay_soap

ROOT = pathlib.Path(autopay_soap.__file__).parent
LAYERS = {  # a module may import only modules of its own layer or of a lower one
    "cli": 6, "demo": 6, "__main__": 6,
    "batch": 5, "celery": 5, "reconcile": 5, "expiring": 5,
    "client": 4, "scenarios": 4, "profiles": 4, "callbacks": 4, "card_saving": 4,
    "gateways": 3,
    "http": 2, "wsdl_bundle": 2, "observe_otel": 2, "observe_prometheus": 2,
    "models": 1, "money": 1, "validation": 1, "signing": 1, "secret": 1, "redact": 1, "errors": 1, "retry": 1,
    "declines": 1, "codes": 1, "receipts": 1, "json_input": 1, "observe": 1, "initiators": 1,
    "sandbox_bindings": 6,
    "sandbox": 3,  # beside the client stack: the bottom rows only
}


def _modules():
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts), path


def _imports(name, path):
    """The modules ``name`` imports, relative to the package root (``batch.runner``...)."""
    package = [part for part in name.split(".")[:-1] if part != "__init__"]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                yield f"{target}.{alias.name}".strip(".") if not node.module else target


def _layer(module):
    top = module.split(".")[0]
    return LAYERS.get(top)


def test_every_module_has_a_layer():
    """A new top-level module or package must be placed in LAYERS (else its imports go unchecked)."""
    assert sorted({name.split(".")[0] for name, _path in _modules()} - set(LAYERS) - {"__init__", "py"}) == []


def test_no_lower_layer_imports_a_higher_one():
    wrong = []
    for name, path in _modules():
        mine = _layer(name)
        for target in _imports(name, path):
            theirs = _layer(target)
            if mine is None or theirs is None or target.split(".")[0] == name.split(".")[0]:
                continue
            if name.split(".")[0] == "sandbox" and target.split(".")[0] in ("client", "profiles", "callbacks",
                                                                         "gateways", "batch", "cli"):
                wrong.append(f"{name} imports {target}: the sandbox uses the bottom layers only")
            elif theirs > mine and name.split(".")[0] != "sandbox":
                wrong.append(f"{name} (layer {mine}) imports {target} (layer {theirs})")
    assert wrong == []


def test_no_function_is_longer_than_50_lines():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for _, path in _modules() for node in ast.walk(ast.parse(path.read_text("utf-8")))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 50]
    assert long == []


def _class_lengths():
    for _, path in _modules():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ClassDef):
                yield f"{path.relative_to(ROOT).as_posix()} {node.name}", node.end_lineno - node.lineno + 1


def test_no_class_of_the_library_is_over_350_lines():
    """No exceptions left: the client's scenarios live by concern in ``scenarios/``, the sandbox's
    books in ``sandbox/ledger.py``, the RBS operations in ``gateways/rbs_operations.py``."""
    lengths = dict(_class_lengths())
    assert [f"{name} ({n} lines)" for name, n in lengths.items() if n > 350] == []
    assert lengths["client.py AutopayClient"] > 100  # the walk found the classes


def test_the_sandbox_t_bank_front_end_is_split_by_concern():
    """No module of sandbox/tbank/ over 250 lines and no class over 200: the methods live by
    concern (payments, cards, card data, SBP), each a class of its own."""
    package = ROOT / "sandbox" / "tbank"
    assert not (ROOT / "sandbox" / "tbank.py").exists()
    big = [f"{p.name} ({len(p.read_text('utf-8').splitlines())} lines)" for p in package.glob("*.py")
           if len(p.read_text("utf-8").splitlines()) > 250]
    assert big == []
    assert [f"{name} ({n})" for name, n in _class_lengths() if name.startswith("sandbox/tbank/") and n > 200] == []
    state = (ROOT / "sandbox" / "state.py").read_text("utf-8")
    assert "tbank._" not in state  # the state file uses the front end's export/import pair


def test_what_a_gateway_code_means_is_owned_by_the_gateway_code_modules():
    """One module a gateway (codes/rbs.py, codes/tbank.py) maps codes to exceptions and decline
    kinds; no other module is named for codes or defines an ``error_for...`` mapping, and the
    generic error module defines exceptions only."""
    named = [name for name, _ in _modules() if "codes" in name.split(".")[-1] and not name.startswith("codes.")]
    assert named == []
    mappers = [f"{name}:{node.lineno} {node.name}" for name, path in _modules() if not name.startswith("codes.")
               for node in ast.walk(ast.parse(path.read_text("utf-8")))
               if isinstance(node, ast.FunctionDef) and node.name.startswith("error_for")]
    assert mappers == []
    errors = ast.parse((ROOT / "errors.py").read_text("utf-8"))
    assert [node.name for node in errors.body if isinstance(node, ast.FunctionDef)] == []


REGISTRATION_KEYWORDS = {"client_id", "auto_payment", "binding_id", "fail_url", "description", "language",
                         "session_timeout_secs", "email"}


def test_the_registration_arguments_are_written_in_three_places():
    """The RBS operations (both bindings), T-Bank and the shared check: no binding writes the
    registration's argument list again, and the protocol takes them as ``**options``."""
    places = sorted(f"{name}.{node.name}" for name, path in _modules()
                    for node in ast.walk(ast.parse(path.read_text("utf-8")))
                    if isinstance(node, ast.FunctionDef)
                    and REGISTRATION_KEYWORDS <= {a.arg for a in node.args.args + node.args.kwonlyargs})
    assert places == ["gateways.rbs_operations.register_order",
                      "gateways.tbank.register_order", "validation.check_registration"]


def test_no_thread_local_state_in_the_library():
    """The context of a call (deadline, stop, read-only, the exchange's end, the gateway call in
    progress) is one :class:`~autopay_soap.http.CallContext` value, replaced as a whole by scopes;
    no module keeps loose flags in a ``threading.local``."""
    found = [name for name, path in _modules() if "threading.local" in path.read_text("utf-8")]
    assert found == []


def test_the_import_graph_has_no_cycle():
    modules = dict(_modules())
    graph = {}
    for name, path in modules.items():
        deps = set()
        for target in _imports(name, path):
            for candidate in (target, target.rsplit(".", 1)[0]):
                if candidate in modules and candidate != name:
                    deps.add(candidate)
                    break
        graph[name] = deps
    seen, stack, cycles = set(), [], []

    def visit(node):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for dep in graph.get(node, ()):
            visit(dep)
        stack.pop()

    for node in graph:
        visit(node)
    assert cycles == []


# -- the batch wing ---------------------------------------------------------------------------

BATCH_WING = [path for name, path in _modules() if name.startswith("batch") or name == "celery"]


def _strings_outside_docstrings(path):
    """Every string constant of a module that is not a docstring."""
    tree = ast.parse(path.read_text("utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            docstrings.add(id(node.value))  # attribute docstrings
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node


def test_no_row_state_is_written_outside_the_state_table():
    """A row's states are named in batch/states.py only: as a Python string or quoted in SQL."""
    from autopay_soap.batch.states import RowState

    names = {state.value for state in RowState}
    found = []
    for path in BATCH_WING:
        if path.name == "states.py":
            continue
        for node in _strings_outside_docstrings(path):
            text = node.value
            if text in names or any(f"'{name}'" in text for name in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {text[:60]!r}")
    assert found == []


def test_no_class_of_the_batch_wing_is_over_300_lines():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in BATCH_WING for node in ast.walk(ast.parse(path.read_text("utf-8")))
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 300]
    assert long == []


def _calls(path, attribute):
    return [node.lineno for node in ast.walk(ast.parse(path.read_text("utf-8")))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attribute]


def test_every_executor_charges_through_the_one_charge_function():
    """Only batch/charge.py journals an intent or a result, or sends an autopayment; each
    executor calls its charge_one."""
    elsewhere = [f"{path.relative_to(ROOT)}:{line} .{attribute}()" for path in BATCH_WING
                 if path.name != "charge.py" and "journal" not in path.relative_to(ROOT).parts
                 for attribute in ("intend", "record", "autopay") for line in _calls(path, attribute)]
    assert elsewhere == []
    executors = {"threads.py": "charge_one", "celery.py": "charge_one",  # the processes' threads are a ThreadExecutor
                 "processes.py": "ThreadExecutor"}
    found = {path.name for path in BATCH_WING if "executors" in path.parts} - {"__init__.py", "events.py"}
    assert found | {"celery.py"} == set(executors)  # a new executor is listed here, with what it charges through
    for name, callee in executors.items():
        path = ROOT / ("celery.py" if name == "celery.py" else f"batch/executors/{name}")
        called = {node.func.id for node in ast.walk(ast.parse(path.read_text("utf-8")))
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
        assert callee in called, f"{path.relative_to(ROOT)} does not call {callee}"


def test_nothing_outside_the_journal_package_names_a_journal_class():
    """The journal package's factory picks the database; everything else sees the protocols."""
    private = {"SqliteJournal", "PostgresJournal", "PgSession"}
    found = []
    for name, path in _modules():
        if name.startswith("batch.journal."):
            continue
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[-1] in ("sqlite",
                                                                                                  "postgres") \
                    and "journal" in node.module.split("."):
                found.append(f"{name} imports {node.module}")
            if isinstance(node, ast.Name) and node.id in private or \
                    isinstance(node, ast.alias) and node.name in private:
                found.append(f"{name} names {getattr(node, 'id', None) or node.name}")
    assert found == []


def test_rest_and_t_bank_exchange_json_through_one_seam():
    """The HTTP plumbing of a JSON call (wire log, bounded POST, status → error, JSON read) is
    ``HttpGateway._exchange``; REST and T-Bank only build the request and read the reply."""
    for name in ("rbs_rest.py", "tbank_api.py"):
        text = (ROOT / "gateways" / name).read_text("utf-8")
        assert "_exchange(" in text
        assert [needle for needle in ("self._post(", "json_input.loads", "HTTPStatusError(", "wire_log")
                if needle in text] == [], name


def test_action_codes_and_the_sandbox_decline_codes_are_the_gateways_code_modules():
    """RBS action codes (and their texts) are ``codes.rbs``'s; T-Bank's ErrorCode of each decline
    the sandbox gives is ``codes.tbank``'s: the sandbox reads them, it does not define codes."""
    defined = [f"{name}: {target.id}" for name, path in _modules() if not name.startswith("codes.")
               for node in ast.parse(path.read_text("utf-8")).body if isinstance(node, ast.Assign)
               for target in node.targets if isinstance(target, ast.Name)
               and (target.id.startswith("ACTION_") or target.id in ("_DECLINE", "_CARD_DECLINE", "_SBP_DECLINE"))]
    assert defined == []


def test_the_sandbox_engine_speaks_no_gateways_codes():
    """The engine, its books and the T-Bank front end name a decline by ``codes.reasons``'s
    ``DeclineReason``; only the RBS words (``sandbox.rbs_words``) read ``codes.rbs``, and only
    ``codes.tbank`` says what T-Bank answers for a reason."""
    speaking_rbs = sorted(name for name, path in _modules() if name.startswith("sandbox.")
                          and any(target == "codes.rbs" or target.startswith("codes.rbs.")
                                  or target == "codes" and "import rbs" in path.read_text("utf-8")
                                  for target in _imports(name, path)))
    assert speaking_rbs == ["sandbox.rbs_words"]
    ledger = (ROOT / "sandbox" / "ledger.py").read_text("utf-8")
    assert "decline_reason: Optional[DeclineReason]" in ledger and "action_code" not in ledger


def test_the_rbs_operations_are_written_once_for_both_bindings():
    """Registration and the money operations take their arguments and checks in
    ``gateways/rbs_operations.py``; the SOAP and REST bindings only put them on their wire."""
    for name in ("rbs_soap.py", "rbs_rest.py"):
        tree = ast.parse((ROOT / "gateways" / name).read_text("utf-8"))
        defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert defined & {"register_order", "check_registration", "deposit", "reverse", "refund", "bind_card",
                           "unbind_card", "extend_binding", "pay_with_binding", "finish_3ds"} == set(), name
        assert {"_send_registration", "_send_money", "_wire_items", "_wire_cart"} <= defined, name


def test_every_scenario_sends_through_the_one_reconcile_step():
    """The client's scenarios (``client.py``, ``scenarios/``, ``card_saving.py``) send through
    ``ScenarioSteps._reconcile``: no other function walks the retry policy's attempts or decides
    by itself what a connection error means (send again, or a TLS error: never)."""
    found = []
    for name, path in _modules():
        if not (name in ("client", "card_saving") or name.startswith("scenarios.")):
            continue
        for function in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(function, ast.FunctionDef) or function.name in ("_reconcile", "_attempts"):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Attribute) and node.attr == "_attempts":
                    found.append(f"{name}.{function.name} walks the attempts")
                if isinstance(node, ast.ExceptHandler) and "ConnectError" in ast.dump(node.type or node):
                    found.append(f"{name}.{function.name} catches ConnectError")
    assert found == []


def test_the_scenarios_ask_the_gateway_what_it_can_do_not_what_it_is():
    """What a transport can do is its :class:`~autopay_soap.gateways.base.GatewayFeatures` (and the
    small protocols ``SbpGateway``, ``ReceiptStatusGateway``, ``ClosingReceiptGateway``): no
    scenario branches on a gateway's name or probes it with ``getattr``, but for the optional
    ``check_key`` of a gateway that shares its checks between clients."""
    found = []
    for name, path in _modules():
        if not (name in ("client", "card_saving") or name.startswith("scenarios.")):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Compare) and "attr='name'" in ast.dump(node.left) \
                    and "gateway" in ast.dump(node.left):
                found.append(f"{name}:{node.lineno} compares the gateway's name")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr" \
                    and "gateway" in ast.dump(node.args[0]) and ast.literal_eval(node.args[1]) != "check_key":
                found.append(f"{name}:{node.lineno} probes the gateway with getattr")
    assert found == []
