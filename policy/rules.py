"""The stack's security and hygiene rules as plain functions.

Each rule looks at resources as `Resource(type, name, urn, props, protect)`, where `props` are
the engine's camelCase inputs (CrossGuard's resource `props`, the offline plan's `inputs`) and,
for stack-wide rules, also outputs such as `id`. The same functions run in three places: the
offline plan (`ops plan`), the CrossGuard pack (`pulumi preview --policy-pack policy`), and the
tests. No Pulumi import here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

BUCKET = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ACL = "aws:s3/bucketAcl:BucketAcl"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
EFS = "aws:efs/fileSystem:FileSystem"
EFS_POLICY = "aws:efs/fileSystemPolicy:FileSystemPolicy"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
KMS_KEY = "aws:kms/key:Key"
R2_BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
R2_LIFECYCLE = "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle"
TOKENS = ("cloudflare:index/accountToken:AccountToken", "cloudflare:index/apiToken:ApiToken")

NFS_PORT = 2049
TLS_FLOORS = ("TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025")
STATEFUL = (BUCKET, R2_BUCKET, EFS, KMS_KEY)
R2_BUCKET_RESOURCE = "com.cloudflare.edge.r2.bucket."
#: Minimum storage duration charged per class, days (S3 pricing page).
MIN_DAYS = {
    "STANDARD_IA": 30,
    "ONEZONE_IA": 30,
    "GLACIER_IR": 90,
    "GLACIER": 90,
    "DEEP_ARCHIVE": 180,
}
#: Classes CloudFront cannot read from without a restore.
ARCHIVED = ("GLACIER", "DEEP_ARCHIVE")

Level = Literal["mandatory", "advisory"]


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    protect: bool = False


@dataclass(frozen=True)
class Violation:
    rule: str
    level: Level
    name: str
    urn: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.rule}: {self.name}: {self.message}"


ResourceCheck = Callable[[Resource], Iterable[str]]
StackCheck = Callable[[Sequence[Resource]], Iterable[tuple[Resource, str]]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    level: Level
    resource: ResourceCheck | None = None
    stack: StackCheck | None = None


# --------------------------------------------------------------------------- helpers


def _of(resources: Sequence[Resource], typ: str) -> list[Resource]:
    return [r for r in resources if r.type == typ]


def _by_bucket(resources: Sequence[Resource], typ: str) -> dict[str, list[Resource]]:
    out: dict[str, list[Resource]] = defaultdict(list)
    for r in _of(resources, typ):
        out[str(r.props.get("bucket"))].append(r)
    return out


def _bucket_name(r: Resource) -> str:
    return str(r.props.get("bucket") or r.props.get("id") or r.name)


def _statements(policy: Any) -> list[dict[str, Any]]:
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return []
    if not isinstance(policy, Mapping):
        return []
    statements = policy.get("Statement", [])
    return list(statements) if isinstance(statements, list) else [statements]


def _denies_insecure_transport(policy: Any) -> bool:
    return any(
        s.get("Effect") == "Deny"
        and str(s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")).lower()
        == "false"
        for s in _statements(policy)
    )


def _is_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        aws = principal.get("AWS")
        return aws == "*" or (isinstance(aws, list) and "*" in aws)
    return False


# ------------------------------------------------------------------------------ S3


def _pab_all_on(r: Resource) -> Iterator[str]:
    if r.type == PAB:
        flags = (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
        off = [f for f in flags if r.props.get(f) is not True]
        if off:
            yield f"public access block has {', '.join(off)} off"


def _every_bucket_blocked(resources: Sequence[Resource]) -> Iterator[tuple[Resource, str]]:
    blocks = _by_bucket(resources, PAB)
    for b in _of(resources, BUCKET):
        if _bucket_name(b) not in blocks:
            yield b, "bucket has no public access block"


def _no_public_acl_or_policy(r: Resource) -> Iterator[str]:
    if r.type == ACL and r.props.get("acl") in (
        "public-read",
        "public-read-write",
        "authenticated-read",
    ):
        yield f"canned ACL {r.props.get('acl')!r} makes objects public"
    if r.type == OWNERSHIP:
        owner = r.props.get("rule", {}).get("objectOwnership")
        if owner != "BucketOwnerEnforced":
            yield f"object ownership {owner!r} keeps ACLs enabled; use BucketOwnerEnforced"
    if r.type == POLICY:
        for s in _statements(r.props.get("policy")):
            if (
                s.get("Effect") == "Allow"
                and _is_everyone(s.get("Principal"))
                and not s.get("Condition")
            ):
                yield f"statement {s.get('Sid', '?')!r} allows everyone without a condition"


def _every_bucket_encrypted(resources: Sequence[Resource]) -> Iterator[tuple[Resource, str]]:
    sse = _by_bucket(resources, SSE)
    for b in _of(resources, BUCKET):
        if _bucket_name(b) not in sse:
            yield b, "bucket has no default encryption configuration"
    for r in _of(resources, SSE):
        for rule in r.props.get("rules", []):
            algo = rule.get("applyServerSideEncryptionByDefault", {}).get("sseAlgorithm")
            if algo not in ("AES256", "aws:kms", "aws:kms:dsse"):
                yield r, f"unknown encryption algorithm {algo!r}"


def _data_buckets_versioned(resources: Sequence[Resource]) -> Iterator[tuple[Resource, str]]:
    versioning = _by_bucket(resources, VERSIONING)
    for b in _of(resources, BUCKET):
        if (b.props.get("tags") or {}).get("purpose") == "logs":
            continue
        states = [
            v.props.get("versioningConfiguration", {}).get("status")
            for v in versioning.get(_bucket_name(b), [])
        ]
        if "Enabled" not in states:
            yield b, "data bucket is not versioned (tag purpose=logs exempts log buckets)"


def _every_bucket_tls_only(resources: Sequence[Resource]) -> Iterator[tuple[Resource, str]]:
    policies = _by_bucket(resources, POLICY)
    for b in _of(resources, BUCKET):
        if not any(
            _denies_insecure_transport(p.props.get("policy"))
            for p in policies.get(_bucket_name(b), [])
        ):
            yield b, "no bucket policy denies requests without TLS (aws:SecureTransport false)"


def _multipart_aborted(resources: Sequence[Resource]) -> Iterator[tuple[Resource, str]]:
    lifecycles = _by_bucket(resources, LIFECYCLE)
    for b in _of(resources, BUCKET):
        rules = [
            rule for lc in lifecycles.get(_bucket_name(b), []) for rule in lc.props.get("rules", [])
        ]
        if not any(
            "abortIncompleteMultipartUpload" in rule and rule.get("status") == "Enabled"
            for rule in rules
        ):
            yield b, "incomplete multipart uploads are never aborted (billed, invisible parts)"
    # An R2 lifecycle replaces R2's default 7-day abort rule, so it must carry its own.
    for r in _of(resources, R2_LIFECYCLE):
        if not any(
            "abortMultipartUploadsTransition" in rule and rule.get("enabled")
            for rule in r.props.get("rules", [])
        ):
            yield r, "R2 lifecycle without an abort-multipart rule removes R2's default one"


def _minimum_durations(r: Resource) -> Iterator[str]:
    if r.type != LIFECYCLE:
        return
    for rule in r.props.get("rules", []):
        for key, day_key, expiry in (
            ("transitions", "days", ("expiration", "days")),
            (
                "noncurrentVersionTransitions",
                "noncurrentDays",
                ("noncurrentVersionExpiration", "noncurrentDays"),
            ),
        ):
            steps = sorted(rule.get(key, []), key=lambda t: t.get(day_key, 0))
            ends = [t.get(day_key, 0) for t in steps[1:]]
            expires = rule.get(expiry[0], {}).get(expiry[1])
            if expires is not None:
                ends.append(expires)
            for step, end in zip(steps, ends, strict=False):
                minimum = MIN_DAYS.get(step.get("storageClass", ""), 0)
                stay = end - step.get(day_key, 0)
                if stay < minimum:
                    yield (
                        f"rule {rule.get('id')!r}: objects leave {step['storageClass']} after "
                        f"{stay} days; its minimum storage duration is {minimum} days "
                        "(the rest is billed anyway)"
                    )


def _replication_both_versioned(resources: Sequence[Resource]) -> Iterator[tuple[Resource, str]]:
    versioned = {
        name
        for name, vs in _by_bucket(resources, VERSIONING).items()
        if any(v.props.get("versioningConfiguration", {}).get("status") == "Enabled" for v in vs)
    }
    for r in _of(resources, REPLICATION):
        source = str(r.props.get("bucket"))
        if source not in versioned:
            yield r, f"source bucket {source!r} is not versioned"
        for rule in r.props.get("rules", []):
            dest = str(rule.get("destination", {}).get("bucket", "")).split(":::")[-1]
            if dest not in versioned:
                yield r, f"destination bucket {dest!r} is not versioned"


# ------------------------------------------------------------------------ CloudFront


def _behaviors(r: Resource) -> list[Mapping[str, Any]]:
    return [r.props.get("defaultCacheBehavior", {}), *r.props.get("orderedCacheBehaviors", [])]


def _https_only(r: Resource) -> Iterator[str]:
    if r.type == DISTRIBUTION:
        for b in _behaviors(r):
            if b.get("viewerProtocolPolicy") not in ("redirect-to-https", "https-only"):
                yield f"behaviour {b.get('pathPattern', 'default')!r} allows plain HTTP"


def _tls_floor(r: Resource) -> Iterator[str]:
    if r.type == DISTRIBUTION:
        cert = r.props.get("viewerCertificate", {})
        if cert.get("acmCertificateArn") or cert.get("iamCertificateId"):
            version = cert.get("minimumProtocolVersion")
            if version not in TLS_FLOORS:
                yield f"minimum TLS {version!r}; accepted: {', '.join(TLS_FLOORS)}"


def _default_certificate(r: Resource) -> Iterator[str]:
    if r.type == DISTRIBUTION and r.props.get("viewerCertificate", {}).get(
        "cloudfrontDefaultCertificate"
    ):
        yield "the *.cloudfront.net certificate allows TLS 1.0; use aliases with an ACM certificate"


def _origin_access(r: Resource) -> Iterator[str]:
    if r.type != DISTRIBUTION:
        return
    for o in r.props.get("origins", []):
        domain = str(o.get("domainName", ""))
        if "s3-website" in domain:
            yield f"origin {o.get('originId')!r} is a public S3 website endpoint"
        elif ".s3." in domain or domain.endswith(".s3.amazonaws.com"):
            oai = o.get("s3OriginConfig", {}).get("originAccessIdentity")
            if not oai and not o.get("originAccessControlId"):
                yield f"S3 origin {o.get('originId')!r} has neither an OAI nor an OAC"


def _cdn_origins_not_archived(resources: Sequence[Resource]) -> Iterator[tuple[Resource, str]]:
    lifecycles = _by_bucket(resources, LIFECYCLE)
    for d in _of(resources, DISTRIBUTION):
        for o in d.props.get("origins", []):
            bucket = str(o.get("domainName", "")).split(".s3.")[0]
            for lc in lifecycles.get(bucket, []):
                for rule in lc.props.get("rules", []):
                    for t in rule.get("transitions", []):
                        if t.get("storageClass") in ARCHIVED:
                            message = (
                                f"origin {bucket!r} moves objects to {t['storageClass']} "
                                f"after {t.get('days')} days (rule {rule.get('id')!r}); "
                                "CloudFront gets 403 for them until they are restored"
                            )
                            yield d, message


# ------------------------------------------------------------------------------- EFS


def _efs_cmk(r: Resource) -> Iterator[str]:
    if r.type == EFS:
        if r.props.get("encrypted") is not True:
            yield "file system is not encrypted at rest"
        elif not r.props.get("kmsKeyId"):
            yield "file system uses the AWS-managed key; use a customer-managed KMS key"


def _efs_tls_only(resources: Sequence[Resource]) -> Iterator[tuple[Resource, str]]:
    policies = {str(p.props.get("fileSystemId")): p for p in _of(resources, EFS_POLICY)}
    for fs in _of(resources, EFS):
        policy = policies.get(str(fs.props.get("id")))
        if policy is None or not _denies_insecure_transport(policy.props.get("policy")):
            yield fs, "no file-system policy denies access without TLS"


def _covers_nfs(props: Mapping[str, Any]) -> bool:
    if str(props.get("ipProtocol", props.get("protocol"))) in ("-1", "all"):
        return True
    low, high = props.get("fromPort", 0), props.get("toPort", 65535)
    return isinstance(low, int) and isinstance(high, int) and low <= NFS_PORT <= high


def _nfs_from_groups(r: Resource) -> Iterator[str]:
    cidr_keys = ("cidrIpv4", "cidrIpv6", "prefixListId", "cidrBlocks", "ipv6CidrBlocks")
    if r.type == INGRESS and _covers_nfs(r.props) and any(r.props.get(k) for k in cidr_keys):
        yield "NFS (2049) is open to an address range; open it to security groups only"
    ingress_rule = r.type == SG_RULE and r.props.get("type") == "ingress"
    if ingress_rule and _covers_nfs(r.props) and any(r.props.get(k) for k in cidr_keys):
        yield "NFS (2049) is open to an address range; open it to security groups only"
    if r.type == SG:
        for rule in r.props.get("ingress", []):
            if _covers_nfs(rule) and any(rule.get(k) for k in cidr_keys):
                yield "inline ingress opens NFS (2049) to an address range"


# -------------------------------------------------------------------------------- R2


def _tokens_bucket_scoped(r: Resource) -> Iterator[str]:
    if r.type not in TOKENS:
        return
    for policy in r.props.get("policies", []):
        raw = policy.get("resources", "{}")
        try:
            resources = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except ValueError:
            yield f"policy resources {raw!r} are not JSON"
            continue
        if not resources:
            yield "policy names no resource"
        for key, value in resources.items():
            if (
                not key.startswith(R2_BUCKET_RESOURCE)
                or "*" in key
                or (value != "*" and not isinstance(value, str))
            ):
                yield f"resource {key!r} is not a single R2 bucket"


# ------------------------------------------------------------------------- stateful


def _protected(r: Resource) -> Iterator[str]:
    if r.type in STATEFUL and not r.protect:
        yield "stateful resource is not protected against deletion"


RULES: tuple[Rule, ...] = (
    Rule(
        "s3-public-access-blocked",
        "All four public-access flags on every bucket.",
        "mandatory",
        _pab_all_on,
        _every_bucket_blocked,
    ),
    Rule(
        "s3-no-public-acl-or-policy",
        "ACLs disabled, no canned public ACL, no unconditional Allow for everyone.",
        "mandatory",
        _no_public_acl_or_policy,
    ),
    Rule(
        "s3-encrypted",
        "Default encryption on every bucket.",
        "mandatory",
        stack=_every_bucket_encrypted,
    ),
    Rule(
        "s3-data-buckets-versioned",
        "Versioning on every bucket but log buckets.",
        "mandatory",
        stack=_data_buckets_versioned,
    ),
    Rule(
        "s3-tls-only",
        "Every bucket policy denies requests without TLS.",
        "mandatory",
        stack=_every_bucket_tls_only,
    ),
    Rule(
        "incomplete-multipart-aborted",
        "Lifecycle aborts incomplete multipart uploads (S3, R2).",
        "mandatory",
        stack=_multipart_aborted,
    ),
    Rule(
        "s3-replication-versioned",
        "Replication source and destination are versioned.",
        "mandatory",
        stack=_replication_both_versioned,
    ),
    Rule(
        "cloudfront-https-only",
        "Every cache behaviour redirects HTTP or refuses it.",
        "mandatory",
        _https_only,
    ),
    Rule(
        "cloudfront-tls-floor",
        "Custom certificates with TLSv1.2_2021 or newer.",
        "mandatory",
        _tls_floor,
    ),
    Rule(
        "cloudfront-default-certificate",
        "The default certificate allows old TLS.",
        "advisory",
        _default_certificate,
    ),
    Rule(
        "cloudfront-origin-access",
        "S3 origins only through an OAI or OAC.",
        "mandatory",
        _origin_access,
    ),
    Rule(
        "cloudfront-origin-not-archived",
        "CDN origins keep objects readable (no Glacier/Deep Archive).",
        "advisory",
        stack=_cdn_origins_not_archived,
    ),
    Rule("efs-encrypted-cmk", "EFS encrypted with a customer-managed key.", "mandatory", _efs_cmk),
    Rule(
        "efs-tls-only",
        "EFS file-system policy denies access without TLS.",
        "mandatory",
        stack=_efs_tls_only,
    ),
    Rule(
        "nfs-from-security-groups",
        "NFS ingress only from security groups.",
        "mandatory",
        _nfs_from_groups,
    ),
    Rule(
        "r2-tokens-bucket-scoped",
        "R2 tokens scoped to named buckets only.",
        "mandatory",
        _tokens_bucket_scoped,
    ),
    Rule(
        "stateful-protected",
        "Buckets, file systems and keys are protected.",
        "mandatory",
        _protected,
    ),
    Rule(
        "lifecycle-minimum-storage-duration",
        "Transitions that pay a minimum-duration penalty.",
        "advisory",
        _minimum_durations,
    ),
)


def evaluate(resources: Sequence[Resource], rules: Sequence[Rule] = RULES) -> list[Violation]:
    out: list[Violation] = []
    for rule in rules:
        if rule.resource is not None:
            for r in resources:
                out += [
                    Violation(rule.name, rule.level, r.name, r.urn, m) for m in rule.resource(r)
                ]
        if rule.stack is not None:
            out += [
                Violation(rule.name, rule.level, r.name, r.urn, m) for r, m in rule.stack(resources)
            ]
    return sorted(out, key=lambda v: (v.level != "mandatory", v.rule, v.name, v.message))
