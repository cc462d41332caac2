"""Offline diff: property-level changes, replacements, cost change, between real commits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ops import stackfile
from ops.diff import compare, flatten

ROOT = stackfile.ROOT


def r(resource: str, typ: str = "aws:s3/bucket:Bucket", **inputs: Any) -> dict[str, Any]:
    urn = f"urn:pulumi:s::p::{typ}::{resource}"
    return {"urn": urn, "type": typ, "name": resource, "inputs": inputs, "protect": True}


def plan(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resources": list(resources)}


def test_flatten_expands_nested_and_json_strings() -> None:
    assert flatten({"a": {"b": [1, {"c": 2}]}, "policy": '{"Statement": [{"Sid": "X"}]}'}) == {
        "a.b[0]": 1,
        "a.b[1].c": 2,
        "policy.Statement[0].Sid": "X",
    }


def test_added_removed_updated_and_replaced() -> None:
    base = plan(
        r("keep", bucket="k", tags={"a": "1"}),
        r("gone", bucket="g"),
        r("renamed", bucket="old-name"),
    )
    head = plan(
        r("keep", bucket="k", tags={"a": "2"}),
        r("new", bucket="n"),
        r("renamed", bucket="new-name"),
    )
    changes = {c.name: c for c in compare(base, head)}
    assert changes["new"].kind == "add"
    assert changes["gone"].kind == "remove"
    assert changes["keep"].kind == "update"
    assert changes["keep"].properties == [("tags.a", "1", "2")]
    assert changes["renamed"].kind == "replace" and changes["renamed"].replaced_by == ["bucket"]


def test_replace_on_changes_marks_a_replacement() -> None:
    typ = "cloudflare:index/accountToken:AccountToken"
    base = plan({**r("t", typ, name="a-2026q3"), "replaceOnChanges": ["name"]})
    head = plan({**r("t", typ, name="a-2026q4"), "replaceOnChanges": ["name"]})
    (change,) = compare(base, head)
    assert change.kind == "replace" and change.replaced_by == ["name"]


def test_unchanged_plans_have_no_changes() -> None:
    same = plan(r("a", bucket="a"))
    assert compare(same, same) == []


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this repository with one more commit changing the prod stack."""
    path = tmp_path_factory.mktemp("repo") / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(path)], check=True)
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    stack = path / "Pulumi.prod.yaml"
    text = stack.read_text()
    text = text.replace("deleteAfterDays: 1\n", "deleteAfterDays: 2\n")  # update
    text = text.replace(
        "name: pingvas-studio-backups", "name: pingvas-studio-backup-archive"
    )  # replace
    text = text.replace("models: {gb: 500}", "models: {gb: 600}")  # cost change
    stack.write_text(text)
    subprocess.run([*git, "commit", "-qam", "head"], check=True)
    return path


