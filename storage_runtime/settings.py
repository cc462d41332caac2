"""Where a service's objects live, read from the environment or from the stack outputs.

Environment contract (seed 000, the names every service gets from `python -m storage_runtime
env`): OBJECT_STORE, S3_ENDPOINT_URL, S3_REGION, S3_BUCKET, S3_ACCESS_KEY_ID,
S3_SECRET_ACCESS_KEY, SIGNED_URL_EXPIRES_SECONDS, FILE_TTL_SECONDS, STORAGE_PUBLIC_BASE_URL.
Also accepted: seed 004's R2_ACCOUNT_ID / R2_ACCESS_KEY(_ID) / R2_SECRET_KEY /
R2_SECRET_ACCESS_KEY / R2_BUCKET_NAME / R2_PUBLIC_URL, and seed 001's STORAGE_PROVIDER
(local | s3 | minio | backend_presigned) with its BACKEND_* (BACKEND_MULTIPART_THRESHOLD_BYTES:
uploads above it go in parts) and VIDEO_MAX_UPLOAD_BYTES.

With neither OBJECT_STORE nor STORAGE_PROVIDER set, the service runs on a local directory
(seed 000's safe fallback). Secrets never appear in repr() or str().
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from storage_runtime.errors import SettingsError
from storage_runtime.urls import base_url

log = logging.getLogger(__name__)

Provider = Literal["local", "s3", "minio", "backend_presigned"]
PROVIDERS: tuple[str, ...] = ("local", "s3", "minio", "backend_presigned")
MAX_PRESIGN_SECONDS = 604_800  # SigV4 (and R2) limit: 7 days
#: OBJECT_STORE (seed 000) -> the STORAGE_PROVIDER values (seed 001) it agrees with; the first
#: is what OBJECT_STORE alone means.
OBJECT_STORES: dict[str, tuple[str, ...]] = {
    "s3": ("s3", "minio", "backend_presigned"),
    "r2": ("s3",),
    "minio": ("minio",),
    "local": ("local",),
}
_SECRET_FIELDS = ("secret_access_key", "backend_service_token")
#: Stands in for a secret that the stack outputs did not reveal (env export without secrets).
MASKED = "[secret]"
#: Settings fields that `from_env` reads from one variable each; unset or empty: the default.
_NUMBER_VARIABLES = {
    "signed_url_expires_seconds": "SIGNED_URL_EXPIRES_SECONDS",
    "file_ttl_seconds": "FILE_TTL_SECONDS",
    "max_concurrency": "STORAGE_MAX_CONCURRENCY",
    "max_attempts": "STORAGE_MAX_ATTEMPTS",
    "max_upload_bytes": "VIDEO_MAX_UPLOAD_BYTES",
    "backend_multipart_threshold_bytes": "BACKEND_MULTIPART_THRESHOLD_BYTES",
}
_TEXT_VARIABLES = {
    "local_dir": "LOCAL_STORAGE_DIR",
    "backend_base_url": "BACKEND_BASE_URL",
    "backend_service_token": "BACKEND_SERVICE_TOKEN",
    "backend_presign_path": "BACKEND_STORAGE_PRESIGN_PATH",
    "backend_complete_path": "BACKEND_STORAGE_COMPLETE_PATH",
    "backend_delete_path": "BACKEND_STORAGE_DELETE_PATH",
    "backend_presign_multipart_path": "BACKEND_STORAGE_PRESIGN_MULTIPART_PATH",
    "backend_complete_multipart_path": "BACKEND_STORAGE_COMPLETE_MULTIPART_PATH",
    "backend_abort_multipart_path": "BACKEND_STORAGE_ABORT_MULTIPART_PATH",
}


def is_r2_endpoint(url: str | None) -> bool:
    """`https://<account>[.eu|.fedramp].r2.cloudflarestorage.com`"""
    host = urlsplit(url).hostname if url else None
    return bool(host) and str(host).endswith(".r2.cloudflarestorage.com")


@dataclass(frozen=True, kw_only=True)
class Settings:
    provider: Provider = "local"
    """local (a directory), s3 (AWS S3 or R2), minio (S3 API with path-style URLs), or
    backend_presigned (uploads through a backend that presigns, seed 001)."""
    bucket: str = ""
    endpoint_url: str | None = None
    """None for AWS S3; `https://<account>.r2.cloudflarestorage.com` for R2."""
    region: str = "us-east-1"
    """`auto` for R2."""
    access_key_id: str | None = None
    secret_access_key: str | None = None
    signed_url_expires_seconds: int = 600
    """Default expiry of presigned URLs (seed 000: 10 minutes)."""
    file_ttl_seconds: int = 7200
    """How long the app keeps pointers to uploaded files (seed 000: 2 h)."""
    public_base_url: str | None = None
    """CDN or custom-domain base for public URLs (STORAGE_PUBLIC_BASE_URL)."""
    local_dir: str = "./storage"
    max_concurrency: int = 10
    """Parallel transfers; the connection pool is sized from it."""
    connect_timeout_seconds: float = 5
    """A dead endpoint fails fast instead of after botocore's 60 s."""
    read_timeout_seconds: float = 60
    """Generous: large GETs stream slowly over poor links; a stalled request is retried."""
    max_attempts: int = 5
    """Attempts per request (botocore standard retries: exponential backoff with jitter)."""
    max_upload_bytes: int = 104_857_600
    """Largest presigned/backend upload (seed 001's VIDEO_MAX_UPLOAD_BYTES, 100 MiB)."""
    backend_base_url: str | None = None
    backend_service_token: str | None = None
    backend_presign_path: str = "/internal/storage/presign-put"
    backend_complete_path: str = "/internal/storage/complete"
    backend_delete_path: str = "/internal/storage/delete"
    backend_presign_multipart_path: str = "/internal/storage/presign-multipart"
    backend_complete_multipart_path: str = "/internal/storage/complete-multipart"
    backend_abort_multipart_path: str = "/internal/storage/abort-multipart"
    backend_multipart_threshold_bytes: int = 64 * 1024 * 1024
    """Backend-presigned uploads larger than this go in parts (presign-multipart), bytes
    (BACKEND_MULTIPART_THRESHOLD_BYTES, default 64 MiB)."""

    def __post_init__(self) -> None:
        problems = []
        if self.provider not in PROVIDERS:
            problems.append(f"provider {self.provider!r}; accepted: {', '.join(PROVIDERS)}")
        if self.provider in ("s3", "minio"):
            required: list[tuple[str, str | None]] = [("S3_BUCKET", self.bucket)]
            if self.endpoint_url or self.access_key_id or self.secret_access_key:
                # Static keys for R2/MinIO; on AWS (no endpoint) the default credential chain
                # (instance/pod role, profile) applies unless a pair is given.
                required += [
                    ("S3_ACCESS_KEY_ID", self.access_key_id),
                    ("S3_SECRET_ACCESS_KEY", self.secret_access_key),
                ]
            missing = [env for env, value in required if not value]
            if self.provider == "minio" and not self.endpoint_url:
                missing.append("S3_ENDPOINT_URL")
            if missing:
                problems.append(f"provider {self.provider!r} needs {', '.join(missing)}")
        if self.provider == "backend_presigned" and not (
            self.backend_base_url and self.backend_service_token
        ):
            problems.append(
                "provider 'backend_presigned' needs BACKEND_BASE_URL and BACKEND_SERVICE_TOKEN"
            )
        if not 1 <= self.signed_url_expires_seconds <= MAX_PRESIGN_SECONDS:
            problems.append(
                f"SIGNED_URL_EXPIRES_SECONDS={self.signed_url_expires_seconds}; "
                f"accepted: 1-{MAX_PRESIGN_SECONDS}"
            )
        if self.file_ttl_seconds < 1:
            problems.append(f"FILE_TTL_SECONDS={self.file_ttl_seconds}; accepted: 1 or more")
        for env, url in (
            ("S3_ENDPOINT_URL", self.endpoint_url),
            ("BACKEND_BASE_URL", self.backend_base_url),
        ):
            if url is not None:
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    problems.append(f"{env}={url!r} is not an http(s) URL")
        if self.public_base_url is not None:
            try:
                base_url(self.public_base_url)
            except SettingsError as err:
                problems.append(f"STORAGE_PUBLIC_BASE_URL: {err}")
        for env, number, low, high in (
            ("STORAGE_MAX_CONCURRENCY", self.max_concurrency, 1, 256),
            ("STORAGE_MAX_ATTEMPTS", self.max_attempts, 1, 20),
            ("VIDEO_MAX_UPLOAD_BYTES", self.max_upload_bytes, 1, 5 * 1024**4),
            (
                "BACKEND_MULTIPART_THRESHOLD_BYTES",
                self.backend_multipart_threshold_bytes,
                1,
                5 * 1024**3,
            ),
        ):
            if not low <= number <= high:
                problems.append(f"{env}={number}; accepted: {low}-{high}")
        for name, seconds in (
            ("connect_timeout_seconds", self.connect_timeout_seconds),
            ("read_timeout_seconds", self.read_timeout_seconds),
        ):
            if not seconds > 0:
                problems.append(f"{name}={seconds}; accepted: more than 0")
        if not self.region:
            problems.append("S3_REGION is empty")
        if problems:
            raise SettingsError("storage settings: " + "; ".join(problems))

    # ------------------------------------------------------------------ presentation

    def __repr__(self) -> str:
        fields = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS and value:
                value = "***"
            fields.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(fields)})"

    __str__ = __repr__

    @property
    def is_r2(self) -> bool:
        return is_r2_endpoint(self.endpoint_url)

    # --------------------------------------------------------------- from the environment

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(*names: str) -> str | None:
            for name in names:
                value = env.get(name)
                if value not in (None, ""):
                    return value
            return None

        problems: list[str] = []
        object_store = get("OBJECT_STORE")
        provider_env = get("STORAGE_PROVIDER")
        store_kind = object_store.lower() if object_store else None
        if store_kind is not None and store_kind not in OBJECT_STORES:
            problems.append(f"OBJECT_STORE={object_store!r}; accepted: s3, r2, minio, local")
            store_kind = None
        provider = (provider_env or "").lower() or None
        if provider == "r2":
            provider = "s3"
        if provider is not None and provider not in PROVIDERS:
            problems.append(f"STORAGE_PROVIDER={provider_env!r}; accepted: {', '.join(PROVIDERS)}")
            provider = None
        if provider and store_kind and provider not in OBJECT_STORES[store_kind]:
            problems.append(
                f"OBJECT_STORE={object_store!r} and STORAGE_PROVIDER={provider_env!r} "
                "contradict each other; set one, or both to the same store"
            )
        chosen = provider or (OBJECT_STORES[store_kind][0] if store_kind else "local")
        if object_store is None and provider_env is None:
            ignored = sorted(n for n in env if n.startswith(("S3_", "R2_")) and env.get(n))
            if ignored:
                log.warning(
                    "%s set but ignored: neither OBJECT_STORE nor STORAGE_PROVIDER is set, so "
                    "the local directory store is used",
                    ", ".join(ignored),
                )
        endpoint = get("S3_ENDPOINT_URL")
        account = get("R2_ACCOUNT_ID")
        if endpoint is None and account:
            endpoint = f"https://{account}.r2.cloudflarestorage.com"
        region = get("S3_REGION", "AWS_REGION") or (
            "auto" if is_r2_endpoint(endpoint) else "us-east-1"
        )
        values: dict[str, Any] = dict(
            provider=chosen,
            bucket=get("S3_BUCKET", "R2_BUCKET_NAME", "R2_BUCKET") or "",
            endpoint_url=endpoint,
            region=region,
            access_key_id=get("S3_ACCESS_KEY_ID", "R2_ACCESS_KEY_ID", "R2_ACCESS_KEY"),
            secret_access_key=get("S3_SECRET_ACCESS_KEY", "R2_SECRET_ACCESS_KEY", "R2_SECRET_KEY"),
            public_base_url=get("STORAGE_PUBLIC_BASE_URL", "R2_PUBLIC_URL"),
        )
        for name, variable in _NUMBER_VARIABLES.items():
            raw = get(variable)
            if raw is not None:
                try:
                    values[name] = int(raw)
                except ValueError:
                    problems.append(f"{variable}={raw!r} is not a whole number")
        for name, variable in _TEXT_VARIABLES.items():
            text = get(variable)
            if text is not None:
                values[name] = text
        try:
            settings = cls(**values)
        except SettingsError as err:
            problems += str(err).removeprefix("storage settings: ").split("; ")
            settings = None
        if problems:
            raise SettingsError("storage settings: " + "; ".join(problems))
        assert settings is not None
        return settings

    def to_env(self) -> dict[str, str]:
        """The environment that `from_env` reads back into these settings."""
        out: dict[str, str] = {}
        if self.provider == "backend_presigned":
            out["STORAGE_PROVIDER"] = "backend_presigned"
        elif self.provider == "minio":
            out["STORAGE_PROVIDER"] = "minio"
        out["OBJECT_STORE"] = "local" if self.provider == "local" else "s3"
        pairs = {
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_REGION": self.region,
            "S3_BUCKET": self.bucket,
            "S3_ACCESS_KEY_ID": self.access_key_id,
            "S3_SECRET_ACCESS_KEY": self.secret_access_key,
            "SIGNED_URL_EXPIRES_SECONDS": str(self.signed_url_expires_seconds),
            "FILE_TTL_SECONDS": str(self.file_ttl_seconds),
            "STORAGE_PUBLIC_BASE_URL": self.public_base_url,
            "VIDEO_MAX_UPLOAD_BYTES": str(self.max_upload_bytes),
            "BACKEND_BASE_URL": self.backend_base_url,
            "BACKEND_SERVICE_TOKEN": self.backend_service_token,
        }
        if self.provider == "backend_presigned":
            pairs["BACKEND_MULTIPART_THRESHOLD_BYTES"] = str(self.backend_multipart_threshold_bytes)
        if self.provider == "local":
            pairs = {"LOCAL_STORAGE_DIR": self.local_dir}
        out.update({k: v for k, v in pairs.items() if v})
        return out

    # ------------------------------------------------------------- from stack outputs

    @classmethod
    def from_stack_outputs(
        cls,
        outputs: Mapping[str, Any] | str | Path,
        app: str,
        bucket: str | None = None,
        *,
        allow_masked_secrets: bool = False,
        **overrides: Any,
    ) -> Settings:
        """From `pulumi stack output --json --show-secrets` (a dict, JSON text or a file):
        the app's R2 bucket with its active key, or its S3 bucket (credentials then come from
        the AWS environment, e.g. the pod's IAM role). `bucket` picks one when the app has
        several; the public base URL is the bucket's custom domain or a CDN in front of it."""
        data = _load_outputs(outputs)
        try:
            return cls._from_outputs(data, app, bucket, allow_masked_secrets, overrides)
        except (KeyError, TypeError, AttributeError) as err:
            raise SettingsError(
                f"stack outputs: app {app!r} has an unexpected shape ({type(err).__name__}: "
                f"{err}); expected `pulumi stack output --json --show-secrets` of this project"
            ) from err

    @classmethod
    def _from_outputs(
        cls,
        data: Mapping[str, Any],
        app: str,
        bucket: str | None,
        allow_masked_secrets: bool,
        overrides: Mapping[str, Any],
    ) -> Settings:
        endpoints = data.get("endpoints", data)
        if not isinstance(endpoints, Mapping):
            raise SettingsError("stack outputs: `endpoints` is not an object")
        if app not in endpoints:
            raise SettingsError(
                f"app {app!r} is not in the stack outputs; apps: {', '.join(sorted(endpoints))}"
            )
        entry = endpoints[app]
        r2, s3 = entry.get("r2") or {}, entry.get("s3") or {}
        candidates = {
            **{k: ("r2", v) for k, v in r2.items()},
            **{k: ("s3", v) for k, v in s3.items()},
        }
        if bucket is None:
            if len(candidates) != 1:
                raise SettingsError(
                    f"app {app!r} has buckets {sorted(candidates)}; choose one with bucket=..."
                )
            bucket = next(iter(candidates))
        if bucket not in candidates:
            raise SettingsError(
                f"app {app!r} has no bucket {bucket!r}; buckets: {sorted(candidates)}"
            )
        kind, b = candidates[bucket]
        public = b.get("publicBaseUrl")
        for cdn in (entry.get("cdn") or {}).values():
            if public is None and bucket in cdn.get("origins", []):
                public = cdn.get("baseUrl")
        values: dict[str, Any] = {"bucket": b["bucket"], "public_base_url": public}
        if kind == "r2":
            secret = b.get("secretAccessKey")
            masked = not secret or secret == MASKED
            if masked and allow_masked_secrets:
                secret = MASKED  # stands in; never printed (env export hides secrets)
            elif masked:
                raise SettingsError(
                    f"{app}/{bucket}: the secret access key is masked; read the outputs with "
                    "`pulumi stack output --json --show-secrets`"
                )
            values.update(
                provider="s3",
                endpoint_url=b["endpoint"],
                region=b.get("region", "auto"),
                access_key_id=b["accessKeyId"],
                secret_access_key=secret,
            )
        else:
            values.update(provider="s3", region=b["region"])
        values.update(overrides)
        return cls(**values)


def _load_outputs(outputs: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    if isinstance(outputs, Mapping):
        return outputs
    if isinstance(outputs, Path) or not str(outputs).lstrip().startswith("{"):
        try:
            text = Path(outputs).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise SettingsError(
                f"stack outputs file {str(outputs)!r} cannot be read ({err}); write it with "
                "`pulumi stack output --json --show-secrets > outputs.json`"
            ) from err
    else:
        text = str(outputs)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SettingsError(f"stack outputs are not JSON: {err}") from err
    if not isinstance(data, dict):
        raise SettingsError("stack outputs must be a JSON object")
    return data
