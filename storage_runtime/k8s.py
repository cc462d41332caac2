"""Seed 003's cluster volume: the PersistentVolumes and claims that mount an app's EFS access
point in Kubernetes, from the stack outputs (`python -m storage_runtime k8s-volume`).

What seed 003 wrote by hand, corrected where it would not mount:

- `efs-models-pvc` (ReadOnlyMany) for the workers and `efs-models-pvc-rw` (ReadWriteMany) for
  the model-sync Job. A PersistentVolume binds exactly one claim, so each claim gets its own
  volume, pre-bound both ways (`claimRef` and `volumeName`), with `storageClassName: ""` so
  that nothing is provisioned dynamically.
- The EFS CSI driver mounts only single-node-writer and multi-node-multi-writer volumes: a
  volume whose access modes are only ReadOnlyMany fails with "invalid access mode:
  MULTI_NODE_READER_ONLY" (aws-efs-csi-driver #502, #972). kubelet hands the driver the
  volume's *first* access mode, so the workers' volume lists ReadWriteMany first and
  ReadOnlyMany second (for its claim to bind) and is read-only through `csi.readOnly`, which
  the driver turns into the `ro` mount option.
- Kubernetes tells CSI volumes apart by their volume handle: two volumes with the same handle
  collide on a node (aws-efs-csi-driver #167, #852). The workers' volume uses the handle of the
  stack outputs (`fs-...::fsap-...`), the Job's the same access point with an explicit root
  path (`fs-...:/:fsap-...`), which the driver mounts identically.
- The seed's `volumeAttributes.path: /models` is deprecated in the driver; the access point's
  root directory (`/models`, the outputs' `path`) is what both volumes mount.
- `mountOptions: [tls]`: encryption in transit (current drivers add it for access points
  anyway); `persistentVolumeReclaimPolicy: Retain`: deleting a claim never touches the data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage_runtime.errors import SettingsError
from storage_runtime.settings import MASKED, _load_outputs

DRIVER = "efs.csi.aws.com"
UNKNOWN = "[unknown]"  # what `ops plan` (a preview) writes for ids not known before `pulumi up`
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY = re.compile(r"^[1-9][0-9]*(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_FS = re.compile(r"^fs-[0-9a-f]{8,40}$")
_AP = re.compile(r"^fsap-[0-9a-f]{8,40}$")


@dataclass(frozen=True)
class EfsVolume:
    """One EFS entry of an app in the stack outputs."""

    app: str
    key: str
    file_system_id: str
    access_point_id: str | None
    volume_handle: str
    path: str

    @property
    def writer_handle(self) -> str:
        """The same mount as `volume_handle`, spelt with an explicit root path, so that the
        writers' volume has a handle of its own."""
        return f"{self.file_system_id}:/:{self.access_point_id or ''}"


def efs_volume(outputs: Mapping[str, Any] | str | Path, app: str, key: str) -> EfsVolume:
    """The EFS entry `key` of `app` from `pulumi stack output --json` (a dict, JSON text or a
    file); SettingsError naming the app, key and field when it is missing or not yet known."""
    data = _load_outputs(outputs)
    endpoints = data.get("endpoints", data)
    if not isinstance(endpoints, Mapping) or app not in endpoints:
        apps = sorted(endpoints) if isinstance(endpoints, Mapping) else []
        raise SettingsError(f"app {app!r} is not in the stack outputs; apps: {', '.join(apps)}")
    entry = endpoints[app]
    systems = entry.get("efs") if isinstance(entry, Mapping) else None
    if not isinstance(systems, Mapping) or key not in systems:
        names = sorted(systems) if isinstance(systems, Mapping) else []
        raise SettingsError(
            f"app {app!r} has no EFS file system {key!r}; file systems: "
            + (", ".join(names) or "none")
        )
    fs = systems[key]
    if not isinstance(fs, Mapping):
        raise SettingsError(f"{app}/{key}: the EFS entry is not an object")

    def field(name: str, pattern: re.Pattern[str] | None, *, optional: bool = False) -> str | None:
        value = fs.get(name)
        if value is None and optional:
            return None
        if value in (None, "", UNKNOWN, MASKED):
            raise SettingsError(
                f"{app}/{key}: {name} is {value!r} in the stack outputs: ids are known once the "
                "stack is deployed; read them with `pulumi stack output --json` (an offline "
                "`ops plan --mode deployed` writes placeholder ids for a dry run)"
            )
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            raise SettingsError(f"{app}/{key}: {name} {value!r} is not an EFS id")
        return value

    file_system = field("fileSystemId", _FS)
    access_point = field("accessPointId", _AP, optional=True)
    handle = field("volumeHandle", None)
    assert file_system is not None and handle is not None
    expected = f"{file_system}::{access_point or ''}"
    if handle != expected:
        raise SettingsError(
            f"{app}/{key}: volumeHandle {handle!r} does not match fileSystemId and "
            f"accessPointId ({expected!r})"
        )
    path = fs.get("path") or "/"
    return EfsVolume(app, key, file_system, access_point, handle, str(path))


