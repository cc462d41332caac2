"""The stack config, parsed once into typed, validated objects.

This is the only module that reads `pulumi.Config`. Everything the stack declares lives in
`Pulumi.<stack>.yaml` under the project namespace (`storage-platform:`) plus the AWS provider's
`aws:region`. `load()` reads it, `parse_stack_config()` validates it and raises one
`ConfigError` listing every problem before any resource is registered.

Shape (YAML, camelCase keys; the README's reference table is generated from these classes):

    storage-platform:apps:
      <app>:                    # e.g. pingvas-studio
        s3:
          <bucket-key>: {...}   # S3Bucket
"""

from __future__ import annotations

from typing import Any

from components.config.cdn import Cdn
from components.config.efs import Efs
from components.config.r2 import (
    R2_ENDPOINTS,
    R2_PERMISSION_GROUPS,
    R2Bucket,
    R2Token,
    generation_key,
)
from components.config.s3 import Encryption, LifecycleRule, Replication, S3Bucket
from components.config.stack import (
    PROJECT,
    AppConfig,
    StackConfig,
    StackSettings,
    parse_stack_config,
)
from components.schema import ConfigError

__all__ = [
    "PROJECT",
    "R2_ENDPOINTS",
    "R2_PERMISSION_GROUPS",
    "AppConfig",
    "Cdn",
    "ConfigError",
    "Efs",
    "Encryption",
    "LifecycleRule",
    "R2Bucket",
    "R2Token",
    "Replication",
    "S3Bucket",
    "StackConfig",
    "StackSettings",
    "generation_key",
    "load",
    "parse_stack_config",
]


def load() -> StackConfig:
    """Read the running stack's config through `pulumi.Config` (the only place that does)."""
    import datetime as dt
    import json

    import pulumi
    from pulumi.runtime import config as runtime_config

    project = pulumi.get_project()
    prefix = f"{project}:"
    # Every key of our namespace, so typos at the top level are caught too. The engine hands
    # config to the program as the PULUMI_CONFIG JSON (real CLI and offline plan alike).
    present = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    cfg = pulumi.Config()
    raw: dict[str, Any] = {}
    for full_key in sorted(present):
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        text = cfg.get(key)
        try:
            raw[key] = json.loads(text) if text is not None else None
        except json.JSONDecodeError:
            raw[key] = text  # a plain string value
    return parse_stack_config(
        raw,
        aws_region=pulumi.Config("aws").get("region"),
        stack=pulumi.get_stack(),
        project=project,
        config_keys=present,
        today=dt.date.today(),
    )
