"""AppBudgets: one monthly AWS Budget per app with AWS costs, equal to the plan's own estimate
for that app (the function `ops cost` prints) plus headroom, scoped by the activated `app`
tag, notifying the alert topic; a change that raises the estimate raises the budget."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from components.budgets import monthly_limit, usd
from ops import cost, stackfile
from ops.diff import compare
from ops.plan import Plan, run_plan

BUDGET = "aws:budgets/budget:Budget"
ROOT = stackfile.ROOT


def budgets(plan: Plan) -> dict[str, dict[str, Any]]:
    return {r.inputs["tags"]["app"]: r.inputs for r in plan.by_type(BUDGET)}


def test_limit_is_the_estimate_plus_headroom_in_cents_never_below_the_minimum() -> None:
    assert monthly_limit(335.0, 20, 1) == Decimal("402.00")
    assert monthly_limit(65.1350000001, 20, 1) == Decimal("78.17")  # 65.14 * 1.2 = 78.168
    assert monthly_limit(0.1 + 0.2, 0, 1) == Decimal("1.00")  # the minimum
    assert monthly_limit(0.1 + 0.2, 0, 0.01) == Decimal("0.30")  # not 0.30000000000000004
    assert usd(2.675) == Decimal("2.68")  # half up from the decimal text, not binary 2.67499..


def test_one_budget_per_app_with_aws_costs_equal_to_its_estimate_plus_headroom(
    prod_plan: Plan,
) -> None:
    """Done when: one budget per app equal to its estimate plus headroom."""
    cfg = stackfile.config(stackfile.load("prod"))
    aws = cost.estimate(cfg).by_app(provider="aws")
    found = budgets(prod_plan)
    # R2-only apps are billed by Cloudflare: AWS Budgets cannot see them.
    assert set(found) == {"pingvas-studio", "video-renderer"} == set(aws)
    for app, inputs in found.items():
        expected = monthly_limit(aws[app], cfg.alarms.budgets.headroom_percent, 1)
        assert inputs["limitAmount"] == f"{expected}", app
        assert inputs["tags"]["estimate-usd"] == f"{usd(aws[app])}", app
        assert inputs["tags"]["headroom-percent"] == "20"
    assert found["pingvas-studio"]["limitAmount"] == "402.00"  # $335.00 + 20 %
    assert found["video-renderer"]["limitAmount"] == "78.17"  # $65.14 + 20 %


def test_budget_is_monthly_cost_scoped_by_the_app_tag_and_notifies_the_topic(
    prod_plan: Plan,
) -> None:
    r = prod_plan.get("budgets-pingvas-studio", BUDGET)
    i = r.inputs
    assert (i["name"], i["budgetType"], i["timeUnit"], i["limitUnit"]) == (
        "prod-pingvas-studio-monthly",
        "COST",
        "MONTHLY",
        "USD",
    )
    assert i["costFilters"] == [{"name": "TagKeyValue", "values": ["user:app$pingvas-studio"]}]
    assert [
        (n["notificationType"], n["threshold"], n["comparisonOperator"]) for n in i["notifications"]
    ] == [
        ("FORECASTED", 100, "GREATER_THAN"),
        ("ACTUAL", 100, "GREATER_THAN"),
    ]
    (primary,) = [t for t in prod_plan.by_type("aws:sns/topic:Topic") if "region" not in t.inputs]
    assert r.property_dependencies["notifications"] == [primary.urn]
    tag = prod_plan.get("budgets-app-tag")
    assert (tag.inputs["tagKey"], tag.inputs["status"]) == ("app", "Active")
    assert tag.retain_on_delete, "deleting one stack must not deactivate the others' tag"
    assert tag.urn in r.depends_on


def test_the_app_tag_is_on_every_taggable_aws_resource_of_the_app(prod_plan: Plan) -> None:
    tagged = [r for r in prod_plan.resources if r.type.startswith("aws:") and "tags" in r.inputs]
    assert tagged
    for r in tagged:
        if r.type == "aws:sns/topic:Topic" or (r.parent and "AlertTopic" in r.parent):
            continue  # the stack's own
        assert r.inputs["tags"].get("app"), r.name


def test_the_plan_prints_each_budget_beside_its_estimate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ops.__main__ import main

    main(["plan", "--stack", "prod"])
    out = capsys.readouterr().out
    assert "AWS Budgets (monthly, per app; R2 is billed by Cloudflare):" in out
    assert "  pingvas-studio       $402.00 = AWS estimate $335.00 + 20% headroom" in out
    assert (
        "budgets-pingvas-studio  MONTHLY COST limit $402.00 = estimate $335.00 + 20% headroom"
        in out
    )


def test_raising_the_estimate_raises_the_budget_in_the_same_diff(tmp_path: Path) -> None:
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    more = text.replace("          models: {gb: 500}\n", "          models: {gb: 600}\n")
    assert more != text
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(more)
    base = json.loads(run_plan("prod", mode="deployed").dumps())
    head = json.loads(run_plan("prod", stack_file=path, mode="deployed").dumps())
    changes = {c.name: c for c in compare(base, head)}
    budget = changes["budgets-pingvas-studio"]
    assert budget.kind == "update"
    props = {p: (old, new) for p, old, new in budget.properties}
    # EFS standard: 100 GB more at $0.33 = $33.00; +20 % = $39.60
    assert props["limitAmount"] == ("402.00", "441.60")
    assert props["tags.estimate-usd"] == ("335.00", "368.00")
    assert "budgets-video-renderer" not in changes


def test_per_app_headroom_and_opting_out(tmp_path: Path) -> None:
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    text = text.replace(
        "      description: AI image studio on AWS/EKS (seed 003)\n",
        "      description: AI image studio on AWS/EKS (seed 003)\n      budget: {headroomPercent: 50}\n",
    ).replace(
        "      description: AI video renderer; mp4/srt/jpg uploaded through backend-presigned PUTs (seed 001)\n",
        "      description: AI video renderer; mp4/srt/jpg uploaded through backend-presigned PUTs (seed 001)\n"
        "      budget: {enabled: false}\n",
    )
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(text)
    found = budgets(run_plan("prod", stack_file=path))
    assert set(found) == {"pingvas-studio"}
    assert found["pingvas-studio"]["limitAmount"] == "502.50"  # 335.00 * 1.5
