"""Seed 003's shared model cache against a real S3 server: processes racing on one directory
download a model once (GETs counted by a proxy in front of the server) and all read the same
bytes; a downloader killed by SIGKILL mid-download leaves nothing under the model's name, and
the next caller completes it; a held lock times out naming its holder."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from storage_runtime import InvalidKeyError, ObjectNotFoundError, ObjectStore, Settings
from storage_runtime.__main__ import main
from storage_runtime.files import is_temp
from storage_runtime.model_cache import (
    MANIFEST,
    ModelCache,
    ModelCacheError,
    ModelCacheTimeout,
    _verify,
)
from tests.storage_runtime.test_sync import ROOT, cli_env
from tests.support.faulty_proxy import FaultProxy
from tests.support.seaweed import S3Server

MODEL = "sdxl/juggernaut-xl.safetensors"
MODEL_BYTES = bytes(range(251)) * 6_000  # ~1.4 MiB: a 1 MiB chunk and a bit

# A worker process: the cache from the environment (Settings.from_env), one model; prints
# what it saw. KILL_AFTER=n: SIGKILL itself once n bytes are written (a crash mid-download).
WORKER = r"""
import hashlib, json, os, signal, sys
from pathlib import Path
from storage_runtime import ObjectStore, Settings
from storage_runtime.model_cache import ModelCache

root, key = Path(sys.argv[1]), sys.argv[2]
kill_after = int(os.environ.get("KILL_AFTER", "0"))

def progress(k, written, total):
    if kill_after and written >= kill_after:
        os.kill(os.getpid(), signal.SIGKILL)

cache = ModelCache(ObjectStore(Settings.from_env()), root, poll_interval=0.05,
                   lock_timeout=float(os.environ.get("LOCK_TIMEOUT", "60")), progress=progress)
before = cache.cached(key) is not None
print("ready", file=sys.stderr, flush=True)
path = cache.path(key)
files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
digests = {str(p.relative_to(path) if path.is_dir() else p.name):
           hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
print(json.dumps({"path": str(path), "cached_before": before, "digests": digests}))
"""


class CountingProxy(FaultProxy):
    """Forwards everything and records (method, object key) of every request."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, rate=0.0)
        self.calls: list[tuple[str, str]] = []

    def _fault(self, method: str, path: str) -> str | None:
        with self.lock:
            bucket_and_key = unquote(urlsplit(path).path).lstrip("/")
            self.calls.append((method, bucket_and_key.partition("/")[2]))
        return None

    def gets(self, key: str) -> int:
        return sum(1 for m, k in self.calls if m == "GET" and k == key)


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[CountingProxy]:
    p = CountingProxy(s3_server.endpoint)
    with p:
        yield p


@pytest.fixture
def models(settings: Settings, proxy: CountingProxy) -> ObjectStore:
    """The models bucket, reached through the counting proxy."""
    store = ObjectStore(replace(settings, endpoint_url=proxy.url))
    store.put(MODEL, MODEL_BYTES)
    return store


def workers(
    models: ObjectStore, root: Path, key: str, count: int, **env: str
) -> list[subprocess.Popen[str]]:
    environment = {**cli_env(models.settings), "PYTHONPATH": str(ROOT), **env}
    return [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root), key],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def race(models: ObjectStore, proxy: CountingProxy, root: Path, key: str, count: int) -> list[Any]:
    """`count` workers ask for `key` at once: the first GET is held at the proxy until every
    worker has started asking, so that the others really wait on the lock."""
    proxy.hold_after = (key.rstrip("/"), 0)
    procs = workers(models, root, key, count)
    for proc in procs:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.strip() == "ready", line + proc.stderr.read()
    assert proxy.held.wait(30), "no worker reached the bucket"
    proxy.release.set()  # every worker is past "ready": in path(), downloading or waiting
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    proxy.hold_after = None
    return results


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if is_temp(p.name)]


