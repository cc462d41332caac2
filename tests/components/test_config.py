"""Stack-config validation: every rule on both sides of its limit, messages naming the key."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from components.config import parse_stack_config
from ops import stackfile
from tests.conftest import stack_problems

BUCKET = "apps.app.s3.data"


def stack(bucket: dict[str, Any] | None = None, **extra_buckets: dict[str, Any]) -> dict[str, Any]:
    buckets = {"data": {"name": "acme-data", **(bucket or {})}}
    buckets.update(extra_buckets)
    return {"apps": {"app": {"s3": buckets}}}


def problems(raw: dict[str, Any], region: str | None = "ap-northeast-2") -> list[str]:
    return stack_problems(raw, region=region)


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
        ("https://app.example.com:65536", "port '65536'; accepted: a port 1-65535"),
        ("https://app.example.com:0", "port '0'"),
        ("https://app.example.com:99999", "port '99999'"),
        ("https://app.example.com:", "port ''"),
        ("https://app example.com", "which is not a hostname"),
        ("https://App.example.com", "which is not a hostname"),
        ("https://app_x.example.com", "which is not a hostname"),
    ],
)
def test_cors_origins_need_a_scheme_a_host_a_valid_port_and_no_path(
    origin: str, fragment: str
) -> None:
    only(
        problems(stack(cors(allowedOrigins=[origin]))),
        f"{CORS}.allowedOrigins[0]",
        repr(origin),
        fragment,
    )


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "https://app.example.com",
        "http://localhost:3000",
        "https://*.example.com",
        "https://app.example.com:65535",
        "https://app.example.com:1",
        "http://[::1]:3000",
        "http://127.0.0.1:8080",
    ],
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
        "'yes' (a string) is not true or false; accepted: true or false (unquoted)",
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


# ------------------------------------------------- values that used to pass silently

KMS_KEY = "arn:aws:kms:{}:123456789012:key/11111111-2222-3333-4444-555555555555"
TOKEN = "apps.app.r2Tokens.tok"


def r2_stack(**token: Any) -> dict[str, Any]:
    return {
        "cloudflare": {"accountId": "0" * 32},
        "apps": {
            "app": {
                "r2": {"files": {"name": "acme-files"}},
                "r2Tokens": {
                    "tok": {
                        "buckets": ["files"],
                        "access": "read",
                        "generations": ["2026q4"],
                        **token,
                    }
                },
            }
        },
    }


def efs_stack(**efs: Any) -> dict[str, Any]:
    spec = {
        "vpcId": "vpc-0123456789abcdef0",
        "subnets": [
            {"id": "subnet-0aaaaaaaaaaaaaaa1", "az": "ap-northeast-2a"},
            {"id": "subnet-0ccccccccccccccc3", "az": "ap-northeast-2c"},
        ],
        "clientSecurityGroups": ["sg-0123456789abcdef0"],
        **efs,
    }
    return {"apps": {"app": {"efs": {"models": spec}}}}


EFS = "apps.app.efs.models"


@pytest.mark.parametrize(
    "region", ["ap-northeast-1", "il-central-1", "us-gov-west-1", "cn-north-1"]
)
def test_every_region_botocore_knows_is_accepted(region: str) -> None:
    assert problems(stack(), region=region) == []
    assert problems(stack(replication(region)), region="ap-northeast-2") == []


def test_a_region_botocore_does_not_know_is_refused_with_the_list() -> None:
    line = only(
        problems(stack(), region="eu-mars-1"), "aws:region", "'eu-mars-1' is not an AWS region"
    )
    assert (
        "(did you mean 'eu-west-1'?)" in line
        and "accepted: one of the regions botocore knows:" in line
    )
    assert "ap-northeast-2" in line and "us-east-1" in line
    only(problems(stack(replication("eu-mars-1"))), f"{BUCKET}.replication.region", "'eu-mars-1'")


def cdn_stack(**cdn: Any) -> dict[str, Any]:
    return {
        "apps": {
            "app": {
                "s3": {"data": {"name": "acme-data"}},
                "cdn": {"web": {"origins": ["data"], **cdn}},
            }
        }
    }


CDN = "apps.app.cdn.web"


def test_ttls_are_bounded_by_what_cloudfront_takes() -> None:
    assert problems(cdn_stack(defaultBehavior={"maxTtl": 3_153_600_000})) == []
    only(
        problems(cdn_stack(defaultBehavior={"maxTtl": 3_153_600_001})),
        f"{CDN}.defaultBehavior.maxTtl",
        "3153600001 is out of range; accepted: 0-3153600000 seconds",
    )
    only(
        problems(cdn_stack(defaultBehavior={"maxTtl": 10**20})),
        f"{CDN}.defaultBehavior.maxTtl",
        "100000000000000000000 is out of range",
    )
    only(
        problems(cdn_stack(defaultBehavior={"minTtl": -1})),
        f"{CDN}.defaultBehavior.minTtl",
        "accepted: 0-",
    )


@pytest.mark.parametrize(
    "value", ["2026-02-30", "2026-13-01", "2026-2-3", "20261001", "2026-10-01\n"]
)
def test_rotated_on_must_be_a_calendar_date(value: str) -> None:
    only(
        problems(r2_stack(rotatedOn=value)),
        f"{TOKEN}.rotatedOn",
        repr(value),
        "accepted: a calendar date YYYY-MM-DD",
    )


def test_leap_days_are_calendar_dates() -> None:
    assert problems(r2_stack(rotatedOn="2028-02-29")) == []


@pytest.mark.parametrize(
    "value",
    [
        "2027-13-01T00:00:00Z",
        "2027-02-30T00:00:00Z",
        "2027-01-01T24:00:00Z",
        "2027-01-01",
        "2027-01-01T00:00:00",
    ],
)
def test_token_times_must_be_rfc3339_calendar_times(value: str) -> None:
    only(
        problems(r2_stack(notBefore=value)),
        f"{TOKEN}.notBefore",
        repr(value),
        "accepted: an RFC 3339 time",
    )


@pytest.mark.parametrize(
    ("not_before", "expires_on", "ok"),
    [
        ("2027-01-01T01:00:00Z", "2027-01-01T05:00:00+09:00", False),  # 20:00 the day before
        ("2027-01-01T09:00:00+09:00", "2027-01-01T00:00:00Z", False),  # the same instant
        ("2027-01-01T09:00:00+09:00", "2027-01-01T00:00:01Z", True),
        ("2027-01-01T00:00:00Z", "2027-06-01T00:00:00Z", True),
    ],
)
def test_expires_on_is_after_not_before_as_instants(
    not_before: str, expires_on: str, ok: bool
) -> None:
    found = problems(r2_stack(notBefore=not_before, expiresOn=expires_on))
    if ok:
        assert found == []
    else:
        only(found, f"{TOKEN}.expiresOn", "is not after notBefore", "time zones included")


def test_date_rules_apply_to_the_day_given() -> None:
    import datetime as dt

    today = dt.date(2027, 3, 10)

    def found(**token: Any) -> list[str]:
        return stack_problems(r2_stack(**token), stack="t", today=today)

    only(
        found(expiresOn="2027-03-10T00:00:00Z"),
        f"{TOKEN}.expiresOn",
        "is in the past (today is 2027-03-10)",
    )
    assert found(expiresOn="2027-03-11T00:00:00Z") == []
    only(
        found(rotatedOn="2027-03-12"), f"{TOKEN}.rotatedOn", "is in the future", "at most tomorrow"
    )
    assert found(rotatedOn="2027-03-11") == []
    assert problems(r2_stack(expiresOn="2001-01-01T00:00:00Z")) == []  # no day given: not checked


@pytest.mark.parametrize(
    "schedule",
    [
        "cron(0 2 * * ? *)",
        "cron(15 */6 ? * MON-FRI *)",
        "cron(0 5 ? * 1#1 *)",
        "cron(0 0 L * ? *)",
        "cron(30 3 1,15 JAN-DEC ? 2026-2030)",
    ],
)
def test_aws_backup_cron_expressions_are_accepted(schedule: str) -> None:
    assert problems(efs_stack(backup={"schedule": schedule})) == []


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ("cron(99 99 * * ? *)", "minutes '99' out of 0-59"),
        ("cron(0 24 * * ? *)", "hours '24' out of 0-23"),
        ("cron(0 2 * 13 ? *)", "month '13' out of 1-12"),
        ("cron(0 2 ? * 8 *)", "day-of-week '8' out of 1-7"),
        ("cron(0 2 * * * *)", "exactly one of day-of-month and day-of-week to be '?'"),
        ("cron(0/15 * * * ? *)", "more often than hourly"),
        ("cron(0 2 * *)", "has 4 fields, not 6"),
        ("rate(1 day)", "not a schedule expression AWS Backup takes"),
    ],
)
def test_aws_backup_cron_mistakes_are_refused(schedule: str, fragment: str) -> None:
    only(
        problems(efs_stack(backup={"schedule": schedule})),
        f"{EFS}.backup.schedule",
        fragment,
        "accepted: 'cron(",
    )


def test_kms_keys_are_in_the_region_of_what_they_encrypt() -> None:
    kms = {"type": "sse-kms", "kmsKeyArn": KMS_KEY.format("us-east-1")}
    only(
        problems(stack({"encryption": kms})),
        f"{BUCKET}.encryption.kmsKeyArn",
        "is a key in us-east-1",
        "accepted: a key in ap-northeast-2",
    )
    assert (
        problems(stack({"encryption": {**kms, "kmsKeyArn": KMS_KEY.format("ap-northeast-2")}}))
        == []
    )
    only(
        problems(efs_stack(kmsKeyArn=KMS_KEY.format("eu-west-1"))),
        f"{EFS}.kmsKeyArn",
        "is a key in eu-west-1, but the file system (aws:region) is in ap-northeast-2",
    )
    assert problems(efs_stack(kmsKeyArn=KMS_KEY.format("ap-northeast-2"))) == []


def test_a_replica_key_must_be_in_the_replica_region_and_be_used() -> None:
    def raw(key_region: str, source: str = "sse-kms") -> dict[str, Any]:
        rep = {
            "region": "ap-northeast-1",
            "bucket": "acme-data-replica",
            "kmsKeyArn": KMS_KEY.format(key_region),
        }
        return stack({"encryption": {"type": source}, "replication": rep})

    assert problems(raw("ap-northeast-1")) == []
    only(
        problems(raw("ap-northeast-2")),
        f"{BUCKET}.replication.kmsKeyArn",
        "is a key in ap-northeast-2, but the replica is in ap-northeast-1",
    )
    only(
        problems(raw("ap-northeast-1", source="sse-s3")),
        f"{BUCKET}.replication.kmsKeyArn",
        "would never be used: the source is sse-s3",
    )


@pytest.mark.parametrize(
    ("mibps", "ok"), [(0, False), (-5, False), (1, True), (3414, True), (3415, False)]
)
def test_provisioned_throughput_range(mibps: int, ok: bool) -> None:
    found = problems(efs_stack(throughputMode="provisioned", provisionedThroughputMibps=mibps))
    if ok:
        assert found == []
    else:
        only(
            found,
            f"{EFS}.provisionedThroughputMibps",
            f"{mibps} is out of range; accepted: 1-3414 MiB/s",
        )


@pytest.mark.parametrize(
    ("policy", "path", "fragment"),
    [
        ({"maxAgeDays": -1}, "keyRotation.maxAgeDays", "-1 is out of range; accepted: 1-3660 days"),
        ({"maxAgeDays": 0}, "keyRotation.maxAgeDays", "accepted: 1-3660"),
        (
            {"graceDays": -3, "minOverlapDays": 0},
            "keyRotation.graceDays",
            "-3 is too small; accepted: >= 0 days",
        ),
        ({"minOverlapDays": -1}, "keyRotation.minOverlapDays", "accepted: >= 0 days"),
        ({"minOverlapDays": 15}, "keyRotation.minOverlapDays", "more than graceDays (14)"),
    ],
)
def test_key_rotation_ages_are_positive_and_consistent(
    policy: dict[str, int], path: str, fragment: str
) -> None:
    only(problems({**stack(), "keyRotation": policy}), path, fragment)


def test_key_rotation_ages_at_the_limits_are_accepted() -> None:
    assert (
        problems({**stack(), "keyRotation": {"maxAgeDays": 1, "graceDays": 0, "minOverlapDays": 0}})
        == []
    )
    assert problems({**stack(), "keyRotation": {"graceDays": 14, "minOverlapDays": 14}}) == []


def test_noncurrent_transitions_start_at_day_one() -> None:
    def raw(days: int) -> dict[str, Any]:
        rule = {"id": "r", "noncurrentTransitions": [{"days": days, "storageClass": "GLACIER"}]}
        return stack({"lifecycle": [rule]})

    only(
        problems(raw(0)), f"{RULE}.noncurrentTransitions[0].days", "0 is too small; accepted: >= 1"
    )
    assert problems(raw(1)) == []
    assert problems(stack(lifecycle((0, "GLACIER")))) == []  # current versions may move at day 0


# ----------------------------------------------------------------- null and secrets


def test_null_maps_and_lists_read_as_empty() -> None:
    raw = {
        "apps": {"app": {"s3": None, "r2Tokens": None, "usage": None}},
        "tags": None,
        "keyRotation": None,
    }
    cfg = parse_stack_config(raw, aws_region="ap-northeast-2", stack="t")
    assert cfg.apps["app"].s3 == {} and cfg.apps["app"].r2_tokens == {} and cfg.tags == {}
    assert cfg.key_rotation.max_age_days == 92


def test_a_null_where_a_value_is_needed_names_the_key() -> None:
    only(
        problems({"apps": None}),
        "apps",
        "is empty (null); accepted: a mapping of names to mappings with the keys description",
    )
    only(
        problems(stack(data=None)),  # type: ignore[arg-type]
        "apps.app.s3.data",
        "is empty (null); accepted: a mapping with the keys name",
    )
    only(
        problems(stack({"versioning": None})),
        f"{BUCKET}.versioning",
        "is empty (null); accepted: true or false",
    )


def test_a_secret_is_opaque_where_free_text_is_accepted() -> None:
    from components.schema import SECRET_PLACEHOLDER as SECRET

    raw = {
        **stack({"name": SECRET}),
        "cloudflare": {"accountId": SECRET},
        "tags": {"owner": SECRET},
    }
    raw["apps"]["app"]["s3"]["other"] = {"name": SECRET}  # two secrets are not "the same name"
    assert problems(raw) == []
    for key, value, accepted in (
        ("versioning", SECRET, "true or false"),
        ("purpose", SECRET, "'data', 'logs'"),
        ("abortIncompleteMultipartDays", SECRET, "a whole number"),
    ):
        only(
            problems(stack({key: value})),
            f"{BUCKET}.{key}",
            "is a `secure:` value, which offline commands never decrypt",
            f"accepted: {accepted}",
        )


# --------------------------------------------------------- one bad value hides nothing


def test_a_bad_choice_keeps_the_rest_of_its_object_checked() -> None:
    raw = cdn_stack(priceClass="PriceClass_300", minimumTlsVersion="TLSv1")
    raw["apps"]["app"]["usage"] = {"cdn": {"web": {"egressGb": 1}}}
    found = problems(raw)
    assert [line.split(":")[0] for line in found] == [
        f"{CDN}.minimumTlsVersion",
        f"{CDN}.priceClass",
    ], found


def test_a_bad_value_reports_no_follow_on_noise() -> None:
    raw = cdn_stack(access="OAC")
    raw["apps"]["app"]["s3"]["data"]["encryption"] = {"type": "sse-kms"}
    only(problems(raw), f"{CDN}.access", "'OAC' is not accepted (did you mean 'oac'?)")


def test_a_bad_tags_type_hides_no_other_problem() -> None:
    raw = {**stack(replication("ap-northeast-2")), "tags": ["prod"]}
    assert [line.split(":")[0] for line in problems(raw)] == [
        "tags",
        f"{BUCKET}.replication.region",
    ]


# ---------------------------------------------------------------------- namespaces


def keys_problems(*keys: str) -> list[str]:
    return stack_problems(stack(), stack="t", config_keys=keys)


def test_config_keys_belong_to_a_known_namespace() -> None:
    assert (
        keys_problems(
            "storage-platform:apps",
            "aws:region",
            "aws:profile",
            "cloudflare:apiToken",
            "pulumi:tags",
        )
        == []
    )
    only(
        keys_problems("storage-platfrom:tags"),
        "storage-platfrom:tags",
        "unknown namespace 'storage-platfrom' (did you mean 'storage-platform:tags'?)",
        "accepted: storage-platform:<key>, aws:<key>",
    )
    only(keys_problems("awss:region"), "awss:region", "(did you mean 'aws:region'?)")


def test_provider_keys_are_the_ones_the_provider_reads() -> None:
    only(
        keys_problems("aws:regoin"),
        "aws:regoin",
        "the aws provider has no setting 'regoin' (did you mean 'aws:region'?)",
        "accepted: accessKey",
    )
    only(
        keys_problems("cloudflare:apiTokn"),
        "cloudflare:apiTokn",
        "(did you mean 'cloudflare:apiToken'?)",
    )


def test_aws_region_must_be_a_plain_name() -> None:
    from components.schema import SECRET_PLACEHOLDER

    only(
        problems(stack(), region=SECRET_PLACEHOLDER),
        "aws:region",
        "a `secure:` value is not a region name",
    )
    only(
        problems(stack(), region=["ap-northeast-2"]),  # type: ignore[arg-type]
        "aws:region",
        "['ap-northeast-2'] is not a region name",
    )
