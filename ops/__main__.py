"""`python -m ops <command>`: the platform engineer's CLI. `python -m ops --help` lists them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ops import stackfile


def _plan(args: argparse.Namespace) -> int:
    from ops.plan import PlanError, render_tree, run_plan

    try:
        plan = run_plan(args.stack, root=args.root)
    except PlanError as err:
        print(f"plan failed for stack {args.stack!r}:\n{err}", file=sys.stderr)
        return 2
    text = plan.dumps()
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        sys.stdout.write(text)
    else:
        print(render_tree(plan))
    return 0


def _docs(args: argparse.Namespace) -> int:
    from ops.docs import config_reference, update_readme

    if args.write:
        changed = update_readme(Path(args.write))
        print(f"{args.write}: {'updated' if changed else 'already up to date'}")
    else:
        print(config_reference())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    parser.add_argument("--root", type=Path, default=stackfile.ROOT, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    plan = sub.add_parser("plan", help="offline plan of a stack (mock runtime, no cloud)")
    plan.add_argument("--stack", default="prod", help="stack name (Pulumi.<stack>.yaml)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.add_argument("--out", metavar="FILE", help="also write the JSON plan to FILE")
    plan.set_defaults(func=_plan)

    docs = sub.add_parser("docs", help="print the config reference generated from the classes")
    docs.add_argument("--write", metavar="README", help="replace the table between the markers")
    docs.set_defaults(func=_docs)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
