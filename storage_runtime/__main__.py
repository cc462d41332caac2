"""`python -m storage_runtime env --outputs FILE --app NAME --format dotenv|render|k8s-secret`"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from storage_runtime.env import FORMATS, render
from storage_runtime.errors import SettingsError
from storage_runtime.settings import Settings


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
    args = parser.parse_args(argv)

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
