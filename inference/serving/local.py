"""The local copy of registered versions, shared by the processes of one
machine.

- A version is downloaded once into ``<root>/<name>/<version>/`` (model
  files, the run's outlier detector and a ``meta.json``), written to a
  temporary folder and renamed, so a half-finished download is never used.
  One process downloads a version at a time (a per-version file lock); the
  others wait and use its copy.
- ``<root>/aliases.json`` remembers the last version seen for each alias, so
  a process that starts while MLflow is down still knows what to serve, and
  the processes that do not poll MLflow learn from it that an alias moved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from core import registry
from inference.serving.errors import ModelNotFound, ModelUnavailable
from inference.serving.locks import file_lock, short_gil_turns

logger = logging.getLogger(__name__)

META_FILE = "meta.json"
ALIASES_FILE = "aliases.json"
TAG_OUTLIER = "modelgate.outlier_artifact"


#: longer quoted names are shortened (file systems refuse names over 255 bytes)
MAX_FOLDER_CHARS = 120


def safe_folder(name: str) -> str:
    """A folder name for a model name that cannot escape the cache folder and
    stays within the file system's name limit (a long name keeps a readable
    prefix and a hash of the whole name, so two names never share a folder)."""
    folder = quote(name, safe="-_").replace(".", "%2E") or "%00"
    if len(folder) > MAX_FOLDER_CHARS:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
        folder = f"{folder[: MAX_FOLDER_CHARS - 34]}~{digest[:32]}"
    return folder


class LocalCopies:
    """The versions and alias records kept under one cache folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def ensure(self, name: str, version: int) -> Path:
        """The folder of ``name`` v``version``, downloaded first if absent
        (in the helper process when INFERENCE_FETCH_IN_PROCESS is on)."""
        final = self.root / safe_folder(name) / str(version)
        if (final / META_FILE).is_file():
            return final
        from inference.serving.fetch import fetch_in_process, fetch_in_process_enabled

        if fetch_in_process_enabled():
            return fetch_in_process(self.root, name, version)
        return self.download(name, version)

    def download(self, name: str, version: int) -> Path:
        """Download ``name`` v``version`` unless another process of this
        machine did meanwhile; returns its folder."""
        final = self.root / safe_folder(name) / str(version)
        # one download per machine: the others wait for it and use its copy
        with file_lock(final.parent / f".{version}.lock"):
            if (final / META_FILE).is_file():
                return final
            started = time.perf_counter()
            with short_gil_turns:
                folder = self._download(name, version, final)
            logger.info(
                "downloaded %s v%s in %.2fs",
                name,
                version,
                time.perf_counter() - started,
            )
            return folder

    def _download(self, name: str, version: int, final: Path) -> Path:
        try:
            rv = registry.version_get(name, version)
        except registry.RegistryNotFound as exc:
            raise ModelNotFound(f"model {name!r} has no version {version}") from exc
        except registry.RegistryError as exc:
            raise ModelUnavailable(
                f"MLflow is unreachable and {name} v{version} is not cached locally"
            ) from exc
        tmp = final.parent / f".tmp-{version}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            model_dir = registry.version_download(name, version, tmp / "model")
            outlier_dir = None
            artifact = rv.tags.get(TAG_OUTLIER)
            if artifact and rv.run_id:
                try:
                    outlier_dir = registry.run_artifact_download(
                        rv.run_id, artifact, tmp / "outlier-download"
                    )
                except registry.RegistryError as exc:
                    logger.warning(
                        "%s v%s: no outlier detector (%s)", name, version, exc
                    )
            meta = {
                "name": name,
                "version": version,
                "run_id": rv.run_id,
                "tags": rv.tags,
                "model_dir": str(model_dir.relative_to(tmp)),
                "outlier_dir": (
                    str(outlier_dir.relative_to(tmp)) if outlier_dir else None
                ),
            }
            if not (model_dir / "MLmodel").is_file():
                # a copy without its MLmodel file could never be loaded, and
                # meta.json would mark it complete for every later process
                raise ModelUnavailable(
                    f"the download of {name} v{version} is incomplete (no MLmodel)"
                )
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
            try:
                os.rename(tmp, final)
            except OSError:
                if not (final / META_FILE).is_file():  # not a lost race: a failure
                    raise
        except registry.RegistryError as exc:
            raise ModelUnavailable(f"cannot download {name} v{version}: {exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    @staticmethod
    def tags(folder: Path) -> dict[str, str]:
        """The MLflow tags of the version downloaded into ``folder``."""
        return json.loads((folder / META_FILE).read_text()).get("tags") or {}

    def aliases(self) -> dict[str, dict[str, int]]:
        """``{name: {alias: version}}`` as last recorded on this machine."""
        try:
            return json.loads((self.root / ALIASES_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def remember_alias(self, name: str, alias: str, version: int) -> None:
        """Record that ``name@alias`` is ``version`` (a read-modify-write
        across the threads and processes sharing the folder)."""
        with self._lock, file_lock(self.root / f".{ALIASES_FILE}.lock"):
            data = self.aliases()
            if data.get(name, {}).get(alias) == version:
                return
            data.setdefault(name, {})[alias] = version
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".{ALIASES_FILE}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
            os.replace(tmp, self.root / ALIASES_FILE)
