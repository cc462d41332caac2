"""`python -m ops doctor` (ops/doctor.py): every placeholder of the stack files by its config key,
and, with --check-aws, what the stack file names in AWS, against moto's server (no network)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from ops import doctor, stackfile
from tests.support.ops_cli import run_ops as run

ROOT = stackfile.ROOT
REGION = "ap-northeast-2"

#: Every placeholder of Pulumi.prod.yaml, by config key (what the stack file must replace).
PROD = {
    "storage-platform:cloudflare.accountId",
    "storage-platform:alarms.subscriptions[0].endpoint",
    "storage-platform:alarms.subscriptions[1].endpoint",
    "storage-platform:apps.fit-files.r2.activities.cors[0].allowedOrigins[0]",
    "storage-platform:apps.fit-files.r2.activities.customDomain.domain",
    "storage-platform:apps.fit-files.r2.activities.customDomain.zoneId",
    "storage-platform:apps.pingvas-studio.cdn.images.import.distributionId",
    "storage-platform:apps.pingvas-studio.cdn.images.import.originAccessIdentityId",
    "storage-platform:apps.pingvas-studio.cdn.images.certificate.arn",
    "storage-platform:apps.pingvas-studio.efs.models.vpcId",
    "storage-platform:apps.pingvas-studio.efs.models.subnets[0].id",
    "storage-platform:apps.pingvas-studio.efs.models.subnets[1].id",
    "storage-platform:apps.pingvas-studio.efs.models.clientSecurityGroups[0]",
    "storage-platform:apps.pingvas-studio.efs.models.import.fileSystemId",
    "storage-platform:apps.pingvas-studio.efs.models.import.mountTargets.ap-northeast-2a",
    "storage-platform:apps.pingvas-studio.efs.models.import.mountTargets.ap-northeast-2c",
    "storage-platform:apps.pingvas-studio.efs.models.import.kmsKeyId",
    "storage-platform:apps.video-renderer.cdn.videos.aliases[0]",
    "storage-platform:apps.video-renderer.cdn.videos.certificate.route53ZoneId",
}
STAGING = {
    "storage-platform:cloudflare.accountId",
    "storage-platform:alarms.subscriptions[0].endpoint",
    "storage-platform:apps.fit-files.r2.activities.cors[0].allowedOrigins[0]",
    "storage-platform:apps.pingvas-studio.cdn.images.certificate.arn",
    "storage-platform:apps.pingvas-studio.efs.models.vpcId",
    "storage-platform:apps.pingvas-studio.efs.models.subnets[0].id",
    "storage-platform:apps.pingvas-studio.efs.models.subnets[1].id",
    "storage-platform:apps.pingvas-studio.efs.models.clientSecurityGroups[0]",
    "storage-platform:apps.video-renderer.cdn.videos.aliases[0]",
    "storage-platform:apps.video-renderer.cdn.videos.certificate.route53ZoneId",
}


@pytest.mark.parametrize(("stack", "expected"), [("prod", PROD), ("staging", STAGING)])
def test_doctor_names_every_placeholder_of_the_stack_files(stack: str, expected: set[str]) -> None:
    """Done when: `ops doctor --stack prod` names every placeholder (and staging's)."""
    code, stdout, _ = run("doctor", "--stack", stack)
    assert code == 1
    lines = [line for line in stdout.splitlines() if line.startswith(f"Pulumi.{stack}.yaml:")]
    named = {line.split(": ", 2)[1] for line in lines}
    assert named == expected
    assert f"{len(expected)} placeholders left in Pulumi.{stack}.yaml" in stdout
    for line in lines:
        assert "; a real value: " in line, line


def test_each_line_says_where_what_and_what_a_real_value_looks_like() -> None:
    sf = stackfile.load("prod")
    found = {p.path: p for p in doctor.placeholders(sf, stackfile.read_text(sf.path))}
    account = found["storage-platform:cloudflare.accountId"]
    text = (ROOT / "Pulumi.prod.yaml").read_text().splitlines()
    line, column = (int(n) for n in account.where.split(":")[1:])
    assert text[line - 1][column - 1 :].startswith("0123456789abcdef0123456789abcdef")
    assert "32 lowercase hex digits" in account.real
    cert = found["storage-platform:apps.pingvas-studio.cdn.images.certificate.arn"]
    assert "123456789012" in cert.what and "us-east-1" in cert.real
    zone = found["storage-platform:apps.fit-files.r2.activities.customDomain.zoneId"]
    assert "Cloudflare's API reference" in zone.what


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        ("0123456789abcdef0123456789abcdef", True),
        ("00000000000000000000000000000000", True),
        ("0a1b2c3d4e5f60718293a4b5c6d7e8f9", False),
        ("vpc-0123456789abcdef0", True),
        ("vpc-0fedcba9876543210", True),
        ("subnet-0aaaaaaaaaaaaaaa1", True),
        ("subnet-0a1b2c3d4e5f60718", False),
        ("sg-04aeda9a214730248", False),
        ("E2QWRUHAPOMQZL", False),
        ("EDFDVBD6EXAMPLE", True),
        ("arn:aws:acm:us-east-1:123456789012:certificate/abc", True),
        (
            "arn:aws:acm:us-east-1:210987654321:certificate/3f2a9c1e-6b7d-4e8f-9a0b-1c2d3e4f5a6b",
            False,
        ),
        ("11111111-2222-3333-4444-555555555555", True),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", True),
        ("https://fit.example.com", True),
        ("ops@example.org", True),
        ("cdn.acme.test", True),
        ("*.example.net", True),
        ("images.pingvas.studio", False),
        ("https://www.pingvas.studio", False),
        ("jokbodude", False),
        ("cron(0 2 * * ? *)", False),
    ],
)
def test_what_counts_as_a_placeholder(value: str, placeholder: bool) -> None:
    assert (doctor.classify(value) is not None) == placeholder, doctor.classify(value)


