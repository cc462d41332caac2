"""The README's config reference is generated from the config classes and kept current."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import stackfile
from ops.docs import BEGIN, END, DocsError, config_reference, update_readme


def test_readme_config_reference_is_current() -> None:
    readme = (stackfile.ROOT / "README.md").read_text()
    section = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert section == config_reference(), "README config reference is stale: run `make docs`"


def test_reference_lists_every_key_with_its_default() -> None:
    table = config_reference()
    assert "| `storage-platform:apps.<name>.s3.<name>.versioning` | bool | true |" in table
    assert (
        "| `storage-platform:apps.<name>.s3.<name>.abortIncompleteMultipartDays` | int | `7` |"
        in table
    )
    assert "`storage-platform:apps.<name>.s3.<name>.replication.storageClass`" in table


def test_write_keeps_a_crlf_readme_crlf_and_refuses_a_file_without_markers(tmp_path: Path) -> None:
    readme = (stackfile.ROOT / "README.md").read_text()
    stale = readme.replace("| `aws:region` | string |", "| `aws:region` | text |")
    crlf = tmp_path / "README.md"
    crlf.write_bytes(stale.replace("\n", "\r\n").encode())
    assert update_readme(crlf) is True
    assert crlf.read_bytes() == readme.replace("\n", "\r\n").encode()
    plain = tmp_path / "NOTES.md"
    plain.write_text("no markers here\n")
    with pytest.raises(DocsError, match="has no line '<!-- config-reference:begin"):
        update_readme(plain)
    assert plain.read_text() == "no markers here\n"
    with pytest.raises(DocsError, match="no such file; accepted: the README to update"):
        update_readme(tmp_path / "missing.md")
