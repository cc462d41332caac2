"""The bad stack files and mistyped `ops` commands of issue 13, as data.

Each `Case` is one thing a new user does wrong (or right, in a way that used to crash): a
mutation of the prod stack file and/or an `ops` argv, the exit code the CLI must answer with,
and regular expressions the output must match (the key or argument, the bad value, what is
accepted). `tests/ops/test_bad_inputs.py` runs every case; `classify` below runs them all as
subprocesses against any checkout and sorts the answers into traceback / silently accepted /
vague / clear, which is how the before/after figures of the issue are measured:

    python -m tests.support.bad_inputs --repo /path/to/checkout

Dates are relative to today, so that the cases hold whatever day they run on.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]
KMS = "arn:aws:kms:{region}:123456789012:key/11111111-2222-3333-4444-555555555555"


def sub(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    """A text mutation that fails loudly when the prod file no longer has `old` as expected."""

    def edit(text: str) -> str:
        found = text.count(old)
        if found != count:
            raise AssertionError(
                f"mutation expects {count} x {old!r} in the prod file, found {found}"
            )
        return text.replace(old, new)

    return edit


def chain(*edits: Callable[[str], str]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        for e in edits:
            text = e(text)
        return text

    return edit


@dataclass(frozen=True)
class Case:
    id: str
    why: str
    """The line of the issue's "Why" (or "Deliver") this case comes from."""
    argv: tuple[str, ...]
    """`ops` arguments; `{root}`, `{tmp}` and `{stack}` (the stack file) are filled in."""
    exit_code: int
    fragments: tuple[str, ...] = ()
    """Regular expressions that must all match the output (stdout + stderr)."""
    absent: tuple[str, ...] = ()
    edit: Callable[[str], str] | None = None
    encode: Callable[[str], bytes] | None = None
    """Turns the (edited) text into the file's bytes, for encoding and line-ending cases."""
    setup: tuple[tuple[str, ...], ...] = ()
    """`ops` argvs run first, each of which must succeed."""
    kind: str = "cli"
    """cli | pipe | sigint | fsize | readonly | diff-bad-ref | diff-not-git | diff-crash"""
    check_file: Callable[[bytes, bytes], str | None] | None = None
    """(stack file before, after) -> what is wrong, or None."""
    cleanup_checked: bool = False
    """The run must leave no temporary directory behind (TMPDIR is a fresh one)."""
    subprocess_only: bool = field(default=False)

    @property
    def expect_success(self) -> bool:
        return self.exit_code == 0


def _unchanged(before: bytes, after: bytes) -> str | None:
    return (
        None if before == after else f"the stack file changed ({len(before)} -> {len(after)} bytes)"
    )


def _crlf_kept(before: bytes, after: bytes) -> str | None:
    old, new = before.split(b"\r\n"), after.split(b"\r\n")
    if b"\n" in after.replace(b"\r\n", b""):
        return "the CRLF file now has bare LF line endings"
    changed = [line for line in new if line not in old]
    if len(old) != len(new) or len(changed) != 2:
        return f"expected the two token lines to change, {len(changed)} lines changed"
    return None


