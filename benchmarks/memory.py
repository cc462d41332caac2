"""Peak memory of the runtime's large transfers: each measured in a process of its own (peak
RSS from `wait4`), against one SeaweedFS server on loopback.

    .venv/bin/python -m benchmarks.memory [--gib 1] [--concurrency 10]

- `baseline`: the same process importing storage_runtime and creating its client, no transfer;
- `put-stream`: ObjectStore.put of a non-seekable stream of N GiB (a pipe from another
  process), the case s3transfer would buffer whole;
- `download`: ObjectStore.download of that object to a file;
- `sync-up` / `sync-down`: `python -m storage_runtime sync` of one N GiB file each way.

The README promises that a non-seekable upload holds at most `max_concurrency + 1` parts of
8 MiB; the check is peak(put-stream) <= baseline + (max_concurrency + 1) x 8 MiB + 16 MiB
(allocator and HTTP buffers), and every figure under 150 MiB with the default concurrency.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.seaweed import S3Server, admin_client, seaweed

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]
SLACK_MIB = 16
LIMIT_MIB = 150


def _env(server: S3Server, concurrency: int) -> dict[str, str]:
    return {
        **os.environ,
        "STORAGE_PROVIDER": "minio",
        "S3_ENDPOINT_URL": server.endpoint,
        "S3_BUCKET": "bench",
        "S3_ACCESS_KEY_ID": server.access_key,
        "S3_SECRET_ACCESS_KEY": server.secret_key,
        "STORAGE_MAX_CONCURRENCY": str(concurrency),
        "PYTHONPATH": str(ROOT),
    }


def child(mode: str, size: int, path: str) -> None:
    """What one measured process does."""
    from storage_runtime import ObjectStore, Settings

    store = ObjectStore(Settings.from_env())
    if mode == "baseline":
        store.client.list_objects_v2(Bucket=store.bucket, MaxKeys=1)
    elif mode == "put-stream":
        stream = os.fdopen(0, "rb", buffering=0)  # the pipe: not seekable
        result = store.put("memory/stream.bin", stream)
        if result.size != size:
            raise SystemExit(f"uploaded {result.size} of {size} bytes")
    elif mode == "download":
        store.download("memory/stream.bin", path)
    else:
        raise SystemExit(f"unknown mode {mode}")


def measure(cmd: list[str], env: dict[str, str], feed: int = 0) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of one process; `feed` bytes of a pattern piped to its stdin."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if feed:
        assert proc.stdin is not None
        block = hashlib.sha256(b"memory").digest() * (MiB // 32)
        for _ in range(feed // MiB):
            proc.stdin.write(block)
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{cmd} failed ({status}): {err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=10, help="STORAGE_MAX_CONCURRENCY")
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "SIZE", "PATH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return 0
    size = int(args.gib * 1024) * MiB
    me = [sys.executable, "-m", "benchmarks.memory", "--child"]
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, seaweed() as server:
        admin_client(server).create_bucket(Bucket="bench")
        env = _env(server, args.concurrency)
        target = str(Path(tmp) / "download.bin")
        rows.append(("baseline", *measure([*me, "baseline", "0", "-"], env)))
        rows.append(("put-stream", *measure([*me, "put-stream", str(size), "-"], env, feed=size)))
        rows.append(("download", *measure([*me, "download", str(size), target], env)))
        if Path(target).stat().st_size != size:
            raise RuntimeError("the download is not the size uploaded")
        sync = [sys.executable, "-m", "storage_runtime", "sync", "--no-progress"]
        src = Path(tmp) / "up"
        src.mkdir()
        os.replace(target, src / "one.bin")
        rows.append(("sync-up", *measure([*sync, str(src), "s3://bench/sync/"], env)))
        rows.append(
            ("sync-down", *measure([*sync, "s3://bench/sync/", str(Path(tmp) / "down")], env))
        )
    baseline = rows[0][2]
    parts = (args.concurrency + 1) * 8
    promise = baseline + parts + SLACK_MIB
    print(
        f"peak RSS, {args.gib:g} GiB, STORAGE_MAX_CONCURRENCY={args.concurrency}, "
        "SeaweedFS on loopback:"
    )
    for name, seconds, rss in rows:
        rate = size / MiB / seconds if name != "baseline" else 0
        extra = f"{rate:7.1f} MiB/s" if rate else " " * 12
        print(f"  {name:>10}: {rss:6.0f} MiB  {seconds:6.1f} s {extra}".rstrip())
    stream_peak = rows[1][2]
    kept = stream_peak <= promise
    print(
        f"  put-stream holds {stream_peak - baseline:.0f} MiB over the baseline; promise: at most "
        f"({args.concurrency} + 1) x 8 MiB parts = {parts} MiB (+{SLACK_MIB} MiB slack): "
        f"{'kept' if kept else 'BROKEN'}"
    )
    worst = max(rss for _, _, rss in rows)
    under = worst < LIMIT_MIB
    print(
        f"  largest peak {worst:.0f} MiB (goal < {LIMIT_MIB} MiB: {'met' if under else 'NOT met'})"
    )
    return 0 if kept and under else 1


if __name__ == "__main__":
    raise SystemExit(main())
