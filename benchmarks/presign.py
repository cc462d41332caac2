"""Presigned GET URLs per second: ObjectStore.presign_get vs raw boto3 generate_presigned_url
on an identically configured client, interleaved in one run (so both see the same machine
state). Presigning is local computation (no request), so no server is needed.

    .venv/bin/python -m benchmarks.presign [--rounds 20] [--batch 2000]

Prints each side's median rate and the ratio ObjectStore / boto3 (goal: >= 0.95).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from storage_runtime import ObjectStore, Settings, make_client

SETTINGS = Settings(
    provider="s3",
    bucket="jokbodude",
    endpoint_url="https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
    region="auto",
    access_key_id="AKIDEXAMPLE",
    secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
)


def rate(fn: Callable[[str], str], keys: list[str]) -> float:
    start = time.perf_counter()
    for key in keys:
        fn(key)
    return len(keys) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args(argv)

    store = ObjectStore(SETTINGS)
    client = make_client(SETTINGS)  # the very client the store uses: identical configuration
    keys = [f"results/job-{i}/report-{i}.pdf" for i in range(args.batch)]

    def ours(key: str) -> str:
        return store.presign_get(key, expires=600)

    def raw(key: str) -> str:
        return str(
            client.generate_presigned_url(
                "get_object", Params={"Bucket": SETTINGS.bucket, "Key": key}, ExpiresIn=600
            )
        )

    assert ours(keys[0]).split("X-Amz-Date")[0] == raw(keys[0]).split("X-Amz-Date")[0]
    rate(ours, keys[:200])  # warm-up both paths
    rate(raw, keys[:200])
    ours_rates, raw_rates, ratios = [], [], []
    for i in range(args.rounds):
        # alternate which side goes first, so drift hits both equally
        if i % 2:
            r, o = rate(raw, keys), rate(ours, keys)
        else:
            o, r = rate(ours, keys), rate(raw, keys)
        ours_rates.append(o)
        raw_rates.append(r)
        ratios.append(o / r)
    print(f"presigned GET URLs per second, {args.rounds} interleaved rounds of {args.batch}:")
    print(f"  ObjectStore.presign_get      {statistics.median(ours_rates):>10,.0f}/s (median)")
    print(f"  boto3 generate_presigned_url {statistics.median(raw_rates):>10,.0f}/s (median)")
    ratio = statistics.median(ratios)
    print(f"  ratio ObjectStore / boto3    {ratio:.3f} (median of per-round ratios; goal >= 0.95)")
    spread = f"{min(ratios):.3f}-{max(ratios):.3f}"
    print(f"  per-round ratios             {spread}")
    return 0 if ratio >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
