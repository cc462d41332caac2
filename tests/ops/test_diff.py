"""Offline diff: property-level changes, replacements, cost change, between real commits."""

from __future__ import annotations

import subprocess
import sys
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


def test_diff_between_two_commits(clone: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ops", "diff", "--base", "HEAD~1", "--head", "HEAD"],
        cwd=clone,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(clone)},
    )
    assert proc.returncode == 0, proc.stderr
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
