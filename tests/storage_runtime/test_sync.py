"""Bulk sync against both S3 servers: layouts, skipping, delete, dry run, data that must
never be lost or torn, interrupts, concurrent writers, and faults injected between client and
server (503s, resets, stalls, a kill mid-way)."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from storage_runtime import ObjectStore, Settings, SettingsError
from storage_runtime.sync import KeyMapper, Report, local_etag, sync
from tests.storage_runtime.conftest import needs
from tests.support.faulty_proxy import FaultProxy
from tests.support.seaweed import S3Server

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_uploads(settings: Settings, prefix: str = "") -> list[dict[str, Any]]:
    client = ObjectStore(settings).client
    return list(
        client.list_multipart_uploads(Bucket=settings.bucket, Prefix=prefix).get("Uploads", [])
    )


def keys_under(settings: Settings, prefix: str) -> list[str]:
    return sorted(i.key for i in ObjectStore(settings).list(prefix))


def cli_env(settings: Settings, endpoint: str | None = None) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "PYTHONDONTWRITEBYTECODE": "1",
        "STORAGE_PROVIDER": "minio",
        "S3_ENDPOINT_URL": endpoint or settings.endpoint_url or "",
        "S3_BUCKET": settings.bucket,
        "S3_ACCESS_KEY_ID": settings.access_key_id or "",
        "S3_SECRET_ACCESS_KEY": settings.secret_access_key or "",
    }


def start_cli(*args: str, env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "storage_runtime", "sync", *args, "--no-progress"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def run_cli(*args: str, env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storage_runtime", "sync", *args, "--no-progress"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def test_seed_000_migration_with_a_key_template(settings: Settings, tmp_path: Path) -> None:
    src = tree(
        tmp_path / "output" / "results",
        {"job-1/a.pdf": b"A" * 100, "job-1/b.pdf": b"B", "job-2/c.pdf": b"C", "stray.txt": b"x"},
    )
    report = sync(
        str(src),
        f"s3://{settings.bucket}/",
        settings,
        pattern="{job_id}/{filename}",
        key_template="results/{job_id}/{filename}",
    )
    assert (report.transferred, report.unmatched, report.failed) == (3, 1, [])
    store = ObjectStore(settings)
    assert sorted(i.key for i in store.list("results/")) == [
        "results/job-1/a.pdf",
        "results/job-1/b.pdf",
        "results/job-2/c.pdf",
    ]
    assert store.get("results/job-1/a.pdf") == b"A" * 100


def test_seed_004_layout() -> None:
    mapper = KeyMapper(
        "", "fit/{user_id}/{activity_id}.fit", "users/{user_id}/activities/{activity_id}.fit"
    )
    assert mapper.key("fit/12/345.fit") == "users/12/activities/345.fit"
    assert mapper.key("fit/12/notes.txt") is None
    deep = KeyMapper("", "{base*}/{name}", "models/{base}/{name}")
    assert deep.key("sdxl/v1/model.safetensors") == "models/sdxl/v1/model.safetensors"
    with pytest.raises(SettingsError, match="go together"):
        KeyMapper("", "{a}", None)


def test_second_run_skips_identical_files_including_multipart_ones(
    settings: Settings, tmp_path: Path
) -> None:
    src = tree(tmp_path / "src", {"small.bin": os.urandom(1000), "big.bin": os.urandom(17 * MiB)})
    first = sync(str(src), f"s3://{settings.bucket}/m/", settings)
    assert first.transferred == 2
    again = sync(str(src), f"s3://{settings.bucket}/m/", settings)
    assert (again.transferred, again.skipped) == (0, 2)
    assert local_etag(src / "big.bin", 17 * MiB).endswith("-3")
    (src / "small.bin").write_bytes(os.urandom(1000))  # same size, new content
    changed = sync(str(src), f"s3://{settings.bucket}/m/", settings)
    assert (changed.transferred, changed.skipped) == (1, 1)
    assert sync(str(src), f"s3://{settings.bucket}/m/", settings, compare="size").transferred == 0


def test_download_round_trip_and_mtime_compare(settings: Settings, tmp_path: Path) -> None:
    files = {"sd15/a.safetensors": os.urandom(9 * MiB), "flux/b.safetensors": os.urandom(3000)}
    src = tree(tmp_path / "src", files)
    sync(str(src), f"s3://{settings.bucket}/models/", settings)
    dst = tmp_path / "efs"
    report = sync(f"s3://{settings.bucket}/models/", str(dst), settings)
    assert report.transferred == 2 and report.failed == []
    for rel, data in files.items():
        assert (dst / rel).read_bytes() == data
    assert not list(dst.rglob("*.part"))
    assert sync(f"s3://{settings.bucket}/models/", str(dst), settings, compare="mtime").skipped == 2


def test_delete_only_when_asked_and_dry_run_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    src = tree(tmp_path / "src", {"keep.txt": b"k", "gone.txt": b"g"})
    sync(str(src), f"s3://{settings.bucket}/d/", settings)
    (src / "gone.txt").unlink()
    (src / "new.txt").write_bytes(b"n")
    store = ObjectStore(settings)
    plan = sync(str(src), f"s3://{settings.bucket}/d/", settings, delete=True, dry_run=True)
    assert sorted(plan.planned) == [
        f"delete s3://{settings.bucket}/d/gone.txt",
        f"upload new.txt -> s3://{settings.bucket}/d/new.txt (1.0 B)",
    ]
    assert sorted(i.key for i in store.list("d/")) == ["d/gone.txt", "d/keep.txt"]
    without = sync(str(src), f"s3://{settings.bucket}/d/", settings)
    assert without.deleted == 0 and store.exists("d/gone.txt")
    report = sync(str(src), f"s3://{settings.bucket}/d/", settings, delete=True)
    assert report.deleted == 1
    assert sorted(i.key for i in store.list("d/")) == ["d/keep.txt", "d/new.txt"]


def test_bad_locations_are_refused(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="one local directory and one s3://"):
        sync(str(tmp_path), str(tmp_path), settings)
    with pytest.raises(SettingsError, match="names no bucket"):
        sync(str(tmp_path), "s3://", settings)


# --------------------------------------------------------------------- nothing lost: delete


def without_root_file_access() -> dict[str, Any]:
    """Run a child that cannot bypass file permissions: root reads any directory, so for
    root the child drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH before it starts."""
    if os.geteuid() != 0:
        return {}
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def drop() -> None:
        for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return {"preexec_fn": drop}


def test_delete_deletes_nothing_when_a_directory_could_not_be_read(
    settings: Settings, tmp_path: Path
) -> None:
    src = tree(tmp_path / "src", {"public/a.txt": b"a", "secret/b.txt": b"b"})
    assert sync(str(src), f"s3://{settings.bucket}/r/", settings).transferred == 2
    (src / "secret").chmod(0o000)
    try:
        proc = run_cli(
            str(src),
            f"s3://{settings.bucket}/r/",
            "--delete",
            env=cli_env(settings),
            **without_root_file_access(),
        )
    finally:
        (src / "secret").chmod(0o755)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED secret: cannot list the directory" in proc.stdout, proc.stdout
    assert "NOT DELETED" in proc.stdout and "Traceback" not in proc.stderr
    assert keys_under(settings, "r/") == ["r/public/a.txt", "r/secret/b.txt"]


def test_symlinked_directories_are_followed_so_their_objects_stay(
    settings: Settings, tmp_path: Path
) -> None:
    real = tree(tmp_path / "elsewhere", {"model.bin": b"weights"})
    src = tree(tmp_path / "src", {"a.txt": b"a"})
    (src / "models").symlink_to(real, target_is_directory=True)
    first = sync(str(src), f"s3://{settings.bucket}/l/", settings, delete=True)
    assert (first.transferred, first.failed) == (2, []), first.render()
    again = sync(str(src), f"s3://{settings.bucket}/l/", settings, delete=True)
    assert (again.skipped, again.deleted, again.failed) == (2, 0, [])
    assert keys_under(settings, "l/") == ["l/a.txt", "l/models/model.bin"]


def test_download_delete_from_a_source_that_lists_nothing_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    dst = tree(tmp_path / "efs", {"sdxl/model.safetensors": b"weights", "keep.txt": b"k"})
    with pytest.raises(
        SettingsError,
        match=r"the source s3://.*/typo-prefix/ has no files, so all 2 under .* would be deleted.*--allow-empty-source",
    ):
        sync(f"s3://{settings.bucket}/typo-prefix/", str(dst), settings, delete=True)
    assert (dst / "sdxl/model.safetensors").read_bytes() == b"weights"
    proc = run_cli(
        f"s3://{settings.bucket}/typo-prefix/", str(dst), "--delete", env=cli_env(settings)
    )
    assert proc.returncode == 2 and "--allow-empty-source" in proc.stderr
    assert "Traceback" not in proc.stderr
    report = sync(
        f"s3://{settings.bucket}/typo-prefix/",
        str(dst),
        settings,
        delete=True,
        allow_empty_source=True,
    )
    assert report.deleted == 2 and not list(dst.rglob("*.txt"))


def test_upload_delete_from_an_empty_directory_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    sync(str(tree(tmp_path / "full", {"a.txt": b"a"})), f"s3://{settings.bucket}/e/", settings)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SettingsError, match="has no files, so all 1 under"):
        sync(str(tmp_path / "empty"), f"s3://{settings.bucket}/e/", settings, delete=True)
    assert keys_under(settings, "e/") == ["e/a.txt"]


def test_key_template_keys_live_under_the_destination_prefix(
    settings: Settings, tmp_path: Path
) -> None:
    store = ObjectStore(settings)
    store.put("results/live/report.pdf", b"live")  # another job's result: not ours to delete
    store.put("elsewhere/x.txt", b"x")
    src = tree(tmp_path / "out", {"job-1/a.pdf": b"a", "job-2/b.pdf": b"b"})
    args = dict(pattern="{job_id}/{filename}", key_template="archive/{job_id}/{filename}")
    first = sync(str(src), f"s3://{settings.bucket}/results/", settings, **args)
    assert first.transferred == 2
    assert keys_under(settings, "") == [
        "elsewhere/x.txt",
        "results/archive/job-1/a.pdf",
        "results/archive/job-2/b.pdf",
        "results/live/report.pdf",
    ]
    again = sync(str(src), f"s3://{settings.bucket}/results/", settings, **args)
    assert (again.transferred, again.skipped) == (0, 2), "a re-run skips what is there"
    (src / "job-2/b.pdf").unlink()
    pruned = sync(
        str(src),
        f"s3://{settings.bucket}/results/archive/",
        settings,
        delete=True,
        pattern="{job_id}/{filename}",
        key_template="{job_id}/{filename}",
    )
    assert (pruned.skipped, pruned.deleted) == (1, 1)
    assert keys_under(settings, "") == [
        "elsewhere/x.txt",
        "results/archive/job-1/a.pdf",
        "results/live/report.pdf",
    ]


def test_delete_with_a_template_keeps_what_the_template_cannot_write(
    settings: Settings, tmp_path: Path
) -> None:
    """`--delete` into results/ with keys made as archive/...: the live objects under results/
    that no template key could be are another job's, not this run's to delete."""
    store = ObjectStore(settings)
    store.put("results/live/report.pdf", b"live")
    store.put("results/archive/job-9/gone.pdf", b"gone")  # the template's key space: pruned
    src = tree(tmp_path / "out", {"job-1/a.pdf": b"a"})
    report = sync(
        str(src),
        f"s3://{settings.bucket}/results/",
        settings,
        delete=True,
        pattern="{job_id}/{filename}",
        key_template="archive/{job_id}/{filename}",
    )
    assert (report.transferred, report.deleted) == (1, 1), report.render()
    assert keys_under(settings, "") == ["results/archive/job-1/a.pdf", "results/live/report.pdf"]
    # seed 004: only users/<id>/activities/<id>.fit is the template's; avatars stay
    store.put("users/7/avatar.png", b"me")
    store.put("users/7/activities/1.fit", b"old")
    fit = tree(tmp_path / "export", {"fit/7/42.fit": b"new"})
    pruned = sync(
        str(fit),
        f"s3://{settings.bucket}/users/",
        settings,
        delete=True,
        pattern="fit/{user_id}/{activity_id}.fit",
        key_template="{user_id}/activities/{activity_id}.fit",
    )
    assert (pruned.transferred, pruned.deleted) == (1, 1), pruned.render()
    assert keys_under(settings, "users/") == ["users/7/activities/42.fit", "users/7/avatar.png"]


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("/{job_id}/{filename}", "would leave the destination prefix"),
        ("../{filename}", "would leave the destination prefix"),
        ("a/./{filename}", "would leave the destination prefix"),
        ("a//{filename}", "would leave the destination prefix"),
        ("a\\{filename}", "would leave the destination prefix"),
        ("{job}/{filename}", "unknown placeholder {job}; accepted: {job_id}, {filename}, {path}"),
        ("{filename!r}", "unknown placeholder"),
        ("{filename.upper}", "unknown placeholder"),
        ("{job_id", "--key-template '{job_id'"),
    ],
)
def test_templates_that_cannot_make_keys_under_the_prefix_are_refused(
    template: str, fragment: str
) -> None:
    with pytest.raises(SettingsError) as info:
        KeyMapper("p/", "{job_id}/{filename}", template)
    assert fragment in str(info.value)


def test_download_never_writes_outside_its_destination(
    settings: Settings, s3_server: S3Server, tmp_path: Path
) -> None:
    needs(s3_server, "raw keys")
    client = ObjectStore(settings).client
    escaped = f"escaped-{os.getpid()}-{time.time_ns()}"
    hostile = [
        f"p//tmp/{escaped}",
        f"p/../{escaped}",
        f"p/a/../../{escaped}",
        "p/a\\b",
        "p/./x",
        "p/" + "ctl\x01",
    ]
    for key in hostile:
        client.put_object(Bucket=settings.bucket, Key=key, Body=b"evil")
    client.put_object(Bucket=settings.bucket, Key="p/ok/fine.txt", Body=b"fine")
    dst = tmp_path / "deep" / "dst"
    report = sync(f"s3://{settings.bucket}/p/", str(dst), settings)
    assert (dst / "ok/fine.txt").read_bytes() == b"fine"
    assert report.transferred == 1 and len(report.failed) == len(hostile), report.render()
    assert all("not a safe path" in why for _, why in report.failed), report.render()
    assert not Path("/tmp", escaped).exists() and not (tmp_path / "deep" / escaped).exists()
    assert sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
    ) == ["deep/dst/ok/fine.txt"]


def test_a_download_of_the_whole_bucket_never_writes_an_absolute_key(
    settings: Settings, s3_server: S3Server, tmp_path: Path
) -> None:
    """A key with a leading '/' (S3 keeps it) at the bucket's root is not an absolute path."""
    needs(s3_server, "raw keys")
    client = ObjectStore(settings).client
    escaped = f"escaped-{os.getpid()}-{time.time_ns()}"
    client.put_object(Bucket=settings.bucket, Key=f"/tmp/{escaped}", Body=b"evil")
    client.put_object(Bucket=settings.bucket, Key="ok.txt", Body=b"fine")
    dst = tmp_path / "dst"
    report = sync(f"s3://{settings.bucket}/", str(dst), settings)
    assert (dst / "ok.txt").read_bytes() == b"fine"
    assert report.transferred == 1 and len(report.failed) == 1, report.render()
    assert "not a safe path" in report.failed[0][1], report.render()
    assert not Path("/tmp", escaped).exists()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["ok.txt"]


