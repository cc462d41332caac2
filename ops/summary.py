"""One line per resource with the settings that matter, for the plan's tree."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ops.mocks import UNKNOWN, Registration

Summarizer = Callable[[dict[str, Any]], str]
_SUMMARIES: dict[str, Summarizer] = {}


def _for(*types: str) -> Callable[[Summarizer], Summarizer]:
    def register(fn: Summarizer) -> Summarizer:
        for typ in types:
            _SUMMARIES[typ] = fn
        return fn

    return register


def summarize(r: Registration) -> str:
    fn = _SUMMARIES.get(r.type)
    try:
        return fn(r.inputs) if fn else ""
    except (KeyError, TypeError, ValueError, AttributeError):
        return "(unexpected inputs)"


def _region(i: dict[str, Any]) -> str:
    return f" region={i['region']}" if i.get("region") else ""


UNKNOWN_DOCUMENT = "document unknown until the resources it names exist"


def _policy_sids(policy: Any) -> str:
    if policy == UNKNOWN:
        return UNKNOWN_DOCUMENT
    if not isinstance(policy, str) or policy.startswith("["):
        return str(policy)
    doc = json.loads(policy)
    return ", ".join(f"{s.get('Effect')}:{s.get('Sid', '?')}" for s in doc.get("Statement", []))


@_for("aws:s3/bucket:Bucket")
def _bucket(i: dict[str, Any]) -> str:
    return f"bucket={i.get('bucket')}{_region(i)} forceDestroy={i.get('forceDestroy', False)}"


@_for("aws:s3/bucketVersioning:BucketVersioning")
def _versioning(i: dict[str, Any]) -> str:
    return f"status={i['versioningConfiguration']['status']}"


@_for("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
def _sse(i: dict[str, Any]) -> str:
    rule = i["rules"][0]
    algo = rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"]
    key = rule["applyServerSideEncryptionByDefault"].get("kmsMasterKeyId")
    extra = f" key={key}" if key else ""
    return f"{algo}{extra}" + (" bucketKey" if rule.get("bucketKeyEnabled") else "")


@_for("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
def _pab(i: dict[str, Any]) -> str:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    off = [f for f in flags if not i.get(f)]
    return "all 4 public-access blocks on" if not off else f"OFF: {', '.join(off)}"


@_for("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
def _ownership(i: dict[str, Any]) -> str:
    return str(i["rule"]["objectOwnership"])


def _filter(f: dict[str, Any]) -> str:
    if "tag" in f:
        return f"tag {f['tag']['key']}={f['tag']['value']}"
    if "and" in f:
        return f"prefix {f['and'].get('prefix', '')!r} + tags {f['and'].get('tags')}"
    return "whole bucket" if not f.get("prefix") else f"prefix {f['prefix']!r}"


@_for("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
def _lifecycle(i: dict[str, Any]) -> str:
    parts = []
    for rule in i.get("rules", []):
        actions = [f"{t['storageClass']}@{t['days']}d" for t in rule.get("transitions", [])]
        if "expiration" in rule:
            actions.append(f"expire@{rule['expiration']['days']}d")
        actions += [
            f"noncurrent {t['storageClass']}@{t['noncurrentDays']}d"
            for t in rule.get("noncurrentVersionTransitions", [])
        ]
        if "noncurrentVersionExpiration" in rule:
            actions.append(
                f"noncurrent expire@{rule['noncurrentVersionExpiration']['noncurrentDays']}d"
            )
        if "abortIncompleteMultipartUpload" in rule:
            days = rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"]
            actions.append(f"abort multipart@{days}d")
        status = "" if rule["status"] == "Enabled" else " (disabled)"
        parts.append(
            f"{rule['id']}[{_filter(rule.get('filter', {}))}]: {', '.join(actions)}{status}"
        )
    if any(rule.get("transitions") for rule in i.get("rules", [])):
        minimum = i.get("transitionDefaultMinimumObjectSize", "all_storage_classes_128K")
        parts.append(f"objects < 128 KB: {_SMALL_OBJECTS.get(minimum, minimum)}")
    return "; ".join(parts)


_SMALL_OBJECTS = {
    "all_storage_classes_128K": "never transition",
    "varies_by_storage_class": "to GLACIER/DEEP_ARCHIVE only",
}


def _cors_rules(rules: list[tuple[list[str], list[str], Any]]) -> str:
    return "; ".join(
        f"{','.join(methods)} from {','.join(origins)} max-age {age}"
        for methods, origins, age in rules
    )


@_for("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
def _cors(i: dict[str, Any]) -> str:
    return _cors_rules(
        [(r["allowedMethods"], r["allowedOrigins"], r.get("maxAgeSeconds")) for r in i["corsRules"]]
    )


@_for("aws:s3/bucketPolicy:BucketPolicy")
def _bucket_policy(i: dict[str, Any]) -> str:
    return _policy_sids(i.get("policy"))


@_for("aws:s3/bucketLogging:BucketLogging")
def _logging(i: dict[str, Any]) -> str:
    return f"-> s3://{i.get('targetBucket')}/{i.get('targetPrefix')}"


@_for("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
def _replication(i: dict[str, Any]) -> str:
    parts = []
    for rule in i["rules"]:
        d = rule["destination"]
        rtc = f" RTC {d['replicationTime']['time']['minutes']}m" if "replicationTime" in d else ""
        dm = rule.get("deleteMarkerReplication", {}).get("status", "Disabled")
        kms = " kms" if "encryptionConfiguration" in d else ""
        parts.append(
            f"{rule['id']}: -> {d['bucket']} {d.get('storageClass')}{rtc} deleteMarkers={dm}{kms}"
        )
    return "; ".join(parts)


@_for("aws:kms/key:Key")
def _kms(i: dict[str, Any]) -> str:
    return f"rotation={i.get('enableKeyRotation', False)}{_region(i)}"


@_for("aws:iam/role:Role")
def _role(i: dict[str, Any]) -> str:
    doc = json.loads(i["assumeRolePolicy"])
    principals = [s["Principal"].get("Service") for s in doc["Statement"]]
    return f"assumed by {', '.join(map(str, principals))}"


@_for("aws:iam/rolePolicy:RolePolicy")
def _role_policy(i: dict[str, Any]) -> str:
    policy = i.get("policy")
    if policy == UNKNOWN:
        return UNKNOWN_DOCUMENT
    if not isinstance(policy, str) or policy.startswith("["):
        return str(policy)
    doc = json.loads(policy)
    actions: list[str] = []
    for s in doc["Statement"]:
        act = s["Action"]
        actions += act if isinstance(act, list) else [act]
    return f"{len(actions)} actions: {', '.join(actions)}"


@_for("cloudflare:index/r2Bucket:R2Bucket")
def _r2_bucket(i: dict[str, Any]) -> str:
    return (
        f"name={i.get('name')} location={i.get('location', 'auto')} "
        f"jurisdiction={i.get('jurisdiction')} class={i.get('storageClass')}"
    )


@_for("cloudflare:index/r2BucketCors:R2BucketCors")
def _r2_cors(i: dict[str, Any]) -> str:
    return _cors_rules(
        [
            (r["allowed"]["methods"], r["allowed"]["origins"], r.get("maxAgeSeconds"))
            for r in i["rules"]
        ]
    )


@_for("cloudflare:index/r2BucketLifecycle:R2BucketLifecycle")
def _r2_lifecycle(i: dict[str, Any]) -> str:
    parts = []
    for rule in i["rules"]:
        actions = []
        if "deleteObjectsTransition" in rule:
            actions.append(
                f"delete@{rule['deleteObjectsTransition']['condition']['maxAge'] // 86400}d"
            )
        for t in rule.get("storageClassTransitions", []):
            actions.append(f"{t['storageClass']}@{t['condition']['maxAge'] // 86400}d")
        if "abortMultipartUploadsTransition" in rule:
            age = rule["abortMultipartUploadsTransition"]["condition"]["maxAge"] // 86400
            actions.append(f"abort multipart@{age}d")
        prefix = rule["conditions"]["prefix"]
        where = f"prefix {prefix!r}" if prefix else "whole bucket"
        parts.append(f"{rule['id']}[{where}]: {', '.join(actions)}")
    return "; ".join(parts)


@_for("cloudflare:index/r2ManagedDomain:R2ManagedDomain")
def _r2_dev_url(i: dict[str, Any]) -> str:
    return "public r2.dev URL ON" if i.get("enabled") else "public r2.dev URL off"


@_for("cloudflare:index/r2CustomDomain:R2CustomDomain")
def _r2_domain(i: dict[str, Any]) -> str:
    state = "enabled" if i.get("enabled") else "disabled"
    return f"{i.get('domain')} ({state}, min TLS {i.get('minTls')})"


@_for("cloudflare:index/accountToken:AccountToken", "cloudflare:index/apiToken:ApiToken")
def _token(i: dict[str, Any]) -> str:
    parts = []
    for policy in i["policies"]:
        resources = json.loads(policy["resources"])
        buckets = [k.rsplit("_", 1)[-1] for k in resources]
        groups = len(policy["permissionGroups"])
        parts.append(
            f"{policy['effect']} {groups} permission groups on buckets {', '.join(buckets)}"
        )
    ips = i.get("condition", {}).get("requestIp")
    if ips:
        parts.append(f"ips {ips}")
    if i.get("expiresOn"):
        parts.append(f"expires {i['expiresOn']}")
    return f"name={i.get('name')}: " + "; ".join(parts)


@_for("aws:cloudfront/distribution:Distribution")
def _distribution(i: dict[str, Any]) -> str:
    cert = i.get("viewerCertificate", {})
    origins = [o["originId"] for o in i.get("origins", [])]
    access = "OAI" if any("s3OriginConfig" in o for o in i.get("origins", [])) else "OAC"
    behaviors = [b["pathPattern"] for b in i.get("orderedCacheBehaviors", [])]
    parts = [
        f"aliases={','.join(i.get('aliases', [])) or '-'}",
        f"origins={','.join(origins)} via {access}",
        f"{i['defaultCacheBehavior']['viewerProtocolPolicy']}",
        f"tls>={cert.get('minimumProtocolVersion', 'default cert')}",
        f"{cert.get('sslSupportMethod', '')}".strip(),
        i.get("priceClass", ""),
        i.get("httpVersion", ""),
        "ipv6" if i.get("isIpv6Enabled") else "",
        f"behaviors={','.join(behaviors)}" if behaviors else "",
        "waf" if i.get("webAclId") else "",
    ]
    return " ".join(p for p in parts if p)


@_for("aws:cloudfront/cachePolicy:CachePolicy")
def _cache_policy(i: dict[str, Any]) -> str:
    return f"TTL min {i['minTtl']} / default {i['defaultTtl']} / max {i['maxTtl']} s"


@_for("aws:acm/certificate:Certificate")
def _certificate(i: dict[str, Any]) -> str:
    sans = i.get("subjectAlternativeNames", [])
    extra = f" +{','.join(sans)}" if sans else ""
    return f"{i.get('domainName')}{extra} ({i.get('validationMethod')}){_region(i)}"


@_for("aws:efs/fileSystem:FileSystem")
def _efs(i: dict[str, Any]) -> str:
    lifecycle = [v for p in i.get("lifecyclePolicies", []) for v in p.values()]
    key = "CMK" if i.get("kmsKeyId") else "aws/elasticfilesystem"
    modes = f"{i.get('performanceMode')}/{i.get('throughputMode')}"
    return f"encrypted={i.get('encrypted')} ({key}) {modes} lifecycle={','.join(lifecycle) or '-'}"


@_for("aws:efs/mountTarget:MountTarget")
def _mount_target(i: dict[str, Any]) -> str:
    return f"subnet={i.get('subnetId')}"


@_for("aws:efs/accessPoint:AccessPoint")
def _access_point(i: dict[str, Any]) -> str:
    root = i.get("rootDirectory", {})
    info = root.get("creationInfo", {})
    user = i["posixUser"]
    return f"{root.get('path')} uid={user['uid']} gid={user['gid']} mode={info.get('permissions')}"


@_for("aws:efs/fileSystemPolicy:FileSystemPolicy")
def _efs_policy(i: dict[str, Any]) -> str:
    return _policy_sids(i.get("policy"))


@_for("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
def _ingress(i: dict[str, Any]) -> str:
    source = i.get("referencedSecurityGroupId") or i.get("cidrIpv4") or i.get("cidrIpv6")
    return f"{i.get('ipProtocol')}/{i.get('fromPort')} from {source}"


@_for("aws:backup/plan:Plan")
def _backup_plan(i: dict[str, Any]) -> str:
    return "; ".join(
        f"{r['ruleName']}: {r.get('schedule')} keep {r.get('lifecycle', {}).get('deleteAfter')} d"
        for r in i["rules"]
    )


def _topic_of(i: dict[str, Any], key: str) -> str:
    value = i.get(key)
    values = value if isinstance(value, list) else [value]
    return ",".join(str(v).rsplit(":", 1)[-1] if v != UNKNOWN else "topic" for v in values)


@_for("aws:sns/topic:Topic")
def _topic(i: dict[str, Any]) -> str:
    key = "CMK" if i.get("kmsMasterKeyId") else "NOT ENCRYPTED"
    return f"name={i.get('name')}{_region(i)} encrypted={key}"


@_for("aws:sns/topicPolicy:TopicPolicy")
def _topic_policy(i: dict[str, Any]) -> str:
    return _policy_sids(i.get("policy"))


@_for("aws:sns/topicSubscription:TopicSubscription")
def _subscription(i: dict[str, Any]) -> str:
    return f"{i.get('protocol')} -> {i.get('endpoint')}{_region(i)}"


_COMPARISONS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


@_for("aws:cloudwatch/metricAlarm:MetricAlarm")
def _metric_alarm(i: dict[str, Any]) -> str:
    dims = ",".join(f"{k}={v}" for k, v in sorted((i.get("dimensions") or {}).items()))
    periods = i.get("evaluationPeriods")
    return (
        f"{i.get('namespace')} {i.get('metricName')} {i.get('statistic')} "
        f"{_COMPARISONS.get(i.get('comparisonOperator', ''), '?')} {i.get('threshold')} "
        f"for {periods}x{i.get('period')}s [{dims}]{_region(i)} -> {_topic_of(i, 'alarmActions')}"
    )


@_for("aws:cloudwatch/eventRule:EventRule")
def _event_rule(i: dict[str, Any]) -> str:
    pattern = i.get("eventPattern")
    if not isinstance(pattern, str) or pattern == UNKNOWN:
        return str(pattern)
    doc = json.loads(pattern)
    detail = doc.get("detail") or {}
    filters = " ".join(f"{k}={','.join(map(str, v))}" for k, v in sorted(detail.items()))
    return f"{','.join(doc.get('source', []))} {','.join(doc.get('detail-type', []))}: {filters}"


@_for("aws:cloudwatch/eventTarget:EventTarget")
def _event_target(i: dict[str, Any]) -> str:
    return f"rule={i.get('rule')} -> {_topic_of(i, 'arn')}"


@_for("aws:budgets/budget:Budget")
def _budget(i: dict[str, Any]) -> str:
    tags = i.get("tags") or {}
    filters = "; ".join(
        f"{f['name']} {','.join(f.get('values', []))}" for f in i.get("costFilters", [])
    )
    notify = ", ".join(
        f"{n['notificationType']} > {n['threshold']:g}%" for n in i.get("notifications", [])
    )
    return (
        f"{i.get('timeUnit')} {i.get('budgetType')} limit ${i.get('limitAmount')} "
        f"= estimate ${tags.get('estimate-usd')} + {tags.get('headroom-percent')}% headroom; "
        f"{filters}; notify {notify}"
    )


@_for("aws:costexplorer/costAllocationTag:CostAllocationTag")
def _cost_tag(i: dict[str, Any]) -> str:
    return f"tag {i.get('tagKey')} {i.get('status')}"


BUDGET = "aws:budgets/budget:Budget"


def budget_lines(resources: list[Registration]) -> list[str]:
    """The budgets beside the estimate they come from, for the end of `ops plan`."""
    budgets = [r for r in resources if r.type == BUDGET]
    if not budgets:
        return []
    rows = []
    for r in sorted(budgets, key=lambda r: str((r.inputs.get("tags") or {}).get("app"))):
        tags = r.inputs.get("tags") or {}
        limit = f"${r.inputs.get('limitAmount')}"
        rows.append(
            f"  {tags.get('app', r.name):<16} {limit:>11} = AWS estimate "
            f"${tags.get('estimate-usd')} + {tags.get('headroom-percent')}% headroom"
        )
    return ["AWS Budgets (monthly, per app; R2 is billed by Cloudflare):", *rows]
