"""Encrypted, backed-up EFS file systems."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal

from components.config.adoption import EfsImport, check_adopted_protected
from components.config.common import check_kms_arn, in_range
from components.schema import Problems, join, setting

EFS_IA_DAYS = (1, 7, 14, 30, 60, 90, 180, 270, 365)
#: "Valid values are 1-3414 MiBps, with the upper limit depending on Region" (EFS API,
#: ProvisionedThroughputInMibps); more needs an AWS quota increase first.
EFS_MAX_PROVISIONED_MIBPS = 3414
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
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


def _pattern(rx: str, what: str, accepted: str) -> Any:
    """A field check: the value matches `rx` whole, else "is not <what>; accepted: ..."."""
    compiled = re.compile(rx, re.ASCII)

    def check(value: str, path: str, problems: Problems) -> None:
        if not compiled.fullmatch(value):
            problems.add(path, f"{value!r} is not {what}; accepted: {accepted}")

    return check


def check_directory(value: str, path: str, problems: Problems) -> None:
    if not re.fullmatch(r"/[\w./-]*", value, re.ASCII) or ".." in value:
        problems.add(
            path,
            f"{value!r} is not an absolute path without '..'; accepted: e.g. '/models' "
            "(letters, digits, '_', '-', '.', '/')",
        )


# --------------------------------------------------------------------- AWS Backup cron

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
#: name, low, high, names for the values (1-based), extra forms (`?`, `L`, `W`, `#`).
_CRON_FIELDS = (
    ("minutes", 0, 59, (), r"(?!)"),
    ("hours", 0, 23, (), r"(?!)"),
    ("day-of-month", 1, 31, (), r"\?|L|LW|([1-9]|[12][0-9]|3[01])W"),
    ("month", 1, 12, _MONTHS, r"(?!)"),
    ("day-of-week", 1, 7, _WEEKDAYS, r"\?|L|([1-7]|SUN|MON|TUE|WED|THU|FRI|SAT)(L|#[1-5])"),
    ("year", 1970, 2199, (), r"(?!)"),
)
CRON_ACCEPTED = (
    "'cron(minutes hours day-of-month month day-of-week year)' in UTC with one of "
    "day-of-month and day-of-week '?', minutes a single number 0-59 (AWS Backup runs at most "
    "hourly), e.g. 'cron(0 2 * * ? *)'"
)


def _cron_value(text: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    if text.upper() in names:
        return True
    return text.isascii() and text.isdigit() and low <= int(text) <= high


def _cron_field_ok(text: str, low: int, high: int, names: tuple[str, ...], extra: str) -> bool:
    for item in text.split(","):
        if re.fullmatch(extra, item, re.ASCII):
            continue
        base, slash, step = item.partition("/")
        if slash and not (step.isascii() and step.isdigit() and 1 <= int(step) <= high):
            return False
        if base == "*":
            continue
        start, dash, end = base.partition("-")
        if not _cron_value(start, low, high, names):
            return False
        if dash and not _cron_value(end, low, high, names):
            return False
    return True


def check_backup_schedule(schedule: str, path: str, problems: Problems) -> None:
    """AWS Backup's schedule: an EventBridge cron expression, no more often than hourly."""
    match = re.fullmatch(r"cron\((.*)\)", schedule.strip())
    if match is None:
        problems.add(
            path,
            f"{schedule!r} is not a schedule expression AWS Backup takes (cron only); "
            f"accepted: {CRON_ACCEPTED}",
        )
        return
    fields = match[1].split()
    if len(fields) != 6:
        problems.add(
            path, f"{schedule!r} has {len(fields)} fields, not 6; accepted: {CRON_ACCEPTED}"
        )
        return
    for text, (name, low, high, names, extra) in zip(fields, _CRON_FIELDS, strict=True):
        if not _cron_field_ok(text, low, high, names, extra):
            problems.add(
                path,
                f"{schedule!r} has {name} {text!r} out of {low}-{high}; accepted: {CRON_ACCEPTED}",
            )
            return
    if not re.fullmatch(r"[0-9]{1,2}", fields[0]):
        problems.add(
            path,
            f"{schedule!r} runs more often than hourly (minutes {fields[0]!r}), which AWS Backup "
            f"refuses; accepted: {CRON_ACCEPTED}",
        )
    if (fields[2] == "?") == (fields[4] == "?"):
        problems.add(
            path,
            f"{schedule!r} needs exactly one of day-of-month and day-of-week to be '?'; "
            f"accepted: {CRON_ACCEPTED}",
        )