def test_download_does_not_follow_a_symlink_out_of_the_destination(
    settings: Settings, tmp_path: Path
) -> None:
    ObjectStore(settings).put("s/cache/model.bin", b"weights")
    outside = tmp_path / "outside"
    outside.mkdir()
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "cache").symlink_to(outside, target_is_directory=True)
    report = sync(f"s3://{settings.bucket}/s/", str(dst), settings)
    assert report.failed and "a symlink in the destination leads outside it" in report.failed[0][1]
    assert list(outside.iterdir()) == []


def test_sync_downloads_get_the_process_umask(settings: Settings, tmp_path: Path) -> None:
    ObjectStore(settings).put("u/a.bin", b"a" * 10)
    ObjectStore(settings).put("u/big.bin", os.urandom(9 * MiB))
    old = os.umask(0o027)
    try:
        sync(f"s3://{settings.bucket}/u/", str(tmp_path / "dst"), settings)
    finally:
        os.umask(old)
    for name in ("a.bin", "big.bin"):
        assert stat.S_IMODE((tmp_path / "dst" / name).stat().st_mode) == 0o640, name


def test_uploads_get_their_content_type_from_the_file_name(
    settings: Settings, s3_server: S3Server, tmp_path: Path
) -> None:
    src = tree(
        tmp_path / "src",
        {
            "r/report.pdf": b"%PDF",
            "t/thumb.png": b"png",
            "t/thumb.webp": b"webp",
            "v/subtitles.srt": b"1",
            "v/video.mp4": b"mp4",
            "fit/1.fit": b"fit",
            "big/video.mp4": os.urandom(9 * MiB),
        },
    )
    assert sync(str(src), f"s3://{settings.bucket}/c/", settings).failed == []
    store = ObjectStore(settings)
    expected = {
        "c/r/report.pdf": "application/pdf",
        "c/t/thumb.png": "image/png",
        "c/t/thumb.webp": "image/webp",
        "c/v/subtitles.srt": "application/x-subrip",
        "c/v/video.mp4": "video/mp4",
        "c/fit/1.fit": "application/vnd.ant.fit",
        "c/big/video.mp4": "video/mp4",
    }
    assert {k: store.head(k).content_type for k in expected} == expected
    override = tree(tmp_path / "o", {"a.fit": b"fit", "m.safetensors": b"w"})
    sync(
        str(override),
        f"s3://{settings.bucket}/o/",
        settings,
        content_types={".fit": "application/fit"},
    )
    assert store.head("o/a.fit").content_type == "application/fit"
    if s3_server.name == "moto":  # SeaweedFS replaces an explicit application/octet-stream
        assert store.head("o/m.safetensors").content_type == "application/octet-stream"


