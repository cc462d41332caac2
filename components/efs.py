"""An encrypted EFS file system reachable only over TLS from given security groups, backed up.

Children: a customer-managed KMS key (rotation on) unless one is given, the file system
(protected; lifecycle to Infrequent Access and back on first access, one transition per
lifecycle element as the API requires), a security group with one ingress rule per client
security group on TCP 2049 (named after the group, so reordering the list changes nothing)
and no CIDR rule at all, one mount target per subnet, an access point for the clients'
directory, a file-system policy that allows mounting through mount targets and denies non-TLS
access, and AWS Backup (vault, daily plan, selection) with a role of its own that may back up
this file system and nothing else. A created key gets a policy letting only EFS and AWS
Backup use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.adopted import Adoption
from components.config import Efs
from components.config.adoption import Imports
from components.config.names import EfsNames
from components.kms import customer_managed_key, key_policy

NFS_PORT = 2049
#: Tag carrying the GB the usage assumptions put in the Standard class (read by the policy).
EXPECTED_STANDARD_GB_TAG = "expected-standard-gb"

#: What AWS Backup needs to back up one encrypted EFS file system (from the AWS managed
#: AWSBackupServiceRolePolicyForBackup, narrowed to EFS and to this file system and key).
BACKUP_EFS_ACTIONS = ("elasticfilesystem:Backup", "elasticfilesystem:DescribeTags")
BACKUP_KMS_ACTIONS = ("kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey")


def ia_policy(days: int) -> str:
    """EFS's spelling of an age: `AFTER_1_DAY`, `AFTER_30_DAYS`."""
    return f"AFTER_{days}_DAY" if days == 1 else f"AFTER_{days}_DAYS"


@dataclass(frozen=True, kw_only=True)
class SharedFileSystemArgs:
    spec: Efs
    """The file system's validated config."""
    names: EfsNames
    """Creation token and AWS Backup names, unique per account and region."""
    expected_standard_gb: float | None = None
    """GB the stack file's `usage` expects in the Standard class (tag expected-standard-gb:
    the policy states the bursting baseline throughput it gives); None = not stated."""
    tags: Mapping[str, str] = field(default_factory=dict)
    imports: Imports = field(default_factory=dict)
    """Import ids of the file system, its mount targets (`mount-<az>`), key (and key policy)
    and access point when they exist."""


