"""`python -m storage_runtime env|sync|broker|k8s-volume ...`

Exit codes: 0 done; 1 some transfers failed (each is listed); 2 usage or configuration (a
flag, a variable, a file, the bucket, the endpoint or the credentials: the message names it);
130 interrupted by SIGINT (143 by SIGTERM; `broker` stops serving on either). Never a
traceback for any of these.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
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


def _whole_number(low: int, high: int | None, accepted: str) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high` (None: no upper bound), else
    the error `'TEXT'; accepted: ACCEPTED`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text!r}; accepted: {accepted}")
        return value

    return parse


_concurrency = _whole_number(1, 256, "a whole number 1-256")
_bytes = _whole_number(1, None, "a whole number of bytes, e.g. 16777216")
_port = _whole_number(0, 65535, "0-65535 (0: any free port)")


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


def _outputs(path: str) -> dict[str, object]:
    """The stack outputs of `--outputs PATH` (`-`: stdin); SettingsError naming the flag."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(
            f"--outputs {path}: cannot be read ({getattr(err, 'strerror', None) or err}); "
            "write it with `pulumi stack output --json --show-secrets > outputs.json`"
        ) from err
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as err:
        raise SettingsError(f"--outputs {path} is not JSON ({err})") from err
    if not isinstance(outputs, dict):
        raise SettingsError(f"--outputs {path}: not a JSON object")
    return outputs


def _env(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_stack_outputs(
            _outputs(args.outputs),
            args.app,
            args.bucket,
            allow_masked_secrets=not args.show_secrets,
        )
        rendered = render(settings, app=args.app, fmt=args.format, show_secrets=args.show_secrets)
    except SettingsError as err:
        return _error(err, 2)
    sys.stdout.buffer.write(rendered.encode("utf-8"))
    sys.stdout.flush()
    return 0


def _k8s_volume(args: argparse.Namespace) -> int:
    from storage_runtime.k8s import efs_volume, volume_manifests

    try:
        volume = efs_volume(_outputs(args.outputs), args.app, args.efs)
        text = volume_manifests(
            volume, name=args.name, namespace=args.namespace, storage=args.storage
        )
    except SettingsError as err:
        return _error(err, 2)
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


def _models(args: argparse.Namespace) -> int:
    from storage_runtime.model_cache import ModelCache
    from storage_runtime.store import ObjectStore

    try:
        settings = Settings.from_env()
        if settings.provider not in ("s3", "minio"):
            raise SettingsError(
                "model-cache needs the models' bucket (OBJECT_STORE=s3, S3_BUCKET, S3_REGION), "
                f"not provider {settings.provider!r}"
            )
        cache = ModelCache(ObjectStore(settings), args.dir, lock_timeout=args.lock_timeout)
        for key in args.keys:
            print(cache.path(key), flush=True)
    except CONFIG_ERRORS as err:
        return _error(err, 2)
    except StorageError as err:
        return _error(err, 1)
    except OSError as err:
        return _error(f"{err.filename or args.dir}: {err.strerror or err}", 1)
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}; accepted: seconds, more than 0")
    return value


