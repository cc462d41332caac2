"""R2 key rotation with two generations: status, rotate, retire.

A token's live generations are listed in the stack file (`generations: [2026q3, 2026q4]`, the
last is active) with `rotatedOn`, the day the active one was added. The quarterly cycle:

1. `ops keys rotate` appends the current quarter's generation; `pulumi up` creates the new
   token while the old one stays valid;
2. re-apply the env of every service, verify;
3. `ops keys retire` drops every generation but the active one; `pulumi up` deletes the old
   token. It refuses while the active generation is younger than
   `keyRotation.minOverlapDays`, and (with Cloudflare credentials) while Cloudflare saw the
   old token used within that many days: some service would still be on the old key.

Edits touch only the `generations` and `rotatedOn` values of the tokens concerned: the rest of
the file (comments, order, quoting, line endings, mode) stays byte-for-byte as it was. Every
edit is validated by parsing the resulting config before the file is replaced, atomically.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.config import R2Token, StackConfig, generation_key
from components.config.r2 import GENERATION_ACCEPTED, is_generation
from components.schema import is_secret
from ops import files, stackfile
from ops.cloudflare import ApiToken, CloudflareError, TokensApi

#: The flag that lets `retire` go ahead inside the overlap; its name says what it risks.
FORCE_FLAG = "--risk-breaking-services"


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

    def cloudflare_name(self, generation: str) -> str:
        """The Cloudflare token's name, as the program names it (`__main__.py` passes
        `token_name=f"{app}-{key}"`, `R2ApiToken` appends the generation)."""
        return f"{self.app}-{self.key}-{generation}"


def quarter_label(day: dt.date) -> str:
    return f"{day.year}q{(day.month - 1) // 3 + 1}"


def generation_start(label: str) -> dt.date:
    """First day of the quarter a generation label names (`2026q4` -> 2026-10-01)."""
    year, quarter, _ = generation_key(label)
    return dt.date(year, 3 * (quarter - 1) + 1, 1)


def check_label(label: str) -> str:
    """`--label` as given: ASCII `YYYYqN[letter]`, nothing around it."""
    if not is_generation(label):
        raise KeysError(
            f"--label {label!r} is not a generation label; accepted: {GENERATION_ACCEPTED}"
        )
    return label


def parse_file(
    text: str | bytes, stack: str, project: str, today: dt.date | None = None
) -> StackConfig:
    return stackfile.parse_config(text, stack, project, today)


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
        raise KeysError(
            f"--token {token!r} matches {len(chosen)} tokens; accepted: one of {known} "
            "(`app/key`, or `key` when it is unique)"
        )
    return chosen


def rotated_on(spec: R2Token) -> dt.date:
    """The day the active generation was added (`rotatedOn`, else its quarter's first day)."""
    if spec.rotated_on:
        return dt.date.fromisoformat(spec.rotated_on)
    return generation_start(spec.active)


# ---------------------------------------------------------------------------- status


@dataclass(frozen=True)
class StatusRow:
    token: str
    generation: str
    state: str
    age_days: int
    verdict: str
    ok: bool


def _expired(spec: R2Token, today: dt.date) -> str | None:
    from components.config.common import parse_time

    expires = parse_time(spec.expires_on)
    if expires is not None and expires.date() <= today:
        return f"EXPIRED: expiresOn {spec.expires_on} has passed, set a later one and `pulumi up`"
    return None


def status(cfg: StackConfig, today: dt.date) -> list[StatusRow]:
    """One row per live generation. Not ok: an active key older than maxAgeDays, a retired
    one past graceDays, an expired key, or a negative age (rotatedOn after today)."""
    policy = cfg.key_rotation
    rows: list[StatusRow] = []
    for ref in tokens(cfg):
        spec = ref.spec
        rotated = rotated_on(spec)
        since = (today - rotated).days
        expired = _expired(spec, today)
        for generation in spec.generations:
            if generation == spec.active:
                state, age = "active", since
                ok = age <= policy.max_age_days
                verdict = (
                    f"ok, rotate within {policy.max_age_days - age} d"
                    if ok
                    else f"OVERDUE: older than {policy.max_age_days} d, run `ops keys rotate`"
                )
            else:
                state, age = "retired", (today - generation_start(generation)).days
                ok = since <= policy.grace_days
                verdict = (
                    f"retiring, {policy.grace_days - since} d of grace left"
                    if ok
                    else f"PAST GRACE: live {since} d after rotation, run `ops keys retire`"
                )
            if since < 0:
                ok = False
                verdict = (
                    f"WRONG DATE: rotatedOn {rotated} is {-since} d after {today}; correct "
                    "rotatedOn (or --today)"
                )
            elif expired:
                ok, verdict = False, expired
            rows.append(StatusRow(ref.label, generation, state, age, verdict, ok))
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
            raise KeysError(
                f"the stack file has no {'.'.join(path)}; accepted: the token written under "
                f"'{project}:apps' (namespaced keys are edited in place)"
            )
        node = found[1]
    if not isinstance(node, yaml.MappingNode):
        raise KeysError(f"{'.'.join(path)} is not a mapping; accepted: a token mapping")
    return node


def _edit_token(
    text: str, project: str, ref: TokenRef, generations: list[str], rotated: str | None
) -> str:
    """Rewrite one token's `generations` (and `rotatedOn`) in place, in the file's own line
    endings."""
    root = yaml.compose(text)
    if root is None:
        raise KeysError("the stack file is empty; accepted: a stack file with R2 tokens")
    token = _token_node(root, project, ref.app, ref.key)
    found = _node(token, "generations")
    assert found is not None  # a parsed token always has generations
    gen_key, gen_value = found
    if not (isinstance(gen_value, yaml.SequenceNode) and gen_value.flow_style):
        raise KeysError(
            f"{ref.label}: generations is not a one-line list; accepted: e.g. "
            "`generations: [2026q3, 2026q4]`, which can be edited in place"
        )
    edits: list[tuple[int, int, str]] = [
        (gen_value.start_mark.index, gen_value.end_mark.index, f"[{', '.join(generations)}]")
    ]
    if rotated is not None:
        existing = _node(token, "rotatedOn")
        if existing is not None:
            value = existing[1]
            edits.append((value.start_mark.index, value.end_mark.index, f'"{rotated}"'))
        else:
            line_end = text.index("\n", gen_value.end_mark.index) + 1
            newline = "\r\n" if text[line_end - 2 : line_end] == "\r\n" else "\n"
            indent = " " * gen_key.start_mark.column
            edits.append((line_end, line_end, f'{indent}rotatedOn: "{rotated}"{newline}'))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _read(path: Path, flag: str) -> str:
    return stackfile.read_text(path, flag=flag)


def _write(path: Path, text: str, stack: str, project: str, today: dt.date) -> None:
    parse_file(text, stack, project, today)  # never write a file the program would refuse
    try:
        files.write_atomic(path, text)
    except files.WriteError as err:
        raise WriteFailed(str(err)) from None


class WriteFailed(KeysError):
    """The edit was valid but the file could not be replaced (it is unchanged)."""


def rotate(
    path: Path,
    *,
    stack: str,
    today: dt.date,
    token: str | None = None,
    label: str | None = None,
    due_only: bool = False,
    project: str | None = None,
    flag: str = "--stack-file",
) -> list[str]:
    """Append the next generation to the selected tokens. Returns one line per change.
    `flag` is the option that named `path` (the message for a missing file names it)."""
    project = project or stackfile.project_name()
    new_label = check_label(label) if label is not None else quarter_label(today)
    text = _read(path, flag)
    cfg = parse_file(text, stack, project, today)
    refs = select(cfg, token)
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
        if not generation_key(new_label) > generation_key(spec.active):
            raise KeysError(
                f"{ref.label} is already at {spec.active} (this quarter's generation); for an "
                f"extra rotation, e.g. after a leak, pass --label {spec.active}b"
            )
        plans.append((ref, [*spec.generations, new_label]))
    for ref, generations in plans:
        text = _edit_token(text, project, ref, generations, today.isoformat())
        changes.append(f"{ref.label}: {' -> '.join(generations)} (rotatedOn {today.isoformat()})")
    if changes:
        _write(path, text, stack, project, today)
    return changes


#: `(token, generation) -> the Cloudflare tokens of that name` (None: no credentials).
UsageLookup = Callable[[TokenRef, str], list[ApiToken]]


def cloudflare_lookup(cfg: StackConfig, api: TokensApi) -> UsageLookup:
    """Lists the account's (or user's) tokens once per owner and finds them by name."""
    listed: dict[str, list[ApiToken]] = {}

    def lookup(ref: TokenRef, generation: str) -> list[ApiToken]:
        owner = ref.spec.owner
        if owner not in listed:
            account = cfg.cloudflare.account_id if cfg.cloudflare else ""
            if owner == "account" and (not account or is_secret(account)):
                raise CloudflareError(
                    "cloudflare.accountId is a `secure:` value, which offline commands never "
                    "decrypt, so the account's tokens cannot be listed"
                )
            listed[owner] = api.tokens(owner, account)
        name = ref.cloudflare_name(generation)
        return [t for t in listed[owner] if t.name == name]

    return lookup


def retire(
    path: Path,
    *,
    stack: str,
    today: dt.date,
    token: str | None = None,
    project: str | None = None,
    force: bool = False,
    api: TokensApi | None = None,
    now: dt.datetime | None = None,
    flag: str = "--stack-file",
) -> list[str]:
    """Drop every generation but the active one. Returns one line per change (and notes).

    Refused, all or nothing, while any selected token's active generation is younger than
    `keyRotation.minOverlapDays`, or while Cloudflare (`api`; None: not asked, and said so)
    reports one of the old generations' tokens used within that many days; `force`
    overrides both. `flag` is the option that named `path`."""
    project = project or stackfile.project_name()
    text = _read(path, flag)
    cfg = parse_file(text, stack, project, today)
    usage = cloudflare_lookup(cfg, api) if api is not None else None
    refs = select(cfg, token)
    rotating = [r for r in refs if len(r.spec.generations) > 1]
    if not rotating:
        names = ", ".join(f"{r.label} ({r.spec.active})" for r in refs)
        raise KeysError(
            f"nothing to retire: {names} {'has' if len(refs) == 1 else 'have'} a single live "
            "generation; retiring it would leave the services without a key"
        )
    overlap = cfg.key_rotation.min_overlap_days
    now = now or dt.datetime.now(dt.UTC)
    refusals: list[str] = []
    notes: list[str] = []
    for ref in rotating:
        age = (today - rotated_on(ref.spec)).days
        if age < overlap:
            refusals.append(
                f"{ref.label}: {ref.spec.active} was added {age} d ago ({ref.spec.rotated_on}), "
                f"less than keyRotation.minOverlapDays ({overlap} d): `pulumi up` and every "
                "service's move to the new key may not have happened yet"
            )
        for generation in ref.spec.generations[:-1]:
            name = ref.cloudflare_name(generation)
            if usage is None:
                notes.append(
                    f"note: Cloudflare was not asked when {name!r} was last used (no "
                    "CLOUDFLARE_API_TOKEN); check the dashboard before `pulumi up`"
                )
                continue
            try:
                found = usage(ref, generation)
            except CloudflareError as err:
                refusals.append(
                    f"{ref.label}: could not ask Cloudflare when {name!r} was last used ({err})"
                )
                continue
            if not found:
                notes.append(f"note: Cloudflare has no token named {name!r} (never deployed?)")
            for api_token in found:
                used = api_token.last_used_on
                if used is not None and now - used < dt.timedelta(days=overlap):
                    refusals.append(
                        f"{ref.label}: Cloudflare token {name!r} (id {api_token.id}) was last "
                        f"used {used.strftime('%Y-%m-%dT%H:%M:%SZ')}, within "
                        f"keyRotation.minOverlapDays ({overlap} d): a service still uses the "
                        "old key; re-apply its env first"
                    )
    if refusals and not force:
        raise KeysError(
            "\n".join(
                [
                    "nothing retired:",
                    *(f"  {r}" for r in refusals),
                    f"accepted: wait, or pass {FORCE_FLAG} to retire anyway (every service "
                    "still on an old key loses storage access at the next `pulumi up`)",
                ]
            )
        )
    changes = []
    for ref in rotating:
        text = _edit_token(text, project, ref, [ref.spec.active], None)
        dropped = ", ".join(ref.spec.generations[:-1])
        changes.append(f"{ref.label}: retired {dropped}, active {ref.spec.active}")
    _write(path, text, stack, project, today)
    if refusals:
        notes.extend(f"forced ({FORCE_FLAG}): {r}" for r in refusals)
    return changes + notes
