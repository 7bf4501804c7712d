"""A registered model is what was registered: a digest of its artifact files is recorded on the model
version when it is registered and recomputed when scoring loads it.

Workers unpickle what a model version points at, so anyone who can replace a file in the artifact
store could run code on them; a changed file changes the digest and the load is refused before
anything is unpickled. The digest is sha256 over (relative path, sha256 of content) of every file,
in sorted path order, so it does not depend on the order a store lists files in.
"""
from __future__ import annotations

import atexit
import hashlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

# Written by MLflow's client into every downloaded `models:/` folder (name and version): not stored.
_CLIENT_WRITTEN = {"registered_model_meta"}
_REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
_DOWNLOAD_ROOTS: dict[int, str] = {}  # per process: a forked child must not remove its parent's


def _download_root() -> str:
    """This process's folder for model downloads, removed when it exits."""
    pid = os.getpid()
    if pid not in _DOWNLOAD_ROOTS:
        _DOWNLOAD_ROOTS[pid] = tempfile.mkdtemp(prefix="vf-models-")
        atexit.register(_remove_download_root, pid)
    return _DOWNLOAD_ROOTS[pid]


def _remove_download_root(pid: int) -> None:
    if os.getpid() == pid:
        shutil.rmtree(_DOWNLOAD_ROOTS.pop(pid), ignore_errors=True)


class ModelDigestMismatch(ValueError):
    """A model version's artifacts differ from those recorded at registration: never load them
    (a permanent error: retrying downloads the same files)."""

    def __init__(self, name: str, version: str, expected: str, found: str):
        super().__init__(f"model {name} version {version}: its artifacts do not match the digest recorded at "
                         f"registration (expected {expected}, found {found}); refusing to load it. "
                         "Re-register the model from its training run, or find who changed the artifact store.")
        self.name, self.version, self.expected, self.found = name, version, expected, found


def folder_digest(folder: str | Path) -> str:
    folder = Path(folder)
    total = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative in _CLIENT_WRITTEN:
            continue
        with open(path, "rb") as stream:
            content = hashlib.file_digest(stream, "sha256").hexdigest()
        total.update(f"{relative}\0{content}\n".encode())
    return f"sha256:{total.hexdigest()}"


def download(model_uri: str, into: str | Path) -> Path:
    """A private copy of the model's files (a local store would otherwise hand back its own folder)."""
    import mlflow.artifacts

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(into)))


def model_digest(model_uri: str) -> str:
    """The digest of a logged model's files, as registration records it."""
    with tempfile.TemporaryDirectory(prefix="vf-model-") as tmp:
        return folder_digest(download(model_uri, tmp))


def verified_download(model_uri: str) -> Path:
    """Download a model once and check it against its version's recorded digest; the local folder to
    load it from. Only registered versions (`models:/<name>/<version>`) carry a digest; a version
    registered before digests were recorded loads with a warning."""
    # Kept until the process exits, as MLflow keeps its own downloads: a loader may read its folder lazily.
    local = download(model_uri, tempfile.mkdtemp(prefix="model-", dir=_download_root()))
    match = _REGISTERED.match(model_uri)
    if match is None:
        return local
    from ml import registry

    name, version = match["name"], match["version"]
    expected = registry.version_tags(name, version).get(registry.DIGEST_TAG)
    if expected is None:
        log.warning("model %s version %s has no recorded digest (%s; registered before digests were kept): "
                    "loading it unchecked", name, version, registry.DIGEST_TAG)
        return local
    found = folder_digest(local)
    if found != expected:
        raise ModelDigestMismatch(name, version, expected, found)
    return local
