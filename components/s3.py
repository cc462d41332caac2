"""A private, encrypted S3 data bucket with its lifecycle, CORS, logging and one bucket policy.

Children (all `parent=self`, named `<name>-<role>`): the bucket, ownership controls
(BucketOwnerEnforced: ACLs off), a public access block with all four flags, versioning,
server-side encryption (SSE-S3, or SSE-KMS with bucket keys and a given or created key),
lifecycle rules, CORS, server access logging, and exactly one bucket policy.

The bucket policy starts with a statement denying non-TLS requests. Other components add
statements with `add_policy_statement()` (CloudFront's read grant, log delivery, ...); the
policy resource is created by `seal_policy()` once the composition is done, so no component
can overwrite another's statements: S3 holds a single policy per bucket and two BucketPolicy
resources would silently replace each other on every `pulumi up`. Whatever must wait for the
policy (a log delivery writing under a grant in it) registers with `after_policy()`.

Everything a policy rule reads is known at a first `pulumi preview`: children name their
bucket by its name (`bucket.bucket`, an input) rather than its id, and the bucket's ARN and
regional domain name are built from the name, so the policy documents are plain JSON before
anything exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.adopted import Adoption
from components.config import LifecycleRule, S3Bucket
from components.config.adoption import Imports
from components.kms import customer_managed_key, key_policy

#: Tag carrying the bucket's typical object size in KB (read by the small-objects policy).
OBJECT_SIZE_TAG = "typical-object-size-kb"
#: The children that can be adopted (`imports`), by role.
ROLES = {
    "bucket",
    "ownership",
    "public-access-block",
    "versioning",
    "encryption",
    "lifecycle",
    "cors",
    "policy",
    "access-logs",
}


@dataclass(frozen=True, kw_only=True)
class DataBucketArgs:
    spec: S3Bucket
    """The bucket's validated config."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every taggable child."""
    region: str | None = None
    """Region of the bucket; None = the provider's `aws:region` (replicas set theirs)."""
    log_target: DataBucket | None = None
    """The bucket receiving server access logs (required when `spec.access_logs` is set)."""
    imports: Imports = field(default_factory=dict)
    """Import ids of the children that exist already, by role (`bucket`, `versioning`, ...)."""


def lifecycle_filter(rule: LifecycleRule) -> dict[str, Any]:
    """The rule's filter, always explicit. A missing or empty `{}` filter round-trips through
    the provider as a perpetual diff (terraform-provider-aws #36793, #41268); `prefix: ""` is
    the stable spelling of "the whole bucket"."""
    prefix = rule.prefix or ""
    tags = dict(rule.tags)
    if not tags:
        return {"prefix": prefix}
    if len(tags) == 1 and not prefix:
        ((key, value),) = tags.items()
        return {"tag": {"key": key, "value": value}}
    return {"and_": {"prefix": prefix, "tags": tags}}


def lifecycle_rules(spec: S3Bucket) -> list[Any]:
    rules: list[Any] = []
    for rule in spec.lifecycle:
        out: dict[str, Any] = {
            "id": rule.id,
            "status": "Enabled" if rule.enabled else "Disabled",
            "filter": lifecycle_filter(rule),
        }
        if rule.transitions:
            out["transitions"] = [
                {"days": t.days, "storage_class": t.storage_class} for t in rule.transitions
            ]
        if rule.expiration_days is not None:
            out["expiration"] = {"days": rule.expiration_days}
        if rule.noncurrent_transitions:
            out["noncurrent_version_transitions"] = [
                {"noncurrent_days": t.days, "storage_class": t.storage_class}
                for t in rule.noncurrent_transitions
            ]
        if rule.noncurrent_expiration_days is not None:
            expiry: dict[str, Any] = {"noncurrent_days": rule.noncurrent_expiration_days}
            if rule.keep_noncurrent_versions is not None:
                expiry["newer_noncurrent_versions"] = rule.keep_noncurrent_versions
            out["noncurrent_version_expiration"] = expiry
        rules.append(out)
    # Killed uploads leave invisible, billed parts behind; S3 has no default clean-up.
    rules.append(
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "abort_incomplete_multipart_upload": {
                "days_after_initiation": spec.abort_incomplete_multipart_days
            },
        }
    )
    return rules


