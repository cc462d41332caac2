"""`python -m ops import` (ops/adopt.py): the bulk import file for what exists, read back the way
the Pulumi CLI reads it, against what the program registers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.config import S3Bucket, adoption
from components.config.adoption import ImportId, s3_imports
from components.s3 import DataBucket, DataBucketArgs
from ops import adopt, stackfile
from ops.plan import Plan, run_plan
from tests.conftest import REGION, PulumiRun, spec
from tests.support.ops_cli import run_ops as run

ROOT = stackfile.ROOT
GOLDEN = ROOT / "tests" / "fixtures" / "adoption" / "prod.import.json"
REGENERATE = f"python -m ops import --stack prod --out {GOLDEN.relative_to(ROOT)}"


@pytest.fixture(scope="module")
def prod_adoption(prod_plan: Plan) -> adopt.Adoption:
    cfg = stackfile.load("prod").config()
    return adopt.collect(prod_plan, adoption.stack_imports(cfg))


def test_prod_lists_the_seeds_existing_storage(prod_adoption: adopt.Adoption) -> None:
    """Done when: every resource of seeds 000, 001, 002 and 004 (their buckets), and seed
    003's buckets, distribution and file system; tokens never."""
    ids = {(e.type, e.id) for e in prod_adoption.resources}
    account = "0123456789abcdef0123456789abcdef"
    for name in ("jokbodude", "s3-images", "fit-files"):  # seeds 000, 002, 004
        assert ("cloudflare:index/r2Bucket:R2Bucket", f"{account}/{name}/default") in ids
    assert ("aws:s3/bucket:Bucket", "video-renderer-artifacts") in ids  # seed 001
    for bucket in ("pingvas-studio-images", "pingvas-studio-models"):  # seed 003
        assert ("aws:s3/bucket:Bucket", bucket) in ids
    assert ("aws:s3/bucket:Bucket", "pingvas-studio-images-replica-tokyo@ap-northeast-1") in ids
    assert ("aws:cloudfront/distribution:Distribution", "EDFDVBD6EXAMPLE") in ids
    assert ("aws:cloudfront/originAccessIdentity:OriginAccessIdentity", "E74FTE3AEXAMPLE") in ids
    assert ("aws:efs/fileSystem:FileSystem", "fs-0123456789abcdef0") in ids
    assert ("aws:efs/mountTarget:MountTarget", "fsmt-0aaaaaaaaaaaaaaa1") in ids
    for typ in adopt.TOKENS | adopt.NOT_IMPORTABLE:
        assert not any(e.type == typ for e in prod_adoption.resources), typ
    # Seed 003's Terraform configures the images bucket: each configuration is adopted.
    images = {
        e.type.split(":")[-1] for e in prod_adoption.resources if e.id == "pingvas-studio-images"
    }
    assert images == {
        "Bucket",
        "BucketVersioning",
        "BucketServerSideEncryptionConfiguration",
        "BucketLifecycleConfiguration",
        "BucketCorsConfiguration",
        "BucketPublicAccessBlock",
        "BucketPolicy",
        "BucketReplicationConfig",
    }


def test_the_file_is_read_by_pulumis_rules_into_exactly_the_urns_the_program_registers(
    prod_adoption: adopt.Adoption,
) -> None:
    """Deliver 2: a fresh run of the program (the import ids set from config) registers each
    entry's URN, with its type, and the mock sees the same import id where the program carries
    it; the components the entries hang under are components there too."""
    doc = adopt.import_file(prod_adoption)
    fresh = run_plan("prod")
    urns = adopt.file_urns(doc, "prod", "storage-platform")
    registered = {r.urn: r for r in fresh.resources}
    assert urns and set(urns) <= set(registered)
    for urn, entry in urns.items():
        r = registered[urn]
        assert r.type == entry.type and r.custom != entry.component, urn
        if r.import_id is not None:
            assert r.import_id == entry.id, urn
    carried = {r.urn for r in fresh.resources if r.import_id is not None}
    assert carried <= set(urns), "every import id the program carries is in the file"
    file_only = {u for u, e in urns.items() if e.id and u not in carried}
    assert {registered[u].type for u in file_only} == {
        "cloudflare:index/r2Bucket:R2Bucket",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
    }, "R2 buckets and the Tokyo replica: the provider's id differs from the import id"
    assert adopt.check_file(doc, fresh) == []


