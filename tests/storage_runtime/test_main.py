"""`python -m storage_runtime sync`: everyday mistakes end in one short line naming what to
fix, with exit 2 (usage or configuration), never a traceback."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from storage_runtime import Settings
from tests.storage_runtime.conftest import needs
from tests.storage_runtime.test_sync import cli_env, run_cli, tree
from tests.support.seaweed import S3Server


def one_line_error(proc: object, *fragments: str, code: int = 2) -> None:
    out, err, rc = proc.stdout, proc.stderr, proc.returncode  # type: ignore[attr-defined]
    assert rc == code, out + err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


NOWHERE = cli_env(
    Settings(
        provider="minio",
        bucket="bucket",
        endpoint_url="http://127.0.0.1:9",
        access_key_id="k",
        secret_access_key="s",
    )
)


def test_a_missing_bucket(settings: Settings, tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"a.txt": b"a"})
    env = cli_env(replace(settings, bucket="no-such-bucket-here"))
    for args in (
        [str(src), "s3://no-such-bucket-here/p/"],
        ["s3://no-such-bucket-here/p/", str(tmp_path / "d")],
    ):
        one_line_error(
            run_cli(*args, env=env),
            "bucket 'no-such-bucket-here' does not exist at http://127.0.0.1:",
            "S3_BUCKET",
        )


def test_a_wrong_secret(settings: Settings, s3_server: S3Server, tmp_path: Path) -> None:
    needs(s3_server, "signatures")
    src = tree(tmp_path / "src", {"a.txt": b"a"})
    env = {**cli_env(settings), "S3_SECRET_ACCESS_KEY": "wrong"}
    one_line_error(
        run_cli(str(src), f"s3://{settings.bucket}/p/", env=env),
        "SignatureDoesNotMatch",
        "check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY",
    )


def test_an_unreachable_endpoint(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"a.txt": b"a"})
    env = {**NOWHERE, "STORAGE_MAX_ATTEMPTS": "1"}
    one_line_error(
        run_cli(str(src), "s3://bucket/p/", env=env),
        "cannot reach http://127.0.0.1:9 (S3_ENDPOINT_URL)",
    )


def test_no_storage_settings_at_all(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"a.txt": b"a"})
    one_line_error(
        run_cli(str(src), "s3://bucket/p/", env={"PATH": "/usr/bin:/bin"}), "sync needs S3 settings"
    )
    bad = {"PATH": "/usr/bin:/bin", "OBJECT_STORE": "s3", "S3_ENDPOINT_URL": "http://127.0.0.1:9"}
    one_line_error(
        run_cli(str(src), "s3://bucket/p/", env=bad),
        "needs S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY",
    )


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--concurrency", "0"], ["--concurrency: '0'; accepted: a whole number 1-256"]),
        (["--concurrency", "many"], ["--concurrency: 'many'"]),
        (
            ["--pattern", "{job_id}/{filename}", "--key-template", "{job}/{filename}"],
            ["unknown placeholder {job}", "accepted: {job_id}, {filename}, {path}"],
        ),
        (["--pattern", "{job_id}/{filename}"], ["--pattern and --key-template go together"]),
        (["--content-type", "not a type"], ["--content-type: 'not a type'"]),
        (["--compare", "hash"], ["--compare: invalid choice: 'hash'"]),
    ],
)
def test_bad_flags(tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    """Refused before any request: no server is needed (the endpoint is a closed port)."""
    src = tree(tmp_path / "src", {"j/a.txt": b"a"})
    proc = run_cli(str(src), "s3://bucket/p/", *args, env=NOWHERE)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


def test_bad_locations(tmp_path: Path) -> None:
    """Refused before any request: no server is needed."""
    env = NOWHERE
    one_line_error(
        run_cli(str(tmp_path / "missing"), "s3://bucket/p/", env=env),
        "is not a directory",
    )
    one_line_error(
        run_cli(str(tmp_path), str(tmp_path), env=env), "one local directory and one s3://"
    )
    one_line_error(run_cli(str(tmp_path), "s3://bucket/a//b/", env=env), "the prefix is not usable")
    (tmp_path / "file").write_text("x")
    one_line_error(run_cli("s3://bucket/p/", str(tmp_path / "file"), env=env), "is not a directory")


def test_failed_transfers_exit_1_and_are_listed(settings: Settings, tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"ok.txt": b"ok"})
    (src / "new\nline.txt").write_bytes(b"x")
    proc = run_cli(str(src), f"s3://{settings.bucket}/p/", env=cli_env(settings))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "1 transferred" in proc.stdout and "FAILED new\\nline.txt" in proc.stdout
