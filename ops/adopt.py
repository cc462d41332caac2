"""`python -m ops import`: the bulk import file `pulumi import --file` reads, for the storage
that exists already (every resource of the stack file with an `import:` block).

The file is made from the program itself, run under the mocks: each entry is a resource the
program registers, with the type, logical name and parent chain it registers it with (so
`pulumi preview` after the import finds every adopted resource at the URN it expects: no
create, no replace), and the import id `components/config/adoption.py` computes, the same id
the program carries as the `import` resource option. The components that parent them are
entries too (`"component": true`): they do not exist before the first `pulumi up`, and Pulumi
creates them empty during the import (pulumi/pulumi#14467).

`file_urns` reads a file the way the Pulumi CLI does (`parseImportFile`: names and logical
names, parents by name or through `nameTable`, URNs from the parent's type chain), so tests and
`--check` compare its URNs with what the program registers.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from components.config.adoption import Adopted, ImportId
from ops.mocks import Registration
from ops.plan import Plan, short_type
from ops.stackfile import StackFile

#: The Python SDK of each provider package: its version is the provider plugin's.
PROVIDER_SDKS = {"aws": "pulumi_aws", "cloudflare": "pulumi_cloudflare"}
#: Children the providers cannot import (pulumi-cloudflare documents "does not currently
#: support `pulumi import`"): the first `pulumi up` writes them over what exists.
NOT_IMPORTABLE = {
    "cloudflare:index/r2BucketCors:R2BucketCors",
    "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
    "cloudflare:index/r2ManagedDomain:R2ManagedDomain",
    "cloudflare:index/r2CustomDomain:R2CustomDomain",
}
#: Never imported: a token's secret is shown once, at creation, and cannot be read back.
TOKENS = {"cloudflare:index/accountToken:AccountToken", "cloudflare:index/apiToken:ApiToken"}


class AdoptError(Exception):
    """The import cannot be written from what was given (exit 2)."""


class ProgramMismatch(Exception):
    """The program and the import ids disagree (a defect of the program: exit 1)."""


@dataclass(frozen=True)
class Entry:
    """One resource of the import file."""

    urn: str
    type: str
    name: str
    """The logical name the program gives it."""
    parent: str | None
    """The parent's URN (None: the stack)."""
    id: str | None = None
    """The import id; None for a component."""
    source: str = ""
    carried: bool = False
    """Whether the program also carries the id as the `import` resource option."""

    @property
    def component(self) -> bool:
        return self.id is None


@dataclass
class Adoption:
    stack: str
    project: str
    entries: list[Entry]
    """Components first (parents before children), then the adopted resources."""
    created: list[Registration]
    """Custom resources the first `pulumi up` creates (everything else the program has)."""
    in_state: list[Entry] = field(default_factory=list)
    """Entries left out because the stack's state holds them already (`--state`)."""

    @property
    def resources(self) -> list[Entry]:
        return [e for e in self.entries if not e.component]


# ------------------------------------------------------------------- found import blocks

#: Where an `import:` block sits under an app, by kind.
_BLOCK_PATHS = {
    "s3": ("s3",),
    "replica": ("s3", "replication"),
    "r2": ("r2",),
    "cdn": ("cdn",),
    "efs": ("efs",),
}


def block_path(kind: str, app: str, key: str) -> str:
    """The config path of an `import:` block, e.g. `apps.x.s3.images.replication.import`."""
    section, *rest = _BLOCK_PATHS[kind]
    return ".".join(["apps", app, section, key, *rest, "import"])


