"""Running `python -m ops` in the test process, with what it printed."""

from __future__ import annotations

import contextlib
import io

from ops.__main__ import main


def run_ops(*argv: str) -> tuple[int, str, str]:
    """`python -m ops ARGV...`: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()
