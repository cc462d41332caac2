"""Cost estimate: the seeds' own tables reproduce from their inputs; sheets carry sources."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from components.config import ConfigError, parse_stack_config
from ops import cost, stackfile

ROOT = stackfile.ROOT


@pytest.fixture(scope="module")
def prod_config() -> Any:
    return stackfile.config(stackfile.load("prod"))


def lines_of(est: cost.Estimate, app: str) -> dict[str, float]:
    return {line.item: round(line.amount, 2) for line in est.lines if line.app == app}


def test_seed_003_table_is_reproduced(prod_config: Any) -> None:
    est = cost.estimate(prod_config, cost.load_sheet("seeds"), free_tier=False)
    assert lines_of(est, "pingvas-studio") == {
        "EFS models standard": 150.00,
        "S3 images STANDARD": 25.00,
        "S3 images GLACIER_IR": 25.00,
        "CloudFront images egress": 85.00,
    }
    assert round(est.by_app()["pingvas-studio"], 2) == 285.00


def test_seed_004_r2_analysis_is_reproduced(prod_config: Any) -> None:
    est = cost.estimate(prod_config, cost.load_sheet("seeds"), free_tier=False)
    assert lines_of(est, "fit-files") == {
        "R2 activities storage": 0.75,
        "R2 activities class A": 0.14,
        "R2 activities class B": 0.04,
    }
    assert round(est.by_app()["fit-files"]) == 1  # "총 비용: ~$1/월"


def test_r2_free_tier_is_one_account_wide_credit(prod_config: Any) -> None:
    sheet = cost.load_sheet("public-2026-11")
    with_free = cost.estimate(prod_config, sheet, free_tier=True)
    without = cost.estimate(prod_config, sheet, free_tier=False)
    credits = [line for line in with_free.lines if line.app == "(account)"]
    assert {line.item for line in credits} == {
        "R2 free tier: storage",
        "R2 free tier: class A",
        "R2 free tier: class B",
    }
    storage = next(line for line in credits if line.item.endswith("storage"))
    assert storage.quantity == -10  # 10 GB-month, once, whatever the number of buckets
    assert with_free.total == pytest.approx(without.total + sum(line.amount for line in credits))
    assert with_free.total < without.total


def test_sheets_carry_source_and_date() -> None:
    for name in cost.sheets():
        sheet = cost.load_sheet(name)
        assert sheet.source and sheet.date, name
    with pytest.raises(
        KeyError,
        match=r"no price sheet 'nope'; accepted: public-2026-11, seeds \(files in ops/prices/\)",
    ):
        cost.load_sheet("nope")


def test_usage_must_name_declared_resources() -> None:
    raw = {
        "apps": {
            "app": {
                "s3": {"data": {"name": "acme-data"}},
                "usage": {"s3": {"photos": {"gb": {"STANDARD": 1}}}},
            }
        }
    }
    with pytest.raises(
        ConfigError,
        match=r"apps.app.usage.s3.photos: 'photos' is not a declared s3 resource of app 'app'; accepted: data",
    ):
        parse_stack_config(raw, aws_region="ap-northeast-2", stack="t")
    raw["apps"]["app"]["usage"] = {"s3": {"data": {"gb": {"STANDARD_FAST": 1}}}}
    with pytest.raises(
        ConfigError, match=r"usage.s3.data.gb.STANDARD_FAST: 'STANDARD_FAST' is not accepted"
    ):
        parse_stack_config(raw, aws_region="ap-northeast-2", stack="t")


def test_cli_json_and_table() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "cost",
            "--stack",
            "prod",
            "--sheet",
            "seeds",
            "--r2-free-tier",
            "off",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(proc.stdout)
    assert data["byApp"]["pingvas-studio"] == 285.0
    assert data["sheet"]["name"] == "seeds"
    table = subprocess.run(
        [sys.executable, "-m", "ops", "cost"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "price sheet 'public-2026-11'" in table and "pingvas-studio  subtotal" in table


def test_the_table_shows_each_unit_price_with_its_unit(prod_config: Any) -> None:
    table = cost.render(cost.estimate(prod_config, cost.load_sheet("public-2026-11"), True))
    assert "$4.50 / 1M ops" in table and "$0.36 / 1M ops" in table
    assert "$0.0045 / 1k requests" in table
    assert "$0.025 / GB-month" in table and "$0.12 / GB " in table
    assert "-$0.15" in table and "-$2.65" in table
    assert "$-" not in table and "$4.5 " not in table


@pytest.mark.parametrize(
    ("amount", "unit_price", "text"),
    [
        (4.5, True, "$4.50"),
        (0.0045, True, "$0.0045"),
        (0.36, True, "$0.36"),
        (1234.5, False, "$1,234.50"),
        (-0.15, False, "-$0.15"),
        (-0.001, False, "$0.00"),
        (0.0, False, "$0.00"),
    ],
)
def test_money(amount: float, unit_price: bool, text: str) -> None:
    assert cost.money(amount, unit_price=unit_price) == text


def test_cloudfront_https_requests_are_priced_per_10k() -> None:
    line = cost.Line("a", "CloudFront x HTTPS", 50_000, "requests", 0.012, 0.06, 10_000)
    assert line.price_text == "$0.012 / 10k requests"


def small_objects(bucket: dict[str, Any], gb: dict[str, float]) -> cost.Estimate:
    raw = {
        "apps": {
            "app": {
                "s3": {"thumbs": {"name": "app-thumbs", **bucket}},
                "usage": {"s3": {"thumbs": {"gb": gb}}},
            }
        }
    }
    cfg = parse_stack_config(raw, aws_region="ap-northeast-2", stack="t")
    return cost.estimate(cfg, cost.load_sheet("seeds"), free_tier=False)


def test_objects_under_128_kb_are_priced_where_they_stay() -> None:
    """Finding 6: seed 003's thumbnails (a few tens of KB) never leave STANDARD, so the
    estimate adds STANDARD's premium over the class the usage assumes."""
    est = small_objects({"typicalObjectSizeKb": 30}, {"INTELLIGENT_TIERING": 1000})
    assert lines_of(est, "app") == {
        "S3 thumbs INTELLIGENT_TIERING": 23.00,
        "S3 thumbs INTELLIGENT_TIERING: objects under 128 KB stay STANDARD": 2.00,
    }
    assert round(est.total, 2) == 25.00, "priced as STANDARD, which they are"


@pytest.mark.parametrize(
    ("bucket", "gb"),
    [
        ({"typicalObjectSizeKb": 500}, {"INTELLIGENT_TIERING": 1000}),
        ({}, {"INTELLIGENT_TIERING": 1000}),
        (
            {"typicalObjectSizeKb": 30, "transitionMinimumObjectSize": "varies_by_storage_class"},
            {"GLACIER": 1000},
        ),
        ({"typicalObjectSizeKb": 30}, {"STANDARD": 1000}),
    ],
)
def test_no_small_object_line_where_objects_do_transition(
    bucket: dict[str, Any], gb: dict[str, float]
) -> None:
    assert not any("128 KB" in line.item for line in small_objects(bucket, gb).lines)
