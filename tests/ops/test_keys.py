"""`ops keys`: status with ages, a full rotate/retire cycle on a copy of the stack file, the
overlap before a retire, and Cloudflare's `last_used_on` asked through a local fake API.

Dates are relative to today: `--today` may not lie in the future, so fixed dates would stop
working as time passes."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ops import keys, stackfile
from ops.cloudflare import TokensApi
from ops.plan import Plan, run_plan
from tests.support.cloudflare_api import API_TOKEN, FakeCloudflare, serve, token

ROOT = stackfile.ROOT
PROD = ROOT / "Pulumi.prod.yaml"
PROJECT = "storage-platform"
ACCOUNT = "0123456789abcdef0123456789abcdef"
TODAY = dt.date.today()
#: Days since the keys of the `stack_copy` were added: more than a quarter (92 days), so a
#: rotation 10 days ago always starts a new generation label.
OLD = 120


def days_ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def aged(text: str, days: int) -> str:
    """The prod file with every token's one generation added `days` ago."""
    born = days_ago(days)
    text = text.replace("generations: [2026q4]", f"generations: [{keys.quarter_label(born)}]")
    return text.replace('rotatedOn: "2026-10-01"', f'rotatedOn: "{born.isoformat()}"')


@pytest.fixture
def stack_copy(tmp_path: Path) -> Path:
    """The prod stack with keys OLD days old: every token is due for rotation."""
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(aged(PROD.read_text(), OLD))
    return path


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def cli(
    *args: str,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], object] | None = None,
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDFLARE_")}
    return subprocess.run(
        [sys.executable, "-m", "ops", "keys", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        preexec_fn=preexec_fn,
    )


def config(path: Path, today: dt.date | None = None) -> keys.StackConfig:
    return keys.parse_file(path.read_bytes(), "prod", PROJECT, today)


# ---------------------------------------------------------------------------- status


def test_status_lists_every_token_with_its_age_and_passes_when_fresh(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(aged(PROD.read_text(), 53))
    proc = cli("status", "--stack-file", str(path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["token", "generation", "state", "age", "verdict"]
    assert any(
        line.startswith("jokbodude/service") and " 53 d " in line and "rotate within 39 d" in line
        for line in lines
    ), lines
    assert {line.split()[0] for line in lines[1:]} == {
        "jokbodude/service",
        "s3-images/presign",
        "fit-files/api",
    }


def test_status_fails_on_a_key_older_than_the_policy(stack_copy: Path) -> None:
    cfg = config(stack_copy)
    born = days_ago(OLD)
    assert all(r.ok for r in keys.status(cfg, born + dt.timedelta(days=92)))
    rows = keys.status(cfg, born + dt.timedelta(days=93))
    assert not any(r.ok for r in rows)
    assert all("OVERDUE" in r.verdict for r in rows)
    proc = cli("status", "--stack-file", str(stack_copy))
    assert proc.returncode == 1
    assert "OVERDUE: older than 92 d" in proc.stdout


def test_status_fails_on_an_expired_key(tmp_path: Path) -> None:
    text = aged(PROD.read_text(), 10).replace(
        "          services: [web, worker]\n",
        f'          services: [web, worker]\n          expiresOn: "{days_ago(1)}T00:00:00Z"\n',
    )
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(text)
    proc = cli("status", "--stack-file", str(path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    expired = [line for line in proc.stdout.splitlines() if "EXPIRED" in line]
    assert len(expired) == 1 and expired[0].startswith("jokbodude/service"), proc.stdout
    # the day before it expired, the same key is fine
    rows = keys.status(config(path), days_ago(2))
    assert all(r.ok for r in rows)


def test_status_fails_on_negative_ages(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(aged(PROD.read_text(), 0))
    proc = cli("status", "--stack-file", str(path), "--today", days_ago(5).isoformat())
    assert proc.returncode == 1
    assert proc.stdout.count("-5 d") == 3 and "WRONG DATE: rotatedOn" in proc.stdout


def test_today_may_not_lie_in_the_future(stack_copy: Path) -> None:
    before = stack_copy.read_bytes()
    tomorrow, later = TODAY + dt.timedelta(days=1), TODAY + dt.timedelta(days=2)
    proc = cli("rotate", "--stack-file", str(stack_copy), "--today", later.isoformat())
    assert proc.returncode == 2
    assert (
        f"argument --today: {later} is 2 days in the future; accepted: a date up to {tomorrow}"
        in proc.stderr
    )
    assert stack_copy.read_bytes() == before
    proc = cli("status", "--stack-file", str(stack_copy), "--today", tomorrow.isoformat())
    assert proc.returncode == 1 and "OVERDUE" in proc.stdout  # tomorrow is fine


def test_today_must_be_a_calendar_date(stack_copy: Path) -> None:
    proc = cli("status", "--stack-file", str(stack_copy), "--today", "2027-02-30")
    assert proc.returncode == 2
    assert (
        "argument --today: '2027-02-30' is not a calendar date; accepted: YYYY-MM-DD" in proc.stderr
    )
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------ edits


def test_full_rotation_cycle_edits_only_the_token_lines(stack_copy: Path) -> None:
    original = stack_copy.read_text()
    old, new = keys.quarter_label(days_ago(OLD)), keys.quarter_label(days_ago(10))
    changes = keys.rotate(stack_copy, stack="prod", today=days_ago(10), token="jokbodude/service")
    assert changes == [f"jokbodude/service: {old} -> {new} (rotatedOn {days_ago(10)})"]
    rotated = stack_copy.read_text()
    assert changed_lines(original, rotated) == [
        f"-          generations: [{old}]",
        f'-          rotatedOn: "{days_ago(OLD)}"',
        f"+          generations: [{old}, {new}]",
        f'+          rotatedOn: "{days_ago(10)}"',
    ]
    # during the overlap both keys exist, status shows the retiring one within its grace
    cfg = config(stack_copy)
    rows = [r for r in keys.status(cfg, days_ago(4)) if r.token == "jokbodude/service"]
    assert [(r.generation, r.state, r.ok) for r in rows] == [
        (old, "retired", True),
        (new, "active", True),
    ]
    late = [r for r in keys.status(cfg, TODAY + dt.timedelta(days=5)) if r.state == "retired"]
    assert late and not late[0].ok and "PAST GRACE" in late[0].verdict

    assert keys.retire(stack_copy, stack="prod", today=TODAY, token="jokbodude/service") == [
        f"jokbodude/service: retired {old}, active {new}",
        f"note: Cloudflare was not asked when 'jokbodude-service-{old}' was last used (no "
        "CLOUDFLARE_API_TOKEN); check the dashboard before `pulumi up`",
    ]
    retired = stack_copy.read_text()
    assert changed_lines(original, retired) == [
        f"-          generations: [{old}]",
        f'-          rotatedOn: "{days_ago(OLD)}"',
        f"+          generations: [{new}]",
        f'+          rotatedOn: "{days_ago(10)}"',
    ]
    assert original.count("#") == retired.count("#"), "comments survive"


def test_cloudflare_names_are_the_programs_token_names(prod_plan: Plan) -> None:
    cfg = stackfile.load("prod").config()
    expected = sorted(
        ref.cloudflare_name(g) for ref in keys.tokens(cfg) for g in ref.spec.generations
    )
    names = sorted(
        r.inputs["name"] for r in prod_plan.by_type("cloudflare:index/accountToken:AccountToken")
    )
    assert names == expected


def test_overlap_is_visible_in_the_offline_plan(stack_copy: Path) -> None:
    old, new = keys.quarter_label(days_ago(OLD)), keys.quarter_label(days_ago(10))
    keys.rotate(stack_copy, stack="prod", today=days_ago(10), token="jokbodude/service")
    plan = run_plan("prod", stack_file=stack_copy)
    names = sorted(r.name for r in plan.by_type("cloudflare:index/accountToken:AccountToken"))
    assert f"jokbodude-service-{old}" in names and f"jokbodude-service-{new}" in names
    files = plan.outputs["endpoints"]["jokbodude"]["r2"]["files"]
    assert files["generation"] == new
    assert plan.get(f"jokbodude-service-{new}").inputs["name"] == f"jokbodude-service-{new}"


def test_rotate_refuses_a_second_rotation_while_two_are_live(stack_copy: Path) -> None:
    keys.rotate(stack_copy, stack="prod", today=days_ago(10), token="jokbodude/service")
    before = stack_copy.read_bytes()
    with pytest.raises(keys.KeysError, match=r"already has two live generations"):
        keys.rotate(stack_copy, stack="prod", today=TODAY, label="2099q1")
    assert stack_copy.read_bytes() == before, "a refused edit writes nothing"


def test_rotate_twice_in_a_quarter_needs_an_explicit_label(stack_copy: Path) -> None:
    stack_copy.write_text(aged(PROD.read_text(), 0))
    active = keys.quarter_label(TODAY)
    with pytest.raises(keys.KeysError, match=rf"already at {active}.*--label {active}b"):
        keys.rotate(stack_copy, stack="prod", today=TODAY, token="jokbodude/service")
    changes = keys.rotate(
        stack_copy, stack="prod", today=TODAY, token="jokbodude/service", label=f"{active}b"
    )
    assert changes == [f"jokbodude/service: {active} -> {active}b (rotatedOn {TODAY})"]


def test_rotate_due_only_skips_tokens_rotated_this_quarter(stack_copy: Path) -> None:
    keys.rotate(stack_copy, stack="prod", today=days_ago(10), token="jokbodude/service")
    keys.retire(stack_copy, stack="prod", today=TODAY, token="jokbodude/service")
    changes = keys.rotate(stack_copy, stack="prod", today=days_ago(10), due_only=True)
    assert [c.split(":")[0] for c in changes] == ["s3-images/presign", "fit-files/api"]


def test_retire_refuses_with_a_single_generation(stack_copy: Path) -> None:
    before = stack_copy.read_bytes()
    proc = cli("retire", "--stack-file", str(stack_copy), "--token", "jokbodude/service")
    assert proc.returncode == 2
    assert "refused: nothing to retire: jokbodude/service" in proc.stderr
    assert "has a single live generation" in proc.stderr
    assert stack_copy.read_bytes() == before


def test_unknown_token_is_refused(stack_copy: Path) -> None:
    with pytest.raises(
        keys.KeysError, match="matches 0 tokens; accepted: one of jokbodude/service"
    ):
        keys.retire(stack_copy, stack="prod", today=TODAY, token="nope")


@pytest.mark.parametrize(
    "label", ["\uff12\uff10\uff19\uff19q1", "2099q1\n", "2099Q1", "2099q5", "2099q1bb", " 2099q1"]
)
def test_labels_are_ascii_yyyyqn_and_nothing_else(stack_copy: Path, label: str) -> None:
    before = stack_copy.read_bytes()
    with pytest.raises(keys.KeysError, match="is not a generation label; accepted: YYYYqN"):
        keys.rotate(stack_copy, stack="prod", today=TODAY, token="jokbodude/service", label=label)
    proc = cli("rotate", "--stack-file", str(stack_copy), "--label", label)
    assert proc.returncode == 2 and "argument --label" in proc.stderr, proc.stderr
    assert stack_copy.read_bytes() == before


def test_a_label_in_the_stack_file_must_be_ascii_too(stack_copy: Path) -> None:
    text = stack_copy.read_text()
    label = keys.quarter_label(days_ago(OLD))
    wide = label.replace("2", "\uff12")
    stack_copy.write_text(text.replace(f"generations: [{label}]", f"generations: [{wide}]", 1))
    with pytest.raises(Exception, match=r"generations\[0\]: .* is not a generation label"):
        config(stack_copy)


def test_cli_rotate_then_retire_round_trip(stack_copy: Path) -> None:
    original = stack_copy.read_text()
    new = keys.quarter_label(days_ago(10))
    proc = cli("rotate", "--stack-file", str(stack_copy), "--today", days_ago(10).isoformat())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(f"-> {new}") == 3
    assert "next: `pulumi up` (creates the new tokens)" in proc.stdout
    proc = cli("retire", "--stack-file", str(stack_copy))
    assert proc.returncode == 0, proc.stderr
    assert "next: `pulumi up` (deletes the old tokens)" in proc.stdout
    assert proc.stdout.count("note: Cloudflare was not asked") == 3
    after = stack_copy.read_text()
    old = keys.quarter_label(days_ago(OLD))
    restored = after.replace(new, old).replace(str(days_ago(10)), str(days_ago(OLD)))
    assert restored == original


# ----------------------------------------------------------------- the overlap rule


def rotated_copy(tmp_path: Path, days: int, **policy: int) -> Path:
    """A copy whose jokbodude token got its second generation `days` ago."""
    text = aged(PROD.read_text(), OLD)
    old, new = keys.quarter_label(days_ago(OLD)), "2099q1"
    text = text.replace(
        f'generations: [{old}]\n          rotatedOn: "{days_ago(OLD)}"\n          services: [web, worker]',
        f'generations: [{old}, {new}]\n          rotatedOn: "{days_ago(days)}"\n          services: [web, worker]',
    )
    for key, value in policy.items():
        text = text.replace("    graceDays: 14\n", f"    graceDays: 14\n    {key}: {value}\n")
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(text)
    assert len(config(path).apps["jokbodude"].r2_tokens["service"].generations) == 2
    return path


def test_retire_waits_for_the_minimum_overlap(tmp_path: Path) -> None:
    path = rotated_copy(tmp_path, days=6)
    before = path.read_bytes()
    proc = cli("retire", "--stack-file", str(path), "--token", "jokbodude/service")
    assert proc.returncode == 2
    assert "2099q1 was added 6 d ago" in proc.stderr
    assert "less than keyRotation.minOverlapDays (7 d)" in proc.stderr
    assert "accepted: wait, or pass --risk-breaking-services" in proc.stderr
    assert path.read_bytes() == before
    path = rotated_copy(tmp_path, days=7)
    assert keys.retire(path, stack="prod", today=TODAY, token="jokbodude/service")[0] == (
        f"jokbodude/service: retired {keys.quarter_label(days_ago(OLD))}, active 2099q1"
    )


def test_retire_can_be_forced_and_says_what_it_risked(tmp_path: Path) -> None:
    path = rotated_copy(tmp_path, days=0)
    proc = cli("retire", "--stack-file", str(path), "--risk-breaking-services")
    assert proc.returncode == 0, proc.stderr
    assert (
        "forced (--risk-breaking-services): jokbodude/service: 2099q1 was added 0 d ago"
        in proc.stdout
    )
    assert "generations: [2099q1]" in path.read_text()


def test_min_overlap_days_is_configurable_and_bounded_by_grace(tmp_path: Path) -> None:
    path = rotated_copy(tmp_path, days=1, minOverlapDays=1)
    assert keys.retire(path, stack="prod", today=TODAY, token="jokbodude/service")
    with pytest.raises(
        Exception, match=r"keyRotation\.minOverlapDays: 20 is more than graceDays \(14\)"
    ):
        config(rotated_copy(tmp_path, days=1, minOverlapDays=20))


# ---------------------------------------------------------- Cloudflare's last_used_on


def cloudflare_env(api: FakeCloudflare) -> dict[str, str]:
    return {"CLOUDFLARE_API_TOKEN": API_TOKEN, "CLOUDFLARE_BASE_URL": api.base_url}


def retire_asking(api: FakeCloudflare, path: Path) -> subprocess.CompletedProcess[str]:
    """`ops keys retire --token jokbodude/service` with credentials for the fake API."""
    return cli(
        "retire", "--stack-file", str(path), "--token", "jokbodude/service", env=cloudflare_env(api)
    )


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


NOW = dt.datetime.now(dt.UTC)


def test_retire_refuses_while_cloudflare_saw_the_old_key_in_use(tmp_path: Path) -> None:
    path = rotated_copy(tmp_path, days=10)
    old = f"jokbodude-service-{keys.quarter_label(days_ago(OLD))}"
    fillers = [token(f"other-{i}", None) for i in range(60)]  # the old token is on page 2
    used = token(old, iso(NOW - dt.timedelta(hours=3)), token_id="ab" * 16)
    api = FakeCloudflare(
        ACCOUNT, account_tokens=[*fillers, used, token("jokbodude-service-2099q1", None)]
    )
    before = path.read_bytes()
    with serve(api):
        proc = retire_asking(api, path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (
        f"Cloudflare token {old!r} (id {'ab' * 16}) was last used {used['last_used_on']}"
        in proc.stderr
    )
    assert (
        "within keyRotation.minOverlapDays (7 d): a service still uses the old key" in proc.stderr
    )
    assert path.read_bytes() == before
    paths = {p for p, _, _ in api.requests}
    assert paths == {f"/client/v4/accounts/{ACCOUNT}/tokens"}
    assert [q["page"] for _, q, _ in api.requests] == [["1"], ["2"]]
    assert all(q["per_page"] == ["50"] and a == f"Bearer {API_TOKEN}" for _, q, a in api.requests)


@pytest.mark.parametrize("last_used", ["8 days ago", "never"])
def test_retire_goes_ahead_when_the_old_key_is_quiet(tmp_path: Path, last_used: str) -> None:
    path = rotated_copy(tmp_path, days=10)
    old = f"jokbodude-service-{keys.quarter_label(days_ago(OLD))}"
    when = iso(NOW - dt.timedelta(days=8)) if last_used != "never" else None
    api = FakeCloudflare(ACCOUNT, account_tokens=[token(old, when)])
    with serve(api):
        proc = retire_asking(api, path)
    assert proc.returncode == 0, proc.stderr
    assert "generations: [2099q1]" in path.read_text()
    assert "note:" not in proc.stdout


def test_retire_refuses_when_cloudflare_cannot_be_asked(tmp_path: Path) -> None:
    path = rotated_copy(tmp_path, days=10)
    api = FakeCloudflare(
        ACCOUNT, fail_with=(403, 9109, "Unauthorized to access requested resource")
    )
    before = path.read_bytes()
    with serve(api):
        proc = cli("retire", "--stack-file", str(path), env=cloudflare_env(api))
    assert proc.returncode == 2
    assert "could not ask Cloudflare when 'jokbodude-service-" in proc.stderr
    assert "HTTP 403: 9109 Unauthorized to access requested resource" in proc.stderr
    assert path.read_bytes() == before


def test_user_owned_tokens_are_looked_up_among_the_users_tokens(tmp_path: Path) -> None:
    path = rotated_copy(tmp_path, days=10)
    text = path.read_text().replace(
        "          services: [web, worker]\n",
        "          services: [web, worker]\n          owner: user\n",
    )
    path.write_text(text)
    old = f"jokbodude-service-{keys.quarter_label(days_ago(OLD))}"
    api = FakeCloudflare(ACCOUNT, user_tokens=[token(old, iso(NOW - dt.timedelta(days=1)))])
    with serve(api):
        cloudflare = TokensApi(API_TOKEN, api.base_url)
        with pytest.raises(keys.KeysError, match=f"Cloudflare token '{old}'"):
            keys.retire(path, stack="prod", today=TODAY, token="jokbodude/service", api=cloudflare)
    assert {p for p, _, _ in api.requests} == {"/client/v4/user/tokens"}


def test_a_token_cloudflare_does_not_know_is_noted(tmp_path: Path) -> None:
    path = rotated_copy(tmp_path, days=10)
    api = FakeCloudflare(ACCOUNT)
    with serve(api):
        proc = cli("retire", "--stack-file", str(path), env=cloudflare_env(api))
    assert proc.returncode == 0, proc.stderr
    assert "note: Cloudflare has no token named 'jokbodude-service-" in proc.stdout


# --------------------------------------------------------------- nothing half-written


def test_rotate_keeps_crlf_line_endings_and_the_files_mode(stack_copy: Path) -> None:
    crlf = stack_copy.read_text().replace("\n", "\r\n").encode()
    stack_copy.write_bytes(crlf)
    os.chmod(stack_copy, 0o640)
    keys.rotate(stack_copy, stack="prod", today=days_ago(10), token="jokbodude/service")
    after = stack_copy.read_bytes()
    assert b"\n" not in after.replace(b"\r\n", b""), "every line still ends in CRLF"
    changed = [line for line in after.split(b"\r\n") if line not in crlf.split(b"\r\n")]
    assert len(changed) == 2 and b"generations: [" in changed[0] and b"rotatedOn" in changed[1]
    assert oct(os.stat(stack_copy).st_mode & 0o777) == oct(0o640)
    # rotatedOn inserted where there was none uses the file's line ending too
    text = after.decode().replace(f'          rotatedOn: "{days_ago(10)}"\r\n', "", 1)
    stack_copy.write_bytes(text.encode())
    keys.retire(stack_copy, stack="prod", today=TODAY, token="jokbodude/service")
    keys.rotate(stack_copy, stack="prod", today=TODAY, token="jokbodude/service", label="2099q1")
    assert b"\n" not in stack_copy.read_bytes().replace(b"\r\n", b"")


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_a_write_that_fails_midway_leaves_the_file_byte_identical(stack_copy: Path) -> None:
    """The process may write at most 4 KiB per file (RLIMIT_FSIZE): the 8 KiB stack file
    cannot be written whole. In place, that truncated the file; now the temporary copy fails
    and the stack file is untouched."""
    before = stack_copy.read_bytes()
    assert len(before) > 4096
    proc = cli(
        "rotate",
        "--stack-file",
        str(stack_copy),
        "--token",
        "jokbodude/service",
        preexec_fn=_limit_file_size,
        env={"PYTHONDONTWRITEBYTECODE": "1"},  # importlib would leave truncated .pyc files
    )
    assert proc.returncode == 1, proc.stderr
    assert "failed: could not write" in proc.stderr and "the file is unchanged" in proc.stderr
    assert stack_copy.read_bytes() == before
    assert sorted(p.name for p in stack_copy.parent.iterdir()) == ["Pulumi.prod.yaml"]
