"""`python -m ops replicate-existing`: the CreateJob request is valid for S3 Control's service
model, the job starts and reports progress against a local server answering like S3 Control
(no network), and every mistake is one line and exit 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape
from botocore.validate import ParamValidator

from ops import replicate, stackfile
from tests.support.s3control_server import S3ControlServer, s3control_server

ROOT = stackfile.ROOT
ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
IMAGES = ["--stack", "prod", "--app", "pingvas-studio", "--bucket", "images"]


def create_job_shape() -> Shape:
    model = botocore.session.get_session().get_service_model("s3control")
    return model.operation_model("CreateJob").input_shape


def pattern_errors(value: Any, shape: Shape, path: str = "") -> list[str]:
    """What botocore's ParamValidator leaves out: the `pattern` and `enum` of each string."""
    errors: list[str] = []
    if shape.type_name == "structure" and isinstance(value, dict):
        for key, item in value.items():
            errors += pattern_errors(item, shape.members[key], f"{path}.{key}")
    elif shape.type_name == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            errors += pattern_errors(item, shape.member, f"{path}[{i}]")
    elif shape.type_name == "string":
        pattern = shape.metadata.get("pattern")
        if pattern and not re.search(pattern, value):
            errors.append(f"{path}: {value!r} does not match {pattern}")
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} not in {shape.enum}")
    return errors


def assert_valid_create_job(request: dict[str, Any]) -> None:
    shape = create_job_shape()
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert pattern_errors(request, shape) == []


def images_target() -> replicate.Target:
    cfg = stackfile.config(stackfile.load("prod"))
    return replicate.find_target(cfg, "pingvas-studio", "images")


