"""Adopting existing storage (components/config/adoption.py, components/adopted.py): the import
ids derived from the config or given by `import:` blocks, the checks on those blocks, and what
the components do with them (the `import` option, retain on delete, never a replacement)."""

from __future__ import annotations

from typing import Any

import pytest

from components.cdn import CdnArgs, CdnDistribution
from components.config import Cdn, Efs, R2Bucket, S3Bucket
from components.config.adoption import (
    R2_BUCKET,
    S3_BUCKET,
    ImportId,
    cdn_imports,
    efs_imports,
    r2_imports,
    replica_imports,
    replication_imports,
    s3_imports,
)
from components.config.names import CdnNames, EfsNames
from components.efs import SharedFileSystem, SharedFileSystemArgs
from components.r2 import R2BucketArgs, R2DataBucket
from components.replication import BucketReplica, BucketReplicaArgs
from components.s3 import DataBucket, DataBucketArgs
from components.schema import ConfigError
from policy.rules import Resource, evaluate
from tests.conftest import REGION, PulumiRun, spec

ACCOUNT = "0123456789abcdef0123456789abcdef"
OAI = "aws:cloudfront/originAccessIdentity:OriginAccessIdentity"


def bucket(**extra: Any) -> S3Bucket:
    result: S3Bucket = spec(S3Bucket, {"name": "acme-images", **extra})
    return result


# ------------------------------------------------------------------------------ the ids


def test_an_s3_bucket_and_its_settings_take_the_bucket_name() -> None:
    cors = [{"allowedOrigins": ["https://a.example"], "allowedMethods": ["GET"]}]
    b = bucket(cors=cors, **{"import": {"settings": ["versioning", "cors"]}})
    ids = s3_imports(b.name, b.import_, "apps.a.s3.images", home_region=REGION)
    assert set(ids) == {"bucket", "versioning", "cors"}
    assert {i.id for i in ids.values()} == {"acme-images"}
    assert all(i.carried and i.source == "derived from apps.a.s3.images.name" for i in ids.values())
    assert ids["bucket"].type == S3_BUCKET


def test_without_an_import_block_nothing_is_adopted() -> None:
    b = bucket()
    assert s3_imports(b.name, b.import_, "p", home_region=REGION) == {}
    assert bucket(**{"import": {}}).import_ is not None, "{} adopts the bucket"
    only = s3_imports("acme-images", bucket(**{"import": {}}).import_, "p", home_region=REGION)
    assert set(only) == {"bucket", "encryption"}, "S3 encrypts every bucket since 2023"


def test_a_bucket_outside_aws_region_is_imported_as_id_at_region_by_the_file_only() -> None:
    """pulumi-aws 7: `<id>@<region>` imports a resource of another region; the provider's id
    is the bare name, so the option must not carry it (it would re-import every time)."""
    b = bucket(
        replication={
            "region": "ap-northeast-1",
            "bucket": "acme-images-replica",
            "import": {"settings": ["versioning"]},
        }
    )
    ids = replica_imports(b, "apps.a.s3.images", home_region=REGION)
    assert {i.id for i in ids.values()} == {"acme-images-replica@ap-northeast-1"}
    assert not any(i.carried for i in ids.values())
    assert ids["bucket"].match == (("bucket", "acme-images-replica"), ("region", "ap-northeast-1"))
    assert ids["bucket"].source == "derived from apps.a.s3.images.replication.bucket"


def test_the_replication_configuration_belongs_to_the_replica_component() -> None:
    b = bucket(
        replication={"region": "ap-northeast-1", "bucket": "acme-images-replica"},
        **{"import": {"settings": ["replication", "versioning"]}},
    )
    assert "configuration" not in s3_imports(b.name, b.import_, "p", home_region=REGION)
    (config,) = replication_imports(b, "p").values()
    assert (config.type, config.id) == (
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "acme-images",
    )


def test_an_r2_bucket_id_is_account_name_and_jurisdiction() -> None:
    """pulumi-cloudflare documents `<account_id>/<bucket_name>/<jurisdiction>`; the provider's
    id is the name, so it goes through the bulk file only."""
    r2 = spec(R2Bucket, {"name": "fit-files", "jurisdiction": "eu", "import": {}})
    (only,) = r2_imports(r2, "apps.f.r2.activities", account_id=ACCOUNT).values()
    assert (only.type, only.id, only.carried) == (R2_BUCKET, f"{ACCOUNT}/fit-files/eu", False)
    assert dict(only.match) == {"accountId": ACCOUNT, "name": "fit-files", "jurisdiction": "eu"}


