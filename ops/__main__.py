"""`python -m ops <command>`: the platform engineer's CLI. `python -m ops --help` lists them.

Exit codes: 0 done; 1 mandatory policy violations, or a run that failed (a revision that
cannot be planned, a file that could not be written: the original is unchanged); 2 a usage or
stack-file mistake (the message names the flag or key and what is accepted; nothing was
changed); 130 interrupted (Ctrl-C); 141 the reader of the output went away (`| head`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path

from ops import stackfile

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_CLOSED_PIPE = 1, 2, 130, 141


class Refused(Exception):
    """A mistake of the caller's: the message says what is accepted; exit 2."""


def _today_arg(text: str) -> dt.date:
    """`--today`: a calendar date, at most tomorrow (a date in the future would make every
    age negative and stamp a rotation that has not happened)."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a calendar date; accepted: YYYY-MM-DD, e.g. "
            f"{dt.date.today().isoformat()}, at most tomorrow"
        ) from None
    latest = dt.date.today() + dt.timedelta(days=1)
    if day > latest:
        raise argparse.ArgumentTypeError(
            f"{text} is {(day - dt.date.today()).days} days in the future; accepted: a date up "
            f"to {latest.isoformat()} (the default is today)"
        )
    return day


def _stack_arg(text: str) -> str:
    try:
        return stackfile.check_stack_name(text)
    except stackfile.StackFileError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--stack ")) from None


def _label_arg(text: str) -> str:
    from ops.keys import KeysError, check_label

    try:
        return check_label(text)
    except KeysError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--label ")) from None


def _load(args: argparse.Namespace) -> stackfile.StackFile:
    return stackfile.load(args.stack, args.root)


def _writable(path: str | None, flag: str) -> Path | None:
    from ops.files import WriteError, check_writable

    if path is None:
        return None
    try:
        check_writable(Path(path), flag)
    except WriteError as err:
        raise Refused(str(err)) from None
    return Path(path)


# ------------------------------------------------------------------------------ plan


def _plan(args: argparse.Namespace) -> int:
    from components.schema import ConfigError
    from ops import cost
    from ops.diagram import write_diagram
    from ops.files import write_atomic
    from ops.plan import PlanError, plan_stack_file, render_tree
    from ops.summary import budget_lines

    out = _writable(args.out, "--out")
    outputs = _writable(args.outputs, "--outputs")
    diagram = _writable(args.diagram, "--diagram")
    sf = _load(args)
    try:
        plan = plan_stack_file(sf, root=args.root, mode=args.mode)
    except PlanError as err:
        print(f"plan failed for stack {args.stack!r}:\n{err}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err.__cause__, ConfigError) else EXIT_FAILED
    violations = plan.violations()
    estimate = cost.estimate(sf.config(dt.date.today()))
    text = plan.dumps()
    if out is not None:
        write_atomic(out, text, flag="--out")
        print(f"wrote {out}", file=sys.stderr)
    if outputs is not None:
        import json

        write_atomic(outputs, json.dumps(plan.outputs, indent=2, sort_keys=True) + "\n")
        print(f"wrote {outputs} (stack outputs, secrets masked)", file=sys.stderr)
    if diagram is not None:
        for path in write_diagram(plan, diagram):
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
    return EXIT_FAILED if any(v.level == "mandatory" for v in violations) else 0


# ------------------------------------------------------------------------------ cost


def _cost(args: argparse.Namespace) -> int:
    from ops import cost

    cfg = _load(args).config(dt.date.today())
    try:
        sheet = cost.load_sheet(args.sheet) if args.sheet else None
    except KeyError as err:
        raise Refused(f"--sheet {args.sheet!r}: {err.args[0]}") from None
    free = {"on": True, "off": False}.get(args.r2_free_tier or "")
    estimate = cost.estimate(cfg, sheet, free)
    if args.json:
        import json

        print(json.dumps(estimate.to_json(), indent=2, sort_keys=True))
    else:
        print(cost.render(estimate))
    return 0


# ------------------------------------------------------------------------------ docs


def _docs(args: argparse.Namespace) -> int:
    from ops.docs import DocsError, config_reference, update_readme

    if not args.write:
        print(config_reference())
        return 0
    try:
        changed = update_readme(Path(args.write))
    except DocsError as err:
        raise Refused(f"--write {args.write}: {err}") from None
    print(f"{args.write}: {'updated' if changed else 'already up to date'}")
    return 0


# ------------------------------------------------------------------------------ keys


def _keys(args: argparse.Namespace) -> int:
    from ops import keys
    from ops.cloudflare import TokensApi

    flag = "--stack-file" if args.stack_file else "--stack"
    path = Path(args.stack_file) if args.stack_file else stackfile.stack_path(args.stack, args.root)
    project = stackfile.project_name(args.root)
    today = args.today or dt.date.today()
    try:
        if args.keys_command == "status":
            # The date rules are this command's verdicts (per token), not load errors.
            data = stackfile.read_bytes(path, flag=flag)
            sf = stackfile.parse(data, path=path, stack=args.stack, project=project)
            rows = keys.status(sf.config(), today)
            print(keys.render_status(rows) if rows else "no R2 tokens in this stack")
            return 0 if all(r.ok for r in rows) else EXIT_FAILED
        if args.keys_command == "rotate":
            changes = keys.rotate(
                path,
                stack=args.stack,
                today=today,
                token=args.token,
                label=args.label,
                due_only=args.due,
                project=project,
                flag=flag,
            )
            next_step = "`pulumi up` (creates the new tokens), then re-apply every service's env"
        else:
            changes = keys.retire(
                path,
                stack=args.stack,
                today=today,
                token=args.token,
                project=project,
                force=args.risk_breaking_services,
                api=TokensApi.from_env(),
                flag=flag,
            )
            next_step = "`pulumi up` (deletes the old tokens)"
    except keys.WriteFailed as err:
        print(f"failed: {err}", file=sys.stderr)
        return EXIT_FAILED
    except keys.KeysError as err:
        print(f"refused: {err}", file=sys.stderr)
        return EXIT_USAGE
    print("\n".join(changes) if changes else "nothing is due")
    if any(not c.startswith(("note:", "forced")) for c in changes):
        print(f"edited {stackfile.display(path)}; next: {next_step}")
    return 0


# ------------------------------------------------------------------------------ diff


def _diff(args: argparse.Namespace) -> int:
    from ops import diff

    try:
        changes, base_total, head_total = diff.diff(args.base, args.head, args.stack, args.root)
    except diff.DiffError as err:
        print(f"diff failed: {err}", file=sys.stderr)
        return err.exit_code
    print(diff.render(changes, base_total, head_total, args.base, args.head or "working tree"))
    return 0


# ------------------------------------------------------------------------------ import


def _import(args: argparse.Namespace) -> int:
    """The bulk import file for the storage that exists, with its report."""
    import json

    import yaml

    from components.config import adoption
    from ops import adopt
    from ops.files import write_atomic
    from ops.plan import PlanError, plan_stack_file
    from ops.terraform import TerraformError, map_state, read_state
    from ops.terraform import render as render_terraform

    out = None if args.check else _writable(args.out, "--out")
    today = dt.date.today()
    sf = _load(args)
    cfg = sf.config(today)
    if args.app is not None and args.app not in cfg.apps:
        raise Refused(
            f"--app {args.app!r} is not an app of stack {args.stack!r}; accepted: "
            + ", ".join(cfg.apps)
        )
    notes: dict[tuple[str, str], str] = {}
    found: dict[str, object] = {}
    sections: list[str] = []
    try:
        if args.from_terraform:
            resources, warnings = read_state(Path(args.from_terraform))
            mapping = map_state(cfg, resources)
            if mapping.problems:
                raise Refused(
                    f"--from-terraform {args.from_terraform}: the adoption would replace "
                    "resources or contradicts the stack file:\n  - "
                    + "\n  - ".join(mapping.problems)
                )
            sf, conflicts, changed = adopt.merge_blocks(
                sf, mapping.blocks, f"terraform {args.from_terraform}"
            )
            if conflicts:
                raise Refused("\n  - ".join(["the Terraform state disagrees:", *conflicts]))
            cfg = sf.config(today)
            notes.update(mapping.notes)
            found.update(changed)
            sections.append(render_terraform(mapping, args.from_terraform, warnings))
        if args.discover:
            from ops import discover

            discovery = discover.discover(cfg)
            if discovery.problems:
                raise Refused("\n  - ".join(["--discover:", *discovery.problems]))
            sf, conflicts, changed = adopt.merge_blocks(sf, discovery.blocks, "--discover")
            if conflicts:
                raise Refused(
                    "\n  - ".join(["--discover disagrees with the stack file:", *conflicts])
                )
            cfg = sf.config(today)
            notes.update(discovery.notes)
            found.update(changed)
            sections.append(discovery.render())
    except TerraformError as err:
        raise Refused(str(err)) from None
    except Exception as err:
        from ops.discover import DiscoveryError

        if not isinstance(err, DiscoveryError):
            raise
        if not err.failed:
            raise Refused(f"--discover: {err}") from None
        print(f"failed: --discover: {err}", file=sys.stderr)
        return EXIT_FAILED
    try:
        plan = plan_stack_file(sf, root=args.root)
    except PlanError as err:
        print(f"plan failed for stack {args.stack!r}:\n{err}", file=sys.stderr)
        return EXIT_FAILED
    if args.check:
        try:
            doc = json.loads(Path(args.check).read_bytes())
            problems = adopt.check_file(doc, plan)
        except (OSError, ValueError, adopt.AdoptError) as err:
            raise Refused(f"--check {args.check}: {err}") from None
        for line in problems:
            print(line)
        print(
            f"{args.check}: {'differs from' if problems else 'matches'} the program "
            f"({len(adopt.file_urns(doc, plan.stack, plan.project))} entries)"
        )
        return EXIT_FAILED if problems else 0
    try:
        result = adopt.collect(plan, adoption.stack_imports(cfg), args.app)
        if args.state:
            state = json.loads(Path(args.state).read_bytes())
            result = adopt.without_state(result, state)
        doc = adopt.import_file(result)
    except (OSError, ValueError, adopt.AdoptError) as err:
        raise Refused(f"--state {args.state}: {err}") from None
    except adopt.ProgramMismatch as err:
        print(f"failed: {err}", file=sys.stderr)
        return EXIT_FAILED
    for section in sections:
        print(section)
        print()
    if not result.resources:
        where = f"app {args.app!r}" if args.app else f"stack {args.stack!r}"
        print(
            f"nothing to import: no resource of {where} has an `import:` block (or all are "
            "in the state already); no file written"
        )
        return 0
    assert out is not None
    write_atomic(out, adopt.dumps(doc), flag="--out")
    print(adopt.render(result, plan, str(out), notes))
    if found:
        print()
        print(f"add to {stackfile.display(sf.path)} (so the program carries the same ids):")
        for path, block in found.items():
            text = yaml.safe_dump({"import": block}, default_flow_style=None, sort_keys=True)
            print(f"  {path.removesuffix('.import')}:")
            print("\n".join(f"    {line}" for line in text.strip().splitlines()))
    print()
    print(
        f"next: pulumi import --file {out} --generate-code=false --preview-only, then the same "
        "without --preview-only; `pulumi preview --diff` must then show no create and no "
        'replace for these (README, "Adopting existing storage")'
    )
    return 0


# ------------------------------------------------------------------------------ doctor


def _doctor(args: argparse.Namespace) -> int:
    """The placeholders left in a stack file; with --check-aws, what it names in AWS."""
    from ops import doctor

    sf = _load(args)
    cfg = sf.config(dt.date.today())
    name = stackfile.display(sf.path)
    found = doctor.placeholders(sf, stackfile.read_text(sf.path))
    for placeholder in found:
        print(placeholder)
    if found:
        print(
            f"{len(found)} placeholder{'s' if len(found) != 1 else ''} left in {name}: each "
            "fails at `pulumi up` (or reaches what is not yours) with an error that names no "
            "config key"
        )
    else:
        print(f"no placeholder left in {name}")
    failed = bool(found)
    if not args.check_aws:
        print(
            "AWS not checked: --check-aws looks up (read-only) the VPCs, subnets, security "
            "groups, Route 53 zones and ACM certificates the stack file names"
        )
        return EXIT_FAILED if failed else 0
    from botocore.exceptions import BotoCoreError, NoCredentialsError

    try:
        checks = doctor.aws_checks(cfg)
    except NoCredentialsError as err:
        raise Refused(
            f"--check-aws: no AWS credentials ({err}); configure them (profile, SSO, "
            "environment), or leave --check-aws out"
        ) from None
    except BotoCoreError as err:
        print(f"failed: --check-aws: {err}", file=sys.stderr)
        return EXIT_FAILED
    for check in checks:
        print(check)
    bad = [c for c in checks if not c.ok]
    print(f"AWS: {len(checks) - len(bad)} of {len(checks)} checks passed ({cfg.aws_region})")
    return EXIT_FAILED if failed or bad else 0


# ------------------------------------------------------------------------------ main


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=stackfile.ROOT, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    stack_help = "stack name: reads Pulumi.<stack>.yaml (default: prod)"

    plan = sub.add_parser("plan", help="offline plan of a stack (mock runtime, no cloud)")
    plan.add_argument("--stack", default="prod", type=_stack_arg, help=stack_help)
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
        "--outputs",
        metavar="FILE",
        help="also write the stack outputs (secrets masked) as `pulumi stack output --json` "
        "would, for `python -m storage_runtime env --outputs FILE`",
    )
    plan.add_argument(
        "--diagram", metavar="FILE", help="write a Mermaid diagram (and SVG if dot is installed)"
    )
    plan.set_defaults(func=_plan)

    cost_p = sub.add_parser("cost", help="monthly cost estimate from the stack's usage assumptions")
    cost_p.add_argument("--stack", default="prod", type=_stack_arg, help=stack_help)
    cost_p.add_argument(
        "--sheet", help="price sheet in ops/prices (default: the stack's cost.priceSheet)"
    )
    cost_p.add_argument("--r2-free-tier", choices=("on", "off"), help="override cost.r2FreeTier")
    cost_p.add_argument("--json", action="store_true")
    cost_p.set_defaults(func=_cost)

    diff_p = sub.add_parser("diff", help="offline diff of two revisions (git worktrees)")
    diff_p.add_argument("--base", required=True, help="git ref of the base, e.g. origin/main")
    diff_p.add_argument("--head", help="git ref of the head (default: the working tree)")
    diff_p.add_argument("--stack", default="prod", type=_stack_arg, help=stack_help)
    diff_p.set_defaults(func=_diff)

    docs = sub.add_parser("docs", help="print the config reference generated from the classes")
    docs.add_argument("--write", metavar="README", help="replace the tables between the markers")
    docs.set_defaults(func=_docs)

    keys = sub.add_parser("keys", help="R2 key generations: status, rotate, retire")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    for command, text in (
        ("status", "every token's generations with their age; exit 1 when one is not ok"),
        ("rotate", "append the next generation (both keys stay valid until retire)"),
        ("retire", "drop every generation but the active one (after the overlap)"),
    ):
        p = keys_sub.add_parser(command, help=text)
        p.add_argument("--stack", default="prod", type=_stack_arg, help=stack_help)
        p.add_argument("--stack-file", help="edit/read this file instead of Pulumi.<stack>.yaml")
        p.add_argument(
            "--today", type=_today_arg, help="YYYY-MM-DD, at most tomorrow (default: today)"
        )
        if command != "status":
            p.add_argument("--token", help="only this token (`app/key` or `key`)")
        if command == "rotate":
            p.add_argument(
                "--label",
                type=_label_arg,
                help="generation label, e.g. 2026q4b for an extra rotation",
            )
            p.add_argument(
                "--due", action="store_true", help="only tokens not yet rotated this quarter"
            )
        if command == "retire":
            p.add_argument(
                "--risk-breaking-services",
                action="store_true",
                help="retire even inside keyRotation.minOverlapDays or while Cloudflare saw "
                "the old key in use: every service still on it loses storage access at the "
                "next `pulumi up`",
            )
        p.set_defaults(func=_keys)

    imp = sub.add_parser(
        "import",
        help="the bulk import file `pulumi import --file` reads, for the storage that exists",
    )
    imp.add_argument("--stack", default="prod", type=_stack_arg, help=stack_help)
    imp.add_argument("--app", help="only this app's resources")
    imp.add_argument(
        "--out", default="import.json", metavar="FILE", help="the file to write (import.json)"
    )
    imp.add_argument(
        "--from-terraform",
        metavar="TFSTATE",
        help="map a Terraform state (format 4, `terraform state pull`) onto the stack",
    )
    imp.add_argument(
        "--discover",
        action="store_true",
        help="look the existing resources up, read-only (AWS credentials; CLOUDFLARE_API_TOKEN "
        "for R2)",
    )
    imp.add_argument(
        "--state",
        metavar="FILE",
        help="`pulumi stack export` of the stack: leave out what its state holds already",
    )
    imp.add_argument(
        "--check",
        metavar="FILE",
        help="compare an import file with the program instead: exit 1 if an entry's URN, type "
        "or id differs",
    )
    imp.set_defaults(func=_import)

    doc = sub.add_parser(
        "doctor",
        help="the placeholders left in a stack file; --check-aws: what it names exists",
    )
    doc.add_argument("--stack", default="prod", type=_stack_arg, help=stack_help)
    doc.add_argument(
        "--check-aws",
        action="store_true",
        help="check, read-only, the VPCs, subnets, security groups, zones and certificates",
    )
    doc.set_defaults(func=_doctor)

    from ops import replicate

    replicate.register(sub)
    return parser


def _run(argv: list[str] | None) -> int:
    from components.schema import ConfigError
    from ops.files import WriteError

    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (stackfile.StackFileError, ConfigError) as err:
        print(f"stack {getattr(args, 'stack', 'prod')!r}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Refused as err:
        print(f"refused: {err}", file=sys.stderr)
        return EXIT_USAGE
    except WriteError as err:
        print(f"failed: {err}", file=sys.stderr)
        return EXIT_FAILED


def _quiet_stdout() -> None:
    """After the reader of stdout went away, send what is left to /dev/null, so that the
    interpreter's final flush does not complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C inside the plan's event loop makes asyncio log the interrupted task as an
    # "Exception in callback" traceback; the interruption is reported below instead.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except KeyboardInterrupt:
        print("interrupted: stopped before finishing; no file was half-written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_CLOSED_PIPE


if __name__ == "__main__":
    sys.exit(main())
