"""`python -m storage_runtime env --outputs FILE --app NAME --format dotenv|render|k8s-secret`"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from storage_runtime.env import FORMATS, render
from storage_runtime.errors import SettingsError
from storage_runtime.settings import Settings


def _sync(args: argparse.Namespace) -> int:
    from storage_runtime.sync import sync

    try:
        report = sync(
            args.src,
            args.dst,
            pattern=args.pattern,
            key_template=args.key_template,
            compare=args.compare,
            concurrency=args.concurrency,
            delete=args.delete,
            dry_run=args.dry_run,
            progress=args.progress,
        )
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.render())
    return 1 if report.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage_runtime")
    sub = parser.add_subparsers(dest="command", required=True)
    env = sub.add_parser("env", help="the environment an app's services need, from stack outputs")
    env.add_argument(
        "--outputs",
        required=True,
        help="`pulumi stack output --json --show-secrets` file, or - for stdin",
    )
    env.add_argument("--app", required=True, help="app name in the stack (e.g. jokbodude)")
    env.add_argument("--bucket", help="bucket key, when the app has several")
    env.add_argument("--format", choices=FORMATS, default="dotenv")
    env.add_argument("--show-secrets", action="store_true", help="include secret values")
    sync = sub.add_parser(
        "sync", help="local directory <-> s3://bucket/prefix, skipping what is identical"
    )
    sync.add_argument("src", help="a local directory or s3://bucket/prefix")
    sync.add_argument("dst", help="a local directory or s3://bucket/prefix")
    sync.add_argument("--pattern", help="match relative paths, e.g. '{job_id}/{filename}'")
    sync.add_argument("--key-template", help="build keys, e.g. 'results/{job_id}/{filename}'")
    sync.add_argument("--compare", choices=("checksum", "size", "mtime"), default="checksum")
    sync.add_argument("--concurrency", type=int, default=16)
    sync.add_argument("--delete", action="store_true", help="delete what the source does not have")
    sync.add_argument(
        "--dry-run", action="store_true", help="print what would happen, change nothing"
    )
    sync.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty()
    )
    args = parser.parse_args(argv)
    if args.command == "sync":
        return _sync(args)

    text = sys.stdin.read() if args.outputs == "-" else Path(args.outputs).read_text()
    try:
        outputs = json.loads(text)
        settings = Settings.from_stack_outputs(
            outputs, args.app, args.bucket, allow_masked_secrets=not args.show_secrets
        )
    except json.JSONDecodeError as err:
        print(f"error: {args.outputs} is not JSON ({err})", file=sys.stderr)
        return 2
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(
        render(settings, app=args.app, fmt=args.format, show_secrets=args.show_secrets)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
