"""Validators and config classes that several kinds of resource share."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from components.schema import Problems, join, setting

CORS_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")

_AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key/[0-9a-f-]{36}$")
_KMS_ALIAS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:alias/")
SLUG = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
ZONE_ID = re.compile(r"^[0-9a-f]{32}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def check_region(value: str, path: str, problems: Problems) -> None:
    if not _AWS_REGION.match(value):
        problems.add(path, f"{value!r} is not an AWS region; accepted: e.g. 'ap-northeast-2'")


def check_kms_arn(value: str | None, path: str, problems: Problems) -> None:
    """A key ARN. Alias ARNs are refused: the ARN also goes into IAM `Resource` elements (the
    replication and backup roles), where an alias ARN matches the alias, not its key."""
    accepted = "'arn:aws:kms:<region>:<12-digit account>:key/<uuid>'"
    if value is None:
        return
    if _KMS_ALIAS_ARN.match(value):
        problems.add(
            path,
            f"{value!r} is an alias ARN, which IAM policies match as the alias, not its key; "
            f"accepted: the key ARN ({accepted}, `aws kms describe-key --key-id <alias>`)",
        )
    elif not _KMS_ARN.match(value):
        problems.add(path, f"{value!r} is not a KMS key ARN; accepted: {accepted}")


def kms_key_region(arn: str) -> str | None:
    """The region of a KMS key ARN (None if it is not one)."""
    match = _KMS_ARN.match(arn)
    return match[1] if match else None


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


def check_cidr(value: str, path: str, problems: Problems) -> None:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        problems.add(path, f"{value!r} is not a CIDR ({err}); accepted: e.g. '203.0.113.0/24'")


def check_rfc3339(value: str | None, path: str, problems: Problems) -> None:
    if value is not None and not _RFC3339.match(value):
        problems.add(path, f"{value!r} is not an RFC 3339 time; accepted: '2027-01-01T00:00:00Z'")


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