def test_one_bad_local_name_fails_only_that_file(settings: Settings, tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"good/a.txt": b"a", "good/b.txt": b"b"})
    (src / "new\nline.txt").write_bytes(b"x")
    (src / os.fsdecode(b"latin1-\xe9.txt")).write_bytes(b"x")
    long_dir = src / ("d" * 200) / ("e" * 200) / ("f" * 200) / ("g" * 200) / ("h" * 200)
    long_dir.mkdir(parents=True)
    (long_dir / ("i" * 100)).write_bytes(b"x")
    (src / "broken").symlink_to(tmp_path / "does-not-exist")
    (src / "loop-a").symlink_to(src / "loop-b")
    (src / "loop-b").symlink_to(src / "loop-a")
    (src / "good" / "back").symlink_to(src, target_is_directory=True)
    proc = run_cli(str(src), f"s3://{settings.bucket}/n/", env=cli_env(settings))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    failed = [line for line in proc.stdout.splitlines() if line.startswith("  FAILED ")]
    assert len(failed) == 7, proc.stdout
    for fragment in (
        "new\\nline.txt",
        "latin1-\\xe9.txt",
        "1024",
        "broken: a broken symlink",
        "loop-a: a symlink loop",
        "loop-b: a symlink loop",
        "good/back: a symlink loop",
    ):
        assert any(fragment in line for line in failed), (fragment, proc.stdout)
    assert keys_under(settings, "n/") == ["n/good/a.txt", "n/good/b.txt"]


