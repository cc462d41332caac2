"""Monthly cost estimate from the stack's usage assumptions and a price sheet (data files in
ops/prices/, each with its source and date). Per app, per line, and in total; R2's free tier
is an account-wide credit, applied once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.config import StackConfig
from components.schema import ConfigError

PRICES = Path(__file__).resolve().parent / "prices"


@dataclass(frozen=True)
class PriceSheet:
    name: str
    source: str
    date: str
    prices: dict[str, float]
    r2_free_tier: dict[str, float]
    fallback: PriceSheet | None = None

    def price(self, item: str) -> float:
        if item in self.prices:
            return self.prices[item]
        if self.fallback is not None:
            return self.fallback.price(item)
        raise KeyError(f"price sheet {self.name!r} has no price for {item!r}")


def sheets() -> list[str]:
    return sorted(p.stem for p in PRICES.glob("*.json"))


def load_sheet(name: str) -> PriceSheet:
    if name not in sheets():
        raise KeyError(
            f"no price sheet {name!r}; accepted: {', '.join(sheets())} (files in ops/prices/)"
        )
    path = PRICES / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text())
    fallback = load_sheet(data["fallback"]) if data.get("fallback") else None
    return PriceSheet(
        data["name"], data["source"], data["date"], data["prices"], data["r2_free_tier"], fallback
    )


@dataclass(frozen=True)
class Line:
    app: str
    item: str
    quantity: float
    unit: str
    unit_price: float
    """Dollars per `per` units (per 1,000,000 operations for R2 class A, ...)."""
    amount: float
    per: float = 1.0
    provider: str = "aws"
    """Who bills it: `aws` or `cloudflare` (AWS Budgets see the `aws` lines only)."""

    @property
    def price_text(self) -> str:
        """`$4.50 / 1M ops`, `$0.0045 / 1k requests`, `$0.025 / GB-month`."""
        scale = {1.0: "", 1e3: "1k ", 1e4: "10k ", 1e6: "1M "}.get(self.per, f"{self.per:g} ")
        unit = {"operations": "ops"}.get(self.unit, self.unit)
        return f"{money(self.unit_price, unit_price=True)} / {scale}{unit}"


def money(amount: float, *, unit_price: bool = False) -> str:
    """`$1,234.50`, `-$0.15`; unit prices keep their significant digits (`$0.0045`)."""
    if unit_price:
        digits = f"{abs(amount):.6f}".rstrip("0")
        whole, _, cents = digits.partition(".")
        text = f"{int(whole):,}.{cents.ljust(2, '0')}"
    else:
        text = f"{abs(amount):,.2f}"
    negative = amount < 0 and text.strip("0.,") != ""
    return f"{'-' if negative else ''}${text}"


@dataclass(frozen=True)
class Estimate:
    sheet: PriceSheet
    lines: list[Line]
    free_tier: bool

    def by_app(self, provider: str | None = None) -> dict[str, float]:
        """Monthly amount per app, of one provider's lines when `provider` is given."""
        out: dict[str, float] = {}
        for line in self.lines:
            if provider is None or line.provider == provider:
                out[line.app] = out.get(line.app, 0.0) + line.amount
        return out

    @property
    def total(self) -> float:
        return sum(line.amount for line in self.lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "sheet": {
                "name": self.sheet.name,
                "source": self.sheet.source,
                "date": self.sheet.date,
            },
            "r2FreeTier": self.free_tier,
            "lines": [line.__dict__ for line in self.lines],
            "byApp": {k: round(v, 2) for k, v in self.by_app().items()},
            "total": round(self.total, 2),
        }


