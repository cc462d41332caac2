"""The stack config, parsed once into typed, validated objects.

This is the only module that reads `pulumi.Config`. Everything the stack declares lives in
`Pulumi.<stack>.yaml` under the project namespace (`storage-platform:`) plus the AWS provider's
`aws:region`. `load()` reads it, `parse_stack_config()` validates it and raises one
`ConfigError` listing every problem before any resource is registered.

Shape (YAML, camelCase keys; the README's reference table is generated from these classes):

    storage-platform:apps:
      <app>:                    # e.g. pingvas-studio
        s3:
          <bucket-key>: {...}   # S3Bucket
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from components.schema import ConfigError, Problems, camel, join, parse, setting

__all__ = [
    "PROJECT",
    "AppConfig",
    "ConfigError",
    "S3Bucket",
    "StackConfig",
    "load",
    "parse_stack_config",
]

PROJECT = "storage-platform"

# --------------------------------------------------------------------------- S3 vocabulary

#: Lifecycle target classes in S3's transition waterfall order: an object can only move
#: right. (S3 docs, "Transitioning objects using Amazon S3 Lifecycle".)
S3_TRANSITION_CLASSES = (
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
)
S3TransitionClass = Literal[
    "STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"
]
#: S3 refuses lifecycle transitions to the IA classes before an object is 30 days old, and
#: requires 30 days in an IA class before the next transition.
S3_MIN_TRANSITION_DAYS = {"STANDARD_IA": 30, "ONEZONE_IA": 30}
S3_IA_CLASSES = frozenset(S3_MIN_TRANSITION_DAYS)
S3ReplicaClass = Literal[
    "STANDARD",
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
]
CORS_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")

_AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[0-9a-f-]{36}|alias/[\w/-]+)$")
_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
_S3_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap")


def check_region(value: str, path: str, problems: Problems) -> None:
    if not _AWS_REGION.match(value):
        problems.add(path, f"{value!r} is not an AWS region; accepted: e.g. 'ap-northeast-2'")


def check_kms_arn(value: str | None, path: str, problems: Problems) -> None:
    if value is not None and not _KMS_ARN.match(value):
        problems.add(
            path,
            f"{value!r} is not a KMS key ARN; accepted: "
            "'arn:aws:kms:<region>:<12-digit account>:key/<uuid>' or '...:alias/<name>'",
        )


def check_s3_bucket_name(name: str, path: str, problems: Problems) -> None:
    """S3's naming rules for general purpose buckets, minus dots: a dotted name breaks TLS
    on virtual-hosted URLs (`a.b.s3.amazonaws.com` does not match `*.s3.amazonaws.com`)."""
    accepted = (
        "3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit"
    )
    if not 3 <= len(name) <= 63:
        problems.add(path, f"{name!r} is {len(name)} characters long; accepted: {accepted}")
    if name != name.lower():
        problems.add(path, f"{name!r} contains uppercase letters; accepted: {accepted}")
    if "." in name:
        problems.add(
            path,
            f"{name!r} contains a dot, which breaks TLS for virtual-hosted-style requests; "
            f"accepted: {accepted}",
        )
    elif not _S3_NAME.match(name.lower()):
        problems.add(path, f"{name!r} is not a valid bucket name; accepted: {accepted}")
    for prefix in _S3_RESERVED_PREFIXES:
        if name.startswith(prefix):
            problems.add(path, f"{name!r} starts with the reserved prefix {prefix!r}")
    for suffix in _S3_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            problems.add(path, f"{name!r} ends with the reserved suffix {suffix!r}")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        problems.add(path, f"{name!r} is formatted like an IP address, which S3 rejects")


def check_origin(origin: str, path: str, problems: Problems) -> None:
    """A CORS origin is `*` or `scheme://host[:port]` (one `*` wildcard allowed), no path."""
    if origin == "*":
        return
    accepted = "'*' or 'https://host[:port]' without a path (e.g. 'https://app.example.com')"
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.add(path, f"{origin!r} has no http(s) scheme; accepted: {accepted}")
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        problems.add(path, f"{origin!r} has a path, query or fragment; accepted: {accepted}")
    elif origin.endswith("/"):
        problems.add(
            path, f"{origin!r} ends with '/', browsers never send that; accepted: {accepted}"
        )
    elif origin.count("*") > 1:
        problems.add(path, f"{origin!r} has more than one '*'; accepted: {accepted}")


# ---------------------------------------------------------------------------- S3 classes


@dataclass(frozen=True, kw_only=True)
class Transition:
    days: int = setting(doc="age in days (since creation) at which objects move")
    storage_class: S3TransitionClass = setting(doc="target storage class")


@dataclass(frozen=True, kw_only=True)
class NoncurrentTransition:
    days: int = setting(doc="days after an object version became noncurrent")
    storage_class: S3TransitionClass = setting(doc="target storage class")


def check_transitions(
    transitions: Sequence[Transition | NoncurrentTransition],
    expiration_days: int | None,
    path: str,
    expiry_key: str,
    problems: Problems,
) -> None:
    """Days strictly increasing, classes only moving down the waterfall, IA minimums, an
    expiry after the last transition."""
    previous: Transition | NoncurrentTransition | None = None
    for i, t in enumerate(transitions):
        here = f"{path}[{i}]"
        if t.days < 0:
            problems.add(f"{here}.days", f"{t.days!r} is negative; accepted: >= 0")
        minimum = S3_MIN_TRANSITION_DAYS.get(t.storage_class, 0)
        if t.days < minimum:
            problems.add(
                f"{here}.days",
                f"{t.days!r} is under {t.storage_class}'s minimum age; accepted: >= {minimum}",
            )
        if previous is not None:
            rank = S3_TRANSITION_CLASSES.index
            if rank(t.storage_class) <= rank(previous.storage_class):
                problems.add(
                    f"{here}.storageClass",
                    f"{t.storage_class!r} after {previous.storage_class!r} is out of order; "
                    f"accepted order: {' -> '.join(S3_TRANSITION_CLASSES)}",
                )
            if t.days <= previous.days:
                problems.add(
                    f"{here}.days",
                    f"{t.days!r} is not after the previous transition ({previous.days}); "
                    "accepted: strictly increasing days",
                )
            elif previous.storage_class in S3_IA_CLASSES and t.days - previous.days < 30:
                problems.add(
                    f"{here}.days",
                    f"{t.days!r} leaves objects only {t.days - previous.days} days in "
                    f"{previous.storage_class}; accepted: >= {previous.days + 30}",
                )
        previous = t
    if expiration_days is not None:
        if expiration_days < 1:
            problems.add(expiry_key, f"{expiration_days!r} is not positive; accepted: >= 1")
        elif previous is not None and expiration_days <= previous.days:
            problems.add(
                expiry_key,
                f"{expiration_days!r} is not after the last transition "
                f"({previous.storage_class} at {previous.days} days); "
                f"accepted: > {previous.days}",
            )


def check_bucket_lifecycle(bucket: Any, path: str, problems: Problems) -> None:
    """What S3 and R2 buckets share: unique rule ids, a sane multipart clean-up age."""
    ids = [rule.id for rule in bucket.lifecycle]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.add(join(path, "lifecycle"), f"rule id {dup!r} is used twice")
    days = bucket.abort_incomplete_multipart_days
    if not 1 <= days <= 365:
        problems.add(
            join(path, "abortIncompleteMultipartDays"), f"{days!r} is out of range; accepted: 1-365"
        )


@dataclass(frozen=True, kw_only=True)
class LifecycleRule:
    id: str = setting(doc="rule id, unique in the bucket")
    prefix: str | None = setting(None, doc="only keys starting with this; null = whole bucket")
    tags: dict[str, str] = setting(factory=dict, doc="only objects carrying all these tags")
    transitions: tuple[Transition, ...] = setting((), doc="current-version transitions")
    expiration_days: int | None = setting(None, doc="delete current versions after N days")
    noncurrent_transitions: tuple[NoncurrentTransition, ...] = setting(
        (), doc="noncurrent-version transitions (versioned buckets)"
    )
    noncurrent_expiration_days: int | None = setting(
        None, doc="delete noncurrent versions N days after they became noncurrent"
    )
    keep_noncurrent_versions: int | None = setting(
        None, doc="with noncurrentExpirationDays: keep this many newest noncurrent versions"
    )
    enabled: bool = setting(True, doc="false keeps the rule but stops applying it")

    def check(self, path: str, problems: Problems) -> None:
        if not re.fullmatch(r"[\w.-]{1,255}", self.id):
            problems.add(
                join(path, "id"),
                f"{self.id!r} is not a rule id; accepted: 1-255 letters, digits, '.', '_', '-'",
            )
        if not (
            self.transitions
            or self.expiration_days is not None
            or self.noncurrent_transitions
            or self.noncurrent_expiration_days is not None
        ):
            problems.add(
                path,
                "rule has no action; accepted: transitions, expirationDays, "
                "noncurrentTransitions or noncurrentExpirationDays",
            )
        check_transitions(
            self.transitions,
            self.expiration_days,
            join(path, "transitions"),
            join(path, "expirationDays"),
            problems,
        )
        check_transitions(
            self.noncurrent_transitions,
            self.noncurrent_expiration_days,
            join(path, "noncurrentTransitions"),
            join(path, "noncurrentExpirationDays"),
            problems,
        )
        if self.keep_noncurrent_versions is not None:
            if self.noncurrent_expiration_days is None:
                problems.add(
                    join(path, "keepNoncurrentVersions"),
                    "is set without noncurrentExpirationDays; accepted: set both or neither",
                )
            if not 1 <= self.keep_noncurrent_versions <= 100:
                problems.add(
                    join(path, "keepNoncurrentVersions"),
                    f"{self.keep_noncurrent_versions!r} is out of range; accepted: 1-100",
                )

    @property
    def touches_noncurrent(self) -> bool:
        return bool(self.noncurrent_transitions) or self.noncurrent_expiration_days is not None


@dataclass(frozen=True, kw_only=True)
class CorsRule:
    allowed_origins: tuple[str, ...] = setting(doc="'https://host[:port]' or '*'")
    allowed_methods: tuple[str, ...] = setting(doc="subset of GET, PUT, POST, DELETE, HEAD")
    allowed_headers: tuple[str, ...] = setting(("*",), doc="request headers browsers may send")
    expose_headers: tuple[str, ...] = setting(("ETag",), doc="response headers scripts may read")
    max_age_seconds: int = setting(3600, doc="how long browsers cache the preflight, seconds")

    def check(self, path: str, problems: Problems) -> None:
        if not self.allowed_origins:
            problems.add(join(path, "allowedOrigins"), "is empty; accepted: at least one origin")
        for i, origin in enumerate(self.allowed_origins):
            check_origin(origin, f"{join(path, 'allowedOrigins')}[{i}]", problems)
        if not self.allowed_methods:
            problems.add(join(path, "allowedMethods"), "is empty; accepted: at least one method")
        for i, method in enumerate(self.allowed_methods):
            if method not in CORS_METHODS:
                problems.add(
                    f"{join(path, 'allowedMethods')}[{i}]",
                    f"{method!r} is not a CORS method; accepted: {', '.join(CORS_METHODS)}",
                )
        if self.max_age_seconds < 0:
            problems.add(
                join(path, "maxAgeSeconds"),
                f"{self.max_age_seconds!r} is negative; accepted: >= 0",
            )


@dataclass(frozen=True, kw_only=True)
class Encryption:
    type: Literal["sse-s3", "sse-kms"] = setting("sse-s3", doc="SSE-S3 (AES256) or SSE-KMS")
    kms_key_arn: str | None = setting(
        None,
        doc="sse-kms only: an existing key; null creates a key (rotation on)",
        check=check_kms_arn,
    )

    def check(self, path: str, problems: Problems) -> None:
        if self.type == "sse-s3" and self.kms_key_arn is not None:
            problems.add(
                join(path, "kmsKeyArn"),
                f"{self.kms_key_arn!r} is set while type is 'sse-s3'; accepted: "
                "type 'sse-kms' with a key, or no key",
            )


@dataclass(frozen=True, kw_only=True)
class Replication:
    region: str = setting(
        doc="region of the replica bucket; must differ from aws:region", check=check_region
    )
    bucket: str = setting(doc="name of the replica bucket", check=check_s3_bucket_name)
    storage_class: S3ReplicaClass = setting("STANDARD", doc="storage class of the replicas")
    replication_time_control: bool = setting(
        True, doc="S3 RTC: 99.99% of objects within 15 minutes, with replication metrics"
    )
    delete_markers: bool = setting(False, doc="replicate delete markers too")
    kms_key_arn: str | None = setting(
        None,
        doc="SSE-KMS sources: replica key in the replica region; null creates one",
        check=check_kms_arn,
    )


@dataclass(frozen=True, kw_only=True)
class AccessLogs:
    bucket: str = setting(doc="key of the logs bucket in the same app's `s3` map")
    prefix: str | None = setting(None, doc="key prefix for the log objects; null = 's3/<name>/'")


@dataclass(frozen=True, kw_only=True)
class S3Bucket:
    name: str = setting(doc="globally unique bucket name (no dots)", check=check_s3_bucket_name)
    purpose: Literal["data", "logs"] = setting(
        "data", doc="log buckets are exempt from the versioning policy (tag `purpose`)"
    )
    versioning: bool = setting(True, doc="keep every version of every object")
    encryption: Encryption = setting(factory=Encryption, doc="server-side encryption")
    lifecycle: tuple[LifecycleRule, ...] = setting((), doc="lifecycle rules")
    abort_incomplete_multipart_days: int = setting(
        7, doc="abort multipart uploads left incomplete this many days (whole bucket)"
    )
    cors: tuple[CorsRule, ...] = setting((), doc="CORS rules for browsers")
    replication: Replication | None = setting(None, doc="cross-region replica")
    access_logs: AccessLogs | None = setting(None, doc="server access logging")
    protect: bool = setting(True, doc="refuse `pulumi destroy`/deletion of the bucket")

    def check(self, path: str, problems: Problems) -> None:
        check_bucket_lifecycle(self, path, problems)
        if not self.versioning:
            for i, rule in enumerate(self.lifecycle):
                if rule.touches_noncurrent:
                    problems.add(
                        f"{join(path, 'lifecycle')}[{i}]",
                        "noncurrent-version actions need versioning; accepted: "
                        "versioning: true, or no noncurrent* keys",
                    )
        if len(self.cors) > 100:
            problems.add(join(path, "cors"), f"{len(self.cors)} rules; accepted: at most 100")
        if self.replication is not None and not self.versioning:
            problems.add(
                join(path, "replication"),
                "replication needs versioning on the source; accepted: versioning: true",
            )


# ------------------------------------------------------------------------------------ R2

_R2_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_GENERATION = re.compile(r"^(\d{4})q([1-4])([a-z]?)$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_ZONE_ID = re.compile(r"^[0-9a-f]{32}$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

#: The S3 API endpoint of each R2 jurisdiction; a jurisdictional bucket is only reachable on
#: its own endpoint.
R2_ENDPOINTS = {
    "default": "https://{account}.r2.cloudflarestorage.com",
    "eu": "https://{account}.eu.r2.cloudflarestorage.com",
    "fedramp": "https://{account}.fedramp.r2.cloudflarestorage.com",
}
R2Jurisdiction = Literal["default", "eu", "fedramp"]

#: Cloudflare permission groups per access level: object-level groups only, which are the
#: only ones that can be scoped to single buckets (the account-wide "Workers R2 Storage *"
#: groups can also create and delete buckets).
R2_PERMISSION_GROUPS = {
    "read": ("Workers R2 Storage Bucket Item Read",),
    "read-write": ("Workers R2 Storage Bucket Item Read", "Workers R2 Storage Bucket Item Write"),
}


def check_r2_bucket_name(name: str, path: str, problems: Problems) -> None:
    """R2's rules (lowercase letters, digits, hyphens, 3-63) and seed 000's advice: no dots,
    which break virtual-hosted-style TLS."""
    if not _R2_NAME.match(name):
        reason = "contains a dot" if "." in name else "is not a valid R2 bucket name"
        if name != name.lower():
            reason = "contains uppercase letters"
        problems.add(
            path,
            f"{name!r} {reason}; accepted: 3-63 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit, no dots",
        )


def check_cidr(value: str, path: str, problems: Problems) -> None:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        problems.add(path, f"{value!r} is not a CIDR ({err}); accepted: e.g. '203.0.113.0/24'")


def check_rfc3339(value: str | None, path: str, problems: Problems) -> None:
    if value is not None and not _RFC3339.match(value):
        problems.add(path, f"{value!r} is not an RFC 3339 time; accepted: '2027-01-01T00:00:00Z'")


def generation_key(label: str) -> tuple[int, int, str]:
    """Order of generation labels: `2026q3` < `2026q4` < `2026q4b` < `2027q1`."""
    match = _GENERATION.match(label)
    if match is None:
        raise ValueError(f"{label!r} is not a generation label")
    return int(match[1]), int(match[2]), match[3]


@dataclass(frozen=True, kw_only=True)
class R2LifecycleRule:
    id: str = setting(doc="rule id, unique in the bucket")
    prefix: str = setting("", doc="only keys starting with this; '' = whole bucket")
    delete_after_days: int | None = setting(None, doc="delete objects this many days old")
    transition_to_ia_after_days: int | None = setting(
        None, doc="move objects to InfrequentAccess at this age, days"
    )
    enabled: bool = setting(True, doc="false keeps the rule but stops applying it")

    def check(self, path: str, problems: Problems) -> None:
        if self.delete_after_days is None and self.transition_to_ia_after_days is None:
            problems.add(
                path, "rule has no action; accepted: deleteAfterDays or transitionToIaAfterDays"
            )
        for key, value in (
            ("deleteAfterDays", self.delete_after_days),
            ("transitionToIaAfterDays", self.transition_to_ia_after_days),
        ):
            if value is not None and value < 1:
                problems.add(join(path, key), f"{value!r} is not positive; accepted: >= 1")
        if (
            self.delete_after_days is not None
            and self.transition_to_ia_after_days is not None
            and self.delete_after_days <= self.transition_to_ia_after_days
        ):
            problems.add(
                join(path, "deleteAfterDays"),
                f"{self.delete_after_days!r} is not after transitionToIaAfterDays "
                f"({self.transition_to_ia_after_days}); accepted: > "
                f"{self.transition_to_ia_after_days}",
            )


@dataclass(frozen=True, kw_only=True)
class R2CustomDomain:
    domain: str = setting(doc="hostname served from the bucket, e.g. 'files.example.com'")
    zone_id: str = setting(doc="Cloudflare zone id (32 hex) that holds the hostname")
    enabled: bool = setting(True, doc="false declares the domain but serves nothing")
    min_tls: Literal["1.2", "1.3"] = setting("1.2", doc="minimum TLS version")

    def check(self, path: str, problems: Problems) -> None:
        if not _HOSTNAME.match(self.domain):
            problems.add(
                join(path, "domain"),
                f"{self.domain!r} is not a hostname; accepted: e.g. 'files.example.com'",
            )
        if not _ZONE_ID.match(self.zone_id):
            problems.add(
                join(path, "zoneId"), f"{self.zone_id!r} is not a zone id; accepted: 32 hex digits"
            )


@dataclass(frozen=True, kw_only=True)
class R2Bucket:
    name: str = setting(doc="bucket name (no dots)", check=check_r2_bucket_name)
    location: Literal["apac", "eeur", "enam", "weur", "wnam", "oc"] | None = setting(
        None, doc="location hint, honoured at creation only; null = nearest to the creator"
    )
    jurisdiction: R2Jurisdiction = setting("default", doc="data residency; selects the S3 endpoint")
    storage_class: Literal["Standard", "InfrequentAccess"] = setting(
        "Standard", doc="default storage class of new objects"
    )
    lifecycle: tuple[R2LifecycleRule, ...] = setting((), doc="lifecycle rules")
    abort_incomplete_multipart_days: int = setting(
        7, doc="abort multipart uploads left incomplete this many days (whole bucket)"
    )
    cors: tuple[CorsRule, ...] = setting((), doc="CORS rules (e.g. browser PUT uploads)")
    custom_domain: R2CustomDomain | None = setting(None, doc="public hostname on a zone")
    public_dev_url: bool = setting(
        False, doc="the rate-limited public https://pub-<hash>.r2.dev URL; off unless opted in"
    )
    protect: bool = setting(True, doc="refuse `pulumi destroy`/deletion of the bucket")

    def check(self, path: str, problems: Problems) -> None:
        check_bucket_lifecycle(self, path, problems)
        for i, rule in enumerate(self.cors):
            for j, method in enumerate(rule.allowed_methods):
                if method == "POST":
                    problems.add(
                        f"{join(path, 'cors')}[{i}].allowedMethods[{j}]",
                        "'POST' is useless on R2, which does not support presigned POST; "
                        "accepted: GET, PUT, DELETE, HEAD",
                    )


@dataclass(frozen=True, kw_only=True)
class R2Token:
    buckets: tuple[str, ...] = setting(doc="keys of this app's `r2` buckets the token may use")
    access: Literal["read", "read-write"] = setting(doc="object access on those buckets")
    generations: tuple[str, ...] = setting(
        doc="live key generations, oldest first, e.g. [2026q3, 2026q4]; the last is active"
    )
    rotated_on: str | None = setting(
        None, doc="day the active generation was added (YYYY-MM-DD; `ops keys rotate` sets it)"
    )
    owner: Literal["account", "user"] = setting(
        "account", doc="account tokens outlive the person who created them"
    )
    allow_ips: tuple[str, ...] = setting((), doc="only these client CIDRs may use the key")
    deny_ips: tuple[str, ...] = setting((), doc="these client CIDRs may not use the key")
    not_before: str | None = setting(None, doc="RFC 3339 time before which the key is invalid")
    expires_on: str | None = setting(None, doc="RFC 3339 time from which the key is invalid")
    services: tuple[str, ...] = setting((), doc="services that receive this key (env export)")

    def check(self, path: str, problems: Problems) -> None:
        if not self.buckets:
            problems.add(join(path, "buckets"), "is empty; accepted: at least one bucket key")
        gens = join(path, "generations")
        if not 1 <= len(self.generations) <= 2:
            problems.add(
                gens,
                f"{list(self.generations)!r} has {len(self.generations)} generations; accepted: "
                "1 (steady state) or 2 (during a rotation)",
            )
        for i, label in enumerate(self.generations):
            if not _GENERATION.match(label):
                problems.add(
                    f"{gens}[{i}]",
                    f"{label!r} is not a generation label; accepted: YYYYqN with an optional "
                    "letter for an extra rotation, e.g. '2026q4' or '2026q4b'",
                )
        if len(set(self.generations)) != len(self.generations):
            problems.add(gens, f"{list(self.generations)!r} lists a generation twice")
        elif all(_GENERATION.match(g) for g in self.generations):
            keys = [generation_key(g) for g in self.generations]
            if keys != sorted(keys):
                problems.add(
                    gens,
                    f"{list(self.generations)!r} is out of order; accepted: oldest first, "
                    "the active (newest) generation last",
                )
        if self.rotated_on is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", self.rotated_on):
            problems.add(
                join(path, "rotatedOn"), f"{self.rotated_on!r} is not a date; accepted: YYYY-MM-DD"
            )
        for key, values in (("allowIps", self.allow_ips), ("denyIps", self.deny_ips)):
            for i, cidr in enumerate(values):
                check_cidr(cidr, f"{join(path, key)}[{i}]", problems)
        check_rfc3339(self.not_before, join(path, "notBefore"), problems)
        check_rfc3339(self.expires_on, join(path, "expiresOn"), problems)
        if self.not_before and self.expires_on and self.not_before >= self.expires_on:
            problems.add(
                join(path, "expiresOn"),
                f"{self.expires_on!r} is not after notBefore ({self.not_before})",
            )

    @property
    def active(self) -> str:
        return self.generations[-1]


@dataclass(frozen=True, kw_only=True)
class CloudflareSettings:
    account_id: str = setting(doc="Cloudflare account id (32 hex) owning the R2 buckets")

    def check(self, path: str, problems: Problems) -> None:
        if not _ZONE_ID.match(self.account_id):
            problems.add(
                join(path, "accountId"),
                f"{self.account_id!r} is not an account id; accepted: 32 lowercase hex digits",
            )


@dataclass(frozen=True, kw_only=True)
class KeyRotation:
    max_age_days: int = setting(92, doc="an active key older than this fails `ops keys status`")
    grace_days: int = setting(14, doc="days a retired generation may stay live after the rotation")


# ------------------------------------------------------------------------------ CloudFront

#: Viewer TLS policies at or above TLSv1.2_2021 (older ones allow TLS 1.0/1.1 or weak ciphers).
CLOUDFRONT_TLS_POLICIES = ("TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025")
_CLOUDFRONT_OLD_TLS = (
    "SSLv3",
    "TLSv1",
    "TLSv1_2016",
    "TLSv1.1_2016",
    "TLSv1.2_2018",
    "TLSv1.2_2019",
)
_ACM_ARN = re.compile(r"^arn:aws:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")
_WAF_ARN = re.compile(r"^arn:aws:wafv2:us-east-1:\d{12}:global/webacl/[\w-]+/[0-9a-f-]{36}$")
_PATH_PATTERN = re.compile(r"^[A-Za-z0-9_\-.*$/~\"'@:+&=]+$")
_R53_ZONE = re.compile(r"^Z[A-Z0-9]{1,31}$")


def check_acm_arn(value: str | None, path: str, problems: Problems) -> None:
    if value is None:
        return
    match = _ACM_ARN.match(value)
    if match is None:
        problems.add(
            path,
            f"{value!r} is not an ACM certificate ARN; accepted: "
            "'arn:aws:acm:us-east-1:<account>:certificate/<uuid>'",
        )
    elif match[1] != "us-east-1":
        problems.add(
            path,
            f"{value!r} is in {match[1]}; CloudFront only uses certificates in us-east-1",
        )


def check_path_pattern(value: str, path: str, problems: Problems) -> None:
    accepted = "e.g. '*/thumbnails/*' or 'videos/*': no spaces, no leading '/' needed, <= 255 chars"
    if not value or len(value) > 255 or not _PATH_PATTERN.match(value) or "**" in value:
        problems.add(path, f"{value!r} is not a CloudFront path pattern; accepted: {accepted}")


def check_ttls(obj: Any, path: str, problems: Problems) -> None:
    if obj.min_ttl < 0:
        problems.add(join(path, "minTtl"), f"{obj.min_ttl!r} is negative; accepted: >= 0")
    if not obj.min_ttl <= obj.default_ttl <= obj.max_ttl:
        problems.add(
            join(path, "defaultTtl"),
            f"TTLs min {obj.min_ttl} / default {obj.default_ttl} / max {obj.max_ttl} are not "
            "ordered; accepted: minTtl <= defaultTtl <= maxTtl (seconds)",
        )


@dataclass(frozen=True, kw_only=True)
class _Caching:
    """What every cache behaviour sets: TTLs in seconds and compression."""

    min_ttl: int = setting(0, doc="seconds")
    default_ttl: int = setting(
        86_400, doc="seconds (1 day), used when the origin sends no Cache-Control"
    )
    max_ttl: int = setting(31_536_000, doc="seconds (1 year)")
    compress: bool = setting(True, doc="gzip/brotli for compressible content")

    def check(self, path: str, problems: Problems) -> None:
        check_ttls(self, path, problems)


@dataclass(frozen=True, kw_only=True)
class CacheBehavior(_Caching):
    path_pattern: str = setting(
        doc="which request paths, e.g. '*/thumbnails/*'", check=check_path_pattern
    )
    origin: str | None = setting(None, doc="key of the origin bucket; null = the first origin")
    allowed_methods: Literal["GET,HEAD", "GET,HEAD,OPTIONS"] = setting(
        "GET,HEAD", doc="methods passed to the origin (read-only)"
    )


@dataclass(frozen=True, kw_only=True)
class DefaultBehavior(_Caching):
    allowed_methods: Literal["GET,HEAD", "GET,HEAD,OPTIONS"] = setting(
        "GET,HEAD,OPTIONS", doc="methods passed to the origin (read-only)"
    )


@dataclass(frozen=True, kw_only=True)
class Certificate:
    arn: str | None = setting(
        None, doc="existing ACM certificate in us-east-1; null creates one", check=check_acm_arn
    )
    route53_zone_id: str | None = setting(
        None, doc="to create one: Route 53 zone for the DNS validation records"
    )

    def check(self, path: str, problems: Problems) -> None:
        if (self.arn is None) == (self.route53_zone_id is None):
            problems.add(
                path,
                "set exactly one of arn (an existing certificate) and route53ZoneId (create one "
                "with DNS validation)",
            )
        if self.route53_zone_id is not None and not _R53_ZONE.match(self.route53_zone_id):
            problems.add(
                join(path, "route53ZoneId"),
                f"{self.route53_zone_id!r} is not a Route 53 zone id; "
                "accepted: e.g. 'Z0123456789ABC'",
            )


@dataclass(frozen=True, kw_only=True)
class CdnLogs:
    bucket: str = setting(doc="key of the logs bucket in the same app's `s3` map")
    prefix: str | None = setting(None, doc="key prefix; null = 'cloudfront/<cdn key>/'")


@dataclass(frozen=True, kw_only=True)
class Cdn:
    origins: tuple[str, ...] = setting(
        doc="keys of this app's `s3` buckets; the first is the default"
    )
    access: Literal["oai", "oac"] = setting(
        "oai", doc="origin access identity, or origin access control (needed for SSE-KMS)"
    )
    aliases: tuple[str, ...] = setting((), doc="hostnames served (need a certificate)")
    certificate: Certificate | None = setting(None, doc="certificate for the aliases")
    minimum_tls_version: str = setting("TLSv1.2_2021", doc="viewer TLS policy floor")
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = setting(
        "PriceClass_200", doc="edge locations used (200: Asia, Europe, North America)"
    )
    http_version: Literal["http2", "http2and3"] = setting("http2and3", doc="HTTP versions")
    ipv6: bool = setting(True, doc="serve over IPv6 too")
    default_behavior: DefaultBehavior = setting(
        factory=DefaultBehavior, doc="default cache behaviour"
    )
    behaviors: tuple[CacheBehavior, ...] = setting(
        (), doc="ordered cache behaviours, first match wins"
    )
    access_logs: CdnLogs | None = setting(None, doc="standard logs (v2) into an S3 bucket")
    web_acl_arn: str | None = setting(None, doc="WAFv2 web ACL (scope CLOUDFRONT, us-east-1)")
    comment: str = setting("", doc="shown in the console")

    def check(self, path: str, problems: Problems) -> None:
        if not self.origins:
            problems.add(join(path, "origins"), "is empty; accepted: at least one bucket key")
        if len(set(self.origins)) != len(self.origins):
            problems.add(join(path, "origins"), f"{list(self.origins)!r} lists a bucket twice")
        tls = self.minimum_tls_version
        if tls in _CLOUDFRONT_OLD_TLS:
            problems.add(
                join(path, "minimumTlsVersion"),
                f"{tls!r} is below TLSv1.2_2021; accepted: {', '.join(CLOUDFRONT_TLS_POLICIES)}",
            )
        elif tls not in CLOUDFRONT_TLS_POLICIES:
            problems.add(
                join(path, "minimumTlsVersion"),
                f"{tls!r} is not a CloudFront TLS policy; accepted: "
                f"{', '.join(CLOUDFRONT_TLS_POLICIES)}",
            )
        if self.aliases and self.certificate is None:
            problems.add(
                join(path, "certificate"),
                f"aliases {list(self.aliases)!r} need a certificate; accepted: certificate.arn "
                "or certificate.route53ZoneId",
            )
        if self.certificate is not None and not self.aliases:
            problems.add(join(path, "aliases"), "a certificate is set but no aliases use it")
        for i, alias in enumerate(self.aliases):
            if not _HOSTNAME.match(alias.removeprefix("*.")):
                problems.add(f"{join(path, 'aliases')}[{i}]", f"{alias!r} is not a hostname")
        patterns = [b.path_pattern for b in self.behaviors]
        for dup in sorted({p for p in patterns if patterns.count(p) > 1}):
            problems.add(join(path, "behaviors"), f"path pattern {dup!r} is used twice")
        for i, behavior in enumerate(self.behaviors):
            if behavior.origin is not None and behavior.origin not in self.origins:
                problems.add(
                    f"{join(path, 'behaviors')}[{i}].origin",
                    f"{behavior.origin!r} is not one of this CDN's origins; accepted: "
                    f"{', '.join(self.origins)}",
                )
        if self.web_acl_arn is not None and not _WAF_ARN.match(self.web_acl_arn):
            problems.add(
                join(path, "webAclArn"),
                f"{self.web_acl_arn!r} is not a CloudFront-scope WAFv2 web ACL ARN; accepted: "
                "'arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>'",
            )


# ------------------------------------------------------------------------------------ EFS

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
    protect: bool = setting(True, doc="refuse `pulumi destroy`/deletion of the file system")

    def check(self, path: str, problems: Problems) -> None:
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


# ---------------------------------------------------------------------- usage (cost)

S3StorageClass = Literal[
    "STANDARD",
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
]


def _non_negative(obj: Any, path: str, problems: Problems, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value < 0:
            problems.add(join(path, camel(name)), f"{value!r} is negative; accepted: >= 0")


@dataclass(frozen=True, kw_only=True)
class S3Usage:
    gb: dict[S3StorageClass, float] = setting(
        factory=dict, doc="GB-months stored per storage class, e.g. {STANDARD: 1000}"
    )
    put_requests: int = setting(0, doc="PUT/COPY/POST/LIST requests per month")
    get_requests: int = setting(0, doc="GET requests per month")
    egress_gb: float = setting(0, doc="GB per month served to the internet from S3 directly")

    def check(self, path: str, problems: Problems) -> None:
        _non_negative(self, path, problems, "put_requests", "get_requests", "egress_gb")
        for cls, gb in self.gb.items():
            if gb < 0:
                problems.add(f"{join(path, 'gb')}.{cls}", f"{gb!r} is negative; accepted: >= 0")


@dataclass(frozen=True, kw_only=True)
class EfsUsage:
    gb: float = setting(doc="GB-months stored")
    ia_share: float = setting(0.0, doc="fraction of it in Infrequent Access, 0-1")

    def check(self, path: str, problems: Problems) -> None:
        _non_negative(self, path, problems, "gb")
        if not 0 <= self.ia_share <= 1:
            problems.add(join(path, "iaShare"), f"{self.ia_share!r} is out of range; accepted: 0-1")


@dataclass(frozen=True, kw_only=True)
class CdnUsage:
    egress_gb: float = setting(doc="GB per month served to viewers")
    https_requests: int = setting(0, doc="HTTPS requests per month")

    def check(self, path: str, problems: Problems) -> None:
        _non_negative(self, path, problems, "egress_gb", "https_requests")


@dataclass(frozen=True, kw_only=True)
class R2Usage:
    gb: float = setting(doc="GB-months stored (Standard)")
    ia_gb: float = setting(0, doc="GB-months stored in Infrequent Access")
    class_a: int = setting(0, doc="Class A operations per month (PUT, LIST, ...)")
    class_b: int = setting(0, doc="Class B operations per month (GET, HEAD)")

    def check(self, path: str, problems: Problems) -> None:
        _non_negative(self, path, problems, "gb", "ia_gb", "class_a", "class_b")


@dataclass(frozen=True, kw_only=True)
class Usage:
    s3: dict[str, S3Usage] = setting(factory=dict, doc="per S3 bucket key")
    efs: dict[str, EfsUsage] = setting(factory=dict, doc="per EFS key")
    cdn: dict[str, CdnUsage] = setting(factory=dict, doc="per CDN key")
    r2: dict[str, R2Usage] = setting(factory=dict, doc="per R2 bucket key")


@dataclass(frozen=True, kw_only=True)
class CostSettings:
    price_sheet: str = setting(
        "public-2026-11", doc="price sheet in ops/prices/ (`seeds` reproduces the seeds' tables)"
    )
    r2_free_tier: bool = setting(True, doc="subtract R2's monthly free tier (once per account)")


# ----------------------------------------------------------------------------- the stack


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    description: str = setting("", doc="what the application is, for people reading the plan")
    s3: dict[str, S3Bucket] = setting(factory=dict, doc="AWS S3 data buckets by key")
    r2: dict[str, R2Bucket] = setting(factory=dict, doc="Cloudflare R2 buckets by key")
    r2_tokens: dict[str, R2Token] = setting(
        factory=dict, doc="bucket-scoped R2 API tokens (S3 keys) by key"
    )
    cdn: dict[str, Cdn] = setting(factory=dict, doc="CloudFront distributions over `s3` buckets")
    efs: dict[str, Efs] = setting(factory=dict, doc="encrypted EFS file systems by key")
    usage: Usage = setting(factory=Usage, doc="monthly usage assumptions for the cost estimate")


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """The project-namespace keys (`storage-platform:<key>`)."""

    apps: dict[str, AppConfig] = setting(doc="the applications and the storage each uses")
    tags: dict[str, str] = setting(factory=dict, doc="tags added to every taggable resource")
    cloudflare: CloudflareSettings | None = setting(
        None, doc="required when any app declares R2 buckets"
    )
    key_rotation: KeyRotation = setting(factory=KeyRotation, doc="R2 key age policy")
    cost: CostSettings = setting(factory=CostSettings, doc="cost estimate settings")


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    project: str
    stack: str
    aws_region: str
    apps: dict[str, AppConfig]
    tags: dict[str, str]
    cloudflare: CloudflareSettings | None = None
    key_rotation: KeyRotation = KeyRotation()
    cost: CostSettings = CostSettings()


def _check_r2(cfg: StackSettings, problems: Problems) -> None:
    r2_names: dict[tuple[str, str], str] = {}
    for app, app_cfg in cfg.apps.items():
        if app_cfg.r2 and cfg.cloudflare is None:
            problems.add(
                "cloudflare.accountId",
                f"required key is missing (app {app!r} declares R2 buckets)",
            )
        for key, bucket in app_cfg.r2.items():
            path = f"apps.{app}.r2.{key}"
            if not _SLUG.match(key):
                problems.add(path, f"bucket key {key!r} is not a slug; accepted: 2-40 of a-z 0-9 -")
            owner = r2_names.setdefault((bucket.jurisdiction, bucket.name), f"{path}.name")
            if owner != f"{path}.name":
                problems.add(
                    f"{path}.name", f"R2 bucket {bucket.name!r} is already used by {owner}"
                )
        for key, token in app_cfg.r2_tokens.items():
            path = f"apps.{app}.r2Tokens.{key}"
            if not _SLUG.match(key):
                problems.add(path, f"token key {key!r} is not a slug; accepted: 2-40 of a-z 0-9 -")
            for i, ref in enumerate(token.buckets):
                if ref not in app_cfg.r2 and f"apps.{app}.r2.{ref}" not in problems.broken:
                    problems.add(
                        f"{path}.buckets[{i}]",
                        f"{ref!r} is not an R2 bucket of app {app!r}; accepted: "
                        f"{', '.join(sorted(app_cfg.r2)) or 'none declared'}",
                    )


def _check_cdn(cfg: StackSettings, aws_region: str, problems: Problems) -> None:
    for app, app_cfg in cfg.apps.items():
        for key, cdn in app_cfg.cdn.items():
            path = f"apps.{app}.cdn.{key}"
            for i, origin in enumerate(cdn.origins):
                bucket = app_cfg.s3.get(origin)
                if bucket is None:
                    if f"apps.{app}.s3.{origin}" not in problems.broken:
                        problems.add(
                            f"{path}.origins[{i}]",
                            f"{origin!r} is not an S3 bucket of app {app!r}; accepted: "
                            f"{', '.join(sorted(app_cfg.s3)) or 'none declared'}",
                        )
                elif cdn.access == "oai" and bucket.encryption.type == "sse-kms":
                    problems.add(
                        f"{path}.access",
                        f"'oai' cannot read origin {origin!r}, which is SSE-KMS encrypted (an "
                        "origin access identity cannot use KMS); accepted: access 'oac', or "
                        "sse-s3 on the bucket",
                    )
            logs = cdn.access_logs
            if logs is not None and logs.bucket not in app_cfg.s3:
                problems.add(
                    f"{path}.accessLogs.bucket",
                    f"{logs.bucket!r} is not an S3 bucket of app {app!r}",
                )
        for key, efs in app_cfg.efs.items():
            if not _SLUG.match(key):
                problems.add(f"apps.{app}.efs.{key}", f"key {key!r} is not a slug")
            for i, subnet in enumerate(efs.subnets):
                if not subnet.az.startswith(aws_region):
                    problems.add(
                        f"apps.{app}.efs.{key}.subnets[{i}].az",
                        f"{subnet.az!r} is not in aws:region {aws_region!r}",
                    )


def _check_usage(cfg: StackSettings, problems: Problems) -> None:
    for app, app_cfg in cfg.apps.items():
        for kind, declared in (
            ("s3", app_cfg.s3),
            ("efs", app_cfg.efs),
            ("cdn", app_cfg.cdn),
            ("r2", app_cfg.r2),
        ):
            for key in getattr(app_cfg.usage, kind):
                if key not in declared:
                    problems.add(
                        f"apps.{app}.usage.{kind}.{key}",
                        f"{key!r} is not a declared {kind} resource of app {app!r}; accepted: "
                        f"{', '.join(sorted(declared)) or 'none declared'}",
                    )


def _check_stack(cfg: StackSettings, aws_region: str, problems: Problems) -> None:
    _check_r2(cfg, problems)
    _check_usage(cfg, problems)
    _check_cdn(cfg, aws_region, problems)
    names: dict[str, str] = {}

    def claim(name: str, path: str) -> None:
        if name in names:
            problems.add(path, f"bucket name {name!r} is already used by {names[name]}")
        else:
            names[name] = path

    for app, app_cfg in cfg.apps.items():
        app_path = f"apps.{app}"
        if not _SLUG.match(app):
            problems.add(
                app_path,
                f"app name {app!r} is not a slug; accepted: 2-40 lowercase letters, digits, '-'",
            )
        for key, bucket in app_cfg.s3.items():
            path = f"{app_path}.s3.{key}"
            if not _SLUG.match(key):
                problems.add(path, f"bucket key {key!r} is not a slug; accepted: 2-40 of a-z 0-9 -")
            claim(bucket.name, f"{path}.name")
            if bucket.replication is not None:
                claim(bucket.replication.bucket, f"{path}.replication.bucket")
                if bucket.replication.region == aws_region:
                    problems.add(
                        f"{path}.replication.region",
                        f"{aws_region!r} is the source bucket's region (aws:region); accepted: "
                        "any other region",
                    )
            logs = bucket.access_logs
            if logs is not None:
                target = app_cfg.s3.get(logs.bucket)
                if target is None and f"{app_path}.s3.{logs.bucket}" in problems.broken:
                    pass
                elif target is None:
                    others = sorted(k for k in app_cfg.s3 if k != key)
                    problems.add(
                        f"{path}.accessLogs.bucket",
                        f"{logs.bucket!r} is not a bucket of app {app!r}; accepted: "
                        f"{', '.join(others) or 'none declared'}",
                    )
                elif logs.bucket == key:
                    problems.add(f"{path}.accessLogs.bucket", "a bucket cannot log into itself")
                elif target.encryption.type != "sse-s3":
                    problems.add(
                        f"{path}.accessLogs.bucket",
                        f"{logs.bucket!r} uses {target.encryption.type}; S3 server access logs "
                        "can only be delivered to an SSE-S3 bucket",
                    )
                elif target.access_logs is not None:
                    problems.add(
                        f"{path}.accessLogs.bucket",
                        f"{logs.bucket!r} itself logs into another bucket; accepted: a logs "
                        "bucket without accessLogs",
                    )


def parse_stack_config(
    raw: dict[str, Any], *, aws_region: str | None, stack: str, project: str = PROJECT
) -> StackConfig:
    """Validate the project-namespace config (`raw`: key without namespace -> parsed value)."""
    problems = Problems()
    if aws_region is None:
        problems.add("aws:region", "required key is missing; accepted: e.g. 'ap-northeast-2'")
    else:
        check_region(aws_region, "aws:region", problems)
    settings = parse(StackSettings, raw, "", problems)
    if settings is not None and aws_region is not None:
        _check_stack(settings, aws_region, problems)
    elif settings is None and not problems:
        problems.add("(root)", "the config could not be read")
    problems.raise_if_any()
    assert settings is not None and aws_region is not None
    return StackConfig(
        project=project,
        stack=stack,
        aws_region=aws_region,
        apps=settings.apps,
        tags=settings.tags,
        cloudflare=settings.cloudflare,
        key_rotation=settings.key_rotation,
        cost=settings.cost,
    )


def load() -> StackConfig:
    """Read the running stack's config through `pulumi.Config` (the only place that does)."""
    import json

    import pulumi
    from pulumi.runtime import config as runtime_config

    project = pulumi.get_project()
    prefix = f"{project}:"
    # Every key of our namespace, so typos at the top level are caught too. The engine hands
    # config to the program as the PULUMI_CONFIG JSON (real CLI and offline plan alike).
    present = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    cfg = pulumi.Config()
    raw: dict[str, Any] = {}
    for full_key in sorted(present):
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        text = cfg.get(key)
        try:
            raw[key] = json.loads(text) if text is not None else None
        except json.JSONDecodeError:
            raw[key] = text  # a plain string value
    return parse_stack_config(
        raw,
        aws_region=pulumi.Config("aws").get("region"),
        stack=pulumi.get_stack(),
        project=project,
    )