def cases(today: dt.date | None = None) -> list[Case]:
    today = today or dt.date.today()
    day = today.isoformat()
    ago_53 = (today - dt.timedelta(days=53)).isoformat()
    past = (today - dt.timedelta(days=30)).isoformat()
    status_day = (today - dt.timedelta(days=10)).isoformat()
    rotated = 'rotatedOn: "2026-10-01"'
    token_services = "          services: [web, worker]\n"

    def token_field(line: str) -> Callable[[str], str]:
        return sub(token_services, token_services + f"          {line}\n")

    def rotated_on(value: str) -> Callable[[str], str]:
        return sub(rotated, f"rotatedOn: {value}", count=3)

    bad_versioning = sub(
        "          name: pingvas-studio-models\n",
        '          name: pingvas-studio-models\n          versioning: "yes"\n',
    )
    models_replica = sub(
        "          name: pingvas-studio-models\n",
        "          name: pingvas-studio-models\n"
        "          encryption: {type: sse-kms}\n"
        "          replication:\n"
        "            region: ap-northeast-1\n"
        "            bucket: pingvas-studio-models-replica\n"
        f"            kmsKeyArn: {KMS.format(region='ap-northeast-2')}\n",
    )
    status = ("keys", "status", "--stack-file", "{stack}")
    jok = ("--token", "jokbodude/service")
    return [
        # ---------------------------------------------------------------- loading the file
        Case(
            "namespace-typo",
            "a misspelled namespace (`storage-platfrom:tags`) ignored",
            ("plan",),
            2,
            (r"storage-platfrom:tags", r"did you mean 'storage-platform:tags'\?", "accepted"),
            edit=sub("  storage-platform:tags:", "  storage-platfrom:tags:"),
        ),
        Case(
            "namespace-typo-cost",
            "a misspelled namespace (`storage-platfrom:tags`) ignored",
            ("cost",),
            2,
            (r"storage-platfrom:tags", r"did you mean 'storage-platform:tags'\?", "accepted"),
            edit=sub("  storage-platform:tags:", "  storage-platfrom:tags:"),
        ),
        Case(
            "top-level-key-typo",
            "a misspelled namespace ignored (the document's own keys)",
            ("plan",),
            2,
            (r"Pulumi\.prod\.yaml:4:1", r"'confg'", r"did you mean 'config'\?", "accepted"),
            edit=sub("\nconfig:\n", "\nconfg:\n"),
        ),
        Case(
            "duplicate-app",
            "a duplicate YAML key that replaces a whole app (114 resources instead of 120)",
            ("plan",),
            2,
            (r"duplicate key 'pingvas-studio'", r"line \d+.*line \d+", "accepted"),
            edit=lambda t: t + "    pingvas-studio:\n      description: a second entry\n",
        ),
        Case(
            "duplicate-tag",
            "a duplicate YAML key that replaces ... a tag",
            ("plan",),
            2,
            (r"Pulumi\.prod\.yaml:10:\d+", r"duplicate key 'environment'", r"line 8"),
            edit=sub(
                "    owner: platform-team\n", "    owner: platform-team\n    environment: staging\n"
            ),
        ),
        Case(
            "duplicate-bucket-key",
            "a duplicate `images:` key is reported as \"'thumbnails' is not an S3 bucket\"",
            ("plan",),
            2,
            (r"duplicate key 'images'", r"line \d+"),
            absent=(r"'thumbnails' is not an S3 bucket",),
            edit=sub(
                "        thumbnails:\n          name: pingvas-studio-thumbnails",
                "        images:\n          name: pingvas-studio-thumbnails",
            ),
        ),
        Case(
            "yaml-date-plan",
            "an unquoted `rotatedOn: 2026-10-01` (a YAML date)",
            ("plan",),
            0,
            (r"resources \(offline plan",),
            edit=rotated_on("2026-10-01"),
        ),
        Case(
            "yaml-date-cost",
            "an unquoted `rotatedOn: 2026-10-01` (a YAML date)",
            ("cost",),
            0,
            (r"monthly cost estimate",),
            edit=rotated_on("2026-10-01"),
        ),
        Case(
            "yaml-date-keys",
            "an unquoted `rotatedOn: 2026-10-01` (a YAML date)",
            status,
            0,
            (r"jokbodude/service +2026q4 +active +53 d",),
            edit=rotated_on(ago_53),
        ),
        Case(
            "missing-stack",
            "a missing stack file",
            ("plan", "--stack", "nope"),
            2,
            (r"Pulumi\.nope\.yaml", "accepted", r"\bprod\b"),
        ),
        Case(
            "missing-stack-cost",
            "a missing stack file",
            ("cost", "--stack", "nope"),
            2,
            (r"Pulumi\.nope\.yaml", "accepted", r"\bprod\b"),
        ),
        Case(
            "missing-stack-file-keys",
            "a missing stack file",
            ("keys", "status", "--stack-file", "{tmp}/Pulumi.nope.yaml"),
            2,
            (r"Pulumi\.nope\.yaml", r"--stack-file", "accepted"),
        ),
        Case(
            "stack-name-with-path",
            "stack names are plain names (no path separators)",
            ("plan", "--stack", "../prod"),
            2,
            (r"--stack", r"'\.\./prod'", "accepted"),
        ),
        Case(
            "yaml-syntax-error",
            "YAML syntax errors",
            ("plan",),
            2,
            (r"Pulumi\.prod\.yaml:\d+:\d+",),
            absent=(r"Traceback",),
            edit=sub("    environment: prod\n", "    environment: [prod\n"),
        ),
        Case(
            "yaml-tab",
            "YAML syntax errors and tabs",
            ("cost",),
            2,
            (r"Pulumi\.prod\.yaml:8:1", r"tab", r"spaces"),
            edit=sub("    environment: prod", "\tenvironment: prod"),
        ),
        Case(
            "document-is-a-list",
            "a document ... that is a list",
            ("plan",),
            2,
            (r"Pulumi\.prod\.yaml:1:1", r"a list", r"accepted: a mapping whose 'config:' key"),
            edit=lambda t: "- config\n- aws:region\n",
        ),
        Case(
            "config-is-a-list",
            "`config:` that is a list",
            ("keys", "status", "--stack-file", "{stack}"),
            2,
            (r"Pulumi\.prod\.yaml:2:3", r"'config'", r"accepted: a mapping"),
            edit=lambda t: "config:\n  - aws:region: ap-northeast-2\n",
        ),
        Case(
            "not-utf8",
            "a non-UTF-8 file",
            ("plan",),
            2,
            (r"Pulumi\.prod\.yaml:9:\d+", r"UTF-8", "accepted"),
            encode=lambda t: t.encode().replace(b"platform-team", b"plattform-t\xe9am"),
        ),
        Case(
            "not-utf8-keys",
            "a non-UTF-8 file",
            status,
            2,
            (r"Pulumi\.prod\.yaml:9:\d+", r"UTF-8", "accepted"),
            encode=lambda t: t.encode().replace(b"platform-team", b"plattform-t\xe9am"),
        ),
        Case(
            "python-tag",
            "a `!!python/object` tag",
            ("plan",),
            2,
            (r"Pulumi\.prod\.yaml:8:\d+", r"python/object", "accepted"),
            edit=sub(
                "    environment: prod", '    environment: !!python/object/apply:os.system ["true"]'
            ),
        ),
        Case(
            "secure-value-plan",
            "a legitimate `secure:` value in the project namespace (plan passes, cost crashes)",
            ("plan",),
            0,
            (r"resources \(offline plan", r"monthly cost estimate"),
            edit=sub("    owner: platform-team", "    owner:\n      secure: v1:AAAAEXAMPLEONLY"),
        ),
        Case(
            "secure-value-cost",
            "a legitimate `secure:` value in the project namespace (plan passes, cost crashes)",
            ("cost",),
            0,
            (r"monthly cost estimate",),
            edit=sub("    owner: platform-team", "    owner:\n      secure: v1:AAAAEXAMPLEONLY"),
        ),
        Case(
            "secure-value-keys",
            "a legitimate `secure:` value in the project namespace (plan passes, cost crashes)",
            status,
            0,
            (r"jokbodude/service",),
            edit=chain(
                rotated_on(f'"{ago_53}"'),
                sub("    owner: platform-team", "    owner:\n      secure: v1:AAAAEXAMPLEONLY"),
            ),
        ),
        Case(
            "secure-account-id",
            "`secure:` values work in every command (opaque, never decrypted offline)",
            ("cost",),
            0,
            (r"monthly cost estimate",),
            edit=sub(
                "    accountId: 0123456789abcdef0123456789abcdef",
                "    accountId:\n      secure: v1:AAAAEXAMPLEONLY",
            ),
        ),
        Case(
            "config-error-via-cost",
            "config errors reached through `ops cost`",
            ("cost",),
            2,
            (r"apps\.pingvas-studio\.s3\.models\.versioning", r"'yes'", "accepted"),
            edit=bad_versioning,
        ),
        Case(
            "config-error-via-keys-status",
            "config errors reached through `ops keys`",
            status,
            2,
            (r"apps\.pingvas-studio\.s3\.models\.versioning", r"'yes'", "accepted"),
            edit=bad_versioning,
        ),
        Case(
            "config-error-via-keys-rotate",
            "config errors reached through `ops keys`",
            ("keys", "rotate", "--stack-file", "{stack}", *jok, "--label", "2099q1"),
            2,
            (r"apps\.pingvas-studio\.s3\.models\.versioning", r"'yes'", "accepted"),
            edit=bad_versioning,
            check_file=_unchanged,
        ),
        # ------------------------------------------------------------- values accepted silently
        Case(
            "max-age-negative",
            "negative `keyRotation.maxAgeDays`",
            ("plan",),
            2,
            (r"keyRotation\.maxAgeDays: -1", "accepted"),
            edit=sub("maxAgeDays: 92", "maxAgeDays: -1"),
        ),
        Case(
            "grace-negative",
            "negative `keyRotation.graceDays`",
            ("plan",),
            2,
            (r"keyRotation\.graceDays: -3", "accepted"),
            edit=sub("graceDays: 14", "graceDays: -3"),
        ),
        Case(
            "provisioned-throughput-zero",
            "provisioned throughput 0",
            ("plan",),
            2,
            (r"efs\.models\.provisionedThroughputMibps: 0\b", "accepted: 1-"),
            edit=sub(
                "          throughputMode: bursting",
                "          throughputMode: provisioned\n          provisionedThroughputMibps: 0",
            ),
        ),
        Case(
            "provisioned-throughput-negative",
            "provisioned throughput ... -5",
            ("plan",),
            2,
            (r"efs\.models\.provisionedThroughputMibps: -5", "accepted: 1-"),
            edit=sub(
                "          throughputMode: bursting",
                "          throughputMode: provisioned\n          provisionedThroughputMibps: -5",
            ),
        ),
        Case(
            "max-ttl-huge",
            "`maxTtl` of 10^20",
            ("plan",),
            2,
            (r"cdn\.images\.defaultBehavior\.maxTtl: 100000000000000000000", "accepted"),
            edit=sub("maxTtl: 31536000}", "maxTtl: 100000000000000000000}"),
        ),
        Case(
            "expires-on-past",
            "a token `expiresOn` in the past",
            ("plan",),
            2,
            (rf"r2Tokens\.service\.expiresOn: '{past}T00:00:00Z'", r"in the past", "accepted"),
            edit=token_field(f'expiresOn: "{past}T00:00:00Z"'),
        ),
        Case(
            "not-before-month-13",
            "`notBefore` in month 13",
            ("plan",),
            2,
            (r"r2Tokens\.service\.notBefore: '2027-13-01T00:00:00Z'", "accepted"),
            edit=token_field('notBefore: "2027-13-01T00:00:00Z"'),
        ),
        Case(
            "expires-before-not-before-time-zones",
            "`expiresOn` before `notBefore` across time zones",
            ("plan",),
            2,
            (
                r"r2Tokens\.service\.expiresOn: '2027-01-01T05:00:00\+09:00'",
                r"notBefore",
                "accepted",
            ),
            edit=chain(
                token_field('notBefore: "2027-01-01T01:00:00Z"'),
                token_field('expiresOn: "2027-01-01T05:00:00+09:00"'),
            ),
        ),
        Case(
            "rotated-on-feb-30",
            "`rotatedOn: 2026-02-30`",
            ("plan",),
            2,
            (r"r2Tokens\.service\.rotatedOn: '2026-02-30'", "accepted"),
            edit=sub(rotated, 'rotatedOn: "2026-02-30"', count=3),
        ),
        Case(
            "noncurrent-glacier-day-0",
            "noncurrent GLACIER at day 0",
            ("plan",),
            2,
            (
                r"s3\.uploads\.lifecycle\[0\]\.noncurrentTransitions\[0\]\.days: 0\b",
                "accepted: >= 1",
            ),
            edit=sub(
                "              noncurrentExpirationDays: 30\n          accessLogs: {bucket: logs}\n",
                "              noncurrentExpirationDays: 30\n"
                "              noncurrentTransitions:\n"
                "                - {days: 0, storageClass: GLACIER}\n"
                "          accessLogs: {bucket: logs}\n",
            ),
        ),
        Case(
            "origin-port-99999",
            "an origin with port 99999",
            ("plan",),
            2,
            (r"cors\[0\]\.allowedOrigins\[0\]: 'https://fit\.example\.com:99999'", "1-65535"),
            edit=sub("[https://fit.example.com]", "[https://fit.example.com:99999]"),
        ),
        Case(
            "origin-with-space",
            "an origin with ... a space",
            ("plan",),
            2,
            (r"cors\[0\]\.allowedOrigins\[0\]: 'https://fit example\.com'", "accepted"),
            edit=sub("[https://fit.example.com]", "['https://fit example.com']"),
        ),
        Case(
            "region-eu-mars-1",
            "region `eu-mars-1`",
            ("plan",),
            2,
            (r"aws:region: 'eu-mars-1'", r"accepted: .*ap-northeast-2"),
            edit=sub("aws:region: ap-northeast-2", "aws:region: eu-mars-1"),
        ),
        Case(
            "replica-region-eu-mars-1",
            "region `eu-mars-1`",
            ("plan",),
            2,
            (r"replication\.region: 'eu-mars-1'", r"accepted: .*ap-northeast-1"),
            edit=sub("            region: ap-northeast-1", "            region: eu-mars-1"),
        ),
        Case(
            "replica-kms-key-on-sse-s3-source",
            "a replica KMS key misused",
            ("plan",),
            2,
            (r"s3\.images\.replication\.kmsKeyArn", r"sse-s3", "accepted"),
            edit=sub(
                "            replicationTimeControl: true\n",
                "            replicationTimeControl: true\n"
                f"            kmsKeyArn: {KMS.format(region='ap-northeast-1')}\n",
            ),
        ),
        Case(
            "replica-kms-key-in-source-region",
            "a replica KMS key misused",
            ("plan",),
            2,
            (
                r"s3\.models\.replication\.kmsKeyArn",
                r"ap-northeast-2",
                r"accepted: .*ap-northeast-1",
            ),
            edit=models_replica,
        ),
        Case(
            "efs-key-other-region",
            "an EFS key from another region",
            ("plan",),
            2,
            (r"efs\.models\.kmsKeyArn", r"us-east-1", r"accepted: .*ap-northeast-2"),
            edit=sub(
                "          throughputMode: bursting\n",
                "          throughputMode: bursting\n"
                f"          kmsKeyArn: {KMS.format(region='us-east-1')}\n",
            ),
        ),
        Case(
            "backup-cron-99",
            "`cron(99 99 ...)`",
            ("plan",),
            2,
            (r"efs\.models\.backup\.schedule: 'cron\(99 99 \* \* \? \*\)'", r"minutes", "accepted"),
            edit=sub("cron(0 2 * * ? *)", "cron(99 99 * * ? *)"),
        ),
        Case(
            "status-expired-expires-on",
            '`ops keys status` says "ok" for a key whose `expiresOn` has passed',
            status,
            1,
            (r"jokbodude/service .*EXPIRED", r"expiresOn"),
            edit=chain(rotated_on(f'"{ago_53}"'), token_field(f'expiresOn: "{past}T00:00:00Z"')),
        ),
        Case(
            "status-negative-age",
            '`ops keys status` says "ok" ... for negative ages',
            (*status, "--today", status_day),
            1,
            (r"jokbodude/service .*rotatedOn .* after", r"-\d+ d"),
            edit=rotated_on(f'"{day}"'),
        ),
        # ------------------------------------------------------------------------ vague answers
        Case(
            "empty-map",
            "an empty map (`r2Tokens:` with nothing under it)",
            ("cost",),
            0,
            (r"monthly cost estimate",),
            edit=sub(
                '      r2Tokens:\n        # "Object Read & Write" on this bucket only, no IP filter '
                "(egress IPs not fixed).\n        service:\n          buckets: [files]\n"
                f"          access: read-write\n          generations: [2026q4]\n          {rotated}\n"
                "          services: [web, worker]\n",
                "      r2Tokens:\n",
            ),
        ),
        Case(
            "empty-apps",
            "null maps are read as empty or refused with the key named",
            ("plan",),
            2,
            (r"apps: ", "accepted"),
            edit=lambda t: t.split("  storage-platform:apps:")[0] + "  storage-platform:apps:\n",
        ),
        Case(
            "bad-price-class-hides-nothing",
            "a bad `priceClass` drops the CDN from validation and adds a bogus usage error",
            ("plan",),
            2,
            (
                r"cdn\.images\.priceClass: 'PriceClass_300'",
                "accepted",
                r"cdn\.images\.minimumTlsVersion",
            ),
            absent=(r"not a declared cdn resource",),
            edit=chain(
                sub("priceClass: PriceClass_200", "priceClass: PriceClass_300"),
                sub("minimumTlsVersion: TLSv1.2_2021", "minimumTlsVersion: TLSv1"),
            ),
        ),
        Case(
            "bad-tags-type-hides-nothing",
            "a bad `tags` type hides a replica-region error",
            ("plan",),
            2,
            (r"\btags: ", "accepted", r"s3\.images\.replication\.region"),
            edit=chain(
                sub("    environment: prod\n    owner: platform-team\n", "    - prod\n"),
                sub("            region: ap-northeast-1", "            region: ap-northeast-2"),
            ),
        ),
        # ------------------------------------------------------------------------ half-written
        Case(
            "rotate-write-fails-midway",
            "`ops keys rotate` ... when the write fails the file is left truncated",
            ("keys", "rotate", "--stack-file", "{stack}", *jok, "--label", "2099q1"),
            1,
            (r"could not write", r"unchanged"),
            kind="fsize",
            check_file=_unchanged,
        ),
        Case(
            "rotate-keeps-crlf",
            "It also converts a CRLF file to LF (225 changed lines)",
            ("keys", "rotate", "--stack-file", "{stack}", *jok, "--label", "2099q1"),
            0,
            (r"jokbodude/service: 2026q4 -> 2099q1",),
            encode=lambda t: t.replace("\n", "\r\n").encode(),
            check_file=_crlf_kept,
        ),
        Case(
            "label-full-width-digits",
            "writes labels with full-width digits",
            (
                "keys",
                "rotate",
                "--stack-file",
                "{stack}",
                *jok,
                "--label",
                "\uff12\uff10\uff19\uff19q1",
            ),
            2,
            (r"--label", "accepted"),
            check_file=_unchanged,
        ),
        Case(
            "label-trailing-newline",
            "or a trailing newline",
            ("keys", "rotate", "--stack-file", "{stack}", *jok, "--label", "2099q1\n"),
            2,
            (r"--label", "accepted"),
            check_file=_unchanged,
        ),
        Case(
            "retire-right-after-rotate",
            "Rotate followed at once by retire drops the old key before any `pulumi up`",
            ("keys", "retire", "--stack-file", "{stack}", *jok),
            2,
            (r"jokbodude/service", r"minOverlapDays", r"--risk-breaking-services"),
            setup=(("keys", "rotate", "--stack-file", "{stack}", *jok, "--label", "2099q1"),),
        ),
        Case(
            "today-not-a-date",
            "`--today 2027-13-01`",
            ("keys", "status", "--stack-file", "{stack}", "--today", "2027-13-01"),
            2,
            (r"--today", r"2027-13-01", "accepted"),
        ),
        Case(
            "today-in-the-future",
            "`--today` cannot be in the future beyond a day",
            ("keys", "rotate", "--stack-file", "{stack}", "--today", "2099-01-01"),
            2,
            (r"--today", r"future", "accepted"),
            check_file=_unchanged,
        ),
        # ---------------------------------------------------------------------------- commands
        Case(
            "diff-bad-ref",
            "`ops diff` with a bad ref",
            ("diff", "--base", "no-such-ref"),
            2,
            (r"--base", r"no-such-ref", "accepted"),
            kind="diff-bad-ref",
            cleanup_checked=True,
        ),
        Case(
            "diff-outside-git",
            "`ops diff` ... outside a git repo",
            ("diff", "--base", "HEAD"),
            2,
            (r"not a git repository", "accepted"),
            kind="diff-not-git",
            cleanup_checked=True,
        ),
        Case(
            "diff-child-crashes",
            "`ops diff` ... when a child plan crashes (JSONDecodeError, the cause hidden; a temp dir left)",
            ("diff", "--base", "HEAD~1", "--head", "HEAD"),
            1,
            (r"revision broken on purpose", r"HEAD~1"),
            absent=(r"JSONDecodeError",),
            kind="diff-crash",
            cleanup_checked=True,
        ),
        Case(
            "plan-out-is-a-directory",
            "`--out` to a directory",
            ("plan", "--out", "{tmp}"),
            2,
            (r"--out", r"is a directory", "accepted"),
        ),
        Case(
            "plan-out-read-only",
            "`--out` to ... a read-only one",
            ("plan", "--out", "{tmp}/read-only/plan.json"),
            2,
            (r"--out", r"read-only/plan\.json", "accepted"),
            kind="readonly",
            subprocess_only=True,
        ),
        Case(
            "plan-closed-pipe",
            "`ops plan | head -1`",
            ("plan",),
            141,
            kind="pipe",
            subprocess_only=True,
        ),
        Case(
            "cost-closed-pipe",
            "quiet on a closed pipe",
            ("cost",),
            141,
            kind="pipe",
            subprocess_only=True,
        ),
        Case(
            "plan-ctrl-c",
            "130 on Ctrl-C",
            ("plan",),
            130,
            (r"interrupted",),
            kind="sigint",
            subprocess_only=True,
        ),
        Case(
            "docs-write-missing-file",
            "no traceback for any user mistake in `ops ... docs`",
            ("docs", "--write", "{tmp}/NOPE.md"),
            2,
            (r"--write", r"NOPE\.md", "accepted"),
        ),
        Case(
            "docs-write-no-markers",
            "no traceback for any user mistake in `ops ... docs`",
            ("docs", "--write", "{stack}"),
            2,
            (r"--write", r"config-reference:begin", "accepted"),
            check_file=_unchanged,
        ),
        Case(
            "cost-unknown-sheet",
            "no traceback for any user mistake in `ops ... cost`",
            ("cost", "--sheet", "nope"),
            2,
            (r"--sheet 'nope'", r"accepted: .*public-2026-11"),
        ),
        Case(
            "price-sheet-unknown",
            "no traceback for any user mistake in `ops ... cost`",
            ("cost",),
            2,
            (r"cost\.priceSheet: no price sheet 'public-2099'", r"accepted: .*seeds"),
            edit=sub("priceSheet: public-2026-11", "priceSheet: public-2099"),
        ),
        Case(
            "keys-unknown-token",
            "no traceback for any user mistake in `ops ... keys`",
            ("keys", "rotate", "--stack-file", "{stack}", "--token", "nope", "--label", "2099q1"),
            2,
            (r"--token 'nope'", r"accepted: one of jokbodude/service"),
            check_file=_unchanged,
        ),
        Case(
            "keys-block-style-generations",
            "no traceback for any user mistake in `ops ... keys`",
            ("keys", "rotate", "--stack-file", "{stack}", *jok, "--label", "2099q1"),
            2,
            (r"jokbodude/service: generations is not a one-line list", "accepted"),
            edit=sub(
                "          generations: [2026q4]\n          rotatedOn",
                "          generations:\n            - 2026q4\n          rotatedOn",
                count=3,
            ),
            check_file=_unchanged,
        ),
        # ------------------------------------------------------------------------- readability
        Case(
            "cost-units",
            "the cost table shows `$4.5` ... `$0.0045` per 1,000 requests with no unit; "
            "negatives print as `$-0.15`",
            ("cost",),
            0,
            (r"\$4\.50 / 1M ops", r"\$0\.0045 / 1k requests", r"-\$0\.15"),
            absent=(r"\$-",),
        ),
        # ------------------------------------------------------------- adoption (issue 15)
        Case(
            "adopted-bucket-unprotected",
            "adopting a bucket that could then be deleted (an adopted bucket stays protected)",
            ("plan",),
            2,
            (
                r"apps\.pingvas-studio\.s3\.images\.protect",
                r"`import:` block",
                r"accepted: protect true",
            ),
            edit=sub(
                "          name: pingvas-studio-images\n",
                "          name: pingvas-studio-images\n          protect: false\n",
            ),
        ),
        Case(
            "adopted-oai-without-its-id",
            "adopting a distribution without the identity it reads the bucket with",
            ("import", "--out", "{tmp}/import.json"),
            2,
            (r"import\.originAccessIdentityId: is missing with access 'oai'", "accepted"),
            edit=sub("            originAccessIdentityId: E74FTE3AEXAMPLE\n", ""),
        ),
        Case(
            "import-unknown-app",
            "a flag naming what is not in the stack",
            ("import", "--app", "pingvas", "--out", "{tmp}/import.json"),
            2,
            (r"--app 'pingvas' is not an app of stack 'prod'", r"pingvas-studio"),
        ),
        Case(
            "import-unreadable-terraform-state",
            "seed 003's Terraform state: a file that is not one",
            ("import", "--from-terraform", "{stack}", "--out", "{tmp}/import.json"),
            2,
            (r"--from-terraform .*Pulumi\.prod\.yaml: not a JSON state", r"version 4"),
        ),
        Case(
            "doctor-placeholders-left",
            "placeholders in the stack file that fail at `pulumi up` naming no config key",
            ("doctor",),
            1,
            (
                r"storage-platform:cloudflare\.accountId: '0123456789abcdef0123456789abcdef'",
                r"a real value: ",
                r"placeholders left in",
            ),
        ),
    ]


