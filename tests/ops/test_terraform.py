"""`python -m ops import --from-terraform` (ops/terraform.py) on a state of seed 003's Terraform.

The fixture `tests/fixtures/terraform/seed003.tfstate` is the version 4 state those blocks
would leave (infra/terraform/{efs,s3,cloudfront,s3_replication,rds,efs_backup}.tf of seed 003),
with the resources the blocks reference (aws_kms_key.efs, aws_acm_certificate.cdn, the
replication and backup roles, the backup vault, module.vpc and module.eks) and one data source;
ids are placeholders, matching the prod stack file's."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ops import stackfile, terraform
from tests.support.ops_cli import run_ops as run

ROOT = stackfile.ROOT
FIXTURE = ROOT / "tests" / "fixtures" / "terraform" / "seed003.tfstate"

#: Every resource block of seed 003's Terraform (the .tf blocks in the seed).
SEED_BLOCKS = {
    "aws_efs_file_system.models",
    "aws_efs_mount_target.models_az_a",
    "aws_efs_mount_target.models_az_c",
    "aws_security_group.efs",
    "aws_s3_bucket.images",
    "aws_s3_bucket_versioning.images",
    "aws_s3_bucket_server_side_encryption_configuration.images",
    "aws_s3_bucket_lifecycle_configuration.images",
    "aws_s3_bucket_cors_configuration.images",
    "aws_s3_bucket_public_access_block.images",
    "aws_cloudfront_distribution.images_cdn",
    "aws_cloudfront_origin_access_identity.images",
    "aws_s3_bucket_policy.images_cloudfront",
    "aws_s3_bucket_replication_configuration.images_replication",
    "aws_s3_bucket.images_replica_tokyo",
    "aws_db_instance.postgresql",
    "aws_backup_plan.efs_models",
    "aws_backup_selection.efs_models",
}


@pytest.fixture(scope="module")
def mapping() -> terraform.TfMapping:
    resources, warnings = terraform.read_state(FIXTURE)
    assert warnings == []
    return terraform.map_state(stackfile.load("prod").config(), resources)


def test_the_fixture_holds_every_block_of_the_seed() -> None:
    resources, _ = terraform.read_state(FIXTURE)
    assert {r.address for r in resources} >= SEED_BLOCKS


def test_every_resource_is_mapped_referenced_unmanaged_or_a_data_source(
    mapping: terraform.TfMapping,
) -> None:
    """Done when: nothing of the state is dropped silently; each address in one list only."""
    resources, _ = terraform.read_state(FIXTURE)
    placed = [m.tf.address for _, items in mapping.sections() for m in items]
    placed += [r.address for r in mapping.data]
    assert sorted(placed) == sorted(r.address for r in resources)
    assert len(placed) == len(set(placed))
    assert mapping.problems == [] and mapping.warnings == []


def test_storage_maps_by_physical_identity(mapping: terraform.TfMapping) -> None:
    mapped = {m.tf.address: m.what for m in mapping.mapped}
    assert mapped["aws_s3_bucket.images"] == "apps.pingvas-studio.s3.images (bucket)"
    assert mapped["aws_s3_bucket.images_replica_tokyo"] == (
        "apps.pingvas-studio.s3.images.replication (bucket)"
    )
    assert mapped["aws_efs_file_system.models"] == "apps.pingvas-studio.efs.models (file system)"
    assert mapped["aws_efs_mount_target.models_az_c"] == (
        "apps.pingvas-studio.efs.models (mount target ap-northeast-2c)"
    )
    assert mapped["aws_kms_key.efs"] == "apps.pingvas-studio.efs.models (its key)"
    assert mapped["aws_cloudfront_origin_access_identity.images"] == (
        "apps.pingvas-studio.cdn.images (origin access identity)"
    )
    assert mapping.blocks == {
        ("s3", "pingvas-studio", "images"): {
            "settings": [
                "cors",
                "encryption",
                "lifecycle",
                "policy",
                "publicAccessBlock",
                "replication",
                "versioning",
            ]
        },
        ("replica", "pingvas-studio", "images"): {"settings": ["encryption"]},
        ("efs", "pingvas-studio", "models"): {
            "fileSystemId": "fs-0123456789abcdef0",
            "mountTargets": {
                "ap-northeast-2a": "fsmt-0aaaaaaaaaaaaaaa1",
                "ap-northeast-2c": "fsmt-0ccccccccccccccc3",
            },
            "kmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        },
        ("cdn", "pingvas-studio", "images"): {
            "distributionId": "EDFDVBD6EXAMPLE",
            "originAccessIdentityId": "E74FTE3AEXAMPLE",
        },
    }


def test_what_the_stack_references_or_replaces_says_what_to_do(
    mapping: terraform.TfMapping,
) -> None:
    referenced = {m.tf.address: m.what for m in mapping.referenced}
    assert referenced == {
        "module.vpc.aws_vpc.this[0]": "named by apps.pingvas-studio.efs.models.vpcId; stays in Terraform",
        "module.vpc.aws_subnet.private[0]": "named by apps.pingvas-studio.efs.models.subnets[0].id; stays in Terraform",
        "module.vpc.aws_subnet.private[1]": "named by apps.pingvas-studio.efs.models.subnets[1].id; stays in Terraform",
        "module.eks.aws_security_group.node[0]": "named by apps.pingvas-studio.efs.models.clientSecurityGroups[0]; stays in Terraform",
        "aws_acm_certificate.cdn": "named by apps.pingvas-studio.cdn.images.certificate.arn; stays in Terraform",
    }
    unmanaged = {m.tf.address: m.what for m in mapping.unmanaged}
    assert set(unmanaged) == {
        "aws_security_group.efs",
        "aws_iam_role.replication",
        "aws_iam_role.backup",
        "aws_backup_plan.efs_models",
        "aws_backup_selection.efs_models",
        "aws_backup_vault.main",
        "aws_db_instance.postgresql",
    }
    assert "delete this one after the first `pulumi up`" in unmanaged["aws_security_group.efs"]
    assert "billed twice" in unmanaged["aws_backup_plan.efs_models"]
    assert "recovery points" in unmanaged["aws_backup_vault.main"]
    assert [r.address for r in mapping.data] == ["data.aws_caller_identity.current"]


def test_terraform_forgets_what_was_adopted_by_state_rm_never_destroy(
    mapping: terraform.TfMapping,
) -> None:
    commands = terraform.state_rm_commands(mapping)
    assert len(commands) == len(mapping.mapped) == 15
    assert "terraform state rm 'aws_efs_file_system.models'" in commands
    assert not any("destroy" in c for c in commands)
    text = terraform.render(mapping, "seed003.tfstate", [])
    assert "never `terraform destroy`" in text and "`terraform plan` destroys nothing" in text


def test_cli_from_terraform_writes_the_same_file_as_the_stack_files_import_blocks(
    tmp_path: Path,
) -> None:
    """The prod stack file carries the ids the state gives: the two sources agree, and the
    file lists seed 003's buckets, distribution and file system."""
    out = tmp_path / "import.json"
    code, stdout, stderr = run(
        "import",
        "--stack",
        "prod",
        "--app",
        "pingvas-studio",
        "--from-terraform",
        str(FIXTURE),
        "--out",
        str(out),
    )
    assert code == 0, stderr
    assert "Terraform state" in stdout and "terraform state rm 'aws_s3_bucket.images'" in stdout
    assert "(terraform aws_cloudfront_distribution.images_cdn)" in stdout
    assert "add to" not in stdout, "the stack file already says what the state says"
    ids = {(r["type"], r.get("id")) for r in json.loads(out.read_text())["resources"]}
    assert ("aws:efs/fileSystem:FileSystem", "fs-0123456789abcdef0") in ids
    assert ("aws:cloudfront/distribution:Distribution", "EDFDVBD6EXAMPLE") in ids


