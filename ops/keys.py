"""R2 key rotation with two generations: status, rotate, retire.

A token's live generations are listed in the stack file (`generations: [2026q3, 2026q4]`, the
last is active) with `rotatedOn`, the day the active one was added. The quarterly cycle:

1. `ops keys rotate` appends the current quarter's generation; `pulumi up` creates the new
   token while the old one stays valid;
2. re-apply the env of every service, verify;
3. `ops keys retire` drops every generation but the active one; `pulumi up` deletes the old
   token.

Edits touch only the `generations` and `rotatedOn` values of the tokens concerned: the rest of
the file (comments, order, quoting) stays byte-for-byte as it was. Every edit is validated by
parsing the resulting config before the file is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.config import R2Token, StackConfig, generation_key
from ops import stackfile


class KeysError(RuntimeError):
    """An edit that would be unsafe or cannot be made; nothing was written."""


@dataclass(frozen=True)
class TokenRef:
    app: str
    key: str
    spec: R2Token

    @property
    def label(self) -> str:
        return f"{self.app}/{self.key}"


def quarter_label(day: dt.date) -> str:
    return f"{day.year}q{(day.month - 1) // 3 + 1}"


def generation_start(label: str) -> dt.date:
    """First day of the quarter a generation label names (`2026q4` -> 2026-10-01)."""
    year, quarter, _ = generation_key(label)
    return dt.date(year, 3 * (quarter - 1) + 1, 1)


parse_file = stackfile.parse_config


def tokens(cfg: StackConfig) -> list[TokenRef]:
    return [
        TokenRef(app, key, spec)
        for app, app_cfg in cfg.apps.items()
        for key, spec in app_cfg.r2_tokens.items()
    ]


def select(cfg: StackConfig, token: str | None) -> list[TokenRef]:
    refs = tokens(cfg)
    if token is None:
        return refs
    chosen = [r for r in refs if token in (r.label, r.key)]
    if len(chosen) != 1:
        known = ", ".join(r.label for r in refs) or "none"
        raise KeysError(f"--token {token!r} matches {len(chosen)} tokens; tokens: {known}")
    return chosen


# ---------------------------------------------------------------------------- status


@dataclass(frozen=True)
class StatusRow:
    token: str
    generation: str
    state: str
    age_days: int
    verdict: str
    ok: bool


def status(cfg: StackConfig, today: dt.date) -> list[StatusRow]:
    policy = cfg.key_rotation
    rows: list[StatusRow] = []
    for ref in tokens(cfg):
        spec = ref.spec
        rotated = (
            dt.date.fromisoformat(spec.rotated_on)
            if spec.rotated_on
            else generation_start(spec.active)
        )
        for generation in spec.generations:
            if generation == spec.active:
                age = (today - rotated).days
                ok = age <= policy.max_age_days
                verdict = (
                    f"ok, rotate within {policy.max_age_days - age} d"
                    if ok
                    else f"OVERDUE: older than {policy.max_age_days} d, run `ops keys rotate`"
                )
                rows.append(StatusRow(ref.label, generation, "active", age, verdict, ok))
            else:
                live = (today - rotated).days
                ok = live <= policy.grace_days
                verdict = (
                    f"retiring, {policy.grace_days - live} d of grace left"
                    if ok
                    else f"PAST GRACE: live {live} d after rotation, run `ops keys retire`"
                )
                age = (today - generation_start(generation)).days
                rows.append(StatusRow(ref.label, generation, "retired", age, verdict, ok))
    return rows


def render_status(rows: list[StatusRow]) -> str:
    header = ("token", "generation", "state", "age", "verdict")
    table = [header] + [
        (r.token, r.generation, r.state, f"{r.age_days} d", r.verdict) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in table
    )


# ------------------------------------------------------------------------------ edits


def _node(mapping: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for k, v in mapping.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def _token_node(root: yaml.Node, project: str, app: str, key: str) -> yaml.MappingNode:
    path = ["config", f"{project}:apps", app, "r2Tokens", key]
    node = root
    for part in path:
        found = _node(node, part) if isinstance(node, yaml.MappingNode) else None
        if found is None:
            raise KeysError(f"stack file has no {'.'.join(path)}")
        node = found[1]
    if not isinstance(node, yaml.MappingNode):
        raise KeysError(f"{'.'.join(path)} is not a mapping")
    return node


def _edit_token(
    text: str, project: str, ref: TokenRef, generations: list[str], rotated_on: str | None
) -> str:
    """Rewrite one token's `generations` (and `rotatedOn`) in place."""
    root = yaml.compose(text)
    if root is None:
        raise KeysError("the stack file is empty")
    token = _token_node(root, project, ref.app, ref.key)
    found = _node(token, "generations")
    assert found is not None  # a parsed token always has generations
    gen_key, gen_value = found
    if not (isinstance(gen_value, yaml.SequenceNode) and gen_value.flow_style):
        raise KeysError(
            f"{ref.label}: write generations as a one-line list, e.g. "
            "`generations: [2026q3, 2026q4]`, so that it can be edited in place"
        )
    edits: list[tuple[int, int, str]] = [
        (gen_value.start_mark.index, gen_value.end_mark.index, f"[{', '.join(generations)}]")
    ]
    if rotated_on is not None:
        rotated = _node(token, "rotatedOn")
        if rotated is not None:
            value = rotated[1]
            edits.append((value.start_mark.index, value.end_mark.index, f'"{rotated_on}"'))
        else:
            line_end = text.index("\n", gen_value.end_mark.index) + 1
            indent = " " * gen_key.start_mark.column
            edits.append((line_end, line_end, f'{indent}rotatedOn: "{rotated_on}"\n'))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _write(path: Path, text: str, stack: str, project: str) -> None:
    parse_file(text, stack, project)  # never write a file the program would refuse
    path.write_text(text)


