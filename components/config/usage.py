"""Usage assumptions (per resource, per month) for the cost estimate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from components.schema import Problems, camel, join, setting

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

    @property
    def standard_gb(self) -> float:
        """GB-months in the Standard class (what bursting throughput is earned by)."""
        return self.gb * (1 - self.ia_share)

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
