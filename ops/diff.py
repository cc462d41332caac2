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
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops import stackfile
from ops.cost import money

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


class DiffError(RuntimeError):
    """The diff could not be made; `exit_code` 2 for a mistake in the arguments or in a
    revision's stack file, 1 for a revision that cannot be planned."""

    def __init__(self, message: str, exit_code: int = 1, stderr: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.stderr = stderr
        """The failing child's own error output, when a child failed."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise DiffError("git is not installed; accepted: a machine with git on PATH", 2) from None


def resolve(repo: Path, ref: str, flag: str) -> str:
    """The commit `ref` names in `repo`, or a DiffError saying what is accepted."""
    accepted = "a branch, tag or commit, e.g. origin/main or HEAD~1 (`git fetch` first)"
    if not ref or ref.startswith("-"):
        raise DiffError(f"{flag} {ref!r} is not a git revision; accepted: {accepted}", 2)
    proc = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if proc.returncode == 0:
        return proc.stdout.strip()
    if "not a git repository" in proc.stderr:
        raise DiffError(
            f"{repo} is not a git repository; accepted: run `ops diff` in a clone of this "
            "project (it plans each revision in a git worktree)",
            2,
        )
    raise DiffError(f"{flag} {ref!r} is not a commit in {repo}; accepted: {accepted}", 2)


@contextlib.contextmanager
def worktree(repo: Path, commit: str) -> Iterator[Path]:
    """A detached worktree of `commit` in a temporary directory, removed (directory and git's
    record of it) however the block ends: error, Ctrl-C or success."""
    path = Path(tempfile.mkdtemp(prefix="ops-diff-"))
    try:
        proc = _git(repo, "worktree", "add", "--detach", "--force", str(path), commit)
        if proc.returncode != 0:
            raise DiffError(f"git worktree add {commit} failed: {proc.stderr.strip()}")
        yield path
    finally:
        _git(repo, "worktree", "remove", "--force", str(path))
        shutil.rmtree(path, ignore_errors=True)
        _git(repo, "worktree", "prune")


def _indent(text: str) -> str:
    lines = text.strip().splitlines() or ["(no output)"]
    return "\n".join(f"  | {line}" for line in lines[-40:])


def plan_revision(
    root: Path, stack: str, label: str = "the working tree"
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(plan JSON, cost JSON) of the checkout at `root`, run with its own code."""
    env = {**os.environ, "PYTHONPATH": str(root)}

    def run(*args: str) -> Any:
        proc = subprocess.run(
            [sys.executable, "-m", "ops", *args], cwd=root, env=env, capture_output=True, text=True
        )
        if proc.returncode in (130, -signal.SIGINT):
            raise KeyboardInterrupt
        if proc.returncode in (0, 1):  # 1 = mandatory policy violations, still a plan
            with contextlib.suppress(ValueError):
                return json.loads(proc.stdout)
        raise DiffError(
            f"`python -m ops {' '.join(args)}` failed for {label} (exit {proc.returncode}); "
            f"its own error:\n{_indent(proc.stderr)}",
            2 if proc.returncode == 2 else 1,
            proc.stderr,
        )

    # Deployed mode: the base is a deployed stack, and comparing known values shows more than
    # comparing "[unknown]" with "[unknown]". Revisions from before `--mode` plan that way.
    try:
        plan = run("plan", "--stack", stack, "--json", "--mode", "deployed")
    except DiffError as err:
        if "unrecognized arguments: --mode" not in err.stderr:
            raise
        plan = run("plan", "--stack", stack, "--json")
    try:
        cost = run("cost", "--stack", stack, "--json")
    except DiffError:
        cost = None  # revisions from before `ops cost`
    return plan, cost


def diff(
    base: str, head: str | None, stack: str = "prod", repo: Path = stackfile.ROOT
) -> tuple[list[Change], float | None, float | None]:
    base_commit = resolve(repo, base, "--base")
    head_commit = resolve(repo, head, "--head") if head is not None else None
    with worktree(repo, base_commit) as base_root:
        base_plan, base_cost = plan_revision(base_root, stack, f"--base {base}")
    if head_commit is None:
        head_plan, head_cost = plan_revision(repo, stack)
    else:
        with worktree(repo, head_commit) as head_root:
            head_plan, head_cost = plan_revision(head_root, stack, f"--head {head}")
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
        sign = "+" if delta >= 0 else ""
        lines.append(
            f"monthly cost: {money(base_total)} -> {money(head_total)} ({sign}{money(delta)})"
        )
    elif head_total is not None:
        lines.append(f"monthly cost: {money(head_total)} (no estimate at {base})")
    return "\n".join(lines)
