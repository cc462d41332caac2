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
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

T = TypeVar("T")

_REQUIRED = dataclasses.MISSING

#: What a `secure:` value of the stack file is offline (`ops` never decrypts anything). Under
#: the real engine the program receives the decrypted text instead, so validation treats this
#: value as an opaque string: it is accepted where free text is, and no format check reads it.
SECRET_PLACEHOLDER = "offline-plan-secret-placeholder"


def is_secret(value: Any) -> bool:
    return value == SECRET_PLACEHOLDER


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
        #: Paths of values that could not be read (reported once, where they are): map
        #: entries dropped, fields replaced by their default. References to them are not
        #: reported again as "not declared", and rules do not report at or under them.
        self.broken: set[str] = set()

    def add(self, path: str, message: str) -> None:
        if any(path == b or path.startswith((f"{b}.", f"{b}[")) for b in self.broken):
            return  # follow-on noise of a value already reported as unreadable
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


_KINDS = {bool: "true/false", int: "a number", float: "a number", str: "a string"}


def _describe(value: Any) -> str:
    """`'yes' (a string)`, `[1, 2] (a list)`: the value and what YAML made of it."""
    if isinstance(value, Mapping):
        kind = "a mapping"
    elif isinstance(value, list | tuple):
        kind = "a list"
    else:
        kind = _KINDS.get(type(value), type(value).__name__)
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({kind})"


def accepted(tp: Any) -> str:
    """What a value of type `tp` looks like in YAML, for "accepted: ..." in messages."""
    optional, tp = _is_optional(tp)
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        keys = ", ".join(yaml_key(f) for f in dataclasses.fields(tp) if f.init)
        text = f"a mapping with the keys {keys}"
    elif origin is Literal:
        text = ", ".join(repr(c) for c in get_args(tp))
    elif origin is tuple:
        text = f"a list of {_plural(get_args(tp)[0])}, e.g. [a, b]"
    elif origin is dict:
        text = f"a mapping of names to {_plural(get_args(tp)[1])}"
    else:
        text = {
            bool: "true or false (unquoted)",
            int: "a whole number (unquoted)",
            float: "a number (unquoted)",
            str: "a string",
        }.get(tp, str(tp))
    return f"{text}, or null" if optional else text


def _plural(tp: Any) -> str:
    _, tp = _is_optional(tp)
    if dataclasses.is_dataclass(tp):
        return "mappings with the keys " + ", ".join(
            yaml_key(f) for f in dataclasses.fields(tp) if f.init
        )
    return {bool: "true/false", int: "whole numbers", float: "numbers", str: "strings"}.get(
        tp, accepted(tp)
    )


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
        problems.add(path, f"is empty (null); accepted: {accepted(tp)}")
        return None
    tp = inner
    origin = get_origin(tp)
    if is_secret(raw) and tp is not str:
        problems.add(
            path,
            "is a `secure:` value, which offline commands never decrypt and cannot check; "
            f"accepted: {accepted(tp)} in plain text (secrets are for free-form strings)",
        )
        return None

    if dataclasses.is_dataclass(tp):
        return parse(typing.cast(type, tp), raw, path, problems)
    if origin is Literal:
        choices = get_args(tp)
        if raw not in choices:
            hint = did_you_mean(str(raw), [str(c) for c in choices])
            shown = repr(raw) if isinstance(raw, str) else _describe(raw)
            problems.add(path, f"{shown} is not accepted{hint}; accepted: {accepted(tp)}")
            return None
        return raw
    if origin is tuple:
        (item_type, _ellipsis) = get_args(tp)
        if not isinstance(raw, list | tuple):
            problems.add(path, f"{_describe(raw)} is not a list; accepted: {accepted(tp)}")
            return None
        items = [convert(item_type, item, f"{path}[{i}]", problems) for i, item in enumerate(raw)]
        # Broken items are reported and dropped, so checks further up still run.
        return tuple(item for item in items if item is not None)
    if origin is dict:
        key_type, value_type = get_args(tp)
        if not isinstance(raw, Mapping):
            problems.add(path, f"{_describe(raw)} is not a mapping; accepted: {accepted(tp)}")
            return None
        out = {}
        for k, v in raw.items():
            if key_type is str and not isinstance(k, str):
                problems.add(
                    join(path, str(k)),
                    f"key {_describe(k)} is not a string; accepted: a name (quote it: '{k}')",
                )
                continue
            if (
                get_origin(key_type) is Literal
                and convert(key_type, k, join(path, str(k)), problems) is None
            ):
                continue
            value = convert(value_type, v, join(path, str(k)), problems)
            if value is not None:
                out[k] = value
            else:
                problems.broken.add(join(path, str(k)))
        return out
    if tp is bool:
        if not isinstance(raw, bool):
            problems.add(path, f"{_describe(raw)} is not true or false; accepted: {accepted(tp)}")
            return None
        return raw
    if tp is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            problems.add(path, f"{_describe(raw)} is not a whole number; accepted: {accepted(tp)}")
            return None
        return raw
    if tp is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            problems.add(path, f"{_describe(raw)} is not a number; accepted: {accepted(tp)}")
            return None
        return float(raw)
    if tp is str:
        if not isinstance(raw, str):
            problems.add(
                path,
                f'{_describe(raw)} is not a string; accepted: a string (quote it: "{raw}")',
            )
            return None
        return raw
    raise TypeError(f"schema: unsupported field type {tp!r} at {path}")  # programming error


