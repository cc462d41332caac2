"""The asyncio wrappers keep the event loop running while a transfer is in flight: a proxy in
front of the real S3 server holds the request until a coroutine on the loop lets it go, so a
blocking call would stall the loop (and these tests) instead of passing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from storage_runtime import BackendPresignedUploader, ObjectStore, Settings
from storage_runtime.aio import AsyncBackendPresignedUploader, AsyncObjectStore
from storage_runtime.store import MiB
from tests.storage_runtime.conftest import run_async
from tests.storage_runtime.test_backend_presigned import TOKEN, running_backend
from tests.support.faulty_proxy import FaultProxy
from tests.support.seaweed import S3Server


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.endpoint, rate=0.0) as p:
        # a blocking implementation never lets the loop release the request: fail in seconds
        watchdog = threading.Timer(10, p.release.set)
        watchdog.start()
        yield p
        watchdog.cancel()


async def held_while_the_loop_runs(proxy: FaultProxy, transfer: asyncio.Task[Any]) -> int:
    """Wait until the proxy holds the transfer's request; check that the loop keeps running
    other coroutines meanwhile; release it. Returns the heartbeats seen while it was held."""
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    beat = asyncio.create_task(heartbeat())
    assert await asyncio.to_thread(proxy.held.wait, 10), "the request never reached the proxy"
    assert not transfer.done(), "the transfer finished although its request is held"
    seen = ticks
    await asyncio.sleep(0.1)
    during = ticks - seen
    proxy.release.set()
    await transfer
    beat.cancel()
    return during


def test_the_store_does_not_block_the_loop(settings: Settings, proxy: FaultProxy) -> None:
    store = AsyncObjectStore(ObjectStore(replace(settings, endpoint_url=proxy.url)))
    data = bytes(range(256)) * 4096 * 9  # 9 MiB: a multipart upload

    async def flow() -> None:
        async with store:
            proxy.hold_after = ("uploadId=", 0)  # the parts
            put = asyncio.create_task(store.put("results/job-1/a.bin", data))
            assert await held_while_the_loop_runs(proxy, put) > 3
            proxy.hold_after = None
            assert (await put).size == len(data)
            assert await store.get("results/job-1/a.bin") == data
            streamed = b"".join([c async for c in store.stream("results/job-1/a.bin", MiB)])
            assert streamed == data
            await asyncio.gather(*(store.put(f"results/job-2/{i}.txt", b"x") for i in range(5)))
            listed = [info.key async for info in store.list("results/job-2/")]
            assert listed == [f"results/job-2/{i}.txt" for i in range(5)]
            assert await store.delete_prefix("results/") == 6
            assert not await store.exists("results/job-1/a.bin")

    run_async(flow())


def test_the_uploader_does_not_block_the_loop(
    settings: Settings, s3_server: S3Server, proxy: FaultProxy
) -> None:
    with running_backend(replace(settings, endpoint_url=proxy.url), s3_server) as backend:
        uploader = AsyncBackendPresignedUploader(
            BackendPresignedUploader(
                Settings(
                    provider="backend_presigned",
                    backend_base_url=backend.url,
                    backend_service_token=TOKEN,
                ),
                timeout=20,
            )
        )
        key = "videos/V/S/J/video.mp4"

        async def flow() -> None:
            async with uploader:
                proxy.hold_after = (key, 0)  # the presigned PUT
                put = asyncio.create_task(uploader.put_object(b"\x00" * 1000, key, "video/mp4"))
                assert await held_while_the_loop_runs(proxy, put) > 3
                assert (await put).size_bytes == 1000

        run_async(flow())
        assert backend.store.get(key) == b"\x00" * 1000 and len(backend.completed) == 1