def state_with(change: Any) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(json.loads(FIXTURE.read_text()))
    change(doc)
    return doc


def attributes(doc: dict[str, Any], address: str) -> dict[str, Any]:
    typ, name = address.split(".")
    (r,) = [r for r in doc["resources"] if (r["type"], r["name"]) == (typ, name)]
    result: dict[str, Any] = r["instances"][0]["attributes"]
    return result


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: attributes(d, "aws_efs_file_system.models").update(encrypted=False),
            "not encrypted, and encryption cannot be turned on",
        ),
        (
            lambda d: attributes(d, "aws_efs_file_system.models").update(performance_mode="maxIO"),
            "performance mode 'maxIO'",
        ),
        (
            lambda d: attributes(d, "aws_s3_bucket.images_replica_tokyo").update(
                region="us-west-2"
            ),
            "is in us-west-2",
        ),
        (
            lambda d: attributes(d, "aws_cloudfront_distribution.images_cdn").update(
                id="EOTHER1234567"
            ),
            "apps.pingvas-studio.cdn.images.import.distributionId is 'EDFDVBD6EXAMPLE' in the stack file",
        ),
    ],
)
def test_what_would_replace_or_contradict_is_refused(
    tmp_path: Path, change: Any, message: str
) -> None:
    path = tmp_path / "terraform.tfstate"
    path.write_text(json.dumps(state_with(change)))
    out = tmp_path / "import.json"
    code, _, stderr = run(
        "import", "--stack", "prod", "--from-terraform", str(path), "--out", str(out)
    )
    assert code == 2, stderr
    assert stderr.startswith("refused: ") and message in stderr
    assert not out.exists() and "Traceback" not in stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not a JSON state"),
        (json.dumps({"version": 3, "modules": []}), "state format version 3; accepted: version 4"),
        (json.dumps({"version": 4}), "has no 'resources' list"),
    ],
)
def test_an_unreadable_state_is_one_message(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "terraform.tfstate"
    path.write_text(text)
    code, _, stderr = run(
        "import",
        "--stack",
        "prod",
        "--from-terraform",
        str(path),
        "--out",
        str(tmp_path / "i.json"),
    )
    assert code == 2 and message in stderr and "Traceback" not in stderr
    code, _, stderr = run("import", "--stack", "prod", "--from-terraform", str(tmp_path / "none"))
    assert code == 2 and "no such file" in stderr


def test_deposed_and_tainted_instances_are_said(tmp_path: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        (bucket,) = [
            r for r in doc["resources"] if r["name"] == "images" and r["type"] == "aws_s3_bucket"
        ]
        bucket["instances"][0]["status"] = "tainted"
        bucket["instances"].append({**bucket["instances"][0], "deposed": "00000001"})

    path = tmp_path / "terraform.tfstate"
    path.write_text(json.dumps(state_with(change)))
    resources, warnings = terraform.read_state(path)
    (warning,) = warnings
    assert warning.startswith("aws_s3_bucket.images (deposed 00000001)")
    mapping = terraform.map_state(stackfile.load("prod").config(), resources)
    assert any("tainted" in w for w in mapping.warnings)
