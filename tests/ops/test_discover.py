"""`python -m ops import --discover` (ops/discover.py): the stack file's resources looked up,
read-only, in moto's server (S3, EFS, KMS, EC2, CloudFront) and a local Cloudflare API; what
is found becomes `import:` blocks and import-file entries that say where each id came from."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ops import stackfile
from tests.support.cloudflare_api import API_TOKEN, FakeCloudflare, serve
from tests.support.ops_cli import run_ops as run

ROOT = stackfile.ROOT
REGION = "ap-northeast-2"
ACCOUNT = "8e1c2d3a4b5f60718293a4b5c6d7e8f9"


@pytest.fixture(scope="module")
def existing(aws: Any) -> dict[str, Any]:
    return world(aws, uuid.uuid4().hex[:8])


@pytest.fixture
def cloudflare(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCloudflare]:
    with serve(FakeCloudflare(ACCOUNT)) as api:
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", API_TOKEN)
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", api.base_url)
        yield api


def world(aws: Any, suffix: str) -> dict[str, Any]:
    """What exists: a bucket with some configuration and its replica in Tokyo, an encrypted
    file system with a mount target in one of the two subnets, a distribution serving the
    bucket through an origin access identity."""
    s3 = aws("s3")
    images = f"acme-{suffix}-images"
    s3.create_bucket(Bucket=images, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=images, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=images,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=images,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "old",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": 365},
                }
            ]
        },
    )
    replica = f"acme-{suffix}-replica"
    tokyo = aws("s3", "ap-northeast-1")
    tokyo.create_bucket(
        Bucket=replica, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.1.0/24", AvailabilityZone=f"{REGION}a")[
        "Subnet"
    ]["SubnetId"]
    c = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.3.0/24", AvailabilityZone=f"{REGION}c")[
        "Subnet"
    ]["SubnetId"]
    key = aws("kms").create_key(Description="efs")["KeyMetadata"]
    efs = aws("efs")
    fs = efs.create_file_system(
        CreationToken=f"acme-{suffix}-models",
        Encrypted=True,
        KmsKeyId=key["Arn"],
        PerformanceMode="generalPurpose",
    )["FileSystemId"]
    target = efs.create_mount_target(FileSystemId=fs, SubnetId=a)["MountTargetId"]
    cloudfront = aws("cloudfront", "us-east-1")
    # moto has no origin access identity API and drops S3OriginConfig from what it returns:
    # reading the identity off the origin is tested with botocore's Stubber below.
    oai = "E1" + suffix.upper()
    distribution = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": suffix,
            "Aliases": {"Quantity": 1, "Items": [f"images.{suffix}.acme.dev"]},
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "images",
                        "DomainName": f"{images}.s3.{REGION}.amazonaws.com",
                        "S3OriginConfig": {
                            "OriginAccessIdentity": f"origin-access-identity/cloudfront/{oai}"
                        },
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "images",
                "ViewerProtocolPolicy": "redirect-to-https",
                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            },
            "Comment": "seed",
            "Enabled": True,
        }
    )["Distribution"]["Id"]
    return {
        "images": images,
        "replica": replica,
        "vpc": vpc,
        "subnets": (a, c),
        "key": key["KeyId"],
        "fs": fs,
        "target": target,
        "oai": oai,
        "distribution": distribution,
        "suffix": suffix,
    }


def stack(root: Path, w: dict[str, Any], *, adopt_models: bool = False) -> None:
    root.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        (root / name).write_text((ROOT / name).read_text())
    a, c = w["subnets"]
    models_import = (
        "          import: {fileSystemId: fs-0a1b2c3d4e5f60718}\n" if adopt_models else ""
    )
    (root / "Pulumi.live.yaml").write_text(
        "config:\n"
        f"  aws:region: {REGION}\n"
        f"  storage-platform:cloudflare: {{accountId: {ACCOUNT}}}\n"
        "  storage-platform:alarms: {subscriptions: [{protocol: email, endpoint: ops@acme.dev}]}\n"
        "  storage-platform:apps:\n"
        "    studio:\n"
        "      r2:\n"
        "        files: {name: acme-files}\n"
        "        fresh: {name: acme-fresh}\n"
        "      s3:\n"
        "        images:\n"
        f"          name: {w['images']}\n"
        f"          replication: {{region: ap-northeast-1, bucket: {w['replica']}}}\n"
        "        thumbnails:\n"
        f"          name: acme-{w['suffix']}-thumbnails\n"
        "      cdn:\n"
        "        images:\n"
        "          origins: [images]\n"
        f"          aliases: [images.{w['suffix']}.acme.dev]\n"
        "          certificate: {arn: 'arn:aws:acm:us-east-1:210987654321:certificate/3f2a9c1e-6b7d-4e8f-9a0b-1c2d3e4f5a6b'}\n"
        "      efs:\n"
        "        models:\n"
        f"          creationToken: acme-{w['suffix']}-models\n"
        f"          vpcId: {w['vpc']}\n"
        "          subnets:\n"
        f"            - {{id: {a}, az: {REGION}a}}\n"
        f"            - {{id: {c}, az: {REGION}c}}\n"
        "          clientSecurityGroups: [sg-0a1b2c3d4e5f60719]\n" + models_import
    )


def test_discover_adopts_what_exists_and_creates_the_rest(
    existing: dict[str, Any], cloudflare: FakeCloudflare, tmp_path: Path
) -> None:
    w = existing
    cloudflare.r2_buckets[("default", "acme-files")] = {
        "name": "acme-files",
        "creation_date": "2025-06-01T00:00:00Z",
        "location": "APAC",
        "jurisdiction": "default",
        "storage_class": "Standard",
    }
    root = tmp_path / "repo"
    stack(root, w)
    out = tmp_path / "import.json"
    code, stdout, stderr = run(
        "--root", str(root), "import", "--stack", "live", "--discover", "--out", str(out)
    )
    assert code == 0, stderr
    ids = {(r["type"], r.get("id")) for r in json.loads(out.read_text())["resources"]}
    assert ("aws:s3/bucket:Bucket", w["images"]) in ids
    for typ in (
        "bucketVersioning:BucketVersioning",
        "bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    ):
        assert (f"aws:s3/{typ}", w["images"]) in ids
    assert ("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration", w["images"]) not in ids, (
        "none there"
    )
    assert ("aws:s3/bucket:Bucket", f"{w['replica']}@ap-northeast-1") in ids
    assert ("aws:efs/fileSystem:FileSystem", w["fs"]) in ids
    assert ("aws:efs/mountTarget:MountTarget", w["target"]) in ids
    assert ("aws:kms/key:Key", w["key"]) in ids, "the key it is encrypted with"
    assert ("aws:cloudfront/distribution:Distribution", w["distribution"]) in ids
    assert ("cloudflare:index/r2Bucket:R2Bucket", f"{ACCOUNT}/acme-files/default") in ids
    assert not any("thumbnails" in str(i) or "acme-fresh" in str(i) for i in ids)
    assert (
        f"not found (created by the first `pulumi up`): S3 bucket acme-{w['suffix']}-thumbnails"
        in stdout
    )
    assert "R2 bucket acme-fresh" in stdout
    assert f"(discovered: creation token 'acme-{w['suffix']}-models')" in stdout
    assert "add to" in stdout and "distributionId: " + w["distribution"] in stdout
    requests = [path for path, _, _ in cloudflare.requests]
    assert requests == [
        f"/client/v4/accounts/{ACCOUNT}/r2/buckets/acme-files",
        f"/client/v4/accounts/{ACCOUNT}/r2/buckets/acme-fresh",
    ], "one read-only Get Bucket per declared bucket"


def test_an_import_block_for_what_does_not_exist_is_refused(
    existing: dict[str, Any], cloudflare: FakeCloudflare, tmp_path: Path
) -> None:
    w = existing
    root = tmp_path / "repo"
    stack(root, w, adopt_models=True)
    code, _, stderr = run(
        "--root",
        str(root),
        "import",
        "--stack",
        "live",
        "--discover",
        "--out",
        str(tmp_path / "i.json"),
    )
    assert code == 2, stderr
    assert (
        "apps.studio.efs.models.import.fileSystemId is 'fs-0a1b2c3d4e5f60718' in the stack file"
        in stderr
    )
    assert not (tmp_path / "i.json").exists()


def test_discover_without_credentials_is_exit_2(tmp_path: Path, no_aws_credentials: None) -> None:
    code, _, stderr = run(
        "import", "--stack", "prod", "--discover", "--out", str(tmp_path / "i.json")
    )
    assert code == 2 and stderr.startswith("refused: --discover: no AWS credentials")


def test_the_identity_is_read_off_the_distributions_origin() -> None:
    """With access 'oai', the adopted identity is the one the distribution's S3 origins name
    (GetDistributionConfig, as AWS answers it)."""
    from botocore.stub import Stubber

    from components.config import Cdn
    from ops import discover
    from tests.conftest import spec

    client = boto3.session.Session().client(
        "cloudfront", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    stub = Stubber(client)
    origin = {
        "Id": "images",
        "DomainName": "acme-images.s3.ap-northeast-2.amazonaws.com",
        "S3OriginConfig": {
            "OriginAccessIdentity": "origin-access-identity/cloudfront/E74FTE3AEXAMPLE"
        },
    }
    summary = {
        "Id": "EDFDVBD6EXAMPLE",
        "ARN": "arn:aws:cloudfront::210987654321:distribution/EDFDVBD6EXAMPLE",
        "Status": "Deployed",
        "LastModifiedTime": "2026-01-01T00:00:00Z",
        "DomainName": "d111111abcdef8.cloudfront.net",
        "Aliases": {"Quantity": 1, "Items": ["images.acme.dev"]},
        "Origins": {"Quantity": 1, "Items": [{"Id": "images", "DomainName": origin["DomainName"]}]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "images",
            "ViewerProtocolPolicy": "redirect-to-https",
        },
        "CacheBehaviors": {"Quantity": 0},
        "CustomErrorResponses": {"Quantity": 0},
        "Comment": "",
        "PriceClass": "PriceClass_200",
        "Enabled": True,
        "ViewerCertificate": {},
        "Restrictions": {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
        "WebACLId": "",
        "HttpVersion": "http2",
        "IsIPV6Enabled": True,
        "Staging": False,
    }
    stub.add_response(
        "list_distributions",
        {
            "DistributionList": {
                "Marker": "",
                "MaxItems": 100,
                "IsTruncated": False,
                "Quantity": 1,
                "Items": [summary],
            }
        },
    )
    config = {
        "CallerReference": "seed",
        "Origins": {"Quantity": 1, "Items": [origin]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "images",
            "ViewerProtocolPolicy": "redirect-to-https",
        },
        "Comment": "",
        "Enabled": True,
    }
    stub.add_response(
        "get_distribution_config",
        {"DistributionConfig": config, "ETag": "E1"},
        {"Id": "EDFDVBD6EXAMPLE"},
    )

    class App:
        s3 = {"images": type("B", (), {"name": "acme-images"})()}
        cdn = {
            "images": spec(
                Cdn,
                {
                    "origins": ["images"],
                    "access": "oai",
                    "aliases": ["images.acme.dev"],
                    "certificate": {
                        "arn": "arn:aws:acm:us-east-1:210987654321:certificate/3f2a9c1e-6b7d-4e8f-9a0b-1c2d3e4f5a6b"
                    },
                },
            )
        }

    class Config:
        apps = {"studio": App()}

    found = discover.Discovery()
    with stub:
        discover._cloudfront(Config(), found, lambda service, region: client)
    assert found.blocks == {
        ("cdn", "studio", "images"): {
            "distributionId": "EDFDVBD6EXAMPLE",
            "originAccessIdentityId": "E74FTE3AEXAMPLE",
        }
    }
