"""The README's config reference is generated from the config classes and kept current."""

from __future__ import annotations

from ops import stackfile
from ops.docs import BEGIN, END, config_reference


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