class DataBucket(pulumi.ComponentResource):
    """A private data bucket. Outputs: `bucket_name` (`pingvas-studio-images`), `arn`
    (`arn:aws:s3:::pingvas-studio-images`), `regional_domain_name`
    (`pingvas-studio-images.s3.ap-northeast-2.amazonaws.com`), `kms_key_arn` (SSE-KMS only)."""

    bucket_name: pulumi.Output[str]
    arn: pulumi.Output[str]
    regional_domain_name: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str] | None
    versioning: aws.s3.BucketVersioning | None
    policy: aws.s3.BucketPolicy | None

    def __init__(
        self, name: str, args: DataBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("storage:index:DataBucket", name, None, opts)
        spec = args.spec
        region = args.region
        tags = {**args.tags, "Name": spec.name, "purpose": spec.purpose}
        if spec.typical_object_size_kb is not None:
            tags[OBJECT_SIZE_TAG] = f"{spec.typical_object_size_kb:g}"
        adopt = Adoption(self, args.imports, ROLES)
        self._adopt = adopt

        self._resource_name = name
        self.spec = spec
        self.region = region
        self.region_name: pulumi.Output[str] = (
            pulumi.Output.from_input(region) if region else aws.get_region_output().region
        )
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=spec.name,
            force_destroy=False,
            region=region,
            tags=tags,
            opts=adopt.opts("bucket", protect=spec.protect),
        )
        # The name (an input, so known at preview; still an output of the bucket, so children
        # wait for it). An S3 bucket's id is its name: nothing changes for a deployed bucket.
        bucket_id = self.bucket.bucket
        self.bucket_name = self.bucket.bucket
        self.arn = pulumi.Output.concat("arn:aws:s3:::", self.bucket.bucket)
        self.regional_domain_name = pulumi.Output.concat(
            self.bucket.bucket, ".s3.", self.region_name, ".amazonaws.com"
        )

        self.ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket_id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            region=region,
            opts=adopt.opts("ownership"),
        )
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            region=region,
            opts=adopt.opts("public-access-block"),
        )
        self.versioning = None
        if spec.versioning:
            self.versioning = aws.s3.BucketVersioning(
                f"{name}-versioning",
                bucket=bucket_id,
                versioning_configuration={"status": "Enabled"},
                region=region,
                opts=adopt.opts("versioning"),
            )

        self.kms_key_arn = None
        self.kms_key: aws.kms.Key | None = None
        self._key_statements: list[pulumi.Input[dict[str, Any]]] = []
        if spec.encryption.type == "sse-kms":
            if spec.encryption.kms_key_arn is not None:
                self.kms_key_arn = pulumi.Output.from_input(spec.encryption.kms_key_arn)
            else:
                key = customer_managed_key(
                    f"{name}-key",
                    description=f"SSE-KMS key of s3://{spec.name}",
                    parent=self,
                    protect=spec.protect,
                    tags=tags,
                    region=region,
                )
                self.kms_key = key
                self.kms_key_arn = key.arn
            default: dict[str, Any] = {
                "sse_algorithm": "aws:kms",
                "kms_master_key_id": self.kms_key_arn,
            }
            # Bucket keys cut KMS request costs by ~99% for busy buckets.
            sse_rule: Any = {
                "apply_server_side_encryption_by_default": default,
                "bucket_key_enabled": True,
            }
        else:
            sse_rule = {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket_id,
            rules=[sse_rule],
            region=region,
            opts=adopt.opts("encryption"),
        )

        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket_id,
            rules=lifecycle_rules(spec),
            transition_default_minimum_object_size=spec.transition_minimum_object_size,
            region=region,
            # Rules on noncurrent versions are rejected until versioning is on.
            opts=adopt.opts("lifecycle", depends_on=[self.versioning] if self.versioning else []),
        )

        self.cors = None
        if spec.cors:
            self.cors = aws.s3.BucketCorsConfiguration(
                f"{name}-cors",
                bucket=bucket_id,
                cors_rules=[
                    {
                        "allowed_origins": list(rule.allowed_origins),
                        "allowed_methods": list(rule.allowed_methods),
                        "allowed_headers": list(rule.allowed_headers),
                        "expose_headers": list(rule.expose_headers),
                        "max_age_seconds": rule.max_age_seconds,
                    }
                    for rule in spec.cors
                ],
                region=region,
                opts=adopt.opts("cors"),
            )

        self._statements: list[pulumi.Input[dict[str, Any]]] = [
            iam.deny_insecure_transport(
                "DenyInsecureTransport", "s3:*", [self.arn, pulumi.Output.concat(self.arn, "/*")]
            )
        ]
        self.policy = None
        self._after_policy: list[Callable[[aws.s3.BucketPolicy], None]] = []

        self.logging: aws.s3.BucketLogging | None = None
        if spec.access_logs is not None:
            target = args.log_target
            if target is None:
                raise ValueError(f"{name}: spec.access_logs is set but no log_target was given")
            prefix = spec.access_logs.prefix or f"s3/{spec.name}/"
            target.grant_log_delivery(source_arn=self.arn, prefix=prefix)

            def start_logging(target_policy: aws.s3.BucketPolicy) -> None:
                self.logging = aws.s3.BucketLogging(
                    f"{name}-access-logs",
                    bucket=bucket_id,
                    target_bucket=target.bucket_name,
                    target_prefix=prefix,
                    # Date-partitioned keys keep Athena/Glue scans cheap.
                    target_object_key_format={
                        "partitioned_prefix": {"partition_date_source": "EventTime"}
                    },
                    region=region,
                    # Logs are delivered under the target's policy grant: it must exist first.
                    opts=adopt.opts("access-logs", depends_on=[target_policy]),
                )

            target.after_policy(start_logging)

        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "arn": self.arn,
                "regional_domain_name": self.regional_domain_name,
                "kms_key_arn": self.kms_key_arn,
            }
        )

    # ------------------------------------------------------------------- bucket policy

    def add_policy_statement(self, statement: pulumi.Input[dict[str, Any]]) -> None:
        """Add a statement to the bucket's single policy (before `seal_policy`)."""
        if self.policy is not None:
            raise RuntimeError(
                f"{self.spec.name}: the bucket policy is already sealed; add statements first"
            )
        self._statements.append(statement)

    def grant_log_delivery(self, *, source_arn: pulumi.Input[str], prefix: str) -> None:
        """Let S3's logging service write server access logs of `source_arn` under `prefix`.
        With ACLs disabled (BucketOwnerEnforced) this policy statement is the only way in."""
        account = aws.get_caller_identity_output().account_id
        self.add_policy_statement(
            {
                "Sid": iam.sid("ServerAccessLogs", prefix),
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": pulumi.Output.concat(self.arn, "/", prefix, "*"),
                "Condition": {
                    "ArnLike": {"aws:SourceArn": source_arn},
                    "StringEquals": {"aws:SourceAccount": account},
                },
            }
        )

    def grant_key_use(self, statement: dict[str, Any]) -> None:
        """Add a statement to the key policy of the bucket's SSE-KMS key (e.g. CloudFront
        decrypting through OAC). Only for keys this component created; the policy of a given
        key belongs to whoever manages that key."""
        if self.kms_key is None:
            pulumi.log.warn(
                f"{self.spec.name}: its KMS key {self.spec.encryption.kms_key_arn} is managed "
                f"elsewhere; add this statement to that key's policy yourself: "
                f"{describe_statement(statement)}",
                resource=self,
            )
            return
        if self.policy is not None:
            raise RuntimeError(f"{self.spec.name}: the key policy is already sealed")
        self._key_statements.append(statement)

    def after_policy(self, start: Callable[[aws.s3.BucketPolicy], None]) -> None:
        """Call `start(policy)` once the bucket policy exists (at `seal_policy`, or now if it
        is sealed), to create what depends on a grant in it."""
        if self.policy is not None:
            start(self.policy)
        else:
            self._after_policy.append(start)

    def seal_policy(self) -> aws.s3.BucketPolicy:
        """Create the bucket policy (and the created key's policy) from every statement added
        so far, then whatever waits for it (`after_policy`). Call once, after all components
        that grant access to this bucket exist."""
        if self.policy is not None:
            return self.policy
        if self.kms_key is not None:
            key_policy(
                f"{self._resource_name}-key-policy",
                key=self.kms_key,
                services=[pulumi.Output.concat("s3.", self.region_name, ".amazonaws.com")],
                extra=self._key_statements,
                region=self.region,
                parent=self,
            )
        self.policy = aws.s3.BucketPolicy(
            f"{self._resource_name}-policy",
            bucket=self.bucket.bucket,
            policy=iam.document(self._statements),
            region=self.region,
            # S3 rejects concurrent configuration calls on one bucket ("OperationAborted"), and
            # the block must exist before any policy is evaluated against it.
            opts=self._adopt.opts("policy", depends_on=[self.public_access_block]),
        )
        for start in self._after_policy:
            start(self.policy)
        self._after_policy.clear()
        return self.policy


def describe_statement(statement: Any) -> str:
    """A policy statement as JSON for a message, with every value only known once resources
    exist (an Output) shown as "<computed>" instead of an object's repr."""

    def plain(value: Any) -> Any:
        if isinstance(value, pulumi.Output):
            return "<computed>"
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return json.dumps(plain(statement), sort_keys=True)
