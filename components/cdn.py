"""CloudFront in front of private S3 data buckets.

Children: an Origin Access Control (or, legacy, an Origin Access Identity), one cache policy
per behaviour (the TTLs; gzip and brotli; no cookies or query strings in the key; for an origin
bucket with CORS rules, the CORS request headers), the distribution (redirect-to-https,
read-only methods, TLSv1.2_2021 floor with SNI, HTTP/2 and HTTP/3, IPv6, a price class), an
optional ACM certificate created in us-east-1 (pulumi-aws 7's per-resource `region`, so the
stack's `aws:*` provider config applies) and validated over DNS in Route 53, and optional
standard logs (v2, delivered by CloudWatch Logs, which works with ACL-less buckets), started
once the log bucket's policy grants the delivery.

Each origin bucket gets exactly one statement in its single bucket policy: `s3:GetObject` for
CloudFront, beside the bucket's TLS-only statement. With OAC the statement admits this
account's distributions (`AWS:SourceArn` `arn:aws:cloudfront::<account>:distribution/*`): a
distribution's ARN is unknown until it exists, and a grant naming it would leave the bucket
policy unknown on a first preview, where no policy rule could check it. The bucket is an
origin because its objects are served publicly through CloudFront; serving them through
another distribution takes `cloudfront:CreateDistribution` in this account.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.adopted import Adoption
from components.config import Cdn
from components.config.adoption import Imports
from components.config.names import CdnNames
from components.s3 import DataBucket

US_EAST_1 = "us-east-1"
#: What S3 needs to see to answer with CORS headers; CloudFront forwards only the headers a
#: cache (or origin request) policy names. In the cache key too: the answer varies by Origin.
CORS_REQUEST_HEADERS = ("Access-Control-Request-Headers", "Access-Control-Request-Method", "Origin")


@dataclass(frozen=True, kw_only=True)
class CdnArgs:
    spec: Cdn
    """The distribution's validated config."""
    origins: dict[str, DataBucket]
    """Origin buckets by config key, in config order (the first is the default origin)."""
    log_bucket: DataBucket | None = None
    """Bucket receiving the standard logs (when `spec.access_logs` is set)."""
    log_prefix: str = ""
    names: CdnNames
    """Physical names (OAC, cache policies, log delivery), unique per account."""
    tags: Mapping[str, str] = field(default_factory=dict)
    imports: Imports = field(default_factory=dict)
    """Import ids of the distribution and its origin access identity when they exist."""


def _validation_field(cert: aws.acm.Certificate, alias: str, field: str) -> pulumi.Output[str]:
    """One field of the DNS validation record ACM asks for `alias`."""

    def pick(options: Sequence[Any]) -> str:
        match = [o for o in options if o.domain_name == alias]
        return str(getattr(match[0], field)) if match else ""

    return cert.domain_validation_options.apply(pick)


def _methods(spec: str, cors: bool) -> list[str]:
    """Allowed methods; OPTIONS added for a CORS origin, whose preflights must reach S3."""
    methods = spec.split(",")
    return [*methods, "OPTIONS"] if cors and "OPTIONS" not in methods else methods


