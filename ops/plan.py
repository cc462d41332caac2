"""The offline plan: run the real `__main__.py` under Pulumi's mock runtime and record what
the stack declares, without credentials, network or the Pulumi CLI.

The stack file's `config:` is handed to the program exactly as the engine would
(`PULUMI_CONFIG` JSON, `secure:` values replaced by a placeholder and listed in
`PULUMI_CONFIG_SECRET_KEYS`). The mocks answer every registration as the engine would in one of
two modes (`ops.mocks`): `preview` (the default), a first `pulumi preview` where every id and
computed attribute of a resource being created is unknown, or `deployed`, with deterministic
ids as after a `pulumi up`. The result lists every resource (type, name, parent, provider,
inputs as the engine receives them with secrets masked and unknowns marked "[unknown]",
protect / retainOnDelete, dependencies) and the stack outputs (masked the same way), and says
which mode produced it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import runpy
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops import stackfile
from ops.mocks import Mode, PlanMocks, RecordingMonitor, Registration, unwrap
from ops.summary import summarize


class PlanError(RuntimeError):
    """The program failed under the mocks (config errors included). `registered` counts the
    resources registered before the failure (0 for config errors: nothing is half-built)."""

    def __init__(self, message: str, registered: int) -> None:
        super().__init__(message)
        self.registered = registered


@dataclass
class Plan:
    project: str
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]
    diagnostics: list[str] = field(default_factory=list)
    mode: Mode = "preview"

    def by_type(self, typ: str) -> list[Registration]:
        return [r for r in self.resources if r.type == typ]

    def get(self, name: str, typ: str | None = None) -> Registration:
        found = [r for r in self.resources if r.name == name and typ in (None, r.type)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r} (type {typ}) in the plan")
        return found[0]

    def children(self, urn: str | None) -> list[Registration]:
        return [r for r in self.resources if r.parent == urn]

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "mode": self.mode,
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "custom": r.custom,
                    "parent": r.parent,
                    "provider": r.provider,
                    "inputs": r.inputs,
                    "protect": r.protect,
                    "retainOnDelete": r.retain_on_delete,
                    "dependsOn": r.depends_on,
                    "propertyDependencies": r.property_dependencies,
                    "aliases": r.aliases,
                    "secretOutputs": r.secret_outputs,
                    "replaceOnChanges": r.replace_on_changes,
                    "deleteBeforeReplace": r.delete_before_replace,
                    "id": r.id,
                    "importId": r.import_id,
                }
                for r in self.resources
            ],
            "outputs": self.outputs,
            "diagnostics": self.diagnostics,
        }

    def policy_resources(self) -> list[Any]:
        """The resources as the policy rules see them: inputs (unknowns as "[unknown]"),
        parent and dependencies, as CrossGuard hands them to a policy pack."""
        from policy.rules import Resource

        return [
            Resource(
                r.type,
                r.name,
                r.urn,
                r.inputs,
                r.protect,
                parent=r.parent,
                dependencies={k: tuple(v) for k, v in r.property_dependencies.items()},
            )
            for r in self.resources
            if r.custom
        ]

    def violations(self) -> list[Any]:
        from policy.rules import evaluate

        return evaluate(self.policy_resources())

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname.lower()}: {record.getMessage()}")


@contextlib.contextmanager
def _engine_environment(sf: stackfile.StackFile) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")}
    os.environ["PULUMI_CONFIG"] = json.dumps(sf.engine_config(), sort_keys=True)
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(sf.secret_keys)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class MockRun:
    """What one program run under the mocks registered and exported."""

    mocks: PlanMocks
    monitor: RecordingMonitor
    outputs: dict[str, Any]
    diagnostics: list[str]
    result: Any = None


def run_under_mocks(
    program: Callable[[], Any],
    *,
    project: str,
    stack: str,
    region: str,
    mode: Mode = "preview",
) -> MockRun:
    """Run `program` as a Pulumi program under fresh mocks in `mode` and wait for every
    registration. Stack outputs come back as plain JSON with every secret replaced by
    "[secret]" and every unknown by "[unknown]"."""
    import pulumi
    from google.protobuf import json_format
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime import rpc, settings

    mocks = PlanMocks(region=region, mode=mode)
    monitor = RecordingMonitor(mocks)
    capture = _Capture()
    logger = logging.getLogger(f"ops.plan.{project}.{stack}")
    logger.propagate = False
    logger.handlers = [capture]
    run = MockRun(mocks, monitor, {}, capture.messages)

    settings.reset_options(project=project, stack=stack)
    runtime_config.set_all_config({}, [])  # config comes from PULUMI_CONFIG only
    pulumi.runtime.set_mocks(
        mocks,
        project=project,
        stack=stack,
        preview=mode == "preview",
        logger=logger,
        monitor=monitor,
    )

    async def main() -> None:
        run.result = program()
        stack_resource: Any = settings.get_root_resource()
        struct = await rpc.serialize_properties(dict(stack_resource.outputs), {})
        run.outputs.update(unwrap(json_format.MessageToDict(struct)))

    try:
        pulumi.runtime.test(main)()
    except Exception as err:
        raise PlanError(str(err), len(monitor.registrations)) from err
    return run


def run_plan(
    stack: str,
    root: Path = stackfile.ROOT,
    stack_file: Path | None = None,
    mode: Mode = "preview",
) -> Plan:
    """Run `<root>/__main__.py` for `stack` under the mocks in `mode` and return what it
    registered."""
    return plan_stack_file(stackfile.load(stack, root, stack_file), root=root, mode=mode)


def plan_stack_file(
    sf: stackfile.StackFile, *, root: Path = stackfile.ROOT, mode: Mode = "preview"
) -> Plan:
    """The plan of a stack file already read (e.g. with import ids `ops import` found)."""
    stack = sf.stack
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    with _engine_environment(sf):
        run = run_under_mocks(
            lambda: runpy.run_path(str(root / "__main__.py"), run_name="__main__"),
            project=sf.project,
            stack=stack,
            region=sf.get("aws:region") or "us-east-1",
            mode=mode,
        )
    resources = sorted(run.monitor.registrations.values(), key=lambda r: r.urn)
    return Plan(sf.project, stack, resources, run.outputs, sorted(run.diagnostics), mode)


# ------------------------------------------------------------------------------ tree


def short_type(typ: str) -> str:
    """`aws:s3/bucket:Bucket` -> `aws.s3.Bucket`; `storage:index:DataBucket` -> `DataBucket`."""
    package, module, cls = typ.split(":")
    module = module.split("/")[0]
    if package == "storage":
        return cls
    return f"{package}.{cls}" if module == "index" else f"{package}.{module}.{cls}"


def render_tree(plan: Plan) -> str:
    lines = [
        f"{plan.project}/{plan.stack}: {len(plan.resources)} resources "
        f"(offline plan, {plan.mode} mode)"
    ]

    def walk(urn: str | None, indent: str) -> None:
        kids = plan.children(urn)
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            flags = [
                f
                for f, on in (
                    ("adopted", r.import_id is not None),
                    ("protected", r.protect),
                    ("retained", r.retain_on_delete),
                )
                if on
            ]
            detail = summarize(r)
            text = f"{short_type(r.type)} {r.name}"
            if detail:
                text += f"  {detail}"
            if flags:
                text += f"  [{', '.join(flags)}]"
            lines.append(f"{indent}{'└─ ' if last else '├─ '}{text}")
            walk(r.urn, indent + ("   " if last else "│  "))

    walk(None, "")
    if plan.diagnostics:
        lines.append("diagnostics:")
        lines.extend(f"  {d}" for d in plan.diagnostics)
    return "\n".join(lines)