def test_cdn_and_efs_ids_come_from_their_import_blocks() -> None:
    cdn = spec(
        Cdn,
        {
            "origins": ["images"],
            "access": "oai",
            "import": {
                "distributionId": "EDFDVBD6EXAMPLE",
                "originAccessIdentityId": "E74FTE3AEXAMPLE",
            },
        },
    )
    ids = cdn_imports(cdn, "apps.p.cdn.images")
    assert {r: (i.id, i.source) for r, i in ids.items()} == {
        "distribution": ("EDFDVBD6EXAMPLE", "apps.p.cdn.images.import.distributionId"),
        "oai": ("E74FTE3AEXAMPLE", "apps.p.cdn.images.import.originAccessIdentityId"),
    }
    efs = spec(Efs, efs_raw(**{"import": EFS_IMPORT}))
    ids = efs_imports(efs, "apps.p.efs.models")
    assert {r: i.id for r, i in ids.items()} == {
        "file-system": "fs-0123456789abcdef0",
        "mount-ap-northeast-2a": "fsmt-0aaaaaaaaaaaaaaa1",
        "key": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "key-policy": "1234abcd-12ab-34cd-56ef-1234567890ab",
    }
    assert all(i.carried for i in ids.values())


# ------------------------------------------------------------------------------ the checks

EFS_IMPORT = {
    "fileSystemId": "fs-0123456789abcdef0",
    "mountTargets": {"ap-northeast-2a": "fsmt-0aaaaaaaaaaaaaaa1"},
    "kmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
}


def efs_raw(**extra: Any) -> dict[str, Any]:
    return {
        "vpcId": "vpc-0abcdef0123456789",
        "subnets": [
            {"id": "subnet-0abcdef0123456781", "az": "ap-northeast-2a"},
            {"id": "subnet-0abcdef0123456783", "az": "ap-northeast-2c"},
        ],
        "clientSecurityGroups": ["sg-0abcdef0123456789"],
        **extra,
    }


