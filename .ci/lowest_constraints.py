"""Print a pip constraints file pinning every dependency at the lowest version setup.cfg declares.

    python .ci/lowest_constraints.py [EXTRA ...] > lowest.txt
    pip install -c lowest.txt ".[test]"

Read from setup.cfg itself (install_requires and the named extras), so the declared bounds and
the tested ones cannot drift apart. A requirement without a lower bound is an error: the
lowest version of it would be whatever is oldest on the index. A requirement with an environment
marker (``kombu>=5.7; python_version >= "3.10"``) raises a bound on some Pythons only and is left
out: the lowest run takes the unmarked bound.
"""

from __future__ import annotations

import configparser
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def requirements(extras: list) -> list:
    """The requirement lines of install_requires and of each extra in ``extras``."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = config["options"]["install_requires"].splitlines()
    for extra in extras:
        lines += config["options.extras_require"][extra].splitlines()
    # a line with an environment marker raises a bound for some Pythons only: it is not the lowest
    return [line.strip() for line in lines
            if line.strip() and not line.strip().startswith("#") and ";" not in line]


def lowest(requirement: str) -> str:
    """``name>=1.2`` (or ``name>=1.2,<3``) → ``name==1.2``."""
    match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", requirement)
    if not match:
        raise SystemExit(f"cannot read the requirement {requirement!r}")
    name, spec = match.group(1).split("[")[0], match.group(2)
    bound = re.search(r">=\s*([0-9][A-Za-z0-9.]*)", spec)
    if not bound:
        raise SystemExit(f"{name}: no lower bound in setup.cfg ({requirement!r}); declare one")
    return f"{name}=={bound.group(1)}"


def main(argv: list) -> int:
    """Print the constraints for install_requires and the extras named in ``argv``."""
    for requirement in requirements(argv):
        print(lowest(requirement))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