def estimate(
    cfg: StackConfig, sheet: PriceSheet | None = None, free_tier: bool | None = None
) -> Estimate:
    if sheet is None:
        try:
            sheet = load_sheet(cfg.cost.price_sheet)
        except KeyError as err:
            raise ConfigError([f"cost.priceSheet: {err.args[0]}"]) from None
    free_tier = cfg.cost.r2_free_tier if free_tier is None else free_tier
    lines: list[Line] = []

    def add(
        app: str, item: str, quantity: float, unit: str, price_key: str, per: float = 1.0
    ) -> None:
        if quantity:
            unit_price = sheet.price(price_key)
            provider = "cloudflare" if price_key.startswith("r2.") else "aws"
            amount = quantity / per * unit_price
            lines.append(
                Line(app, item, quantity, unit, unit_price, amount, per=per, provider=provider)
            )

    r2_totals = {"gb": 0.0, "class_a": 0.0, "class_b": 0.0}
    for app, app_cfg in cfg.apps.items():
        usage = app_cfg.usage
        for key, s3 in usage.s3.items():
            for cls, gb in s3.gb.items():
                add(app, f"S3 {key} {cls}", gb, "GB-month", f"s3.storage.{cls}")
                if app_cfg.s3[key].stays_in_standard(cls):
                    # Objects under 128 KB never make the transition: the difference to
                    # STANDARD's price, on top of the line above.
                    extra = sheet.price("s3.storage.STANDARD") - sheet.price(f"s3.storage.{cls}")
                    lines.append(
                        Line(
                            app,
                            f"S3 {key} {cls}: objects under 128 KB stay STANDARD",
                            gb,
                            "GB-month",
                            extra,
                            gb * extra,
                        )
                    )
            add(app, f"S3 {key} PUT", s3.put_requests, "requests", "s3.put_thousand", 1000)
            add(app, f"S3 {key} GET", s3.get_requests, "requests", "s3.get_thousand", 1000)
            add(app, f"S3 {key} egress", s3.egress_gb, "GB", "s3.egress_gb")
        for key, efs in usage.efs.items():
            add(
                app,
                f"EFS {key} standard",
                efs.standard_gb,
                "GB-month",
                "efs.storage.standard",
            )
            add(app, f"EFS {key} IA", efs.gb * efs.ia_share, "GB-month", "efs.storage.ia")
        for key, cdn in usage.cdn.items():
            add(app, f"CloudFront {key} egress", cdn.egress_gb, "GB", "cloudfront.egress_gb")
            add(
                app,
                f"CloudFront {key} HTTPS",
                cdn.https_requests,
                "requests",
                "cloudfront.https_10k",
                10_000,
            )
        for key, r2 in usage.r2.items():
            add(app, f"R2 {key} storage", r2.gb, "GB-month", "r2.storage.standard")
            add(app, f"R2 {key} IA storage", r2.ia_gb, "GB-month", "r2.storage.ia")
            add(app, f"R2 {key} class A", r2.class_a, "operations", "r2.class_a_million", 1_000_000)
            add(app, f"R2 {key} class B", r2.class_b, "operations", "r2.class_b_million", 1_000_000)
            r2_totals["gb"] += r2.gb
            r2_totals["class_a"] += r2.class_a
            r2_totals["class_b"] += r2.class_b
    if free_tier:
        free = sheet.r2_free_tier
        credits = (
            (
                "storage",
                min(r2_totals["gb"], free["storage_gb"]),
                "GB-month",
                "r2.storage.standard",
                1.0,
            ),
            (
                "class A",
                min(r2_totals["class_a"], free["class_a"]),
                "operations",
                "r2.class_a_million",
                1e6,
            ),
            (
                "class B",
                min(r2_totals["class_b"], free["class_b"]),
                "operations",
                "r2.class_b_million",
                1e6,
            ),
        )
        for what, quantity, unit, key, per in credits:
            if quantity:
                price = sheet.price(key)
                lines.append(
                    Line(
                        "(account)",
                        f"R2 free tier: {what}",
                        -quantity,
                        unit,
                        price,
                        -quantity / per * price,
                        per=per,
                        provider="cloudflare",
                    )
                )
    return Estimate(sheet, lines, free_tier)


def render(est: Estimate) -> str:
    head = (
        f"monthly cost estimate, price sheet {est.sheet.name!r} ({est.sheet.date}; "
        f"R2 free tier {'on' if est.free_tier else 'off'})"
    )
    rows = [("app", "item", "usage", "unit price", "monthly")]
    for line in est.lines:
        rows.append(
            (
                line.app,
                line.item,
                f"{line.quantity:,.0f} {line.unit}",
                line.price_text,
                money(line.amount),
            )
        )
    for app, amount in est.by_app().items():
        rows.append((app, "subtotal", "", "", money(amount)))
    rows.append(("total", "", "", "", money(est.total)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    body = [
        "  ".join(
            c.rjust(widths[i]) if i >= 2 else c.ljust(widths[i]) for i, c in enumerate(r)
        ).rstrip()
        for r in rows
    ]
    return "\n".join([head, *body, f"source: {est.sheet.source}"])
