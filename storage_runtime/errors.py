"""Small, specific exceptions. Every message names the bucket/key or setting concerned."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error raised by storage_runtime."""


class SettingsError(StorageError, ValueError):
    """The environment or stack outputs do not describe a usable store."""


class InvalidKeyError(StorageError, ValueError):
    """An object key that must not be used (empty segment, '..', leading '/', too long)."""


class ObjectNotFoundError(StorageError, KeyError):
    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"s3://{bucket}/{key} does not exist")
        self.bucket, self.key = bucket, key

    def __str__(self) -> str:
        return str(self.args[0])


class PresignError(StorageError, ValueError):
    """A presigned URL that cannot be issued (expiry out of bounds, size over the limit...)."""


class UploadTooLargeError(PresignError):
    pass


class StorageUploadError(StorageError):
    """Seed 001's upload failure: `step` is size | presign | upload | complete | delete."""

    def __init__(self, target: str, reason: str, *, step: str, status: int | None = None) -> None:
        super().__init__(f"Storage upload failed for {target!r}: {reason}")
        self.target, self.reason, self.step, self.status = target, reason, step, status