# ------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    problem: str | None = None
    """What the runner itself found wrong (a changed file, a temp dir left behind)."""


def prepare(case: Case, work: Path, repo: Path) -> Path:
    """A stack root in `work` (Pulumi.yaml, __main__.py of `repo`, the mutated stack file)."""
    root = work / "root"
    root.mkdir()
    shutil.copy(repo / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copy(repo / "__main__.py", root / "__main__.py")
    text = (repo / "Pulumi.prod.yaml").read_text()
    if case.edit is not None:
        text = case.edit(text)
    data = case.encode(text) if case.encode else text.encode()
    (root / "Pulumi.prod.yaml").write_bytes(data)
    return root


def fill(argv: tuple[str, ...], root: Path, work: Path) -> list[str]:
    values = {"root": str(root), "tmp": str(work), "stack": str(root / "Pulumi.prod.yaml")}
    return [a.format(**values) for a in argv]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        check=True,
        capture_output=True,
    )


def diff_repo(case: Case, work: Path, repo: Path) -> Path:
    """The checkout `ops diff` runs in: a clone of `repo` (with a broken base revision for
    the crash case), or a plain directory for the not-a-repository case."""
    clone = work / "repo"
    if case.kind == "diff-not-git":
        clone.mkdir()
        for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "__main__.py"):
            shutil.copy(repo / name, clone / name)
        return clone
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    if case.kind == "diff-crash":
        plan = clone / "ops" / "plan.py"
        plan.write_text(plan.read_text() + '\nraise RuntimeError("revision broken on purpose")\n')
        _git(clone, "commit", "-qam", "broken")
        plan.write_text(
            plan.read_text().replace('raise RuntimeError("revision broken on purpose")\n', "")
        )
        _git(clone, "commit", "-qam", "fixed")
    return clone


