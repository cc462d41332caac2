"""The offline plan of the prod and staging stacks: deterministic, complete, exactly seed 003's
S3, and, in preview mode (the default), only what a first `pulumi preview` knows."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ops import stackfile
from ops.__main__ import main as ops_main
from ops.mocks import UNKNOWN
from ops.plan import Plan, PlanError, render_tree, run_plan
from tests.support.ops_cli import run_ops

ROOT = stackfile.ROOT


def test_two_runs_give_byte_identical_json(prod_plan: Plan) -> None:
    assert run_plan("prod").dumps() == prod_plan.dumps()


def test_cli_json_matches_and_needs_no_credentials(prod_plan: Plan, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no AWS/Cloudflare/Pulumi vars
    out = subprocess.run(
        [sys.executable, "-m", "ops", "plan", "--stack", "prod", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == prod_plan.dumps()


def test_json_document_shape(prod_plan: Plan) -> None:
    doc = json.loads(prod_plan.dumps())
    assert doc["stack"] == "prod"
    assert doc["mode"] == "preview"
    assert {"resources", "outputs"} <= set(doc)
    for r in doc["resources"]:
        assert {
            "urn",
            "type",
            "name",
            "parent",
            "provider",
            "inputs",
            "protect",
            "retainOnDelete",
        } <= set(r)
        *_, qualified_type, name = r["urn"].split("::")
        assert (qualified_type.split("$")[-1], name) == (r["type"], r["name"]), r["urn"]
        assert "pulumi:pulumi:Stack" not in r["urn"]
    urns = {r["urn"] for r in doc["resources"]}
    assert all(r["parent"] is None or r["parent"] in urns for r in doc["resources"])


def test_no_deprecated_class_or_input_and_no_engine_warnings(prod_plan: Plan) -> None:
    assert prod_plan.diagnostics == []
    for r in prod_plan.resources:
        assert "V2" not in r.type, f"{r.name} uses the deprecated {r.type}"
        if r.type.endswith("BucketLifecycleConfiguration"):
            for rule in r.inputs["rules"]:
                assert "prefix" not in rule, f"{r.name}: rule-level prefix is deprecated"


def test_every_bucket_is_protected_private_encrypted_and_tls_only(prod_plan: Plan) -> None:
    buckets = prod_plan.by_type("aws:s3/bucket:Bucket")
    assert len(buckets) == 8
    for b in buckets:
        component = b.parent
        kids = {r.type.split(":")[-1]: r for r in prod_plan.children(component)}
        assert b.protect, b.name
        assert kids["BucketPublicAccessBlock"].inputs["restrictPublicBuckets"] is True, b.name
        assert "BucketServerSideEncryptionConfiguration" in kids, b.name
        policy = json.loads(kids["BucketPolicy"].inputs["policy"])
        assert policy["Statement"][0]["Sid"] == "DenyInsecureTransport", b.name


def children_of(plan: Plan, component: str) -> dict[str, dict]:
    comp = next(r for r in plan.resources if r.name == component and not r.custom)
    return {r.type.split(":")[-1]: r.inputs for r in plan.children(comp.urn)}


def test_images_bucket_is_seed_003s_design(prod_plan: Plan) -> None:
    kids = children_of(prod_plan, "pingvas-studio-images")
    assert kids["Bucket"]["bucket"] == "pingvas-studio-images"
    assert kids["BucketVersioning"]["versioningConfiguration"] == {"status": "Enabled"}
    assert kids["BucketServerSideEncryptionConfiguration"]["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    ]
    rules = {r["id"]: r for r in kids["BucketLifecycleConfiguration"]["rules"]}
    assert rules["transition_to_glacier"] == {
        "id": "transition_to_glacier",
        "status": "Enabled",
        "filter": {"prefix": ""},
        # Seed 003's Deep Archive step is left out: the CDN serves these objects (finding 10).
        "transitions": [{"days": 30, "storageClass": "GLACIER_IR"}],
        "noncurrentVersionExpiration": {"noncurrentDays": 30},
    }
    assert kids["BucketCorsConfiguration"]["corsRules"] == [
        {
            "allowedHeaders": ["*"],
            "allowedMethods": ["GET", "HEAD"],
            "allowedOrigins": ["https://pingvas.studio", "https://www.pingvas.studio"],
            "exposeHeaders": [],
            "maxAgeSeconds": 3600,
        }
    ]
    pab = kids["BucketPublicAccessBlock"]
    assert [
        pab[k]
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    ] == [True] * 4


def test_images_replicate_to_tokyo_as_standard_ia_with_15_minute_rtc(prod_plan: Plan) -> None:
    (config,) = prod_plan.by_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    assert config.inputs["bucket"] == "pingvas-studio-images"
    (rule,) = config.inputs["rules"]
    d = rule["destination"]
    assert d["bucket"] == "arn:aws:s3:::pingvas-studio-images-replica-tokyo"
    assert d["storageClass"] == "STANDARD_IA"
    assert d["replicationTime"] == {"status": "Enabled", "time": {"minutes": 15}}
    assert d["metrics"] == {"status": "Enabled", "eventThreshold": {"minutes": 15}}
    replica = prod_plan.get("pingvas-studio-images-crr-replica-bucket")
    assert replica.inputs["region"] == "ap-northeast-1"


def lifecycle_of(plan: Plan, component: str) -> dict[str, dict]:
    rules = children_of(plan, component)["BucketLifecycleConfiguration"]["rules"]
    return {r["id"]: r for r in rules}


def test_the_other_seed_003_buckets(prod_plan: Plan) -> None:
    thumbs = lifecycle_of(prod_plan, "pingvas-studio-thumbnails")["intelligent-tiering"]
    assert thumbs["transitions"] == [{"days": 0, "storageClass": "INTELLIGENT_TIERING"}]
    uploads = children_of(prod_plan, "pingvas-studio-uploads")
    assert uploads["BucketVersioning"]["versioningConfiguration"] == {"status": "Enabled"}
    backups = lifecycle_of(prod_plan, "pingvas-studio-backups")["to-glacier"]
    assert backups["transitions"] == [{"days": 0, "storageClass": "GLACIER"}]
    logs = lifecycle_of(prod_plan, "pingvas-studio-logs")["expire-after-30-days"]
    assert logs["expiration"] == {"days": 30}


def test_seed_001_video_artifacts_bucket(prod_plan: Plan) -> None:
    kids = children_of(prod_plan, "video-renderer-videos")
    assert kids["Bucket"]["bucket"] == "video-renderer-artifacts"
    assert kids["BucketVersioning"]["versioningConfiguration"] == {"status": "Enabled"}


def test_outputs_carry_the_s3_endpoints(prod_plan: Plan) -> None:
    images = prod_plan.outputs["endpoints"]["pingvas-studio"]["s3"]["images"]
    assert images["bucket"] == "pingvas-studio-images"
    assert images["region"] == "ap-northeast-2"
    assert images["arn"] == "arn:aws:s3:::pingvas-studio-images"
    assert images["replica"]["region"] == "ap-northeast-1"


def test_tree_shows_components_and_their_settings(prod_plan: Plan) -> None:
    tree = render_tree(prod_plan)
    assert tree.splitlines()[0].startswith(
        f"storage-platform/prod: {len(prod_plan.resources)} resources"
    )
    assert "DataBucket pingvas-studio-images" in tree
    assert "GLACIER_IR@30d, noncurrent expire@30d" in tree
    assert "objects < 128 KB: never transition" in tree
    assert "(offline plan, preview mode)" in tree.splitlines()[0]
    assert "STANDARD_IA RTC 15m" in tree
    assert "[protected]" in tree


@pytest.fixture
def bad_stack(tmp_path: Path) -> Path:
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    text = text.replace("name: pingvas-studio-images\n", "name: Pingvas.Images\n")
    text = text.replace(
        "{days: 30, storageClass: GLACIER_IR}", "{days: 30, storageClass: GLACIER_IRX}"
    )
    text = text.replace("region: ap-northeast-1", "region: ap-northeast-2")
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(text)
    return path


def test_bad_config_fails_before_any_resource_with_every_problem(bad_stack: Path) -> None:
    with pytest.raises(PlanError) as info:
        run_plan("bad", stack_file=bad_stack)
    assert info.value.registered == 0
    message = str(info.value)
    assert message.startswith("4 problems in the stack config:")
    assert "apps.pingvas-studio.s3.images.name: 'Pingvas.Images' contains uppercase" in message
    assert "apps.pingvas-studio.s3.images.name: 'Pingvas.Images' contains a dot" in message
    assert (
        "apps.pingvas-studio.s3.images.lifecycle[0].transitions[0].storageClass: 'GLACIER_IRX'"
        in message
    )
    assert (
        "apps.pingvas-studio.s3.images.replication.region: 'ap-northeast-2' is the source"
        in message
    )


def test_cli_reports_config_errors_with_exit_2(bad_stack: Path, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        (root / name).write_text((ROOT / name).read_text())
    (root / "Pulumi.bad.yaml").write_text(bad_stack.read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "ops", "--root", str(root), "plan", "--stack", "bad"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "plan failed for stack 'bad'" in proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------------- R2


def test_r2_buckets_of_the_three_seed_systems(prod_plan: Plan) -> None:
    buckets = {r.inputs["name"]: r for r in prod_plan.by_type("cloudflare:index/r2Bucket:R2Bucket")}
    assert set(buckets) == {"jokbodude", "s3-images", "fit-files"}
    assert all(b.protect for b in buckets.values())
    for dev in prod_plan.by_type("cloudflare:index/r2ManagedDomain:R2ManagedDomain"):
        assert dev.inputs["enabled"] is False, f"{dev.name}: public r2.dev URL is on"
    uploads = children_of(prod_plan, "jokbodude-files")["R2BucketLifecycle"]["rules"][0]
    assert uploads["conditions"] == {"prefix": "uploads/"}
    assert uploads["deleteObjectsTransition"]["condition"]["maxAge"] == 86400
    cors = children_of(prod_plan, "fit-files-activities")["R2BucketCors"]["rules"][0]
    assert "PUT" in cors["allowed"]["methods"]
    assert cors["allowed"]["origins"] == ["https://fit.example.com"]


def test_no_token_reaches_beyond_its_apps_buckets(prod_plan: Plan) -> None:
    endpoints = prod_plan.outputs["endpoints"]
    tokens = prod_plan.by_type("cloudflare:index/accountToken:AccountToken")
    assert len(tokens) == 3
    for t in tokens:
        app = next(a for a in endpoints if t.name.startswith(f"{a}-"))
        allowed = {b["bucket"] for b in endpoints[app]["r2"].values()}
        for policy in t.inputs["policies"]:
            assert len(policy["permissionGroups"]) == 2, t.name
            for key in json.loads(policy["resources"]):
                prefix = "com.cloudflare.edge.r2.bucket.0123456789abcdef0123456789abcdef_default_"
                assert key.startswith(prefix), f"{t.name} reaches {key}"
                assert key.removeprefix(prefix) in allowed, f"{t.name} reaches {key}"


def test_no_key_is_in_plain_text_in_the_plan(prod_plan: Plan) -> None:
    import hashlib

    from ops.mocks import mock_token_value

    text = prod_plan.dumps()
    for t in prod_plan.by_type("cloudflare:index/accountToken:AccountToken"):
        value = mock_token_value(t.type, t.name)
        assert value not in text
        assert hashlib.sha256(value.encode()).hexdigest() not in text
        assert t.secret_outputs == ["value"]
    for app in prod_plan.outputs["endpoints"].values():
        for bucket in app["r2"].values():
            assert bucket["secretAccessKey"] == "[secret]"
            assert bucket["region"] == "auto"
            assert bucket["endpoint"].endswith(".r2.cloudflarestorage.com")


def test_secure_config_values_stay_masked(tmp_path: Path) -> None:
    text = (
        (ROOT / "Pulumi.prod.yaml")
        .read_text()
        .replace(
            "config:\n",
            "config:\n  cloudflare:apiToken:\n    secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBB\n",
            1,
        )
    )
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(text)
    sf = stackfile.load("prod", ROOT, path)
    assert sf.secret_keys == ["cloudflare:apiToken"]
    plan = run_plan("prod", stack_file=path)
    assert "v1:AAAA" not in plan.dumps()
    assert stackfile.SECRET_PLACEHOLDER not in plan.dumps()


# ---------------------------------------------------------------------- CDN and EFS


def test_images_cdn_is_seed_003s_distribution(prod_plan: Plan) -> None:
    """Adopted as it is: seed 003's distribution and the origin access identity it reads the
    bucket with (no switch to OAC during adoption), `*/thumbnails/*` still served from the
    images bucket until the thumbnails are copied (README, seed 003 runbook)."""
    comp = prod_plan.get("pingvas-studio-images-cdn", "storage:index:CdnDistribution")
    kids = {r.type.split(":")[-1]: r for r in prod_plan.children(comp.urn)}
    assert kids["Distribution"].import_id == "EDFDVBD6EXAMPLE"
    assert kids["OriginAccessIdentity"].import_id == "E74FTE3AEXAMPLE"
    d = kids["Distribution"].inputs
    assert all(
        o["s3OriginConfig"]["originAccessIdentity"]
        == "origin-access-identity/cloudfront/E74FTE3AEXAMPLE"
        for o in d["origins"]
    ), "the adopted OAI, known at preview"
    assert d["defaultCacheBehavior"]["viewerProtocolPolicy"] == "redirect-to-https"
    assert d["defaultCacheBehavior"]["allowedMethods"] == ["GET", "HEAD", "OPTIONS"]
    (thumbs,) = d["orderedCacheBehaviors"]
    assert thumbs["pathPattern"] == "*/thumbnails/*"
    assert thumbs["targetOriginId"] == "s3-pingvas-studio-images", "where seed 003 keeps them"
    assert d["viewerCertificate"]["minimumProtocolVersion"] == "TLSv1.2_2021"
    assert d["viewerCertificate"]["sslSupportMethod"] == "sni-only"
    assert d["viewerCertificate"]["acmCertificateArn"].startswith("arn:aws:acm:us-east-1:")
    assert d["priceClass"] == "PriceClass_200"
    ttls = {
        r.name.removeprefix("pingvas-studio-images-cdn-").removesuffix("-cache"): (
            r.inputs["minTtl"],
            r.inputs["defaultTtl"],
            r.inputs["maxTtl"],
        )
        for r in prod_plan.by_type("aws:cloudfront/cachePolicy:CachePolicy")
        if r.name.startswith("pingvas-studio-images-cdn-")
    }
    assert ttls == {"default": (0, 86400, 31536000), "behavior-0": (86400, 2592000, 31536000)}
    policy = json.loads(prod_plan.get("pingvas-studio-images-policy").inputs["policy"])
    assert [s["Sid"] for s in policy["Statement"]] == [
        "DenyInsecureTransport",
        "CloudFrontReadPingvasStudioImagesCdn",
    ]
    assert policy["Statement"][1]["Principal"] == {
        "AWS": "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E74FTE3AEXAMPLE"
    }
    # The images bucket declares CORS for the studio's origins: the CDN forwards them.
    default_cache = prod_plan.get("pingvas-studio-images-cdn-default-cache").inputs
    headers = default_cache["parametersInCacheKeyAndForwardedToOrigin"]["headersConfig"]
    assert "Origin" in headers["headers"]["items"]


def test_models_efs_is_seed_003s_file_system(prod_plan: Plan, prod_deployed: Plan) -> None:
    fs = prod_plan.get("pingvas-studio-models-efs-file-system")
    assert fs.protect and fs.import_id == "fs-0123456789abcdef0"
    assert fs.inputs["encrypted"] is True
    assert fs.inputs["kmsKeyId"] == (
        "arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ), "the adopted key it is encrypted with: a file system cannot change its key"
    assert fs.inputs["creationToken"] == "pingvas-studio-models", "seed 003's, pinned"
    assert fs.inputs["lifecyclePolicies"] == [
        {"transitionToIa": "AFTER_30_DAYS"},
        {"transitionToPrimaryStorageClass": "AFTER_1_ACCESS"},
    ]
    assert (fs.inputs["performanceMode"], fs.inputs["throughputMode"]) == (
        "generalPurpose",
        "bursting",
    )
    targets = prod_plan.by_type("aws:efs/mountTarget:MountTarget")
    assert len(targets) == 2
    (rule,) = prod_plan.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rule.inputs["referencedSecurityGroupId"] == "sg-0123456789abcdef0"
    assert rule.inputs["fromPort"] == rule.inputs["toPort"] == 2049
    ap = prod_plan.get("pingvas-studio-models-efs-access-point")
    assert ap.inputs["rootDirectory"]["path"] == "/models"
    (backup,) = prod_plan.get("pingvas-studio-models-efs-backup-plan").inputs["rules"]
    assert backup["schedule"] == "cron(0 2 * * ? *)"
    assert backup["lifecycle"] == {"deleteAfter": 30}
    assert prod_plan.outputs["endpoints"]["pingvas-studio"]["efs"]["models"]["volumeHandle"] == (
        UNKNOWN
    )
    models = prod_deployed.outputs["endpoints"]["pingvas-studio"]["efs"]["models"]
    fs_id, ap_id = models["volumeHandle"].split("::")
    assert fs_id == models["fileSystemId"] and ap_id == models["accessPointId"]


def test_video_cdn_domain_is_the_renderers_public_base_url(
    prod_plan: Plan, prod_deployed: Plan
) -> None:
    videos = prod_plan.outputs["endpoints"]["video-renderer"]["cdn"]["videos"]
    assert videos["baseUrl"] == "https://cdn.example.com", "known at preview: from the alias"
    assert videos["domain"] == UNKNOWN
    deployed = prod_deployed.outputs["endpoints"]["video-renderer"]["cdn"]["videos"]
    assert deployed["domain"].endswith(".cloudfront.net")
    cert = prod_plan.get("video-renderer-videos-cdn-certificate")
    assert cert.provider is None and cert.inputs["region"] == "us-east-1"


def test_plan_exits_non_zero_on_a_mandatory_violation(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        (root / name).write_text((ROOT / name).read_text())
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    text = text.replace(
        "        uploads:\n          name: pingvas-studio-uploads\n",
        "        uploads:\n          name: pingvas-studio-uploads\n          protect: false\n",
    )
    (root / "Pulumi.prod.yaml").write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "ops", "--root", str(root), "plan", "--stack", "prod"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr
    assert "policy: 1 mandatory, 2 advisory, 0 could not run (preview mode)" in proc.stdout
    assert (
        "[mandatory] stateful-protected: pingvas-studio-uploads-bucket: stateful resource is not protected"
        in proc.stdout
    )
    ok = subprocess.run(
        [sys.executable, "-m", "ops", "plan", "--stack", "prod"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0
    assert "policy: 0 mandatory, 2 advisory, 0 could not run (preview mode)" in ok.stdout


# ---------------------------------------------------------------- preview fidelity


def test_the_adopted_identity_is_what_lets_prod_keep_its_oai(tmp_path: Path) -> None:
    """Seed 003's distribution reads its bucket through an OAI. Adopted with its id, the
    identity's ARN is known at preview and every rule runs (prod, above); the same config
    without the import block would create a new identity, whose ARN no first preview knows:
    the bucket policy rules then cannot run, which the plan reports as mandatory."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        (root / name).write_text((ROOT / name).read_text())
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    block = (
        "          import:\n"
        "            distributionId: EDFDVBD6EXAMPLE\n"
        "            originAccessIdentityId: E74FTE3AEXAMPLE\n"
    )
    assert block in text
    (root / "Pulumi.prod.yaml").write_text(text.replace(block, ""))
    code, out, _ = run_ops("--root", str(root), "plan", "--stack", "prod")
    assert code == 1
    assert "could not run (preview mode)" in out and ", 0 could not run" not in out
    assert "cannot verify s3-no-public-acl-or-policy on pingvas-studio-images-policy" in out


