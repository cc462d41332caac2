"""The stack's security and hygiene rules as plain functions.

Each rule looks at resources as `Resource(type, name, urn, props, protect, parent,
dependencies)`, where `props` are the engine's camelCase inputs (CrossGuard's `props`, the
offline plan's `inputs`). The same functions run in three places: the offline plan
(`ops plan`), the CrossGuard pack (`pulumi preview --policy-pack policy`), and the tests. No
Pulumi import here.

Rules must decide on a first `pulumi preview`, where every id and computed attribute of a
resource being created is unknown:

* Resources are joined on what is known at preview: the name the program gave a bucket, and
  the declared dependencies of an input (`bucket=<the bucket's output>` depends on that
  bucket, whatever the value), never on ids.
* Reading a value that is unknown (the offline plan's "[unknown]", or pulumi-policy's
  sentinels, which its proxies raise `UnknownValueError` for) stops that check for that
  resource and reports a mandatory "cannot verify <rule> on <resource>: <property> unknown at
  preview": a rule that cannot decide never passes silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
BACKUP_SELECTION = "aws:backup/selection:Selection"
BACKUP_PLAN = "aws:backup/plan:Plan"
R2_BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
R2_LIFECYCLE = "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle"
TOKENS = ("cloudflare:index/accountToken:AccountToken", "cloudflare:index/apiToken:ApiToken")

NFS_PORT = 2049
TLS_FLOORS = ("TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025")
STATEFUL = (BUCKET, R2_BUCKET, EFS, KMS_KEY)
#: Stacks whose stateful resources may be deleted. A policy decision, reviewed here: a stack
#: file cannot declare itself deletable.
DELETABLE_STACKS = frozenset({"staging"})
R2_BUCKET_RESOURCE = "com.cloudflare.edge.r2.bucket."
#: Minimum storage duration charged per class, days (S3 pricing page).
MIN_DAYS = {
    "STANDARD_IA": 30,
    "ONEZONE_IA": 30,
    "GLACIER_IR": 90,
    "GLACIER": 90,
    "DEEP_ARCHIVE": 180,
}
#: Classes S3 cannot serve without a restore (403 InvalidObjectState), so no CDN can either.
ARCHIVED = ("GLACIER", "DEEP_ARCHIVE")
#: S3 does not transition objects smaller than this by default (`all_storage_classes_128K`).
SMALL_OBJECT_KB = 128
#: With `varies_by_storage_class`, small objects still only move to these classes.
SMALL_OBJECT_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
#: Bucket tag with the typical object size in KB (`typicalObjectSizeKb` in the config).
OBJECT_SIZE_TAG = "typical-object-size-kb"

#: File-system tag with the GB the usage assumptions put in the Standard class.
EXPECTED_STANDARD_GB_TAG = "expected-standard-gb"
#: EFS bursting mode (EFS user guide, "Throughput modes"; what's new 2020-06-30): baseline
#: 50 KiB/s per GiB of Standard storage, at least 1 MiB/s; reads metered at one third; every
#: file system bursts to at least 100 MiB/s while it has credits.
EFS_BASELINE_KIBPS_PER_GIB = 50
EFS_MIN_BASELINE_MIBPS = 1.0
EFS_READ_METERING = 3
EFS_BURST_MIBPS = 100.0
#: The states of an AWS Backup job that did not produce a recovery point.
BACKUP_FAILED_STATES = ("FAILED", "ABORTED", "EXPIRED")

#: How the offline plan marks an unknown value.
PLAN_UNKNOWN = "[unknown]"
#: pulumi-policy's sentinels for unknown booleans, numbers, strings, arrays, assets, archives
#: and objects (pulumi_policy/proxy.py).
ENGINE_UNKNOWNS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)
UNKNOWNS = ENGINE_UNKNOWNS | {PLAN_UNKNOWN}

Level = Literal["mandatory", "advisory"]


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    protect: bool = False
    parent: str | None = None
    """URN of the parent resource (a component), known at preview."""
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Input property -> URNs of the resources its value comes from, known at preview."""

    @property
    def stack(self) -> str:
        """The stack, from the URN (`urn:pulumi:<stack>::<project>::...`)."""
        return self.urn.split("::", 1)[0].rsplit(":", 1)[-1]