def test_the_committed_import_file_follows_the_program(prod_adoption: adopt.Adoption) -> None:
    """A logical name or a parent of an adopted resource changed without the import file
    (and an alias) following would make `pulumi up` delete and recreate what the stack
    adopted. The committed file is the reviewer's copy: regenerate it with the command below
    when a change is meant."""
    assert adopt.dumps(adopt.import_file(prod_adoption)) == GOLDEN.read_text(), REGENERATE


def test_a_renamed_child_or_a_moved_parent_is_caught(pulumi_run: PulumiRun) -> None:
    bucket: S3Bucket = spec(
        S3Bucket, {"name": "acme-images", "import": {"settings": ["lifecycle"]}}
    )
    imports = s3_imports(bucket.name, bucket.import_, "p", home_region=REGION)

    def program(component: str) -> Any:
        def build() -> None:
            DataBucket(component, DataBucketArgs(spec=bucket, imports=imports)).seal_policy()

        return build

    before = pulumi_run(program("images"))
    plan = Plan("storage-platform", "test", before.resources, {})
    group = adoption.Adopted("a", "s3", "images", imports)
    doc = adopt.import_file(adopt.collect(plan, [group]))
    assert adopt.check_file(doc, plan) == []
    renamed = pulumi_run(program("images-v2"))
    after = Plan("storage-platform", "test", renamed.resources, {})
    problems = adopt.check_file(doc, after)
    assert len(problems) == len(doc["resources"]), problems
    assert all("registers no such resource" in p for p in problems)
    edited = json.loads(json.dumps(doc))
    edited["resources"][1]["id"] = "someone-elses-bucket"
    (problem,) = adopt.check_file(edited, plan)
    assert "the program imports 'acme-images', the file 'someone-elses-bucket'" in problem


def test_file_urns_apply_the_clis_rules() -> None:
    """Parents by name or through nameTable, logicalName over name, every refusal listed."""
    doc = {
        "nameTable": {"app": "urn:pulumi:s::p::storage:index:DataBucket::app"},
        "resources": [
            {"type": "storage:index:R2DataBucket", "name": "c", "component": True},
            {
                "type": "cloudflare:index/r2Bucket:R2Bucket",
                "name": "b#x",
                "logicalName": "b",
                "id": "i",
                "parent": "c",
            },
            {"type": "aws:s3/bucket:Bucket", "name": "s", "id": "n", "parent": "app"},
        ],
    }
    assert sorted(adopt.file_urns(doc, "s", "p")) == [
        "urn:pulumi:s::p::storage:index:DataBucket$aws:s3/bucket:Bucket::s",
        "urn:pulumi:s::p::storage:index:R2DataBucket$cloudflare:index/r2Bucket:R2Bucket::b",
        "urn:pulumi:s::p::storage:index:R2DataBucket::c",
    ]
    bad = {
        "resources": [
            {"type": "t:m:T", "name": "a"},
            {"type": "t:m:T", "name": "b", "id": "1", "component": True},
            {"type": "t:m:T", "name": "c", "id": "2", "parent": "nowhere"},
        ]
    }
    with pytest.raises(adopt.AdoptError) as err:
        adopt.file_urns(bad, "s", "p")
    assert str(err.value) == (
        "resource 'a' has no ID; resource 'b' has an ID, but is marked as a component"
    )


def test_names_shared_by_two_resources_get_unique_references() -> None:
    urn = "urn:pulumi:s::p::{}::{}"
    entries = [
        adopt.Entry(
            urn.format("storage:index:DataBucket", "x"), "storage:index:DataBucket", "x", None
        ),
        adopt.Entry(
            urn.format("storage:index:DataBucket$aws:s3/bucket:Bucket", "x"),
            "aws:s3/bucket:Bucket",
            "x",
            urn.format("storage:index:DataBucket", "x"),
            "bucket-x",
        ),
    ]
    doc = adopt.import_file(adopt.Adoption("s", "p", entries, []))
    names = [(r["name"], r.get("logicalName"), r.get("parent")) for r in doc["resources"]]
    assert names == [
        ("x#DataBucket", "x", None),
        ("x#aws.s3.Bucket", "x", "x#DataBucket"),
    ]
    assert sorted(adopt.file_urns(doc, "s", "p")) == sorted(e.urn for e in entries)


