"""Cloudflare R2 buckets, bucket-scoped tokens and their rotation policy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from components.config.adoption import R2Import, check_adopted_protected
from components.config.common import (
    HOSTNAME,
    ZONE_ID,
    CorsRule,
    at_least,
    check_bucket_lifecycle,
    check_cidr,
    check_date,
    check_rfc3339,
    in_range,
    parse_time,
)
from components.schema import Problems, join, setting

_R2_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
#: ASCII only (`\d` would take full-width digits), matched whole (`$` allows a newline).
_GENERATION = re.compile(r"([0-9]{4})q([1-4])([a-z]?)", re.ASCII)
GENERATION_ACCEPTED = (
    "YYYYqN with an optional lowercase letter for an extra rotation, e.g. '2026q4' or '2026q4b'"
)

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


def is_generation(label: str) -> bool:
    return _GENERATION.fullmatch(label) is not None


def generation_key(label: str) -> tuple[int, int, str]:
    """Order of generation labels: `2026q3` < `2026q4` < `2026q4b` < `2027q1`."""
    match = _GENERATION.fullmatch(label)
    if match is None:
        raise ValueError(f"{label!r} is not a generation label; accepted: {GENERATION_ACCEPTED}")
    return int(match[1]), int(match[2]), match[3]


def check_hostname(value: str, path: str, problems: Problems) -> None:
    if not HOSTNAME.match(value):
        problems.add(path, f"{value!r} is not a hostname; accepted: e.g. 'files.example.com'")


def check_zone_id(value: str, path: str, problems: Problems) -> None:
    if not ZONE_ID.match(value):
        problems.add(path, f"{value!r} is not a Cloudflare id; accepted: 32 lowercase hex digits")


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
    domain: str = setting(
        doc="hostname served from the bucket, e.g. 'files.example.com'", check=check_hostname
    )
    zone_id: str = setting(
        doc="Cloudflare zone id (32 hex) that holds the hostname", check=check_zone_id
    )
    enabled: bool = setting(True, doc="false declares the domain but serves nothing")
    min_tls: Literal["1.2", "1.3"] = setting("1.2", doc="minimum TLS version")


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
    import_: R2Import | None = setting(
        None,
        key="import",
        doc="the bucket exists already: adopt it ({} is enough: its id derives from the "
        "account, name and jurisdiction); null creates it",
    )

    def check(self, path: str, problems: Problems) -> None:
        check_bucket_lifecycle(self, path, problems)
        if self.import_ is not None:
            check_adopted_protected(self.protect, path, problems)
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
        None,
        doc="day the active generation was added (YYYY-MM-DD; `ops keys rotate` sets it)",
        check=check_date,
    )
    owner: Literal["account", "user"] = setting(
        "account", doc="account tokens outlive the person who created them"
    )
    allow_ips: tuple[str, ...] = setting((), doc="only these client CIDRs may use the key")
    deny_ips: tuple[str, ...] = setting((), doc="these client CIDRs may not use the key")
    not_before: str | None = setting(
        None, doc="RFC 3339 time before which the key is invalid", check=check_rfc3339
    )
    expires_on: str | None = setting(
        None,
        doc="RFC 3339 time from which the key is invalid (not in the past)",
        check=check_rfc3339,
    )
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
            if not is_generation(label):
                problems.add(
                    f"{gens}[{i}]",
                    f"{label!r} is not a generation label; accepted: {GENERATION_ACCEPTED}",
                )
        if len(set(self.generations)) != len(self.generations):
            problems.add(
                gens,
                f"{list(self.generations)!r} lists a generation twice; accepted: distinct labels",
            )
        elif all(is_generation(g) for g in self.generations):
            keys = [generation_key(g) for g in self.generations]
            if keys != sorted(keys):
                problems.add(
                    gens,
                    f"{list(self.generations)!r} is out of order; accepted: oldest first, "
                    "the active (newest) generation last",
                )
        for key, values in (("allowIps", self.allow_ips), ("denyIps", self.deny_ips)):
            for i, cidr in enumerate(values):
                check_cidr(cidr, f"{join(path, key)}[{i}]", problems)
        start, end = parse_time(self.not_before), parse_time(self.expires_on)
        if start is not None and end is not None and start >= end:
            problems.add(
                join(path, "expiresOn"),
                f"{self.expires_on!r} is not after notBefore {self.not_before!r} (compared as "
                "instants, time zones included); accepted: an expiresOn after notBefore",
            )

    @property
    def active(self) -> str:
        return self.generations[-1]


@dataclass(frozen=True, kw_only=True)
class CloudflareSettings:
    account_id: str = setting(
        doc="Cloudflare account id (32 hex) owning the R2 buckets", check=check_zone_id
    )


@dataclass(frozen=True, kw_only=True)
class KeyRotation:
    max_age_days: int = setting(
        92,
        doc="days; an active key older than this fails `ops keys status`",
        check=in_range(1, 3660, " days"),
    )
    grace_days: int = setting(
        14,
        doc="days a retired generation may stay live after the rotation",
        check=at_least(0, " days"),
    )
    min_overlap_days: int = setting(
        7,
        doc="days; `ops keys retire` refuses while the active generation is younger, so that "
        "`pulumi up` and every service's redeploy fit in between",
        check=at_least(0, " days"),
    )

    def check(self, path: str, problems: Problems) -> None:
        if 0 <= self.grace_days < self.min_overlap_days:
            problems.add(
                join(path, "minOverlapDays"),
                f"{self.min_overlap_days} is more than graceDays ({self.grace_days}): the old "
                "key would be past its grace before it may be retired; accepted: <= graceDays",
            )
