"""The GitHub workflows lint clean (actionlint, zizmor) and pin every action to a commit."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: make venv installs it")
    return found


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"preview.yml", "preview-comment.yml", "rotate-keys.yml"}


def test_actionlint_finds_nothing() -> None:
    proc = subprocess.run(
        [tool("actionlint"), *map(str, WORKFLOWS)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing() -> None:
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", str(ROOT / ".github" / "workflows")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_and_permissions_minimal(path: Path) -> None:
    text = path.read_text()
    for ref in re.findall(r"uses:\s*(\S+)", text):
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), (
            f"{path.name}: {ref} is not pinned to a commit"
        )
    doc = yaml.safe_load(text)
    assert doc["permissions"] == {}, f"{path.name}: top-level permissions must be empty"
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} declares no permissions"
        assert "write-all" not in str(job["permissions"])
