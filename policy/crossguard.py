"""The rules of `rules.py` as CrossGuard policies. Importable without side effects (the pack
itself is constructed in `__main__.py`, which starts a server and never returns).

Each rule becomes a resource policy (`<rule>`) and/or a stack policy (`<rule>-stack`) at the
rule's level. During a preview pulumi-policy's props raise `UnknownValueError` for values not
known yet; left alone, the analyzer would turn that into an advisory "can't run policy" note
and skip the whole policy. Here it is caught per resource and reported like the plain rules
report it: a mandatory "cannot verify <rule> on <resource>: ...". An advisory rule reports that
through a mandatory companion policy (`<policy>-verifiable`), since a policy has one level.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

try:  # run as the pack (`pulumi preview --policy-pack policy`): this folder is the cwd
    from rules import RULES, Resource, Rule, Violation, check_resource, check_stack
except ImportError:  # imported from the repository (tests)
    from policy.rules import RULES, Resource, Rule, Violation, check_resource, check_stack

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}
UNKNOWN_ERRORS = (UnknownValueError,)

Select = Callable[[Violation], bool]


def _from_stack(r: PolicyResource) -> Resource:
    return Resource(
        r.resource_type,
        r.name,
        r.urn,
        r.props,
        bool(r.opts.protect),
        parent=r.parent.urn if r.parent is not None else None,
        dependencies={k: tuple(d.urn for d in v) for k, v in r.property_dependencies.items()},
    )


def _resource_policy(rule: Rule, name: str, level: str, select: Select) -> Any:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        resource = Resource(
            args.resource_type,
            args.name,
            args.urn,
            args.props,
            bool(args.opts.protect),
            parent=args.opts.parent,
        )
        for v in check_resource(rule, resource, UNKNOWN_ERRORS):
            if select(v):
                report(v.message, None)

    return ResourceValidationPolicy(
        name=name,
        description=rule.description,
        enforcement_level=LEVELS[level],
        validate=validate,
    )


def _stack_policy(rule: Rule, name: str, level: str, select: Select) -> Any:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [_from_stack(r) for r in args.resources]
        for v in check_stack(rule, resources, UNKNOWN_ERRORS):
            if select(v):
                report(v.message, v.urn)

    return StackValidationPolicy(
        name=name,
        description=rule.description,
        enforcement_level=LEVELS[level],
        validate=validate,
    )


def rule_of(policy_name: str) -> str:
    """The rule a policy of this pack belongs to."""
    return policy_name.removesuffix("-verifiable").removesuffix("-stack")


def policies() -> list[Any]:
    out: list[Any] = []
    for rule in RULES:
        for make, check, name in (
            (_resource_policy, rule.resource, rule.name),
            (_stack_policy, rule.stack, f"{rule.name}-stack"),
        ):
            if check is None:
                continue
            if rule.level == "mandatory":
                out.append(make(rule, name, "mandatory", lambda v: True))
            else:
                out.append(make(rule, name, rule.level, lambda v: not v.unverified))
                out.append(make(rule, f"{name}-verifiable", "mandatory", lambda v: v.unverified))
    return out