def merge_blocks(
    sf: StackFile, blocks: Mapping[tuple[str, str, str], Mapping[str, Any]], origin: str
) -> tuple[StackFile, list[str], dict[str, Any]]:
    """The stack file with the `import:` blocks found (by `--discover` or in a Terraform
    state, `origin`) merged in: an S3 bucket's existing settings are the union of both;
    any id the stack file gives must equal the one found. Returns the new stack file, the
    conflicts (each a message naming both values), and the blocks that changed (path ->
    resulting block) for the person to copy into the stack file."""
    values = copy.deepcopy(sf.values)
    apps = values.get(f"{sf.project}:apps")
    conflicts: list[str] = []
    changed: dict[str, Any] = {}
    for (kind, app, key), found in sorted(blocks.items()):
        section, *rest = _BLOCK_PATHS[kind]
        node = apps.get(app, {}).get(section, {}).get(key) if isinstance(apps, dict) else None
        for step in rest:
            node = node.get(step) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue  # not declared: the config validation reports it, nothing to merge into
        path = block_path(kind, app, key)
        existing = node.get("import")
        if isinstance(existing, dict) and isinstance(existing.get("settings"), list):
            existing = {**existing, "settings": sorted(existing["settings"])}
        merged: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
        for name, value in found.items():
            if name == "settings":
                have = merged.get("settings", ["encryption"])
                merged["settings"] = sorted({*have, *value}) if isinstance(have, list) else value
            elif name == "mountTargets":
                targets = dict(merged.get("mountTargets") or {})
                for az, target in value.items():
                    if targets.get(az) not in (None, target):
                        conflicts.append(
                            f"{path}.mountTargets.{az} is {targets[az]!r} in the stack file, "
                            f"{origin} says {target!r}; accepted: the id of the mount target "
                            "in that AZ"
                        )
                    targets[az] = target
                merged["mountTargets"] = targets
            elif merged.get(name) not in (None, value):
                conflicts.append(
                    f"{path}.{name} is {merged[name]!r} in the stack file, {origin} says "
                    f"{value!r}; accepted: the id of the resource that exists"
                )
            else:
                merged[name] = value
        if merged != existing:
            node["import"] = merged
            changed[path] = merged
    return replace(sf, values=values), conflicts, changed


def efs_replacement_problems(
    found: str,
    where: str,
    efs: Any,
    *,
    encrypted: Any,
    performance_mode: Any,
    one_zone: Any,
    kms_key_arn: str,
) -> list[str]:
    """What of an existing file system (`found`: where it was seen) the stack file (`efs`
    at `where`) would change by replacement: EFS cannot turn encryption on, change the key,
    the performance mode or the One Zone placement of a file system."""
    problems = []
    if encrypted is not True:
        problems.append(
            f"{found}: not encrypted, and encryption cannot be turned on: the first `pulumi up` "
            "would replace it; accepted: copy the data onto a file system the stack creates "
            f"(no import block for {where})"
        )
    if performance_mode not in (None, efs.performance_mode):
        problems.append(
            f"{found}: performance mode {performance_mode!r}, {where} declares "
            f"{efs.performance_mode!r}: the first `pulumi up` would replace it; accepted: "
            f"performanceMode {performance_mode!r}"
        )
    if one_zone:
        problems.append(
            f"{found}: a One Zone file system ({one_zone}); {where} declares a Regional one: "
            "the first `pulumi up` would replace it"
        )
    if efs.kms_key_arn is not None and kms_key_arn != efs.kms_key_arn:
        problems.append(
            f"{found}: encrypted with {kms_key_arn!r}, {where}.kmsKeyArn names "
            f"{efs.kms_key_arn!r}: the first `pulumi up` would replace it; accepted: that "
            "key's ARN as kmsKeyArn"
        )
    return problems


# ------------------------------------------------------------------------------ build


def _matches(r: Registration, imp: ImportId) -> bool:
    if r.type != imp.type:
        return False
    if imp.carried:
        return r.import_id == imp.id
    return all(r.inputs.get(key) == value for key, value in imp.match)