def closest(word: str, options: Iterable[str]) -> str | None:
    """The option a typo most likely meant (case-insensitive), if any is close."""
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def did_you_mean(word: str, options: Iterable[str], show: str = "{}") -> str:
    """` (did you mean 'x'?)`, or "" when nothing is close; `show` formats the match."""
    match = closest(word, options)
    return f" (did you mean {show.format(match)!r}?)" if match is not None else ""


def _is_container(tp: Any) -> bool:
    """A map, list or mapping-shaped field (not optional): YAML null there means "none"."""
    optional, inner = _is_optional(tp)
    return not optional and (get_origin(inner) in (dict, tuple) or dataclasses.is_dataclass(inner))


def _has_default(field: dataclasses.Field[Any]) -> bool:
    return field.default is not _REQUIRED or field.default_factory is not _REQUIRED


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not _REQUIRED:
        return field.default
    factory: Any = field.default_factory
    return factory()


def parse(cls: type[T], raw: Any, path: str, problems: Problems) -> T | None:
    """Parse a mapping into dataclass `cls`, reporting every problem in `problems`.

    A field whose value cannot be read (wrong type, null) takes its default, so that the
    object still exists and every other rule about it, its siblings and the stack still runs;
    the field is marked broken so that no rule reports follow-on noise about it. Only a
    missing or unreadable required field makes the object unusable (None). A null for a
    field that has a default means "the default" (`r2Tokens:` with nothing under it is no
    tokens)."""
    if not isinstance(raw, Mapping):
        problems.add(
            path or "(root)", f"{_describe(raw)} is not a mapping; accepted: {accepted(cls)}"
        )
        return None
    fields = {yaml_key(f): f for f in dataclasses.fields(typing.cast(Any, cls)) if f.init}
    hints = _hints(cls)
    for key in raw:
        if key not in fields:
            hint = did_you_mean(str(key), list(fields))
            problems.add(
                join(path, str(key)),
                f"unknown key{hint}; accepted keys: {', '.join(sorted(fields))}",
            )
    values: dict[str, Any] = {}
    unusable = degraded = False
    for key, field in fields.items():
        here = join(path, key)
        tp = hints[field.name]
        if key not in raw or (raw[key] is None and _has_default(field) and _is_container(tp)):
            if not _has_default(field):
                problems.add(here, f"required key is missing; accepted: {accepted(tp)}")
                unusable = True
            continue
        mark = len(problems.lines)
        value = convert(tp, raw[key], here, problems)
        if value is None and (raw[key] is not None or not _is_optional(tp)[0]):
            problems.broken.add(here)
            if _has_default(field):
                values[field.name] = _default(field)
                degraded = True
            else:
                unusable = True
            continue
        values[field.name] = value
        if isinstance(value, tuple | dict) and len(value) != len(raw[key]):
            degraded = True  # items were dropped: rules on the whole list would mislead
        check = field.metadata.get("check")
        clean = len(problems.lines) == mark
        if check is not None and value is not None and not is_secret(value) and clean:
            check(value, here, problems)
    if unusable:
        return None
    obj = cls(**values)
    # Rules spanning several fields need every field read as written: on a default stand-in
    # they would report about a value nobody wrote.
    check_object = getattr(obj, "check", None)
    if check_object is not None and not degraded:
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
