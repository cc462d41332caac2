"""`python -m ops doctor --stack S`: what in a stack file is not real yet.

Offline, every value that is a documented placeholder or example: the sequential or repeated
hex ids (`0123456789abcdef...`, `vpc-0123456789abcdef0`, `subnet-0aaaaaaaaaaaaaaa1`),
AWS's documentation account (123456789012) and example ids (`...EXAMPLE...`, the example KMS
key id), placeholder UUIDs (`11111111-2222-...`), Cloudflare's documented example ids, and the
domains reserved for documentation (example.com/.net/.org, `.example`, `.test`, `.invalid`).
Each is named by its config key, with the file position and what a real value looks like:
each would otherwise fail at `pulumi up` with a provider error that names no config key.

With `--check-aws` it also checks, read-only, that the VPCs, subnets (in their AZs and VPC),
security groups, Route 53 zones (holding the aliases) and ACM certificates (us-east-1,
issued, covering the aliases) the stack file names exist where it says; AWS credentials come
from the usual environment (`AWS_ENDPOINT_URL` for a local endpoint).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from ops.aws import ClientMaker, clients, error_code
from ops.stackfile import StackFile, _Loader, display

#: AWS documentation's example accounts.
EXAMPLE_ACCOUNTS = ("123456789012", "111122223333", "444455556666", "000000000000")
#: Ids Cloudflare's documentation and API reference use in their examples.
CLOUDFLARE_EXAMPLES = {
    "023e105f4ecef8ad9ca31a8372d0c353": "the example id of Cloudflare's API reference",
    "f037e56e89293a057740de681ac9abbe": "an example account id of Cloudflare's provider docs",
}
#: The example KMS key id of AWS's documentation.
AWS_EXAMPLE_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
RESERVED_TLDS = ("example", "test", "invalid", "localhost")

_HEX_SEQUENCE = "0123456789abcdef" * 3
_AWS_ID = re.compile(r"(vpc|subnet|sg|sgr|fs|fsmt|fsap|igw|rtb|eni|i)-([0-9a-f]{8,17})", re.ASCII)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
_HOST = re.compile(r"(?:[a-z0-9*](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.ASCII)

#: What a real value looks like, by the config key it is under (first match wins).
REAL_VALUES = (
    (
        r"cloudflare\.accountId$",
        "your Cloudflare account id, 32 lowercase hex digits (dashboard: R2 > Overview > Account "
        "ID)",
    ),
    (
        r"\.zoneId$",
        "the id of the Cloudflare zone that holds the hostname (dashboard: the domain > Overview >"
        " Zone ID), 32 hex digits",
    ),
    (
        r"certificate\.arn$",
        "an ISSUED ACM certificate in us-east-1 covering the aliases, arn:aws:acm:us-"
        "east-1:<account>:certificate/<uuid> (`aws acm list-certificates --region us-east-1`)",
    ),
    (
        r"route53ZoneId$",
        "the Route 53 hosted zone of the aliases, Z followed by letters and digits (`aws route53 "
        "list-hosted-zones-by-name`)",
    ),
    (r"\.vpcId$", "the VPC of the cluster, vpc- and 17 hex digits (`aws ec2 describe-vpcs`)"),
    (
        r"\.subnets\[\d+\]\.id$",
        "a private subnet of that VPC in the AZ given beside it (`aws ec2 describe-subnets "
        "--filters Name=vpc-id,Values=<vpc>`)",
    ),
    (
        r"clientSecurityGroups\[\d+\]$",
        "the security group of the nodes that mount it, e.g. the EKS cluster security group (`aws "
        "eks describe-cluster --query cluster.resourcesVpcConfig.clusterSecurityGroupId`)",
    ),
    (
        r"import\.distributionId$",
        "the id of the distribution that exists (`aws cloudfront list-distributions`, or `python "
        "-m ops import --discover`)",
    ),
    (
        r"import\.originAccessIdentityId$",
        "the identity the distribution's origins use (`aws cloudfront list-cloud-front-origin-"
        "access-identities`, or --discover)",
    ),
    (
        r"import\.fileSystemId$",
        "the file system's id (`aws efs describe-file-systems --creation-token <token>`, or "
        "--discover)",
    ),
    (
        r"import\.mountTargets\.[^.]+$",
        "the mount target of the file system in that AZ (`aws efs describe-mount-targets --file-"
        "system-id <fs>`)",
    ),
    (
        r"import\.kmsKeyId$",
        "the id of the key the file system is encrypted with (its KmsKeyId, `aws efs describe-"
        "file-systems`)",
    ),
    (
        r"import\.accessPointId$",
        "the access point's id (`aws efs describe-access-points --file-system-id <fs>`)",
    ),
    (r"kmsKeyArn$", "a key ARN of your account, arn:aws:kms:<region>:<account>:key/<uuid>"),
    (r"webAclArn$", "a WAFv2 web ACL of your account (scope CLOUDFRONT)"),
    (
        r"subscriptions\[\d+\]\.endpoint$",
        "the team's own address (email) or endpoint (https) that alerts reach",
    ),
    (
        r"(aliases\[\d+\]|customDomain\.domain)$",
        "a hostname of a domain you own, whose DNS you control",
    ),
    (r"allowedOrigins\[\d+\]$", "the origin your web app is served from, https://<your host>"),
)


@dataclass(frozen=True)
class Placeholder:
    path: str
    """The config key, e.g. `storage-platform:cloudflare.accountId`."""
    value: str
    what: str
    """Why it is a placeholder."""
    real: str
    """What a real value looks like."""
    where: str = ""
    """`file:line:column`."""

    def __str__(self) -> str:
        return (
            f"{self.where}: {self.path}: {self.value!r} is {self.what}; a real value: {self.real}"
        )


def _placeholder_hex(digits: str) -> bool:
    """A run of the hex sequence (either way), or one repeated digit between an optional
    leading `0` and a final digit (`0aaaaaaaaaaaaaaa1`)."""
    digits = digits.lower()
    if digits in _HEX_SEQUENCE or digits in _HEX_SEQUENCE[::-1]:
        return True
    core = digits[1:-1] if len(digits) > 4 else digits
    return len(set(core)) == 1


def _hosts(value: str) -> list[str]:
    value = value.lower()
    if "://" in value:
        host = urlsplit(value).hostname or ""
        return [host] if host else []
    if "@" in value:
        return [value.rsplit("@", 1)[1]]
    return [value] if _HOST.fullmatch(value.removeprefix("*.")) else []


def classify(value: str) -> str | None:
    """Why `value` is a documented placeholder or example, or None."""
    for known, why in CLOUDFLARE_EXAMPLES.items():
        if known in value:
            return why
    if "EXAMPLE" in value:
        return "an example id of AWS's documentation (it contains EXAMPLE)"
    if AWS_EXAMPLE_KEY in value:
        return "the example KMS key id of AWS's documentation"
    for account in EXAMPLE_ACCOUNTS:
        if re.search(rf"(?<![0-9]){account}(?![0-9])", value):
            return f"an ARN of AWS's documentation account {account}"
    match = _AWS_ID.fullmatch(value)
    if match and _placeholder_hex(match[2]):
        return f"a placeholder {match[1]} id (the digits are a pattern, not an id AWS issued)"
    if re.fullmatch(r"[0-9a-f]{32}", value) and _placeholder_hex(value):
        return "a placeholder id (the digits are a pattern)"
    for uuid in _UUID.findall(value):
        groups = uuid.split("-")
        if all(len(set(g)) == 1 for g in groups) or all(_placeholder_hex(g) for g in groups):
            return "a placeholder UUID"
    for host in _hosts(value):
        host = host.removeprefix("*.")
        if any(host == d or host.endswith(f".{d}") for d in RESERVED_DOMAINS):
            return "in a domain reserved for documentation (RFC 2606)"
        if host.rsplit(".", 1)[-1] in RESERVED_TLDS:
            return "in a top-level domain reserved for tests and documentation (RFC 2606)"
    return None


def _real(path: str) -> str:
    for pattern, text in REAL_VALUES:
        if re.search(pattern, path):
            return text
    return "a value of your own account or domain"


def _walk(node: yaml.Node, path: str) -> Iterator[tuple[str, yaml.ScalarNode]]:
    if isinstance(node, yaml.ScalarNode):
        yield path, node
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _walk(item, f"{path}[{i}]")
    elif isinstance(node, yaml.MappingNode):
        keys = {str(k.value) for k, _ in node.value}
        if keys == {"secure"}:
            return  # an encrypted value: nothing to read offline
        for key, value in node.value:
            yield from _walk(value, f"{path}.{key.value}" if path else str(key.value))


def placeholders(sf: StackFile, text: str) -> list[Placeholder]:
    """Every placeholder in the stack file's `config:`, in file order."""
    root = yaml.compose(text, Loader=_Loader)
    found: list[Placeholder] = []
    if not isinstance(root, yaml.MappingNode):
        return found
    name = display(sf.path)
    for key, value in root.value:
        if key.value != "config" or not isinstance(value, yaml.MappingNode):
            continue
        for config_key, node in value.value:
            full = (
                config_key.value if ":" in config_key.value else f"{sf.project}:{config_key.value}"
            )
            for path, scalar in _walk(node, full):
                what = classify(str(scalar.value))
                if what is not None:
                    mark = scalar.start_mark
                    found.append(
                        Placeholder(
                            path,
                            str(scalar.value),
                            what,
                            _real(path),
                            f"{name}:{mark.line + 1}:{mark.column + 1}",
                        )
                    )
    return found


