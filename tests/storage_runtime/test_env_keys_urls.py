"""The env exporter (read back into Settings), the seeds' key layouts and the CDN URLs."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ops.plan import Plan
from storage_runtime import InvalidKeyError, ObjectStore, Settings, keys, urls
from storage_runtime.env import parse_dotenv, render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def outputs_file(prod_plan: Plan, tmp_path: Path) -> Path:
    outputs = json.loads(json.dumps({"endpoints": prod_plan.outputs["endpoints"]}))
    outputs["endpoints"]["jokbodude"]["r2"]["files"]["secretAccessKey"] = "a" * 64
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def run_env(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storage_runtime", "env", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_dotenv_export_reads_back_into_the_same_settings(outputs_file: Path) -> None:
    proc = run_env("--outputs", str(outputs_file), "--app", "jokbodude", "--show-secrets")
    assert proc.returncode == 0, proc.stderr
    env = parse_dotenv(proc.stdout)
    assert (
        env["OBJECT_STORE"] == "s3"
        and env["S3_REGION"] == "auto"
        and env["S3_BUCKET"] == "jokbodude"
    )
    assert env["S3_SECRET_ACCESS_KEY"] == "a" * 64
    expected = Settings.from_stack_outputs(json.loads(outputs_file.read_text()), "jokbodude")
    assert Settings.from_env(env) == expected


def test_secrets_only_with_show_secrets(outputs_file: Path) -> None:
    for fmt in ("dotenv", "render", "k8s-secret"):
        proc = run_env("--outputs", str(outputs_file), "--app", "jokbodude", "--format", fmt)
        assert proc.returncode == 0, proc.stderr
        assert "a" * 64 not in proc.stdout, fmt
        assert "S3_ACCESS_KEY_ID" in proc.stdout


def test_masked_outputs_still_export_the_non_secret_env(prod_plan: Plan, tmp_path: Path) -> None:
    path = tmp_path / "masked.json"
    path.write_text(json.dumps({"endpoints": prod_plan.outputs["endpoints"]}))
    proc = run_env("--outputs", str(path), "--app", "jokbodude")
    assert proc.returncode == 0, proc.stderr
    assert "S3_SECRET_ACCESS_KEY left out" in proc.stdout
    proc = run_env("--outputs", str(path), "--app", "jokbodude", "--show-secrets")
    assert proc.returncode == 2 and "--show-secrets" in proc.stderr


def test_render_and_k8s_formats_are_valid_yaml_for_every_service(outputs_file: Path) -> None:
    settings = Settings.from_stack_outputs(json.loads(outputs_file.read_text()), "jokbodude")
    group = yaml.safe_load(render(settings, app="jokbodude", fmt="render", show_secrets=True))
    (env_group,) = group["envVarGroups"]
    assert env_group["name"] == "jokbodude-storage"
    values = {v["key"]: v["value"] for v in env_group["envVars"]}
    assert Settings.from_env(values) == settings
    secret = yaml.safe_load(render(settings, app="jokbodude", fmt="k8s-secret", show_secrets=True))
    assert (secret["kind"], secret["type"], secret["metadata"]["name"]) == (
        "Secret",
        "Opaque",
        "jokbodude-storage",
    )
    assert Settings.from_env(secret["stringData"]) == settings
    hidden = yaml.safe_load(render(settings, app="jokbodude", fmt="render"))
    secret_entry = next(
        v for v in hidden["envVarGroups"][0]["envVars"] if v["key"] == "S3_SECRET_ACCESS_KEY"
    )
    assert secret_entry == {"key": "S3_SECRET_ACCESS_KEY", "sync": False}


def test_exported_env_works_against_a_real_server(settings: Settings, tmp_path: Path) -> None:
    env = parse_dotenv(render(settings, app="t", fmt="dotenv", show_secrets=True))
    store = ObjectStore(Settings.from_env(env))
    store.put("results/j/x.pdf", b"through the env")
    assert ObjectStore(settings).get("results/j/x.pdf") == b"through the env"


# ------------------------------------------------------------------------- key layouts


def test_seed_key_layouts() -> None:
    assert keys.upload_key("job-1", "pdf", "a.pdf") == "uploads/job-1/pdf/a.pdf"
    assert keys.result_key("job-1", "out.pdf") == "results/job-1/out.pdf"
    assert keys.job_prefixes("job-1") == ("uploads/job-1/", "results/job-1/")
    assert (
        keys.video_key("V-001", "S-001", "JOB-123", "subtitles.srt")
        == "videos/V-001/S-001/JOB-123/subtitles.srt"
    )
    assert keys.input_key("u1", "j1", 0) == "inputs/u1/j1/0.jpg"
    assert keys.output_key("u1", "j1", 0) == "outputs/u1/j1/0_result.png"
    assert keys.mask_key("u1", "j1", 2, "sky") == "masks/u1/j1/2_sky.png"
    assert keys.instances_key("u1", "j1", 2) == "masks/u1/j1/2_instances.json"
    assert keys.preview_key("u1", "j1", 2) == "previews/u1/j1/2_thumb.jpg"
    when = dt.datetime(2025, 11, 3, tzinfo=dt.UTC)
    image = keys.image_key("user-7", "job-9", "png", when)
    assert image == "user-7/2025/11/job-9.png"
    assert keys.thumbnail_key(image) == "user-7/2025/11/thumbnails/job-9.webp"
    assert keys.activity_key(12, 345) == "users/12/activities/345.fit"


@pytest.mark.parametrize("bad", ["", "a/b", "..", "."])
def test_ids_must_be_single_segments(bad: str) -> None:
    with pytest.raises(InvalidKeyError, match="one non-empty path segment"):
        keys.result_key(bad, "out.pdf")


def test_cdn_urls() -> None:
    image = "user-7/2025/11/job-9.png"
    assert (
        urls.image_url("d1234567890abc.cloudfront.net", image)
        == "https://d1234567890abc.cloudfront.net/user-7/2025/11/job-9.png"
    )
    assert urls.thumbnail_url("https://images.pingvas.studio/", image) == (
        "https://images.pingvas.studio/user-7/2025/11/thumbnails/job-9.webp"
    )
    assert (
        urls.public_url("https://cdn.example.com", "videos/V 1/a+b.mp4")
        == "https://cdn.example.com/videos/V%201/a%2Bb.mp4"
    )
    assert (
        urls.public_url("https://fit-files.example.com", keys.activity_key(1, 2))
        == "https://fit-files.example.com/users/1/activities/2.fit"
    )
    with pytest.raises(ValueError, match="not a base URL"):
        urls.public_url("ftp://x", "a")