def ops(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops", "replicate-existing", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def no_aws_env(tmp_path: Path) -> dict[str, str]:
    """An environment in which boto3 finds no credentials, no profile and no network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **env,
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def s3control(tmp_path: Path) -> Iterator[tuple[S3ControlServer, dict[str, str]]]:
    """The local S3 Control server and an environment whose boto3 reaches it as its proxy."""
    with s3control_server(REGION, ACCOUNT) as server:
        env = {
            **no_aws_env(tmp_path),
            "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "HTTP_PROXY": server.endpoint,
            "http_proxy": server.endpoint,
            "NO_PROXY": "",
            "no_proxy": "",
        }
        yield server, env


ENDPOINT = ["--account-id", ACCOUNT, "--endpoint-url", "http://s3-control.test"]


# ------------------------------------------------------------------------ the request


def test_the_request_is_a_valid_create_job_for_batch_replication() -> None:
    request = replicate.create_job_request(images_target(), ACCOUNT, token="t-1")
    assert_valid_create_job(request)
    assert request["Operation"] == {"S3ReplicateObject": {}}
    assert request["ManifestGenerator"] == {
        "S3JobManifestGenerator": {
            "ExpectedBucketOwner": ACCOUNT,
            "SourceBucket": "arn:aws:s3:::pingvas-studio-images",
            "EnableManifestOutput": False,
            "Filter": {
                "EligibleForReplication": True,
                "ObjectReplicationStatuses": ["NONE", "FAILED"],
            },
        }
    }
    assert (
        request["RoleArn"]
        == f"arn:aws:iam::{ACCOUNT}:role/prod-pingvas-studio-images-batch-replication"
    )
    assert request["Report"] == {
        "Enabled": True,
        "Bucket": "arn:aws:s3:::pingvas-studio-logs",
        "Prefix": "batch-replication/pingvas-studio-images",
        "Format": "Report_CSV_20180820",
        "ReportScope": "FailedTasksOnly",
        "ExpectedBucketOwner": ACCOUNT,
    }


def test_the_validation_catches_an_invalid_request() -> None:
    """The check above can fail: a role ARN of another shape and a missing token."""
    request = replicate.create_job_request(images_target(), ACCOUNT, token="t-1")
    del request["ClientRequestToken"]
    request["RoleArn"] = "prod-pingvas-studio-images-batch-replication"
    request["Report"]["ReportScope"] = "Everything"
    shape = create_job_shape()
    assert "ClientRequestToken" in ParamValidator().validate(request, shape).generate_report()
    errors = pattern_errors(request, shape)
    assert any(e.startswith(".RoleArn:") for e in errors) and any(
        "ReportScope" in e for e in errors
    )


def test_the_role_and_report_prefix_are_the_ones_the_stack_provisions(prod_plan: Any) -> None:
    target = images_target()
    role = prod_plan.get("pingvas-studio-images-crr-batch-role")
    assert role.inputs["name"] == target.role_name
    policy = json.loads(
        prod_plan.get("pingvas-studio-images-crr-batch-role-policy").inputs["policy"]
    )
    (report,) = [s for s in policy["Statement"] if s["Sid"] == "WriteCompletionReport"]
    request = replicate.create_job_request(target, ACCOUNT, token="t")
    written = (
        request["Report"]["Bucket"].split(":::")[1] + "/" + request["Report"]["Prefix"] + "/job-1/"
    )
    assert written.startswith(report["Resource"].removeprefix("arn:aws:s3:::").removesuffix("*"))


def test_a_bucket_without_a_report_bucket_starts_a_job_without_report() -> None:
    target = replicate.Target(
        stack="t", app="a", key="k", region=REGION, source="src", replica="dst",
        role_name="t-a-k-batch-replication", report_bucket=None, report_prefix="x/",
    )  # fmt: skip
    request = replicate.create_job_request(target, ACCOUNT, token="t")
    assert request["Report"] == {"Enabled": False}
    assert_valid_create_job(request)


def test_dry_run_prints_the_request_and_sends_nothing(tmp_path: Path) -> None:
    """Done when: `ops replicate-existing --dry-run` prints a request botocore validates."""
    env = {**no_aws_env(tmp_path), "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    proc = ops(*IMAGES, "--dry-run", "--account-id", ACCOUNT, env=env)
    assert proc.returncode == 0, proc.stderr
    request = json.loads(proc.stdout)
    assert_valid_create_job(request)
    assert request["AccountId"] == ACCOUNT


# ------------------------------------------------------------------ against the server


def test_the_job_is_created_in_the_source_region_and_its_progress_shown(
    s3control: tuple[S3ControlServer, dict[str, str]],
) -> None:
    server, env = s3control
    proc = ops(*IMAGES, *ENDPOINT, env=env)
    assert proc.returncode == 0, proc.stderr
    (job_id,) = server.jobs
    assert f"started S3 Batch Replication job {job_id} in ap-northeast-2" in proc.stdout
    sent = server.requests[-1]
    assert sent["method"] == "POST"
    assert sent["headers"]["host"] == f"{ACCOUNT}.s3-control.test"
    assert f"/{REGION}/s3/aws4_request" in sent["headers"]["authorization"]
    job = sent["job"]
    assert job["Operation"] == {"S3ReplicateObject": ""}
    assert (
        job["RoleArn"]
        == f"arn:aws:iam::{ACCOUNT}:role/prod-pingvas-studio-images-batch-replication"
    )
    generator = job["ManifestGenerator"]["S3JobManifestGenerator"]
    assert generator["SourceBucket"] == "arn:aws:s3:::pingvas-studio-images"
    assert generator["Filter"]["ObjectReplicationStatuses"] == ["NONE", "FAILED"]
    assert job["Report"]["Bucket"] == "arn:aws:s3:::pingvas-studio-logs"

    status = ops(*IMAGES, *ENDPOINT, "--status", job_id, env=env)
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[0] == f"job {job_id}: Active"
    assert (
        "tasks: 1,234 succeeded, 3 failed, of 10,000 (12.4% processed); active 1h 02m"
        in status.stdout
    )
    assert (
        f"report: s3://pingvas-studio-logs/batch-replication/pingvas-studio-images/job-{job_id}/"
        in status.stdout
    )
    assert server.requests[-1]["method"] == "GET"


def test_a_failed_job_exits_1_with_its_reason(
    s3control: tuple[S3ControlServer, dict[str, str]],
) -> None:
    server, env = s3control
    assert ops(*IMAGES, *ENDPOINT, env=env).returncode == 0
    server.status = "Failed"
    (job_id,) = server.jobs
    proc = ops(*IMAGES, *ENDPOINT, "--status", job_id, env=env)
    assert proc.returncode == 1
    assert "failure: InternalError: Job failed" in proc.stdout


def test_aws_refusing_is_exit_1_with_its_code_not_a_traceback(
    s3control: tuple[S3ControlServer, dict[str, str]],
) -> None:
    server, env = s3control
    server.refuse = (400, "InvalidRequest", "Role cannot be assumed by S3 Batch Operations")
    proc = ops(*IMAGES, *ENDPOINT, env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "replicate-existing: AWS refused CreateJob: InvalidRequest: "
        "Role cannot be assumed by S3 Batch Operations"
    )
    unknown = ops(*IMAGES, *ENDPOINT, "--status", "no-such-job", env=env)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr


# ---------------------------------------------------------------------------- mistakes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--stack", "prod", "--app", "nope", "--bucket", "images"],
            "replicate-existing: --app 'nope' is not an app of stack 'prod'; apps: jokbodude, "
            "s3-images, fit-files, pingvas-studio, video-renderer",
        ),
        (
            ["--stack", "prod", "--app", "pingvas-studio", "--bucket", "imgs"],
            "replicate-existing: --bucket 'imgs' is not an S3 bucket key of app 'pingvas-studio'; "
            "accepted: images, thumbnails, uploads, backups, models, logs",
        ),
        (
            ["--stack", "prod", "--app", "pingvas-studio", "--bucket", "thumbnails"],
            "replicate-existing: --bucket 'thumbnails' (pingvas-studio-thumbnails) has no "
            "replication rule in stack 'prod', so there is nothing to replicate it to; buckets "
            "with replication: images",
        ),
        (
            ["--stack", "prod", "--app", "jokbodude", "--bucket", "files"],
            "replicate-existing: --bucket 'files' is not an S3 bucket key of app 'jokbodude'; "
            "accepted: none declared",
        ),
        (
            [*IMAGES, "--account-id", "12345"],
            "replicate-existing: --account-id '12345' is not an AWS account id (12 digits)",
        ),
        (
            [*IMAGES, "--account-id", ACCOUNT, "--status", "job/1"],
            "replicate-existing: --status 'job/1' is not a job id (1-36 of A-Z a-z 0-9 - _)",
        ),
    ],
)
def test_mistakes_are_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    proc = ops(
        *args, "--dry-run" if "--status" not in args else "--priority=1", env=no_aws_env(tmp_path)
    )
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.strip() == message


def test_an_unknown_stack_is_exit_2_naming_the_stacks(tmp_path: Path) -> None:
    proc = ops(
        "--stack", "qa", "--app", "a", "--bucket", "b", "--dry-run", env=no_aws_env(tmp_path)
    )
    assert proc.returncode == 2
    assert "Pulumi.qa.yaml: no such stack file" in proc.stderr and "prod, staging" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_credentials_and_no_account_is_exit_2_saying_what_to_do(tmp_path: Path) -> None:
    env = {
        **no_aws_env(tmp_path),
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }
    for extra in (["--dry-run"], []):
        proc = ops(*IMAGES, *extra, env=env)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("replicate-existing: no AWS credentials to find the account")
        assert "pass --account-id 123456789012" in proc.stderr and "Traceback" not in proc.stderr
    submit = ops(*IMAGES, "--account-id", ACCOUNT, env=env)
    assert submit.returncode == 2
    assert submit.stderr.startswith("replicate-existing: no AWS credentials (")