def _env(repo: Path, tmpdir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "PYTHON"))}
    env["PYTHONPATH"] = str(repo)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return env


def make_read_only(path: Path) -> None:
    """A directory nobody can create files in, root included (root ignores the mode bits, so
    the directory is also made immutable; `workdir` undoes it)."""
    path.mkdir()
    os.chmod(path, 0o555)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)


def run_subprocess(case: Case, work: Path, repo: Path, python: str = sys.executable) -> Result:
    """Run one case as a user would: `python -m ops ...` in a fresh process."""
    root = prepare(case, work, repo)
    tmpdir = work / "tmpdir"
    tmpdir.mkdir()
    cwd = root
    if case.kind.startswith("diff"):
        cwd = diff_repo(case, work, repo)
        root = cwd
    env = _env(repo, tmpdir)
    base = [python, "-m", "ops", "--root", str(root)]
    for argv in case.setup:
        done = subprocess.run(
            [*base, *fill(argv, root, work)], cwd=cwd, env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            return Result(done.returncode, done.stdout + done.stderr, "setup failed")
    before = (
        (root / "Pulumi.prod.yaml").read_bytes() if (root / "Pulumi.prod.yaml").exists() else b""
    )
    cmd = [*base, *fill(case.argv, root, work)]
    preexec = None
    if case.kind == "readonly":
        make_read_only(work / "read-only")
    if case.kind == "fsize":
        import resource

        env["PYTHONDONTWRITEBYTECODE"] = "1"  # importlib would leave truncated .pyc files

        def preexec() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    if case.kind == "pipe":
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stderr is not None
        # `| head -1` goes away after a line; going away before the first write makes the
        # closed pipe certain (the output may fit in the pipe's buffer otherwise)
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        code = proc.wait()
        return Result(code, err)
    if case.kind == "sigint":
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        time.sleep(2.5)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        out_bytes, err_bytes = proc.communicate()
        return Result(proc.returncode, (out_bytes + err_bytes).decode(errors="replace"))
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, preexec_fn=preexec)
    return Result(done.returncode, done.stdout + done.stderr, _after(case, root, before, tmpdir))