def test_racing_processes_download_a_model_once(
    models: ObjectStore, proxy: CountingProxy, tmp_path: Path
) -> None:
    results = race(models, proxy, tmp_path, MODEL, 4)
    assert proxy.gets(MODEL) == 1, proxy.calls
    assert not any(r["cached_before"] for r in results), "every worker had to wait for it"
    assert {r["path"] for r in results} == {str(tmp_path / MODEL)}
    expected = hashlib.sha256(MODEL_BYTES).hexdigest()
    assert [r["digests"]["juggernaut-xl.safetensors"] for r in results] == [expected] * 4
    assert (tmp_path / MODEL).read_bytes() == MODEL_BYTES
    assert leftovers(tmp_path) == []
    # cached now: a later caller makes no request at all
    before = len(proxy.calls)
    assert ModelCache(models, tmp_path).path(MODEL) == tmp_path / MODEL
    assert len(proxy.calls) == before


def test_a_directory_model_is_complete_or_absent(
    models: ObjectStore, proxy: CountingProxy, tmp_path: Path
) -> None:
    parts = {
        "sd15/unet/diffusion.safetensors": MODEL_BYTES[:1_500_000],
        "sd15/vae/vae.safetensors": b"v" * 10_000,
        "sd15/model_index.json": b'{"unet": "unet"}',
    }
    for key, data in parts.items():
        models.put(key, data)
    results = race(models, proxy, tmp_path, "sd15/", 3)
    assert all(proxy.gets(key) == 1 for key in parts), proxy.calls
    expected = {
        key.removeprefix("sd15/"): hashlib.sha256(data).hexdigest() for key, data in parts.items()
    }
    for result in results:
        assert result["path"] == str(tmp_path / "sd15")
        assert {k: v for k, v in result["digests"].items() if k != MANIFEST} == expected
    manifest = json.loads((tmp_path / "sd15" / MANIFEST).read_text())
    assert sorted(o["key"] for o in manifest["objects"]) == sorted(parts)
    assert leftovers(tmp_path) == []


def test_a_killed_downloader_leaves_no_partial_model_and_the_next_completes_it(
    models: ObjectStore, proxy: CountingProxy, tmp_path: Path
) -> None:
    (killed,) = workers(models, tmp_path, MODEL, 1, KILL_AFTER=str(1024 * 1024))
    killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    target = tmp_path / MODEL
    assert not target.exists(), "a partial model under its real name"
    (partial,) = leftovers(tmp_path)
    assert 0 < partial.stat().st_size < len(MODEL_BYTES), "it was killed mid-download"
    # its lock died with it: the next caller gets it at once, removes the leftover, completes
    (after,) = workers(models, tmp_path, MODEL, 1, LOCK_TIMEOUT="5")
    _, err = after.communicate(timeout=60)
    assert after.returncode == 0, err
    assert target.read_bytes() == MODEL_BYTES and leftovers(tmp_path) == []
    assert proxy.gets(MODEL) == 2


def test_a_killed_directory_download_leaves_no_directory(
    models: ObjectStore, tmp_path: Path
) -> None:
    models.put("flux/a.safetensors", MODEL_BYTES)
    models.put("flux/b.safetensors", MODEL_BYTES)
    (killed,) = workers(models, tmp_path, "flux/", 1, KILL_AFTER=str(1024 * 1024))
    killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "flux").exists() and len(leftovers(tmp_path)) == 1
    cache = ModelCache(models, tmp_path, lock_timeout=5)
    assert cache.path("flux/") == tmp_path / "flux"
    assert (tmp_path / "flux" / "b.safetensors").read_bytes() == MODEL_BYTES
    assert leftovers(tmp_path) == []


def test_a_held_lock_times_out_naming_its_holder_and_frees_when_it_dies(
    models: ObjectStore, tmp_path: Path
) -> None:
    cache = ModelCache(models, tmp_path, lock_timeout=0.5, poll_interval=0.05)
    lock = cache.lock_path(MODEL)
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
            "os.pwrite(fd, b'node-7 pid 4242 since 2026-01-01T00:00:00Z', 0)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            ModelCacheTimeout, match=r"held for more than 0\.5 s by node-7 pid 4242"
        ):
            cache.path(MODEL)
        assert not (tmp_path / MODEL).exists()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert cache.path(MODEL).read_bytes() == MODEL_BYTES