# ---------------------------------------------------------------- nothing torn, no stalls


def held_upload(
    settings: Settings, src: Path, prefix: str, passes: int, change: Any
) -> tuple[Report, float]:
    """Sync `src` one part at a time through a proxy that holds the upload after `passes`
    parts; `change()` runs while it is held."""
    with FaultProxy(settings.endpoint_url or "", rate=0.0) as proxy:
        proxy.hold_after = ("partNumber=", passes)
        slow = replace(settings, endpoint_url=proxy.url)
        result: dict[str, Any] = {}
        start = time.monotonic()
        thread = threading.Thread(
            target=lambda: result.update(
                r=sync(str(src), f"s3://{settings.bucket}/{prefix}/", slow, concurrency=1)
            )
        )
        thread.start()
        assert proxy.held.wait(30), "the upload never reached the held part"
        change()
        proxy.release.set()
        thread.join(60)
        return result["r"], time.monotonic() - start


def test_a_file_rewritten_during_its_upload_is_never_stored_torn(
    settings: Settings, tmp_path: Path
) -> None:
    old, new = b"O" * (17 * MiB), b"N" * (17 * MiB)
    src = tree(tmp_path / "src", {"model.bin": old})
    report, _ = held_upload(settings, src, "t", 1, lambda: (src / "model.bin").write_bytes(new))
    assert report.transferred == 0 and len(report.failed) == 1, report.render()
    assert "model.bin: the file was modified during the upload" in report.failed[0][1]
    assert keys_under(settings, "t/") == [], "nothing stored rather than a mix"
    assert open_uploads(settings, "t/") == []
    assert sync(str(src), f"s3://{settings.bucket}/t/", settings).transferred == 1
    assert ObjectStore(settings).get("t/model.bin") == new
    (src / "model.bin").write_bytes(old)
    report, _ = held_upload(settings, src, "t", 1, lambda: (src / "model.bin").write_bytes(new))
    assert len(report.failed) == 1
    assert ObjectStore(settings).get("t/model.bin") == new, "the old object stays whole"


