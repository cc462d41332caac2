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
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.sync import run
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
        rows.append(("baseline", *run([*me, "baseline", "0", "-"], env)))
        rows.append(("put-stream", *run([*me, "put-stream", str(size), "-"], env, feed=size)))
        rows.append(("download", *run([*me, "download", str(size), target], env)))
        if Path(target).stat().st_size != size:
            raise RuntimeError("the download is not the size uploaded")
        sync = [sys.executable, "-m", "storage_runtime", "sync", "--no-progress"]
        src = Path(tmp) / "up"
        src.mkdir()
        os.replace(target, src / "one.bin")
        rows.append(("sync-up", *run([*sync, str(src), "s3://bench/sync/"], env)))
        rows.append(("sync-down", *run([*sync, "s3://bench/sync/", str(Path(tmp) / "down")], env)))
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