def test_threads_of_one_process_share_the_download(
    models: ObjectStore, proxy: CountingProxy, tmp_path: Path
) -> None:
    """POSIX record locks do not exclude threads of one process: a mutex does."""
    from concurrent.futures import ThreadPoolExecutor

    cache = ModelCache(models, tmp_path)
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: cache.path(MODEL), range(4)))
    assert paths == [tmp_path / MODEL] * 4 and proxy.gets(MODEL) == 1


def test_bad_keys_and_missing_models(models: ObjectStore, tmp_path: Path) -> None:
    cache = ModelCache(models, tmp_path)
    for bad in ("../etc/passwd", "/models/x", ".locks/x", "a//b"):
        with pytest.raises(InvalidKeyError):
            cache.path(bad)
    with pytest.raises(ObjectNotFoundError):
        cache.path("sdxl/missing.safetensors")
    with pytest.raises(ObjectNotFoundError):
        cache.path("nothing-here/")
    assert leftovers(tmp_path) == [] and not (tmp_path / "sdxl" / "missing.safetensors").exists()


def test_a_directory_without_its_manifest_is_replaced_once_complete(
    models: ObjectStore, tmp_path: Path
) -> None:
    models.put("sd15/model.safetensors", b"new")
    old = tmp_path / "sd15"
    old.mkdir()
    (old / "model.safetensors").write_bytes(b"half")  # the seed's sync, interrupted
    cache = ModelCache(models, tmp_path)
    assert cache.cached("sd15/") is None
    assert cache.path("sd15/") == old
    assert (old / "model.safetensors").read_bytes() == b"new" and (old / MANIFEST).is_file()
    assert leftovers(tmp_path) == []


def test_verification_refuses_short_or_different_bytes() -> None:
    md5 = hashlib.md5(b"abc").hexdigest()
    sha = hashlib.sha256(b"abc").digest()
    ok = {"ContentLength": 3, "ETag": f'"{md5}"'}
    assert _verify(ok, 3, sha, md5) is None
    assert _verify(ok, 2, sha, md5) == "got 2 of 3 bytes"
    assert "differs from the ETag" in (_verify(ok, 3, sha, "0" * 32) or "")
    kms = {**ok, "ServerSideEncryption": "aws:kms", "ETag": '"' + "f" * 32 + '"'}
    assert _verify(kms, 3, sha, md5) is None, "an SSE-KMS ETag is not an MD5"
    stored = {"ContentLength": 3, "ChecksumSHA256": "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="}
    assert _verify(stored, 3, sha, md5) is None
    assert "SHA-256 differs" in (_verify(stored, 3, hashlib.sha256(b"abd").digest(), md5) or "")
    assert issubclass(ModelCacheTimeout, ModelCacheError)


def test_the_model_sync_job_runs_the_same_cache_from_the_command_line(
    models: ObjectStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m storage_runtime model-cache` (the model-sync Job): same lock, same checks."""
    models.put("sd15/unet.safetensors", b"u" * 1000)
    command = [sys.executable, "-m", "storage_runtime", "model-cache", "--dir", str(tmp_path)]
    env = cli_env(models.settings)
    proc = subprocess.run(
        [*command, MODEL, "sd15/"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [str(tmp_path / MODEL), str(tmp_path / "sd15")]
    assert (tmp_path / "sd15" / "unet.safetensors").read_bytes() == b"u" * 1000
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["model-cache", "--dir", str(tmp_path), "sdxl/none.safetensors"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: s3://") and "does not exist" in err
    for name in ("STORAGE_PROVIDER", "OBJECT_STORE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["model-cache", "--dir", str(tmp_path), MODEL]) == 2
    assert "model-cache needs the models' bucket" in capsys.readouterr().err


def test_a_half_written_file_of_the_old_loader_is_downloaded_again(
    models: ObjectStore, tmp_path: Path
) -> None:
    """Seed 003's loader wrote straight into place: a crash left a short file under the name."""
    (tmp_path / "sdxl").mkdir()
    (tmp_path / MODEL).write_bytes(MODEL_BYTES[:1000])
    assert ModelCache(models, tmp_path).path(MODEL).stat().st_size == 1000  # trusted by name
    checked = ModelCache(models, tmp_path, verify_existing=True)
    assert checked.path(MODEL).read_bytes() == MODEL_BYTES
    assert checked.path(MODEL).read_bytes() == MODEL_BYTES and leftovers(tmp_path) == []
