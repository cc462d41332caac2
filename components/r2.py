"""A Cloudflare R2 bucket with its CORS, lifecycle and domains.

Children: the bucket (protected by default), CORS rules, one lifecycle resource owning the
bucket's whole rule set (the API replaces all rules at once, so ours always include the
multipart clean-up R2 would otherwise apply by default), the public `r2.dev` URL explicitly
disabled unless opted in, and an optional custom domain on a zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from components.adopted import Adoption
from components.config import R2_ENDPOINTS, R2Bucket
from components.config.adoption import Imports

DAY_SECONDS = 86_400


@dataclass(frozen=True, kw_only=True)
class R2BucketArgs:
    spec: R2Bucket
    """The bucket's validated config."""
    account_id: str
    """Cloudflare account id (32 hex)."""
    imports: Imports = field(default_factory=dict)
    """The bucket's import id when it exists already (role `bucket`)."""


def lifecycle_rules(spec: R2Bucket) -> list[Any]:
    """R2 lifecycle rules; R2 takes ages in seconds."""
    rules: list[Any] = []
    for rule in spec.lifecycle:
        out: dict[str, Any] = {
            "id": rule.id,
            "enabled": rule.enabled,
            "conditions": {"prefix": rule.prefix},
        }
        if rule.delete_after_days is not None:
            out["delete_objects_transition"] = {
                "condition": {"type": "Age", "max_age": rule.delete_after_days * DAY_SECONDS}
            }
        if rule.transition_to_ia_after_days is not None:
            out["storage_class_transitions"] = [
                {
                    "condition": {
                        "type": "Age",
                        "max_age": rule.transition_to_ia_after_days * DAY_SECONDS,
                    },
                    "storage_class": "InfrequentAccess",
                }
            ]
        rules.append(out)
    rules.append(
        {
            "id": "abort-incomplete-multipart-uploads",
            "enabled": True,
            "conditions": {"prefix": ""},
            "abort_multipart_uploads_transition": {
                "condition": {
                    "type": "Age",
                    "max_age": spec.abort_incomplete_multipart_days * DAY_SECONDS,
                }
            },
        }
    )
    return rules


class R2DataBucket(pulumi.ComponentResource):
    """Outputs: `bucket_name` (`jokbodude`), `jurisdiction` (`default`), `s3_endpoint`
    (`https://<account>.r2.cloudflarestorage.com`, `.eu.`/`.fedramp.` for jurisdictional
    buckets) and `public_base_url` (`https://files.example.com`, the r2.dev URL when opted in,
    or None)."""

    bucket_name: pulumi.Output[str]
    s3_endpoint: str
    public_base_url: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: R2BucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("storage:index:R2DataBucket", name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        self.spec = spec
        adopt = Adoption(self, args.imports, {"bucket"})

        self.bucket = cloudflare.R2Bucket(
            f"{name}-bucket",
            account_id=args.account_id,
            name=spec.name,
            location=spec.location,
            jurisdiction=spec.jurisdiction,
            storage_class=spec.storage_class,
            # An adopted bucket keeps the location it was created in: the hint applies at
            # creation only, and a change would replace the bucket.
            opts=adopt.opts(
                "bucket",
                protect=spec.protect,
                ignore_changes=["location"] if adopt.get("bucket") else None,
            ),
        )
        self.bucket_name = self.bucket.name
        self.jurisdiction = spec.jurisdiction
        self.s3_endpoint = R2_ENDPOINTS[spec.jurisdiction].format(account=args.account_id)
        scope: dict[str, Any] = {
            "account_id": args.account_id,
            "bucket_name": self.bucket.name,
            "jurisdiction": spec.jurisdiction,
        }

        self.cors = None
        if spec.cors:
            self.cors = cloudflare.R2BucketCors(
                f"{name}-cors",
                **scope,
                rules=[
                    {
                        "allowed": {
                            "methods": list(rule.allowed_methods),
                            "origins": list(rule.allowed_origins),
                            "headers": list(rule.allowed_headers),
                        },
                        "expose_headers": list(rule.expose_headers),
                        "max_age_seconds": rule.max_age_seconds,
                    }
                    for rule in spec.cors
                ],
                opts=child,
            )

        self.lifecycle = cloudflare.R2BucketLifecycle(
            f"{name}-lifecycle", **scope, rules=lifecycle_rules(spec), opts=child
        )

        # Declared even when off: an r2.dev URL switched on by hand in the dashboard shows up
        # as drift in the next preview instead of staying public unnoticed.
        self.dev_url = cloudflare.R2ManagedDomain(
            f"{name}-dev-url", **scope, enabled=spec.public_dev_url, opts=child
        )

        self.custom_domain = None
        self.public_base_url = None
        domain = spec.custom_domain
        if domain is not None:
            self.custom_domain = cloudflare.R2CustomDomain(
                f"{name}-domain",
                **scope,
                domain=domain.domain,
                zone_id=domain.zone_id,
                enabled=domain.enabled,
                min_tls=domain.min_tls,
                opts=child,
            )
            if domain.enabled:
                self.public_base_url = pulumi.Output.from_input(f"https://{domain.domain}")
        if self.public_base_url is None and spec.public_dev_url:
            self.public_base_url = self.dev_url.domain.apply(lambda d: f"https://{d}")

        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "jurisdiction": self.jurisdiction,
                "s3_endpoint": self.s3_endpoint,
                "public_base_url": self.public_base_url,
            }
        )
