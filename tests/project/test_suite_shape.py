"""The test suite's own shape: test modules grouped by the layer they test, fixtures in conftest.py,
helpers in tests/support/, and no test module importing conftest (pytest loads it; importing it
again makes a second copy)."""

import ast
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

TESTS = pathlib.Path(__file__).parent.parent


def test_no_test_imports_conftest():
    importing = [path.name for path in TESTS.rglob("*.py")
                 for node in ast.walk(ast.parse(path.read_text("utf-8")))
                 if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "conftest"]
    assert importing == []


def test_helpers_live_in_tests_support():
    loose = sorted(p.name for p in TESTS.glob("*.py")
                   if not p.name.startswith("test_") and p.name not in ("conftest.py", "__init__.py", "django_urls.py"))
    assert loose == []
    assert (TESTS / "support" / "__init__.py").is_file()


def test_no_test_module_imports_another():
    """A helper two test modules share lives in ``tests/support/``: importing a test module from
    another runs its module-level set-up twice and ties two files' tests together."""
    importing = sorted(f"{path.name}: {node.module}" for path in TESTS.rglob("test_*.py")
                       for node in ast.walk(ast.parse(path.read_text("utf-8")))
                       if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1].startswith("test_"))
    assert importing == []


LAYERS = ("project", "core", "gateways", "client", "callbacks", "batch", "cluster", "sandbox")


def test_test_modules_are_grouped_by_the_layer_they_test():
    """Every test module sits in the folder of the layer it tests (each a package with a docstring
    saying what it holds); none is left loose at the top, and no two share a name."""
    assert sorted(p.name for p in TESTS.glob("test_*.py")) == []
    folders = sorted(p.name for p in TESTS.iterdir() if p.is_dir() and any(p.glob("test_*.py")))
    assert folders == sorted(LAYERS)
    for layer in LAYERS:
        assert sorted(p.name for p in (TESTS / layer).glob("*.py") if not p.name.startswith("test_")) == \
            ["__init__.py"], layer  # a helper of several modules lives in tests/support/
        assert ast.get_docstring(ast.parse((TESTS / layer / "__init__.py").read_text("utf-8"))), layer
    names = [p.name for p in TESTS.rglob("test_*.py")]
    assert len(names) == len(set(names))


def _sandboxes(function):
    return [node for node in ast.walk(function)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Sandbox"]


def _a_sandbox_the_fixture_could_give(function):
    """True when ``function`` ends in its only ``with Sandbox(...) as sb:`` block, with literal
    settings (no state file): the ``sb`` fixture gives that sandbox, settings by the marker."""
    last = function.body[-1]
    if not isinstance(last, ast.With) or len(last.items) != 1 or len(_sandboxes(function)) != 1:
        return False
    opened, name = last.items[0].context_expr, last.items[0].optional_vars
    if not (isinstance(opened, ast.Call) and getattr(opened.func, "id", None) == "Sandbox" and not opened.args
            and isinstance(name, ast.Name) and name.id == "sb"):
        return False
    for keyword in opened.keywords:
        try:
            ast.literal_eval(keyword.value)
        except ValueError:
            return False
    return all(keyword.arg not in (None, "state") for keyword in opened.keywords)


def test_a_test_whose_sandbox_the_fixture_could_give_takes_the_sb_fixture():
    """A test that ends in its only ``with Sandbox(...) as sb:`` block, the defaults or literal
    settings, takes the ``sb`` fixture instead (``conftest.py``; settings by
    ``@pytest.mark.sandbox(...)``). A sandbox with a state file, settings from a parameter, or
    one the test looks at after it closed is still started in the test."""
    inline = sorted(f"{path.name}::{node.name}" for path in TESTS.rglob("test_*.py")
                    for node in ast.parse(path.read_text("utf-8")).body
                    if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
                    and not any("given" in ast.dump(d) for d in node.decorator_list)
                    and _a_sandbox_the_fixture_could_give(node))
    assert inline == []


def test_the_sb_fixture_takes_the_markers_settings(sb, request):
    """Without a marker the defaults; the marker's keywords are the settings (checked on one)."""
    assert request.node.get_closest_marker("sandbox") is None and sb.settings.receipts_required is False


@pytest.mark.sandbox(receipts_required=True, callback_retry_interval=0.5)
def test_a_marked_test_gets_a_sandbox_with_those_settings(sb):
    assert sb.settings.receipts_required is True and sb.settings.callback_retry_interval == 0.5


def _docs_text():
    root = TESTS.parent
    return {path.relative_to(root).as_posix(): path.read_text("utf-8")
            for path in [root / "README.md", *sorted((root / "docs").glob("*.rst"))]}


def test_every_test_path_the_docs_name_exists():
    """A test file or folder named in the README or docs/ (``tests/gateways/test_tbank.py``) is
    there: moving tests cannot leave a chapter pointing at nothing."""
    missing = sorted(f"{page}: {name}" for page, text in _docs_text().items()
                     for name in re.findall(r"tests/[A-Za-z0-9_/.\-]*[A-Za-z0-9_/]", text)
                     if not (TESTS.parent / name).exists())
    assert missing == []


def test_the_pytest_commands_of_the_docs_select_tests_as_written():
    """``pytest <path> [-k <words>]`` in the docs collects at least one test, as written (run with
    ``--collect-only``: choosing them is what the command's words do; running them is the suite's)."""
    commands = sorted({command for text in _docs_text().values()
                       for command in re.findall(r"``pytest (tests/[^`]*?)(?: -s)?``", text)})
    assert commands, "the docs name no pytest command: this test has nothing to check"
    for command in commands:
        done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                               *shlex.split(command)], cwd=TESTS.parent, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0 and re.search(r"^\d+(/\d+)? tests? collected", done.stdout, re.M), \
            (command, done.stdout[-500:], done.stderr[-500:])
