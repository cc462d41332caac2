"""Typed config schema: dataclass fields that know their YAML key, default and description.

The stack config classes in `components/config/` are plain frozen dataclasses whose fields are
declared with `setting(...)`. From those declarations this module

* parses raw YAML/JSON values into the dataclasses, reporting every problem at once (unknown
  keys with a "did you mean", wrong types, values outside a `Literal`), each as
  `<key path>: <bad value> <what is wrong>; accepted: <what is accepted>`;
* calls each object's `check(path, problems)` for the rules that need more than one field;
* renders the README's config reference table, so the docs cannot drift from the code.

It has no Pulumi import: the parsing is exercised directly by the tests and by `ops`.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

T = TypeVar("T")

_REQUIRED = dataclasses.MISSING


class ConfigError(ValueError):
    """The stack config is invalid. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the stack config:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class Problems:
    """Collects problems so that all of them are reported in one error."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        #: Paths of map entries that could not be read at all: references to them are not
        #: reported again as "not declared".
        self.broken: set[str] = set()

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{path}: {message}")

    def __bool__(self) -> bool:
        return bool(self.lines)

    def raise_if_any(self) -> None:
        if self.lines:
            raise ConfigError(self.lines)


def setting(
    default: Any = _REQUIRED,
    *,
    doc: str,
    key: str | None = None,
    factory: Any = _REQUIRED,
    check: Any = None,
) -> Any:
    """Declare a config field: `doc` says what it is for and its unit; `key` overrides the
    camelCase YAML key derived from the field name; `check(value, path, problems)` validates
    the value on its own, even when sibling fields are broken (so every problem is reported)."""
    metadata = {"doc": doc, "key": key, "check": check}
    if factory is not _REQUIRED:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def yaml_key(field: dataclasses.Field[Any]) -> str:
    return field.metadata.get("key") or camel(field.name)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=False)


def convert(tp: Any, raw: Any, path: str, problems: Problems) -> Any:
    """Convert `raw` to type `tp`, adding a problem (and returning None) when it does not fit."""
    optional, inner = _is_optional(tp)
    if raw is None:
        if optional:
            return None
        problems.add(path, "must be set (got null)")
        return None
    tp = inner
    origin = get_origin(tp)

    if dataclasses.is_dataclass(tp):
        return parse(typing.cast(type, tp), raw, path, problems)
    if origin is Literal:
        choices = get_args(tp)
        if raw not in choices:
            accepted = ", ".join(repr(c) for c in choices)
            hint = _did_you_mean(str(raw), [str(c) for c in choices])
            problems.add(path, f"{raw!r} is not accepted{hint}; accepted: {accepted}")
            return None
        return raw
    if origin is tuple:
        (item_type, _ellipsis) = get_args(tp)
        if not isinstance(raw, list | tuple):
            problems.add(path, f"expected a list, got {_describe(raw)}")
            return None
        items = [convert(item_type, item, f"{path}[{i}]", problems) for i, item in enumerate(raw)]
        # Broken items are reported and dropped, so checks further up still run.
        return tuple(item for item in items if item is not None)
    if origin is dict:
        key_type, value_type = get_args(tp)
        if not isinstance(raw, Mapping):
            problems.add(path, f"expected a mapping, got {_describe(raw)}")
            return None
        out = {}
        for k, v in raw.items():
            if key_type is str and not isinstance(k, str):
                problems.add(path, f"key {k!r} must be a string")
                continue
            if (
                get_origin(key_type) is Literal
                and convert(key_type, k, join(path, str(k)), problems) is None
            ):
                continue
            value = convert(value_type, v, join(path, str(k)), problems)
            if value is not None:
                out[k] = value
            elif v is not None:
                problems.broken.add(join(path, str(k)))
        return out
    if tp is bool:
        if not isinstance(raw, bool):
            problems.add(path, f"expected true or false, got {_describe(raw)}")
            return None
        return raw
    if tp is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            problems.add(path, f"expected a whole number, got {_describe(raw)}")
            return None
        return raw
    if tp is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            problems.add(path, f"expected a number, got {_describe(raw)}")
            return None
        return float(raw)
    if tp is str:
        if not isinstance(raw, str):
            problems.add(path, f"expected a string, got {_describe(raw)}")
            return None
        return raw
    raise TypeError(f"schema: unsupported field type {tp!r} at {path}")  # programming error


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse(cls: type[T], raw: Any, path: str, problems: Problems) -> T | None:
    """Parse a mapping into dataclass `cls`. Returns None when a field is unusable (wrong
    type, missing); the reasons are in `problems`. A value that only failed a check is kept,
    so that the checks of the enclosing objects and the stack still run and report too."""
    if not isinstance(raw, Mapping):
        problems.add(path or "(root)", f"expected a mapping, got {_describe(raw)}")
        return None
    fields = {yaml_key(f): f for f in dataclasses.fields(typing.cast(Any, cls)) if f.init}
    hints = _hints(cls)
    before = len(problems.lines)
    for key in raw:
        if key not in fields:
            accepted = ", ".join(sorted(fields))
            hint = _did_you_mean(str(key), list(fields))
            problems.add(join(path, str(key)), f"unknown key{hint}; accepted keys: {accepted}")
    values: dict[str, Any] = {}
    unusable = False
    for key, field in fields.items():
        if key in raw:
            mark = len(problems.lines)
            value = convert(hints[field.name], raw[key], join(path, key), problems)
            unusable = unusable or (value is None and raw[key] is not None)
            values[field.name] = value
            check = field.metadata.get("check")
            if check is not None and value is not None and len(problems.lines) == mark:
                check(value, join(path, key), problems)
        elif field.default is _REQUIRED and field.default_factory is _REQUIRED:
            problems.add(join(path, key), "required key is missing")
            unusable = True
    if unusable:
        return None
    obj = cls(**values)
    # Rules spanning several fields run only on a clean object: on one with a dropped item
    # they would report follow-on noise instead of the real problem.
    check_object = getattr(obj, "check", None)
    if check_object is not None and len(problems.lines) == before:
        check_object(path, problems)
    return obj


# ------------------------------------------------------------------------------------ docs


def _type_name(tp: Any) -> str:
    optional, tp = _is_optional(tp)
    origin = get_origin(tp)
    if origin is Literal:
        name = " \\| ".join(f"`{c}`" for c in get_args(tp))
    elif origin is tuple:
        name = f"list of {_type_name(get_args(tp)[0])}"
    elif origin is dict:
        name = f"map of {_type_name(get_args(tp)[1])}"
    elif dataclasses.is_dataclass(tp):
        name = "mapping"
    else:
        name = {bool: "bool", int: "int", float: "number", str: "string"}.get(tp, str(tp))
    return f"{name} or null" if optional else name


def _default_text(field: dataclasses.Field[Any]) -> str:
    if field.default is not _REQUIRED:
        value = field.default
    elif field.default_factory is not _REQUIRED:
        value = field.default_factory()
    else:
        return "**required**"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value in ((), {}):
        return "empty"
    if dataclasses.is_dataclass(value):
        return "see below"
    if isinstance(value, tuple | str):
        import json

        return f"`{json.dumps(list(value) if isinstance(value, tuple) else value)}`"
    return f"`{value}`"


def rows(cls: type, prefix: str) -> Iterator[tuple[str, str, str, str]]:
    """(key path, type, default, description) for every field, depth first."""
    hints = _hints(cls)
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        key = prefix + yaml_key(field) if prefix.endswith(":") else join(prefix, yaml_key(field))
        tp = hints[field.name]
        yield key, _type_name(tp), _default_text(field), field.metadata.get("doc", "")
        _, inner = _is_optional(tp)
        origin = get_origin(inner)
        if dataclasses.is_dataclass(inner):
            yield from rows(typing.cast(type, inner), key)
        elif origin is tuple and dataclasses.is_dataclass(get_args(inner)[0]):
            yield from rows(get_args(inner)[0], f"{key}[]")
        elif origin is dict and dataclasses.is_dataclass(get_args(inner)[1]):
            yield from rows(get_args(inner)[1], f"{key}.<name>")


def markdown_table(cls: type, prefix: str) -> str:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, tp, default, doc in rows(cls, prefix):
        lines.append(f"| `{key}` | {tp} | {default} | {doc} |")
    return "\n".join(lines)
