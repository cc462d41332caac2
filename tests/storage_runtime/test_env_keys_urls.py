"""The env exporter (read back into Settings), the seeds' key layouts and the CDN URLs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import dotenv
import pytest
import yaml

from ops.plan import Plan
from storage_runtime import InvalidKeyError, ObjectStore, Settings, SettingsError, keys, urls
from storage_runtime.env import render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def outputs_file(prod_plan: Plan, tmp_path: Path) -> Path:
    outputs = json.loads(json.dumps({"endpoints": prod_plan.outputs["endpoints"]}))
    outputs["endpoints"]["jokbodude"]["r2"]["files"]["secretAccessKey"] = "a" * 64
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def read_dotenv(text: str) -> dict[str, str]:
    """What python-dotenv reads (interpolation on, its default)."""
    import io

    return {k: v or "" for k, v in dotenv.dotenv_values(stream=io.StringIO(text)).items()}


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
    env = read_dotenv(proc.stdout)
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
    env = read_dotenv(render(settings, app="t", fmt="dotenv", show_secrets=True))
    store = ObjectStore(Settings.from_env(env))
    store.put("results/j/x.pdf", b"through the env")
    assert ObjectStore(settings).get("results/j/x.pdf") == b"through the env"


# ------------------------------------------------------------ dotenv through real readers

TRICKY = {
    "dollar": "abc$HOME$1",
    "command": "x$(touch pwned)y",
    "backticks": "`touch pwned`",
    "single quotes": "it's 'quoted'",
    "double quotes": 'say "hi"',
    "backslash": "back\\slash\\n",
    "two backslashes": "two\\\\back",
    "trailing backslash": "ends\\",
    "quote and backslash": "a'b\\c\\\\d",
    "newline": "line one\nline two",
    "non-ascii": "비밀-ключ-é-😀",
    "spaces and hash": "  lead #not a comment ",
    "empty-ish": "=",
}


def export_with(settings: Settings, value: str) -> Settings:
    return dataclasses.replace(settings, secret_access_key=value)


R2_SETTINGS = Settings(
    provider="s3",
    bucket="jokbodude",
    endpoint_url="https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
    region="auto",
    access_key_id="AKIDEXAMPLE",
    secret_access_key="placeholder",
)


def sourced(shell: str, env_file: Path) -> bytes:
    """The variable as `set -a; . ./.env; set +a` in a real shell leaves it, byte for byte."""
    proc = subprocess.run(
        [shell, "-c", 'set -a; . ./.env; set +a; printf %s "$S3_SECRET_ACCESS_KEY"'],
        cwd=env_file.parent,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C.UTF-8"},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def docker_env_file(text: str) -> dict[str, str]:
    """docker's --env-file rules (opts/file.go): lines, leading whitespace trimmed, `#` lines
    and blank lines skipped, split at the first `=`, the value taken literally."""
    out = {}
    for line in text.split("\n"):
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        out[name] = value
    return out


@pytest.mark.parametrize("value", list(TRICKY.values()), ids=list(TRICKY))
def test_dotenv_reads_back_byte_for_byte_in_sh_bash_and_python_dotenv(
    value: str, tmp_path: Path
) -> None:
    text = render(export_with(R2_SETTINGS, value), app="t", fmt="dotenv", show_secrets=True)
    env_file = tmp_path / ".env"
    env_file.write_bytes(text.encode())
    for shell in ("sh", "bash"):
        assert shutil.which(shell), f"{shell} is needed for this test"
        assert sourced(shell, env_file) == value.encode(), (shell, text)
    assert not (tmp_path / "pwned").exists(), "the shell ran a command from the value"
    assert read_dotenv(text)["S3_SECRET_ACCESS_KEY"] == value, text
    assert dotenv.dotenv_values(env_file)["S3_SECRET_ACCESS_KEY"] == value


@pytest.mark.parametrize(
    "value", [*TRICKY.values(), "${PATH}", "a'b$c"], ids=[*TRICKY, "braces", "quote-dollar"]
)
def test_docker_format_is_read_literally_by_docker(value: str) -> None:
    if "\n" in value:
        with pytest.raises(
            SettingsError,
            match="S3_SECRET_ACCESS_KEY: docker --env-file values cannot contain line breaks",
        ):
            render(export_with(R2_SETTINGS, value), app="t", fmt="docker", show_secrets=True)
        return
    text = render(export_with(R2_SETTINGS, value), app="t", fmt="docker", show_secrets=True)
    assert docker_env_file(text)["S3_SECRET_ACCESS_KEY"] == value
    assert docker_env_file(text)["S3_BUCKET"] == "jokbodude"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("${PATH}", "'\\$\\{', which python-dotenv expands"),
        ("pre${HOME:-x}post", "python-dotenv expands"),
        ("a'b$c", "a quote together with"),
        ("cr\rlf", "carriage return"),
    ],
)
def test_values_no_dotenv_syntax_can_keep_are_refused_by_name(
    value: str, why: str, outputs_file: Path
) -> None:
    with pytest.raises(
        SettingsError, match=rf"S3_SECRET_ACCESS_KEY: its value contains .*{why}"
    ) as info:
        render(export_with(R2_SETTINGS, value), app="t", fmt="dotenv", show_secrets=True)
    assert "--format docker" in str(info.value)
    outputs = json.loads(outputs_file.read_text())
    outputs["endpoints"]["jokbodude"]["r2"]["files"]["secretAccessKey"] = value
    outputs_file.write_text(json.dumps(outputs))
    proc = run_env("--outputs", str(outputs_file), "--app", "jokbodude", "--show-secrets")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert "S3_SECRET_ACCESS_KEY" in proc.stderr and "Traceback" not in proc.stderr


def test_env_and_outputs_files_are_ignored_by_git() -> None:
    names = [".env", "apps/web/.env", ".env.production", "outputs.json", "stack-outputs.json"]
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", *names], cwd=ROOT, capture_output=True, text=True
    )
    assert sorted(proc.stdout.split()) == sorted(names), proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["--outputs", "/nonexistent/outputs.json"],
            "--outputs /nonexistent/outputs.json: cannot be read",
        ),
        (["--outputs", "{bad"], "is not JSON"),
        (["--outputs", "[]"], "not a JSON object"),
        (
            [
                "--outputs",
                '{"endpoints": {"jokbodude": {"r2": {"files": {"bucket": "x", "secretAccessKey": "s"}}}}}',
            ],
            "unexpected shape",
        ),
        (["--outputs", '{"endpoints": {"jokbodude": []}}'], "unexpected shape"),
    ],
)
def test_env_mistakes_are_one_line_errors_with_exit_2(
    args: list[str], fragment: str, tmp_path: Path
) -> None:
    if args[1].startswith(("{", "[")):
        path = tmp_path / "outputs.json"
        path.write_text(args[1])
        args = ["--outputs", str(path)]
    proc = run_env(*args, "--app", "jokbodude", "--show-secrets")
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


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


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: keys.activity_key(None, 5), "user_id None must be a str"),  # type: ignore[arg-type]
        (lambda: keys.result_key(True, "a.pdf"), "job_id True must be a str"),  # type: ignore[arg-type]
        (lambda: keys.result_key("j", ""), "filename '' must be one non-empty path segment"),
        (lambda: keys.result_key("a\\b", "x.pdf"), "job_id 'a\\\\b' must be one non-empty"),
        (lambda: keys.result_key("j\n1", "x.pdf"), "control characters"),
        (lambda: keys.upload_key("j", "pdf", "a/b.pdf"), "filename 'a/b.pdf'"),
        (lambda: keys.input_key("u", "j", -1), "idx -1 must be an int >= 0"),
        (lambda: keys.output_key("u", "j", 1.5), "idx 1.5 must be an int >= 0"),  # type: ignore[arg-type]
        (lambda: keys.mask_key("u", "j", "3", "sky"), "idx '3' must be an int >= 0"),  # type: ignore[arg-type]
        (lambda: keys.preview_key("u", "j", True), "idx True must be an int >= 0"),
        (lambda: keys.thumbnail_key("u/2025/11/thumbnails/j.webp"), "already a thumbnail"),
        (lambda: keys.image_key("u", "j", when=dt.datetime(2025, 11, 30, 23)), "timezone-aware"),
        (lambda: keys.validate_key("a\\b"), "keys are '/'-separated"),
    ],
)
def test_key_builders_refuse_what_would_make_a_wrong_key(build: object, fragment: str) -> None:
    with pytest.raises(InvalidKeyError) as info:
        build()  # type: ignore[operator]
    assert fragment in str(info.value)


def test_image_key_uses_the_utc_month() -> None:
    seoul = dt.timezone(dt.timedelta(hours=9))
    early_december_in_seoul = dt.datetime(2025, 12, 1, 0, 30, tzinfo=seoul)  # 15:30 UTC, 30 Nov
    assert keys.image_key("u", "j", "png", early_december_in_seoul) == "u/2025/11/j.png"


@pytest.mark.parametrize(
    "bad",
    [
        "javascript:alert(1)",
        "https://user:pass@cdn.example.com",
        "https://cdn example.com",
        "https://cdn.example.com/a b",
        "http://cdn.example.com",
        "https://cdn.example.com/?x=1",
        "https://cdn.example.com/#top",
        "ftp://cdn.example.com",
        "",
        None,
    ],
)
def test_base_urls_are_https_host_and_path_only(bad: str | None) -> None:
    with pytest.raises(SettingsError, match="accepted: https://host"):
        urls.public_url(bad, "a.png")  # type: ignore[arg-type]


def test_base_urls_that_are_accepted() -> None:
    assert urls.base_url("d1234567890abc.cloudfront.net") == "https://d1234567890abc.cloudfront.net"
    assert urls.base_url("https://cdn.example.com/media/") == "https://cdn.example.com/media"
    assert urls.base_url("http://localhost:8080") == "http://localhost:8080"
    assert urls.base_url("http://127.0.0.1:9000/b") == "http://127.0.0.1:9000/b"