def test_a_file_that_shrinks_during_its_upload_fails_at_once(
    settings: Settings, tmp_path: Path
) -> None:
    src = tree(tmp_path / "src", {"model.bin": os.urandom(17 * MiB)})

    def shrink() -> None:
        with (src / "model.bin").open("r+b") as f:
            f.truncate(10 * MiB)

    report, seconds = held_upload(settings, src, "s", 1, shrink)
    assert len(report.failed) == 1 and "shrank" in report.failed[0][1], report.render()
    assert seconds < 30, f"took {seconds:.0f} s"
    assert keys_under(settings, "s/") == [] and open_uploads(settings, "s/") == []


def test_put_of_a_file_that_changes_stores_nothing(settings: Settings, tmp_path: Path) -> None:
    from storage_runtime import FileChangedError

    path = tmp_path / "grow.bin"
    path.write_bytes(os.urandom(20 * MiB))
    store = ObjectStore(settings)
    original = store.client.upload_part

    def append_after_first_part(**kw: Any) -> Any:
        if kw["PartNumber"] == 1:
            with path.open("ab") as f:
                f.write(b"more")
        return original(**kw)

    store.client.upload_part = append_after_first_part
    try:
        with pytest.raises(FileChangedError, match="changed size"):
            store.put("g/grow.bin", path)
    finally:
        del store.client.upload_part
    assert not store.exists("g/grow.bin") and open_uploads(settings, "g/") == []