class CdnDistribution(pulumi.ComponentResource):
    """Outputs: `domain_name` (`d111111abcdef8.cloudfront.net`), `hosted_zone_id`
    (`Z2FDTNDATAQYW2`), `distribution_id` (`E2QWRUHEXAMPLE`), `arn`
    (`arn:aws:cloudfront::<account>:distribution/<id>`), `aliases`, and `base_url`
    (`https://<first alias or domain>`)."""

    domain_name: pulumi.Output[str]
    hosted_zone_id: pulumi.Output[str]
    distribution_id: pulumi.Output[str]
    arn: pulumi.Output[str]
    base_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: CdnArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("storage:index:CdnDistribution", name, None, opts)
        spec = args.spec
        names = args.names
        child = pulumi.ResourceOptions(parent=self)
        adopt = Adoption(self, args.imports, {"distribution", "oai"})
        origin_ids = {key: f"s3-{bucket.spec.name}" for key, bucket in args.origins.items()}
        default_key = spec.origins[0]
        cors = {key: bool(bucket.spec.cors) for key, bucket in args.origins.items()}

        self.identity: aws.cloudfront.OriginAccessIdentity | None = None
        self.access_control: aws.cloudfront.OriginAccessControl | None = None
        origins: list[Any] = []
        if spec.access == "oai":
            self.identity = aws.cloudfront.OriginAccessIdentity(
                f"{name}-oai",
                comment=f"{name}: read access to its origin buckets",
                opts=adopt.opts("oai"),
            )
            for key, bucket in args.origins.items():
                origins.append(
                    {
                        "origin_id": origin_ids[key],
                        "domain_name": bucket.regional_domain_name,
                        "s3_origin_config": {
                            "origin_access_identity": self.identity.cloudfront_access_identity_path
                        },
                    }
                )
        else:
            self.access_control = aws.cloudfront.OriginAccessControl(
                f"{name}-oac",
                name=names.access_control,
                description=f"{name}: signed requests to its origin buckets",
                origin_access_control_origin_type="s3",
                signing_behavior="always",
                signing_protocol="sigv4",
                opts=child,
            )
            for key, bucket in args.origins.items():
                origins.append(
                    {
                        "origin_id": origin_ids[key],
                        "domain_name": bucket.regional_domain_name,
                        "origin_access_control_id": self.access_control.id,
                    }
                )

        def cache_policy(
            role: str, policy_name: str, b: Any, cors_origin: bool
        ) -> aws.cloudfront.CachePolicy:
            headers: Any = {"header_behavior": "none"}
            if cors_origin:
                headers = {
                    "header_behavior": "whitelist",
                    "headers": {"items": list(CORS_REQUEST_HEADERS)},
                }
            return aws.cloudfront.CachePolicy(
                f"{name}-{role}-cache",
                name=policy_name,
                comment=f"{name} {role}: TTL {b.min_ttl}/{b.default_ttl}/{b.max_ttl} s",
                min_ttl=b.min_ttl,
                default_ttl=b.default_ttl,
                max_ttl=b.max_ttl,
                parameters_in_cache_key_and_forwarded_to_origin={
                    "cookies_config": {"cookie_behavior": "none"},
                    "headers_config": headers,
                    "query_strings_config": {"query_string_behavior": "none"},
                    "enable_accept_encoding_gzip": b.compress,
                    "enable_accept_encoding_brotli": b.compress,
                },
                opts=child,
            )

        default = spec.default_behavior
        self.default_cache_policy = cache_policy(
            "default", names.cache_policies[0], default, cors[default_key]
        )
        default_behavior = {
            "target_origin_id": origin_ids[default_key],
            "viewer_protocol_policy": "redirect-to-https",
            "allowed_methods": _methods(default.allowed_methods, cors[default_key]),
            "cached_methods": ["GET", "HEAD"],
            "compress": default.compress,
            "cache_policy_id": self.default_cache_policy.id,
        }
        ordered = []
        for i, behavior in enumerate(spec.behaviors):
            origin = behavior.origin or default_key
            policy = cache_policy(
                f"behavior-{i}", names.cache_policies[i + 1], behavior, cors[origin]
            )
            ordered.append(
                {
                    "path_pattern": behavior.path_pattern,
                    "target_origin_id": origin_ids[origin],
                    "viewer_protocol_policy": "redirect-to-https",
                    "allowed_methods": _methods(behavior.allowed_methods, cors[origin]),
                    "cached_methods": ["GET", "HEAD"],
                    "compress": behavior.compress,
                    "cache_policy_id": policy.id,
                }
            )

        viewer_certificate: dict[str, Any] = {"cloudfront_default_certificate": True}
        self.certificate_arn: pulumi.Output[str] | None = None
        if spec.certificate is not None:
            if spec.certificate.arn is not None:
                self.certificate_arn = pulumi.Output.from_input(spec.certificate.arn)
            else:
                assert spec.certificate.route53_zone_id is not None
                self.certificate_arn = self._create_certificate(
                    name, list(spec.aliases), spec.certificate.route53_zone_id, args.tags
                )
            viewer_certificate = {
                "acm_certificate_arn": self.certificate_arn,
                "ssl_support_method": "sni-only",
                "minimum_protocol_version": spec.minimum_tls_version,
            }

        # Typed loosely on purpose: the SDK's overloads exceed what mypy will expand.
        distribution_args: dict[str, Any] = dict(
            enabled=True,
            comment=spec.comment or name,
            aliases=list(spec.aliases) or None,
            origins=origins,
            default_cache_behavior=default_behavior,
            ordered_cache_behaviors=ordered or None,
            price_class=spec.price_class,
            http_version=spec.http_version,
            is_ipv6_enabled=spec.ipv6,
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate=viewer_certificate,
            web_acl_id=spec.web_acl_arn,
            tags=dict(args.tags),
        )
        self.distribution = aws.cloudfront.Distribution(
            f"{name}-distribution", **distribution_args, opts=adopt.opts("distribution")
        )
        dist = self.distribution

        for key, bucket in args.origins.items():
            bucket.add_policy_statement(self._read_grant(name, key, bucket))
            if self.access_control is not None and bucket.kms_key_arn is not None:
                # OAC reads SSE-KMS objects only if the key lets this distribution decrypt.
                bucket.grant_key_use(
                    {
                        "Sid": iam.sid("CloudFrontDecrypt", name),
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudfront.amazonaws.com"},
                        "Action": "kms:Decrypt",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"AWS:SourceArn": dist.arn}},
                    }
                )

        if spec.access_logs is not None:
            if args.log_bucket is None:
                raise ValueError(f"{name}: spec.access_logs is set but no log_bucket was given")
            self._standard_logs(name, names, args.log_bucket, args.log_prefix)

        self.domain_name = dist.domain_name
        self.hosted_zone_id = dist.hosted_zone_id
        self.distribution_id = dist.id
        self.arn = dist.arn
        self.aliases = list(spec.aliases)
        self.base_url = (
            pulumi.Output.from_input(f"https://{spec.aliases[0]}")
            if spec.aliases
            else dist.domain_name.apply(lambda d: f"https://{d}")
        )
        self.register_outputs(
            {
                "domain_name": self.domain_name,
                "hosted_zone_id": self.hosted_zone_id,
                "distribution_id": self.distribution_id,
                "arn": self.arn,
                "aliases": self.aliases,
                "base_url": self.base_url,
            }
        )

    def _read_grant(self, name: str, key: str, bucket: DataBucket) -> dict[str, Any]:
        """Only `s3:GetObject`, only for this distribution."""
        objects = pulumi.Output.concat(bucket.arn, "/*")
        if self.identity is not None:
            return {
                "Sid": iam.sid("CloudFrontRead", name),
                "Effect": "Allow",
                "Principal": {"AWS": self.identity.iam_arn},
                "Action": "s3:GetObject",
                "Resource": objects,
            }
        account = aws.get_caller_identity_output().account_id
        return {
            "Sid": iam.sid("CloudFrontRead", name),
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": objects,
            # This account's distributions: the bucket policy stays known at a first preview
            # (see the module docstring).
            "Condition": {
                "StringEquals": {"AWS:SourceAccount": account},
                "ArnLike": {
                    "AWS:SourceArn": pulumi.Output.concat(
                        "arn:aws:cloudfront::", account, ":distribution/*"
                    )
                },
            },
        }

    def _create_certificate(
        self, name: str, aliases: list[str], zone_id: str, tags: Mapping[str, str]
    ) -> pulumi.Output[str]:
        """An ACM certificate for the aliases in us-east-1 (the only region CloudFront reads
        certificates from), validated with DNS records in Route 53. Through the per-resource
        `region` of the default provider: an explicit `aws.Provider` would not inherit the
        stack's `aws:*` config (profile, assumeRoles, allowedAccountIds, defaultTags)."""
        child = pulumi.ResourceOptions(parent=self)
        cert = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=aliases[0],
            subject_alternative_names=aliases[1:] or None,
            validation_method="DNS",
            region=US_EAST_1,
            tags=dict(tags),
            opts=child,
        )
        records = []
        for i, alias in enumerate(aliases):
            records.append(
                aws.route53.Record(
                    f"{name}-certificate-validation-{i}",
                    zone_id=zone_id,
                    name=_validation_field(cert, alias, "resource_record_name"),
                    type=_validation_field(cert, alias, "resource_record_type"),
                    records=[_validation_field(cert, alias, "resource_record_value")],
                    ttl=300,
                    allow_overwrite=True,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        validation = aws.acm.CertificateValidation(
            f"{name}-certificate-validation",
            certificate_arn=cert.arn,
            validation_record_fqdns=[r.fqdn for r in records],
            region=US_EAST_1,
            opts=child,
        )
        # The distribution waits for an issued certificate.
        return validation.certificate_arn

    def _standard_logs(self, name: str, names: CdnNames, bucket: DataBucket, prefix: str) -> None:
        """CloudFront standard logging v2: CloudWatch Logs delivers to S3 without ACLs. The
        delivery starts once the log bucket's policy grants it: started earlier, the service
        edits the bucket policy itself, which the next `pulumi up` then reverts (drift)."""
        account = aws.get_caller_identity_output().account_id
        source = aws.cloudwatch.LogDeliverySource(
            f"{name}-log-source",
            name=names.log_source,
            log_type="ACCESS_LOGS",
            resource_arn=self.distribution.arn,
            region=US_EAST_1,
            opts=pulumi.ResourceOptions(parent=self),
        )
        destination = aws.cloudwatch.LogDeliveryDestination(
            f"{name}-log-destination",
            name=names.log_destination,
            delivery_destination_configuration={
                "destination_resource_arn": pulumi.Output.concat(
                    bucket.arn, "/", prefix.rstrip("/")
                ),
            },
            region=US_EAST_1,
            opts=pulumi.ResourceOptions(parent=self),
        )

        bucket.add_policy_statement(
            {
                "Sid": iam.sid("CloudFrontLogs", name),
                "Effect": "Allow",
                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": pulumi.Output.concat(bucket.arn, "/", prefix, "*"),
                "Condition": {
                    "StringEquals": {
                        "aws:SourceAccount": account,
                        "s3:x-amz-acl": "bucket-owner-full-control",
                    },
                    "ArnLike": {
                        "aws:SourceArn": pulumi.Output.concat(
                            "arn:aws:logs:", US_EAST_1, ":", account, ":delivery-source:*"
                        )
                    },
                },
            }
        )

        def start_delivery(policy: aws.s3.BucketPolicy) -> None:
            aws.cloudwatch.LogDelivery(
                f"{name}-log-delivery",
                delivery_source_name=source.name,
                delivery_destination_arn=destination.arn,
                region=US_EAST_1,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
            )

        bucket.after_policy(start_delivery)
