"""Reading `Pulumi.yaml` and `Pulumi.<stack>.yaml` without the Pulumi CLI, the way the engine
reads them, and more strictly where the engine would silently do something else:

* a key written twice in one mapping is an error naming both lines (YAML keeps the last,
  which silently replaces a whole app or tag);
* every YAML or encoding failure is one message with file, line and column;
* a YAML date (`rotatedOn: 2026-10-01`) stays the text it is, as the engine passes it;
* `secure:` values become an opaque placeholder: offline commands never decrypt anything.

Every `ops` command reads a stack through `load()`/`parse()` and validates it with
`StackFile.config()`, so they all agree on what a stack file says.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.schema import SECRET_PLACEHOLDER, did_you_mean

__all__ = ["SECRET_PLACEHOLDER", "StackFile", "StackFileError", "load", "parse"]

ROOT = Path(__file__).resolve().parent.parent

#: Pulumi's rule for stack names; the stack file is `Pulumi.<name>.yaml` beside Pulumi.yaml.
_STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: The keys of a stack file besides `config:` (Pulumi's ProjectStack).
_DOCUMENT_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
_DOCUMENT_SHAPE = "a mapping whose 'config:' key holds the settings, as in Pulumi.prod.yaml"


class StackFileError(ValueError):
    """The stack file cannot be read as a stack file. `problems` holds one line per problem,
    each `file:line:column: what is wrong; accepted: ...` (nothing was changed anywhere)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        if len(self.problems) == 1:
            super().__init__(self.problems[0])
        else:
            lines = [f"{len(self.problems)} problems:", *(f"  - {p}" for p in self.problems)]
            super().__init__("\n".join(lines))


def display(path: Path) -> str:
    """The path as a person wants to read it: relative to the working directory when inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def check_stack_name(name: str) -> str:
    if not _STACK_NAME.fullmatch(name):
        raise StackFileError(
            [
                f"--stack {name!r} is not a stack name; accepted: letters, digits, '-', '_' "
                "and '.', e.g. 'prod' (the file is Pulumi.<stack>.yaml beside Pulumi.yaml; "
                "use --stack-file for another path where a command offers it)"
            ]
        )
    return name


# ------------------------------------------------------------------------------ YAML


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text and records keys defined twice."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[Any, yaml.Mark, yaml.Mark]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges are meant to be overridden
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # unhashable: the base constructor reports it with its mark
            if first is not None:
                self.duplicates.append((key, first, key_node.start_mark))
            else:
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_timestamp_as_text(self, node: yaml.ScalarNode) -> str:
        return str(self.construct_scalar(node))


# The engine hands `2026-10-01` to the program as the string it is (yaml.v2/v3 decode
# timestamps into interfaces as strings); so do we, instead of a `datetime.date`.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_timestamp_as_text)


def _at(name: str, mark: yaml.Mark | None) -> str:
    return f"{name}:{mark.line + 1}:{mark.column + 1}" if mark is not None else name


def decode(data: bytes, name: str) -> str:
    """UTF-8 text, or one StackFileError with the line and column of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise StackFileError(
            [
                f"{name}:{line}:{column}: byte 0x{data[err.start]:02x} is not UTF-8; accepted: "
                "a UTF-8 file (re-save it as UTF-8; YAML and the Pulumi CLI read UTF-8)"
            ]
        ) from None


def _line(text: str, index: int) -> str:
    lines = text.splitlines()
    return lines[index] if 0 <= index < len(lines) else ""


