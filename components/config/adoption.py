"""Adopting what already exists: the `import:` blocks and the import ids they lead to.

A resource of the stack file with an `import:` block exists already (seed 002's R2 bucket, seed
003's Terraform-made distribution and file system, ...). Its children get the provider's import
id, computed here, in one place, for both ways Pulumi adopts a resource:

* the bulk import file `python -m ops import` writes for `pulumi import --file`, and
* the `import` resource option the program sets on each adopted child (`carried`).

An id is derivable from the config where the provider's id is made of names the stack file
gives (an S3 bucket and each of its configurations: the bucket name; an R2 bucket: account,
name and jurisdiction); the rest comes from the `import:` block (a CloudFront distribution id,
an OAI id, an EFS file system, its mount targets and key), which `ops import --discover` or
`--from-terraform` can fill.

The option is carried only where the provider's resource id equals the import id: the engine
treats a resource in the state whose id (or recorded import id) equals the option as any other
resource, and otherwise deletes it and imports again. `pulumi import --file` records no import
id, so an R2 bucket (id = name, import id = `<account>/<name>/<jurisdiction>`) or a resource
outside `aws:region` (import id `<id>@<region>`) is adopted through the bulk file only.

No Pulumi import here: the ids are plain strings, tested on their own and read by `ops`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from components.schema import Problems, join, setting

# Pulumi type tokens of what can be adopted.
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_SETTING_TYPES = {
    "versioning": "aws:s3/bucketVersioning:BucketVersioning",
    "encryption": "aws:s3/bucketServerSideEncryptionConfiguration:"
    "BucketServerSideEncryptionConfiguration",
    "lifecycle": "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "cors": "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration",
    "publicAccessBlock": "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "ownership": "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "policy": "aws:s3/bucketPolicy:BucketPolicy",
    "logging": "aws:s3/bucketLogging:BucketLogging",
    "replication": "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
}
R2_BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
OAI = "aws:cloudfront/originAccessIdentity:OriginAccessIdentity"
EFS = "aws:efs/fileSystem:FileSystem"
MOUNT_TARGET = "aws:efs/mountTarget:MountTarget"
ACCESS_POINT = "aws:efs/accessPoint:AccessPoint"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"

#: The child role (the part of a child's name after its component's) of each S3 setting.
S3_SETTING_ROLES = {
    "versioning": "versioning",
    "encryption": "encryption",
    "lifecycle": "lifecycle",
    "cors": "cors",
    "publicAccessBlock": "public-access-block",
    "ownership": "ownership",
    "policy": "policy",
    "logging": "access-logs",
    "replication": "configuration",
}
S3Setting = Literal[
    "versioning",
    "encryption",
    "lifecycle",
    "cors",
    "publicAccessBlock",
    "ownership",
    "policy",
    "logging",
    "replication",
]

#: CloudFront ids are upper-case letters and digits (`E2QWRUHAPOMQZL`).
_CLOUDFRONT_ID = re.compile(r"[A-Z0-9]{8,20}", re.ASCII)
_EFS_ID = re.compile(r"fs-[0-9a-f]{8,17}", re.ASCII)
_MOUNT_TARGET_ID = re.compile(r"fsmt-[0-9a-f]{8,17}", re.ASCII)
_ACCESS_POINT_ID = re.compile(r"fsap-[0-9a-f]{8,17}", re.ASCII)
_KMS_KEY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


def _id_check(rx: re.Pattern[str], what: str, example: str) -> Any:
    def check(value: str, path: str, problems: Problems) -> None:
        if not rx.fullmatch(value):
            problems.add(path, f"{value!r} is not {what}; accepted: e.g. {example!r}")

    return check


def _check_mount_targets(value: dict[str, str], path: str, problems: Problems) -> None:
    check = _id_check(_MOUNT_TARGET_ID, "a mount target id", "fsmt-0123456789abcdef0")
    for az, target in value.items():
        check(target, join(path, az), problems)


# ------------------------------------------------------------------------------ blocks


@dataclass(frozen=True, kw_only=True)
class S3Import:
    settings: tuple[S3Setting, ...] = setting(
        ("encryption",),
        doc="the bucket's configurations that exist today, adopted with it (imported by the "
        "bucket name; importing one that does not exist fails the import); the others are "
        "created by the first `pulumi up`, which writes them over what S3 holds. S3 encrypts "
        "every bucket since January 2023; `ops import --discover` lists the rest",
    )

    def check(self, path: str, problems: Problems) -> None:
        dups = sorted({s for s in self.settings if self.settings.count(s) > 1})
        for dup in dups:
            problems.add(
                join(path, "settings"), f"{dup!r} is listed twice; accepted: each setting once"
            )


@dataclass(frozen=True, kw_only=True)
class R2Import:
    """Adopt the R2 bucket (its id derives from account, name and jurisdiction). Its CORS,
    lifecycle and domains cannot be imported (pulumi-cloudflare documents no import for them):
    the first `pulumi up` writes the stack's over the bucket's."""


@dataclass(frozen=True, kw_only=True)
class CdnImport:
    distribution_id: str = setting(
        doc="the distribution's id, e.g. 'E2QWRUHAPOMQZL' (console, or `ops import --discover`: "
        "by alias)",
        check=_id_check(_CLOUDFRONT_ID, "a CloudFront distribution id", "E2QWRUHAPOMQZL"),
    )
    origin_access_identity_id: str | None = setting(
        None,
        doc="with access 'oai': the origin access identity the distribution reads its "
        "buckets with today (its ARN is then known at preview)",
        check=_id_check(_CLOUDFRONT_ID, "an origin access identity id", "E1AB2CD3EF4GH5"),
    )


@dataclass(frozen=True, kw_only=True)
class EfsImport:
    file_system_id: str = setting(
        doc="the file system's id, e.g. 'fs-0123456789abcdef0' (`ops import --discover`: by "
        "creation token)",
        check=_id_check(_EFS_ID, "an EFS file system id", "fs-0123456789abcdef0"),
    )
    mount_targets: dict[str, str] = setting(
        factory=dict,
        doc="existing mount targets by availability zone, e.g. {ap-northeast-2a: fsmt-...}; "
        "a subnet's AZ without one gets a new mount target",
        check=_check_mount_targets,
    )
    kms_key_id: str | None = setting(
        None,
        doc="the id of the KMS key the file system is encrypted with, adopted as the stack's "
        "key (a file system cannot change its key: a new one would replace it); null when "
        "kmsKeyArn names the key",
        check=_id_check(_KMS_KEY_ID, "a KMS key id", "1234abcd-12ab-34cd-56ef-1234567890ab"),
    )
    access_point_id: str | None = setting(
        None,
        doc="an existing access point for accessPoint.path; null creates one",
        check=_id_check(_ACCESS_POINT_ID, "an EFS access point id", "fsap-0123456789abcdef0"),
    )


def managed_settings(bucket: Any, *, replica: bool = False) -> set[str]:
    """The S3 settings the stack manages on a bucket (`S3Bucket`), i.e. the ones an existing
    configuration can be adopted into; a replica gets no CORS, logging or replication."""
    everyone = {"encryption", "lifecycle", "publicAccessBlock", "ownership", "policy"}
    if replica:
        return {*everyone, "versioning"}
    optional = {
        "versioning": bucket.versioning,
        "cors": bool(bucket.cors),
        "logging": bucket.access_logs is not None,
        "replication": bucket.replication is not None,
    }
    return everyone | {name for name, on in optional.items() if on}


def check_adopted_protected(protect: bool, path: str, problems: Problems) -> None:
    """An adopted resource holds data the stack did not create: it stays protected."""
    if not protect:
        problems.add(
            join(path, "protect"),
            "false on a resource with an `import:` block; an adopted resource holds data this "
            "stack did not create, accepted: protect true (the default)",
        )


# ------------------------------------------------------------------------------ the ids


@dataclass(frozen=True)
class ImportId:
    type: str
    """The Pulumi type token of the adopted resource."""
    id: str
    """The provider's import id (`pulumi import <type> <name> <id>`)."""
    source: str
    """Where the id comes from: `derived from <config path>` or `<config path>`."""
    carried: bool = True
    """Whether the program sets it as the `import` resource option (see the module doc)."""
    match: tuple[tuple[str, str], ...] = ()
    """For an id the option does not carry: inputs that identify the resource it adopts
    among the program's registrations (`bucket` and `region`, or account, name and
    jurisdiction), as a Terraform state's resources are matched."""


