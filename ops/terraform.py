"""`python -m ops import --from-terraform terraform.tfstate`: map a Terraform state (format
version 4, what `terraform state pull` prints) onto the stack by physical identity.

Terraform names resources its own way (`aws_s3_bucket.images`); the stack knows them by what
they are: a bucket by its name, a file system by its creation token, a mount target by its
subnet, a distribution by its aliases or the bucket it serves, its origin access identity by
the distribution that uses it, a key by the file system it encrypts. Each resource of the state
ends up in exactly one list of the report, so nothing is dropped silently:

* mapped: adopted by the stack; its id goes into the stack file's `import:` blocks;
* referenced: the stack file names it (a VPC, subnet, security group, certificate, key by
  ARN) without managing it; checked against the state;
* unmanaged: the state holds it and the stack does not: what to do with it;
* data sources: read-only, nothing to adopt.

Mapping refuses what would make the first `pulumi up` replace an adopted resource (a file
system encrypted with another key or not at all, a bucket in another region) or contradict the
stack file's own `import:` blocks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config.adoption import managed_settings
from components.config.names import EfsNames
from ops.adopt import efs_replacement_problems
from ops.stackfile import display
from policy.rules import origin_bucket


class TerraformError(Exception):
    """The state cannot be read or mapped (exit 2); nothing was written."""


@dataclass(frozen=True)
class TfResource:
    address: str
    """`module.vpc.aws_subnet.private[0]`, as `terraform state rm` takes it."""
    mode: str
    type: str
    attributes: Mapping[str, Any]
    status: str = ""
    """`tainted` when Terraform would replace it."""

    def get(self, key: str, default: Any = None) -> Any:
        return self.attributes.get(key, default)

    def first(self, key: str) -> Mapping[str, Any]:
        """A nested block Terraform stores as a one-element list."""
        value = self.attributes.get(key)
        if isinstance(value, list) and value and isinstance(value[0], Mapping):
            return value[0]
        return {}


def _address(raw: Mapping[str, Any], instance: Mapping[str, Any]) -> str:
    prefix = f"{raw['module']}." if raw.get("module") else ""
    mode = "data." if raw.get("mode") == "data" else ""
    key = instance.get("index_key")
    index = "" if key is None else f"[{json.dumps(key)}]"
    return f"{prefix}{mode}{raw['type']}.{raw['name']}{index}"


def read_state(path: Path) -> tuple[list[TfResource], list[str]]:
    """The instances of a version 4 state, and a warning for each one left out (deposed)."""
    name = display(path)
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise TerraformError(
            f"--from-terraform {name}: no such file; accepted: a state file, e.g. the output of "
            "`terraform state pull > terraform.tfstate`"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise TerraformError(
            f"--from-terraform {name}: not a JSON state ({err}); accepted: a Terraform state "
            "(format version 4)"
        ) from None
    if not isinstance(doc, Mapping) or doc.get("version") != 4:
        version = doc.get("version") if isinstance(doc, Mapping) else None
        raise TerraformError(
            f"--from-terraform {name}: state format version {version!r}; accepted: version 4 "
            "(Terraform 0.12 and later; `terraform state pull` prints it)"
        )
    if not isinstance(doc.get("resources"), list):
        raise TerraformError(f"--from-terraform {name}: has no 'resources' list")
    out: list[TfResource] = []
    warnings: list[str] = []
    for raw in doc["resources"]:
        if not isinstance(raw, Mapping) or not {"type", "name", "mode"} <= set(raw):
            raise TerraformError(f"--from-terraform {name}: a resource without type/name/mode")
        for instance in raw.get("instances") or []:
            address = _address(raw, instance)
            if instance.get("deposed"):
                warnings.append(
                    f"{address} (deposed {instance['deposed']}): an object Terraform failed to "
                    "destroy; left out, delete it or `terraform apply` first"
                )
                continue
            attributes = instance.get("attributes")
            if not isinstance(attributes, Mapping):
                raise TerraformError(
                    f"--from-terraform {name}: {address} has no attributes (an old "
                    "'attributes_flat' state?); accepted: a state Terraform 0.12+ wrote"
                )
            out.append(
                TfResource(
                    address,
                    str(raw["mode"]),
                    str(raw["type"]),
                    attributes,
                    instance.get("status") or "",
                )
            )
    return out, warnings


# -------------------------------------------------------------------------- the mapping

#: Terraform's S3 configuration resources and the `import.settings` name of each.
S3_SETTINGS = {
    "aws_s3_bucket_versioning": "versioning",
    "aws_s3_bucket_server_side_encryption_configuration": "encryption",
    "aws_s3_bucket_lifecycle_configuration": "lifecycle",
    "aws_s3_bucket_cors_configuration": "cors",
    "aws_s3_bucket_public_access_block": "publicAccessBlock",
    "aws_s3_bucket_ownership_controls": "ownership",
    "aws_s3_bucket_policy": "policy",
    "aws_s3_bucket_logging": "logging",
    "aws_s3_bucket_replication_configuration": "replication",
}
#: What to do with what the state holds and the stack does not manage, by type.
UNMANAGED = {
    "aws_db_instance": "not part of the storage stack (DESIGN.md, out of scope): keep it in "
    "Terraform",
    "aws_backup_plan": "the stack backs the file system up with its own plan; once the "
    "stack's first daily job succeeded, delete this plan and its selection (else every "
    "backup runs twice and is billed twice)",
    "aws_backup_selection": "goes with its plan (see the plan)",
    "aws_backup_vault": "holds the recovery points made so far: keep it until they expire "
    "(the stack writes new ones to its own vault), then delete it",
    "aws_efs_mount_target": "a mount target the stack file does not declare (its subnet, or "
    "its file system, is not in it): it stays as it is",
    "aws_s3_bucket": "a bucket the stack file does not declare: it stays as it is; declare it "
    "(its name, and `import: {}`) to adopt it",
}


@dataclass
class Mapped:
    tf: TfResource
    what: str
    """What it becomes in the stack, e.g. `apps.pingvas-studio.s3.images` (bucket)."""


@dataclass
class TfMapping:
    blocks: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    """(kind, app, key) -> the `import:` block the state gives, kind `s3`, `replica`, `cdn`,
    `efs`."""
    notes: dict[tuple[str, str], str] = field(default_factory=dict)
    """(Pulumi type, import id) -> the state resource it comes from."""
    mapped: list[Mapped] = field(default_factory=list)
    referenced: list[Mapped] = field(default_factory=list)
    unmanaged: list[Mapped] = field(default_factory=list)
    data: list[TfResource] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def sections(self) -> Iterator[tuple[str, list[Mapped]]]:
        yield "mapped", self.mapped
        yield "referenced", self.referenced
        yield "unmanaged", self.unmanaged


@dataclass(frozen=True)
class _Bucket:
    app: str
    key: str
    replica: bool
    region: str
    spec: Any


def _buckets(cfg: Any) -> dict[str, _Bucket]:
    out = {}
    for app, app_cfg in cfg.apps.items():
        for key, bucket in app_cfg.s3.items():
            out[bucket.name] = _Bucket(app, key, False, cfg.aws_region, bucket)
            if bucket.replication is not None:
                out[bucket.replication.bucket] = _Bucket(
                    app, key, True, bucket.replication.region, bucket
                )
    return out


def _manages(bucket: _Bucket, setting: str) -> bool:
    return setting in managed_settings(bucket.spec, replica=bucket.replica)


def map_state(cfg: Any, resources: list[TfResource]) -> TfMapping:
    """Map every instance of the state onto the stack (`cfg`, the validated config)."""
    m = TfMapping()
    buckets = _buckets(cfg)
    settings: dict[tuple[str, str, str], set[str]] = {}
    types = {"s3": "aws:s3/bucket:Bucket"}
    by_type: dict[str, list[TfResource]] = {}
    for r in resources:
        if r.mode == "data":
            m.data.append(r)
        else:
            by_type.setdefault(r.type, []).append(r)
            if r.status == "tainted":
                m.warnings.append(
                    f"{r.address} is tainted (Terraform would replace it); adopted as it is"
                )
    done: set[str] = set()

    def mapped(r: TfResource, what: str, typ: str | None = None, rid: str | None = None) -> None:
        m.mapped.append(Mapped(r, what))
        done.add(r.address)
        if typ is not None and rid is not None:
            m.notes[(typ, rid)] = f"terraform {r.address}"

    # S3 buckets by name, then their configurations by the bucket they name.
    for r in by_type.get("aws_s3_bucket", []):
        found = buckets.get(str(r.get("bucket")))
        if found is None:
            continue
        kind = "replica" if found.replica else "s3"
        where = f"apps.{found.app}.s3.{found.key}" + (".replication" if found.replica else "")
        region = r.get("region") or found.region
        if region != found.region:
            m.problems.append(
                f"{r.address}: bucket {r.get('bucket')!r} is in {region}, {where} declares "
                f"{found.region}: the first `pulumi up` would replace it; accepted: the "
                "bucket's own region in the stack file"
            )
        settings.setdefault((kind, found.app, found.key), set()).add("encryption")
        rid = str(r.get("bucket")) if region == cfg.aws_region else f"{r.get('bucket')}@{region}"
        mapped(r, f"{where} (bucket)", types["s3"], rid)
    for tf_type, name in S3_SETTINGS.items():
        for r in by_type.get(tf_type, []):
            found = buckets.get(str(r.get("bucket")))
            if found is None:
                continue
            where = f"apps.{found.app}.s3.{found.key}" + (".replication" if found.replica else "")
            if not _manages(found, name):
                m.unmanaged.append(
                    Mapped(
                        r,
                        f"{where} does not manage its {name}: it stays as it is on the bucket "
                        "(`terraform state rm` leaves it in place)",
                    )
                )
                done.add(r.address)
                continue
            kind = "replica" if found.replica else "s3"
            settings.setdefault((kind, found.app, found.key), {"encryption"}).add(name)
            mapped(r, f"{where} ({name})")
    for (kind, app, key), names in settings.items():
        m.blocks[(kind, app, key)] = {"settings": sorted(names)}

    _map_efs(cfg, by_type, m, mapped)
    _map_cdn(cfg, by_type, m, mapped, buckets)
    _references(cfg, by_type, m, done)
    for typ, items in sorted(by_type.items()):
        for r in items:
            if r.address not in done:
                note = UNMANAGED.get(typ, "not part of this stack: keep it in Terraform")
                m.unmanaged.append(Mapped(r, note))
    return m


def _map_efs(cfg: Any, by_type: dict[str, list[TfResource]], m: TfMapping, mapped: Any) -> None:
    tokens = {}
    for app, app_cfg in cfg.apps.items():
        for key, efs in app_cfg.efs.items():
            token = EfsNames.of(cfg.stack, app, key, efs.creation_token).creation_token
            tokens[token] = (app, key, efs)
    keys = {str(k.get("arn")): k for k in by_type.get("aws_kms_key", [])}
    for r in by_type.get("aws_efs_file_system", []):
        found = tokens.get(str(r.get("creation_token")))
        if found is None:
            continue
        app, key, efs = found
        where = f"apps.{app}.efs.{key}"
        fs_id = str(r.get("id"))
        block: dict[str, Any] = {"fileSystemId": fs_id, "mountTargets": {}}
        kms = str(r.get("kms_key_id") or "")
        m.problems += efs_replacement_problems(
            f"{r.address} ({fs_id})",
            where,
            efs,
            encrypted=r.get("encrypted"),
            performance_mode=r.get("performance_mode"),
            one_zone=r.get("availability_zone_name"),
            kms_key_arn=kms,
        )
        if efs.kms_key_arn is None and kms:
            key_id = kms.rsplit("/", 1)[-1]
            block["kmsKeyId"] = key_id
            tf_key = keys.get(kms)
            if tf_key is not None:
                mapped(tf_key, f"{where} (its key)", "aws:kms/key:Key", key_id)
        mapped(r, f"{where} (file system)", "aws:efs/fileSystem:FileSystem", fs_id)
        azs = {s.id: s.az for s in efs.subnets}
        for t in by_type.get("aws_efs_mount_target", []):
            if t.get("file_system_id") != fs_id:
                continue
            az = azs.get(str(t.get("subnet_id")))
            if az is None:
                continue  # a mount target in a subnet the stack does not declare: unmanaged
            block["mountTargets"][az] = str(t.get("id"))
            mapped(
                t, f"{where} (mount target {az})", "aws:efs/mountTarget:MountTarget", t.get("id")
            )
        for ap in by_type.get("aws_efs_access_point", []):
            root = ap.first("root_directory")
            if (
                ap.get("file_system_id") == fs_id
                and efs.access_point is not None
                and root.get("path") == efs.access_point.path
            ):
                block["accessPointId"] = str(ap.get("id"))
                mapped(
                    ap, f"{where} (access point)", "aws:efs/accessPoint:AccessPoint", ap.get("id")
                )
        m.blocks[("efs", app, key)] = block


def _map_cdn(
    cfg: Any,
    by_type: dict[str, list[TfResource]],
    m: TfMapping,
    mapped: Any,
    buckets: dict[str, _Bucket],
) -> None:
    identities = {
        str(o.get("id")): o for o in by_type.get("aws_cloudfront_origin_access_identity", [])
    }
    for r in by_type.get("aws_cloudfront_distribution", []):
        aliases = set(r.get("aliases") or [])
        origins = r.get("origin") or []
        default = origin_bucket(str(origins[0].get("domain_name", ""))) if origins else ""
        match = None
        for app, app_cfg in cfg.apps.items():
            for key, cdn in app_cfg.cdn.items():
                first = app_cfg.s3[cdn.origins[0]].name if cdn.origins else ""
                if aliases & set(cdn.aliases) or (not aliases and default == first):
                    match = (app, key, cdn)
        if match is None:
            continue
        app, key, cdn = match
        where = f"apps.{app}.cdn.{key}"
        dist_id = str(r.get("id"))
        block: dict[str, Any] = {"distributionId": dist_id}
        mapped(r, f"{where} (distribution)", "aws:cloudfront/distribution:Distribution", dist_id)
        cert = r.first("viewer_certificate").get("acm_certificate_arn")
        wanted = cdn.certificate.arn if cdn.certificate is not None else None
        if cert and wanted and cert != wanted:
            m.warnings.append(
                f"{r.address} uses certificate {cert}, {where}.certificate.arn is {wanted}: "
                "the first `pulumi up` switches it"
            )
        paths = {
            str(o.get("s3_origin_config", [{}])[0].get("origin_access_identity", ""))
            for o in origins
            if o.get("s3_origin_config")
        }
        for path in sorted(p for p in paths if p):
            oai_id = path.rsplit("/", 1)[-1]
            tf_oai = identities.get(oai_id)
            if cdn.access == "oai":
                block["originAccessIdentityId"] = oai_id
                if tf_oai is not None:
                    mapped(
                        tf_oai,
                        f"{where} (origin access identity)",
                        "aws:cloudfront/originAccessIdentity:OriginAccessIdentity",
                        oai_id,
                    )
            elif tf_oai is not None:
                m.unmanaged.append(
                    Mapped(
                        tf_oai,
                        f"{where} reads its buckets through OAC: the first `pulumi up` moves the "
                        "distribution off this identity; delete it after that",
                    )
                )
        m.blocks[("cdn", app, key)] = block


def _references(
    cfg: Any, by_type: dict[str, list[TfResource]], m: TfMapping, done: set[str]
) -> None:
    """What the stack file names without managing; and the roles and groups the stack
    replaces with its own."""
    refs: dict[str, str] = {}
    subnets: dict[str, tuple[str, str]] = {}
    nfs_groups: set[str] = set()
    for app, app_cfg in cfg.apps.items():
        for key, efs in app_cfg.efs.items():
            where = f"apps.{app}.efs.{key}"
            refs[efs.vpc_id] = f"{where}.vpcId"
            for i, s in enumerate(efs.subnets):
                refs[s.id] = f"{where}.subnets[{i}].id"
                subnets[s.id] = (s.az, where)
            for i, g in enumerate(efs.client_security_groups):
                refs[g] = f"{where}.clientSecurityGroups[{i}]"
            if efs.kms_key_arn:
                refs[efs.kms_key_arn] = f"{where}.kmsKeyArn"
        for key, cdn in app_cfg.cdn.items():
            if cdn.certificate is not None and cdn.certificate.arn:
                refs[cdn.certificate.arn] = f"apps.{app}.cdn.{key}.certificate.arn"
    fs_ids = {str(b.get("fileSystemId")) for k, b in m.blocks.items() if k[0] == "efs"}
    for t in by_type.get("aws_efs_mount_target", []):
        if t.get("file_system_id") in fs_ids:
            nfs_groups.update(t.get("security_groups") or [])
    replication_roles = {
        str(r.get("role")) for r in by_type.get("aws_s3_bucket_replication_configuration", [])
    }
    for items in by_type.values():
        for r in items:
            if r.address in done:
                continue
            ident = str(r.get("arn") if r.get("arn") in refs else r.get("id"))
            if ident in refs:
                m.referenced.append(Mapped(r, f"named by {refs[ident]}; stays in Terraform"))
                done.add(r.address)
                if r.type == "aws_subnet" and ident in subnets:
                    az, where = subnets[ident]
                    if r.get("availability_zone") not in (None, az):
                        m.problems.append(
                            f"{r.address}: subnet {ident} is in {r.get('availability_zone')}, "
                            f"{where} says {az}; accepted: the subnet's own AZ"
                        )
            elif r.type == "aws_security_group" and r.get("id") in nfs_groups:
                m.unmanaged.append(
                    Mapped(
                        r,
                        "the adopted mount targets' group: the stack gives them its own NFS group "
                        "(moved in place once its rules exist); delete this one after the first "
                        "`pulumi up`",
                    )
                )
                done.add(r.address)
            elif r.type == "aws_iam_role" and r.get("arn") in replication_roles:
                m.unmanaged.append(
                    Mapped(
                        r,
                        "the replication role: the stack's replication configuration switches to "
                        "the stack's own least-privilege role at the first `pulumi up`; delete "
                        "this one after",
                    )
                )
                done.add(r.address)
            elif r.type == "aws_iam_role" and any(
                s.get("iam_role_arn") == r.get("arn")
                for s in by_type.get("aws_backup_selection", [])
            ):
                m.unmanaged.append(Mapped(r, "the role of the backup selection: goes with it"))
                done.add(r.address)


def state_rm_commands(mapping: TfMapping) -> list[str]:
    """`terraform state rm` for every mapped resource: Terraform forgets it, the cloud keeps
    it (never `terraform destroy`, which deletes it)."""
    return [f"terraform state rm '{m.tf.address}'" for m in mapping.mapped]


def render(mapping: TfMapping, path: str, warnings: list[str]) -> str:
    """Every resource of the state, in the list it ends up in, and how to make Terraform
    forget the mapped ones without deleting them."""
    total = sum(len(items) for _, items in mapping.sections()) + len(mapping.data)
    lines = [f"Terraform state {path}: {total} resources"]
    heads = {
        "mapped": "adopted by the stack",
        "referenced": "named by the stack file, not managed by it",
        "unmanaged": "not managed by this stack",
    }
    for name, items in mapping.sections():
        lines.append(f"  {heads[name]} ({len(items)}):")
        lines += [f"    {m.tf.address}: {m.what}" for m in items]
    if mapping.data:
        lines.append(f"  data sources, read-only ({len(mapping.data)}):")
        lines += [f"    {r.address}" for r in mapping.data]
    for warning in [*warnings, *mapping.warnings]:
        lines.append(f"  warning: {warning}")
    if mapping.mapped:
        lines.append(
            "  once `pulumi import` adopted them and `pulumi preview --diff` shows no create and "
            "no replace for them, make Terraform forget the adopted ones (the cloud keeps them; "
            "never `terraform destroy`, which deletes them), then remove their blocks from the "
            ".tf files and check that `terraform plan` destroys nothing:"
        )
        lines += [f"    {command}" for command in state_rm_commands(mapping)]
    return "\n".join(lines)
