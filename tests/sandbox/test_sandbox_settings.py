"""The sandbox's settings as one value: the keywords of Sandbox(...) are its fields."""

import re
from pathlib import Path

import pytest

from autopay_soap.sandbox import Sandbox, SandboxSettings

CHAPTER = Path(__file__).resolve().parent.parent.parent / "docs" / "sandbox.rst"


def test_keywords_override_a_shared_settings_value_and_an_unknown_one_is_refused():
    shared = SandboxSettings(latency=0.01, password="s3cret-pw", callback_secret="hmac-key")
    with Sandbox(settings=shared, username="merchant-api") as sb:
        assert (sb.username, sb.password, sb.latency) == ("merchant-api", "s3cret-pw", 0.01)
        assert sb.settings.callback_secret == "hmac-key" and shared.username == "sandbox-api"
    assert "s3cret-pw" not in repr(shared) and "hmac-key" not in repr(shared)
    with pytest.raises(TypeError, match="latncy"):
        Sandbox(latncy=0.01)
    with pytest.raises(ValueError, match="loopback"):
        Sandbox("0.0.0.0")
    with pytest.raises(TypeError):
        SandboxSettings("positional")  # keywords only: an option is always named


def test_the_settings_snippet_of_the_sandbox_chapter_runs_as_written():
    text = CHAPTER.read_text("utf-8")
    blocks = re.findall(r"\.\. code-block:: python\n\n(.*?)\n\n(?=\S)", text, re.S)
    block = next(b for b in blocks if "SandboxSettings" in b)
    names: dict = {}
    exec(compile("\n".join(line[4:] for line in block.splitlines()), str(CHAPTER), "exec"), names)
    assert names["slow_gateway"].faults == "paymentOrderBinding:drop_after=0.1"