Imports = dict[str, ImportId]
"""An adopted component's children by role (the child's name minus the component's)."""


def _regional(name: str, region: str | None, home: str) -> tuple[str, bool]:
    """The import id of a regional resource, and whether the option may carry it."""
    if region is None or region == home:
        return name, True
    return f"{name}@{region}", False


def s3_imports(
    name: str,
    block: S3Import | None,
    path: str,
    *,
    home_region: str,
    region: str | None = None,
    name_key: str = "name",
) -> Imports:
    """The ids of an adopted S3 bucket `name` (config key `name_key` under `path`) and of its
    configurations that exist (`block`), by child role of `DataBucket`; `region` is the
    bucket's when it is not `home_region`."""
    if block is None:
        return {}
    bid, carried = _regional(name, region, home_region)
    source = f"derived from {join(path, name_key)}"
    match = () if carried else (("bucket", name), ("region", region or home_region))
    out = {"bucket": ImportId(S3_BUCKET, bid, source, carried, match)}
    for setting_name in block.settings:
        if setting_name != "replication":  # the replication configuration is the replica's
            role = S3_SETTING_ROLES[setting_name]
            out[role] = ImportId(S3_SETTING_TYPES[setting_name], bid, source, carried, match)
    return out


def replication_imports(bucket: Any, path: str) -> Imports:
    """The source's replication configuration, by child role of `BucketReplica`, when the
    source bucket lists it among its existing settings."""
    block: S3Import | None = bucket.import_
    if block is None or "replication" not in block.settings:
        return {}
    source = f"derived from {join(path, 'name')}"
    return {"configuration": ImportId(S3_SETTING_TYPES["replication"], bucket.name, source)}