def test_preview_mode_knows_no_id_or_computed_attribute(prod_plan: Plan) -> None:
    """A first `pulumi preview`: every id unknown, nothing invented by the mocks, but for
    the resources adopted with an `import` option: the engine reads those during the preview,
    so their ids are the import ids (and what derives from them is known)."""
    adopted = {r.import_id for r in prod_plan.resources if r.import_id}
    assert sum(r.import_id is not None for r in prod_plan.resources) >= 15
    for r in prod_plan.resources:
        if r.custom:
            assert r.id == (r.import_id or UNKNOWN), r.name
    text = prod_plan.dumps()
    adopted_cdn = prod_plan.outputs["endpoints"]["pingvas-studio"]["cdn"]["images"]["domain"]
    assert adopted_cdn.endswith(".cloudfront.net"), "read from the adopted distribution"
    for known in sorted({*adopted, adopted_cdn}, key=len, reverse=True):
        text = text.replace(known, "<adopted>")
    for invented in (r"\bfs-[0-9a-f]{17}", r"fsap-[0-9a-f]", r"key/[0-9a-f]", r"\.cloudfront\.net"):
        assert not re.search(invented, text), f"{invented!r} is only known after a deployment"
    assert "mock-token-value" not in text
    images = prod_plan.outputs["endpoints"]["pingvas-studio"]["s3"]["images"]
    assert images["arn"] == "arn:aws:s3:::pingvas-studio-images", "built from the name"
    token = prod_plan.outputs["endpoints"]["jokbodude"]["r2"]["files"]
    assert token["accessKeyId"] == UNKNOWN and token["secretAccessKey"] == "[secret]"


