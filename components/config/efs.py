"""Encrypted, backed-up EFS file systems."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from components.config.common import check_kms_arn
from components.schema import Problems, join, setting

EFS_IA_DAYS = (1, 7, 14, 30, 60, 90, 180, 270, 365)
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_VPC = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_AZ = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")


def check_security_group(value: str, path: str, problems: Problems) -> None:
    if _SECURITY_GROUP.match(value):
        return
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        problems.add(path, f"{value!r} is not a security group id; accepted: 'sg-' + 8-17 hex")
    else:
        problems.add(
            path,
            f"{value!r} is a CIDR; NFS is only opened to security groups (e.g. the EKS node "
            "group's), accepted: 'sg-' + 8-17 hex",
        )


@dataclass(frozen=True, kw_only=True)
class Subnet:
    id: str = setting(doc="subnet id, e.g. 'subnet-0123456789abcdef0'")
    az: str = setting(doc="its availability zone, e.g. 'ap-northeast-2a'")

    def check(self, path: str, problems: Problems) -> None:
        if not _SUBNET.match(self.id):
            problems.add(
                join(path, "id"), f"{self.id!r} is not a subnet id; accepted: 'subnet-' + hex"
            )
        if not _AZ.match(self.az):
            problems.add(
                join(path, "az"),
                f"{self.az!r} is not an availability zone; accepted: e.g. 'ap-northeast-2a'",
            )


@dataclass(frozen=True, kw_only=True)
class AccessPoint:
    path: str = setting(doc="directory clients see as their root, e.g. '/models'")
    uid: int = setting(1000, doc="POSIX user of every client request and owner of the directory")
    gid: int = setting(1000, doc="POSIX group, likewise")
    permissions: str = setting("0755", doc="octal mode of the directory when it is created")

    def check(self, path: str, problems: Problems) -> None:
        if not re.fullmatch(r"/[\w./-]*", self.path) or ".." in self.path:
            problems.add(join(path, "path"), f"{self.path!r} is not an absolute path without '..'")
        if not re.fullmatch(r"0?[0-7]{3}", self.permissions):
            problems.add(
                join(path, "permissions"),
                f"{self.permissions!r} is not an octal mode; accepted: e.g. '0755'",
            )
        for key, value in (("uid", self.uid), ("gid", self.gid)):
            if not 0 <= value <= 4_294_967_295:
                problems.add(join(path, key), f"{value!r} is out of range; accepted: 0-4294967295")


@dataclass(frozen=True, kw_only=True)
class EfsBackup:
    schedule: str = setting("cron(0 2 * * ? *)", doc="AWS Backup schedule (UTC)")
    delete_after_days: int = setting(30, doc="days each recovery point is kept")

    def check(self, path: str, problems: Problems) -> None:
        if not re.fullmatch(r"(cron|rate)\(.+\)", self.schedule):
            problems.add(
                join(path, "schedule"),
                f"{self.schedule!r} is not a schedule expression; "
                "accepted: e.g. 'cron(0 2 * * ? *)'",
            )
        if not 1 <= self.delete_after_days <= 36500:
            problems.add(
                join(path, "deleteAfterDays"),
                f"{self.delete_after_days!r} is out of range; accepted: 1-36500",
            )


@dataclass(frozen=True, kw_only=True)
class Efs:
    vpc_id: str = setting(doc="VPC of the mount targets")
    subnets: tuple[Subnet, ...] = setting(
        doc="one mount target per subnet: at least two, distinct AZs"
    )
    client_security_groups: tuple[str, ...] = setting(
        doc="security groups allowed to mount over NFS (TCP 2049), e.g. the EKS node group's",
    )
    kms_key_arn: str | None = setting(
        None, doc="existing KMS key; null creates one (rotation on)", check=check_kms_arn
    )
    performance_mode: Literal["generalPurpose", "maxIO"] = setting(
        "generalPurpose", doc="EFS performance mode (changing it replaces the file system)"
    )
    throughput_mode: Literal["bursting", "elastic", "provisioned"] = setting(
        "bursting", doc="EFS throughput mode"
    )
    provisioned_throughput_mibps: int | None = setting(None, doc="provisioned mode only, MiB/s")
    transition_to_ia_days: int | None = setting(
        30, doc="move files unused this many days to Infrequent Access; null = never"
    )
    transition_to_primary_on_access: bool = setting(True, doc="move a file back on first access")
    access_point: AccessPoint | None = setting(None, doc="the directory clients mount")
    backup: EfsBackup | None = setting(factory=EfsBackup, doc="daily backups; null disables them")
    creation_token: str | None = setting(
        None,
        doc="EFS idempotency token, unique per account and region (changing it replaces the "
        "file system); null = '<stack>-<app>-<key>'",
    )
    protect: bool = setting(True, doc="refuse `pulumi destroy`/deletion of the file system")

    def check(self, path: str, problems: Problems) -> None:
        token = self.creation_token
        if token is not None and not re.fullmatch(r"[\x21-\x7e]+", token):
            problems.add(
                join(path, "creationToken"),
                f"{token!r} is not a creation token; accepted: 1-64 printable ASCII characters "
                "without spaces",
            )
        if not _VPC.match(self.vpc_id):
            problems.add(
                join(path, "vpcId"), f"{self.vpc_id!r} is not a VPC id; accepted: 'vpc-' + hex"
            )
        subnets = join(path, "subnets")
        if len(self.subnets) < 2:
            problems.add(
                subnets,
                f"{len(self.subnets)} subnet(s); accepted: at least two in distinct AZs, so the "
                "file system stays reachable when one AZ fails",
            )
        ids = [s.id for s in self.subnets]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            problems.add(subnets, f"subnet {dup!r} is listed twice")
        azs = [s.az for s in self.subnets]
        for dup in sorted({a for a in azs if azs.count(a) > 1}):
            problems.add(
                subnets,
                f"two subnets are in {dup!r}; EFS allows one mount target per AZ, accepted: "
                "one subnet per AZ",
            )
        groups = join(path, "clientSecurityGroups")
        if not self.client_security_groups:
            problems.add(groups, "is empty; accepted: at least one security group id")
        for i, group in enumerate(self.client_security_groups):
            check_security_group(group, f"{groups}[{i}]", problems)
        if self.transition_to_ia_days is not None and self.transition_to_ia_days not in EFS_IA_DAYS:
            problems.add(
                join(path, "transitionToIaDays"),
                f"{self.transition_to_ia_days!r} is not offered; accepted: "
                f"{', '.join(map(str, EFS_IA_DAYS))} or null",
            )
        provisioned = self.throughput_mode == "provisioned"
        if provisioned != (self.provisioned_throughput_mibps is not None):
            problems.add(
                join(path, "provisionedThroughputMibps"),
                "is required with throughputMode 'provisioned' and only then",
            )
        if self.throughput_mode == "elastic" and self.performance_mode == "maxIO":
            problems.add(
                join(path, "throughputMode"),
                "'elastic' needs performanceMode 'generalPurpose'",
            )