def collect(plan: Plan, adopted: Sequence[Adopted], app: str | None = None) -> Adoption:
    """The entries of every adopted resource (of `app` only, when given) and of the
    components above them. Every import id must belong to exactly one registration, and every
    id the program carries must be one of them: anything else means the program and
    `components/config/adoption.py` disagree."""
    custom = [r for r in plan.resources if r.custom]
    found: dict[str, Entry] = {}
    other_apps: set[str] = set()
    for group in adopted:
        for role, imp in group.imports.items():
            hits = [r for r in custom if _matches(r, imp)]
            if len(hits) != 1:
                raise ProgramMismatch(
                    f"{imp.source}: {len(hits)} resources of type {imp.type} take the import id "
                    f"{imp.id!r} (role {role!r} of {group.kind} {group.app}/{group.key}); "
                    f"expected exactly one: {[r.name for r in hits]}"
                )
            r = hits[0]
            if app not in (None, group.app):
                other_apps.add(r.urn)
                continue
            found[r.urn] = Entry(r.urn, r.type, r.name, r.parent, imp.id, imp.source, imp.carried)
    stray = [
        r.name
        for r in custom
        if r.import_id is not None and r.urn not in found and r.urn not in other_apps
    ]
    if stray:
        raise ProgramMismatch(f"the program carries import ids no import: block gives: {stray}")
    by_urn = {r.urn: r for r in plan.resources}
    components: dict[str, Entry] = {}
    for entry in list(found.values()):
        parent = entry.parent
        while parent is not None:
            owner = by_urn[parent]
            if owner.custom and parent not in found:
                raise ProgramMismatch(
                    f"{entry.name} is adopted but its parent {owner.name} is a resource that "
                    "is not: an import file cannot express that"
                )
            if not owner.custom:
                components[parent] = Entry(parent, owner.type, owner.name, owner.parent)
            parent = owner.parent
    depth = {urn: urn.split("::")[2].count("$") for urn in components}
    ordered = sorted(components.values(), key=lambda e: (depth[e.urn], e.urn))
    ordered += sorted(found.values(), key=lambda e: e.urn)
    created = [r for r in custom if r.urn not in found and r.urn not in other_apps]
    if app is not None:
        mine = {e.parent for e in found.values()}
        created = [r for r in created if r.parent in mine]
    return Adoption(plan.stack, plan.project, ordered, created)


def without_state(adoption: Adoption, state: Mapping[str, Any]) -> Adoption:
    """Leave out what a `pulumi stack export` already holds (a re-run after a partial
    import, or resources the `import` option adopted at a `pulumi up`)."""
    deployment = state.get("deployment") if isinstance(state, Mapping) else None
    resources = deployment.get("resources") if isinstance(deployment, Mapping) else None
    if not isinstance(resources, list):
        raise AdoptError(
            "--state: not a `pulumi stack export` document; accepted: the JSON "
            "`pulumi stack export --file state.json` writes (deployment.resources)"
        )
    urns = {r.get("urn") for r in resources if isinstance(r, Mapping)}
    kept = [e for e in adoption.entries if e.urn not in urns]
    dropped = [e for e in adoption.entries if e.urn in urns]
    return Adoption(adoption.stack, adoption.project, kept, adoption.created, dropped)


def _version(typ: str) -> str | None:
    sdk = PROVIDER_SDKS.get(typ.split(":", 1)[0])
    if sdk is None:
        return None
    try:
        return importlib.metadata.version(sdk)
    except importlib.metadata.PackageNotFoundError:
        return None


def import_file(adoption: Adoption) -> dict[str, Any]:
    """The document for `pulumi import --file`: `name` is the reference other entries use
    for `parent` (the logical name, made unique when two resources share it; `logicalName`
    then carries the real one); a parent already in the state (`--state`) is referenced
    through `nameTable` by its URN; `version` pins the provider plugin to the SDK the program
    uses, so the default provider the import creates is the one the program registers."""
    taken: dict[str, int] = {}
    for e in [*adoption.entries, *adoption.in_state]:
        taken[e.name] = taken.get(e.name, 0) + 1
    names: dict[str, str] = {}
    used: set[str] = set()
    for e in [*adoption.entries, *adoption.in_state]:
        name = e.name
        if taken[e.name] > 1:
            name = f"{e.name}#{short_type(e.type)}"
            n = 2
            while name in used:
                name, n = f"{e.name}#{short_type(e.type)}{n}", n + 1
        used.add(name)
        names[e.urn] = name
    kept = {e.urn for e in adoption.entries}
    table = {names[e.urn]: e.urn for e in adoption.in_state}
    resources = []
    for e in adoption.entries:
        spec: dict[str, Any] = {"type": e.type, "name": names[e.urn]}
        if names[e.urn] != e.name:
            spec["logicalName"] = e.name
        if e.component:
            spec["component"] = True
        else:
            spec["id"] = e.id
            version = _version(e.type)
            if version is not None:
                spec["version"] = version
        if e.parent is not None:
            spec["parent"] = names[e.parent]
            if e.parent not in kept and e.parent not in table.values():
                raise ProgramMismatch(f"{e.name}: its parent {e.parent} is not in the file")
        resources.append(spec)
    doc: dict[str, Any] = {"resources": resources}
    if table:
        doc["nameTable"] = table
    return doc


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=4, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------ read