def test_diff_between_two_commits(clone: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ops", "diff", "--base", "HEAD~1", "--head", "HEAD"],
        cwd=clone,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(clone), "TMPDIR": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == [], "both worktrees are removed"
    out = proc.stdout
    assert "+- aws:s3/bucket:Bucket pingvas-studio-backups-bucket (replaced: bucket changed)" in out
    assert "bucket: pingvas-studio-backups => pingvas-studio-backup-archive" in out
    assert "~ cloudflare:index/r2BucketLifecycle:R2BucketLifecycle jokbodude-files-lifecycle" in out
    assert "rules[0].deleteObjectsTransition.condition.maxAge: 86400 => 172800" in out
    assert "monthly cost: $401.11 -> $434.11 (+$33.00)" in out


def test_revisions_are_planned_as_deployed_and_old_ones_without_the_flag(tmp_path: Path) -> None:
    """A base revision from before `ops plan --mode` is planned the way it always was."""
    from ops.diff import plan_revision

    for name, accepts_mode in (("new", True), ("old", False)):
        root = tmp_path / name
        (root / "ops").mkdir(parents=True)
        (root / "ops" / "__init__.py").write_text("")
        flags = '"--mode", ' if accepts_mode else ""
        (root / "ops" / "__main__.py").write_text(
            "import argparse, json\n"
            "p = argparse.ArgumentParser()\n"
            "p.add_argument('command')\n"
            "p.add_argument('--stack')\n"
            "p.add_argument('--json', action='store_true')\n"
            f"if {accepts_mode}: p.add_argument({flags}choices=['preview', 'deployed'])\n"
            "a = p.parse_args()\n"
            "mode = getattr(a, 'mode', None) or 'none'\n"
            "print(json.dumps({'resources': [], 'mode': mode, 'total': 1.0}))\n"
        )
        plan, _ = plan_revision(root, "prod")
        assert plan["mode"] == ("deployed" if accepts_mode else "none"), name


def test_an_aliased_rename_is_an_update_and_a_provider_change_a_replacement() -> None:
    typ = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    base = plan(r("efs-nfs-from-0", typ, referencedSecurityGroupId="sg-1"))
    head = plan(
        {
            **r("efs-nfs-from-sg-1", typ, referencedSecurityGroupId="sg-1"),
            "aliases": ["efs-nfs-from-0"],
        }
    )
    assert compare(base, head) == [], "the same rule under its new name"
    cert = "aws:acm/certificate:Certificate"
    base = plan({**r("cert", cert, domainName="a.example"), "provider": "urn:...::us-east-1"})
    head = plan({**r("cert", cert, domainName="a.example", region="us-east-1"), "provider": None})
    (change,) = compare(base, head)
    assert change.kind == "replace" and change.replaced_by == ["(provider)"]


# ---------------------------------------------------------------- when it cannot diff


def run_diff(repo: Path, *args: str, tmpdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops", "diff", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo), "TMPDIR": str(tmpdir)},
    )


def worktrees(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(repo), "worktree", "list", "--porcelain"], capture_output=True, text=True
    ).stdout
    return [line for line in out.splitlines() if line.startswith("worktree ")]


def test_a_bad_ref_is_a_usage_error(clone: Path, tmp_path: Path) -> None:
    proc = run_diff(clone, "--base", "no-such-ref", tmpdir=tmp_path)
    assert proc.returncode == 2
    assert "diff failed: --base 'no-such-ref' is not a commit in" in proc.stderr
    assert "accepted: a branch, tag or commit" in proc.stderr
    assert list(tmp_path.iterdir()) == [] and len(worktrees(clone)) == 1
    proc = run_diff(clone, "--base", "HEAD", "--head=--orphan", tmpdir=tmp_path)
    assert proc.returncode == 2 and "--head '--orphan' is not a git revision" in proc.stderr


def test_outside_a_git_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "ops", "--root", str(plain), "diff", "--base", "HEAD"],
        cwd=plain,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TMPDIR": str(tmpdir)},
    )
    assert proc.returncode == 2
    assert f"{plain} is not a git repository; accepted: run `ops diff` in a clone" in proc.stderr
    assert list(tmpdir.iterdir()) == []


@pytest.fixture(scope="module")
def broken_base(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone whose HEAD~1 cannot even import `ops.plan`."""
    path = tmp_path_factory.mktemp("broken") / "repo"
    subprocess.run(["git", "clone", "-q", str(clone), str(path)], check=True)
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    plan = path / "ops" / "plan.py"
    good = plan.read_text()
    plan.write_text(good + '\nraise RuntimeError("revision broken on purpose")\n')
    subprocess.run([*git, "commit", "-qam", "broken"], check=True)
    plan.write_text(good)
    subprocess.run([*git, "commit", "-qam", "fixed"], check=True)
    return path


def test_a_revision_that_cannot_be_planned_shows_its_own_error(
    broken_base: Path, tmp_path: Path
) -> None:
    proc = run_diff(broken_base, "--base", "HEAD~1", "--head", "HEAD", tmpdir=tmp_path)
    assert proc.returncode == 1
    assert (
        "`python -m ops plan --stack prod --json --mode deployed` failed for --base HEAD~1 "
        "(exit 1)" in proc.stderr
    )
    assert "  | RuntimeError: revision broken on purpose" in proc.stderr
    assert "JSONDecodeError" not in proc.stderr
    assert list(tmp_path.iterdir()) == [], "the worktree's temporary directory is removed"
    assert len(worktrees(broken_base)) == 1, "git forgets the worktree too"


def test_ctrl_c_removes_the_worktrees(clone: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops", "diff", "--base", "HEAD~1", "--head", "HEAD"],
        cwd=clone,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(clone), "TMPDIR": str(tmp_path)},
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not any(tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the first worktree exists
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    assert len(worktrees(clone)) == 1
