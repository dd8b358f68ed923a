"""The Python example in the repository's README runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import opsledger

REPOSITORY = Path(os.environ.get("OPSLEDGER_REPOSITORY") or Path(__file__).resolve().parents[4])
README = REPOSITORY / "README.md"
PACKAGE_README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "one Python example in the README's Python section"
    return blocks[0]


def run(code: str, cwd: Path) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ)
    # The package under test, wherever it is imported from (installed, or a source tree).
    package_root = str(Path(opsledger.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    if "OPSLEDGER_LIB" not in env and opsledger.bundled_library() is None:
        env["OPSLEDGER_LIB"] = str(opsledger.find_library())
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_readme_example_runs(tmp_path: Path) -> None:
    code = readme_example()
    assert 8 <= len(code.strip().splitlines()) <= 15
    done = run(code, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "resolved"
    assert any("alice" in line and "resolved" in line for line in lines[1:]), done.stdout


def test_the_package_readme_example_runs(tmp_path: Path) -> None:
    code = re.findall(r"```python\n(.*?)```", PACKAGE_README.read_text(), re.S)[0]
    done = run(code, tmp_path)  # opens ./data in the temporary directory
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("-32005 forbidden"), done.stdout
    assert "incident.resolved" in done.stdout


def test_the_package_readme_policy_walkthrough_prints_what_it_shows() -> None:
    text = PACKAGE_README.read_text()
    section = text.split("\n## Policies and SLA clocks\n", 1)[1].split("\n## ", 1)[0]
    code, shown = re.findall(r"```python\n(.*?)```\n+```\n(.*?)```", section, re.S)[0]
    assert "examples/policy/policy.toml" in code
    done = run(code, REPOSITORY)  # the example policy's path is relative to the repository
    assert done.returncode == 0, done.stderr
    assert done.stdout == shown
