"""`python -m ops <command>`: the platform engineer's CLI. `python -m ops --help` lists them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ops import stackfile


def _plan(args: argparse.Namespace) -> int:
    from ops import cost
    from ops.diagram import write_diagram
    from ops.plan import PlanError, render_tree, run_plan
    from ops.summary import budget_lines

    try:
        plan = run_plan(args.stack, root=args.root, mode=args.mode)
    except PlanError as err:
        print(f"plan failed for stack {args.stack!r}:\n{err}", file=sys.stderr)
        return 2
    violations = plan.violations()
    estimate = cost.estimate(stackfile.config(stackfile.load(args.stack, args.root)))
    text = plan.dumps()
    if args.out:
        Path(args.out).write_text(text)
    if args.diagram:
        for path in write_diagram(plan, Path(args.diagram)):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        sys.stdout.write(text)
    else:
        print(render_tree(plan))
        print()
        mandatory = [v for v in violations if v.level == "mandatory"]
        unverified = sum(v.unverified for v in violations)
        print(
            f"policy: {len(mandatory)} mandatory, {len(violations) - len(mandatory)} advisory, "
            f"{unverified} could not run ({plan.mode} mode)"
        )
        for v in violations:
            print(f"  {v}")
        print()
        print(cost.render(estimate))
        budgets = budget_lines(plan.resources)
        if budgets:
            print()
            print("\n".join(budgets))
    return 1 if any(v.level == "mandatory" for v in violations) else 0


def _cost(args: argparse.Namespace) -> int:
    from ops import cost

    cfg = stackfile.config(stackfile.load(args.stack, args.root))
    try:
        sheet = cost.load_sheet(args.sheet) if args.sheet else None
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    free = {"on": True, "off": False}.get(args.r2_free_tier or "")
    estimate = cost.estimate(cfg, sheet, free)
    if args.json:
        import json

        print(json.dumps(estimate.to_json(), indent=2, sort_keys=True))
    else:
        print(cost.render(estimate))
    return 0


def _docs(args: argparse.Namespace) -> int:
    from ops.docs import config_reference, update_readme

    if args.write:
        changed = update_readme(Path(args.write))
        print(f"{args.write}: {'updated' if changed else 'already up to date'}")
    else:
        print(config_reference())
    return 0


def _keys(args: argparse.Namespace) -> int:
    import datetime as dt

    from ops import keys

    path = Path(args.stack_file) if args.stack_file else stackfile.stack_path(args.stack, args.root)
    project = stackfile.project_name(args.root)
    today = dt.date.fromisoformat(args.today) if args.today else dt.date.today()
    try:
        if args.keys_command == "status":
            cfg = keys.parse_file(path.read_text(), args.stack, project)
            rows = keys.status(cfg, today)
            print(keys.render_status(rows) if rows else "no R2 tokens in this stack")
            return 0 if all(r.ok for r in rows) else 1
        if args.keys_command == "rotate":
            changes = keys.rotate(
                path,
                stack=args.stack,
                today=today,
                token=args.token,
                label=args.label,
                due_only=args.due,
                project=project,
            )
        else:
            changes = keys.retire(path, stack=args.stack, token=args.token, project=project)
    except keys.KeysError as err:
        print(f"refused: {err}", file=sys.stderr)
        return 2
    print("\n".join(changes) if changes else "nothing is due")
    if changes:
        print(f"edited {path}; next: `pulumi up`, then re-apply the env of every service")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from ops import diff

    try:
        changes, base_total, head_total = diff.diff(args.base, args.head, args.stack, args.root)
    except (RuntimeError, OSError) as err:
        print(f"diff failed: {err}", file=sys.stderr)
        return 2
    print(diff.render(changes, base_total, head_total, args.base, args.head or "working tree"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    parser.add_argument("--root", type=Path, default=stackfile.ROOT, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser("plan", help="offline plan of a stack (mock runtime, no cloud)")
    plan.add_argument("--stack", default="prod", help="stack name (Pulumi.<stack>.yaml)")
    plan.add_argument(
        "--mode",
        choices=("preview", "deployed"),
        default="preview",
        help="preview: as a first `pulumi preview` (ids and computed values unknown); "
        "deployed: ids known, as after `pulumi up` (default: preview)",
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.add_argument("--out", metavar="FILE", help="also write the JSON plan to FILE")
    plan.add_argument(
        "--diagram", metavar="FILE", help="write a Mermaid diagram (and SVG if dot is installed)"
    )
    plan.set_defaults(func=_plan)

    cost_p = sub.add_parser("cost", help="monthly cost estimate from the stack's usage assumptions")
    cost_p.add_argument("--stack", default="prod")
    cost_p.add_argument(
        "--sheet", help="price sheet in ops/prices (default: the stack's cost.priceSheet)"
    )
    cost_p.add_argument("--r2-free-tier", choices=("on", "off"), help="override cost.r2FreeTier")
    cost_p.add_argument("--json", action="store_true")
    cost_p.set_defaults(func=_cost)

    diff_p = sub.add_parser("diff", help="offline diff of two revisions (git worktrees)")
    diff_p.add_argument("--base", required=True, help="git ref of the base, e.g. origin/main")
    diff_p.add_argument("--head", help="git ref of the head (default: the working tree)")
    diff_p.add_argument("--stack", default="prod")
    diff_p.set_defaults(func=_diff)

    docs = sub.add_parser("docs", help="print the config reference generated from the classes")
    docs.add_argument("--write", metavar="README", help="replace the table between the markers")
    docs.set_defaults(func=_docs)

    keys = sub.add_parser("keys", help="R2 key generations: status, rotate, retire")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    for command, text in (
        ("status", "every token's generations with their age; exit 1 when one is overdue"),
        ("rotate", "append the next generation (both keys stay valid until retire)"),
        ("retire", "drop every generation but the active one"),
    ):
        p = keys_sub.add_parser(command, help=text)
        p.add_argument("--stack", default="prod")
        p.add_argument("--stack-file", help="edit/read this file instead of Pulumi.<stack>.yaml")
        p.add_argument("--today", help="YYYY-MM-DD (default: today)")
        if command != "status":
            p.add_argument("--token", help="only this token (`app/key` or `key`)")
        if command == "rotate":
            p.add_argument("--label", help="generation label, e.g. 2026q4b for an extra rotation")
            p.add_argument(
                "--due", action="store_true", help="only tokens not yet rotated this quarter"
            )
        p.set_defaults(func=_keys)

    from ops import replicate

    replicate.register(sub)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
