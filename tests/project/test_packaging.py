"""The supported matrix is declared once: python_requires, the classifiers, mypy's target and the
lowest-versions constraints all agree with setup.cfg."""

import configparser
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def _config():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return config


def test_the_lowest_constraints_pin_every_declared_bound():
    out = subprocess.run([sys.executable, str(ROOT / ".ci" / "lowest_constraints.py"), "test"],
                         capture_output=True, text=True, check=True).stdout.split()
    config = _config()
    declared = [line.strip() for line in (config["options"]["install_requires"] + "\n"
                                          + config["options.extras_require"]["test"]).splitlines()
                if line.strip() and not line.strip().startswith("#") and ";" not in line]  # markers: not lowest
    expected = [re.sub(r"\[.*\]", "", re.sub(r"\s*>=\s*", "==", line)) for line in declared]  # no extras
    assert out == expected


def test_a_requirement_without_a_lower_bound_is_refused():
    script = ROOT / ".ci" / "lowest_constraints.py"
    code = f"import runpy; m = runpy.run_path({str(script)!r}); m['lowest']('zeep')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0 and "no lower bound" in done.stderr


def test_python_versions_agree_everywhere():
    config = _config()
    lowest = config["options"]["python_requires"].replace(">=", "").strip()
    assert config["mypy"]["python_version"] == lowest
    classifiers = re.findall(r"Programming Language :: Python :: (3\.\d+)", config["metadata"]["classifiers"])
    assert classifiers[0] == lowest and classifiers == [f"3.{n}" for n in range(9, 14)]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "for version in " + " ".join(classifiers) + ";" in ci


def test_every_package_of_the_source_tree_is_installed():
    """setup.cfg lists the packages by name: a new one left out works from the checkout and is
    missing from every installed copy (autopay_soap.declines once was)."""
    root = pathlib.Path(__file__).resolve().parent.parent.parent
    config = configparser.ConfigParser()
    config.read(root / "setup.cfg")
    listed = {line.strip() for line in config["options"]["packages"].splitlines() if line.strip()}
    found = {".".join(path.parent.relative_to(root).parts) for path in (root / "autopay_soap").rglob("__init__.py")}
    assert found - listed == set()


def test_the_sdist_carries_what_its_own_tests_need(tmp_path):
    import shutil
    import tarfile

    tree = tmp_path / "tree"  # a copy without the checkout's egg-info, whose file list setuptools would reuse
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "dist",
                                                              "__pycache__", ".*_cache", ".hypothesis"))
    built = subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(tmp_path)], cwd=tree,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (archive,) = tmp_path.glob("autopay_soap-*.tar.gz")
    with tarfile.open(archive) as tar:
        inside = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    ignored = {"__pycache__", "_build", "results", ".hypothesis", ".pytest_cache"}
    wanted = {str(path.relative_to(ROOT)) for folder in ("tests", "docs", "wsdl", "bench")
              for path in (ROOT / folder).rglob("*")
              if path.is_file() and not ignored & set(path.parts) and path.suffix not in (".pyc", ".sqlite")}
    wanted |= {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "setup.cfg", "setup.py", ".ci/run"}
    assert {"tests/conftest.py", "tests/data/tbank_answers.json", "tests/support/pg_server.py"} <= wanted
    assert sorted(wanted - inside) == []


def test_the_metadata_names_the_license_file_and_where_the_project_lives():
    config = _config()
    assert config["metadata"]["license"] == "MIT" and config["metadata"]["license_files"].strip() == "LICENSE"
    assert "MIT License" in (ROOT / "LICENSE").read_text("utf-8").splitlines()[0]
    urls = dict(line.split(" = ", 1) for line in config["metadata"]["project_urls"].strip().splitlines())
    assert set(urls) == {"Documentation", "Changelog", "Source", "Issues"}
    assert all(url.startswith("https://") for url in urls.values())
    build = (ROOT / "pyproject.toml").read_text("utf-8")
    assert 'build-backend = "setuptools.build_meta"' in build and "[project]" not in build  # metadata: setup.cfg
