"""Every bad stack file and mistyped command of issue 13 (tests/support/bad_inputs.py) gets
a clear answer: the documented exit code, a message naming the key or argument and what is
accepted, no traceback, nothing half-written. Cases that need a process of their own (a
closed pipe, Ctrl-C, a read-only directory, a file-size limit) run as one; the rest run
through `ops.__main__.main` in this process, where any exception fails the test."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.bad_inputs import (
    HERE,
    Case,
    cases,
    explain,
    run_in_process,
    run_subprocess,
    verdict,
    workdir,
)

CASES = cases()
SUBPROCESS_KINDS = {"pipe", "sigint", "readonly", "fsize"}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_clear_answer(case: Case) -> None:
    with workdir() as work:
        if case.subprocess_only or case.kind in SUBPROCESS_KINDS:
            result = run_subprocess(case, work, HERE)
        else:
            result = run_in_process(case, work, HERE)
    assert verdict(case, result) == "clear", f"{explain(case, result)}\n{result.out}"


def test_case_ids_are_unique_and_every_case_says_where_it_comes_from() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert all(c.why and (c.fragments or c.kind == "pipe") for c in CASES)


def _messages(path: Path) -> list[tuple[int, list[str]]]:
    """(line, literal parts) of every `problems.add(path, message)` call in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add"
            and len(node.args) == 2
        ):
            parts = [
                n.value
                for n in ast.walk(node.args[1])
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            ]
            found.append((node.lineno, parts))
    return found


def test_every_config_message_says_what_is_accepted() -> None:
    modules = [
        *sorted((HERE / "components" / "config").glob("*.py")),
        HERE / "components" / "schema.py",
    ]
    missing = [
        f"{path.relative_to(HERE)}:{line}"
        for path in modules
        for line, parts in _messages(path)
        if not any("accepted" in part for part in parts)
    ]
    assert sum(len(_messages(p)) for p in modules) > 100
    assert missing == [], "problems without 'accepted: ...'"
