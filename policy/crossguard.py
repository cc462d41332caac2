"""The rules of `rules.py` as CrossGuard policies. Importable without side effects (the pack
itself is constructed in `__main__.py`, which starts a server and never returns)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

try:  # run as the pack (`pulumi preview --policy-pack policy`): this folder is the cwd
    from rules import RULES, Resource, Rule
except ImportError:  # imported from the repository (tests)
    from policy.rules import RULES, Resource, Rule

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    check = rule.resource
    assert check is not None

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        resource = Resource(
            args.resource_type, args.name, args.urn, args.props, bool(args.opts.protect)
        )
        for message in check(resource):
            report(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        enforcement_level=LEVELS[rule.level],
        validate=validate,
    )


def _stack_policy(rule: Rule) -> StackValidationPolicy:
    check = rule.stack
    assert check is not None

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [
            Resource(r.resource_type, r.name, r.urn, r.props, bool(r.opts.protect))
            for r in args.resources
        ]
        for resource, message in check(resources):
            report(message, resource.urn)

    return StackValidationPolicy(
        name=f"{rule.name}-stack",
        description=rule.description,
        enforcement_level=LEVELS[rule.level],
        validate=validate,
    )


def policies() -> list[Any]:
    out: list[Any] = []
    for rule in RULES:
        if rule.resource is not None:
            out.append(_resource_policy(rule))
        if rule.stack is not None:
            out.append(_stack_policy(rule))
    return out
