"""The README is true: one way to run every command (the activated virtualenv), every `ops`
command it shows parses, each abbreviation is spelled out before it is used, and the offline
path from `ops plan` to `storage_runtime env` works as written."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ops.__main__ import main, parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def code_lines() -> list[str]:
    """The lines inside fenced code blocks."""
    lines, inside = [], False
    for line in README.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line)
    return lines


def test_commands_run_one_way_through_the_activated_virtualenv() -> None:
    assert ". .venv/bin/activate" in README
    assert ".venv/bin/python" not in README, "activate once; then `python -m ...`"


def ops_commands() -> list[str]:
    found = []
    for line in [*code_lines(), *re.findall(r"`(python -m ops [^`]*)`", README)]:
        line = line.split("#")[0].strip().removeprefix("$ ").replace("\\|", "|")
        if line.startswith("python -m ops "):
            found.append(line)
    return found


def test_every_ops_command_in_the_readme_parses() -> None:
    commands = ops_commands()
    assert len(commands) > 10
    for command in commands:
        argv = shlex.split(command.split(" > ")[0].split(" | ")[0])[3:]
        argv = [a for a in argv if not (a.startswith("[") or a.endswith("]"))]  # [--head REF]
        if argv == ["plan", "|", "cost", "|", "diff", "|", "keys", "|", "docs"] or not argv:
            continue
        try:
            parser().parse_args(argv)
        except SystemExit as err:
            pytest.fail(f"README command does not parse: {command} (exit {err.code})")


ABBREVIATIONS = {
    "SSE-S3": "server-side encryption",
    "KMS": "Key Management Service",
    "CMK": "customer-managed key",
    "PAB": "Block Public Access",
    "CRR": "cross-region replication",
    "RTC": "Replication Time Control",
    "OAI": "origin access identity",
    "OAC": "origin access control",
    "IA": "Infrequent Access",
    "EFS": "Elastic File System",
    "AZ": "availability zone",
    "SG": "security group",
    "CSI": "Container Storage Interface",
    "EKS": "Elastic Kubernetes Service",
    "CORS": "cross-origin resource sharing",
    "TTL": "caches",
    "ACM": "Certificate Manager",
    "WAF": "Web Application Firewall",
    "Class A": "writes and lists",
    "Class B": "reads",
    "generation": "one quarter's R2 key",
    "CrossGuard": "policy-as-code",
}


@pytest.mark.parametrize("term", ABBREVIATIONS)
def test_each_abbreviation_is_explained_at_first_use(term: str) -> None:
    first = re.search(
        rf"(?<![\w-]){re.escape(term)}s?(?![\w-])", README, re.I if term == "generation" else 0
    )
    assert first is not None, f"{term} is not used"
    around = " ".join(README[max(0, first.start() - 200) : first.end() + 200].split())
    assert ABBREVIATIONS[term].lower() in around.lower(), f"{term} at its first use: {around!r}"


def test_offline_outputs_feed_storage_runtime_env(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["plan", "--stack", "prod", "--outputs", str(outputs)]) == 0
    assert set(json.loads(outputs.read_text())) == {"endpoints", "monitoring"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "storage_runtime",
            "env",
            "--outputs",
            str(outputs),
            "--app",
            "jokbodude",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "S3_BUCKET=jokbodude" in proc.stdout and "S3_ACCESS_KEY_ID=" in proc.stdout
    assert "python -m ops plan --stack prod --outputs outputs.json" in README


def test_make_plan_ends_with_what_to_run_next() -> None:
    recipe = subprocess.run(["make", "-n", "plan"], cwd=ROOT, capture_output=True, text=True).stdout
    lines = recipe.strip().splitlines()
    plan_line = next(i for i, line in enumerate(lines) if "-m ops plan --stack" in line)
    after = "\n".join(lines[plan_line + 1 :])
    assert (
        "next:" in after
        and "python -m ops diff --base origin/main" in after
        and "make test" in after
    )