def rotate(
    path: Path,
    *,
    stack: str,
    today: dt.date,
    token: str | None = None,
    label: str | None = None,
    due_only: bool = False,
    project: str | None = None,
) -> list[str]:
    """Append the next generation to the selected tokens. Returns one line per change."""
    project = project or stackfile.project_name()
    text = path.read_text()
    cfg = parse_file(text, stack, project)
    refs = select(cfg, token)
    new_label = label or quarter_label(today)
    changes: list[str] = []
    plans: list[tuple[TokenRef, list[str]]] = []
    for ref in refs:
        spec = ref.spec
        due = generation_key(spec.active) < generation_key(quarter_label(today))
        if due_only and not due:
            continue
        if len(spec.generations) > 1:
            raise KeysError(
                f"{ref.label} already has two live generations ({', '.join(spec.generations)}):"
                " finish that rotation with `ops keys retire` (after every service has the new"
                " key) before rotating again"
            )
        try:
            newer = generation_key(new_label) > generation_key(spec.active)
        except ValueError as err:
            raise KeysError(f"--label {new_label!r}: {err}; accepted: e.g. 2026q4b") from err
        if not newer:
            raise KeysError(
                f"{ref.label} is already at {spec.active} (this quarter's generation); for an "
                f"extra rotation, e.g. after a leak, pass --label {spec.active}b"
            )
        plans.append((ref, [*spec.generations, new_label]))
    for ref, generations in plans:
        text = _edit_token(text, project, ref, generations, today.isoformat())
        changes.append(f"{ref.label}: {' -> '.join(generations)} (rotatedOn {today.isoformat()})")
    if changes:
        _write(path, text, stack, project)
    return changes


def retire(
    path: Path, *, stack: str, token: str | None = None, project: str | None = None
) -> list[str]:
    """Drop every generation but the active one. Returns one line per change."""
    project = project or stackfile.project_name()
    text = path.read_text()
    cfg = parse_file(text, stack, project)
    refs = select(cfg, token)
    rotating = [r for r in refs if len(r.spec.generations) > 1]
    if not rotating:
        names = ", ".join(f"{r.label} ({r.spec.active})" for r in refs)
        raise KeysError(
            f"nothing to retire: {names} {'has' if len(refs) == 1 else 'have'} a single live "
            "generation; retiring it would leave the services without a key"
        )
    changes = []
    for ref in rotating:
        text = _edit_token(text, project, ref, [ref.spec.active], None)
        dropped = ", ".join(ref.spec.generations[:-1])
        changes.append(f"{ref.label}: retired {dropped}, active {ref.spec.active}")
    _write(path, text, stack, project)
    return changes