@dataclass(frozen=True, kw_only=True)
class Subnet:
    id: str = setting(
        doc="subnet id, e.g. 'subnet-0123456789abcdef0'",
        check=_pattern(r"subnet-[0-9a-f]{8,17}", "a subnet id", "'subnet-' + 8-17 hex digits"),
    )
    az: str = setting(
        doc="its availability zone, e.g. 'ap-northeast-2a'",
        check=_pattern(_AZ.pattern.strip("^$"), "an availability zone", "e.g. 'ap-northeast-2a'"),
    )


@dataclass(frozen=True, kw_only=True)
class AccessPoint:
    path: str = setting(
        doc="directory clients see as their root, e.g. '/models'", check=check_directory
    )
    uid: int = setting(
        1000,
        doc="POSIX user of every client request and owner of the directory",
        check=in_range(0, 4_294_967_295),
    )
    gid: int = setting(1000, doc="POSIX group, likewise", check=in_range(0, 4_294_967_295))
    permissions: str = setting(
        "0755",
        doc="octal mode of the directory when it is created",
        check=_pattern(r"0?[0-7]{3}", "an octal mode", "e.g. '0755'"),
    )


@dataclass(frozen=True, kw_only=True)
class EfsBackup:
    schedule: str = setting(
        "cron(0 2 * * ? *)", doc="AWS Backup schedule (UTC)", check=check_backup_schedule
    )
    delete_after_days: int = setting(
        30, doc="days each recovery point is kept", check=in_range(1, 36500, " days")
    )


@dataclass(frozen=True, kw_only=True)
class Efs:
    vpc_id: str = setting(
        doc="VPC of the mount targets",
        check=_pattern(r"vpc-[0-9a-f]{8,17}", "a VPC id", "'vpc-' + 8-17 hex digits"),
    )
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
    provisioned_throughput_mibps: int | None = setting(
        None,
        doc=f"provisioned mode only, MiB/s (1-{EFS_MAX_PROVISIONED_MIBPS})",
        check=in_range(1, EFS_MAX_PROVISIONED_MIBPS, " MiB/s"),
    )
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
    import_: EfsImport | None = setting(
        None,
        key="import",
        doc="the file system exists already: adopt it with its mount targets and key (README, "
        '"Adopting existing storage"); null creates it',
    )

    def check(self, path: str, problems: Problems) -> None:
        self._check_import(path, problems)
        token = self.creation_token
        if token is not None and not re.fullmatch(r"[\x21-\x7e]+", token):
            problems.add(
                join(path, "creationToken"),
                f"{token!r} is not a creation token; accepted: 1-64 printable ASCII characters "
                "without spaces",
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
            problems.add(subnets, f"subnet {dup!r} is listed twice; accepted: each subnet once")
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
                f"is required with throughputMode 'provisioned' and only then (it is "
                f"{'missing' if provisioned else 'set'} with {self.throughput_mode!r}); "
                "accepted: a value (MiB/s) with 'provisioned', none otherwise",
            )
        if self.throughput_mode == "elastic" and self.performance_mode == "maxIO":
            problems.add(
                join(path, "throughputMode"),
                "'elastic' needs performanceMode 'generalPurpose'; accepted: 'bursting' or "
                "'provisioned' with 'maxIO'",
            )

    def _check_import(self, path: str, problems: Problems) -> None:
        block = self.import_
        if block is None:
            return
        check_adopted_protected(self.protect, path, problems)
        here = join(path, "import")
        if block.kms_key_id is not None and self.kms_key_arn is not None:
            problems.add(
                join(here, "kmsKeyId"),
                f"{block.kms_key_id!r} is set while kmsKeyArn names the key; accepted: one of "
                "them (kmsKeyId adopts the key into the stack, kmsKeyArn leaves it outside)",
            )
        azs = [s.az for s in self.subnets]
        for az in block.mount_targets:
            if az not in azs:
                problems.add(
                    join(here, f"mountTargets.{az}"),
                    f"{az!r} is not the AZ of a subnet of this file system; accepted: "
                    f"{', '.join(azs) or 'the AZs of subnets'} (a mount target the stack "
                    "does not declare stays as it is)",
                )
        if block.access_point_id is not None and self.access_point is None:
            problems.add(
                join(here, "accessPointId"),
                f"{block.access_point_id!r} is set but no accessPoint is declared; accepted: "
                "an accessPoint block for it, or no accessPointId",
            )