@dataclass(frozen=True)
class Violation:
    rule: str
    level: Level
    name: str
    urn: str
    message: str
    unverified: bool = False
    """True when the rule could not decide because a value is unknown at preview."""

    def __str__(self) -> str:
        return f"[{self.level}] {self.rule}: {self.name}: {self.message}"


class CannotVerify(Exception):
    """A rule read a value of `resource` that is unknown at preview (`path`, dotted)."""

    def __init__(self, resource: Resource, path: str) -> None:
        super().__init__(f"{path} of {resource.name} is unknown at preview")
        self.resource = resource
        self.path = path


ResourceCheck = Callable[[Resource], Iterable[str]]
StackCheck = Callable[[Resource, Sequence[Resource]], Iterable[str]]
"""Checks one subject resource against the whole stack; yields messages about the subject."""


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    level: Level
    resource: ResourceCheck | None = None
    stack: StackCheck | None = None
    subjects: tuple[str, ...] = ()
    """Types the stack check runs for, once per resource of those types."""


# ------------------------------------------------------------------- unknown values


class _View:
    """Where a guarded value sits: the resource it belongs to and its path in the props."""

    def __init__(
        self,
        target: Any,
        owner: Resource,
        path: tuple[str, ...],
        errors: tuple[type[BaseException], ...],
    ) -> None:
        self._target, self._owner, self._path, self._errors = target, owner, path, errors


class _Guarded(_View, Mapping[str, Any]):
    """A read-only view of a resource's props that raises `CannotVerify` on reading a value
    unknown at preview, whether it is marked (the plan's "[unknown]", an engine sentinel) or
    the wrapped mapping raises for it (pulumi-policy's proxies raise `UnknownValueError`)."""

    def __getitem__(self, key: str) -> Any:
        return _read(self._target, key, self._owner, self._path, self._errors)

    def __iter__(self) -> Iterator[str]:
        return iter(self._target)

    def __len__(self) -> int:
        return len(self._target)

    def __contains__(self, key: object) -> bool:
        # Presence without reading the value (Mapping's default would read it).
        return any(k == key for k in self._target)


class _GuardedList(_View, Sequence[Any]):
    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return _read(self._target, index, self._owner, self._path, self._errors)

    def __len__(self) -> int:
        return len(self._target)


def _read(
    target: Any,
    key: Any,
    owner: Resource,
    path: tuple[str, ...],
    errors: tuple[type[BaseException], ...],
) -> Any:
    here = (*path, str(key))
    try:
        value = target[key]
    except errors as err:
        raise CannotVerify(owner, ".".join(here)) from err
    return _guard(value, owner, here, errors)


def _guard(
    value: Any, owner: Resource, path: tuple[str, ...], errors: tuple[type[BaseException], ...]
) -> Any:
    if isinstance(value, str):
        if value in UNKNOWNS:
            raise CannotVerify(owner, ".".join(path))
        return value
    if isinstance(value, Mapping):
        return _Guarded(value, owner, path, errors)
    if isinstance(value, Sequence):
        return _GuardedList(value, owner, path, errors)
    return value


def guarded(r: Resource, errors: tuple[type[BaseException], ...] = ()) -> Resource:
    """`r` with props that raise `CannotVerify` for unknown values."""
    return replace(r, props=_Guarded(r.props, r, (), errors))


def _is_set(m: Mapping[str, Any], key: str) -> bool:
    """`key` is given a value. An unknown value counts: it is wired to the output of another
    resource (an OAI path, an OAC id, a KMS key ARN) and will be set when that exists."""
    if key not in m:
        return False
    try:
        return bool(m[key])
    except CannotVerify:
        return True


