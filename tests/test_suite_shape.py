"""The test suite's own shape: fixtures in conftest.py, helpers in tests/support/, and no test
module importing conftest (pytest loads it; importing it again makes a second copy)."""

import ast
import pathlib

TESTS = pathlib.Path(__file__).parent


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
    importing = sorted(f"{path.name}: {node.module}" for path in TESTS.glob("test_*.py")
                       for node in ast.walk(ast.parse(path.read_text("utf-8")))
                       if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1].startswith("test_"))
    assert importing == []
