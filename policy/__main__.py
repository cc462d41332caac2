"""The CrossGuard pack: `pulumi preview --policy-pack policy` (needs policy/requirements.txt)."""

from crossguard import policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="storage-guardrails", enforcement_level=EnforcementLevel.MANDATORY, policies=policies()
)
