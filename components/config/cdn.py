"""CloudFront distributions over S3 origins."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from components.config.adoption import CdnImport
from components.config.common import HOSTNAME
from components.config.names import CLOUDFRONT_COMMENT
from components.schema import Problems, join, setting

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
            f"{value!r} is in {match[1]}; CloudFront only uses certificates in us-east-1; "
            "accepted: 'arn:aws:acm:us-east-1:<account>:certificate/<uuid>'",
        )


def check_path_pattern(value: str, path: str, problems: Problems) -> None:
    accepted = "e.g. '*/thumbnails/*' or 'videos/*': no spaces, no leading '/' needed, <= 255 chars"
    if not value or len(value) > 255 or not _PATH_PATTERN.match(value) or "**" in value:
        problems.add(path, f"{value!r} is not a CloudFront path pattern; accepted: {accepted}")


#: CloudFront takes TTLs "from 0 to 3,153,600,000 seconds (100 years)" (CacheBehavior.MaxTTL).
MAX_TTL = 3_153_600_000


def check_ttl(value: int, path: str, problems: Problems) -> None:
    if not 0 <= value <= MAX_TTL:
        problems.add(
            path,
            f"{value!r} is out of range; accepted: 0-{MAX_TTL} seconds (CloudFront's limit, "
            "100 years)",
        )


def check_tls_policy(tls: str, path: str, problems: Problems) -> None:
    policies = ", ".join(CLOUDFRONT_TLS_POLICIES)
    if tls in _CLOUDFRONT_OLD_TLS:
        problems.add(path, f"{tls!r} is below TLSv1.2_2021; accepted: {policies}")
    elif tls not in CLOUDFRONT_TLS_POLICIES:
        problems.add(path, f"{tls!r} is not a CloudFront TLS policy; accepted: {policies}")


def check_web_acl_arn(value: str | None, path: str, problems: Problems) -> None:
    if value is not None and not _WAF_ARN.match(value):
        problems.add(
            path,
            f"{value!r} is not a CloudFront-scope WAFv2 web ACL ARN; accepted: "
            "'arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>'",
        )


def check_zone(value: str | None, path: str, problems: Problems) -> None:
    if value is not None and not _R53_ZONE.match(value):
        problems.add(path, f"{value!r} is not a Route 53 zone id; accepted: e.g. 'Z0123456789ABC'")


def check_aliases(aliases: tuple[str, ...], path: str, problems: Problems) -> None:
    for i, alias in enumerate(aliases):
        if not HOSTNAME.match(alias.removeprefix("*.")):
            problems.add(
                f"{path}[{i}]",
                f"{alias!r} is not a hostname; accepted: e.g. 'cdn.example.com' or '*.example.com'",
            )


def check_ttls(obj: Any, path: str, problems: Problems) -> None:
    if not obj.min_ttl <= obj.default_ttl <= obj.max_ttl:
        problems.add(
            join(path, "defaultTtl"),
            f"TTLs min {obj.min_ttl} / default {obj.default_ttl} / max {obj.max_ttl} are not "
            "ordered; accepted: minTtl <= defaultTtl <= maxTtl (seconds)",
        )


@dataclass(frozen=True, kw_only=True)
class _Caching:
    """What every cache behaviour sets: TTLs in seconds and compression."""

    min_ttl: int = setting(0, doc="seconds", check=check_ttl)
    default_ttl: int = setting(
        86_400, doc="seconds (1 day), used when the origin sends no Cache-Control", check=check_ttl
    )
    max_ttl: int = setting(31_536_000, doc="seconds (1 year)", check=check_ttl)
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
        None, doc="to create one: Route 53 zone for the DNS validation records", check=check_zone
    )

    def check(self, path: str, problems: Problems) -> None:
        if (self.arn is None) == (self.route53_zone_id is None):
            problems.add(
                path,
                "accepted: exactly one of arn (an existing certificate) and route53ZoneId "
                "(create one with DNS validation)",
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
        "oac",
        doc="origin access control, or a (legacy) origin access identity, whose grant names "
        "the identity's ARN: unknown until it exists, so a first preview cannot check the "
        "bucket policy unless the identity is adopted (import.originAccessIdentityId); OAI "
        "cannot read SSE-KMS objects",
    )
    aliases: tuple[str, ...] = setting(
        (), doc="hostnames served (need a certificate)", check=check_aliases
    )
    certificate: Certificate | None = setting(None, doc="certificate for the aliases")
    minimum_tls_version: str = setting(
        "TLSv1.2_2021", doc="viewer TLS policy floor", check=check_tls_policy
    )
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
    web_acl_arn: str | None = setting(
        None, doc="WAFv2 web ACL (scope CLOUDFRONT, us-east-1)", check=check_web_acl_arn
    )
    comment: str = setting("", doc="shown in the console (at most 128 characters)")
    import_: CdnImport | None = setting(
        None,
        key="import",
        doc='the distribution exists already: adopt it (README, "Adopting existing '
        'storage"); null creates it',
    )

    def check(self, path: str, problems: Problems) -> None:
        block = self.import_
        if block is not None and self.access == "oai" and block.origin_access_identity_id is None:
            problems.add(
                join(path, "import.originAccessIdentityId"),
                "is missing with access 'oai': the stack would create a new identity and "
                "switch the live distribution and bucket policies to it; accepted: the id of "
                "the OAI the distribution uses today",
            )
        if block is not None and self.access == "oac" and block.origin_access_identity_id:
            problems.add(
                join(path, "import.originAccessIdentityId"),
                f"{block.origin_access_identity_id!r} is set with access 'oac', which uses no "
                "identity; accepted: access 'oai' to keep the distribution's identity, or no "
                'originAccessIdentityId (switching to OAC: README, "Adopting existing '
                'storage")',
            )
        if not self.origins:
            problems.add(join(path, "origins"), "is empty; accepted: at least one bucket key")
        if len(set(self.origins)) != len(self.origins):
            problems.add(
                join(path, "origins"),
                f"{list(self.origins)!r} lists a bucket twice; accepted: each bucket once",
            )
        if self.aliases and self.certificate is None:
            problems.add(
                join(path, "certificate"),
                f"aliases {list(self.aliases)!r} need a certificate; accepted: certificate.arn "
                "or certificate.route53ZoneId",
            )
        if self.certificate is not None and not self.aliases:
            problems.add(
                join(path, "aliases"),
                "a certificate is set but no aliases use it; accepted: the hostnames it "
                "covers, or no certificate",
            )
        patterns = [b.path_pattern for b in self.behaviors]
        for dup in sorted({p for p in patterns if patterns.count(p) > 1}):
            problems.add(
                join(path, "behaviors"),
                f"path pattern {dup!r} is used twice; accepted: one behaviour per pattern",
            )
        for i, behavior in enumerate(self.behaviors):
            if behavior.origin is not None and behavior.origin not in self.origins:
                problems.add(
                    f"{join(path, 'behaviors')}[{i}].origin",
                    f"{behavior.origin!r} is not one of this CDN's origins; accepted: "
                    f"{', '.join(self.origins)}",
                )
        if len(self.comment) > CLOUDFRONT_COMMENT:
            problems.add(
                join(path, "comment"),
                f"is {len(self.comment)} characters; CloudFront allows {CLOUDFRONT_COMMENT}; "
                f"accepted: at most {CLOUDFRONT_COMMENT} characters",
            )
