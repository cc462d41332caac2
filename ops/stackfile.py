"""Reading `Pulumi.yaml` and `Pulumi.<stack>.yaml` without the Pulumi CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: What an encrypted `secure:` value becomes offline: the plan never decrypts anything.
SECRET_PLACEHOLDER = "offline-plan-secret-placeholder"

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StackFile:
    project: str
    stack: str
    path: Path
    values: dict[str, Any]
    """Full key (`namespace:key`) -> parsed YAML value, `secure:` leaves replaced."""
    secret_keys: list[str]

    def engine_config(self) -> dict[str, str]:
        """The config as the engine hands it to a program (PULUMI_CONFIG): strings as they
        are, everything else JSON-encoded."""
        return {
            k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
            for k, v in self.values.items()
        }

    def get(self, key: str, default: Any = None) -> Any:
        full = key if ":" in key else f"{self.project}:{key}"
        return self.values.get(full, default)


def _replace_secure(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER, True
        found = False
        out = {}
        for k, v in value.items():
            out[k], hit = _replace_secure(v)
            found = found or hit
        return out, found
    if isinstance(value, list):
        items = [_replace_secure(v) for v in value]
        return [v for v, _ in items], any(hit for _, hit in items)
    return value, False


def project_name(root: Path = ROOT) -> str:
    return str(yaml.safe_load((root / "Pulumi.yaml").read_text())["name"])


def stack_path(stack: str, root: Path = ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def load(stack: str, root: Path = ROOT, path: Path | None = None) -> StackFile:
    project = project_name(root)
    path = path or stack_path(stack, root)
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path}; stacks here: {available_stacks(root)}")
    doc = yaml.safe_load(path.read_text()) or {}
    values: dict[str, Any] = {}
    secret: list[str] = []
    for key, raw in (doc.get("config") or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        values[full], is_secret = _replace_secure(raw)
        if is_secret:
            secret.append(full)
    return StackFile(project, stack, path, values, sorted(secret))


def parse_config(text: str, stack: str, project: str) -> Any:
    """The validated StackConfig of a stack file's text (ConfigError lists every problem)."""
    from components.config import parse_stack_config

    doc = yaml.safe_load(text) or {}
    raw: dict[str, Any] = {}
    region = None
    for key, value in (doc.get("config") or {}).items():
        if key == "aws:region":
            region = value
        elif key.startswith(f"{project}:"):
            raw[key.split(":", 1)[1]] = value
    return parse_stack_config(raw, aws_region=region, stack=stack, project=project)


def config(sf: StackFile) -> Any:
    return parse_config(sf.path.read_text(), sf.stack, sf.project)


def available_stacks(root: Path = ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