def _yaml_error(err: yaml.YAMLError, name: str, text: str) -> StackFileError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    context = getattr(err, "context", None)
    context_mark = getattr(err, "context_mark", None)
    if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
        context = f"{context} at line {context_mark.line + 1}"
    what = f"{context}: {problem}" if context else str(problem)
    if "could not determine a constructor for the tag" in what:
        tag = what.split("tag", 1)[1].strip(" '").split("'")[0]
        what = (
            f"the tag {tag.replace('tag:yaml.org,2002:', '!!')!r} is not allowed; accepted: "
            "plain YAML values (strings, numbers, true/false, lists, mappings) and `secure:`"
        )
    elif mark is not None and "\t" in _line(text, mark.line)[: mark.column + 1]:
        what = f"{what}: a tab; accepted: spaces for indentation (YAML does not allow tabs)"
    else:
        what = f"{what}; accepted: valid YAML (check the quoting and indentation at this point)"
    return StackFileError([f"{_at(name, mark)}: {what}"])


def read_yaml(text: str, name: str) -> tuple[Any, list[str], yaml.Node | None]:
    """The document, a problem line for each key defined twice, and the node tree the
    document was constructed from (for the positions of keys)."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        doc = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as err:
        raise _yaml_error(err, name, text) from None
    finally:
        loader.dispose()
    loader.duplicates.sort(key=lambda d: (d[2].line, d[2].column))
    problems = [
        f"{_at(name, again)}: duplicate key {key!r} at line {again.line + 1} (first at line "
        f"{first.line + 1}); YAML would silently keep only the last one; accepted: each key "
        "once per mapping"
        for key, first, again in loader.duplicates
    ]
    return doc, problems, root


def _key_marks(root: yaml.Node | None) -> dict[str, yaml.Mark]:
    """Where each `config:` key starts (for messages)."""
    marks: dict[str, yaml.Mark] = {}
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            marks[f"(document):{key.value}"] = key.start_mark
            if key.value == "config" and isinstance(value, yaml.MappingNode):
                marks["(config)"] = value.start_mark
                for k, _ in value.value:
                    marks[str(k.value)] = k.start_mark
            elif key.value == "config":
                marks["(config)"] = value.start_mark
    return marks


# ------------------------------------------------------------------------- the file


@dataclass(frozen=True)
class StackFile:
    project: str
    stack: str
    path: Path
    values: dict[str, Any]
    """Full key (`namespace:key`) -> parsed YAML value, `secure:` leaves replaced."""
    secret_keys: list[str]

    def engine_config(self) -> dict[str, str]:
        """The config as the engine hands it to a program (PULUMI_CONFIG): strings as they
        are, everything else JSON-encoded."""
        return {
            k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
            for k, v in self.values.items()
        }

    def get(self, key: str, default: Any = None) -> Any:
        full = key if ":" in key else f"{self.project}:{key}"
        return self.values.get(full, default)

    def config(self, today: dt.date | None = None) -> Any:
        """The validated StackConfig (ConfigError lists every problem). `today` enables the
        rules that depend on the date (an `expiresOn` in the past, a `rotatedOn` in the
        future); None leaves them to the caller (`ops keys status` reports them per token)."""
        from components.config import parse_stack_config

        prefix = f"{self.project}:"
        raw = {k[len(prefix) :]: v for k, v in self.values.items() if k.startswith(prefix)}
        return parse_stack_config(
            raw,
            aws_region=self.values.get("aws:region"),
            stack=self.stack,
            project=self.project,
            config_keys=list(self.values),
            today=today,
        )


def _replace_secure(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        if set(value) == {"secure"} and isinstance(value["secure"], str):
            return SECRET_PLACEHOLDER, True
        found = False
        out = {}
        for k, v in value.items():
            out[k], hit = _replace_secure(v)
            found = found or hit
        return out, found
    if isinstance(value, list):
        items = [_replace_secure(v) for v in value]
        return [v for v, _ in items], any(hit for _, hit in items)
    return value, False


def project_name(root: Path = ROOT) -> str:
    path = root / "Pulumi.yaml"
    try:
        text = decode(path.read_bytes(), display(path))
    except OSError as err:
        raise StackFileError(
            [f"{display(path)}: cannot be read ({err.strerror}); accepted: a Pulumi project"]
        ) from None
    doc, _, _ = read_yaml(text, display(path))
    name = doc.get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str):
        raise StackFileError(
            [f"{display(path)}: has no 'name:'; accepted: a project file with 'name: <project>'"]
        )
    return name


def stack_path(stack: str, root: Path = ROOT) -> Path:
    return root / f"Pulumi.{check_stack_name(stack)}.yaml"


def available_stacks(root: Path = ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def read_bytes(path: Path, *, flag: str = "--stack") -> bytes:
    """The file's bytes, or a StackFileError saying which file and what to pass instead."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        root = path.parent
        if flag == "--stack":
            stacks = ", ".join(available_stacks(root)) or "none"
            accepted = f"--stack one of: {stacks} (Pulumi.<stack>.yaml in {display(root)})"
        else:
            accepted = f"{flag} naming an existing stack file"
        raise StackFileError(
            [f"{display(path)}: no such stack file; accepted: {accepted}"]
        ) from None
    except IsADirectoryError:
        raise StackFileError(
            [f"{display(path)}: is a directory; accepted: {flag} naming a stack file"]
        ) from None
    except OSError as err:
        raise StackFileError(
            [f"{display(path)}: cannot be read ({err.strerror}); accepted: a readable file"]
        ) from None


