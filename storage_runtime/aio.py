"""The store and the backend-presigned uploader for asyncio services (seeds 001 and 004 run
on FastAPI and async workers), without blocking their event loop.

boto3 and urllib are blocking. Each call here runs the synchronous one in a thread pool of
the wrapper's own, bounded (`max_workers`, default STORAGE_MAX_CONCURRENCY), so a burst of
uploads cannot take every thread of the loop's default executor, and the loop keeps serving
requests while bytes move:

    store = AsyncObjectStore(open_store(Settings.from_env()))
    await store.put(key, data, content_type="application/pdf")
    async for info in store.list("results/"):
        ...
    await store.aclose()  # or `async with AsyncObjectStore(...) as store:`

Cancelling an awaiting task does not stop its thread: a transfer already under way runs to
its end (or its own failure) and its result is dropped. Multipart uploads still abort
themselves on failure, so nothing half-written is left either way.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from storage_runtime.backend_presigned import BackendPresignedUploader, Data, StorageResult
from storage_runtime.checksums import ConfirmedUpload
from storage_runtime.store import (
    CHUNK,
    Body,
    LocalStore,
    ObjectInfo,
    ObjectStore,
    PresignedPut,
    PutResult,
)

T = TypeVar("T")
LIST_BATCH = 1000  # one listing page per hop to the pool


class _Offloaded:
    def __init__(self, max_workers: int, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix=name)

    async def _run(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(call, *args, **kwargs))

    async def aclose(self) -> None:
        """Wait for the calls in flight, then stop the threads."""
        await asyncio.to_thread(self._pool.shutdown, True)

    async def __aenter__(self: Any) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncObjectStore(_Offloaded):
    """Every ObjectStore (or LocalStore) call as a coroutine, run in a bounded pool."""

    def __init__(self, store: ObjectStore | LocalStore, *, max_workers: int | None = None) -> None:
        super().__init__(max_workers or store.settings.max_concurrency, "storage")
        self.store = store

    def __repr__(self) -> str:
        return f"AsyncObjectStore({self.store!r})"

    async def put(self, key: str, body: Body, **kwargs: Any) -> PutResult:
        return await self._run(self.store.put, key, body, **kwargs)

    async def get(self, key: str) -> bytes:
        return await self._run(self.store.get, key)

    async def head(self, key: str) -> ObjectInfo:
        return await self._run(self.store.head, key)

    async def exists(self, key: str) -> bool:
        return await self._run(self.store.exists, key)

    async def delete(self, key: str) -> None:
        await self._run(self.store.delete, key)

    async def delete_prefix(self, prefix: str) -> int:
        return await self._run(self.store.delete_prefix, prefix)

    async def copy(self, source_key: str, dest_key: str) -> None:
        await self._run(self.store.copy, source_key, dest_key)

    async def download(self, key: str, path: str | os.PathLike[str]) -> Path:
        return await self._run(self.store.download, key, path)

    async def presign_get(self, key: str, **kwargs: Any) -> str:
        # no I/O with static keys, but a role's credentials may be refreshed over the network
        return await self._run(self.store.presign_get, key, **kwargs)

    async def presign_put(self, key: str, **kwargs: Any) -> PresignedPut:
        return await self._run(self.store.presign_put, key, **kwargs)

    async def confirm_upload(self, key: str, **kwargs: Any) -> ConfirmedUpload:
        if isinstance(self.store, LocalStore):
            raise TypeError("the local store has no presigned uploads to confirm")
        return await self._run(self.store.confirm_upload, key, **kwargs)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object under `prefix`; each page is fetched in the pool."""
        listing = iter(self.store.list(prefix))
        while batch := await self._run(lambda: list(itertools.islice(listing, LIST_BATCH))):
            for info in batch:
                yield info

    async def stream(self, key: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        """The object's chunks; each one is read in the pool."""
        chunks = self.store.stream(key, chunk_size)
        done = object()
        try:
            while (chunk := await self._run(next, chunks, done)) is not done:
                yield chunk
        finally:
            close = getattr(chunks, "close", None)  # the generator's, which closes the body
            if close is not None:
                await self._run(close)


class AsyncBackendPresignedUploader(_Offloaded):
    """BackendPresignedUploader for asyncio: uploads run in a bounded pool (4 by default;
    each multipart upload also sends its parts from threads of its own)."""

    def __init__(self, uploader: BackendPresignedUploader, *, max_workers: int = 4) -> None:
        super().__init__(max_workers, "upload")
        self.uploader = uploader

    def __repr__(self) -> str:
        return f"AsyncBackendPresignedUploader({self.uploader!r})"

    async def put_object(
        self, data: Data, key: str, content_type: str | None = None
    ) -> StorageResult:
        return await self._run(self.uploader.put_object, data, key, content_type)

    async def delete_object(self, key: str) -> None:
        await self._run(self.uploader.delete_object, key)