def _check_name(flag: str, value: str, longest: int) -> None:
    if len(value) > longest or not _DNS_LABEL.match(value):
        raise SettingsError(
            f"{flag} {value!r}; accepted: lower-case letters, digits and '-', starting and "
            f"ending with a letter or digit, at most {longest} characters"
        )


def volume_manifests(
    volume: EfsVolume,
    *,
    name: str | None = None,
    namespace: str = "prod",
    storage: str = "500Gi",
) -> str:
    """Two PersistentVolumes and their claims as one YAML stream (`kubectl apply -f -`):
    `{name}-pv`/`{name}-pvc` read-only for the workers, `{name}-pv-rw`/`{name}-pvc-rw`
    read-write for the model-sync Job. `name` defaults to `efs-{key}` (seed 003's
    `efs-models`); `storage` is required by Kubernetes but not enforced by EFS."""
    name = name or f"efs-{volume.key}"
    _check_name("--name", name, 63 - len("-pvc-rw"))
    _check_name("--namespace", namespace, 63)
    if not _QUANTITY.match(storage):
        raise SettingsError(f"--storage {storage!r}; accepted: a quantity such as 500Gi or 1Ti")
    labels = {"app.kubernetes.io/part-of": volume.app, "app.kubernetes.io/name": name}
    documents: list[dict[str, Any]] = []
    for suffix, modes, handle, read_only in (
        ("", ["ReadWriteMany", "ReadOnlyMany"], volume.volume_handle, True),
        ("-rw", ["ReadWriteMany"], volume.writer_handle, False),
    ):
        pv, pvc = f"{name}-pv{suffix}", f"{name}-pvc{suffix}"
        csi: dict[str, Any] = {"driver": DRIVER, "volumeHandle": handle}
        if read_only:
            csi["readOnly"] = True
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": pv, "labels": labels},
                "spec": {
                    "capacity": {"storage": storage},
                    "volumeMode": "Filesystem",
                    "accessModes": modes,
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "mountOptions": ["tls"],
                    "claimRef": {"namespace": namespace, "name": pvc},
                    "csi": csi,
                },
            }
        )
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": pvc, "namespace": namespace, "labels": labels},
                "spec": {
                    "accessModes": ["ReadOnlyMany"] if read_only else ["ReadWriteMany"],
                    "storageClassName": "",
                    "volumeName": pv,
                    "resources": {"requests": {"storage": storage}},
                },
            }
        )
    header = [
        f"# EFS {volume.app}/{volume.key}: {volume.file_system_id}, access point root "
        f"{volume.path} (python -m storage_runtime k8s-volume)",
        f"# {name}-pvc: read-only, for the workers;",
        f"# {name}-pvc-rw: read-write, for the model-sync Job and workers that fill the cache",
    ]
    return "\n".join(header) + "\n" + "".join("---\n" + _yaml(d) for d in documents)


_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9._/-]*$")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n"})


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _yaml(value: Any, indent: int = 0) -> str:
    """Block YAML for dicts, lists and scalars (what manifests are made of)."""
    pad = " " * indent
    out = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(v, Mapping | list) and v:
                out.append(f"{pad}{k}:\n{_yaml(v, indent + 2)}")
            elif isinstance(v, Mapping | list):
                out.append(f"{pad}{k}: {'{}' if isinstance(v, Mapping) else '[]'}\n")
            else:
                out.append(f"{pad}{k}: {_scalar(v)}\n")
        return "".join(out)
    for item in value:
        if isinstance(item, Mapping):
            out.append(f"{pad}- {_yaml(item, indent + 2).lstrip()}")
        else:
            out.append(f"{pad}- {_scalar(item)}\n")
    return "".join(out)
