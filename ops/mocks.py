"""Pulumi mocks for the offline plan and the tests: answered data-source calls, a monitor that
records every registration with its resource options (protect, retainOnDelete, parent,
provider, dependencies, ...), and two ways of answering registrations:

* `preview` (the default of `ops plan`): what the engine knows during a first `pulumi preview`.
  A resource about to be created has no id and no computed attribute yet, so the mocks echo
  the inputs and nothing else; every output the program reads from a resource (an ARN, a
  domain name, a token value) stays unknown and its `apply`s do not run.
* `deployed`: as after a `pulumi up`, with deterministic ids and plausible computed attributes
  per resource type (for diffs of deployed stacks and for tests that follow a value through).

A resource registered with an import id (the `import` resource option, `MockResourceArgs.
resource_id`) exists already. The engine reads it, during a preview too (its import step calls
the provider's Read, whose id and outputs the rest of the preview sees), so in both modes it
is answered as deployed, with the import id as its id and computed attributes made from it.

Nothing here talks to a cloud: ids are hashes of type and name, the account is AWS's
documented example account 123456789012, the Cloudflare account comes from the stack config.
Data-source calls are answered in both modes: the engine runs invokes during preview too.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor

AWS_ACCOUNT = "123456789012"  # AWS's documented example account id
SECRET = "[secret]"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
#: How the plan JSON marks a value the engine does not know yet (an id, an ARN, ...).
UNKNOWN = "[unknown]"

Mode = Literal["preview", "deployed"]
MODES: tuple[Mode, ...] = ("preview", "deployed")

#: Managed CloudFront cache policies (ids from the AWS docs, stable across accounts).
MANAGED_CACHE_POLICIES = {
    "Managed-CachingOptimized": "658327ea-f89d-4fab-a63d-7e88639e58f6",
    "Managed-CachingDisabled": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
    "Managed-CachingOptimizedForUncompressedObjects": "b2884449-e4de-46a7-ac36-70bc7f1ddd6d",
}


def _hex(*parts: str, n: int = 32) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def _uuid(*parts: str) -> str:
    return str(uuid.UUID(_hex(*parts)))


def mock_token_value(typ: str, name: str) -> str:
    """The value the mocks give a Cloudflare token (what the real API returns once)."""
    return f"mock-token-value-{_hex('value', typ, name, n=40)}"


def mock_token_id(typ: str, name: str) -> str:
    return _hex(typ, name)


ROOT_STACK = "pulumi:pulumi:Stack"


def strip_stack(urn: str) -> str:
    """Pulumi's mock URNs chain the root stack's type into every child's; the engine's do not
    (`RecordingMonitor` makes the engine's)."""
    return urn.replace(f"{ROOT_STACK}$", "")


def engine_urn(stack: str, project: str, parent: str, typ: str, name: str) -> str:
    """The URN the engine gives a resource (pulumi/pulumi `Deployment.generateURN`): the
    parent's whole qualified type, `$`, the type; the root stack's type is left out. Pulumi's
    `MockMonitor` keeps only the parent's last type, so below two levels its URNs differ from
    the engine's (`BucketReplica$DataBucket$Bucket` vs `DataBucket$Bucket`)."""
    qualified = typ
    if parent:
        parent_type = parent.split("::")[2]
        if parent_type != ROOT_STACK:
            qualified = f"{parent_type}${typ}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def unwrap(value: Any) -> Any:
    """Turn a wire value (from a protobuf Struct) into plain JSON, every secret as "[secret]",
    resource references as their URN, unknowns as "[unknown]" (`UNKNOWN`)."""
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SECRET_SIG:
            return SECRET
        if sig == _RESOURCE_SIG:
            return strip_stack(value.get("urn", ""))
        if sig == _OUTPUT_SIG:
            if value.get("secret"):
                return SECRET
            return unwrap(value["value"]) if "value" in value else UNKNOWN
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if value == _UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def struct_to_json(struct: Any) -> dict[str, Any]:
    return unwrap(json_format.MessageToDict(struct, preserving_proto_field_name=True))


class PlanMocks(pulumi.runtime.Mocks):
    """Answers registrations as the engine would in `mode`, and invokes with realistic,
    deterministic values."""

    def __init__(
        self, *, region: str, mode: Mode = "preview", cloudflare_account: str = "0" * 32
    ) -> None:
        self.region = region
        self.mode = mode
        self.cloudflare_account = cloudflare_account
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.calls: list[pulumi.runtime.MockCallArgs] = []
        self.provider_regions: dict[str, str] = {}  # explicit provider id -> its region

    # ----------------------------------------------------------------------- resources

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        if (
            self.mode == "preview"
            and not args.resource_id
            and not args.typ.startswith("pulumi:providers:")
        ):
            # A create during preview: the provider has only checked the inputs. An empty id
            # is how the engine says "unknown" (the SDK resolves it as such).
            return "", dict(args.inputs)
        return self._deployed(args)

    def _deployed(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        provider_id = args.provider.rsplit("::", 1)[-1] if args.provider else ""
        region = inputs.get("region") or self.provider_regions.get(provider_id) or self.region
        typ, name = args.typ, args.name
        state = dict(inputs)
        given = args.resource_id or None  # the import id of an adopted resource
        rid = given or f"{name}-{_hex(typ, name, n=8)}"
        if typ.startswith("pulumi:providers:"):
            if inputs.get("region"):
                self.provider_regions[rid] = str(inputs["region"])
            return rid, state

        def arn(service: str, resource: str, *, reg: str = region, acct: str = AWS_ACCOUNT) -> str:
            return f"arn:aws:{service}:{reg}:{acct}:{resource}"

        if typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or f"{name}-{_hex(name, n=7)}"
            rid = bucket
            state.update(
                bucket=bucket,
                arn=f"arn:aws:s3:::{bucket}",
                bucketDomainName=f"{bucket}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com",
                bucketRegion=region,
                hostedZoneId="Z3W03O7B5YMIYP",
                region=region,
            )
        elif typ == "aws:kms/key:Key":
            rid = given or _uuid(typ, name)
            state.update(arn=arn("kms", f"key/{rid}"), keyId=rid)
        elif typ == "aws:iam/role:Role":
            role = inputs.get("name") or f"{name}-{_hex(name, n=7)}"
            rid = role
            state.update(name=role, arn=f"arn:aws:iam::{AWS_ACCOUNT}:role/{role}")
        elif typ == "aws:cloudfront/originAccessIdentity:OriginAccessIdentity":
            rid = given or "E" + _hex(typ, name, n=13).upper()
            state.update(
                iamArn=f"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity {rid}",
                cloudfrontAccessIdentityPath=f"origin-access-identity/cloudfront/{rid}",
                arn=f"arn:aws:cloudfront::{AWS_ACCOUNT}:origin-access-identity/{rid}",
            )
        elif typ == "aws:cloudfront/originAccessControl:OriginAccessControl":
            rid = given or "E" + _hex(typ, name, n=13).upper()
        elif typ == "aws:cloudfront/distribution:Distribution":
            rid = given or "E" + _hex(typ, name, n=13).upper()
            state.update(
                arn=f"arn:aws:cloudfront::{AWS_ACCOUNT}:distribution/{rid}",
                domainName=f"d{_hex(typ, name, n=13)}.cloudfront.net",
                hostedZoneId="Z2FDTNDATAQYW2",
                status="Deployed",
            )
        elif typ == "aws:acm/certificate:Certificate":
            rid = arn("acm", f"certificate/{_uuid(typ, name)}")
            domains = [inputs.get("domainName"), *inputs.get("subjectAlternativeNames", [])]
            state.update(
                arn=rid,
                domainValidationOptions=[
                    {
                        "domainName": d,
                        "resourceRecordName": f"_{_hex(d, n=32)}.{d}.",
                        "resourceRecordType": "CNAME",
                        "resourceRecordValue": f"_{_hex('v', d, n=32)}.acm-validations.aws.",
                    }
                    for d in domains
                    if d
                ],
            )
        elif typ == "aws:route53/record:Record":
            rid = f"{inputs.get('zoneId')}_{inputs.get('name')}_{inputs.get('type')}"
            state["fqdn"] = str(inputs.get("name", "")).rstrip(".")
        elif typ == "aws:acm/certificateValidation:CertificateValidation":
            rid = str(inputs.get("certificateArn"))
        elif typ == "aws:efs/fileSystem:FileSystem":
            rid = given or "fs-" + _hex(typ, name, n=17)
            state.update(
                arn=arn("elasticfilesystem", f"file-system/{rid}"),
                dnsName=f"{rid}.efs.{region}.amazonaws.com",
            )
        elif typ == "aws:efs/accessPoint:AccessPoint":
            rid = given or "fsap-" + _hex(typ, name, n=17)
            state.update(arn=arn("elasticfilesystem", f"access-point/{rid}"))
        elif typ == "aws:efs/mountTarget:MountTarget":
            rid = given or "fsmt-" + _hex(typ, name, n=17)
            state.update(ipAddress=f"10.0.{int(_hex(name, n=2), 16) % 250}.10")
        elif typ == "aws:ec2/securityGroup:SecurityGroup":
            rid = given or "sg-" + _hex(typ, name, n=17)
            state.update(arn=arn("ec2", f"security-group/{rid}"))
        elif typ.startswith("aws:backup/"):
            rid = inputs.get("name") or _uuid(typ, name)
            kind = typ.split(":")[-1].lower()
            state.update(arn=arn("backup", f"{kind}:{rid}"))
        elif typ == "aws:sns/topic:Topic":
            topic = inputs.get("name") or f"{name}-{_hex(name, n=7)}"
            rid = arn("sns", topic)  # a topic's id is its ARN
            state.update(arn=rid, name=topic)
        elif typ == "aws:sns/topicSubscription:TopicSubscription":
            rid = f"{inputs.get('topic')}:{_uuid(typ, name)}"
            state.update(arn=rid)
        elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            rid = inputs.get("name") or name
            state.update(arn=arn("cloudwatch", f"alarm:{rid}"))
        elif typ == "aws:cloudwatch/eventRule:EventRule":
            rid = inputs.get("name") or name
            state.update(arn=arn("events", f"rule/{rid}"))
        elif typ == "aws:budgets/budget:Budget":
            budget = inputs.get("name") or name
            rid = f"{AWS_ACCOUNT}:{budget}"
            state.update(arn=f"arn:aws:budgets::{AWS_ACCOUNT}:budget/{budget}")
        elif typ == "cloudflare:index/r2Bucket:R2Bucket":
            rid = inputs.get("name", name)
            state.setdefault("jurisdiction", "default")
            state.setdefault("location", "apac")
            state["creationDate"] = "2026-01-01T00:00:00Z"
        elif typ in (
            "cloudflare:index/accountToken:AccountToken",
            "cloudflare:index/apiToken:ApiToken",
        ):
            rid = mock_token_id(typ, name)
            state.update(
                value=mock_token_value(typ, name),
                issuedOn="2026-01-01T00:00:00Z",
                status=inputs.get("status", "active"),
            )
        elif typ == "cloudflare:index/r2ManagedDomain:R2ManagedDomain":
            state.update(domain=f"pub-{_hex(typ, name)}.r2.dev", bucketId=inputs.get("bucketName"))
        elif typ.startswith("aws:") and "arn" not in state:
            service = typ.split(":")[1].split("/")[0]
            state["arn"] = arn(service, f"{typ.split(':')[-1].lower()}/{rid}")
        state.setdefault("id", rid)
        return rid, state

    # -------------------------------------------------------------------------- invokes

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        self.calls.append(args)
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": AWS_ACCOUNT,
                "arn": f"arn:aws:iam::{AWS_ACCOUNT}:user/offline-plan",
                "userId": "AIDAOFFLINEPLAN",
                "id": AWS_ACCOUNT,
            }
        if token == "aws:index/getRegion:getRegion":
            region = args.args.get("region") or self.region
            return {"region": region, "name": region, "id": region}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:cloudfront/getCachePolicy:getCachePolicy":
            policy_name = args.args.get("name", "")
            return {
                "id": MANAGED_CACHE_POLICIES.get(policy_name, _uuid(policy_name)),
                "name": policy_name,
            }
        if token in (
            "cloudflare:index/getAccountApiTokenPermissionGroupsList:getAccountApiTokenPermissionGroupsList",
            "cloudflare:index/getApiTokenPermissionGroupsList:getApiTokenPermissionGroupsList",
        ):
            # Like the provider: `name` and `scope` are query filters that the provider
            # URL-encodes itself (Go's url.Values), so a pre-encoded name arrives as "%2520"
            # and matches nothing. Refuse it loudly instead of un-quoting it.
            wanted = args.args.get("name") or ""
            if "%" in wanted:
                raise ValueError(
                    f"permission-group name filter {wanted!r} is URL-encoded; the provider "
                    "encodes query parameters itself, so this would match nothing"
                )
            scope = args.args.get("scope") or ""
            names = [
                n
                for n, group_scope in CLOUDFLARE_PERMISSION_GROUPS.items()
                if (not wanted or n == wanted) and (not scope or group_scope == scope)
            ]
            return {
                "results": [
                    {
                        "id": _hex("permission-group", n),
                        "name": n,
                        "scopes": [CLOUDFLARE_PERMISSION_GROUPS[n]],
                        "isSelectable": True,
                    }
                    for n in names
                ]
            }
        return {}


#: The permission groups the mocked Cloudflare API knows, with their scope.
CLOUDFLARE_PERMISSION_GROUPS = {
    "Workers R2 Storage Bucket Item Read": "com.cloudflare.edge.r2.bucket",
    "Workers R2 Storage Bucket Item Write": "com.cloudflare.edge.r2.bucket",
    "Workers R2 Storage Read": "com.cloudflare.api.account",
    "Workers R2 Storage Write": "com.cloudflare.api.account",
}


@dataclass
class Registration:
    """One RegisterResource request as the engine received it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    provider: str | None
    inputs: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    depends_on: list[str]
    secret_outputs: list[str]
    replace_on_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    id: str = UNKNOWN
    """The physical id; `UNKNOWN` for a resource being created in preview mode."""
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Input property -> URNs of the resources its value came from (known at preview)."""
    aliases: list[str] = field(default_factory=list)
    """Former names the resource adopts (`aliases=[pulumi.Alias(name=...)]`)."""
    import_id: str | None = None
    """The id of the existing resource it adopts (the `import` resource option)."""
    ignore_changes: list[str] = field(default_factory=list)


class RecordingMonitor(MockMonitor):
    """A mock monitor that also records each registration's options and secret inputs,
    which `MockResourceArgs` does not carry."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        from pulumi.runtime.settings import get_project, get_stack

        return engine_urn(get_stack(), get_project(), parent, type_, name)

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            urn = strip_stack(response.urn)
            parent = strip_stack(request.parent) if request.parent else None
            if parent is not None and parent.split("::")[-2] == ROOT_STACK:
                parent = None
            provider = request.provider or None
            self.registrations[urn] = Registration(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=parent,
                # A provider reference is "<provider urn>::<provider id>".
                provider=strip_stack(provider.rsplit("::", 1)[0]) if provider else None,
                inputs=struct_to_json(request.object),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                depends_on=sorted(strip_stack(d) for d in request.dependencies),
                secret_outputs=sorted(request.additionalSecretOutputs),
                replace_on_changes=sorted(request.replaceOnChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
                id=(response.id or UNKNOWN) if request.custom else "",
                property_dependencies={
                    prop: sorted(strip_stack(u) for u in deps.urns)
                    for prop, deps in sorted(request.propertyDependencies.items())
                    if deps.urns
                },
                aliases=sorted(a.spec.name for a in request.aliases if a.spec.name),
                import_id=request.importId or None,
                ignore_changes=sorted(request.ignoreChanges),
            )
        return response