@dataclass(frozen=True)
class FileEntry:
    urn: str
    type: str
    id: str | None
    component: bool


def file_urns(doc: Any, stack: str, project: str) -> dict[str, FileEntry]:
    """The URN of every entry of an import file, computed as `pulumi import --file` does
    (pulumi/pulumi `pkg/cmd/pulumi/operations/import.go`, `parseImportFile`). Raises
    AdoptError listing every problem the CLI would refuse."""
    problems: list[str] = []
    if not isinstance(doc, Mapping) or not isinstance(doc.get("resources"), list):
        raise AdoptError("not an import file; accepted: a JSON object with a 'resources' list")
    table = doc.get("nameTable") or {}
    if not isinstance(table, Mapping):
        raise AdoptError("'nameTable' is not a mapping of names to URNs")
    specs: list[dict[str, Any]] = []
    for i, raw in enumerate(doc["resources"]):
        if not isinstance(raw, Mapping):
            problems.append(f"resource {i} is not an object")
            continue
        spec = dict(raw)
        spec["name"] = spec.get("name") or spec.get("logicalName") or ""
        spec["logicalName"] = spec.get("logicalName") or spec["name"]
        what = f"resource {spec['name'] or i!r}"
        if not spec.get("type"):
            problems.append(f"{what} has no type")
        if not spec["name"]:
            problems.append(f"{what} has no name")
        if not spec.get("component") and not spec.get("id"):
            problems.append(f"{what} has no ID")
        if spec.get("component") and spec.get("id"):
            problems.append(f"{what} has an ID, but is marked as a component")
        specs.append(spec)
    counts: dict[str, int] = {}
    for spec in specs:
        counts[spec["name"]] = counts.get(spec["name"], 0) + 1
    urns: dict[str, str] = {name: str(urn) for name, urn in table.items()}
    out: dict[str, FileEntry] = {}
    pending = list(specs)
    while pending and not problems:
        progressed = False
        for spec in list(pending):
            parent = spec.get("parent")
            parent_type = ""
            if parent:
                if counts.get(parent, 0) > 1:
                    problems.append(f"resource {spec['name']!r} has an ambiguous parent")
                    continue
                if parent in urns:
                    parent_type = urns[parent].split("::")[2]
                elif parent in counts:
                    continue  # its parent's URN is not known yet
                else:
                    problems.append(
                        f"the parent {parent!r} for resource {spec['name']!r} has no entry in "
                        "'nameTable'"
                    )
                    continue
            qualified = f"{parent_type}${spec['type']}" if parent_type else spec["type"]
            urn = f"urn:pulumi:{stack}::{project}::{qualified}::{spec['logicalName']}"
            if urn in out or urn in table.values():
                problems.append(f"resource {spec['name']!r} has an ambiguous URN")
            urns[spec["name"]] = urn
            out[urn] = FileEntry(urn, spec["type"], spec.get("id"), bool(spec.get("component")))
            pending.remove(spec)
            progressed = True
        if not progressed and not problems:
            problems.append(f"parents form a cycle: {[s['name'] for s in pending]}")
    if problems:
        raise AdoptError("; ".join(problems))
    return out


