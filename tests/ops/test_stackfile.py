"""Reading stack files as the engine would, and more strictly where it would not notice."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import stackfile
from ops.stackfile import SECRET_PLACEHOLDER, StackFileError

PATH = Path("Pulumi.t.yaml")


def parse(text: str | bytes) -> stackfile.StackFile:
    return stackfile.parse(text, path=PATH, stack="t", project="storage-platform")


def error(text: str | bytes) -> str:
    with pytest.raises(StackFileError) as info:
        parse(text)
    return str(info.value)


def test_duplicate_keys_anywhere_name_both_lines() -> None:
    text = (
        "config:\n"
        "  storage-platform:tags:\n"
        "    owner: a\n"
        "    owner: b\n"
        "  aws:region: ap-northeast-2\n"
        "  storage-platform:apps:\n"
        "    app:\n"
        "      s3:\n"
        "        - {name: x, name: y}\n"
        "  aws:region: us-east-1\n"
    )
    with pytest.raises(StackFileError) as info:
        parse(text)
    assert info.value.problems == [
        "Pulumi.t.yaml:4:5: duplicate key 'owner' at line 4 (first at line 3); YAML would "
        "silently keep only the last one; accepted: each key once per mapping",
        "Pulumi.t.yaml:9:21: duplicate key 'name' at line 9 (first at line 9); YAML would "
        "silently keep only the last one; accepted: each key once per mapping",
        "Pulumi.t.yaml:10:3: duplicate key 'aws:region' at line 10 (first at line 5); YAML "
        "would silently keep only the last one; accepted: each key once per mapping",
    ]


def test_merge_keys_may_be_overridden() -> None:
    text = "config:\n  storage-platform:tags:\n    base: &b {owner: a, env: x}\n    merged: {<<: *b, env: y}\n"
    tags = parse(text).values["storage-platform:tags"]
    assert tags["merged"] == {"owner": "a", "env": "y"}


def test_yaml_dates_stay_the_text_the_engine_passes() -> None:
    sf = parse(
        "config:\n  storage-platform:day: 2026-10-01\n  storage-platform:at: 2027-01-01T00:00:00Z\n  storage-platform:tagged: !!timestamp 2026-10-02\n"
    )
    assert sf.values["storage-platform:day"] == "2026-10-01"
    assert sf.values["storage-platform:at"] == "2027-01-01T00:00:00Z"
    assert sf.values["storage-platform:tagged"] == "2026-10-02"
    assert sf.engine_config()["storage-platform:day"] == "2026-10-01"


def test_secure_values_are_opaque_wherever_they_are() -> None:
    sf = parse(
        "config:\n"
        "  cloudflare:apiToken:\n    secure: v1:AAAA\n"
        "  storage-platform:tags:\n    owner:\n      secure: v1:BBBB\n"
        "  storage-platform:list: [{secure: v1:CCCC}, plain]\n"
    )
    assert sf.secret_keys == [
        "cloudflare:apiToken",
        "storage-platform:list",
        "storage-platform:tags",
    ]
    assert sf.values["cloudflare:apiToken"] == SECRET_PLACEHOLDER
    assert sf.values["storage-platform:tags"] == {"owner": SECRET_PLACEHOLDER}
    assert sf.values["storage-platform:list"] == [SECRET_PLACEHOLDER, "plain"]
    assert "v1:" not in str(sf.engine_config())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "config:\n  aws:region: [x\n",
            "Pulumi.t.yaml:3:1: while parsing a flow sequence at line 2: expected ',' or ']', but got '<stream end>'",
        ),
        (
            "config:\n\taws:region: x\n",
            "Pulumi.t.yaml:2:1: while scanning for the next token: found character '\\t' that cannot start any token: a tab; accepted: spaces",
        ),
        (
            "config: {a: 1}\n---\nconfig: {}\n",
            "Pulumi.t.yaml:2:1: expected a single document in the stream at line 1: but found another document",
        ),
        (
            "config:\n  aws:region: !!python/name:os.system x\n",
            "Pulumi.t.yaml:2:15: the tag '!!python/name:os.system' is not allowed",
        ),
        (
            "config:\n  ? [a, b]\n  : x\n",
            "Pulumi.t.yaml:2:5: while constructing a mapping: found unhashable key",
        ),
    ],
)
def test_yaml_errors_are_one_line_with_file_line_and_column(text: str, expected: str) -> None:
    message = error(text)
    assert message.startswith(expected), message
    assert "accepted" in message


def test_encoding_errors_name_the_line_and_column() -> None:
    assert error("config:\n  aws:region: ap\xe9\n".encode("latin-1")).startswith(
        "Pulumi.t.yaml:2:17: byte 0xe9 is not UTF-8; accepted: a UTF-8 file"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- a\n",
            "Pulumi.t.yaml:1:1: the document is a list; accepted: a mapping whose 'config:' key",
        ),
        ("just text\n", "Pulumi.t.yaml:1:1: the document is a str"),
        (
            "config: [a]\n",
            "Pulumi.t.yaml:1:9: 'config' is a list; accepted: a mapping of '<namespace>:<key>: value'",
        ),
        (
            "confg: {}\n",
            "Pulumi.t.yaml:1:1: unknown top-level key 'confg' (did you mean 'config'?)",
        ),
        ("config:\n  1: x\n", "Pulumi.t.yaml:2:3: config key 1 is not a string"),
    ],
)
def test_a_document_of_the_wrong_shape_says_what_is_accepted(text: str, expected: str) -> None:
    assert error(text).startswith(expected)


def test_empty_file_and_empty_config_are_empty() -> None:
    assert parse("").values == {}
    assert parse("config:\n").values == {}
    assert parse("secretsprovider: passphrase\nencryptionsalt: v1:x\nconfig: {}\n").values == {}


def test_keys_without_a_namespace_are_the_projects() -> None:
    assert parse("config:\n  tags: {a: b}\n").values == {"storage-platform:tags": {"a": "b"}}


def test_missing_stack_file_lists_the_stacks(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: storage-platform\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    with pytest.raises(
        StackFileError,
        match=r"Pulumi\.prod\.yaml: no such stack file; accepted: --stack one of: dev",
    ):
        stackfile.load("prod", tmp_path)
    with pytest.raises(
        StackFileError, match=r"is a directory; accepted: --stack-file naming a stack file"
    ):
        stackfile.load("prod", tmp_path, tmp_path, flag="--stack-file")


@pytest.mark.parametrize("name", ["../prod", "a/b", "", ".hidden", "prod\n", "pr od"])
def test_stack_names_are_plain_names(name: str) -> None:
    with pytest.raises(StackFileError, match=r"is not a stack name; accepted: letters, digits"):
        stackfile.stack_path(name)


@pytest.mark.parametrize("name", ["prod", "staging", "dev-1", "eu_2", "v1.2"])
def test_plain_stack_names_are_accepted(name: str) -> None:
    assert stackfile.stack_path(name).name == f"Pulumi.{name}.yaml"


def test_a_broken_project_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(StackFileError, match=r"Pulumi\.yaml: cannot be read"):
        stackfile.project_name(tmp_path)
    (tmp_path / "Pulumi.yaml").write_text("runtime: python\n")
    with pytest.raises(StackFileError, match=r"has no 'name:'"):
        stackfile.project_name(tmp_path)
