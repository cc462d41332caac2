"""The stack diagram: every app, its storage and the edges between them."""

from __future__ import annotations

import shutil
from pathlib import Path

from ops.diagram import mermaid, write_diagram
from ops.plan import Plan


def test_mermaid_has_every_app_and_edge(prod_plan: Plan) -> None:
    text = mermaid(prod_plan)
    assert text.startswith("flowchart LR")
    for app in ("jokbodude", "s3-images", "fit-files", "pingvas-studio", "video-renderer"):
        assert f'["{app}"]' in text
    assert "jokbodude_token_service -- read-write --> jokbodude_r2_files" in text
    assert "pingvas_studio_cdn_images -- OAI/OAC --> pingvas_studio_s3_thumbnails" in text
    assert "pingvas_studio_s3_images -- replication --> pingvas_studio_s3_images_replica" in text
    assert "EFS models (/models)" in text


def test_readme_shows_the_current_diagram(prod_plan: Plan) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert mermaid(prod_plan) in readme, "README diagram is stale: run `make diagram`"


def test_write_diagram(prod_plan: Plan, tmp_path: Path) -> None:
    written = write_diagram(prod_plan, tmp_path / "stack.mmd")
    assert written[0].read_text() == mermaid(prod_plan)
    if shutil.which("dot"):
        assert written[1].read_text().lstrip().startswith(("<?xml", "<svg"))
