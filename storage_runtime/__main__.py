"""`python -m storage_runtime env|sync ...`

Exit codes: 0 done; 1 some transfers failed (each is listed); 2 usage or configuration (a
flag, a variable, a file, the bucket, the endpoint or the credentials: the message names it);
130 interrupted by SIGINT (143 by SIGTERM). Never a traceback for any of these.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from storage_runtime.env import FORMATS, render
from storage_runtime.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    SettingsError,
    StorageConnectionError,
    StorageError,
)
from storage_runtime.files import valid_content_type
from storage_runtime.settings import Settings

#: Failures of the setup, not of a transfer: exit 2.
CONFIG_ERRORS = (SettingsError, BucketNotFoundError, AccessDeniedError, StorageConnectionError)


def _concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"{text!r}; accepted: a whole number 1-256")
    return value


def _content_type(text: str) -> tuple[str, str]:
    """`TYPE` (every file) or `.EXT=TYPE` (files ending in .EXT)."""
    suffix, sep, value = text.rpartition("=") if text.startswith(".") else ("", "", text)
    if sep and not suffix[1:]:
        suffix = ""
    if not valid_content_type(value) or (text.startswith(".") and not sep):
        raise argparse.ArgumentTypeError(
            f"{text!r}; accepted: TYPE for every file or .EXT=TYPE, "
            "e.g. .fit=application/vnd.ant.fit"
        )
    return (suffix.lower() or "*", value)


def _error(message: object, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


class Interrupts:
    """SIGINT/SIGTERM set `event` (the sync stops starting transfers and cleans up); a second
    signal exits at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    def __enter__(self) -> Interrupts:
        self.previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            os._exit(128 + signum)
        self.signum = signum
        self.event.set()
        os.write(2, b"\ninterrupted: starting no more transfers, cleaning up (again to quit)\n")


def _sync(args: argparse.Namespace) -> int:
    from storage_runtime.sync import sync

    with Interrupts() as interrupts:
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
                allow_empty_source=args.allow_empty_source,
                content_types=dict(args.content_type or []),
                cancel=interrupts.event,
            )
        except CONFIG_ERRORS as err:
            return _error(err, 2)
        except StorageError as err:
            return _error(err, 1)
        except OSError as err:
            return _error(f"{err.filename or ''}: {err.strerror or err}".lstrip(": "), 1)
        if interrupts.signum is not None:
            report.interrupted = signal.Signals(interrupts.signum).name
            print(report.render(), flush=True)
            sys.stderr.flush()
            # transfers stuck in the network must not hold the exit: their uploads are aborted
            os._exit(128 + interrupts.signum)
    print(report.render())
    return 1 if report.failed else 0


def _env(args: argparse.Namespace) -> int:
    try:
        if args.outputs == "-":
            text = sys.stdin.read()
        else:
            text = Path(args.outputs).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return _error(
            f"--outputs {args.outputs}: cannot be read ({getattr(err, 'strerror', None) or err});"
            " write it with `pulumi stack output --json --show-secrets > outputs.json`",
            2,
        )
    try:
        outputs = json.loads(text)
        if not isinstance(outputs, dict):
            raise SettingsError(f"--outputs {args.outputs}: not a JSON object")
        settings = Settings.from_stack_outputs(
            outputs, args.app, args.bucket, allow_masked_secrets=not args.show_secrets
        )
        rendered = render(settings, app=args.app, fmt=args.format, show_secrets=args.show_secrets)
    except json.JSONDecodeError as err:
        return _error(f"--outputs {args.outputs} is not JSON ({err})", 2)
    except SettingsError as err:
        return _error(err, 2)
    sys.stdout.buffer.write(rendered.encode("utf-8"))
    sys.stdout.flush()
    return 0


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
    env.add_argument(
        "--format",
        choices=FORMATS,
        default="dotenv",
        help="dotenv: for `set -a; . ./.env` and python-dotenv; docker: for --env-file",
    )
    env.add_argument("--show-secrets", action="store_true", help="include secret values")
    sync = sub.add_parser(
        "sync", help="local directory <-> s3://bucket/prefix, skipping what is identical"
    )
    sync.add_argument("src", help="a local directory or s3://bucket/prefix")
    sync.add_argument("dst", help="a local directory or s3://bucket/prefix")
    sync.add_argument("--pattern", help="match relative paths, e.g. '{job_id}/{filename}'")
    sync.add_argument(
        "--key-template",
        help="build keys under the destination prefix, e.g. '{job_id}/{filename}'",
    )
    sync.add_argument("--compare", choices=("checksum", "size", "mtime"), default="checksum")
    sync.add_argument("--concurrency", type=_concurrency, default=16, help="1-256 (16)")
    sync.add_argument("--delete", action="store_true", help="delete what the source does not have")
    sync.add_argument(
        "--allow-empty-source",
        action="store_true",
        help="let --delete empty the destination when the source has no files",
    )
    sync.add_argument(
        "--content-type",
        type=_content_type,
        action="append",
        metavar="[.EXT=]TYPE",
        help="Content-Type of uploads (default: from the file name); repeatable",
    )
    sync.add_argument(
        "--dry-run", action="store_true", help="print what would happen, change nothing"
    )
    sync.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=sys.stderr.isatty()
    )
    args = parser.parse_args(argv)
    if args.command == "sync":
        return _sync(args)
    return _env(args)


if __name__ == "__main__":
    sys.exit(main())