def _after(case: Case, root: Path, before: bytes, tmpdir: Path) -> str | None:
    if case.check_file is not None:
        problem = case.check_file(before, (root / "Pulumi.prod.yaml").read_bytes())
        if problem:
            return problem
    leftovers = [
        p.name for p in root.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")
    ]
    if leftovers:
        return f"temporary files left beside the stack file: {leftovers}"
    if case.cleanup_checked and any(tmpdir.iterdir()):
        return f"temporary files left in TMPDIR: {sorted(p.name for p in tmpdir.iterdir())}"
    return None


def run_in_process(case: Case, work: Path, repo: Path = HERE) -> Result:
    """Run one case through `ops.__main__.main` in this process (fast; any exception escapes,
    so a traceback fails the test that calls this)."""
    from ops.__main__ import main

    root = prepare(case, work, repo)
    tmpdir = work / "tmpdir"
    tmpdir.mkdir()
    if case.kind.startswith("diff"):
        root = diff_repo(case, work, repo)
    for argv in case.setup:
        result = _capture(main, ["--root", str(root), *fill(argv, root, work)])
        if result.code != 0:
            return Result(result.code, result.out, "setup failed")
    before = (root / "Pulumi.prod.yaml").read_bytes()
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmpdir)
    tempfile.tempdir = None
    try:
        result = _capture(main, ["--root", str(root), *fill(case.argv, root, work)])
    finally:
        if saved is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved
        tempfile.tempdir = None
    return Result(result.code, result.out, _after(case, root, before, tmpdir))