# ----------------------------------------------------------------------------- interrupts


def test_sigint_stops_the_sync_aborts_its_uploads_and_exits_130(
    settings: Settings, tmp_path: Path
) -> None:
    files = {"a/huge-1.bin": os.urandom(17 * MiB), "a/huge-2.bin": os.urandom(17 * MiB)}
    files |= {f"b/{i:02d}.txt": b"small" for i in range(30)}
    src = tree(tmp_path / "src", files)
    with FaultProxy(settings.endpoint_url or "", rate=0.0) as proxy:
        proxy.hold_after = ("partNumber=", 2)
        proc = start_cli(
            str(src),
            f"s3://{settings.bucket}/i/",
            "--concurrency",
            "2",
            env=cli_env(settings, proxy.url),
        )
        assert proxy.held.wait(30), "the uploads never got going"
        time.sleep(0.3)
        assert open_uploads(settings, "i/"), "both big files are being uploaded"
        signalled = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        seconds = time.monotonic() - signalled
    assert proc.returncode == 130, out + err
    assert seconds < 10, f"exit took {seconds:.1f} s"
    assert "Traceback" not in err, err
    assert (
        "INTERRUPTED by SIGINT: 30 transfers not started, 2 of this run's multipart uploads aborted"
        in out
    ), out
    assert open_uploads(settings, "i/") == []
    assert keys_under(settings, "i/") == [], "no transfer started after the signal"


