"""Bucket-scoped R2 API tokens as S3 credentials, one token per live key generation.

For each generation listed in config (`generations: [2026q3, 2026q4]`) this creates a
Cloudflare API token (account-owned by default) that carries only the object-level R2
permission groups for its access level, scoped to exactly the named buckets
(`com.cloudflare.edge.r2.bucket.<account>_<jurisdiction>_<bucket>`), with optional client-IP
lists and validity window. Permission-group ids are looked up from Cloudflare by name.

S3 credentials follow Cloudflare's documentation: access key id = token id, secret access key
= SHA-256 hex of the token value. Only the active (last) generation is exposed to consumers;
the secret is a Pulumi secret.

Rotation adds a generation (both keys valid while services move over), then drops the old one.
Rolling a token in place is not used: it invalidates the old secret at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from components.config import R2_PERMISSION_GROUPS, R2Token
from components.r2 import R2DataBucket

BUCKET_RESOURCE = "com.cloudflare.edge.r2.bucket.{account}_{jurisdiction}_{bucket}"


def canonical_json(value: Any) -> str:
    """JSON as the Cloudflare API returns it and the provider stores it: compact, keys sorted.
    A JSON-string input the provider keeps verbatim must be sent in this form, or every
    refresh shows a change (`{"k": "*"}` sent, `{"k":"*"}` stored)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def s3_secret(token_value: str) -> str:
    """The S3 secret access key of an R2 token: SHA-256 hex of the token value."""
    return hashlib.sha256(token_value.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class R2TokenArgs:
    spec: R2Token
    """The token's validated config."""
    account_id: str
    """Cloudflare account id (32 hex)."""
    buckets: dict[str, R2DataBucket]
    """The buckets the token is scoped to, by config key."""
    token_name: str
    """Prefix of the Cloudflare token names: `<token_name>-<generation>`."""


#: The scope of the object-level R2 permission groups (the only ones scoped to buckets).
BUCKET_SCOPE = "com.cloudflare.edge.r2.bucket"


def permission_group_id(account_id: str, owner: str, name: str) -> pulumi.Output[str]:
    """Look a permission group up by exact name among the bucket-scoped groups. The lookup
    filters by scope only: a `name` filter would have to be passed as is (the provider
    URL-encodes query parameters itself, so a pre-encoded name matches nothing) and may match
    several groups, so the name is matched here, exactly, failing unless one group has it."""
    if owner == "account":
        found: Any = cloudflare.get_account_api_token_permission_groups_list_output(
            account_id=account_id, scope=BUCKET_SCOPE
        )
    else:
        found = cloudflare.get_api_token_permission_groups_list_output(scope=BUCKET_SCOPE)

    def pick(results: list[Any]) -> str:
        ids = [g.id for g in results if g.name == name]
        if len(ids) != 1:
            raise ValueError(f"Cloudflare permission group {name!r}: found {len(ids)}, expected 1")
        return str(ids[0])

    return found.results.apply(pick)


class R2ApiToken(pulumi.ComponentResource):
    """Outputs: `access_key_id` (the active token's id), `secret_access_key` (secret, 64 hex),
    `active_generation` (`2026q4`), `generations` (`["2026q3", "2026q4"]`)."""

    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]

    def __init__(
        self, name: str, args: R2TokenArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("storage:index:R2ApiToken", name, None, opts)
        spec = args.spec
        self.spec = spec
        groups = [
            {"id": permission_group_id(args.account_id, spec.owner, group)}
            for group in R2_PERMISSION_GROUPS[spec.access]
        ]
        resources = pulumi.Output.all(*(b.bucket_name for b in args.buckets.values())).apply(
            lambda names: canonical_json(
                {
                    BUCKET_RESOURCE.format(
                        account=args.account_id, jurisdiction=bucket.jurisdiction, bucket=n
                    ): "*"
                    for n, bucket in zip(names, args.buckets.values(), strict=True)
                }
            )
        )
        condition: Any = None
        if spec.allow_ips or spec.deny_ips:
            ips: dict[str, list[str]] = {}
            if spec.allow_ips:
                ips["ins"] = list(spec.allow_ips)
            if spec.deny_ips:
                ips["not_ins"] = list(spec.deny_ips)
            condition = {"request_ip": ips}
        policies = [{"effect": "allow", "permission_groups": groups, "resources": resources}]

        self.tokens: dict[str, cloudflare.AccountToken | cloudflare.ApiToken] = {}
        for generation in spec.generations:
            common: dict[str, Any] = {
                "name": f"{args.token_name}-{generation}",
                "policies": policies,
                "condition": condition,
                "not_before": spec.not_before,
                "expires_on": spec.expires_on,
                # The token value is readable only at creation; Pulumi keeps it in state as a
                # secret. Replace (never update) on rename so a generation is never reissued.
                "opts": pulumi.ResourceOptions(parent=self, replace_on_changes=["name"]),
            }
            resource_name = f"{name}-{generation}"
            if spec.owner == "account":
                self.tokens[generation] = cloudflare.AccountToken(
                    resource_name, account_id=args.account_id, **common
                )
            else:
                self.tokens[generation] = cloudflare.ApiToken(resource_name, **common)

        active = self.tokens[spec.active]
        self.active_generation = spec.active
        self.generations = list(spec.generations)
        self.access_key_id = active.id
        # Explicitly secret: the engine marks `value` secret, but derived values must not
        # depend on that propagation (and the mocks do not apply it).
        self.secret_access_key = pulumi.Output.secret(active.value.apply(s3_secret))
        self.register_outputs(
            {
                "access_key_id": self.access_key_id,
                "secret_access_key": self.secret_access_key,
                "active_generation": self.active_generation,
                "generations": self.generations,
            }
        )
