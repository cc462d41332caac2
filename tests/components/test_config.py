"""Stack-config validation: every rule on both sides of its limit, messages naming the key."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from components.config import ConfigError, parse_stack_config
from ops import stackfile

BUCKET = "apps.app.s3.data"


def stack(bucket: dict[str, Any] | None = None, **extra_buckets: dict[str, Any]) -> dict[str, Any]:
    buckets = {"data": {"name": "acme-data", **(bucket or {})}}
    buckets.update(extra_buckets)
    return {"apps": {"app": {"s3": buckets}}}


def problems(raw: dict[str, Any], region: str | None = "ap-northeast-2") -> list[str]:
    try:
        parse_stack_config(raw, aws_region=region, stack="test")
    except ConfigError as err:
        assert str(err).startswith(f"{len(err.problems)} problem")
        return err.problems
    return []


def only(found: list[str], path: str, *fragments: str) -> str:
    """The single problem, which must name `path` and contain every fragment."""
    assert len(found) == 1, f"expected exactly one problem, got: {found}"
    line = found[0]
    assert line.startswith(f"{path}: "), line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def test_minimal_bucket_is_valid_with_safe_defaults() -> None:
    cfg = parse_stack_config(stack(), aws_region="ap-northeast-2", stack="test")
    bucket = cfg.apps["app"].s3["data"]
    assert bucket.versioning is True
    assert bucket.encryption.type == "sse-s3"
    assert bucket.protect is True
    assert bucket.abort_incomplete_multipart_days == 7


# ------------------------------------------------------------------------ bucket names


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Acme-Data", "uppercase"),
        ("acme.data", "contains a dot"),
        ("ab", "2 characters"),
        ("a" * 64, "64 characters"),
        ("-acme", "not a valid bucket name"),
        ("acme-", "not a valid bucket name"),
        ("acme_data", "not a valid bucket name"),
        ("xn--acme", "reserved prefix 'xn--'"),
        ("sthree-acme", "reserved prefix 'sthree-'"),
        ("amzn-s3-demo-acme", "reserved prefix 'amzn-s3-demo-'"),
        ("acme-s3alias", "reserved suffix '-s3alias'"),
        ("acme--ol-s3", "reserved suffix '--ol-s3'"),
        ("acme--x-s3", "reserved suffix '--x-s3'"),
    ],
)
def test_bucket_names_s3_would_reject_are_refused(name: str, fragment: str) -> None:
    found = problems(stack({"name": name}))
    assert found, f"{name!r} was accepted"
    assert all(line.startswith(f"{BUCKET}.name: {name!r}") for line in found), found
    assert any(fragment in line for line in found), found


def test_ip_like_bucket_name_is_refused() -> None:
    found = problems(stack({"name": "192.168.10.12"}))
    assert any("formatted like an IP address" in line for line in found), found


@pytest.mark.parametrize("name", ["abc", "a" * 63, "0-acme-9", "pingvas-studio-images"])
def test_bucket_names_at_the_limits_are_accepted(name: str) -> None:
    assert problems(stack({"name": name})) == []


def test_bucket_names_must_be_unique_across_the_stack() -> None:
    raw = stack(other={"name": "acme-data"})
    only(problems(raw), "apps.app.s3.other.name", "already used by apps.app.s3.data.name")


# --------------------------------------------------------------------------- lifecycle


def lifecycle(*transitions: tuple[int, str], **rule: Any) -> dict[str, Any]:
    return {
        "lifecycle": [
            {
                "id": "r",
                "transitions": [{"days": d, "storageClass": c} for d, c in transitions],
                **rule,
            }
        ]
    }


RULE = f"{BUCKET}.lifecycle[0]"


@pytest.mark.parametrize("storage_class", ["STANDARD_IA", "ONEZONE_IA"])
def test_ia_transition_under_30_days_is_refused(storage_class: str) -> None:
    only(
        problems(stack(lifecycle((29, storage_class)))),
        f"{RULE}.transitions[0].days",
        "29",
        f"{storage_class}'s minimum age",
        ">= 30",
    )
    assert problems(stack(lifecycle((30, storage_class)))) == []


def test_glacier_classes_may_transition_at_day_zero() -> None:
    assert problems(stack(lifecycle((0, "INTELLIGENT_TIERING")))) == []
    assert problems(stack(lifecycle((0, "GLACIER")))) == []


def test_transitions_must_move_down_the_waterfall() -> None:
    line = only(
        problems(stack(lifecycle((30, "GLACIER"), (90, "GLACIER_IR")))),
        f"{RULE}.transitions[1].storageClass",
        "'GLACIER_IR' after 'GLACIER' is out of order",
    )
    assert "STANDARD_IA -> INTELLIGENT_TIERING" in line


def test_transition_days_must_increase() -> None:
    only(
        problems(stack(lifecycle((90, "GLACIER_IR"), (90, "DEEP_ARCHIVE")))),
        f"{RULE}.transitions[1].days",
        "not after the previous transition (90)",
    )
    assert problems(stack(lifecycle((90, "GLACIER_IR"), (91, "DEEP_ARCHIVE")))) == []


def test_objects_stay_30_days_in_an_ia_class_before_moving_on() -> None:
    only(
        problems(stack(lifecycle((30, "STANDARD_IA"), (59, "GLACIER")))),
        f"{RULE}.transitions[1].days",
        "only 29 days in STANDARD_IA",
        ">= 60",
    )
    assert problems(stack(lifecycle((30, "STANDARD_IA"), (60, "GLACIER")))) == []


def test_unknown_storage_class_is_refused_with_a_suggestion() -> None:
    only(
        problems(stack(lifecycle((30, "GLACIER_INSTANT")))),
        f"{RULE}.transitions[0].storageClass",
        "'GLACIER_INSTANT' is not accepted",
        "accepted: 'STANDARD_IA'",
        "DEEP_ARCHIVE",
    )


def test_expiry_must_come_after_the_last_transition() -> None:
    only(
        problems(stack(lifecycle((30, "GLACIER_IR"), (90, "DEEP_ARCHIVE"), expirationDays=90))),
        f"{RULE}.expirationDays",
        "not after the last transition (DEEP_ARCHIVE at 90 days)",
        "> 90",
    )
    ok = stack(lifecycle((30, "GLACIER_IR"), (90, "DEEP_ARCHIVE"), expirationDays=91))
    assert problems(ok) == []


def test_noncurrent_transitions_follow_the_same_rules() -> None:
    raw = stack(
        {
            "lifecycle": [
                {
                    "id": "r",
                    "noncurrentTransitions": [{"days": 10, "storageClass": "STANDARD_IA"}],
                    "noncurrentExpirationDays": 5,
                }
            ]
        }
    )
    found = problems(raw)
    assert len(found) == 2, found
    assert found[0].startswith(f"{RULE}.noncurrentTransitions[0].days: 10 is under STANDARD_IA")
    assert found[1].startswith(f"{RULE}.noncurrentExpirationDays: 5 is not after")


def test_noncurrent_actions_need_versioning() -> None:
    raw = stack({"versioning": False, "lifecycle": [{"id": "r", "noncurrentExpirationDays": 30}]})
    only(problems(raw), RULE, "noncurrent-version actions need versioning")


def test_rule_without_action_is_refused() -> None:
    only(problems(stack({"lifecycle": [{"id": "r", "prefix": "tmp/"}]})), RULE, "no action")


def test_duplicate_rule_ids_are_refused() -> None:
    rules = [{"id": "r", "expirationDays": 5}, {"id": "r", "expirationDays": 6}]
    only(problems(stack({"lifecycle": rules})), f"{BUCKET}.lifecycle", "'r' is used twice")


def test_abort_incomplete_multipart_days_range() -> None:
    only(
        problems(stack({"abortIncompleteMultipartDays": 0})),
        f"{BUCKET}.abortIncompleteMultipartDays",
        "accepted: 1-365",
    )
    assert problems(stack({"abortIncompleteMultipartDays": 1})) == []


# -------------------------------------------------------------------------------- CORS


def cors(**rule: Any) -> dict[str, Any]:
    return {
        "cors": [{"allowedOrigins": ["https://app.example.com"], "allowedMethods": ["GET"], **rule}]
    }


CORS = f"{BUCKET}.cors[0]"


@pytest.mark.parametrize(
    ("origin", "fragment"),
    [
        ("app.example.com", "has no http(s) scheme"),
        ("ftp://app.example.com", "has no http(s) scheme"),
        ("https://app.example.com/upload", "has a path"),
        ("https://app.example.com/", "ends with '/'"),
    ],
)
def test_cors_origins_need_a_scheme_and_no_path(origin: str, fragment: str) -> None:
    only(
        problems(stack(cors(allowedOrigins=[origin]))),
        f"{CORS}.allowedOrigins[0]",
        repr(origin),
        fragment,
    )


@pytest.mark.parametrize(
    "origin", ["*", "https://app.example.com", "http://localhost:3000", "https://*.example.com"]
)
def test_cors_origins_accepted(origin: str) -> None:
    assert problems(stack(cors(allowedOrigins=[origin]))) == []


def test_cors_unknown_method_is_refused() -> None:
    only(
        problems(stack(cors(allowedMethods=["GET", "PATCH"]))),
        f"{CORS}.allowedMethods[1]",
        "'PATCH' is not a CORS method",
        "GET, PUT, POST, DELETE, HEAD",
    )


def test_cors_negative_max_age_is_refused() -> None:
    only(problems(stack(cors(maxAgeSeconds=-1))), f"{CORS}.maxAgeSeconds", "-1 is negative")
    assert problems(stack(cors(maxAgeSeconds=0))) == []


# ------------------------------------------------------------------ encryption, replicas


def test_sse_s3_with_a_kms_key_is_a_contradiction() -> None:
    arn = "arn:aws:kms:ap-northeast-2:123456789012:key/" + "1" * 8 + "-1111-1111-1111-" + "1" * 12
    only(
        problems(stack({"encryption": {"type": "sse-s3", "kmsKeyArn": arn}})),
        f"{BUCKET}.encryption.kmsKeyArn",
        "type is 'sse-s3'",
    )
    assert problems(stack({"encryption": {"type": "sse-kms", "kmsKeyArn": arn}})) == []


def test_malformed_kms_arn_is_refused() -> None:
    only(
        problems(stack({"encryption": {"type": "sse-kms", "kmsKeyArn": "my-key"}})),
        f"{BUCKET}.encryption.kmsKeyArn",
        "'my-key' is not a KMS key ARN",
    )


def replication(region: str) -> dict[str, Any]:
    return {"replication": {"region": region, "bucket": "acme-data-replica"}}


def test_replica_in_the_source_region_is_refused() -> None:
    only(
        problems(stack(replication("ap-northeast-2"))),
        f"{BUCKET}.replication.region",
        "'ap-northeast-2' is the source bucket's region",
    )
    assert problems(stack(replication("ap-northeast-1"))) == []


def test_replica_region_must_be_a_region() -> None:
    only(
        problems(stack(replication("tokyo"))),
        f"{BUCKET}.replication.region",
        "'tokyo' is not an AWS region",
    )


def test_replication_needs_a_versioned_source() -> None:
    raw = stack({"versioning": False, **replication("ap-northeast-1")})
    only(problems(raw), f"{BUCKET}.replication", "needs versioning on the source")


# ------------------------------------------------------------------------- access logs


def test_access_logs_target_must_exist_in_the_app() -> None:
    only(
        problems(stack({"accessLogs": {"bucket": "logs"}})),
        f"{BUCKET}.accessLogs.bucket",
        "'logs' is not a bucket of app 'app'",
    )
    ok = stack({"accessLogs": {"bucket": "logs"}}, logs={"name": "acme-logs", "versioning": False})
    assert problems(ok) == []


def test_access_logs_target_must_use_sse_s3() -> None:
    raw = stack(
        {"accessLogs": {"bucket": "logs"}},
        logs={"name": "acme-logs", "encryption": {"type": "sse-kms"}},
    )
    only(problems(raw), f"{BUCKET}.accessLogs.bucket", "SSE-S3 bucket")


# ------------------------------------------------------------------ typos, types, region


def test_unknown_keys_are_errors_with_a_suggestion() -> None:
    only(
        problems(stack({"versionig": True})),
        f"{BUCKET}.versionig",
        "unknown key (did you mean 'versioning'?)",
        "accepted keys:",
    )


def test_unknown_top_level_key_is_an_error() -> None:
    raw = {**stack(), "tagz": {}}
    only(problems(raw), "tagz", "unknown key (did you mean 'tags'?)")


def test_wrong_types_name_the_key_and_the_value() -> None:
    only(
        problems(stack({"versioning": "yes"})),
        f"{BUCKET}.versioning",
        "expected true or false, got 'yes' (str)",
    )


def test_missing_required_key() -> None:
    raw = {"apps": {"app": {"s3": {"data": {"versioning": True}}}}}
    only(problems(raw), f"{BUCKET}.name", "required key is missing")


def test_missing_or_bad_aws_region() -> None:
    only(problems(stack(), region=None), "aws:region", "required key is missing")
    only(problems(stack(), region="seoul"), "aws:region", "'seoul' is not an AWS region")


def test_every_problem_is_reported_at_once() -> None:
    raw = stack(
        {
            "name": "Bad.Name",
            "versionig": True,
            "cors": [{"allowedOrigins": ["example.com"], "allowedMethods": ["FETCH"]}],
            "replication": {
                "region": "ap-northeast-2",
                "bucket": "ok-replica",
                "storageClass": "X",
            },
        }
    )
    found = problems(raw)
    paths = {line.split(": ")[0] for line in found}
    assert {
        f"{BUCKET}.name",
        f"{BUCKET}.versionig",
        f"{BUCKET}.cors[0].allowedOrigins[0]",
        f"{BUCKET}.cors[0].allowedMethods[0]",
        f"{BUCKET}.replication.storageClass",
    } <= paths, found


def test_the_prod_stack_file_is_valid() -> None:
    sf = stackfile.load("prod")
    raw = {k.split(":", 1)[1]: v for k, v in sf.values.items() if k.startswith("storage-platform:")}
    cfg = parse_stack_config(copy.deepcopy(raw), aws_region=sf.get("aws:region"), stack="prod")
    assert cfg.aws_region == "ap-northeast-2"
    assert set(cfg.apps) >= {"pingvas-studio", "video-renderer"}


def test_prod_stack_file_is_plain_yaml_with_placeholders_only() -> None:
    text = (stackfile.ROOT / "Pulumi.prod.yaml").read_text()
    yaml.safe_load(text)
    addresses = re.findall(r"[\w.+-]*@[\w.-]*", text)
    assert addresses and all(a.endswith("@example.com") for a in addresses), (
        f"e-mail addresses must be example.com placeholders: {addresses}"
    )
