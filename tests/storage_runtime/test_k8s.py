"""`python -m storage_runtime k8s-volume`: seed 003's volume and claims from the stack outputs
(the prod stack's own, from the offline plan), parsed back as YAML."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.plan import Plan
from storage_runtime.__main__ import main
from storage_runtime.k8s import efs_volume, volume_manifests
from tests.storage_runtime.test_sync import ROOT

EFS = ["--app", "pingvas-studio", "--efs", "models"]


@pytest.fixture
def outputs(prod_deployed: Plan, tmp_path: Path) -> Path:
    """What `pulumi stack output --json` gives after `pulumi up` (ids known)."""
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(prod_deployed.outputs))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["k8s-volume", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def documents(text: str) -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def test_volumes_and_claims_from_the_stack_outputs(
    outputs: Path, prod_deployed: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--outputs", str(outputs), *EFS)
    assert (code, err) == (0, "")
    efs = prod_deployed.outputs["endpoints"]["pingvas-studio"]["efs"]["models"]
    fs, ap = efs["fileSystemId"], efs["accessPointId"]
    docs = documents(out)
    assert sorted(docs) == [
        "PersistentVolume/efs-models-pv",
        "PersistentVolume/efs-models-pv-rw",
        "PersistentVolumeClaim/efs-models-pvc",
        "PersistentVolumeClaim/efs-models-pvc-rw",
    ]
    workers, writer = (
        docs["PersistentVolume/efs-models-pv"],
        docs["PersistentVolume/efs-models-pv-rw"],
    )
    for pv in (workers, writer):
        spec = pv["spec"]
        assert spec["csi"]["driver"] == "efs.csi.aws.com"
        assert spec["mountOptions"] == ["tls"]
        assert spec["persistentVolumeReclaimPolicy"] == "Retain"
        assert spec["storageClassName"] == "", "no dynamic provisioning"
        assert spec["capacity"] == {"storage": "500Gi"} and spec["volumeMode"] == "Filesystem"
    assert workers["spec"]["csi"]["volumeHandle"] == efs["volumeHandle"] == f"{fs}::{ap}"
    assert writer["spec"]["csi"]["volumeHandle"] == f"{fs}:/:{ap}", "a handle of its own"
    # the EFS CSI driver refuses a volume whose first (only) mode is ReadOnlyMany
    assert workers["spec"]["accessModes"] == ["ReadWriteMany", "ReadOnlyMany"]
    assert workers["spec"]["csi"]["readOnly"] is True
    assert writer["spec"]["accessModes"] == ["ReadWriteMany"]
    assert "readOnly" not in writer["spec"]["csi"]
    ro, rw = (
        docs["PersistentVolumeClaim/efs-models-pvc"],
        docs["PersistentVolumeClaim/efs-models-pvc-rw"],
    )
    assert ro["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert rw["spec"]["accessModes"] == ["ReadWriteMany"]
    for pv, claim in ((workers, ro), (writer, rw)):
        assert claim["metadata"]["namespace"] == "prod"
        assert claim["spec"]["storageClassName"] == ""
        assert claim["spec"]["volumeName"] == pv["metadata"]["name"]
        assert pv["spec"]["claimRef"] == {"namespace": "prod", "name": claim["metadata"]["name"]}
        assert claim["spec"]["resources"] == {"requests": {"storage": "500Gi"}}
        assert claim["metadata"]["labels"]["app.kubernetes.io/part-of"] == "pingvas-studio"


def test_names_namespace_and_size_are_flags(
    outputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "--outputs",
        str(outputs),
        *EFS,
        "--name",
        "studio-models",
        "--namespace",
        "studio",
        "--storage",
        "1Ti",
    )
    assert code == 0
    docs = documents(out)
    claim = docs["PersistentVolumeClaim/studio-models-pvc-rw"]
    assert claim["metadata"]["namespace"] == "studio"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Ti"
    assert docs["PersistentVolume/studio-models-pv"]["spec"]["claimRef"]["namespace"] == "studio"


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (
            ["--app", "pingvas", "--efs", "models"],
            ["app 'pingvas' is not in the stack outputs", "pingvas-studio"],
        ),
        (["--app", "pingvas-studio", "--efs", "cache"], ["no EFS file system 'cache'", "models"]),
        (["--app", "jokbodude", "--efs", "models"], ["no EFS file system 'models'", "none"]),
        ([*EFS, "--name", "Models_PV"], ["--name 'Models_PV'", "accepted: lower-case"]),
        ([*EFS, "--namespace", "Prod"], ["--namespace 'Prod'"]),
        ([*EFS, "--storage", "lots"], ["--storage 'lots'", "500Gi"]),
    ],
)
def test_mistakes_are_one_line_with_exit_2(
    outputs: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragments: list[str]
) -> None:
    code, out, err = run(capsys, "--outputs", str(outputs), *argv)
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    for fragment in fragments:
        assert fragment in err


def test_preview_outputs_and_missing_files_are_refused(
    prod_plan: Plan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps(prod_plan.outputs))
    code, _, err = run(capsys, "--outputs", str(preview), *EFS)
    # prod adopts its file system (id known at preview); the access point is new
    assert code == 2 and "accessPointId is '[unknown]'" in err and "deployed" in err
    code, _, err = run(capsys, "--outputs", str(tmp_path / "none.json"), *EFS)
    assert code == 2 and "--outputs" in err and "cannot be read" in err
    (tmp_path / "bad.json").write_text("{nope")
    code, _, err = run(capsys, "--outputs", str(tmp_path / "bad.json"), *EFS)
    assert code == 2 and "is not JSON" in err


def test_a_handle_that_contradicts_the_ids_is_refused(prod_deployed: Plan) -> None:
    data = json.loads(json.dumps(prod_deployed.outputs))
    data["endpoints"]["pingvas-studio"]["efs"]["models"]["volumeHandle"] = "fs-0123456789abcdef0::"
    with pytest.raises(Exception, match="does not match fileSystemId and accessPointId"):
        efs_volume(data, "pingvas-studio", "models")


def test_no_traceback_from_the_command(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "storage_runtime",
            "k8s-volume",
            "--outputs",
            str(tmp_path / "x"),
            *EFS,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: --outputs")


def test_the_yaml_writer_quotes_what_yaml_would_misread(prod_deployed: Plan) -> None:
    volume = efs_volume(prod_deployed.outputs, "pingvas-studio", "models")
    text = volume_manifests(volume, name="yes", namespace="null")
    docs = list(yaml.safe_load_all(text))
    assert docs[1]["metadata"]["namespace"] == "null" and docs[0]["metadata"]["name"] == "yes-pv"
