"""The README's sandbox example runs as written."""

import re
from pathlib import Path


def test_readme_sandbox_example_runs(capsys):
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    example = next(block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "Sandbox()" in block)
    exec(compile(example, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out == ["DEPOSITED", "['hold', 'deposit', 'hold', 'deposit']"]
