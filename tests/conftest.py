"""Shared Pulumi mocks: every test runs its resources through the same deterministic mocks and
recording monitor as `ops plan`, so what the tests see is what the plan shows. Like the plan,
tests run in preview mode (ids and computed attributes unknown, as on a first `pulumi preview`)
unless they ask for `mode="deployed"` to follow a computed value through."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from components.config import PROJECT, parse_stack_config
from components.schema import ConfigError, Problems, parse
from ops.mocks import Mode, Registration
from ops.plan import MockRun, Plan, run_plan, run_under_mocks
from tests.support.moto import moto
from tests.support.seaweed import S3Server

REGION = "ap-northeast-2"


@dataclass
class Recorded:
    """What a program registered, with lookups that fail with the names that do exist."""

    run: MockRun

    @property
    def resources(self) -> list[Registration]:
        return list(self.run.monitor.registrations.values())

    @property
    def outputs(self) -> dict[str, Any]:
        return self.run.outputs

    @property
    def result(self) -> Any:
        return self.run.result

    def all(self, typ: str) -> list[Registration]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str, name: str | None = None) -> Registration:
        found = [r for r in self.all(typ) if name is None or r.name == name]
        names = sorted(r.name for r in self.all(typ))
        assert len(found) == 1, f"expected one {typ} named {name!r}; registered: {names}"
        return found[0]

    def named(self, name: str) -> Registration:
        found = [r for r in self.resources if r.name == name]
        assert found, f"no resource {name!r}; registered: {sorted(r.name for r in self.resources)}"
        return found[0]

    def policy(self, typ: str, name: str | None = None, key: str = "policy") -> dict[str, Any]:
        return json.loads(self.one(typ, name).inputs[key])


PulumiRun = Callable[..., Recorded]


@pytest.fixture
def pulumi_run() -> PulumiRun:
    """`pulumi_run(build, mode="preview")` runs `build` as a Pulumi program under fresh
    mocks."""

    def run(build: Callable[[], Any], mode: Mode = "preview") -> Recorded:
        return Recorded(
            run_under_mocks(build, project=PROJECT, stack="test", region=REGION, mode=mode)
        )

    return run


def spec(cls: type, raw: dict[str, Any]) -> Any:
    """Parse a config object from its YAML shape, failing on any problem."""
    problems = Problems()
    obj = parse(cls, raw, "test", problems)
    if problems:
        raise ConfigError(problems.lines)
    return obj


def stack_problems(
    raw: dict[str, Any], *, stack: str = "test", region: str | None = REGION, **options: Any
) -> list[str]:
    """What `parse_stack_config` refuses in `raw` (the project namespace), one line per
    problem; [] when it is accepted. `options`: `config_keys`, `today`."""
    try:
        parse_stack_config(raw, aws_region=region, stack=stack, **options)
    except ConfigError as err:
        assert str(err).startswith(f"{len(err.problems)} problem")
        return err.problems
    return []


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    """The prod stack's offline plan (preview mode), computed once per session."""
    return run_plan("prod")


@pytest.fixture(scope="session")
def prod_deployed() -> Plan:
    """The prod stack's offline plan in deployed mode (ids known)."""
    return run_plan("prod", mode="deployed")


@pytest.fixture(scope="session")
def staging_plan() -> Plan:
    """The staging stack's offline plan (preview mode)."""
    return run_plan("staging")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    """moto's server mode on 127.0.0.1, once for the session: the strict S3 server of the
    runtime tests, and the read-only AWS APIs (EC2, EFS, CloudFront, ACM, Route 53, S3) that
    `ops import --discover` and `ops doctor` call."""
    with moto() as server:
        yield server