# ------------------------------------------------------------------------------ AWS


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.what}: {self.detail}"


def covers(names: list[str], host: str) -> bool:
    """Whether a certificate for `names` serves `host` (a `*.` name covers one label)."""
    for name in names:
        if name == host:
            return True
        if name.startswith("*.") and host.count(".") == name.count(".") and host.endswith(name[1:]):
            return True
    return False


#: Error codes meaning "there is no such resource" (or "no such id can exist").
NOT_FOUND = (
    ".NotFound",
    ".Malformed",
    "NoSuchHostedZone",
    "InvalidInput",
    "NotFoundException",
    "ResourceNotFoundException",
    "ValidationException",
)


class _Reader:
    """Read-only calls that turn "not found" and refusals into failed checks."""

    def __init__(self, client: ClientMaker) -> None:
        self.client = client
        self.checks: list[Check] = []

    def read(self, what: str, region: str, call: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        try:
            return call(**kwargs)
        except ClientError as err:
            code = error_code(err)
            if code.endswith(NOT_FOUND):
                self.checks.append(Check(what, False, f"not found in {region} ({code})"))
            else:
                self.checks.append(Check(what, False, f"cannot be read: {code}"))
            return None

    def result(self, what: str, problems: list[str], fine: str) -> None:
        self.checks.append(Check(what, not problems, "; ".join(problems) or fine))


def aws_checks(cfg: Any) -> list[Check]:
    """Read-only: the network ids of every file system, the zones and certificates of every
    distribution, the KMS keys given by ARN. Raises botocore's NoCredentialsError without
    credentials."""
    region = cfg.aws_region
    r = _Reader(clients())
    ec2 = r.client("ec2", region)
    for app, app_cfg in cfg.apps.items():
        for key, efs in app_cfg.efs.items():
            where = f"apps.{app}.efs.{key}"
            what = f"{where}.vpcId {efs.vpc_id}"
            if r.read(what, region, ec2.describe_vpcs, VpcIds=[efs.vpc_id]) is not None:
                r.result(what, [], f"exists in {region}")
            for i, subnet in enumerate(efs.subnets):
                what = f"{where}.subnets[{i}] {subnet.id}"
                answer = r.read(what, region, ec2.describe_subnets, SubnetIds=[subnet.id])
                if answer is not None:
                    (s,) = answer["Subnets"]
                    problems = []
                    if s["AvailabilityZone"] != subnet.az:
                        problems.append(
                            f"is in {s['AvailabilityZone']}, the stack file says {subnet.az}"
                        )
                    if s["VpcId"] != efs.vpc_id:
                        problems.append(f"is in {s['VpcId']}, not in vpcId {efs.vpc_id}")
                    r.result(what, problems, f"in {subnet.az} of {efs.vpc_id}")
            for i, group in enumerate(efs.client_security_groups):
                what = f"{where}.clientSecurityGroups[{i}] {group}"
                answer = r.read(what, region, ec2.describe_security_groups, GroupIds=[group])
                if answer is not None:
                    (g,) = answer["SecurityGroups"]
                    wrong = (
                        []
                        if g["VpcId"] == efs.vpc_id
                        else [f"is in {g['VpcId']}, not in {efs.vpc_id}"]
                    )
                    r.result(what, wrong, f"in {efs.vpc_id}")
            if efs.kms_key_arn:
                _key(r, f"{where}.kmsKeyArn", efs.kms_key_arn)
        for key, bucket in app_cfg.s3.items():
            if bucket.encryption.kms_key_arn:
                _key(r, f"apps.{app}.s3.{key}.encryption.kmsKeyArn", bucket.encryption.kms_key_arn)
        for key, cdn in app_cfg.cdn.items():
            if cdn.certificate is not None:
                _certificate(r, f"apps.{app}.cdn.{key}.certificate", cdn, region)
    return r.checks


def _certificate(r: _Reader, where: str, cdn: Any, region: str) -> None:
    cert = cdn.certificate
    aliases = list(cdn.aliases)
    if cert.route53_zone_id:
        what = f"{where}.route53ZoneId {cert.route53_zone_id}"
        route53 = r.client("route53", region)
        zone = r.read(what, "Route 53", route53.get_hosted_zone, Id=cert.route53_zone_id)
        if zone is not None:
            name = zone["HostedZone"]["Name"].rstrip(".")
            outside = [a for a in aliases if not (a == name or a.endswith(f".{name}"))]
            problems = [f"zone {name} cannot hold {outside}"] if outside else []
            r.result(what, problems, f"zone {name} holds {aliases}")
    if cert.arn:
        what = f"{where}.arn"
        acm = r.client("acm", "us-east-1")
        answer = r.read(what, "us-east-1", acm.describe_certificate, CertificateArn=cert.arn)
        if answer is not None:
            c = answer["Certificate"]
            names = [c.get("DomainName", ""), *(c.get("SubjectAlternativeNames") or [])]
            problems = []
            if c.get("Status") != "ISSUED":
                problems.append(f"is {c.get('Status')}, not ISSUED")
            missing = [a for a in aliases if not covers(names, a)]
            if missing:
                problems.append(f"does not cover {missing} (it covers {sorted(set(names))})")
            r.result(what, problems, f"ISSUED in us-east-1, covers {aliases}")


def _key(r: _Reader, what: str, arn: str) -> None:
    region = arn.split(":")[3]
    answer = r.read(what, region, r.client("kms", region).describe_key, KeyId=arn)
    if answer is not None:
        state = answer["KeyMetadata"].get("KeyState")
        r.result(what, [] if state == "Enabled" else [f"is {state}"], "Enabled")