def _capture(main: Callable[[list[str]], int], argv: list[str]) -> Result:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse usage errors
            code = exit.code if isinstance(exit.code, int) else 1
    return Result(code, buffer.getvalue())


# ---------------------------------------------------------------------------- classifying

TRACEBACK = re.compile(r"^Traceback \(most recent call last\)|^Exception ignored", re.M)


def verdict(case: Case, result: Result) -> str:
    """traceback | silently accepted | wrongly refused | vague | clear"""
    if TRACEBACK.search(result.out):
        return "traceback"
    missing = [f for f in case.fragments if not re.search(f, result.out)]
    present = [a for a in case.absent if re.search(a, result.out)]
    if case.expect_success:
        if result.code != 0:
            return "wrongly refused"
        return "clear" if not (missing or present or result.problem) else "vague"
    if result.code == 0:
        return "silently accepted"
    if result.code != case.exit_code or missing or present or result.problem:
        return "vague"
    return "clear"


def explain(case: Case, result: Result) -> str:
    missing = [f for f in case.fragments if not re.search(f, result.out)]
    present = [a for a in case.absent if re.search(a, result.out)]
    parts = [f"exit {result.code} (expected {case.exit_code})"]
    if missing:
        parts.append(f"missing {missing}")
    if present:
        parts.append(f"should not say {present}")
    if result.problem:
        parts.append(result.problem)
    return "; ".join(parts)


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="bad-input-"))
    os.chmod(path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    try:
        yield path
    finally:
        read_only = path / "read-only"
        if read_only.exists():
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", str(read_only)], capture_output=True)
            os.chmod(read_only, 0o755)
        shutil.rmtree(path, ignore_errors=True)


def classify(
    repo: Path, only: list[str] | None = None, verbose: bool = False
) -> dict[str, list[str]]:
    by_verdict: dict[str, list[str]] = {}
    for case in cases():
        if only and case.id not in only:
            continue
        with workdir() as work:
            result = run_subprocess(case, work, repo)
        v = verdict(case, result)
        by_verdict.setdefault(v, []).append(case.id)
        print(f"{v:18} {case.id}", flush=True)
        if verbose and v != "clear":
            print(f"{'':18} {explain(case, result)}")
            print("\n".join(f"{'':18} | {line}" for line in result.out.strip().splitlines()[-6:]))
    return by_verdict


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--repo", type=Path, default=HERE, help="checkout whose `ops` is run")
    parser.add_argument("--case", action="append", help="only this case (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    found = classify(args.repo.resolve(), args.case, args.verbose)
    total = sum(len(v) for v in found.values())
    print(f"\n{total} cases: " + ", ".join(f"{len(v)} {k}" for k, v in sorted(found.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
