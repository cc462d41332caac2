"""S3 data buckets: lifecycle, encryption, replication, access logs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from components.config.adoption import S3Import, check_adopted_protected, managed_settings
from components.config.common import (
    CorsRule,
    check_bucket_lifecycle,
    check_kms_arn,
    check_kms_region,
    check_region,
)
from components.schema import Problems, join, setting

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
#: Transitions S3 refuses although they go down the waterfall: One Zone-IA moves on only to
#: GLACIER or DEEP_ARCHIVE (S3 user guide, "Transitioning objects using Amazon S3 Lifecycle").
S3_UNSUPPORTED_TRANSITIONS = {("ONEZONE_IA", "GLACIER_IR")}
#: `transitionMinimumObjectSize`: S3's default skips objects under 128 KB for every class;
#: `varies_by_storage_class` lets them go to GLACIER and DEEP_ARCHIVE only.
TransitionMinimumObjectSize = Literal["all_storage_classes_128K", "varies_by_storage_class"]
SMALL_OBJECT_KB = 128
SMALL_OBJECT_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
S3ReplicaClass = Literal[
    "STANDARD",
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
]

_S3_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap")


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
            problems.add(
                path,
                f"{name!r} starts with the reserved prefix {prefix!r}; accepted: a name "
                f"without the prefixes {', '.join(_S3_RESERVED_PREFIXES)}",
            )
    for suffix in _S3_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            problems.add(
                path,
                f"{name!r} ends with the reserved suffix {suffix!r}; accepted: a name "
                f"without the suffixes {', '.join(_S3_RESERVED_SUFFIXES)}",
            )
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        problems.add(
            path,
            f"{name!r} is formatted like an IP address, which S3 rejects; accepted: {accepted}",
        )


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
    *,
    first_day: int = 0,
) -> None:
    """Days strictly increasing, classes only moving down the waterfall, IA minimums, an
    expiry after the last transition. `first_day`: S3 moves current versions from day 0,
    noncurrent ones ('NoncurrentDays ... must be a positive integer') from day 1."""
    previous: Transition | NoncurrentTransition | None = None
    for i, t in enumerate(transitions):
        here = f"{path}[{i}]"
        if t.days < first_day:
            problems.add(f"{here}.days", f"{t.days!r} is too small; accepted: >= {first_day}")
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
            elif (previous.storage_class, t.storage_class) in S3_UNSUPPORTED_TRANSITIONS:
                problems.add(
                    f"{here}.storageClass",
                    f"{t.storage_class!r} after {previous.storage_class!r} is not a transition "
                    f"S3 supports; accepted after {previous.storage_class}: GLACIER, DEEP_ARCHIVE",
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
            first_day=1,
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
    metrics: bool = setting(
        True,
        doc="S3 Replication metrics (billed as CloudWatch custom metrics): what the replication "
        "alarms watch; RTC needs them",
    )
    batch_report_bucket: str | None = setting(
        None,
        doc="key of this app's SSE-S3 bucket receiving the completion reports of "
        "`ops replicate-existing`; null = the bucket's accessLogs bucket (none: no report)",
    )
    kms_key_arn: str | None = setting(
        None,
        doc="SSE-KMS sources: replica key in the replica region; null creates one",
        check=check_kms_arn,
    )
    import_: S3Import | None = setting(
        None,
        key="import",
        doc='the replica bucket exists already: adopt it (README, "Adopting existing '
        'storage"); null creates it',
    )

    def check(self, path: str, problems: Problems) -> None:
        if self.import_ is not None:
            managed = managed_settings(None, replica=True)
            for i, name in enumerate(self.import_.settings):
                if name not in managed:
                    problems.add(
                        f"{join(path, 'import.settings')}[{i}]",
                        f"{name!r}: the stack gives a replica no {name} configuration to adopt "
                        f"it into; accepted: {', '.join(sorted(managed))}",
                    )
        if self.replication_time_control and not self.metrics:
            problems.add(
                join(path, "metrics"),
                "false with replicationTimeControl true; S3 RTC requires replication metrics, "
                "accepted: metrics true, or replicationTimeControl false",
            )
        check_kms_region(
            self.kms_key_arn,
            self.region,
            "the replica",
            join(path, "kmsKeyArn"),
            problems,
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
    transition_minimum_object_size: TransitionMinimumObjectSize = setting(
        "all_storage_classes_128K",
        doc="S3's default: objects under 128 KB never transition; 'varies_by_storage_class' "
        "lets them move to GLACIER/DEEP_ARCHIVE only",
    )
    typical_object_size_kb: float | None = setting(
        None,
        doc="typical object size, KB (tag typical-object-size-kb): under 128 the policy and "
        "the cost estimate show the transitions such objects never make; null = unknown",
    )
    protect: bool = setting(True, doc="refuse `pulumi destroy`/deletion of the bucket")
    import_: S3Import | None = setting(
        None,
        key="import",
        doc="the bucket exists already: adopt it with the configurations listed (README, "
        '"Adopting existing storage"); null creates it',
    )

    def stays_in_standard(self, storage_class: str) -> bool:
        """Whether the bucket's typical object never makes a transition to `storage_class`
        (objects under 128 KB move to GLACIER/DEEP_ARCHIVE only, and only with
        `varies_by_storage_class`)."""
        size = self.typical_object_size_kb
        if size is None or size >= SMALL_OBJECT_KB or storage_class == "STANDARD":
            return False
        varies = self.transition_minimum_object_size == "varies_by_storage_class"
        return not (varies and storage_class in SMALL_OBJECT_CLASSES)

    def check(self, path: str, problems: Problems) -> None:
        check_bucket_lifecycle(self, path, problems)
        self._check_import(path, problems)
        size = self.typical_object_size_kb
        if size is not None and size <= 0:
            problems.add(
                join(path, "typicalObjectSizeKb"), f"{size!r} is not positive; accepted: > 0"
            )
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
        replica_key = self.replication.kms_key_arn if self.replication is not None else None
        if replica_key is not None and self.encryption.type != "sse-kms":
            problems.add(
                join(path, "replication.kmsKeyArn"),
                f"{replica_key!r} would never be used: the source is {self.encryption.type} "
                "and its replicas are encrypted the same way; accepted: encryption.type "
                "'sse-kms' on the source, or no replication.kmsKeyArn",
            )

    def _check_import(self, path: str, problems: Problems) -> None:
        """Adopted buckets stay protected, and every setting listed as existing has the
        configuration of the stack it is adopted into."""
        adopted = self.import_ is not None or (
            self.replication is not None and self.replication.import_ is not None
        )
        if adopted:
            check_adopted_protected(self.protect, path, problems)
        if self.import_ is None:
            return
        needs = {
            "versioning": "versioning: true",
            "cors": "cors rules",
            "logging": "accessLogs",
            "replication": "a replication block",
        }
        managed = managed_settings(self)
        for i, name in enumerate(self.import_.settings):
            if name not in managed:
                problems.add(
                    f"{join(path, 'import.settings')}[{i}]",
                    f"{name!r} exists on the bucket, but this stack does not manage it (it "
                    f"has no {needs[name]}), so nothing would adopt it; accepted: "
                    f"{needs[name]}, or leave {name!r} out (the bucket keeps it as it is)",
                )
