"""What each service of an app needs in its environment, rendered for its platform.

The same variables go to every service of an app (seed 000: web and worker alike). Secret
values are written only when asked for (`show_secrets`); otherwise they are left out with a
note, so the output can be pasted into a pull request or a log safely.

Formats, and who reads them:
- `dotenv`: `set -a; . ./.env; set +a` in sh/bash and python-dotenv (`load_dotenv`) read back
  exactly the value written. Each value is bare when it is plain, else single-quoted (nothing
  is special inside for sh, and python-dotenv expands nothing there but `${...}`), else
  double-quoted with `\\` and `"` escaped (for values with a `'`). A value no single syntax
  keeps for both (one containing `${`, which python-dotenv always expands, a CR, or both a
  `'` and a `$` or backtick) is refused with the variable's name: use another format.
- `docker`: `docker run --env-file` (and compose's `env_file` in its raw form) take everything
  after `=` literally, quotes included: values are written raw; a line break cannot be.
- `render` (an env group) and `k8s-secret` (a Secret's stringData): YAML, any value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from storage_runtime.errors import SettingsError
from storage_runtime.settings import Settings

SECRET_VARIABLES = frozenset({"S3_SECRET_ACCESS_KEY", "BACKEND_SERVICE_TOKEN"})
FORMATS = ("dotenv", "docker", "render", "k8s-secret")
_BARE = re.compile(r"^[A-Za-z0-9_./:@+=,%-]+$")
_OTHER_FORMATS = "use --format docker, k8s-secret or render"


def dotenv_value(name: str, value: str) -> str:
    """`value` written so that sh and python-dotenv both read back exactly `value`."""
    if "\0" in value:
        raise SettingsError(f"{name}: a NUL byte cannot be in an environment variable")
    if _BARE.match(value):
        return value
    problem = None
    if "${" in value:
        problem = "'${', which python-dotenv expands whatever the quoting"
    elif "\r" in value:
        problem = "a carriage return, which python-dotenv reads as a line break"
    elif "'" not in value and not re.search(r"\\[\\']|\\$", value):
        return f"'{value}'"  # sh: all literal; python-dotenv: `\\` and `\'` would be escapes
    elif "$" not in value and "`" not in value:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'  # sh and python-dotenv both undo exactly these two escapes
    else:
        problem = "a quote together with '$' or a backtick (no quoting serves sh and python-dotenv)"
    raise SettingsError(f"{name}: its value contains {problem}; {_OTHER_FORMATS}")


def docker_value(name: str, value: str) -> str:
    """docker --env-file takes the rest of the line literally; it cannot hold a line break."""
    if any(c in value for c in "\n\r\0"):
        raise SettingsError(
            f"{name}: docker --env-file values cannot contain line breaks or NUL; use "
            "--format k8s-secret or render"
        )
    return value


def render(settings: Settings, *, app: str, fmt: str, show_secrets: bool = False) -> str:
    env = settings.to_env()
    hidden = sorted(k for k in env if k in SECRET_VARIABLES and not show_secrets)
    shown: Mapping[str, str] = {k: v for k, v in env.items() if k not in hidden}
    note = (
        f"{', '.join(hidden)} left out: add --show-secrets to include secret values"
        if hidden
        else ""
    )
    if fmt in ("dotenv", "docker"):
        quote = dotenv_value if fmt == "dotenv" else docker_value
        lines = [f"# storage of app {app} (python -m storage_runtime env)"]
        if note:
            lines.append(f"# {note}")
        lines += [f"{k}={quote(k, v)}" for k, v in shown.items()]
        return "\n".join(lines) + "\n"
    if fmt == "render":
        # A Render env group; each service of the app (web, worker) lists it under
        # `envVars: - fromGroup: <name>` so they get the same values.
        lines = ["envVarGroups:", f"  - name: {app}-storage", "    envVars:"]
        for k, v in shown.items():
            lines += [f"      - key: {k}", f"        value: {json.dumps(v)}"]
        for k in hidden:
            lines += [f"      - key: {k}", "        sync: false  # set in the dashboard (secret)"]
        return "\n".join(lines) + "\n"
    if fmt == "k8s-secret":
        lines = [
            "apiVersion: v1",
            "kind: Secret",
            "metadata:",
            f"  name: {app}-storage",
            "  labels:",
            f"    app.kubernetes.io/part-of: {app}",
            "type: Opaque",
            "stringData:",
        ]
        lines += [f"  {k}: {json.dumps(v)}" for k, v in shown.items()]
        if note:
            lines.append(f"# {note}")
        return "\n".join(lines) + "\n"
    raise SettingsError(f"format {fmt!r}; accepted: {', '.join(FORMATS)}")
