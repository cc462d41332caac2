"""Monthly AWS Budgets per app, each the plan's own cost estimate for that app plus headroom.

Children: the `app` cost-allocation tag activated (Cost Explorer filters budgets by active
user tags only; retained on delete, because every stack in the account filters on the same
tag and deleting one stack must not switch it off for the others), and per app one COST
budget, monthly, in USD, filtered to `user:app$<app>`, notifying the stack's alert topic when
the month's forecast or its actual cost passes a percentage of the limit.

The limit comes from `ops.cost` (the same function `python -m ops cost` prints), over the
app's AWS lines only: R2 is billed by Cloudflare, which AWS Budgets cannot see. It is rounded
to cents, so the same stack file always gives the same budget, and each budget is tagged with
the estimate and the headroom it was made from: the plan shows them side by side, and a change
that raises the estimate raises the budget in the same diff.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config.alarms import BudgetSettings

#: The cost-allocation tag every taggable resource carries with its app's name.
APP_TAG = "app"
ESTIMATE_TAG = "estimate-usd"
HEADROOM_TAG = "headroom-percent"
CENT = Decimal("0.01")


def usd(amount: float | Decimal) -> Decimal:
    """An amount rounded to cents the way a bill is (half up), from its decimal text so that
    binary floating point never shifts a cent."""
    return Decimal(str(amount)).quantize(CENT, rounding=ROUND_HALF_UP)


def monthly_limit(estimate_usd: float, headroom_percent: float, minimum_usd: float) -> Decimal:
    """The budget's limit: the estimate (rounded to cents) plus `headroom_percent`, rounded to
    cents, never below `minimum_usd`."""
    limit = usd(usd(estimate_usd) * (1 + Decimal(str(headroom_percent)) / 100))
    return max(limit, usd(minimum_usd))


@dataclass(frozen=True, kw_only=True)
class PlannedBudget:
    app: str
    name: str
    """The budget's name (`<stack>-<app>-monthly`), unique per account."""
    estimate_usd: float
    """The app's monthly AWS cost estimate (`ops cost`)."""
    headroom_percent: float

    def limit(self, minimum_usd: float) -> Decimal:
        return monthly_limit(self.estimate_usd, self.headroom_percent, minimum_usd)


@dataclass(frozen=True, kw_only=True)
class AppBudgetsArgs:
    budgets: Sequence[PlannedBudget]
    settings: BudgetSettings
    topic_arn: pulumi.Input[str]
    """The stack region's alert topic (AWS Budgets publishes to a topic of this account)."""
    tags: Mapping[str, str] = field(default_factory=dict)


class AppBudgets(pulumi.ComponentResource):
    """Outputs: `budgets`, per app `name`, `limitUsd`, `estimateUsd`, `headroomPercent`."""

    def __init__(
        self, name: str, args: AppBudgetsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("storage:index:AppBudgets", name, None, opts)
        settings = args.settings
        self.tag = aws.costexplorer.CostAllocationTag(
            f"{name}-{APP_TAG}-tag",
            tag_key=APP_TAG,
            status="Active",
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.summary: dict[str, dict[str, object]] = {}
        self.budgets: list[aws.budgets.Budget] = []
        for planned in args.budgets:
            limit = planned.limit(settings.minimum_usd)
            estimate = usd(planned.estimate_usd)
            notifications: list[Any] = [
                {
                    "notification_type": kind,
                    "comparison_operator": "GREATER_THAN",
                    "threshold": percent,
                    "threshold_type": "PERCENTAGE",
                    "subscriber_sns_topic_arns": [args.topic_arn],
                }
                for kind, percent in (
                    ("FORECASTED", settings.forecast_percent),
                    ("ACTUAL", settings.actual_percent),
                )
            ]
            self.budgets.append(
                aws.budgets.Budget(
                    f"{name}-{planned.app}",
                    name=planned.name,
                    budget_type="COST",
                    time_unit="MONTHLY",
                    limit_amount=f"{limit}",
                    limit_unit="USD",
                    cost_filters=[
                        {"name": "TagKeyValue", "values": [f"user:{APP_TAG}${planned.app}"]}
                    ],
                    notifications=notifications,
                    tags={
                        **args.tags,
                        APP_TAG: planned.app,
                        ESTIMATE_TAG: f"{estimate}",
                        HEADROOM_TAG: f"{planned.headroom_percent:g}",
                    },
                    # Cost Explorer filters on active tags only.
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.tag]),
                )
            )
            self.summary[planned.app] = {
                "name": planned.name,
                "limitUsd": f"{limit}",
                "estimateUsd": f"{estimate}",
                "headroomPercent": planned.headroom_percent,
            }
        self.register_outputs({"budgets": self.summary})
