"""The CrossGuard pack: `pulumi preview --policy-pack policy` (needs policy/requirements.txt)."""

from pulumi_policy import EnforcementLevel, PolicyPack

from crossguard import policies  # type: ignore[import-not-found]

PolicyPack(name="storage-guardrails", enforcement_level=EnforcementLevel.MANDATORY, policies=policies())