def test_the_program_and_the_ids_must_agree(prod_plan: Plan) -> None:
    stray = ImportId("aws:s3/bucket:Bucket", "no-such-bucket", "apps.x.s3.y.name")
    with pytest.raises(adopt.ProgramMismatch, match="0 resources of type aws:s3/bucket:Bucket"):
        adopt.collect(prod_plan, [adoption.Adopted("x", "s3", "y", {"bucket": stray})])
    with pytest.raises(adopt.ProgramMismatch, match="carries import ids no import: block gives"):
        adopt.collect(prod_plan, [])


# ---------------------------------------------------------------------------------- CLI


def test_cli_writes_the_file_and_says_where_each_id_comes_from(tmp_path: Path) -> None:
    out = tmp_path / "import.json"
    state = {
        "deployment": {
            "resources": [
                {
                    "urn": "urn:pulumi:prod::storage-platform::storage:index:R2DataBucket::jokbodude-files"
                },
                {
                    "urn": "urn:pulumi:prod::storage-platform::storage:index:R2DataBucket$cloudflare:index/r2Bucket:R2Bucket::jokbodude-files-bucket"
                },
            ]
        }
    }
    (tmp_path / "state.json").write_text(json.dumps(state))
    code, stdout, stderr = run(
        "import",
        "--stack",
        "prod",
        "--app",
        "jokbodude",
        "--out",
        str(out),
        "--state",
        str(tmp_path / "state.json"),
    )
    assert code == 0, stderr
    assert "nothing to import" in stdout and not out.exists(), "all of it is in the state already"
    code, stdout, stderr = run("import", "--stack", "prod", "--app", "fit-files", "--out", str(out))
    assert code == 0, stderr
    doc = json.loads(out.read_text())
    assert [(r["type"], r.get("id")) for r in doc["resources"]] == [
        ("storage:index:R2DataBucket", None),
        (
            "cloudflare:index/r2Bucket:R2Bucket",
            "0123456789abcdef0123456789abcdef/fit-files/default",
        ),
    ]
    assert "<- derived from apps.fit-files.r2.activities.name" in stdout
    assert "fit-files-activities-cors  cloudflare.R2BucketCors" in stdout, "written, not imported"
    assert "never imported: R2 tokens (3 in the stack;" in stdout
    assert "pulumi import --file" in stdout and "--preview-only" in stdout
    code, stdout, _ = run("import", "--stack", "prod", "--check", str(out))
    assert code == 0 and "matches the program" in stdout


def test_cli_mistakes_are_one_line_and_exit_2(tmp_path: Path) -> None:
    code, _, stderr = run(
        "import", "--stack", "prod", "--app", "nope", "--out", str(tmp_path / "f")
    )
    assert code == 2 and stderr.startswith("refused: --app 'nope' is not an app of stack 'prod'")
    code, _, stderr = run("import", "--stack", "prod", "--out", str(tmp_path))
    assert code == 2 and "is a directory" in stderr
    (tmp_path / "bad.json").write_text("{")
    code, _, stderr = run("import", "--stack", "prod", "--check", str(tmp_path / "bad.json"))
    assert code == 2 and stderr.startswith("refused: --check")
    (tmp_path / "state.json").write_text("[]")
    code, _, stderr = run(
        "import",
        "--stack",
        "prod",
        "--app",
        "jokbodude",
        "--out",
        str(tmp_path / "i.json"),
        "--state",
        str(tmp_path / "state.json"),
    )
    assert code == 2 and "not a `pulumi stack export` document" in stderr
    assert "Traceback" not in stderr


def test_check_exits_1_when_the_file_is_stale(tmp_path: Path) -> None:
    doc = json.loads(GOLDEN.read_text())
    doc["resources"][0]["name"] = "pingvas-studio-images-replication"
    for r in doc["resources"]:
        if r.get("parent") == "pingvas-studio-images-crr":
            r["parent"] = "pingvas-studio-images-replication"
    path = tmp_path / "stale.json"
    path.write_text(json.dumps(doc))
    code, stdout, _ = run("import", "--stack", "prod", "--check", str(path))
    assert code == 1
    assert "pingvas-studio-images-replication: the program registers no such resource" in stdout
    assert "differs from the program" in stdout


def test_staging_adopts_nothing(tmp_path: Path) -> None:
    code, stdout, _ = run("import", "--stack", "staging", "--out", str(tmp_path / "i.json"))
    assert code == 0 and "nothing to import" in stdout and not (tmp_path / "i.json").exists()