# --------------------------------------------------------------------------- helpers


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _num(value: Any) -> str:
    """A number for a message: the engine sends every number as a double (protobuf Struct),
    the offline plan as an int; both read `90`, not `90.0`."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _of(resources: Sequence[Resource], typ: str) -> list[Resource]:
    return [r for r in resources if r.type == typ]


def refers_to(child: Resource, prop: str, target: Resource, key: str = "bucket") -> bool:
    """Whether `child.props[prop]` names `target`: by declared dependency when the value came
    from another resource (known at preview even when the value is not), else by comparing
    the literal value with `target.props[key]` (e.g. a bucket name)."""
    deps = child.dependencies.get(prop, ())
    if deps:
        return target.urn in deps
    value = child.props.get(prop)
    return value is not None and value == target.props.get(key)


def _children(resources: Sequence[Resource], typ: str, target: Resource) -> list[Resource]:
    return [r for r in _of(resources, typ) if refers_to(r, "bucket", target)]


def _statements(policy: Any) -> list[Mapping[str, Any]]:
    """A policy document's statements, from a JSON string or a structured document."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return []
    if not isinstance(policy, Mapping):
        return []
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        return [statements]
    return list(statements) if isinstance(statements, Sequence) else []


def _denies_insecure_transport(policy: Any) -> bool:
    # Effect first: an Allow statement's condition (which may hold unknowns) is never read.
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
        return aws == "*" or (isinstance(aws, Sequence) and not isinstance(aws, str) and "*" in aws)
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