def check_file(doc: Any, plan: Plan) -> list[str]:
    """What differs between an import file and the program (run as `plan`): an entry whose
    URN the program does not register, with that type, or (for an id the program carries as
    its `import` option) with that id. Empty when `pulumi preview` after the import finds
    every entry where the program expects it."""
    problems: list[str] = []
    registered = {r.urn: r for r in plan.resources}
    for urn, entry in file_urns(doc, plan.stack, plan.project).items():
        r = registered.get(urn)
        if r is None:
            problems.append(f"{urn}: the program registers no such resource (renamed or moved?)")
        elif r.type != entry.type:
            problems.append(f"{urn}: the program registers a {r.type}, the file a {entry.type}")
        elif r.custom == entry.component:
            kind = "component" if entry.component else "resource"
            problems.append(f"{urn}: a {kind} in the file, the other kind in the program")
        elif r.import_id is not None and r.import_id != entry.id:
            problems.append(f"{urn}: the program imports {r.import_id!r}, the file {entry.id!r}")
    return problems


# ------------------------------------------------------------------------------ report


def _groups(items: Iterable[Registration]) -> dict[str, list[Registration]]:
    out: dict[str, list[Registration]] = {}
    for r in items:
        out.setdefault(r.parent or "", []).append(r)
    return out


def render(
    adoption: Adoption,
    plan: Plan,
    out: str | None,
    notes: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """The report: what the file adopts (with each id's source, and where it was found:
    `notes`, by type and id), what the first `pulumi up` creates or writes beside it, and
    what it never imports."""
    lines = []
    notes = notes or {}
    resources = adoption.resources
    lines.append(
        f"{len(resources)} existing resources to import into {plan.project}/{plan.stack}"
        + (f" ({out})" if out else "")
        + f", under {sum(e.component for e in adoption.entries)} components:"
    )
    width = max((len(e.name) for e in resources), default=0)
    for e in resources:
        route = "" if e.carried else "  [file only]"
        found = notes.get((e.type, e.id or ""))
        source = f"{e.source} ({found})" if found else e.source
        lines.append(f"  {e.name:<{width}}  {short_type(e.type)} {e.id}  <- {source}{route}")
    if any(not e.carried for e in resources):
        lines.append(
            "  [file only]: the program does not carry this id as the `import` option (the "
            "provider's id differs from its import id), so the bulk import adopts it"
        )
    if adoption.in_state:
        lines.append(f"left out, already in the stack's state: {len(adoption.in_state)}")
        lines += [f"  {e.name}" for e in adoption.in_state if not e.component]
    adopted_parents = {e.parent for e in resources}
    beside = [r for r in adoption.created if r.parent in adopted_parents]
    never = [r for r in beside if r.type in NOT_IMPORTABLE]
    written = [r for r in beside if r.type not in NOT_IMPORTABLE]
    if written:
        lines.append(
            "created by the first `pulumi up` beside an adopted resource (not listed as "
            "existing; for an S3 bucket's configuration, creating it writes the stack's over "
            "whatever the bucket has: list it under import.settings to see the change in "
            "`pulumi preview --diff` instead):"
        )
        lines += [f"  {r.name}  {short_type(r.type)}" for r in written]
    if never:
        lines.append(
            "written by the first `pulumi up` (the provider cannot import them, so the stack's "
            "replace the bucket's: compare them with `wrangler r2 bucket cors list` / "
            "`lifecycle list` first):"
        )
        lines += [f"  {r.name}  {short_type(r.type)}" for r in never]
    tokens = [r for r in plan.resources if r.type in TOKENS]
    if tokens:
        lines.append(
            f"never imported: R2 tokens ({len(tokens)} in the stack; a token's secret cannot be "
            "read back): the stack creates its own and services move onto them by rotation "
            "(README)"
        )
    new = [r for r in adoption.created if r.parent not in adopted_parents]
    groups = _groups(new)
    lines.append(
        f"new with this stack: {len(new)} resources in {len(groups)} components "
        "(created by the first `pulumi up`)"
    )
    return "\n".join(lines)
