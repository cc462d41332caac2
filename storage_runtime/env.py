"""What each service of an app needs in its environment, rendered for its platform.

The same variables go to every service of an app (seed 000: web and worker alike). Secret
values are written only when asked for (`show_secrets`); otherwise they are left out with a
note, so the output can be pasted into a pull request or a log safely.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from storage_runtime.settings import Settings

SECRET_VARIABLES = frozenset({"S3_SECRET_ACCESS_KEY", "BACKEND_SERVICE_TOKEN"})
FORMATS = ("dotenv", "render", "k8s-secret")


def _quote(value: str) -> str:
    """A dotenv value: bare when safe, else double-quoted with escapes."""
    if value and all(c.isalnum() or c in "-_./:@+=" for c in value):
        return value
    return json.dumps(value)


def render(settings: Settings, *, app: str, fmt: str, show_secrets: bool = False) -> str:
    env = settings.to_env()
    hidden = sorted(k for k in env if k in SECRET_VARIABLES and not show_secrets)
    shown: Mapping[str, str] = {k: v for k, v in env.items() if k not in hidden}
    note = (
        f"{', '.join(hidden)} left out: add --show-secrets to include secret values"
        if hidden
        else ""
    )
    if fmt == "dotenv":
        lines = [f"# storage of app {app} (python -m storage_runtime env)"]
        if note:
            lines.append(f"# {note}")
        lines += [f"{k}={_quote(v)}" for k, v in shown.items()]
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
    raise ValueError(f"format {fmt!r}; accepted: {', '.join(FORMATS)}")


def parse_dotenv(text: str) -> dict[str, str]:
    """Read back what `render(fmt="dotenv")` wrote."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        out[key] = json.loads(value) if value.startswith('"') else value
    return out
