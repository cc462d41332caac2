"""Validators and config classes that several kinds of resource share."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from components.schema import Problems, did_you_mean, join, setting

CORS_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")

_KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key/[0-9a-f-]{36}$")
_KMS_ALIAS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:alias/")
SLUG = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
ZONE_ID = re.compile(r"^[0-9a-f]{32}$")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@functools.cache
def aws_regions() -> tuple[str, ...]:
    """Every region of every partition in the endpoints data botocore ships (read offline)."""
    from botocore.loaders import create_loader

    data = create_loader().load_data("endpoints")
    return tuple(sorted({r for p in data["partitions"] for r in p["regions"]}))


def check_region(value: str, path: str, problems: Problems) -> None:
    regions = aws_regions()
    if value not in regions:
        problems.add(
            path,
            f"{value!r} is not an AWS region{did_you_mean(value, regions)}; accepted: one of the "
            f"regions botocore knows: {', '.join(regions)}",
        )


def at_least(minimum: int, unit: str = "") -> Callable[[int, str, Problems], None]:
    """A field check: whole numbers from `minimum` up."""

    def check(value: int, path: str, problems: Problems) -> None:
        if value < minimum:
            problems.add(path, f"{value!r} is too small; accepted: >= {minimum}{unit}")

    return check


def in_range(low: float, high: float, unit: str = "") -> Callable[[float, str, Problems], None]:
    """A field check: numbers from `low` to `high`, both included."""
    accepted = f"{_number(low)}-{_number(high)}{unit}"

    def check(value: float, path: str, problems: Problems) -> None:
        if not low <= value <= high:
            problems.add(path, f"{value!r} is out of range; accepted: {accepted}")

    return check


def _number(value: float) -> str:
    """`0.01`, `1000000`: a bound as people write it (`:g` would make 1e+06 of an int)."""
    return str(value) if isinstance(value, int) else f"{value:g}"


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


def kms_key_region(arn: str | None) -> str | None:
    """The region of a KMS key ARN (None if it is not one)."""
    match = _KMS_ARN.match(arn) if arn is not None else None
    return match[1] if match else None


def check_kms_region(
    arn: str | None, region: str | None, why: str, path: str, problems: Problems
) -> None:
    """A KMS key is usable only in its own region: refuse one from elsewhere."""
    key_region = kms_key_region(arn)
    if key_region is not None and region is not None and key_region != region:
        problems.add(
            path,
            f"{arn!r} is a key in {key_region}, but {why} is in {region}; accepted: a key in "
            f"{region} (arn:aws:kms:{region}:...), or null to create one",
        )


_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_ORIGIN_HOST = re.compile(rf"(\*\.)?({_LABEL}\.)*{_LABEL}", re.ASCII)


def check_origin(origin: str, path: str, problems: Problems) -> None:
    """A CORS origin is `*` or `scheme://host[:port]` (one `*.` wildcard allowed), no path:
    exactly what a browser sends in its `Origin` header."""
    if origin == "*":
        return
    accepted = "'*' or 'https://host[:port]' without a path (e.g. 'https://app.example.com')"
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.add(path, f"{origin!r} has no http(s) scheme; accepted: {accepted}")
        return
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        problems.add(path, f"{origin!r} has a path, query or fragment; accepted: {accepted}")
        return
    if origin.endswith("/"):
        problems.add(
            path, f"{origin!r} ends with '/', browsers never send that; accepted: {accepted}"
        )
        return
    if origin.count("*") > 1:
        problems.add(path, f"{origin!r} has more than one '*'; accepted: {accepted}")
        return
    host, sep, port_text = parts.netloc.rpartition(":")
    port: str | None = port_text
    if not sep or "]" in port_text:  # no port (`[::1]` is an IPv6 literal without one)
        host, port = parts.netloc, None
    if port is not None and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        problems.add(path, f"{origin!r} has port {port!r}; accepted: a port 1-65535, or none")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if not _ORIGIN_HOST.fullmatch(host):
            problems.add(
                path,
                f"{origin!r} has host {host!r}, which is not a hostname (no spaces, uppercase "
                f"or '_'); accepted: {accepted}",
            )


def check_cidr(value: str, path: str, problems: Problems) -> None:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        problems.add(path, f"{value!r} is not a CIDR ({err}); accepted: e.g. '203.0.113.0/24'")


def parse_time(value: str | None) -> dt.datetime | None:
    """An RFC 3339 time with its offset (None when it is not one, or not a calendar time)."""
    if value is None or not _RFC3339.fullmatch(value):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_date(value: str | None) -> dt.date | None:
    if value is None or not _DATE.fullmatch(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _check_when(
    value: str | None,
    path: str,
    problems: Problems,
    *,
    form: re.Pattern[str],
    read: Callable[[str], object | None],
    what: str,
    accepted: str,
) -> None:
    """The written form first (`form`), then the calendar (`read` gives None for 02-30)."""
    if value is None:
        return
    if not form.fullmatch(value):
        problems.add(path, f"{value!r} is not {what}; accepted: {accepted}")
    elif read(value) is None:
        problems.add(path, f"{value!r} is not on the calendar; accepted: {accepted}")


def check_rfc3339(value: str | None, path: str, problems: Problems) -> None:
    accepted = "an RFC 3339 time with its zone, e.g. '2027-01-01T00:00:00Z' or '...+09:00'"
    _check_when(
        value,
        path,
        problems,
        form=_RFC3339,
        read=parse_time,
        what="an RFC 3339 time",
        accepted=accepted,
    )


def check_date(value: str | None, path: str, problems: Problems) -> None:
    accepted = "a calendar date YYYY-MM-DD, e.g. '2026-10-01'"
    _check_when(
        value, path, problems, form=_DATE, read=parse_date, what="a date", accepted=accepted
    )


def check_bucket_lifecycle(bucket: Any, path: str, problems: Problems) -> None:
    """What S3 and R2 buckets share: unique rule ids, a sane multipart clean-up age."""
    ids = [rule.id for rule in bucket.lifecycle]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.add(
            join(path, "lifecycle"),
            f"rule id {dup!r} is used twice; accepted: a unique id per rule of the bucket",
        )
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
