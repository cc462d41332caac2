"""Offline diff between two revisions: plan each in a git worktree (with that revision's own
code and config), then compare resources by URN, property by property, with the cost change.

Replacement marks are best effort: a change to a property listed in REPLACES for its type (the
provider's ForceNew properties we know of) or in the resource's `replaceOnChanges` is shown as
a replacement. The real `pulumi preview` is the authority; this is what reviewers see on pull
requests from forks, where no cloud credentials exist.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops import stackfile

#: Properties whose change replaces the resource (ForceNew in the providers), per type.
REPLACES: dict[str, frozenset[str]] = {
    "aws:s3/bucket:Bucket": frozenset({"bucket", "bucketPrefix", "region", "objectLockEnabled"}),
    "aws:kms/key:Key": frozenset({"customerMasterKeySpec", "keyUsage", "region", "multiRegion"}),
    "aws:efs/fileSystem:FileSystem": frozenset(
        {
            "creationToken",
            "encrypted",
            "kmsKeyId",
            "performanceMode",
            "availabilityZoneName",
            "region",
        }
    ),
    "aws:efs/mountTarget:MountTarget": frozenset({"fileSystemId", "subnetId", "ipAddress"}),
    "aws:efs/accessPoint:AccessPoint": frozenset({"fileSystemId", "posixUser", "rootDirectory"}),
    "aws:ec2/securityGroup:SecurityGroup": frozenset(
        {"name", "namePrefix", "description", "vpcId"}
    ),
    "aws:acm/certificate:Certificate": frozenset(
        {"domainName", "subjectAlternativeNames", "validationMethod"}
    ),
    "aws:iam/role:Role": frozenset({"name", "namePrefix"}),
    "aws:backup/vault:Vault": frozenset({"name", "kmsKeyArn"}),
    "cloudflare:index/r2Bucket:R2Bucket": frozenset(
        {"accountId", "name", "location", "jurisdiction", "storageClass"}
    ),
    "cloudflare:index/r2CustomDomain:R2CustomDomain": frozenset({"domain", "zoneId", "bucketName"}),
    "cloudflare:index/accountToken:AccountToken": frozenset({"accountId"}),
}


@dataclass
class Change:
    urn: str
    type: str
    name: str
    kind: str  # "add" | "remove" | "update" | "replace"
    properties: list[tuple[str, Any, Any]] = field(default_factory=list)
    replaced_by: list[str] = field(default_factory=list)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": [1]}}` -> `{"a.b[0]": 1}`; JSON-in-string policies are expanded."""
    if isinstance(value, str) and value[:1] in "{[":
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _top(path: str) -> str:
    return path.split(".")[0].split("[")[0]


def compare(base: dict[str, Any], head: dict[str, Any]) -> list[Change]:
    old = {r["urn"]: r for r in base["resources"]}
    new = {r["urn"]: r for r in head["resources"]}
    # A resource adopting a former name (`aliases`) is the old resource, renamed.
    for urn, r in list(new.items()):
        for alias in r.get("aliases") or []:
            former = f"{urn.rsplit('::', 1)[0]}::{alias}"
            if former in old and former not in new and urn not in old:
                old[urn] = old.pop(former)
    changes: list[Change] = []
    for urn in sorted(old.keys() | new.keys()):
        if urn not in old:
            r = new[urn]
            changes.append(Change(urn, r["type"], r["name"], "add"))
        elif urn not in new:
            r = old[urn]
            changes.append(Change(urn, r["type"], r["name"], "remove"))
        else:
            a, b = flatten(old[urn]["inputs"]), flatten(new[urn]["inputs"])
            props = [
                (k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)
            ]
            for option in ("protect", "retainOnDelete", "provider"):
                if old[urn].get(option) != new[urn].get(option):
                    props.append((f"(option) {option}", old[urn].get(option), new[urn].get(option)))
            if not props:
                continue
            r = new[urn]
            forcing = REPLACES.get(r["type"], frozenset()) | set(r.get("replaceOnChanges") or [])
            replaced_by = sorted(
                {_top(k) for k, _, _ in props if _top(k) in forcing or "*" in forcing}
            )
            if old[urn].get("provider") != r.get("provider"):
                replaced_by.append("(provider)")  # the engine replaces on a provider change
            kind = "replace" if replaced_by else "update"
            changes.append(Change(urn, r["type"], r["name"], kind, props, replaced_by))
    return changes


@contextlib.contextmanager
def worktree(repo: Path, ref: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ops-diff-"))
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", "--force", str(path), ref],
        check=True,
        capture_output=True,
        text=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "remove", "--force", str(path)],
            capture_output=True,
        )


def plan_revision(root: Path, stack: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(plan JSON, cost JSON) of the checkout at `root`, run with its own code."""
    env = {**os.environ, "PYTHONPATH": str(root)}

    def run(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "ops", *args], cwd=root, env=env, capture_output=True, text=True
        )
        if proc.returncode not in (0, 1):  # 1 = mandatory policy violations, still a plan
            raise RuntimeError(f"`ops {' '.join(args)}` failed in {root}:\n{proc.stderr.strip()}")
        return proc.stdout

    # Deployed mode: the base is a deployed stack, and comparing known values shows more than
    # comparing "[unknown]" with "[unknown]". Revisions from before `--mode` plan that way.
    try:
        plan = json.loads(run("plan", "--stack", stack, "--json", "--mode", "deployed"))
    except RuntimeError as err:
        if "--mode" not in str(err):
            raise
        plan = json.loads(run("plan", "--stack", stack, "--json"))
    try:
        cost = json.loads(run("cost", "--stack", stack, "--json"))
    except (RuntimeError, ValueError):
        cost = None  # revisions from before `ops cost`
    return plan, cost


def diff(
    base: str, head: str | None, stack: str = "prod", repo: Path = stackfile.ROOT
) -> tuple[list[Change], float | None, float | None]:
    with worktree(repo, base) as base_root:
        base_plan, base_cost = plan_revision(base_root, stack)
    if head is None:
        head_plan, head_cost = plan_revision(repo, stack)
    else:
        with worktree(repo, head) as head_root:
            head_plan, head_cost = plan_revision(head_root, stack)
    return (
        compare(base_plan, head_plan),
        base_cost["total"] if base_cost else None,
        head_cost["total"] if head_cost else None,
    )


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def render(
    changes: list[Change], base_total: float | None, head_total: float | None, base: str, head: str
) -> str:
    counts = {k: sum(c.kind == k for c in changes) for k in ("add", "update", "replace", "remove")}
    lines = [
        f"offline diff {base}..{head}: {counts['add']} to add, {counts['update']} to update, "
        f"{counts['replace']} to replace, {counts['remove']} to remove"
    ]
    marks = {"add": "+", "remove": "-", "update": "~", "replace": "+-"}
    for c in changes:
        extra = f" (replaced: {', '.join(c.replaced_by)} changed)" if c.kind == "replace" else ""
        lines.append(f"{marks[c.kind]:>2} {c.type} {c.name}{extra}")
        for path, old, new in c.properties:
            lines.append(f"      {path}: {_short(old)} => {_short(new)}")
    if base_total is not None and head_total is not None:
        delta = head_total - base_total
        sign = "+" if delta >= 0 else "-"
        lines.append(
            f"monthly cost: ${base_total:,.2f} -> ${head_total:,.2f} ({sign}${abs(delta):,.2f})"
        )
    elif head_total is not None:
        lines.append(f"monthly cost: ${head_total:,.2f} (no estimate at {base})")
    return "\n".join(lines)