def test_sigterm_during_a_download_removes_its_part_files(
    settings: Settings, tmp_path: Path
) -> None:
    store = ObjectStore(settings)
    for i in range(6):
        store.put(f"dl/{i}.bin", os.urandom(2 * MiB))
    dst = tmp_path / "dst"
    with FaultProxy(settings.endpoint_url or "", rate=0.0) as proxy:
        proxy.hold_after = ("/dl/", 1)
        proc = start_cli(
            f"s3://{settings.bucket}/dl/",
            str(dst),
            "--concurrency",
            "2",
            env=cli_env(settings, proxy.url),
        )
        assert proxy.held.wait(30)
        deadline = time.monotonic() + 10
        while not list(dst.glob(".*.part")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(dst.glob(".*.part")), "a download in flight has its temporary file"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, out + err
    assert "INTERRUPTED by SIGTERM" in out and "Traceback" not in err
    assert list(dst.glob(".*.part")) == []


def test_a_later_run_removes_the_part_files_a_killed_run_left(
    settings: Settings, tmp_path: Path
) -> None:
    store = ObjectStore(settings)
    payload = {f"k/{i}.bin": os.urandom(MiB) for i in range(3)}
    for key, data in payload.items():
        store.put(key, data)
    dst = tmp_path / "dst"
    with FaultProxy(settings.endpoint_url or "", rate=0.0) as proxy:
        proxy.hold_after = ("/k/", 0)
        proc = start_cli(f"s3://{settings.bucket}/k/", str(dst), env=cli_env(settings, proxy.url))
        assert proxy.held.wait(30)
        deadline = time.monotonic() + 10
        while not list(dst.glob(".*.part")) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.kill()
        proc.communicate(timeout=10)
    leftovers = list(dst.glob(".*.part"))
    assert leftovers, "the killed run left its temporary files"
    mine_in_flight = dst / f".x.{os.uname().nodename[:32]}-{os.getpid()}-0123abcd.part"
    report = sync(f"s3://{settings.bucket}/k/", str(dst), settings)
    assert report.removed_parts == len(leftovers) and report.failed == []
    assert sorted(p.name for p in dst.iterdir()) == ["0.bin", "1.bin", "2.bin"]
    assert not mine_in_flight.exists()


# ------------------------------------------------------------------- concurrent writers


def test_two_syncs_of_one_key_both_succeed(settings: Settings, tmp_path: Path) -> None:
    one = tree(tmp_path / "one", {"model.bin": b"1" * (17 * MiB)})
    two = tree(tmp_path / "two", {"model.bin": b"2" * (17 * MiB)})
    with FaultProxy(settings.endpoint_url or "", rate=0.0) as proxy:
        proxy.hold_after = ("partNumber=", 1)  # both uploads are open before either finishes
        slow = replace(settings, endpoint_url=proxy.url)
        reports: list[Report] = []
        threads = [
            threading.Thread(
                target=lambda src=src: reports.append(
                    sync(str(src), f"s3://{settings.bucket}/w/", slow, concurrency=1)
                )
            )
            for src in (one, two)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(open_uploads(settings, "w/")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(open_uploads(settings, "w/")) == 2
        proxy.release.set()
        for t in threads:
            t.join(60)
    assert [r.failed for r in reports] == [[], []], [r.render() for r in reports]
    assert ObjectStore(settings).get("w/model.bin") in (b"1" * (17 * MiB), b"2" * (17 * MiB))
    assert open_uploads(settings, "w/") == []


def test_sync_never_aborts_another_writers_upload_of_the_same_key(
    settings: Settings, tmp_path: Path
) -> None:
    store = ObjectStore(settings)
    other = store.client.create_multipart_upload(Bucket=settings.bucket, Key="o/model.bin")
    src = tree(tmp_path / "src", {"model.bin": os.urandom(9 * MiB), "mine.txt": b"m"})
    report = sync(str(src), f"s3://{settings.bucket}/o/", settings)
    assert report.failed == [] and report.aborted_uploads == 0
    assert [u["UploadId"] for u in open_uploads(settings, "o/")] == [other["UploadId"]]


# ------------------------------------------------------------------------------ faults


def test_sync_through_503s_resets_and_stalls_ends_with_every_byte_right(
    settings: Settings, tmp_path: Path
) -> None:
    files = {f"u/{i:03d}.bin": os.urandom(20_000 + i) for i in range(40)}
    files |= {"big/a.bin": os.urandom(18 * MiB), "big/b.bin": os.urandom(9 * MiB)}
    src = tree(tmp_path / "src", files)
    with FaultProxy(
        settings.endpoint_url or "", rate=0.25, max_faults=40, stall_seconds=1.6
    ) as proxy:
        faulty = replace(
            settings, endpoint_url=proxy.url, read_timeout_seconds=1, connect_timeout_seconds=1
        )
        report = sync(str(src), f"s3://{settings.bucket}/f/", faulty, concurrency=8)
    assert report.failed == [], report.render()
    assert report.transferred == len(files)
    assert sum(proxy.faults.values()) >= 10 and set(proxy.faults) == {"503", "reset", "stall"}
    assert report.retried >= 10, report.render()
    store = ObjectStore(settings)
    for rel, data in files.items():
        assert digest(store.get(f"f/{rel}")) == digest(data), rel
    # The only uploads left open are those of creates whose answer was lost: their ids were
    # never seen, so they are the lifecycle rule's (no clean-up can tell them from a writer's).
    assert len(open_uploads(settings, "f/")) == proxy.lost_creates()


def test_killed_sync_resumes_and_leaves_its_orphan_to_the_lifecycle_rule(
    settings: Settings, tmp_path: Path
) -> None:
    files = {
        "models/huge.bin": os.urandom(24 * MiB),
        **{f"small/{i}.txt": os.urandom(500) for i in range(20)},
    }
    src = tree(tmp_path / "src", files)
    with FaultProxy(settings.endpoint_url or "", rate=0.0) as proxy:
        proxy.hold_after = ("partNumber=", 2)  # let two parts through, then freeze the upload
        proc = start_cli(str(src), f"s3://{settings.bucket}/k/", env=cli_env(settings, proxy.url))
        assert proxy.held.wait(30), "the upload never reached its third part"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proxy.release.set()
        time.sleep(0.5)
    orphans = open_uploads(settings, "k/")
    assert len(orphans) == 1, "the killed run left its multipart upload open"
    store = ObjectStore(settings)
    assert not store.exists("k/models/huge.bin"), "no partial object is ever visible"
    report = sync(str(src), f"s3://{settings.bucket}/k/", settings)
    assert report.failed == [] and report.aborted_uploads == 0
    for rel, data in files.items():
        assert digest(store.get(f"k/{rel}")) == digest(data), rel
    # Another process started it: it may be a live writer's, so only the bucket's
    # abort-incomplete-multipart lifecycle rule removes it.
    assert [u["UploadId"] for u in open_uploads(settings, "k/")] == [orphans[0]["UploadId"]]
    again = sync(str(src), f"s3://{settings.bucket}/k/", settings)
    assert (again.transferred, again.skipped) == (0, len(files))


def test_delete_without_a_destination_prefix_is_refused(settings: Settings, tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"a.txt": b"a"})
    with pytest.raises(SettingsError, match="--delete needs a destination prefix"):
        sync(str(src), f"s3://{settings.bucket}/", settings, delete=True)


@pytest.mark.parametrize("via", ["object-store", "sync"])
def test_a_complete_answered_too_late_is_proven_by_the_object(
    settings: Settings, tmp_path: Path, via: str
) -> None:
    """The server completes a multipart upload whose answer comes after the client's read
    timeout; botocore's retry finds no upload any more (NoSuchUpload, which both test servers
    only show through the proxy). The object with its size and part count is the proof the
    upload worked, for the store as for sync."""
    data = os.urandom(20 * MiB)
    src = tree(tmp_path / "src", {"late.bin": data})
    with FaultProxy(settings.endpoint_url or "", rate=0.0, stall_seconds=1.6) as proxy:
        proxy.stall_once = r"^POST .*\?uploadId="  # CompleteMultipartUpload
        proxy.retry_finds_no_upload = True
        slow = replace(
            settings, endpoint_url=proxy.url, read_timeout_seconds=1, connect_timeout_seconds=1
        )
        if via == "sync":
            assert sync(str(src), f"s3://{settings.bucket}/late-complete/", slow).failed == []
        else:
            result = ObjectStore(slow).put("late-complete/late.bin", io.BytesIO(data))
            assert result.size == len(data) and result.etag.endswith('-3"')
    assert [mode for mode, _, _ in proxy.injected] == ["stall", "no-such-upload"]
    assert digest(ObjectStore(settings).get("late-complete/late.bin")) == digest(data)
    assert open_uploads(settings, "late-complete/") == []


@pytest.mark.parametrize("via", ["object-store", "sync"])
def test_a_create_answered_too_late_leaves_one_orphan_and_a_whole_object(
    settings: Settings, tmp_path: Path, via: str
) -> None:
    """The server executes a CreateMultipartUpload whose answer comes after the client's read
    timeout; botocore creates another. The first one's id was never seen by the client, and
    nothing can tell it from another writer's upload: it stays for the lifecycle rule."""
    data = os.urandom(20 * MiB)
    src = tree(tmp_path / "src", {"late.bin": data})
    with FaultProxy(settings.endpoint_url or "", rate=0.0, stall_seconds=1.6) as proxy:
        proxy.stall_once = r"^POST .*\?uploads"  # CreateMultipartUpload
        slow = replace(
            settings, endpoint_url=proxy.url, read_timeout_seconds=1, connect_timeout_seconds=1
        )
        if via == "sync":
            assert sync(str(src), f"s3://{settings.bucket}/late/", slow).failed == []
        else:
            ObjectStore(slow).put("late/late.bin", io.BytesIO(data))
    # (the proxy forwards a stalled request first: the server has created the upload)
    assert proxy.faults["stall"] == 1 and proxy.lost_creates() == 1
    store = ObjectStore(settings)
    assert digest(store.get("late/late.bin")) == digest(data)
    assert len(open_uploads(settings, "late/")) == 1
