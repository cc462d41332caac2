"""Settings from the environment and the stack outputs; clients; the local fallback."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from ops.plan import Plan
from storage_runtime import (
    LocalStore,
    ObjectStore,
    PresignError,
    Settings,
    SettingsError,
    client_config,
    make_client,
    open_store,
)

R2 = "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
SEED_000_ENV = {
    "OBJECT_STORE": "s3",
    "S3_ENDPOINT_URL": R2,
    "S3_REGION": "auto",
    "S3_BUCKET": "jokbodude",
    "S3_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "S3_SECRET_ACCESS_KEY": "super-secret-value",
    "SIGNED_URL_EXPIRES_SECONDS": "600",
    "FILE_TTL_SECONDS": "7200",
}


def test_seed_000_environment() -> None:
    s = Settings.from_env(SEED_000_ENV)
    assert (s.provider, s.endpoint_url, s.region, s.bucket) == ("s3", R2, "auto", "jokbodude")
    assert (s.signed_url_expires_seconds, s.file_ttl_seconds) == (600, 7200)
    assert s.is_r2


def test_seed_004_r2_names_are_accepted() -> None:
    s = Settings.from_env(
        {
            "OBJECT_STORE": "s3",
            "R2_ACCOUNT_ID": "0123456789abcdef0123456789abcdef",
            "R2_ACCESS_KEY": "AKID",
            "R2_SECRET_KEY": "secret",
            "R2_BUCKET_NAME": "fit-files",
            "R2_PUBLIC_URL": "https://fit-files.example.com",
        }
    )
    assert (s.endpoint_url, s.region, s.bucket, s.access_key_id) == (
        R2,
        "auto",
        "fit-files",
        "AKID",
    )
    assert s.public_base_url == "https://fit-files.example.com"


def test_unset_object_store_falls_back_to_a_local_directory(tmp_path: Path) -> None:
    s = Settings.from_env({"LOCAL_STORAGE_DIR": str(tmp_path)})
    store = open_store(s)
    assert isinstance(store, LocalStore)
    store.put("results/j/a.pdf", b"local")
    assert store.get("results/j/a.pdf") == b"local"
    assert [i.key for i in store.list("results/")] == ["results/j/a.pdf"]
    assert store.delete_prefix("results/j/") == 1


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        (
            {"OBJECT_STORE": "s3", "S3_ENDPOINT_URL": R2},
            "needs S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY",
        ),
        ({"OBJECT_STORE": "gcs"}, "OBJECT_STORE='gcs'; accepted: s3, r2, minio, local"),
        (
            {"STORAGE_PROVIDER": "ftp"},
            "STORAGE_PROVIDER='ftp'; accepted: local, s3, minio, backend_presigned",
        ),
        (
            {"STORAGE_PROVIDER": "backend_presigned"},
            "needs BACKEND_BASE_URL and BACKEND_SERVICE_TOKEN",
        ),
        (
            {**SEED_000_ENV, "SIGNED_URL_EXPIRES_SECONDS": "ten"},
            "SIGNED_URL_EXPIRES_SECONDS='ten' is not a whole number",
        ),
        ({**SEED_000_ENV, "SIGNED_URL_EXPIRES_SECONDS": "604801"}, "accepted: 1-604800"),
        ({**SEED_000_ENV, "S3_ENDPOINT_URL": "r2.example"}, "is not an http(s) URL"),
        ({**SEED_000_ENV, "FILE_TTL_SECONDS": "-5"}, "FILE_TTL_SECONDS=-5; accepted: 1 or more"),
        (
            {**SEED_000_ENV, "STORAGE_MAX_CONCURRENCY": "0"},
            "STORAGE_MAX_CONCURRENCY=0; accepted: 1-256",
        ),
        ({**SEED_000_ENV, "VIDEO_MAX_UPLOAD_BYTES": "-1"}, "VIDEO_MAX_UPLOAD_BYTES=-1; accepted"),
        (
            {**SEED_000_ENV, "STORAGE_PUBLIC_BASE_URL": "javascript:alert(1)"},
            "STORAGE_PUBLIC_BASE_URL: 'javascript:alert(1)' is not a base URL",
        ),
        (
            {**SEED_000_ENV, "OBJECT_STORE": "local", "STORAGE_PROVIDER": "s3"},
            "OBJECT_STORE='local' and STORAGE_PROVIDER='s3' contradict each other",
        ),
        ({"OBJECT_STORE": "s3", "STORAGE_PROVIDER": "local"}, "contradict each other"),
        (
            {**SEED_000_ENV, "OBJECT_STORE": "r2", "STORAGE_PROVIDER": "minio"},
            "contradict each other",
        ),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert fragment in str(info.value)


def test_every_invalid_variable_is_named_at_once() -> None:
    env = {
        **SEED_000_ENV,
        "SIGNED_URL_EXPIRES_SECONDS": "ten",
        "FILE_TTL_SECONDS": "-1",
        "STORAGE_MAX_CONCURRENCY": "0",
        "VIDEO_MAX_UPLOAD_BYTES": "lots",
        "STORAGE_PUBLIC_BASE_URL": "http://cdn.example.com",
    }
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    for name in (
        "SIGNED_URL_EXPIRES_SECONDS='ten'",
        "FILE_TTL_SECONDS=-1",
        "STORAGE_MAX_CONCURRENCY=0",
        "VIDEO_MAX_UPLOAD_BYTES='lots'",
        "STORAGE_PUBLIC_BASE_URL",
    ):
        assert name in str(info.value), name


def test_consistent_provider_variables_are_accepted() -> None:
    assert Settings.from_env({**SEED_000_ENV, "STORAGE_PROVIDER": "s3"}).provider == "s3"
    minio = {
        **SEED_000_ENV,
        "STORAGE_PROVIDER": "minio",
        "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    }
    assert Settings.from_env(minio).provider == "minio"
    local = Settings.from_env({"OBJECT_STORE": "local", "STORAGE_PROVIDER": "local"})
    assert local.provider == "local"


def test_s3_variables_ignored_without_a_provider_are_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {k: v for k, v in SEED_000_ENV.items() if k != "OBJECT_STORE"}
    with caplog.at_level(logging.WARNING, logger="storage_runtime.settings"):
        assert Settings.from_env(env).provider == "local"
    assert "S3_BUCKET" in caplog.text and "ignored" in caplog.text
    assert "super-secret-value" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="storage_runtime.settings"):
        Settings.from_env(SEED_000_ENV)
    assert caplog.text == ""


def test_presign_expiry_is_never_silently_replaced() -> None:
    store = ObjectStore(Settings.from_env(SEED_000_ENV))
    bad: Any
    for bad in (0, -1, 604_801, 1.5, True):
        with pytest.raises(PresignError, match="expiry"):
            store.presign_get("a.pdf", expires=bad)
        with pytest.raises(PresignError, match="expiry"):
            store.presign_put(
                "a.pdf", content_type="application/pdf", content_length=1, expires=bad
            )
    assert "X-Amz-Expires=1&" in store.presign_get("a.pdf", expires=1)
    assert "X-Amz-Expires=600&" in store.presign_get("a.pdf")


def test_seed_001_provider_choice() -> None:
    s = Settings.from_env(
        {
            "STORAGE_PROVIDER": "backend_presigned",
            "BACKEND_BASE_URL": "http://backend:8080",
            "BACKEND_SERVICE_TOKEN": "token-123",
            "VIDEO_MAX_UPLOAD_BYTES": "1000",
            "STORAGE_PUBLIC_BASE_URL": "https://cdn.example.com",
        }
    )
    assert (s.provider, s.max_upload_bytes, s.backend_presign_path) == (
        "backend_presigned",
        1000,
        "/internal/storage/presign-put",
    )
    assert "token-123" not in repr(s)


def test_secrets_never_appear_in_repr_str_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    s = Settings.from_env(SEED_000_ENV)
    assert "super-secret-value" not in repr(s) and "super-secret-value" not in str(s)
    assert "secret_access_key='***'" in repr(s)
    store = ObjectStore(s)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("app").info("using %s with %r", s, store)
    assert "super-secret-value" not in caplog.text


def test_r2_client_config() -> None:
    config = client_config(Settings.from_env(SEED_000_ENV))
    assert config.signature_version == "s3v4"
    assert config.region_name == "auto"
    assert config.s3 == {"addressing_style": "virtual"}
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert (config.connect_timeout, config.read_timeout) == (5, 60)
    assert config.max_pool_connections >= 12


def test_aws_and_minio_client_configs() -> None:
    aws = client_config(Settings(provider="s3", bucket="b", region="ap-northeast-2"))
    assert aws.s3 == {"addressing_style": "auto"} and aws.region_name == "ap-northeast-2"
    assert aws.request_checksum_calculation is None, "AWS keeps botocore's checksum defaults"
    minio = client_config(
        Settings(
            provider="minio",
            bucket="b",
            endpoint_url="http://127.0.0.1:9000",
            access_key_id="k",
            secret_access_key="s",
            max_concurrency=32,
        )
    )
    assert minio.s3 == {"addressing_style": "path"}
    assert minio.max_pool_connections == 34


def test_one_client_per_settings_shared_across_threads() -> None:
    s = Settings.from_env({**SEED_000_ENV, "S3_BUCKET": "shared-client-test"})
    seen: list[Any] = []
    threads = [threading.Thread(target=lambda: seen.append(make_client(s))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen}) == 1
    other_bucket = Settings.from_env({**SEED_000_ENV, "S3_BUCKET": "other"})
    assert make_client(other_bucket) is seen[0], "the bucket is a call parameter, not the client's"
    other_key = Settings.from_env({**SEED_000_ENV, "S3_SECRET_ACCESS_KEY": "another-secret"})
    assert make_client(other_key) is not seen[0]


def test_from_stack_outputs_of_the_prod_plan(prod_plan: Plan) -> None:
    outputs = json.loads(json.dumps({"endpoints": prod_plan.outputs["endpoints"]}))
    with pytest.raises(
        SettingsError,
        match="masked; read the outputs with `pulumi stack output --json --show-secrets`",
    ):
        Settings.from_stack_outputs(outputs, "jokbodude")
    outputs["endpoints"]["jokbodude"]["r2"]["files"]["secretAccessKey"] = "f" * 64
    s = Settings.from_stack_outputs(outputs, "jokbodude")
    assert (s.provider, s.bucket, s.region, s.endpoint_url) == ("s3", "jokbodude", "auto", R2)
    assert (
        s.access_key_id == prod_plan.outputs["endpoints"]["jokbodude"]["r2"]["files"]["accessKeyId"]
    )
    videos = Settings.from_stack_outputs(outputs, "video-renderer")
    assert (videos.bucket, videos.region, videos.endpoint_url) == (
        "video-renderer-artifacts",
        "ap-northeast-2",
        None,
    )
    assert videos.public_base_url == "https://cdn.example.com", "the CDN in front of the bucket"
    images = Settings.from_stack_outputs(outputs, "pingvas-studio", "images")
    assert images.public_base_url == "https://images.pingvas.studio"
    with pytest.raises(SettingsError, match=r"choose one with bucket="):
        Settings.from_stack_outputs(outputs, "pingvas-studio")
    with pytest.raises(SettingsError, match="app 'nope' is not in the stack outputs"):
        Settings.from_stack_outputs(outputs, "nope")


BLOCK_PULUMI = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "pulumi" or name.startswith(("pulumi.", "pulumi_")):
            raise ImportError(f"storage_runtime imported {name}")
sys.meta_path.insert(0, Block())
import pkgutil, importlib, storage_runtime
for m in pkgutil.iter_modules(storage_runtime.__path__):
    importlib.import_module(f"storage_runtime.{m.name}")
print("ok", sorted(n for n in sys.modules if n.startswith("storage_runtime")))
"""


def test_runtime_never_imports_pulumi() -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_PULUMI], cwd=root, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "storage_runtime.store" in proc.stdout and "storage_runtime.__main__" in proc.stdout


def test_the_bare_install_is_the_runtime_without_pulumi() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())[
        "project"
    ]
    assert all("pulumi" not in dep for dep in project["dependencies"]), project["dependencies"]
    assert any(dep.startswith("boto3") for dep in project["dependencies"])
    assert any(dep.startswith("pulumi-aws>=7") for dep in project["optional-dependencies"]["infra"])
