"""A picture of the stack from the plan's `endpoints` output: apps -> buckets, tokens, CDNs,
file systems. Mermaid source always (GitHub renders it); SVG through Graphviz when `dot` is
installed (`apt-get install graphviz`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ops.files import write_atomic
from ops.plan import Plan


def _id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def graph(
    plan: Plan,
) -> tuple[list[tuple[str, str, list[tuple[str, str, str]]]], list[tuple[str, str, str]]]:
    """(apps with their (node id, label, shape) lists, edges (from, to, label))."""
    apps: list[tuple[str, str, list[tuple[str, str, str]]]] = []
    edges: list[tuple[str, str, str]] = []
    endpoints: dict[str, Any] = plan.outputs.get("endpoints", {})
    for app, entry in sorted(endpoints.items()):
        nodes: list[tuple[str, str, str]] = []
        for key, b in sorted((entry.get("s3") or {}).items()):
            nodes.append((_id(app, "s3", key), f"S3 {b['bucket']}", "bucket"))
            if "replica" in b:
                rid = _id(app, "s3", key, "replica")
                nodes.append(
                    (
                        rid,
                        f"S3 replica {b['replica']['bucket']} ({b['replica']['region']})",
                        "bucket",
                    )
                )
                edges.append((_id(app, "s3", key), rid, "replication"))
        for key, b in sorted((entry.get("r2") or {}).items()):
            nodes.append((_id(app, "r2", key), f"R2 {b['bucket']}", "bucket"))
        for key, t in sorted((entry.get("r2Tokens") or {}).items()):
            nodes.append(
                (
                    _id(app, "token", key),
                    f"R2 key {key} ({t['access']}, {t['activeGeneration']})",
                    "key",
                )
            )
            for bucket in t["buckets"]:
                edges.append((_id(app, "token", key), _id(app, "r2", bucket), t["access"]))
        for key, c in sorted((entry.get("cdn") or {}).items()):
            nodes.append(
                (_id(app, "cdn", key), f"CloudFront {', '.join(c['aliases']) or key}", "cdn")
            )
            for origin in c["origins"]:
                edges.append((_id(app, "cdn", key), _id(app, "s3", origin), "OAI/OAC"))
        for key, fs in sorted((entry.get("efs") or {}).items()):
            nodes.append((_id(app, "efs", key), f"EFS {key} ({fs['path']})", "fs"))
        apps.append((app, entry.get("description", ""), nodes))
    _monitoring(plan.outputs.get("monitoring") or {}, apps, edges)
    return apps, edges


def _monitoring(
    monitoring: dict[str, Any],
    apps: list[tuple[str, str, list[tuple[str, str, str]]]],
    edges: list[tuple[str, str, str]],
) -> None:
    """Alert topics as a group of their own; per app one node per watched resource with its
    alarms, and its budget; edges to what they watch and to the topic they notify."""
    topics = sorted(monitoring.get("topics") or {})
    if not topics:
        return
    primary = str(monitoring.get("primaryRegion") or topics[0])
    nodes_of = {app: nodes for app, _, nodes in apps}
    for app, entry in sorted((monitoring.get("apps") or {}).items()):
        nodes = nodes_of.get(app)
        if nodes is None:
            continue
        by_target: dict[tuple[str, str], list[str]] = {}
        for alarm in entry.get("alarms") or []:
            region = alarm.get("region") or primary
            metric = str(alarm["metric"]).split(" ", 1)[-1]
            by_target.setdefault((alarm["watches"], region), []).append(metric)
        for (watches, region), metrics in sorted(by_target.items()):
            kind, key = watches.split(".", 1)
            node = _id(app, "alarms", kind, key, region)
            nodes.append((node, f"alarms {', '.join(metrics)} ({region})", "alarm"))
            edges.append((node, _id(app, kind, key), "watches"))
            edges.append((node, _id("alerts", region), "notifies"))
        budget = entry.get("budget")
        if budget:
            node = _id(app, "budget")
            label = (
                f"AWS Budget ${budget['limitUsd']}/month (estimate ${budget['estimateUsd']} "
                f"+ {budget['headroomPercent']:g}%)"
            )
            nodes.append((node, label, "budget"))
            edges.append((node, _id("alerts", primary), "notifies"))
    apps.append(
        (
            "alerts",
            "SNS alert topics",
            [(_id("alerts", region), f"SNS alerts ({region})", "topic") for region in topics],
        )
    )


SHAPES = {
    "bucket": ('[("', '")]'),
    "key": ('{{"', '"}}'),
    "cdn": ('(["', '"])'),
    "fs": ('[/"', '"/]'),
    "alarm": ('>"', '"]'),
    "budget": ('[["', '"]]'),
    "topic": ('(("', '"))'),
}


def mermaid(plan: Plan) -> str:
    apps, edges = graph(plan)
    lines = ["flowchart LR"]
    for app, _description, nodes in apps:
        lines.append(f'  subgraph {_id("app", app)}["{app}"]')
        for node, label, shape in nodes:
            left, right = SHAPES[shape]
            lines.append(f"    {node}{left}{label}{right}")
        lines.append("  end")
    lines += [f"  {a} -- {label} --> {b}" for a, b, label in edges]
    return "\n".join(lines) + "\n"


def dot(plan: Plan) -> str:
    apps, edges = graph(plan)
    shapes = {
        "bucket": "cylinder",
        "key": "hexagon",
        "cdn": "box3d",
        "fs": "folder",
        "alarm": "cds",
        "budget": "note",
        "topic": "circle",
    }
    lines = ["digraph stack {", "  rankdir=LR; node [fontname=Helvetica, fontsize=10];"]
    for app, _description, nodes in apps:
        lines.append(f'  subgraph cluster_{_id(app)} {{ label="{app}";')
        lines += [f'    {n} [label="{label}", shape={shapes[s]}];' for n, label, s in nodes]
        lines.append("  }")
    lines += [f'  {a} -> {b} [label="{label}", fontsize=8];' for a, b, label in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_diagram(plan: Plan, path: Path) -> list[Path]:
    """Write `path` (Mermaid, `.mmd`/`.md`), plus `path.svg` when Graphviz is available."""
    written = []
    text = mermaid(plan)
    if path.suffix == ".md":
        text = f"```mermaid\n{text}```\n"
    write_atomic(path, text, flag="--diagram")
    written.append(path)
    if shutil.which("dot"):
        svg = path.with_suffix(".svg")
        done = subprocess.run(["dot", "-Tsvg"], input=dot(plan), capture_output=True, text=True)
        if done.returncode == 0:
            write_atomic(svg, done.stdout, flag="--diagram")
            written.append(svg)
    return written