def test_preview_inputs_are_the_deployed_inputs_where_known(
    prod_plan: Plan, prod_deployed: Plan
) -> None:
    """The two modes differ only where preview says "[unknown]": the mocks echo inputs."""
    deployed = {r.urn: r for r in prod_deployed.resources}
    assert set(deployed) == {r.urn for r in prod_plan.resources}

    def same(a: object, b: object) -> bool:
        if a == UNKNOWN:
            return True
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        return a == b

    for r in prod_plan.resources:
        assert same(r.inputs, deployed[r.urn].inputs), r.name
    assert json.loads(prod_deployed.dumps())["mode"] == "deployed"
    assert all(r.id != UNKNOWN for r in prod_deployed.resources if r.custom)


def test_cli_mode_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert ops_main(["plan", "--stack", "prod", "--json", "--mode", "deployed"]) == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "deployed"


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_each_stack_passes_every_mandatory_rule_and_every_rule_runs(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Done when: `ops plan --stack prod|staging`, preview mode by default."""
    assert ops_main(["plan", "--stack", stack]) == 0
    out = capsys.readouterr().out
    assert f"storage-platform/{stack}: " in out and "(offline plan, preview mode)" in out
    assert "policy: 0 mandatory, " in out
    assert ", 0 could not run (preview mode)" in out


# -------------------------------------------------------------------------- stacks

#: The input that holds a resource's physical name, where it is not `name`.
NAME_INPUTS = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:efs/fileSystem:FileSystem": "creationToken",
}
#: Named resources whose names need not be unique per account: a Cloudflare token's name is
#: a label (two tokens may share one), a certificate's DNS validation record is named by ACM
#: and lives in the stack's own zone.
NOT_UNIQUE = {
    "cloudflare:index/accountToken:AccountToken",
    "cloudflare:index/apiToken:ApiToken",
    "aws:route53/record:Record",
}


def physical_names(plan: Plan) -> dict[tuple[str, str], str]:
    """Every physical name the stack gives, derived from the plan: each custom resource's
    name input (`NAME_INPUTS`, else `name`), as (type, name). The names the program gives
    must be known at preview: a rule (or a reviewer) cannot check a name nobody knows."""
    names: dict[tuple[str, str], str] = {}
    for r in plan.resources:
        key = NAME_INPUTS.get(r.type, "name")
        if not r.custom or r.type in NOT_UNIQUE or key not in r.inputs:
            continue
        assert r.inputs[key] != UNKNOWN, f"{r.name}: {key} must be known"
        names[(r.type, r.inputs[key])] = r.name
    return names


def test_staging_mirrors_prod_smaller_and_deletable(prod_plan: Plan, staging_plan: Plan) -> None:
    assert set(staging_plan.outputs["endpoints"]) == set(prod_plan.outputs["endpoints"])
    stateful = [
        r
        for r in staging_plan.resources
        if r.type.split(":")[-1] in ("Bucket", "R2Bucket", "FileSystem", "Key")
    ]
    assert stateful and all(not r.protect for r in stateful)
    assert all(
        r.protect
        for r in prod_plan.resources
        if r.type.split(":")[-1] in ("Bucket", "R2Bucket", "FileSystem", "Key")
    )
    assert len(staging_plan.resources) <= len(prod_plan.resources)


def test_no_physical_name_collides_between_prod_and_staging(
    prod_plan: Plan, staging_plan: Plan
) -> None:
    """Finding 8 and Deliver 5: both stacks in one account, every named resource included
    (also what operates the stack: alert topics, alarms, rules, budgets, roles)."""
    prod, staging = physical_names(prod_plan), physical_names(staging_plan)
    assert len(prod) >= 30 and len(staging) >= 30
    for typ in (
        "aws:sns/topic:Topic",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:budgets/budget:Budget",
        "aws:iam/role:Role",
        "aws:backup/selection:Selection",
        "cloudflare:index/r2Bucket:R2Bucket",
    ):
        assert any(t == typ for t, _ in prod), f"no {typ} names in the prod plan"
    collisions = sorted(set(prod) & set(staging))
    assert collisions == [], collisions


@pytest.mark.parametrize(
    "typ",
    [
        "aws:sns/topic:Topic",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:budgets/budget:Budget",
        "aws:iam/role:Role",  # the Batch Replication roles: the only named ones
    ],
)
def test_a_collision_of_what_operates_the_stack_is_caught(
    prod_plan: Plan, staging_plan: Plan, typ: str
) -> None:
    """The names issue 16 added (alert topics, alarms, backup-failure rules, budgets, Batch
    Replication roles) are in the comparison: staging taking prod's name is a collision."""
    (taken, *_) = [r.inputs["name"] for r in prod_plan.by_type(typ) if "name" in r.inputs]
    (victim, *_) = [r for r in staging_plan.by_type(typ) if "name" in r.inputs]
    copied = dataclasses.replace(victim, inputs={**victim.inputs, "name": taken})
    clash = dataclasses.replace(
        staging_plan, resources=[copied if r is victim else r for r in staging_plan.resources]
    )
    assert (typ, taken) in set(physical_names(prod_plan)) & set(physical_names(clash))


def test_a_second_stack_from_the_same_file_collides_only_in_config_names(
    prod_plan: Plan, tmp_path: Path
) -> None:
    """What carries the stack: the same config as `prod` under another stack name differs
    in every derived name; what still collides are the names config gives (buckets, the
    pinned EFS creation token), which a stack file must choose itself."""
    path = tmp_path / "Pulumi.copy.yaml"
    path.write_text((ROOT / "Pulumi.prod.yaml").read_text())
    prod = physical_names(prod_plan)
    copy = physical_names(run_plan("copy", stack_file=path))
    collisions = {typ for typ, _ in set(prod) & set(copy)}
    assert collisions == {
        "aws:s3/bucket:Bucket",
        "cloudflare:index/r2Bucket:R2Bucket",
        "aws:efs/fileSystem:FileSystem",
    }


def test_every_cloudflare_json_string_is_the_form_the_provider_stores(prod_plan: Plan) -> None:
    """Finding 1, stack-wide: the Cloudflare provider keeps JSON strings verbatim as the API
    returns them (compact, sorted keys); any other spelling is a change on every refresh."""

    def json_strings(value: object) -> list[str]:
        if isinstance(value, str) and value.startswith(("{", "[")):
            return [value]
        if isinstance(value, dict):
            return [s for v in value.values() for s in json_strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in json_strings(v)]
        return []

    found = [
        text
        for r in prod_plan.resources
        if r.type.startswith("cloudflare:")
        for text in json_strings(r.inputs)
    ]
    assert len(found) == 3, "one per token"
    for text in found:
        assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
