"""The shape of the code: no import cycle, no lower layer importing a higher one, no long function."""

import ast
import pathlib

import autopay_soap

ROOT = pathlib.Path(autopay_soap.__file__).parent
LAYERS = {  # a module may import only modules of its own layer or of a lower one
    "cli": 6, "demo": 6, "__main__": 6,
    "batch": 5, "celery": 5,
    "client": 4, "profiles": 4, "callbacks": 4,
    "gateways": 3,
    "http": 2, "wsdl_bundle": 2,
    "models": 1, "money": 1, "validation": 1, "signing": 1, "secret": 1, "redact": 1, "errors": 1, "retry": 1,
    "declines": 1,
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


def test_no_lower_layer_imports_a_higher_one():
    wrong = []
    for name, path in _modules():
        mine = _layer(name)
        for target in _imports(name, path):
            theirs = _layer(target)
            if mine is None or theirs is None or target.split(".")[0] == name.split(".")[0]:
                continue
            if name.startswith("sandbox") and target.split(".")[0] in ("client", "profiles", "callbacks",
                                                                         "gateways", "batch", "cli"):
                wrong.append(f"{name} imports {target}: the sandbox uses the bottom layers only")
            elif theirs > mine and not name.startswith("sandbox"):
                wrong.append(f"{name} (layer {mine}) imports {target} (layer {theirs})")
    assert wrong == []


def test_no_function_is_longer_than_60_lines():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for _, path in _modules() for node in ast.walk(ast.parse(path.read_text("utf-8")))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60]
    assert long == []


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