def problems(cls: type, raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        spec(cls, raw)
    return err.value.problems


def test_an_adopted_resource_stays_protected() -> None:
    for cls, raw in (
        (S3Bucket, {"name": "acme-images", "protect": False, "import": {}}),
        (R2Bucket, {"name": "acme-files", "protect": False, "import": {}}),
        (Efs, efs_raw(protect=False, **{"import": EFS_IMPORT})),
    ):
        (line,) = problems(cls, raw)
        assert line.startswith("test.protect: false on a resource with an `import:` block"), line
    replica = {"region": "ap-northeast-1", "bucket": "acme-replica", "import": {}}
    (line,) = problems(S3Bucket, {"name": "acme-images", "protect": False, "replication": replica})
    assert "test.protect" in line


def test_a_setting_the_stack_does_not_manage_cannot_be_listed_as_existing() -> None:
    (line,) = problems(
        S3Bucket, {"name": "acme-logs", "versioning": False, "import": {"settings": ["versioning"]}}
    )
    assert line.startswith("test.import.settings[0]: 'versioning' exists on the bucket, but")
    assert "versioning: true" in line
    (line,) = problems(S3Bucket, {"name": "acme-images", "import": {"settings": ["cors"]}})
    assert "cors rules" in line
    replica = {
        "region": "ap-northeast-1",
        "bucket": "acme-replica",
        "import": {"settings": ["cors"]},
    }
    (line,) = problems(S3Bucket, {"name": "acme-images", "replication": replica})
    assert line.startswith("test.replication.import.settings[0]: 'cors': the stack gives a replica")


def test_adopting_a_distribution_keeps_its_origin_access() -> None:
    """Adopting with access 'oai' but no identity id would create a new identity and move the
    live distribution and bucket policies onto it."""
    (line,) = problems(
        Cdn,
        {"origins": ["images"], "access": "oai", "import": {"distributionId": "EDFDVBD6EXAMPLE"}},
    )
    assert line.startswith("test.import.originAccessIdentityId: is missing with access 'oai'")
    (line,) = problems(
        Cdn,
        {
            "origins": ["images"],
            "import": {
                "distributionId": "EDFDVBD6EXAMPLE",
                "originAccessIdentityId": "E74FTE3AEXAMPLE",
            },
        },
    )
    assert "is set with access 'oac'" in line


def test_malformed_ids_name_the_key_and_an_example() -> None:
    lines = problems(
        Efs,
        efs_raw(
            **{
                "import": {
                    "fileSystemId": "fs-xyz",
                    "mountTargets": {"ap-northeast-2a": "mt-1"},
                    "kmsKeyId": "alias/efs",
                }
            }
        ),
    )
    assert lines == [
        "test.import.fileSystemId: 'fs-xyz' is not an EFS file system id; accepted: e.g. 'fs-0123456789abcdef0'",
        "test.import.mountTargets.ap-northeast-2a: 'mt-1' is not a mount target id; accepted: e.g. 'fsmt-0123456789abcdef0'",
        "test.import.kmsKeyId: 'alias/efs' is not a KMS key id; accepted: e.g. '1234abcd-12ab-34cd-56ef-1234567890ab'",
    ]


def test_efs_import_blocks_fit_the_file_system_they_adopt() -> None:
    block = {
        **EFS_IMPORT,
        "mountTargets": {"ap-northeast-2b": "fsmt-0bbbbbbbbbbbbbbb2"},
        "accessPointId": "fsap-0123456789abcdef0",
    }
    lines = problems(
        Efs,
        efs_raw(
            kmsKeyArn="arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            **{"import": block},
        ),
    )
    assert [line.split(":")[0] for line in lines] == [
        "test.import.kmsKeyId",
        "test.import.mountTargets.ap-northeast-2b",
        "test.import.accessPointId",
    ]


# ------------------------------------------------------------------------------ components


def test_adopted_children_carry_their_import_id_and_are_retained(pulumi_run: PulumiRun) -> None:
    b = bucket(**{"import": {"settings": ["versioning", "lifecycle", "policy"]}})
    imports = s3_imports(b.name, b.import_, "p", home_region=REGION)

    def build() -> None:
        DataBucket("images", DataBucketArgs(spec=b, imports=imports)).seal_policy()

    rec = pulumi_run(build)
    adopted = {r.name: r for r in rec.resources if r.custom and r.import_id}
    assert set(adopted) == {
        "images-bucket",
        "images-versioning",
        "images-lifecycle",
        "images-policy",
    }
    assert all(r.import_id == "acme-images" and r.retain_on_delete for r in adopted.values())
    assert adopted["images-bucket"].protect, "protect stays with the import"
    created = [r for r in rec.resources if r.custom and not r.import_id]
    assert {r.name for r in created} == {
        "images-ownership",
        "images-public-access-block",
        "images-encryption",
    }, "the list is what exists: the rest is created (written over the bucket's)"
    assert not any(r.retain_on_delete for r in created), "what the stack creates, it may delete"


def test_an_unknown_role_is_refused_rather_than_silently_created(pulumi_run: PulumiRun) -> None:
    typo = {"versoning": ImportId("aws:s3/bucketVersioning:BucketVersioning", "acme-images", "p")}

    def build() -> None:
        DataBucket("images", DataBucketArgs(spec=bucket(), imports=typo))

    with pytest.raises(Exception, match=r"no child with the roles \['versoning'\] to adopt"):
        pulumi_run(build)


def test_an_adopted_r2_bucket_keeps_its_location(pulumi_run: PulumiRun) -> None:
    """The location hint applies at creation, and a change replaces the bucket: adopted, the
    stack ignores it; the bucket's id goes through the bulk file (not carried)."""
    r2 = spec(R2Bucket, {"name": "fit-files", "location": "apac", "import": {}})

    def build() -> None:
        R2DataBucket(
            "fit",
            R2BucketArgs(
                spec=r2, account_id=ACCOUNT, imports=r2_imports(r2, "p", account_id=ACCOUNT)
            ),
        )

    r = pulumi_run(build).one(R2_BUCKET)
    assert r.ignore_changes == ["location"] and r.retain_on_delete and r.protect
    assert r.import_id is None


def test_an_adopted_identitys_arn_is_known_at_preview_so_the_bucket_policy_can_be_checked(
    pulumi_run: PulumiRun,
) -> None:
    """The engine reads an imported resource during the preview: its id and outputs exist.
    Created, the identity's ARN is unknown and no rule can check the bucket policy."""

    def build(adopt: bool) -> Any:
        def program() -> None:
            origin = DataBucket("images", DataBucketArgs(spec=bucket()))
            cdn = spec(Cdn, {"origins": ["images"], "access": "oai", "comment": "c"})
            imports = {"oai": ImportId(OAI, "E74FTE3AEXAMPLE", "test")} if adopt else {}
            CdnDistribution(
                "cdn",
                CdnArgs(
                    spec=cdn,
                    origins={"images": origin},
                    names=CdnNames.of("test", "a", "cdn", 0),
                    imports=imports,
                ),
            )
            origin.seal_policy()

        return pulumi_run(program)

    adopted = build(True)
    policy = adopted.policy("aws:s3/bucketPolicy:BucketPolicy")
    principal = policy["Statement"][1]["Principal"]["AWS"]
    assert (
        principal
        == "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E74FTE3AEXAMPLE"
    )
    oai = adopted.one(OAI)
    assert (oai.id, oai.import_id) == ("E74FTE3AEXAMPLE", "E74FTE3AEXAMPLE")

    created = build(False)
    assert created.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"] == "[unknown]"
    verdicts = evaluate(
        [
            Resource(r.type, r.name, r.urn, r.inputs, r.protect, r.parent)
            for r in created.resources
            if r.custom
        ]
    )
    assert any(v.unverified and v.rule == "s3-no-public-acl-or-policy" for v in verdicts)
    verdicts = evaluate(
        [
            Resource(r.type, r.name, r.urn, r.inputs, r.protect, r.parent)
            for r in adopted.resources
            if r.custom
        ]
    )
    assert not any(v.unverified for v in verdicts)


def test_an_adopted_file_system_keeps_its_key_and_mount_targets_move_after_the_rules(
    pulumi_run: PulumiRun,
) -> None:
    efs = spec(Efs, efs_raw(**{"import": EFS_IMPORT}))

    def build() -> None:
        SharedFileSystem(
            "models",
            SharedFileSystemArgs(
                spec=efs,
                names=EfsNames.of("test", "a", "models", None),
                imports=efs_imports(efs, "p"),
            ),
        )

    rec = pulumi_run(build)
    fs = rec.one("aws:efs/fileSystem:FileSystem")
    key_arn = f"arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert fs.inputs["kmsKeyId"] == key_arn, "the adopted key: a file system cannot change its key"
    assert fs.id == "fs-0123456789abcdef0" and fs.protect and fs.retain_on_delete
    rules = {r.urn for r in rec.all("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")}
    for target in rec.all("aws:efs/mountTarget:MountTarget"):
        assert rules <= set(target.depends_on), "NFS is open on the new group before the move"
    adopted = {t.name: t.import_id for t in rec.all("aws:efs/mountTarget:MountTarget")}
    assert adopted == {
        "models-mount-ap-northeast-2a": "fsmt-0aaaaaaaaaaaaaaa1",
        "models-mount-ap-northeast-2c": None,
    }
    assert rec.one("aws:ec2/securityGroup:SecurityGroup").import_id is None, "a new NFS group"
    policy = rec.one("aws:kms/keyPolicy:KeyPolicy")
    assert policy.import_id == "1234abcd-12ab-34cd-56ef-1234567890ab"


def test_the_replica_and_its_rule_are_adopted_through_the_replica_component(
    pulumi_run: PulumiRun,
) -> None:
    source_spec = bucket(
        replication={
            "region": "ap-northeast-1",
            "bucket": "acme-replica",
            "import": {"settings": ["versioning"]},
        },
        **{"import": {"settings": ["replication", "versioning"]}},
    )

    assert source_spec.replication is not None
    replication = source_spec.replication

    def build() -> None:
        source = DataBucket("images", DataBucketArgs(spec=source_spec))
        BucketReplica(
            "images-crr",
            BucketReplicaArgs(
                source=source,
                spec=replication,
                source_region=REGION,
                imports=replication_imports(source_spec, "p"),
                replica_imports=replica_imports(source_spec, "p", home_region=REGION),
            ),
        )
        source.seal_policy()

    rec = pulumi_run(build)
    config = rec.one("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    assert config.import_id == "acme-images" and config.retain_on_delete
    replica = rec.named("images-crr-replica-bucket")
    assert replica.import_id is None and replica.retain_on_delete and replica.protect
    assert replica.urn.split("::")[2] == (
        "storage:index:BucketReplica$storage:index:DataBucket$aws:s3/bucket:Bucket"
    ), "the engine's URN: the whole parent type chain"