class SharedFileSystem(pulumi.ComponentResource):
    """Outputs: `file_system_id` (`fs-0123456789abcdef0`), `arn`, `dns_name`
    (`fs-....efs.ap-northeast-2.amazonaws.com`), `access_point_id` (`fsap-...`),
    `mount_target_ids`, `security_group_id`, and `volume_handle` (`fs-...::fsap-...`, what a
    Kubernetes PersistentVolume of the EFS CSI driver takes)."""

    file_system_id: pulumi.Output[str]
    arn: pulumi.Output[str]
    dns_name: pulumi.Output[str]
    volume_handle: pulumi.Output[str]

    def __init__(
        self, name: str, args: SharedFileSystemArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("storage:index:SharedFileSystem", name, None, opts)
        spec = args.spec
        tags = {**args.tags, "Name": name}
        child = pulumi.ResourceOptions(parent=self)
        adopt = Adoption(self, args.imports, {"file-system", "key", "key-policy", "access-point"})

        if spec.kms_key_arn is not None:
            key_arn: pulumi.Output[str] = pulumi.Output.from_input(spec.kms_key_arn)
        else:
            key = customer_managed_key(
                f"{name}-key",
                description=f"EFS {name}",
                parent=self,
                protect=spec.protect,
                tags=tags,
                adopt=adopt,
            )
            region = aws.get_region_output().region
            key_policy(
                f"{name}-key-policy",
                key=key,
                services=[
                    pulumi.Output.concat(service, ".", region, ".amazonaws.com")
                    for service in ("elasticfilesystem", "backup")
                ],
                parent=self,
                adopt=adopt,
            )
            key_arn = key.arn
        self.kms_key_arn = key_arn

        # One transition per list element: combined elements are rejected as "malformed".
        lifecycle: list[Any] = []
        if spec.transition_to_ia_days is not None:
            lifecycle.append({"transition_to_ia": ia_policy(spec.transition_to_ia_days)})
        if spec.transition_to_primary_on_access:
            lifecycle.append({"transition_to_primary_storage_class": "AFTER_1_ACCESS"})
        fs_tags = dict(tags)
        if args.expected_standard_gb is not None:
            fs_tags[EXPECTED_STANDARD_GB_TAG] = f"{args.expected_standard_gb:g}"
        self.file_system = aws.efs.FileSystem(
            f"{name}-file-system",
            creation_token=args.names.creation_token,
            encrypted=True,
            kms_key_id=key_arn,
            performance_mode=spec.performance_mode,
            throughput_mode=spec.throughput_mode,
            provisioned_throughput_in_mibps=spec.provisioned_throughput_mibps,
            lifecycle_policies=lifecycle or None,
            tags=fs_tags,
            opts=adopt.opts("file-system", protect=spec.protect),
        )
        fs = self.file_system

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-nfs",
            vpc_id=spec.vpc_id,
            description=f"NFS to EFS {name} from its client security groups only",
            tags={**tags, "Name": f"{name}-nfs"},
            opts=child,
        )
        # One rule per client group, never a CIDR, named after the group: reordering the list
        # must not rewrite rules in place. The alias keeps the rules of a stack deployed when
        # they were named by position (`-nfs-from-0`, ...). No egress rule: mount targets only
        # answer, and security groups are stateful.
        self.ingress = [
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-nfs-from-{group}",
                security_group_id=self.security_group.id,
                referenced_security_group_id=group,
                ip_protocol="tcp",
                from_port=NFS_PORT,
                to_port=NFS_PORT,
                description=f"NFS from {group}",
                opts=pulumi.ResourceOptions(
                    parent=self, aliases=[pulumi.Alias(name=f"{name}-nfs-from-{i}")]
                ),
            )
            for i, group in enumerate(spec.client_security_groups)
        ]

        # After the rules: an adopted mount target moves to this group in place, and must find
        # it open to its clients (NFS would otherwise stop until the rules exist).
        self.mount_targets = [
            aws.efs.MountTarget(
                f"{name}-mount-{subnet.az}",
                file_system_id=fs.id,
                subnet_id=subnet.id,
                security_groups=[self.security_group.id],
                opts=adopt.opts(f"mount-{subnet.az}", depends_on=self.ingress),
            )
            for subnet in spec.subnets
        ]

        self.access_point = None
        if spec.access_point is not None:
            ap = spec.access_point
            self.access_point = aws.efs.AccessPoint(
                f"{name}-access-point",
                file_system_id=fs.id,
                posix_user={"uid": ap.uid, "gid": ap.gid},
                root_directory={
                    "path": ap.path,
                    "creation_info": {
                        "owner_uid": ap.uid,
                        "owner_gid": ap.gid,
                        "permissions": ap.permissions,
                    },
                },
                tags={**tags, "Name": f"{name}{ap.path.replace('/', '-')}"},
                opts=adopt.opts("access-point"),
            )

        # Once a file-system policy exists it replaces the default "allow everything through
        # a mount target", so the Allow is needed beside the TLS Deny. No `Resource`: a
        # file-system policy governs only the file system it is attached to (the EFS
        # console's own policies have none), and the file system's ARN, unknown until it
        # exists, would leave the whole document unknown on a first preview.
        self.policy = aws.efs.FileSystemPolicy(
            f"{name}-policy",
            file_system_id=fs.id,
            policy=iam.document(
                [
                    {
                        "Sid": "AllowMountThroughMountTargets",
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": [
                            "elasticfilesystem:ClientMount",
                            "elasticfilesystem:ClientWrite",
                        ],
                        "Condition": {"Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"}},
                    },
                    iam.deny_insecure_transport("DenyInsecureTransport", "*", []),
                ]
            ),
            opts=child,
        )

        self.spec = spec
        self.backup_vault_name: str | None = None
        if spec.backup is not None:
            self._backups(name, args.names, spec, key_arn, tags)
            self.backup_vault_name = args.names.backup_vault

        self.file_system_id = fs.id
        self.arn = fs.arn
        self.dns_name = fs.dns_name
        self.security_group_id = self.security_group.id
        self.mount_target_ids = [mt.id for mt in self.mount_targets]
        self.access_point_id = self.access_point.id if self.access_point else None
        self.volume_handle = (
            pulumi.Output.concat(fs.id, "::", self.access_point.id)
            if self.access_point
            else pulumi.Output.concat(fs.id, "::")
        )
        self.register_outputs(
            {
                "file_system_id": self.file_system_id,
                "arn": self.arn,
                "dns_name": self.dns_name,
                "security_group_id": self.security_group_id,
                "mount_target_ids": self.mount_target_ids,
                "access_point_id": self.access_point_id,
                "volume_handle": self.volume_handle,
            }
        )

    def _backups(
        self,
        name: str,
        names: EfsNames,
        spec: Efs,
        key_arn: pulumi.Input[str],
        tags: dict[str, str],
    ) -> None:
        assert spec.backup is not None
        child = pulumi.ResourceOptions(parent=self)
        self.backup_vault = aws.backup.Vault(
            f"{name}-backup-vault",
            name=names.backup_vault,
            kms_key_arn=key_arn,
            tags=tags,
            # A vault holds recovery points: a rename (or a removal from the program) leaves
            # the old vault and its backups in place until they expire, never deletes them.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.backup_plan = aws.backup.Plan(
            f"{name}-backup-plan",
            name=names.backup_plan,
            rules=[
                {
                    "rule_name": "daily",
                    "target_vault_name": self.backup_vault.name,
                    "schedule": spec.backup.schedule,
                    "start_window": 60,
                    "completion_window": 360,
                    "lifecycle": {"delete_after": spec.backup.delete_after_days},
                    "recovery_point_tags": {**tags, "source": name},
                }
            ],
            tags=tags,
            opts=child,
        )
        self.backup_role, _ = iam.service_role(
            f"{name}-backup-role",
            service="backup.amazonaws.com",
            description=f"AWS Backup of EFS {name} only",
            statements=[
                {
                    "Sid": "BackupThisFileSystem",
                    "Effect": "Allow",
                    "Action": list(BACKUP_EFS_ACTIONS),
                    "Resource": self.file_system.arn,
                },
                {
                    "Sid": "UseItsKey",
                    "Effect": "Allow",
                    "Action": list(BACKUP_KMS_ACTIONS),
                    "Resource": key_arn,
                },
                {
                    "Sid": "GrantItsKeyToAwsServicesOnly",
                    "Effect": "Allow",
                    "Action": "kms:CreateGrant",
                    "Resource": key_arn,
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                },
            ],
            tags=tags,
            parent=self,
        )
        self.backup_selection = aws.backup.Selection(
            f"{name}-backup-selection",
            name=names.backup_selection,
            plan_id=self.backup_plan.id,
            iam_role_arn=self.backup_role.arn,
            resources=[self.file_system.arn],
            opts=child,
        )