def _broker(args: argparse.Namespace) -> int:
    from storage_runtime.broker import Broker, BrokerConfig, serve
    from storage_runtime.store import ObjectStore

    tokens = tuple(
        t
        for t in (
            os.environ.get("BACKEND_SERVICE_TOKEN", ""),
            os.environ.get("BACKEND_SERVICE_TOKEN_PREVIOUS", ""),
        )
        if t
    )
    if not tokens:
        return _error(
            "BACKEND_SERVICE_TOKEN is not set: the service token callers must send (at least "
            "16 characters, e.g. `openssl rand -hex 32`); never on the command line",
            2,
        )
    overrides = {"max_upload_bytes": args.max_upload_bytes} if args.max_upload_bytes else {}
    try:
        if args.outputs:
            if not args.app:
                raise SettingsError("--outputs needs --app (the app whose bucket to serve)")
            settings = Settings.from_stack_outputs(
                _outputs(args.outputs), args.app, args.bucket, **overrides
            )
        else:
            settings = Settings.from_env()
            if overrides:
                settings = dataclasses.replace(settings, **overrides)
        if settings.provider not in ("s3", "minio"):
            raise SettingsError(
                f"the broker needs an object store (OBJECT_STORE=s3 or STORAGE_PROVIDER=s3|"
                f"minio, or --outputs), not provider {settings.provider!r}"
            )
        config = BrokerConfig(
            tokens=tokens,
            allowed_prefixes=tuple(args.allow_prefix or ["videos/"]),
            part_size_bytes=args.part_size,
            if_no_checksum=args.if_no_checksum,
        )
        broker = Broker(ObjectStore(settings), config)
        server = serve(broker, args.host, args.port)
    except StorageError as err:
        return _error(str(err).removeprefix("broker: "), 2)
    except OSError as err:
        return _error(f"--host {args.host} --port {args.port}: {err.strerror or err}", 2)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: serving a bearer-token API on {args.host} over plain HTTP; put TLS in "
            "front of it (or mount storage_runtime.broker.asgi_app in your own server)",
            file=sys.stderr,
        )
    base = f"{server.url}{config.base_path}"
    print(
        f"serving s3://{settings.bucket}/ ({', '.join(config.allowed_prefixes)}) on {base}/ "
        "presign-put, complete, delete, presign-multipart, complete-multipart, abort-multipart",
        file=sys.stderr,
        flush=True,
    )
    stopped: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.append(signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
    return 128 + stopped[0] if stopped else 0


def parser() -> argparse.ArgumentParser:
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
    k8s = sub.add_parser(
        "k8s-volume",
        help="PersistentVolumes and claims of an app's EFS access point (seed 003), as YAML",
    )
    k8s.add_argument("--outputs", required=True, help="`pulumi stack output --json` file, or -")
    k8s.add_argument("--app", required=True, help="app name in the stack (e.g. pingvas-studio)")
    k8s.add_argument("--efs", required=True, help="EFS key of the app (e.g. models)")
    k8s.add_argument("--name", help="name prefix (default efs-<efs>: efs-models-pv, -pvc, -pvc-rw)")
    k8s.add_argument("--namespace", default="prod", help="namespace of the claims (prod)")
    k8s.add_argument("--storage", default="500Gi", help="capacity (500Gi; EFS does not enforce it)")
    broker = sub.add_parser(
        "broker",
        help="seed 001's presign/complete/delete backend on a local HTTP server",
        description="Token from BACKEND_SERVICE_TOKEN (and BACKEND_SERVICE_TOKEN_PREVIOUS "
        "while rotating); the bucket from --outputs/--app or the storage environment.",
    )
    broker.add_argument(
        "--outputs", help="`pulumi stack output --json` file (else the environment)"
    )
    broker.add_argument("--app", help="app whose bucket to serve (with --outputs)")
    broker.add_argument("--bucket", help="bucket key, when the app has several")
    broker.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    broker.add_argument("--port", type=_port, default=8080, help="port (8080; 0: any free port)")
    broker.add_argument(
        "--allow-prefix",
        action="append",
        metavar="PREFIX",
        help="key prefix callers may write and delete (repeatable; default videos/)",
    )
    broker.add_argument(
        "--part-size", type=_bytes, default=16 * 1024 * 1024, help="multipart part size, bytes"
    )
    broker.add_argument(
        "--max-upload-bytes", type=_bytes, help="largest upload (default VIDEO_MAX_UPLOAD_BYTES)"
    )
    broker.add_argument(
        "--if-no-checksum",
        choices=("refuse", "download", "accept"),
        default="refuse",
        help="complete with a checksum for an object stored without one (refuse)",
    )
    models = sub.add_parser(
        "model-cache",
        help="models into a shared cache directory (seed 003), each downloaded once",
        description="The bucket from the storage environment (OBJECT_STORE, S3_BUCKET, "
        "S3_REGION...); prints each model's local path.",
    )
    models.add_argument("--dir", required=True, help="the shared cache directory (e.g. /models)")
    models.add_argument(
        "--lock-timeout", type=_seconds, default=3600, help="seconds to wait for another download"
    )
    models.add_argument(
        "keys", nargs="+", metavar="KEY", help="a model's key, or a prefix ending in / (sdxl/)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "model-cache":
        return _models(args)
    if args.command == "sync":
        return _sync(args)
    if args.command == "k8s-volume":
        return _k8s_volume(args)
    if args.command == "broker":
        return _broker(args)
    return _env(args)


if __name__ == "__main__":
    sys.exit(main())
