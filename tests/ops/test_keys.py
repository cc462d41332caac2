"""`ops keys`: status with ages, and a full rotate/retire cycle on a copy of the stack file."""

from __future__ import annotations

import datetime as dt
import difflib
import subprocess
import sys
from pathlib import Path

import pytest

from ops import keys, stackfile
from ops.plan import run_plan

ROOT = stackfile.ROOT
PROD = ROOT / "Pulumi.prod.yaml"


@pytest.fixture
def stack_copy(tmp_path: Path) -> Path:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(PROD.read_text())
    return path


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops", "keys", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_status_lists_every_token_with_its_age_and_passes_when_fresh(stack_copy: Path) -> None:
    proc = cli("status", "--stack-file", str(stack_copy), "--today", "2026-11-23")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["token", "generation", "state", "age", "verdict"]
    assert any(
        line.startswith("jokbodude/service") and "2026q4" in line and "53 d" in line
        for line in lines
    )
    assert {line.split()[0] for line in lines[1:]} == {
        "jokbodude/service",
        "s3-images/presign",
        "fit-files/api",
    }


def test_status_fails_on_a_key_older_than_the_policy(stack_copy: Path) -> None:
    cfg = keys.parse_file(stack_copy.read_text(), "prod", "storage-platform")
    day_92 = dt.date(2026, 10, 1) + dt.timedelta(days=92)
    assert all(r.ok for r in keys.status(cfg, day_92))
    rows = keys.status(cfg, day_92 + dt.timedelta(days=1))
    assert not any(r.ok for r in rows)
    assert all("OVERDUE" in r.verdict for r in rows)
    proc = cli("status", "--stack-file", str(stack_copy), "--today", "2027-01-02")
    assert proc.returncode == 1
    assert "OVERDUE" in proc.stdout


def test_full_rotation_cycle_edits_only_the_token_lines(stack_copy: Path) -> None:
    original = stack_copy.read_text()

    changes = keys.rotate(
        stack_copy, stack="prod", today=dt.date(2027, 1, 4), token="jokbodude/service"
    )
    assert changes == ["jokbodude/service: 2026q4 -> 2027q1 (rotatedOn 2027-01-04)"]
    rotated = stack_copy.read_text()
    assert changed_lines(original, rotated) == [
        "-          generations: [2026q4]",
        '-          rotatedOn: "2026-10-01"',
        "+          generations: [2026q4, 2027q1]",
        '+          rotatedOn: "2027-01-04"',
    ]
    # during the overlap both keys exist, status shows the retiring one within its grace
    cfg = keys.parse_file(rotated, "prod", "storage-platform")
    rows = [r for r in keys.status(cfg, dt.date(2027, 1, 10)) if r.token == "jokbodude/service"]
    assert [(r.generation, r.state, r.ok) for r in rows] == [
        ("2026q4", "retired", True),
        ("2027q1", "active", True),
    ]
    late = [r for r in keys.status(cfg, dt.date(2027, 1, 19)) if r.state == "retired"]
    assert late and not late[0].ok and "PAST GRACE" in late[0].verdict

    assert keys.retire(stack_copy, stack="prod", token="jokbodude/service") == [
        "jokbodude/service: retired 2026q4, active 2027q1"
    ]
    retired = stack_copy.read_text()
    assert changed_lines(original, retired) == [
        "-          generations: [2026q4]",
        '-          rotatedOn: "2026-10-01"',
        "+          generations: [2027q1]",
        '+          rotatedOn: "2027-01-04"',
    ]
    assert original.count("#") == retired.count("#"), "comments survive"


def test_overlap_is_visible_in_the_offline_plan(stack_copy: Path) -> None:
    keys.rotate(stack_copy, stack="prod", today=dt.date(2027, 1, 4), token="jokbodude/service")
    plan = run_plan("prod", stack_file=stack_copy)
    names = sorted(r.name for r in plan.by_type("cloudflare:index/accountToken:AccountToken"))
    assert "jokbodude-service-2026q4" in names and "jokbodude-service-2027q1" in names
    files = plan.outputs["endpoints"]["jokbodude"]["r2"]["files"]
    assert files["generation"] == "2027q1"
    new_token = plan.get("jokbodude-service-2027q1")
    assert new_token.inputs["name"] == "jokbodude-service-2027q1"


def test_rotate_refuses_a_second_rotation_while_two_are_live(stack_copy: Path) -> None:
    keys.rotate(stack_copy, stack="prod", today=dt.date(2027, 1, 4), token="jokbodude/service")
    before = stack_copy.read_text()
    with pytest.raises(
        keys.KeysError, match=r"already has two live generations \(2026q4, 2027q1\)"
    ):
        keys.rotate(stack_copy, stack="prod", today=dt.date(2027, 4, 4))
    assert stack_copy.read_text() == before, "a refused edit writes nothing"


def test_rotate_twice_in_a_quarter_needs_an_explicit_label(stack_copy: Path) -> None:
    with pytest.raises(keys.KeysError, match=r"already at 2026q4.*--label 2026q4b"):
        keys.rotate(
            stack_copy, stack="prod", today=dt.date(2026, 11, 23), token="jokbodude/service"
        )
    changes = keys.rotate(
        stack_copy,
        stack="prod",
        today=dt.date(2026, 11, 23),
        token="jokbodude/service",
        label="2026q4b",
    )
    assert changes == ["jokbodude/service: 2026q4 -> 2026q4b (rotatedOn 2026-11-23)"]


def test_rotate_due_only_skips_tokens_rotated_this_quarter(stack_copy: Path) -> None:
    keys.rotate(stack_copy, stack="prod", today=dt.date(2027, 1, 4), token="jokbodude/service")
    keys.retire(stack_copy, stack="prod")
    changes = keys.rotate(stack_copy, stack="prod", today=dt.date(2027, 1, 5), due_only=True)
    assert [c.split(":")[0] for c in changes] == ["s3-images/presign", "fit-files/api"]


def test_retire_refuses_with_a_single_generation(stack_copy: Path) -> None:
    proc = cli("retire", "--stack-file", str(stack_copy), "--token", "jokbodude/service")
    assert proc.returncode == 2
    assert (
        "refused: nothing to retire: jokbodude/service (2026q4) has a single live generation"
        in proc.stderr
    )
    assert stack_copy.read_text() == PROD.read_text()


def test_unknown_token_is_refused(stack_copy: Path) -> None:
    with pytest.raises(keys.KeysError, match="matches 0 tokens; tokens: jokbodude/service"):
        keys.retire(stack_copy, stack="prod", token="nope")


def test_cli_rotate_then_retire_round_trip(stack_copy: Path) -> None:
    original = stack_copy.read_text()
    proc = cli("rotate", "--stack-file", str(stack_copy), "--today", "2027-01-04")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("-> 2027q1") == 3
    proc = cli("retire", "--stack-file", str(stack_copy))
    assert proc.returncode == 0, proc.stderr
    after = stack_copy.read_text()
    assert after.replace("2027q1", "2026q4").replace("2027-01-04", "2026-10-01") == original
