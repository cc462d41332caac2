"""Every file `ops` writes is replaced atomically: all of it or none of it, mode and line
endings kept."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ops import files
from ops.stackfile import ROOT


def test_replaces_the_file_and_keeps_its_mode_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"old\r\n")
    os.chmod(path, 0o640)
    files.write_atomic(path, "a\r\nb\r\n")
    assert path.read_bytes() == b"a\r\nb\r\n"
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f.yaml"]


def test_a_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        files.write_atomic(tmp_path / "new.json", "{}")
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "new.json").st_mode & 0o777 == 0o640


def test_a_symlink_stays_a_link_to_the_new_content(tmp_path: Path) -> None:
    target = tmp_path / "real.yaml"
    target.write_text("old")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    files.write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_an_interrupted_write_leaves_the_original_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("original")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(path, "new content")
    assert path.read_text() == "original"
    assert [p.name for p in tmp_path.iterdir()] == ["f.yaml"]


def _limit(size: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_a_write_that_fails_midway_leaves_the_original_byte_identical(tmp_path: Path) -> None:
    """A real partial write: the process may not write more than 4 KiB to any file."""
    path = tmp_path / "big.txt"
    original = b"x" * 3000
    path.write_bytes(original)
    code = (
        "import sys; from pathlib import Path; from ops import files\n"
        "try:\n    files.write_atomic(Path(sys.argv[1]), 'y' * 10000)\n"
        "except files.WriteError as err:\n    print(err); sys.exit(3)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=lambda: _limit(4096),
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == 3, proc.stderr
    assert "could not write" in proc.stdout and "the file is unchanged" in proc.stdout
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["big.txt"]


def test_a_directory_or_missing_parent_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(files.WriteError, match=r"--out .*: is a directory; accepted: a file path"):
        files.check_writable(tmp_path, "--out")
    with pytest.raises(
        files.WriteError, match="is not a directory; accepted: a file in an existing"
    ):
        files.check_writable(tmp_path / "no" / "such.json", "--out")
    with pytest.raises(files.WriteError, match="it is a directory"):
        files.write_atomic(tmp_path, "x")


def test_newline_of_reads_the_first_line() -> None:
    assert files.newline_of("a\r\nb\n") == "\r\n"
    assert files.newline_of("a\nb\r\n") == "\n"
    assert files.newline_of("no newline") == "\n"
