"""Bulk sync against the real S3 server: layouts, skipping, delete, dry run, and faults
injected between client and server (503s, resets, stalls, a kill mid-way)."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from storage_runtime import ObjectStore, Settings, SettingsError
from storage_runtime.sync import KeyMapper, local_etag, sync
from tests.support.faulty_proxy import FaultProxy

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


# ------------------------------------------------------------------------------ faults


def test_sync_through_503s_resets_and_stalls_ends_with_every_byte_right(
    settings: Settings, tmp_path: Path
) -> None:
    files = {f"u/{i:03d}.bin": os.urandom(20_000 + i) for i in range(60)}
    files |= {"big/a.bin": os.urandom(18 * MiB), "big/b.bin": os.urandom(12 * MiB)}
    src = tree(tmp_path / "src", files)
    with FaultProxy(
        settings.endpoint_url or "", rate=0.25, max_faults=40, stall_seconds=2.5
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
    assert store.client.list_multipart_uploads(Bucket=settings.bucket).get("Uploads", []) == []


def test_killed_sync_resumes_with_no_upload_left_open(settings: Settings, tmp_path: Path) -> None:
    files = {
        "models/huge.bin": os.urandom(48 * MiB),
        **{f"small/{i}.txt": os.urandom(500) for i in range(20)},
    }
    src = tree(tmp_path / "src", files)
    with FaultProxy(settings.endpoint_url or "", rate=0.0) as proxy:
        proxy.hold_after = ("partNumber=", 2)  # let two parts through, then freeze the upload
        env = {
            **os.environ,
            "STORAGE_PROVIDER": "minio",
            "S3_ENDPOINT_URL": proxy.url,
            "S3_BUCKET": settings.bucket,
            "S3_ACCESS_KEY_ID": settings.access_key_id or "",
            "S3_SECRET_ACCESS_KEY": settings.secret_access_key or "",
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "storage_runtime",
                "sync",
                str(src),
                f"s3://{settings.bucket}/k/",
                "--no-progress",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proxy.held.wait(30), "the upload never reached its third part"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proxy.release.set()
        time.sleep(0.5)
    store = ObjectStore(settings)
    open_uploads = store.client.list_multipart_uploads(Bucket=settings.bucket, Prefix="k/").get(
        "Uploads", []
    )
    assert open_uploads, "the killed run should have left its multipart upload open"
    assert not store.exists("k/models/huge.bin"), "no partial object is ever visible"
    report = sync(str(src), f"s3://{settings.bucket}/k/", settings)
    assert report.failed == [] and report.aborted_uploads >= 1
    for rel, data in files.items():
        assert digest(store.get(f"k/{rel}")) == digest(data), rel
    assert (
        store.client.list_multipart_uploads(Bucket=settings.bucket, Prefix="k/").get("Uploads", [])
        == []
    )
    again = sync(str(src), f"s3://{settings.bucket}/k/", settings)
    assert (again.transferred, again.skipped) == (0, len(files))


def test_delete_without_a_destination_prefix_is_refused(settings: Settings, tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"a.txt": b"a"})
    with pytest.raises(SettingsError, match="--delete needs a destination prefix"):
        sync(str(src), f"s3://{settings.bucket}/", settings, delete=True)


def test_open_uploads_of_other_keys_are_left_alone(settings: Settings, tmp_path: Path) -> None:
    store = ObjectStore(settings)
    live = store.client.create_multipart_upload(
        Bucket=settings.bucket, Key="o/app-is-uploading.bin"
    )
    src = tree(tmp_path / "src", {"mine.txt": b"m"})
    report = sync(str(src), f"s3://{settings.bucket}/o/", settings)
    assert report.aborted_uploads == 0
    uploads = store.client.list_multipart_uploads(Bucket=settings.bucket, Prefix="o/").get(
        "Uploads", []
    )
    assert [u["UploadId"] for u in uploads] == [live["UploadId"]]


@pytest.mark.parametrize("via", ["object-store", "sync"])
def test_a_create_answered_too_late_leaves_no_upload_open(
    settings: Settings, tmp_path: Path, via: str
) -> None:
    """The server executes a CreateMultipartUpload whose answer comes after the client's read
    timeout; botocore creates another. The first one's id was never seen by the client."""
    data = os.urandom(20 * MiB)
    src = tree(tmp_path / "src", {"late.bin": data})
    with FaultProxy(settings.endpoint_url or "", rate=0.0, stall_seconds=2.5) as proxy:
        proxy.stall_once = "?uploads"
        slow = replace(
            settings, endpoint_url=proxy.url, read_timeout_seconds=1, connect_timeout_seconds=1
        )
        if via == "sync":
            assert sync(str(src), f"s3://{settings.bucket}/late/", slow).failed == []
        else:
            ObjectStore(slow).put("late/late.bin", io.BytesIO(data))
        time.sleep(2)  # let the stalled create reach the server
    assert proxy.faults["stall"] == 1
    store = ObjectStore(settings)
    assert digest(store.get("late/late.bin")) == digest(data)
    assert (
        store.client.list_multipart_uploads(Bucket=settings.bucket, Prefix="late/").get(
            "Uploads", []
        )
        == []
    )