def replica_imports(bucket: Any, path: str, *, home_region: str) -> Imports:
    """The replica `DataBucket`'s ids (`replication.import`), in the replica's region."""
    replication = bucket.replication
    return s3_imports(
        replication.bucket,
        replication.import_,
        join(path, "replication"),
        home_region=home_region,
        region=replication.region,
        name_key="bucket",
    )


def r2_imports(bucket: Any, path: str, *, account_id: str) -> Imports:
    """The R2 bucket's id (`<account_id>/<bucket_name>/<jurisdiction>`, the provider's
    documented import id), by child role of `R2DataBucket`."""
    if bucket.import_ is None:
        return {}
    return {
        "bucket": ImportId(
            R2_BUCKET,
            f"{account_id}/{bucket.name}/{bucket.jurisdiction}",
            f"derived from {join(path, 'name')}, its jurisdiction and cloudflare.accountId",
            carried=False,
            match=(
                ("accountId", account_id),
                ("name", bucket.name),
                ("jurisdiction", bucket.jurisdiction),
            ),
        )
    }


def cdn_imports(cdn: Any, path: str) -> Imports:
    """The adopted distribution and origin access identity, by child role of
    `CdnDistribution`."""
    block: CdnImport | None = cdn.import_
    if block is None:
        return {}
    here = join(path, "import")
    out = {"distribution": ImportId(DISTRIBUTION, block.distribution_id, f"{here}.distributionId")}
    if block.origin_access_identity_id is not None:
        out["oai"] = ImportId(
            OAI, block.origin_access_identity_id, f"{here}.originAccessIdentityId"
        )
    return out


def efs_imports(efs: Any, path: str) -> Imports:
    """The adopted file system, its mount targets, key (with its policy) and access point, by
    child role of `SharedFileSystem`."""
    block: EfsImport | None = efs.import_
    if block is None:
        return {}
    here = join(path, "import")
    out = {"file-system": ImportId(EFS, block.file_system_id, f"{here}.fileSystemId")}
    for az, target in block.mount_targets.items():
        out[f"mount-{az}"] = ImportId(MOUNT_TARGET, target, f"{here}.mountTargets.{az}")
    if block.kms_key_id is not None:
        source = f"{here}.kmsKeyId"
        out["key"] = ImportId(KMS_KEY, block.kms_key_id, source)
        # A key always has a policy: adopting it shows the stack's policy as an update.
        out["key-policy"] = ImportId(KMS_KEY_POLICY, block.kms_key_id, source)
    if block.access_point_id is not None:
        out["access-point"] = ImportId(ACCESS_POINT, block.access_point_id, f"{here}.accessPointId")
    return out


Kind = Literal["s3", "replica", "replication", "r2", "cdn", "efs"]
"""The component an adopted child belongs to: a bucket, its replica or replication, ..."""


@dataclass(frozen=True)
class Adopted:
    """One component's adopted children: which component (by config path) and their ids."""

    app: str
    kind: Kind
    key: str
    imports: Imports


def stack_imports(cfg: Any) -> list[Adopted]:
    """Every adopted child of the stack, grouped by the component the program gives it."""
    home = cfg.aws_region
    account = cfg.cloudflare.account_id if cfg.cloudflare is not None else ""
    found: list[Adopted] = []
    for app, app_cfg in cfg.apps.items():
        for key, bucket in app_cfg.s3.items():
            path = f"apps.{app}.s3.{key}"
            found.append(
                Adopted(
                    app, "s3", key, s3_imports(bucket.name, bucket.import_, path, home_region=home)
                )
            )
            if bucket.replication is not None:
                found.append(Adopted(app, "replication", key, replication_imports(bucket, path)))
                found.append(
                    Adopted(app, "replica", key, replica_imports(bucket, path, home_region=home))
                )
        for key, r2 in app_cfg.r2.items():
            path = f"apps.{app}.r2.{key}"
            found.append(Adopted(app, "r2", key, r2_imports(r2, path, account_id=account)))
        for key, cdn in app_cfg.cdn.items():
            found.append(Adopted(app, "cdn", key, cdn_imports(cdn, f"apps.{app}.cdn.{key}")))
        for key, efs in app_cfg.efs.items():
            found.append(Adopted(app, "efs", key, efs_imports(efs, f"apps.{app}.efs.{key}")))
    return [a for a in found if a.imports]