def read_text(path: Path, *, flag: str = "--stack") -> str:
    """The stack file's exact text (CRLF kept: `ops keys` edits it by character position)."""
    return decode(read_bytes(path, flag=flag), display(path))


def load(
    stack: str, root: Path = ROOT, path: Path | None = None, *, flag: str = "--stack"
) -> StackFile:
    project = project_name(root)
    path = path or stack_path(stack, root)
    return parse(read_bytes(path, flag=flag), path=path, stack=stack, project=project)


def parse(data: bytes | str, *, path: Path, stack: str, project: str) -> StackFile:
    """A stack file from its bytes (what `ops keys` checks before it writes an edit)."""
    name = display(path)
    text = decode(data, name) if isinstance(data, bytes) else data
    doc, problems, root = read_yaml(text, name)
    marks = _key_marks(root)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        kind = "a list" if isinstance(doc, list) else f"a {type(doc).__name__}"
        raise StackFileError([f"{name}:1:1: the document is {kind}; accepted: {_DOCUMENT_SHAPE}"])
    for key in doc:
        if key not in _DOCUMENT_KEYS:
            hint = did_you_mean(str(key), _DOCUMENT_KEYS)
            problems.append(
                f"{_at(name, marks.get(f'(document):{key}'))}: unknown top-level key {key!r}"
                f"{hint}; accepted: {', '.join(_DOCUMENT_KEYS)}"
            )
    config = doc.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        kind = "a list" if isinstance(config, list) else f"a {type(config).__name__}"
        problems.append(
            f"{_at(name, marks.get('(config)'))}: 'config' is {kind}; accepted: a mapping of "
            "'<namespace>:<key>: value', e.g. 'aws:region: ap-northeast-2'"
        )
        config = {}
    values: dict[str, Any] = {}
    secret: list[str] = []
    for key, raw in config.items():
        if not isinstance(key, str):
            problems.append(
                f"{_at(name, marks.get(str(key)))}: config key {key!r} is not a string; "
                "accepted: '<namespace>:<key>', e.g. 'storage-platform:tags'"
            )
            continue
        full = key if ":" in key else f"{project}:{key}"
        values[full], is_secret = _replace_secure(raw)
        if is_secret:
            secret.append(full)
    if problems:
        raise StackFileError(problems)
    return StackFile(project, stack, path, values, sorted(secret))


def config(sf: StackFile, today: dt.date | None = None) -> Any:
    return sf.config(today)


def parse_config(text: str | bytes, stack: str, project: str, today: dt.date | None = None) -> Any:
    """The validated StackConfig of a stack file's text."""
    return parse(text, path=Path(f"Pulumi.{stack}.yaml"), stack=stack, project=project).config(
        today
    )