def test_a_stack_file_with_real_looking_values_is_clean(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (root / "Pulumi.real.yaml").write_text(
        "config:\n"
        "  aws:region: ap-northeast-2\n"
        "  storage-platform:cloudflare: {accountId: 8e1c2d3a4b5f60718293a4b5c6d7e8f9}\n"
        "  storage-platform:apps:\n"
        "    files:\n"
        "      r2:\n"
        "        files: {name: files-bucket}\n"
    )
    code, stdout, _ = run("--root", str(root), "doctor", "--stack", "real")
    assert code == 0, stdout
    assert "no placeholder left in" in stdout


def test_a_broken_stack_file_is_a_config_error_not_a_doctor_verdict(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (root / "Pulumi.bad.yaml").write_text("config:\n  aws:regoin: x\n")
    code, _, stderr = run("--root", str(root), "doctor", "--stack", "bad")
    assert code == 2 and "aws:regoin" in stderr and "Traceback" not in stderr


# ------------------------------------------------------------------------------ AWS


def self_signed(*names: str) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def stack_file(root: Path, efs: str, cdn: str) -> None:
    root.mkdir()
    (root / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (root / "Pulumi.live.yaml").write_text(
        "config:\n"
        f"  aws:region: {REGION}\n"
        "  storage-platform:apps:\n"
        "    studio:\n"
        "      s3:\n"
        "        images: {name: acme-doctor-images}\n"
        f"      cdn:\n{cdn}"
        f"      efs:\n{efs}"
    )


def test_check_aws_finds_what_exists_where_the_stack_file_says(aws: Any, tmp_path: Path) -> None:
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone=f"{REGION}a")
    c = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.3.0/24", AvailabilityZone=f"{REGION}c")
    nodes = ec2.create_security_group(GroupName="nodes-doctor", Description="nodes", VpcId=other)
    zone = aws("route53").create_hosted_zone(Name="acme-doctor.dev", CallerReference="doctor")
    zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
    pem, key = self_signed("images.acme-doctor.dev")
    arn = aws("acm", "us-east-1").import_certificate(Certificate=pem, PrivateKey=key)[
        "CertificateArn"
    ]
    efs = (
        "        models:\n"
        f"          vpcId: {vpc}\n"
        "          subnets:\n"
        f"            - {{id: {a['Subnet']['SubnetId']}, az: {REGION}a}}\n"
        f"            - {{id: {c['Subnet']['SubnetId']}, az: {REGION}b}}\n"
        f"          clientSecurityGroups: [{nodes['GroupId']}]\n"
    )
    cdn = (
        "        images:\n"
        "          origins: [images]\n"
        "          aliases: [images.acme-doctor.dev, thumbs.acme-doctor.dev]\n"
        f"          certificate: {{arn: '{arn}'}}\n"
        "        zoned:\n"
        "          origins: [images]\n"
        "          aliases: [cdn.elsewhere.dev]\n"
        "          certificate: {route53ZoneId: ZMOTOREPLACESTHIS}\n"
    )
    root = tmp_path / "repo"
    stack_file(root, efs, cdn)
    code, stdout, stderr = run("--root", str(root), "doctor", "--stack", "live", "--check-aws")
    assert code == 1, stderr
    assert "AWS: 2 of 6 checks passed (ap-northeast-2)" in stdout
    # moto's zone ids do not start with Z as Route 53's do (config validation refuses them):
    # the zone check runs on the parsed config with moto's id put in.
    cfg = stackfile.load("live", root).config()
    zoned = cfg.apps["studio"].cdn["zoned"]
    assert zoned.certificate is not None
    cert = dataclasses.replace(zoned.certificate, route53_zone_id=zone_id)
    cfg.apps["studio"].cdn["zoned"] = dataclasses.replace(zoned, certificate=cert)
    checks = [str(c) for c in doctor.aws_checks(cfg)]
    results = {line.split(":", 1)[0].split()[1]: line for line in checks}
    assert results["apps.studio.efs.models.vpcId"].startswith("ok  ")
    assert results["apps.studio.efs.models.subnets[0]"].startswith("ok  ")
    assert (
        "is in ap-northeast-2c, the stack file says ap-northeast-2b"
        in results["apps.studio.efs.models.subnets[1]"]
    )
    assert (
        f"is in {other}, not in {vpc}" in results["apps.studio.efs.models.clientSecurityGroups[0]"]
    )
    cert = results["apps.studio.cdn.images.certificate.arn"]
    assert cert.startswith("FAIL") and "does not cover ['thumbs.acme-doctor.dev']" in cert
    line = results["apps.studio.cdn.zoned.certificate.route53ZoneId"]
    assert "zone acme-doctor.dev cannot hold ['cdn.elsewhere.dev']" in line


def test_check_aws_says_what_does_not_exist(aws: Any, tmp_path: Path) -> None:
    efs = (
        "        models:\n"
        "          vpcId: vpc-0a1b2c3d4e5f60718\n"
        "          subnets:\n"
        "            - {id: subnet-0a1b2c3d4e5f60711, az: ap-northeast-2a}\n"
        "            - {id: subnet-0a1b2c3d4e5f60713, az: ap-northeast-2c}\n"
        "          clientSecurityGroups: [sg-0a1b2c3d4e5f60719]\n"
    )
    cdn = (
        "        images:\n"
        "          origins: [images]\n"
        "          aliases: [images.acme-doctor.dev]\n"
        "          certificate: {arn: 'arn:aws:acm:us-east-1:210987654321:certificate/3f2a9c1e-6b7d-4e8f-9a0b-1c2d3e4f5a6b'}\n"
    )
    root = tmp_path / "repo"
    stack_file(root, efs, cdn)
    code, stdout, stderr = run("--root", str(root), "doctor", "--stack", "live", "--check-aws")
    assert code == 1, stderr
    fails = [line for line in stdout.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 5, stdout
    assert all("not found in" in line for line in fails), fails
    assert "InvalidVpcID.NotFound" in stdout and "ResourceNotFoundException" in stdout


def test_check_aws_without_credentials_is_exit_2(no_aws_credentials: None) -> None:
    code, _, stderr = run("doctor", "--stack", "prod", "--check-aws")
    assert code == 2 and stderr.startswith("refused: --check-aws: no AWS credentials")