def _bucket_blocked(b: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    if not _children(resources, PAB, b):
        yield "bucket has no public access block"


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
            # The principal is read last: a conditioned grant (e.g. CloudFront's, scoped to a
            # distribution ARN unknown at preview) is decided without it.
            if (
                s.get("Effect") == "Allow"
                and not s.get("Condition")
                and _is_everyone(s.get("Principal"))
            ):
                yield f"statement {s.get('Sid', '?')!r} allows everyone without a condition"


def _sse_algorithm(r: Resource) -> Iterator[str]:
    if r.type == SSE:
        for rule in r.props.get("rules", []):
            algo = rule.get("applyServerSideEncryptionByDefault", {}).get("sseAlgorithm")
            if algo not in ("AES256", "aws:kms", "aws:kms:dsse"):
                yield f"unknown encryption algorithm {algo!r}"


def _bucket_encrypted(b: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    if not _children(resources, SSE, b):
        yield "bucket has no default encryption configuration"


def _enabled(v: Resource) -> bool:
    return bool(v.props.get("versioningConfiguration", {}).get("status") == "Enabled")


def _is_versioned(b: Resource, resources: Sequence[Resource]) -> bool:
    return any(_enabled(v) for v in _children(resources, VERSIONING, b))


def _data_bucket_versioned(b: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    if (b.props.get("tags") or {}).get("purpose") != "logs" and not _is_versioned(b, resources):
        yield "data bucket is not versioned (tag purpose=logs exempts log buckets)"


def _policy_denies_insecure_transport(r: Resource) -> Iterator[str]:
    if r.type == POLICY and not _denies_insecure_transport(r.props.get("policy")):
        yield "bucket policy does not deny requests without TLS (aws:SecureTransport false)"


def _bucket_has_policy(b: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    if not _children(resources, POLICY, b):
        yield "bucket has no bucket policy, so nothing denies requests without TLS"


def _bucket_aborts_multipart(b: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    lifecycles = _children(resources, LIFECYCLE, b)
    rules = [rule for lc in lifecycles for rule in lc.props.get("rules", [])]
    if not any(
        "abortIncompleteMultipartUpload" in rule and rule.get("status") == "Enabled"
        for rule in rules
    ):
        yield "incomplete multipart uploads are never aborted (billed, invisible parts)"


def _r2_lifecycle_aborts_multipart(r: Resource) -> Iterator[str]:
    # An R2 lifecycle replaces R2's default 7-day abort rule, so it must carry its own.
    if r.type == R2_LIFECYCLE and not any(
        "abortMultipartUploadsTransition" in rule and rule.get("enabled")
        for rule in r.props.get("rules", [])
    ):
        yield "R2 lifecycle without an abort-multipart rule removes R2's default one"


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
                        f"{_num(stay)} days; its minimum storage duration is {minimum} days "
                        "(the rest is billed anyway)"
                    )


def _small_objects_transition(b: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    size = (b.props.get("tags") or {}).get(OBJECT_SIZE_TAG)
    if size is None or float(size) >= SMALL_OBJECT_KB:
        return
    for lc in _children(resources, LIFECYCLE, b):
        default = lc.props.get("transitionDefaultMinimumObjectSize") or "all_storage_classes_128K"
        for rule in lc.props.get("rules", []):
            if rule.get("status") != "Enabled":
                continue
            for t in rule.get("transitions", []):
                cls = t.get("storageClass")
                if default == "varies_by_storage_class" and cls in SMALL_OBJECT_CLASSES:
                    continue
                days = _num(t.get("days"))
                yield (
                    f"rule {rule.get('id')!r} moves objects to {cls} at {days} days, "
                    f"but the bucket's objects are typically {size} KB and S3 does not "
                    f"transition objects under {SMALL_OBJECT_KB} KB to {cls} "
                    f"(transitionDefaultMinimumObjectSize {default}): they stay in STANDARD "
                    "and are billed at its price"
                )


def _replication_versioned(r: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    versioned = [b for b in _of(resources, BUCKET) if _is_versioned(b, resources)]
    if not any(refers_to(r, "bucket", b) for b in versioned):
        yield f"source bucket {r.props.get('bucket')!r} is not versioned"
    names = {b.props.get("bucket") for b in versioned}
    for rule in r.props.get("rules", []):
        dest = str(rule.get("destination", {}).get("bucket", "")).split(":::")[-1]
        if dest not in names:
            yield f"destination bucket {dest!r} is not versioned"


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
        if _is_set(cert, "acmCertificateArn") or _is_set(cert, "iamCertificateId"):
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
            oai = _is_set(o.get("s3OriginConfig", {}), "originAccessIdentity")
            if not oai and not _is_set(o, "originAccessControlId"):
                yield f"S3 origin {o.get('originId')!r} has neither an OAI nor an OAC"


def origin_bucket(domain: str) -> str:
    """`images.s3.ap-northeast-2.amazonaws.com` -> `images`."""
    return domain.split(".s3.")[0].split(".s3-")[0]


def _cdn_objects_readable(d: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    for o in d.props.get("origins", []):
        name = origin_bucket(str(o.get("domainName", "")))
        buckets = [b for b in _of(resources, BUCKET) if b.props.get("bucket") == name]
        lifecycles = [lc for b in buckets for lc in _children(resources, LIFECYCLE, b)]
        if not buckets:  # a bucket outside this stack: its lifecycle, if any, by name
            lifecycles = [lc for lc in _of(resources, LIFECYCLE) if lc.props.get("bucket") == name]
        for lc in lifecycles:
            for rule in lc.props.get("rules", []):
                if rule.get("status") == "Disabled":
                    continue
                for t in rule.get("transitions", []):
                    if t.get("storageClass") in ARCHIVED:
                        yield (
                            f"origin {name!r} moves objects to {t['storageClass']} after "
                            f"{_num(t.get('days'))} days (rule {rule.get('id')!r}): S3 answers 403 "
                            "InvalidObjectState for them until each is restored, so the CDN "
                            "fails for every such object. Fix: transition to GLACIER_IR "
                            "(readable at once) instead, or move archived objects to a bucket "
                            "no CDN serves"
                        )


# ------------------------------------------------------------------------------- EFS


def _efs_cmk(r: Resource) -> Iterator[str]:
    if r.type == EFS:
        if r.props.get("encrypted") is not True:
            yield "file system is not encrypted at rest"
        elif not _is_set(r.props, "kmsKeyId"):
            yield "file system uses the AWS-managed key; use a customer-managed KMS key"


def _efs_policy_denies_insecure_transport(r: Resource) -> Iterator[str]:
    if r.type == EFS_POLICY and not _denies_insecure_transport(r.props.get("policy")):
        yield "file-system policy does not deny access without TLS (aws:SecureTransport false)"


def _file_system_has_policy(fs: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    if not any(refers_to(p, "fileSystemId", fs, key="id") for p in _of(resources, EFS_POLICY)):
        yield "file system has no file-system policy, so nothing denies access without TLS"


def _covers_nfs(props: Mapping[str, Any]) -> bool:
    if str(props.get("ipProtocol", props.get("protocol"))) in ("-1", "all"):
        return True
    low, high = props.get("fromPort", 0), props.get("toPort", 65535)
    return _is_number(low) and _is_number(high) and low <= NFS_PORT <= high


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


def _bursting_baseline(r: Resource) -> Iterator[str]:
    if r.type != EFS or (r.props.get("throughputMode") or "bursting") != "bursting":
        return
    expected = (r.props.get("tags") or {}).get(EXPECTED_STANDARD_GB_TAG)
    if expected is None:
        return
    gib = float(expected) * 1e9 / 2**30
    baseline = max(gib * EFS_BASELINE_KIBPS_PER_GIB / 1024, EFS_MIN_BASELINE_MIBPS)
    if baseline < EFS_BURST_MIBPS:
        yield (
            f"bursting mode with {float(expected):g} GB expected in the Standard class "
            f"({gib:.0f} GiB): once burst credits are spent it runs at its baseline of "
            f"{baseline:.1f} MiB/s (50 KiB/s per GiB; reads are metered at one third, so up to "
            f"{baseline * EFS_READ_METERING:.1f} MiB/s of pure reads), where bursts reach "
            f"{EFS_BURST_MIBPS:g} MiB/s. For loads that stay above it (e.g. model loads on "
            "many nodes), use throughputMode 'elastic' (billed per GB transferred)"
        )


# ------------------------------------------------------------------- alarms, topics


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [] if value is None else [value]


def _topics_named(r: Resource, prop: str, topics: Sequence[Resource]) -> list[Resource]:
    """The topics `r.props[prop]` (an ARN or a list of them) names: by declared dependency,
    else by the topic name an ARN ends with (`arn:aws:sns:<region>:<account>:<name>`)."""
    deps = r.dependencies.get(prop, ())
    if deps:
        return [t for t in topics if t.urn in deps]
    arns = [str(v) for v in _as_list(r.props.get(prop))]
    return [t for t in topics if any(arn.rsplit(":", 1)[-1] == t.props.get("name") for arn in arns)]


def _same_region(a: Resource, b: Resource) -> bool:
    """Both in the provider's region (no `region`) or both in the same named one."""
    return a.props.get("region") == b.props.get("region")


def _routed(r: Resource, prop: str, resources: Sequence[Resource]) -> str | None:
    """None when `r` notifies an SNS topic of its own region, else what is wrong."""
    topics = _topics_named(r, prop, _of(resources, TOPIC))
    if not topics:
        return "notifies no SNS topic of this stack"
    if not any(_same_region(r, t) for t in topics):
        where = r.props.get("region") or "the provider's region"
        return (
            f"notifies only topics of another region than its own ({where}), which CloudWatch "
            "and EventBridge cannot deliver to"
        )
    return None


def _replication_alarmed(r: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    source = r.props.get("bucket")
    # Only alarms on the metric are read further: others (EFS, CloudFront) may carry ids
    # unknown at preview in their dimensions.
    alarms = [
        a
        for a in _of(resources, ALARM)
        if a.props.get("namespace") == "AWS/S3"
        and a.props.get("metricName") == "OperationsFailedReplication"
    ]
    for rule in r.props.get("rules", []):
        if rule.get("status") == "Disabled":
            continue
        destination = rule.get("destination", {})
        dest = str(destination.get("bucket", "")).split(":::")[-1]
        what = f"rule {rule.get('id')!r} ({source!r} -> {dest!r})"
        if destination.get("metrics", {}).get("status") != "Enabled":
            yield (
                f"{what} has no replication metrics, so nothing can see its failures; "
                "enable replication.metrics"
            )
            continue
        watching = [
            a
            for a in alarms
            if dict(a.props.get("dimensions") or {})
            == {"SourceBucket": source, "DestinationBucket": dest, "RuleId": rule.get("id")}
        ]
        if not watching:
            yield (
                f"{what} has no alarm on AWS/S3 OperationsFailedReplication with its "
                "SourceBucket, DestinationBucket and RuleId: failed replications go unnoticed; "
                "enable alarms.replication"
            )
            continue
        problems = [_routed(a, "alarmActions", resources) for a in watching]
        if all(problems):
            yield f"{what}: alarm {watching[0].name} {problems[0]}"


def _pattern(rule: Resource) -> Mapping[str, Any]:
    raw = rule.props.get("eventPattern")
    try:
        doc = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return doc if isinstance(doc, Mapping) else {}


def _watches_backup_failures(rule: Resource, vaults: set[str]) -> bool:
    pattern = _pattern(rule)
    detail = pattern.get("detail") or {}
    named = set(_as_list(detail.get("backupVaultName")))
    return (
        "aws.backup" in _as_list(pattern.get("source"))
        and "Backup Job State Change" in _as_list(pattern.get("detail-type"))
        and set(BACKUP_FAILED_STATES) <= set(_as_list(detail.get("state")))
        and (not named or bool(vaults & named))
    )


def _backups_alarmed(fs: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    selections = [
        s for s in _of(resources, BACKUP_SELECTION) if fs.urn in s.dependencies.get("resources", ())
    ]
    if not selections:
        return  # not backed up by this stack
    plans = [
        p
        for p in _of(resources, BACKUP_PLAN)
        if any(refers_to(s, "planId", p, key="name") for s in selections)
    ]
    vaults = {str(rule.get("targetVaultName")) for p in plans for rule in p.props.get("rules", [])}
    rules = [e for e in _of(resources, EVENT_RULE) if _watches_backup_failures(e, vaults)]
    targets = [
        t
        for t in _of(resources, EVENT_TARGET)
        if any(refers_to(t, "rule", e, key="name") for e in rules)
    ]
    if not rules or not targets:
        yield (
            f"backed up to vault {', '.join(sorted(vaults)) or '?'} with no EventBridge rule on "
            f"its backup jobs ending {', '.join(BACKUP_FAILED_STATES)} that targets an SNS "
            "topic: failed nightly backups go unnoticed; enable alarms.backup"
        )
        return
    problems = [_routed(t, "arn", resources) for t in targets]
    if all(problems):
        yield f"backup-failure rule target {targets[0].name} {problems[0]}"


def _failures_alarmed(r: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    if r.type == REPLICATION:
        yield from _replication_alarmed(r, resources)
    else:
        yield from _backups_alarmed(r, resources)


def _topic_subscribed(topic: Resource, resources: Sequence[Resource]) -> Iterator[str]:
    if not any(topic in _topics_named(s, "topic", [topic]) for s in _of(resources, SUBSCRIPTION)):
        yield (
            "alert topic has no subscription: its alarms, backup events and budget "
            "notifications reach nobody; add alarms.subscriptions"
        )


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
    if r.type in STATEFUL and not r.protect and r.stack not in DELETABLE_STACKS:
        yield "stateful resource is not protected against deletion"


RULES: tuple[Rule, ...] = (
    Rule(
        "s3-public-access-blocked",
        "All four public-access flags on every bucket.",
        "mandatory",
        _pab_all_on,
        _bucket_blocked,
        (BUCKET,),
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
        _sse_algorithm,
        _bucket_encrypted,
        (BUCKET,),
    ),
    Rule(
        "s3-data-buckets-versioned",
        "Versioning on every bucket but log buckets.",
        "mandatory",
        stack=_data_bucket_versioned,
        subjects=(BUCKET,),
    ),
    Rule(
        "s3-tls-only",
        "Every bucket has a policy that denies requests without TLS.",
        "mandatory",
        _policy_denies_insecure_transport,
        _bucket_has_policy,
        (BUCKET,),
    ),
    Rule(
        "incomplete-multipart-aborted",
        "Lifecycle aborts incomplete multipart uploads (S3, R2).",
        "mandatory",
        _r2_lifecycle_aborts_multipart,
        _bucket_aborts_multipart,
        (BUCKET,),
    ),
    Rule(
        "s3-replication-versioned",
        "Replication source and destination are versioned.",
        "mandatory",
        stack=_replication_versioned,
        subjects=(REPLICATION,),
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
        "A CDN never serves objects that become unreadable (GLACIER, DEEP_ARCHIVE).",
        "mandatory",
        stack=_cdn_objects_readable,
        subjects=(DISTRIBUTION,),
    ),
    Rule("efs-encrypted-cmk", "EFS encrypted with a customer-managed key.", "mandatory", _efs_cmk),
    Rule(
        "efs-tls-only",
        "Every file system has a policy that denies access without TLS.",
        "mandatory",
        _efs_policy_denies_insecure_transport,
        _file_system_has_policy,
        (EFS,),
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
        "Buckets, file systems and keys are protected (but in DELETABLE_STACKS).",
        "mandatory",
        _protected,
    ),
    Rule(
        "storage-failures-alarmed",
        "Every replicated bucket and every backed-up file system has an alarm routed to an "
        "SNS topic of its own region.",
        "mandatory",
        stack=_failures_alarmed,
        subjects=(REPLICATION, EFS),
    ),
    Rule(
        "alert-topic-subscribed",
        "Alert topics have at least one subscription.",
        "advisory",
        stack=_topic_subscribed,
        subjects=(TOPIC,),
    ),
    Rule(
        "efs-bursting-baseline",
        "The baseline throughput a bursting file system falls back to, from its expected size.",
        "advisory",
        _bursting_baseline,
    ),
    Rule(
        "lifecycle-minimum-storage-duration",
        "Transitions that pay a minimum-duration penalty.",
        "advisory",
        _minimum_durations,
    ),
    Rule(
        "lifecycle-small-objects-stay",
        "Transitions that objects under 128 KB never make.",
        "advisory",
        stack=_small_objects_transition,
        subjects=(BUCKET,),
    ),
)


def _cannot_verify(rule: Rule, err: CannotVerify) -> Violation:
    r = err.resource
    return Violation(
        rule.name,
        "mandatory",
        r.name,
        r.urn,
        f"cannot verify {rule.name} on {r.name}: {err.path} unknown at preview",
        unverified=True,
    )


def check_resource(
    rule: Rule, r: Resource, errors: tuple[type[BaseException], ...] = ()
) -> list[Violation]:
    """The resource check of `rule` on `r`; `errors` are the exceptions that mean "unknown"
    when the props raise them (pulumi-policy's `UnknownValueError`)."""
    assert rule.resource is not None
    out: list[Violation] = []
    try:
        for message in rule.resource(guarded(r, errors)):
            out.append(Violation(rule.name, rule.level, r.name, r.urn, message))
    except CannotVerify as err:
        out.append(_cannot_verify(rule, err))
    return out


def check_stack(
    rule: Rule, resources: Sequence[Resource], errors: tuple[type[BaseException], ...] = ()
) -> list[Violation]:
    """The stack check of `rule`, once per subject: an unknown value stops the check of that
    subject only."""
    assert rule.stack is not None
    view = [guarded(r, errors) for r in resources]
    out: list[Violation] = []
    for subject, original in zip(view, resources, strict=True):
        if subject.type not in rule.subjects:
            continue
        try:
            for message in rule.stack(subject, view):
                out.append(Violation(rule.name, rule.level, original.name, original.urn, message))
        except CannotVerify as err:
            found = _cannot_verify(rule, err)
            if found not in out:
                out.append(found)
    return out


def evaluate(
    resources: Sequence[Resource],
    rules: Sequence[Rule] = RULES,
    errors: tuple[type[BaseException], ...] = (),
) -> list[Violation]:
    out: list[Violation] = []
    for rule in rules:
        if rule.resource is not None:
            for r in resources:
                out += check_resource(rule, r, errors)
        if rule.stack is not None:
            out += check_stack(rule, resources, errors)
    return sorted(out, key=lambda v: (v.level != "mandatory", v.rule, v.name, v.message))
