"""SharedFileSystem: encryption, lifecycle, mount targets per AZ, NFS from security groups only,
TLS-only policy, access point, backups with their own narrow role."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.config import ConfigError, Efs, parse_stack_config
from components.config.names import EfsNames
from components.efs import SharedFileSystem, SharedFileSystemArgs
from ops.mocks import UNKNOWN
from tests.conftest import Recorded, spec, stack_problems

FS = "aws:efs/fileSystem:FileSystem"
BASE: dict[str, Any] = {
    "vpcId": "vpc-0123456789abcdef0",
    "subnets": [
        {"id": "subnet-0aaaaaaaaaaaaaaa1", "az": "ap-northeast-2a"},
        {"id": "subnet-0ccccccccccccccc3", "az": "ap-northeast-2c"},
    ],
    "clientSecurityGroups": ["sg-0123456789abcdef0"],
    "accessPoint": {"path": "/models", "uid": 1000, "gid": 1000, "permissions": "0755"},
}


def efs(pulumi_run: Any, raw: dict[str, Any] | None = None, mode: str = "preview") -> Recorded:
    def build() -> SharedFileSystem:
        efs_spec = spec(Efs, {**BASE, **(raw or {})})
        fs = SharedFileSystem(
            "app-models-efs",
            SharedFileSystemArgs(
                spec=efs_spec,
                names=EfsNames.of("test", "app", "models", efs_spec.creation_token),
            ),
        )
        pulumi.export("volumeHandle", fs.volume_handle)
        pulumi.export("mountTargets", fs.mount_target_ids)
        return fs

    return pulumi_run(build, mode=mode)


def test_encrypted_with_a_rotating_customer_managed_key(pulumi_run: Any) -> None:
    rec = efs(pulumi_run)
    key = rec.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.protect is True
    fs = rec.one(FS)
    assert fs.inputs["encrypted"] is True
    assert fs.inputs["kmsKeyId"] == UNKNOWN, "the key's ARN, known once it exists"
    assert key.urn in fs.property_dependencies["kmsKeyId"]
    assert fs.protect is True
    deployed = efs(pulumi_run, mode="deployed").one(FS).inputs
    assert deployed["kmsKeyId"].startswith("arn:aws:kms:ap-northeast-2:123456789012:key/")


def test_created_key_has_a_least_privilege_key_policy(pulumi_run: Any) -> None:
    """Finding 5: keys the program created carried KMS's default policy (`kms:*` for the
    account, usable by any principal the account's IAM allows, directly)."""
    rec = efs(pulumi_run)
    policy = rec.one("aws:kms/keyPolicy:KeyPolicy")
    assert rec.one("aws:kms/key:Key").urn in policy.property_dependencies["keyId"]
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert set(statements) == {
        "AccountAdministersTheKey",
        "UseOnlyThroughItsServices",
        "GrantOnlyToAwsResources",
    }
    root = {"AWS": "arn:aws:iam::123456789012:root"}
    admin = statements["AccountAdministersTheKey"]
    assert admin["Principal"] == root
    assert "kms:*" not in admin["Action"] and "kms:Decrypt" not in admin["Action"]
    assert "kms:PutKeyPolicy" not in admin["Action"] and "kms:Put*" in admin["Action"]
    use = statements["UseOnlyThroughItsServices"]
    assert "kms:Decrypt" in use["Action"]
    assert use["Condition"]["StringEquals"] == {
        "kms:CallerAccount": "123456789012",
        "kms:ViaService": [
            "elasticfilesystem.ap-northeast-2.amazonaws.com",
            "backup.ap-northeast-2.amazonaws.com",
        ],
    }
    grants = statements["GrantOnlyToAwsResources"]
    assert grants["Action"] == ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
    assert grants["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}


def test_given_key_is_used_and_none_created(pulumi_run: Any) -> None:
    arn = "arn:aws:kms:ap-northeast-2:123456789012:key/11111111-2222-3333-4444-555555555555"
    rec = efs(pulumi_run, {"kmsKeyArn": arn})
    assert rec.all("aws:kms/key:Key") == []
    assert rec.all("aws:kms/keyPolicy:KeyPolicy") == [], "a given key's policy is its owner's"
    assert rec.one(FS).inputs["kmsKeyId"] == arn


def test_modes_and_lifecycle_one_transition_per_element(pulumi_run: Any) -> None:
    fs = efs(pulumi_run).one(FS).inputs
    assert fs["performanceMode"] == "generalPurpose"
    assert fs["throughputMode"] == "bursting"
    assert fs["lifecyclePolicies"] == [
        {"transitionToIa": "AFTER_30_DAYS"},
        {"transitionToPrimaryStorageClass": "AFTER_1_ACCESS"},
    ]
    one_day = efs(pulumi_run, {"transitionToIaDays": 1}).one(FS).inputs
    assert one_day["lifecyclePolicies"][0] == {"transitionToIa": "AFTER_1_DAY"}
    none = efs(pulumi_run, {"transitionToIaDays": None, "transitionToPrimaryOnAccess": False})
    assert "lifecyclePolicies" not in none.one(FS).inputs


def test_one_mount_target_per_subnet_in_the_nfs_group(pulumi_run: Any) -> None:
    rec = efs(pulumi_run)
    targets = rec.all("aws:efs/mountTarget:MountTarget")
    assert sorted(t.inputs["subnetId"] for t in targets) == [
        "subnet-0aaaaaaaaaaaaaaa1",
        "subnet-0ccccccccccccccc3",
    ]
    sg = rec.one("aws:ec2/securityGroup:SecurityGroup")
    assert sg.inputs["vpcId"] == "vpc-0123456789abcdef0"
    assert "ingress" not in sg.inputs and "egress" not in sg.inputs
    assert len(rec.outputs["mountTargets"]) == 2
    for t in targets:
        assert len(t.inputs["securityGroups"]) == 1
        assert sg.urn in t.property_dependencies["securityGroups"]


def test_nfs_only_from_the_client_security_groups(pulumi_run: Any) -> None:
    rec = efs(
        pulumi_run, {"clientSecurityGroups": ["sg-0123456789abcdef0", "sg-0fedcba9876543210"]}
    )
    rules = rec.all("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert sorted(r.inputs["referencedSecurityGroupId"] for r in rules) == [
        "sg-0123456789abcdef0",
        "sg-0fedcba9876543210",
    ]
    for r in rules:
        assert (r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"]) == (
            "tcp",
            2049,
            2049,
        )
        assert "cidrIpv4" not in r.inputs and "cidrIpv6" not in r.inputs
    assert rec.all("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule") == []


def test_ingress_rules_are_keyed_by_security_group(pulumi_run: Any) -> None:
    """Finding 9: rules named by list index are rewritten in place when the list is
    reordered, each rule briefly pointing at the other group."""
    groups = ["sg-0123456789abcdef0", "sg-0fedcba9876543210"]

    def rules(order: list[str]) -> dict[str, str]:
        rec = efs(pulumi_run, {"clientSecurityGroups": order})
        found = rec.all("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        return {r.name: r.inputs["referencedSecurityGroupId"] for r in found}

    forward, backward = rules(groups), rules(groups[::-1])
    assert forward == backward
    assert forward == {f"app-models-efs-nfs-from-{g}": g for g in groups}


def test_ingress_rules_keep_the_positional_names_of_a_deployed_stack(pulumi_run: Any) -> None:
    """Renaming a rule would replace it; the alias adopts the rule named by position."""
    rec = efs(pulumi_run)
    rule = rec.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rule.aliases == ["app-models-efs-nfs-from-0"]


def test_file_system_policy_denies_non_tls_and_is_known_at_preview(pulumi_run: Any) -> None:
    rec = efs(pulumi_run)
    doc = rec.policy("aws:efs/fileSystemPolicy:FileSystemPolicy")
    allow, deny = doc["Statement"]
    assert allow["Condition"] == {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}}
    assert deny["Effect"] == "Deny" and deny["Action"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert "Resource" not in allow and "Resource" not in deny, "the policy's own file system"
    policy = rec.one("aws:efs/fileSystemPolicy:FileSystemPolicy")
    assert rec.one(FS).urn in policy.property_dependencies["fileSystemId"]


def test_access_point_and_volume_handle(pulumi_run: Any) -> None:
    assert efs(pulumi_run).outputs["volumeHandle"] == UNKNOWN
    rec = efs(pulumi_run, mode="deployed")
    ap = rec.one("aws:efs/accessPoint:AccessPoint").inputs
    assert ap["posixUser"] == {"uid": 1000, "gid": 1000}
    assert ap["rootDirectory"] == {
        "path": "/models",
        "creationInfo": {"ownerUid": 1000, "ownerGid": 1000, "permissions": "0755"},
    }
    fs_id, ap_id = rec.outputs["volumeHandle"].split("::")
    assert fs_id.startswith("fs-") and ap_id.startswith("fsap-")


def test_daily_backups_kept_30_days_with_a_narrow_role(pulumi_run: Any) -> None:
    rec = efs(pulumi_run, mode="deployed")
    (rule,) = rec.one("aws:backup/plan:Plan").inputs["rules"]
    assert rule["schedule"] == "cron(0 2 * * ? *)"
    assert rule["lifecycle"] == {"deleteAfter": 30}
    assert rule["targetVaultName"] == "test-app-models-backups"
    vault = rec.one("aws:backup/vault:Vault").inputs
    assert vault["kmsKeyArn"].startswith("arn:aws:kms:")
    selection = rec.one("aws:backup/selection:Selection").inputs
    assert len(selection["resources"]) == 1
    assert selection["resources"][0].startswith(
        "arn:aws:elasticfilesystem:ap-northeast-2:123456789012:file-system/fs-"
    )
    trust = rec.policy("aws:iam/role:Role", key="assumeRolePolicy")
    assert trust["Statement"][0]["Principal"] == {"Service": "backup.amazonaws.com"}
    statements = rec.policy("aws:iam/rolePolicy:RolePolicy")["Statement"]
    assert all(s["Resource"] != "*" for s in statements)
    efs_actions = next(s for s in statements if s["Sid"] == "BackupThisFileSystem")
    assert efs_actions["Action"] == ["elasticfilesystem:Backup", "elasticfilesystem:DescribeTags"]
    assert efs_actions["Resource"] == selection["resources"][0]
    assert rec.all("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []


def test_physical_names_carry_the_stack(pulumi_run: Any) -> None:
    """Finding 8: creation token and AWS Backup names are unique per account and region."""
    rec = efs(pulumi_run)
    assert rec.one(FS).inputs["creationToken"] == "test-app-models"
    assert rec.one("aws:backup/vault:Vault").inputs["name"] == "test-app-models-backups"
    assert rec.one("aws:backup/plan:Plan").inputs["name"] == "test-app-models-daily"
    assert rec.one("aws:backup/selection:Selection").inputs["name"] == "test-app-models"
    pinned = efs(pulumi_run, {"creationToken": "pingvas-studio-models"})
    assert pinned.one(FS).inputs["creationToken"] == "pingvas-studio-models"


def test_the_backup_vault_is_retained_on_delete(pulumi_run: Any) -> None:
    """Renaming the vault (or dropping backups) must never delete recovery points."""
    vault = efs(pulumi_run).one("aws:backup/vault:Vault")
    assert vault.retain_on_delete is True


def test_backups_can_be_turned_off(pulumi_run: Any) -> None:
    rec = efs(pulumi_run, {"backup": None})
    assert rec.all("aws:backup/plan:Plan") == []


# ---------------------------------------------------------------------------- config


def problems(raw: dict[str, Any]) -> list[str]:
    stack = {"apps": {"app": {"efs": {"models": {**BASE, **raw}}}}}
    return stack_problems(stack)


E = "apps.app.efs.models"
SUBNET_A = {"id": "subnet-0aaaaaaaaaaaaaaa1", "az": "ap-northeast-2a"}


@pytest.mark.parametrize(
    ("raw", "path", "fragment"),
    [
        (
            {"subnets": [SUBNET_A]},
            f"{E}.subnets",
            "1 subnet(s); accepted: at least two in distinct AZs",
        ),
        (
            {"subnets": [SUBNET_A, {"id": "subnet-0bbbbbbbbbbbbbbb2", "az": "ap-northeast-2a"}]},
            f"{E}.subnets",
            "two subnets are in 'ap-northeast-2a'",
        ),
        (
            {"clientSecurityGroups": ["10.0.0.0/16"]},
            f"{E}.clientSecurityGroups[0]",
            "'10.0.0.0/16' is a CIDR",
        ),
        ({"clientSecurityGroups": ["0.0.0.0/0"]}, f"{E}.clientSecurityGroups[0]", "is a CIDR"),
        (
            {"clientSecurityGroups": ["eks-nodes"]},
            f"{E}.clientSecurityGroups[0]",
            "not a security group id",
        ),
        ({"clientSecurityGroups": []}, f"{E}.clientSecurityGroups", "is empty"),
        ({"transitionToIaDays": 45}, f"{E}.transitionToIaDays", "45 is not offered"),
        ({"throughputMode": "provisioned"}, f"{E}.provisionedThroughputMibps", "is required"),
        ({"vpcId": "vpc-1"}, f"{E}.vpcId", "not a VPC id"),
        ({"accessPoint": {"path": "models"}}, f"{E}.accessPoint.path", "not an absolute path"),
        (
            {"accessPoint": {"path": "/m", "permissions": "755x"}},
            f"{E}.accessPoint.permissions",
            "not an octal mode",
        ),
        ({"backup": {"schedule": "daily"}}, f"{E}.backup.schedule", "not a schedule expression"),
        (
            {"kmsKeyArn": "arn:aws:kms:ap-northeast-2:123456789012:alias/efs"},
            f"{E}.kmsKeyArn",
            "is an alias ARN, which IAM policies match as the alias, not its key",
        ),
        ({"creationToken": "has space"}, f"{E}.creationToken", "not a creation token"),
        (
            {"creationToken": "t" * 65},
            f"{E}.creationToken",
            "the EFS creation token name 'tttt",
        ),
    ],
)
def test_bad_efs_config_names_the_key(raw: dict[str, Any], path: str, fragment: str) -> None:
    found = problems(raw)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}: "), found[0]
    assert fragment in found[0], found[0]


def test_duplicated_subnet_is_refused() -> None:
    found = problems({"subnets": [SUBNET_A, SUBNET_A]})
    assert any("subnet 'subnet-0aaaaaaaaaaaaaaa1' is listed twice" in line for line in found), found


def test_two_subnets_in_two_azs_are_accepted() -> None:
    assert problems({}) == []


def test_subnet_az_outside_the_stack_region_is_refused() -> None:
    subnets = [SUBNET_A, {"id": "subnet-0ccccccccccccccc3", "az": "ap-northeast-1c"}]
    (line,) = problems({"subnets": subnets})
    assert line.startswith(
        f"{E}.subnets[1].az: 'ap-northeast-1c' is not in aws:region 'ap-northeast-2'"
    )


def test_long_keys_fail_at_validation_naming_the_key_and_the_limit() -> None:
    """Finding 8: AWS Backup names are limited to 50 characters; found at `up` before."""
    long_key = "m" * 40
    stack = {"apps": {"app": {"efs": {long_key: BASE}}}}
    with pytest.raises(ConfigError) as info:
        parse_stack_config(stack, aws_region="ap-northeast-2", stack="staging")
    vault = f"apps.app.efs.{long_key}: the AWS Backup vault name 'staging-app-{long_key}-backups'"
    assert f"{vault} is 60 characters; AWS allows 50: shorten" in "\n".join(info.value.problems)
    rule = (
        f"apps.app.efs.{long_key}: the EventBridge rule name 'staging-app-{long_key}-backup-failed'"
    )
    assert f"{rule} is 66 characters; AWS allows 64: shorten" in "\n".join(info.value.problems)
    assert all(
        "AWS allows 50" in line or "EventBridge rule" in line for line in info.value.problems
    ), info.value.problems
