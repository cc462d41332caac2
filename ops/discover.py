"""`python -m ops import --discover`: find, read-only, which of the stack file's resources exist
already, and their ids: S3 buckets by name (with the configurations each has), EFS file systems
by creation token (with their mount targets, access point and key), CloudFront distributions
by alias or by the bucket they serve (with their origin access identity), R2 buckets by name.

Only Get/Head/Describe/List calls are made. AWS credentials come from the usual environment
(profile, SSO, `AWS_ENDPOINT_URL` for a local endpoint); R2 needs `CLOUDFLARE_API_TOKEN`
(`CLOUDFLARE_BASE_URL` overrides the API). What is found becomes `import:` blocks, merged with
the stack file's; a block the stack file has for something that does not exist is a problem.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from components.config.adoption import managed_settings
from components.config.names import EfsNames
from ops.adopt import block_path, efs_replacement_problems
from ops.aws import ClientMaker, clients, error_code
from ops.cloudflare import DEFAULT_BASE_URL

#: The probe of each S3 setting: (client method, error codes meaning "none", present test).
S3_PROBES: dict[str, tuple[str, tuple[str, ...]]] = {
    "versioning": ("get_bucket_versioning", ()),
    "encryption": (
        "get_bucket_encryption",
        ("ServerSideEncryptionConfigurationNotFoundError",),
    ),
    "lifecycle": ("get_bucket_lifecycle_configuration", ("NoSuchLifecycleConfiguration",)),
    "cors": ("get_bucket_cors", ("NoSuchCORSConfiguration",)),
    "publicAccessBlock": ("get_public_access_block", ("NoSuchPublicAccessBlockConfiguration",)),
    "ownership": ("get_bucket_ownership_controls", ("OwnershipControlsNotFoundError",)),
    "policy": ("get_bucket_policy", ("NoSuchBucketPolicy",)),
    "logging": ("get_bucket_logging", ()),
    "replication": ("get_bucket_replication", ("ReplicationConfigurationNotFoundError",)),
}


class DiscoveryError(Exception):
    """A lookup could not be made: no credentials (exit 2), or an API refusing or out of
    reach (`failed`, exit 1). Nothing was written."""

    def __init__(self, message: str, *, failed: bool = True) -> None:
        super().__init__(message)
        self.failed = failed


@dataclass
class Discovery:
    blocks: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    notes: dict[tuple[str, str], str] = field(default_factory=dict)
    found: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"--discover: {len(self.found)} found, {len(self.missing)} not found"]
        lines += [f"  found {line}" for line in self.found]
        lines += [f"  not found (created by the first `pulumi up`): {m}" for m in self.missing]
        return "\n".join(lines)


def _declared(cfg: Any, kind: str, app: str, key: str) -> bool:
    """Whether the stack file gives this resource an `import:` block already."""
    app_cfg = cfg.apps[app]
    if kind == "s3":
        return app_cfg.s3[key].import_ is not None
    if kind == "replica":
        return app_cfg.s3[key].replication.import_ is not None
    return getattr(app_cfg, kind)[key].import_ is not None


def _s3(cfg: Any, d: Discovery, client: ClientMaker) -> None:
    from botocore.exceptions import ClientError

    for app, app_cfg in cfg.apps.items():
        for key, bucket in app_cfg.s3.items():
            targets = [("s3", bucket.name, cfg.aws_region, False)]
            if bucket.replication is not None:
                targets.append(
                    ("replica", bucket.replication.bucket, bucket.replication.region, True)
                )
            for kind, name, region, replica in targets:
                path = block_path(kind, app, key)
                s3 = client("s3", region)
                try:
                    s3.head_bucket(Bucket=name)
                except ClientError as err:
                    if error_code(err) in ("404", "NoSuchBucket", "NotFound"):
                        _missing(cfg, d, kind, app, key, f"S3 bucket {name}", path)
                        continue
                    d.problems.append(
                        f"S3 bucket {name} ({path}): HeadBucket answered {error_code(err)} "
                        "(another account owns the name, or s3:ListBucket is missing); accepted: a "
                        "bucket of this account"
                    )
                    continue
                location = s3.get_bucket_location(Bucket=name).get("LocationConstraint")
                actual = location or "us-east-1"
                if actual != region:
                    d.problems.append(
                        f"S3 bucket {name} is in {actual}, {path.removesuffix('.import')} "
                        f"declares {region}: the first `pulumi up` would replace it; "
                        "accepted: the bucket's own region"
                    )
                    continue
                settings = []
                for setting in sorted(managed_settings(bucket, replica=replica)):
                    method, none = S3_PROBES[setting]
                    try:
                        answer = getattr(s3, method)(Bucket=name)
                    except ClientError as err:
                        if error_code(err) in none:
                            continue
                        raise DiscoveryError(
                            f"S3 {method} on {name}: {error_code(err)}; accepted: read access "
                            f"(s3:{method.replace('get_bucket_', 'Get').title()})"
                        ) from None
                    if setting == "versioning" and not answer.get("Status"):
                        continue  # never versioned: nothing to adopt
                    if setting == "logging" and "LoggingEnabled" not in answer:
                        continue
                    settings.append(setting)
                d.blocks[(kind, app, key)] = {"settings": settings}
                rid = name if region == cfg.aws_region else f"{name}@{region}"
                d.notes[("aws:s3/bucket:Bucket", rid)] = f"discovered: S3 bucket {name}"
                d.found.append(f"S3 bucket {name} ({', '.join(settings) or 'no settings'})")


def _missing(cfg: Any, d: Discovery, kind: str, app: str, key: str, what: str, path: str) -> None:
    if _declared(cfg, kind, app, key):
        d.problems.append(
            f"{path}: the stack file adopts {what}, which does not exist; accepted: no "
            "`import:` block (the first `pulumi up` creates it)"
        )
    else:
        d.missing.append(what)


def _efs(cfg: Any, d: Discovery, client: ClientMaker) -> None:
    efs_api = client("efs", cfg.aws_region)
    kms = client("kms", cfg.aws_region)
    for app, app_cfg in cfg.apps.items():
        for key, efs in app_cfg.efs.items():
            path = block_path("efs", app, key)
            token = EfsNames.of(cfg.stack, app, key, efs.creation_token).creation_token
            systems = efs_api.describe_file_systems(CreationToken=token).get("FileSystems", [])
            if not systems:
                _missing(cfg, d, "efs", app, key, f"EFS file system {token!r}", path)
                continue
            fs = systems[0]
            fs_id = fs["FileSystemId"]
            key_arn = str(fs.get("KmsKeyId") or "")
            d.problems += efs_replacement_problems(
                f"EFS {fs_id} (creation token {token!r})",
                f"apps.{app}.efs.{key}",
                efs,
                encrypted=fs.get("Encrypted"),
                performance_mode=fs.get("PerformanceMode"),
                one_zone=fs.get("AvailabilityZoneName"),
                kms_key_arn=key_arn,
            )
            block: dict[str, Any] = {"fileSystemId": fs_id, "mountTargets": {}}
            if efs.kms_key_arn is None and key_arn:
                meta = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
                if meta.get("KeyManager") == "AWS":
                    d.problems.append(
                        f"EFS {fs_id} is encrypted with the AWS managed key {key_arn}, which the "
                        f"stack cannot adopt as its own; accepted: apps.{app}.efs.{key}.kmsKeyArn "
                        f"{key_arn!r} (policy efs-encrypted-cmk then reports it)"
                    )
                else:
                    block["kmsKeyId"] = meta["KeyId"]
                    d.notes[("aws:kms/key:Key", meta["KeyId"])] = f"discovered: key of {fs_id}"
            azs = {s.id: s.az for s in efs.subnets}
            targets = efs_api.describe_mount_targets(FileSystemId=fs_id).get("MountTargets", [])
            for t in targets:
                az = azs.get(t.get("SubnetId"))
                if az is not None:
                    block["mountTargets"][az] = t["MountTargetId"]
                    d.notes[("aws:efs/mountTarget:MountTarget", t["MountTargetId"])] = (
                        f"discovered: mount target of {fs_id} in {t['SubnetId']}"
                    )
            if efs.access_point is not None:
                points = efs_api.describe_access_points(FileSystemId=fs_id).get("AccessPoints", [])
                for ap in points:
                    if (ap.get("RootDirectory") or {}).get("Path") == efs.access_point.path:
                        block["accessPointId"] = ap["AccessPointId"]
            d.blocks[("efs", app, key)] = block
            d.notes[("aws:efs/fileSystem:FileSystem", fs_id)] = (
                f"discovered: creation token {token!r}"
            )
            d.found.append(
                f"EFS {fs_id} (creation token {token!r}, {len(block['mountTargets'])} mount "
                "targets)"
            )


def _cloudfront(cfg: Any, d: Discovery, client: ClientMaker) -> None:
    cloudfront = client("cloudfront", "us-east-1")
    items: list[Any] = []
    for page in cloudfront.get_paginator("list_distributions").paginate():
        items += (page.get("DistributionList") or {}).get("Items") or []
    for app, app_cfg in cfg.apps.items():
        for key, cdn in app_cfg.cdn.items():
            path = block_path("cdn", app, key)
            first = app_cfg.s3[cdn.origins[0]].name if cdn.origins else ""
            match = None
            for dist in items:
                aliases = set((dist.get("Aliases") or {}).get("Items") or [])
                origins = (dist.get("Origins") or {}).get("Items") or []
                default = str(origins[0].get("DomainName", "")).split(".s3.")[0] if origins else ""
                if aliases & set(cdn.aliases) or (not aliases and default == first):
                    match = dist
            if match is None:
                _missing(cfg, d, "cdn", app, key, f"CloudFront distribution for {path}", path)
                continue
            block: dict[str, Any] = {"distributionId": match["Id"]}
            config = cloudfront.get_distribution_config(Id=match["Id"])["DistributionConfig"]
            identities = {
                str((o.get("S3OriginConfig") or {}).get("OriginAccessIdentity", ""))
                for o in (config.get("Origins") or {}).get("Items") or []
            }
            identities.discard("")
            if cdn.access == "oai" and identities:
                block["originAccessIdentityId"] = sorted(identities)[0].rsplit("/", 1)[-1]
            d.blocks[("cdn", app, key)] = block
            d.notes[("aws:cloudfront/distribution:Distribution", match["Id"])] = (
                "discovered: by alias or origin"
            )
            d.found.append(f"CloudFront {match['Id']} ({match.get('DomainName', '')})")


def _r2(cfg: Any, d: Discovery, token: str | None, base_url: str) -> None:
    if not any(app_cfg.r2 for app_cfg in cfg.apps.values()):
        return
    if not token:
        d.missing.append(
            "(R2 not looked up: CLOUDFLARE_API_TOKEN is not set; the stack file's R2 `import:` "
            "blocks are used as they are)"
        )
        return
    account = cfg.cloudflare.account_id
    for app, app_cfg in cfg.apps.items():
        for key, bucket in app_cfg.r2.items():
            path = block_path("r2", app, key)
            name = urllib.parse.quote(bucket.name)
            url = f"{base_url.rstrip('/')}/accounts/{account}/r2/buckets/{name}"
            request = urllib.request.Request(
                url,
                headers={
                    "Authorization": f"Bearer {token}",
                    "cf-r2-jurisdiction": bucket.jurisdiction,
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    json.loads(response.read())
            except urllib.error.HTTPError as err:
                if err.code == 404:
                    _missing(cfg, d, "r2", app, key, f"R2 bucket {bucket.name}", path)
                    continue
                raise DiscoveryError(
                    f"Cloudflare GET /accounts/.../r2/buckets/{bucket.name}: HTTP {err.code}; "
                    "accepted: a token with Workers R2 Storage Read"
                ) from None
            except (urllib.error.URLError, TimeoutError, OSError) as err:
                raise DiscoveryError(f"cannot reach {base_url} ({err})") from None
            d.blocks[("r2", app, key)] = {}
            rid = f"{account}/{bucket.name}/{bucket.jurisdiction}"
            d.notes[("cloudflare:index/r2Bucket:R2Bucket", rid)] = f"discovered: R2 {bucket.name}"
            d.found.append(f"R2 bucket {bucket.name}")


def discover(cfg: Any, env: dict[str, str] | None = None) -> Discovery:
    """Look every declared S3 bucket, file system, distribution and R2 bucket up."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    env = dict(os.environ) if env is None else env
    d = Discovery()
    client = clients()
    try:
        _s3(cfg, d, client)
        _efs(cfg, d, client)
        _cloudfront(cfg, d, client)
    except NoCredentialsError as err:
        raise DiscoveryError(
            f"no AWS credentials ({err}); configure them (profile, SSO, environment), or run "
            "without --discover",
            failed=False,
        ) from None
    except ClientError as err:
        raise DiscoveryError(f"AWS refused {err.operation_name}: {error_code(err)}") from None
    except BotoCoreError as err:
        raise DiscoveryError(str(err)) from None
    _r2(cfg, d, env.get("CLOUDFLARE_API_TOKEN"), env.get("CLOUDFLARE_BASE_URL") or DEFAULT_BASE_URL)
    return d
