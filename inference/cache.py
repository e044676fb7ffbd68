"""The per-process model cache: registered models loaded once, swapped when an
alias moves, served from a local copy when MLflow is unreachable.

- A version is downloaded once into ``MODEL_CACHE_DIR/<name>/<version>/``
  (model files, the run's outlier detector and a ``meta.json``), written to a
  temporary folder and renamed, so a half-finished download is never used.
- ``MODEL_CACHE_DIR/aliases.json`` remembers the last version seen for each
  alias, so a process that starts while MLflow is down still knows what to
  serve.
- Every process sharing a cache folder (the web workers and Celery workers of
  one machine) runs a daemon watcher thread, but only one of them, the holder
  of the folder's lease (an ``flock`` the operating system releases when its
  process dies), asks MLflow: every ``ALIAS_POLL_SECONDS``, one call per alias
  ever served from the folder. When an alias moved, it downloads the new
  version once and records it in ``aliases.json``; the other processes read
  that file every second and swap from the local copy. On an MLflow server
  with basic-auth, where every call costs the server a password hash, this
  keeps the cost of watching and of a promotion the same whatever the number
  of workers.
- A swap replaces one dictionary entry: requests in flight keep the object
  they already hold, new requests get the new one.
- A version is downloaded by one process at a time (a per-version lock);
  processes asking for it meanwhile wait and use that copy.
- Prediction uses the raw scikit-learn estimator (validation is done by
  ``inference.validation`` against the signature); models without one fall
  back to MLflow's pyfunc ``predict``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings

from core import registry
from core.exceptions import ApplicationError, NotFoundError, ServiceUnavailableError
from inference.validation import Field

logger = logging.getLogger(__name__)

TAG_CLASSES = "modelgate.classes"
TAG_OUTLIER = "modelgate.outlier_artifact"
TAG_TASK = "modelgate.task"
META_FILE = "meta.json"
# How long "no such model/alias/version" is remembered before MLflow is asked
# again (a newly set alias is served at the latest this much later).
MISSING_TTL_SECONDS = 5.0
ALIASES_FILE = "aliases.json"
LEASE_FILE = ".alias-watcher.lease"
# How often a process without the lease reads aliases.json (a local file).
FOLLOW_SECONDS = 1.0
# After a version failed to load for an alias, how long before trying again.
LOAD_RETRY_SECONDS = 30.0

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: every process polls MLflow
    fcntl = None


class Lease:
    """An exclusive, non-blocking ``flock`` on a file, held until released or
    until the process exits (the kernel drops it with the process)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        if fcntl is None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def file_lock(path: Path):
    """A blocking exclusive ``flock`` on ``path`` for the ``with`` block."""
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class ModelNotFound(NotFoundError):
    code = "model_not_found"


class ModelUnavailable(ServiceUnavailableError):
    code = "model_unavailable"


class NoSignature(ApplicationError):
    status_code = 409
    code = "model_has_no_signature"


@dataclass
class Predictions:
    labels: list[Any]
    probabilities: list[dict[str, float]] | None
    outlier_scores: list[float] | None
    outlier_flags: list[bool] | None


# While a download runs, threads get the GIL in shorter turns: a download is
# hundreds of small socket and file operations, each giving the GIL up and
# waiting a whole turn for it behind a busy worker's request threads (figures
# in docs/inference.md). Serving throughput is the same with either turn
# (docs/benchmark.md); the short turn is kept to the download all the same.
DOWNLOAD_SWITCH_INTERVAL = 0.0005


class _ShortGilTurns:
    """A context in which ``sys.getswitchinterval()`` is at most
    ``DOWNLOAD_SWITCH_INTERVAL``, restored when the last user leaves
    (downloads may overlap in several threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 0.0

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, DOWNLOAD_SWITCH_INTERVAL))
            self._users += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                sys.setswitchinterval(self._saved)


short_gil_turns = _ShortGilTurns()


@dataclass
class ServedModel:
    """One loaded version, ready to predict; immutable once built."""

    name: str
    version: int
    run_id: str
    inputs: tuple[Field, ...]
    classes: tuple[str, ...]
    task: str
    tags: dict[str, str]
    predictor: Any
    raw: bool
    scorer: Any | None = None  # inference.scoring.FastOutlierScorer
    fast_proba: Any | None = None  # inference.fastpath, when verified at load
    fast_rows: Any | None = None  # inference.linearpath, when verified at load
    loaded_at: float = field(default_factory=time.time)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.inputs]

    def frame(self, rows: list[dict]):
        import pandas as pd

        data = {}
        for f in self.inputs:
            values = [row.get(f.name) for row in rows]
            if f.type in ("double", "float"):
                data[f.name] = pd.array(
                    [float("nan") if v is None else v for v in values], dtype=float
                )
            else:
                data[f.name] = values
        return pd.DataFrame(data)

    def predict(self, rows: list[dict]) -> Predictions:
        """Labels, class probabilities and outlier scores of validated rows."""
        import numpy as np

        probabilities = None
        if self.raw and hasattr(self.predictor, "predict_proba"):
            proba = self._fast_rows(rows)
            if proba is None:
                proba = (self.fast_proba or self.predictor.predict_proba)(
                    self.frame(rows)
                )
            model_classes = [str(c) for c in self.predictor.classes_]
            labels = [model_classes[i] for i in np.argmax(proba, axis=1)]
            probabilities = [
                dict(zip(model_classes, map(float, row), strict=True))
                for row in proba.tolist()
            ]
        else:
            labels = _plain(self.predictor.predict(self.frame(rows)))
        scores = flags = None
        if self.scorer is not None:
            raw_scores = self.scorer.score(rows)
            scores = [float(s) for s in raw_scores]
            flags = [bool(s > self.scorer.threshold) for s in raw_scores]
        return Predictions(labels, probabilities, scores, flags)

    def _fast_rows(self, rows: list[dict]):
        """Probabilities from the verified linear fast path, None without one
        (or for an input it does not take, e.g. a missing optional number)."""
        if self.fast_rows is None:
            return None
        try:
            return self.fast_rows(rows)
        except (TypeError, ValueError, KeyError):
            return None


def _plain(output: Any) -> list:
    """Model output (ndarray, Series, DataFrame, list) as a list of JSON values."""
    import numpy as np
    import pandas as pd

    if isinstance(output, pd.DataFrame):
        if output.shape[1] == 1:
            output = output.iloc[:, 0]
        else:
            return output.to_dict(orient="records")
    if isinstance(output, pd.Series | np.ndarray):
        output = output.tolist()
    return [v.item() if hasattr(v, "item") else v for v in list(output)]


def safe_folder(name: str) -> str:
    """A folder name for a model name that cannot escape the cache folder."""
    folder = quote(name, safe="-_")
    return folder.replace(".", "%2E") or "%00"


class ModelCache:
    """Loaded models of this process, by (name, version) and by (name, alias)."""

    def __init__(self, root: Path, poll_seconds: float) -> None:
        self.root = Path(root)
        self.poll_seconds = poll_seconds
        self._loaded: dict[tuple[str, int], ServedModel] = {}
        self._aliases: dict[tuple[str, str], int] = {}
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._meta_lock = threading.Lock()
        self._file_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._watcher_pid: int | None = None
        self._stop = threading.Event()
        # names, aliases and versions MLflow said do not exist, until when:
        # unknown names in requests must not each cost an MLflow call
        self._missing: dict[tuple, tuple[float, ModelNotFound]] = {}
        # (name, version) that failed to load for an alias swap, until when
        self._failed: dict[tuple[str, int], float] = {}

    # ------------------------------------------------------------ lookup
    def get(
        self, *, name: str, alias: str | None = None, version: int | None = None
    ) -> ServedModel:
        """The model to serve: an explicit version, else the alias (production)."""
        if version is not None:
            served = self._loaded.get((name, version))
            if served is not None:
                return served
            return self._remember_missing(
                ("v", name, version), self._load_version, name, version
            )
        alias = alias or settings.MODELGATE["STAGE_ALIASES"]["production"]
        current = self._aliases.get((name, alias))
        if current is not None:
            served = self._loaded.get((name, current))
            if served is not None:
                return served
        return self._remember_missing(("a", name, alias), self._load_alias, name, alias)

    def _remember_missing(self, key: tuple, load, *args) -> ServedModel:
        hit = self._missing.get(key)
        if hit is not None:
            if hit[0] > time.monotonic():
                raise hit[1]
            self._missing.pop(key, None)
        try:
            return load(*args)
        except ModelNotFound as exc:
            if len(self._missing) > 10_000:
                self._missing.clear()
            self._missing[key] = (time.monotonic() + MISSING_TTL_SECONDS, exc)
            raise

    def served_aliases(self) -> dict[str, int]:
        return {f"{n}@{a}": v for (n, a), v in self._aliases.items()}

    def clear(self) -> None:
        """Forget every loaded model (tests); local files stay."""
        self._stop.set()
        self._loaded.clear()
        self._aliases.clear()
        self._missing.clear()
        self._failed.clear()
        self._watcher = None
        self._watcher_pid = None
        self._stop = threading.Event()

    # ------------------------------------------------------------ loading
    def _load_alias(self, name: str, alias: str) -> ServedModel:
        version = self._resolve_alias(name, alias)
        served = self._load_version(name, version)
        self._aliases[(name, alias)] = version
        self._publish(name, alias, version)
        self._ensure_watcher()
        return served

    def _resolve_alias(self, name: str, alias: str) -> int:
        try:
            version = registry.alias_resolve(name, alias)
        except registry.RegistryNotFound as exc:
            raise ModelNotFound(f"model {name!r} is not registered") from exc
        except registry.RegistryError as exc:
            version = self._alias_file().get(name, {}).get(alias)
            if version is None:
                raise ModelUnavailable(
                    f"MLflow is unreachable and {name}@{alias} was never served "
                    "from this machine"
                ) from exc
            logger.warning(
                "MLflow unreachable (%s); serving %s@%s as last seen: version %s",
                exc,
                name,
                alias,
                version,
            )
            return int(version)
        if version is None:
            raise ModelNotFound(f"model {name!r} has no alias {alias!r}")
        self._remember_alias(name, alias, version)
        return version

    def _lock_for(self, key: tuple[str, int]) -> threading.Lock:
        with self._meta_lock:
            return self._locks.setdefault(key, threading.Lock())

    def _load_version(self, name: str, version: int) -> ServedModel:
        key = (name, version)
        with self._lock_for(key):
            served = self._loaded.get(key)
            if served is not None:
                return served
            started = time.perf_counter()
            folder = self._ensure_local(name, version)
            served = _build(folder)
            self._loaded[key] = served
            logger.info(
                "loaded %s v%s in %.2fs (raw estimator: %s, outlier detector: %s)",
                name,
                version,
                time.perf_counter() - started,
                served.raw,
                served.scorer is not None,
            )
            return served

    def _ensure_local(self, name: str, version: int) -> Path:
        final = self.root / safe_folder(name) / str(version)
        if (final / META_FILE).is_file():
            return final
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

    # ------------------------------------------------------ alias memory
    def _alias_file(self) -> dict[str, dict[str, int]]:
        try:
            return json.loads((self.root / ALIASES_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def _remember_alias(self, name: str, alias: str, version: int) -> None:
        # read-modify-write across the processes sharing the folder
        with self._file_lock, file_lock(self.root / f".{ALIASES_FILE}.lock"):
            data = self._alias_file()
            if data.get(name, {}).get(alias) == version:
                return
            data.setdefault(name, {})[alias] = version
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".{ALIASES_FILE}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
            os.replace(tmp, self.root / ALIASES_FILE)

    @staticmethod
    def _publish(name: str, alias: str, version: int) -> None:
        from core.metrics import MODEL_LOADED

        MODEL_LOADED.labels(name, alias).set(version)

    # ------------------------------------------------------------ watcher
    def _ensure_watcher(self) -> None:
        if self.poll_seconds <= 0:
            return
        if self._watcher is not None and self._watcher_pid == os.getpid():
            return
        with self._meta_lock:
            if self._watcher is not None and self._watcher_pid == os.getpid():
                return
            self._watcher_pid = os.getpid()
            self._watcher = threading.Thread(
                target=self._watch,
                args=(self._stop,),
                name="alias-watcher",
                daemon=True,
            )
            self._watcher.start()

    def _watch(self, stop: threading.Event) -> None:
        """The watcher thread: polls MLflow while it holds the folder's lease,
        follows ``aliases.json`` otherwise (and takes the lease over when its
        holder is gone)."""
        lease = Lease(self.root / LEASE_FILE)
        tick = min(self.poll_seconds, FOLLOW_SECONDS)
        next_poll = 0.0
        try:
            while not stop.wait(tick):
                try:
                    if lease.try_acquire():
                        if time.monotonic() >= next_poll:
                            next_poll = time.monotonic() + self.poll_seconds
                            self.refresh_aliases(machine=True)
                    else:
                        self.follow_aliases()
                except Exception:  # the watcher must outlive any one failure
                    logger.exception("alias watcher: check failed")
        finally:
            lease.release()

    def refresh_aliases(self, machine: bool = False) -> list[tuple[str, str, int, int]]:
        """Check every served alias once with MLflow; load and swap those that
        moved. With ``machine``, also check the aliases other processes of
        this cache folder serve (from ``aliases.json``), downloading their new
        versions so those processes only have to load them.

        Returns the swaps made in this process as ``(name, alias, old, new)``.
        """
        swaps = []
        watched = {key: current for key, current in list(self._aliases.items())}
        if machine:
            for name, aliases in self._alias_file().items():
                for alias, version in aliases.items():
                    watched.setdefault((name, alias), int(version))
        for (name, alias), current in watched.items():
            try:
                version = registry.alias_resolve(name, alias)
            except registry.RegistryError as exc:
                logger.debug("alias check of %s@%s skipped: %s", name, alias, exc)
                continue
            if version is None or version == current:
                continue
            if (name, alias) not in self._aliases:
                try:  # served by another process: fetch it for that process
                    self._ensure_local(name, version)
                except Exception:
                    logger.exception(
                        "cannot download %s v%s for %s", name, version, alias
                    )
                    continue
                self._remember_alias(name, alias, version)
                continue
            swap = self._swap(name, alias, current, version)
            if swap:
                swaps.append(swap)
        return swaps

    def follow_aliases(self) -> list[tuple[str, str, int, int]]:
        """Swap the served aliases whose version in ``aliases.json`` (written
        by the process that polls MLflow) differs from the one served here."""
        swaps = []
        recorded = self._alias_file()
        for (name, alias), current in list(self._aliases.items()):
            version = recorded.get(name, {}).get(alias)
            if version is None or int(version) == current:
                continue
            swap = self._swap(name, alias, current, int(version), remember=False)
            if swap:
                swaps.append(swap)
        return swaps

    def _swap(
        self, name: str, alias: str, current: int, version: int, remember=True
    ) -> tuple[str, str, int, int] | None:
        """Load ``version`` and serve it for ``alias``; None if it cannot load
        (``current`` stays served, and the load is tried again after
        ``LOAD_RETRY_SECONDS``)."""
        if self._failed.get((name, version), 0.0) > time.monotonic():
            return None
        try:
            self._load_version(name, version)
        except Exception:
            self._failed[(name, version)] = time.monotonic() + LOAD_RETRY_SECONDS
            logger.exception(
                "cannot load %s v%s for %s; still serving v%s",
                name,
                version,
                alias,
                current,
            )
            return None
        self._aliases[(name, alias)] = version
        if remember:
            self._remember_alias(name, alias, version)
        self._publish(name, alias, version)
        logger.info("%s@%s swapped: v%s → v%s", name, alias, current, version)
        return (name, alias, current, version)


def _build(folder: Path) -> ServedModel:
    from inference.scoring import FastOutlierScorer

    meta = json.loads((folder / META_FILE).read_text())
    local = registry.model_load_local(folder / meta["model_dir"])
    inputs = tuple(
        Field(
            name=str(spec.get("name")),
            type=str(spec.get("type", "string")),
            required=bool(spec.get("required", True)),
        )
        for spec in local.inputs
        if spec.get("name")
    )
    if not inputs:
        raise NoSignature(
            f"{meta['name']} v{meta['version']} has no input signature; Modelgate "
            "serves models logged with one (mlflow's infer_signature)"
        )
    tags = meta.get("tags") or {}
    classes = tuple(c for c in tags.get(TAG_CLASSES, "").split(",") if c)
    if not classes and local.raw is not None and hasattr(local.raw, "classes_"):
        classes = tuple(str(c) for c in local.raw.classes_)
    scorer = None
    if meta.get("outlier_dir"):
        from core.ml.outliers import OutlierDetector

        try:
            detector = OutlierDetector.load(folder / meta["outlier_dir"])
            scorer = FastOutlierScorer.from_detector(detector)
        except Exception:
            logger.exception("outlier detector of %s is unreadable", folder)
    served = ServedModel(
        name=meta["name"],
        version=int(meta["version"]),
        run_id=meta.get("run_id", ""),
        inputs=inputs,
        classes=classes,
        task=tags.get(TAG_TASK, "classification" if classes else "unknown"),
        tags=tags,
        predictor=local.raw if local.raw is not None else local.pyfunc,
        raw=local.raw is not None,
        scorer=scorer,
    )
    if served.raw:
        from inference.fastpath import compile_predict_proba, verified
        from inference.linearpath import compile_linear_rows, verified_rows

        samples = [(rows, served.frame(rows)) for rows in _sample_rows(served, folder)]
        served.fast_proba = verified(
            local.raw,
            compile_predict_proba(local.raw),
            [frame for _rows, frame in samples],
        )
        served.fast_rows = verified_rows(
            local.raw, compile_linear_rows(local.raw), samples
        )
    return served


def _sample_rows(served: ServedModel, folder: Path) -> list[list[dict]]:
    """Rows to check the fast paths on: the logged input example, and rows
    made from the signature (text and numbers of several shapes)."""
    samples = []
    for example in folder.rglob("input_example.json"):
        try:
            data = json.loads(example.read_text())
            rows = _example_rows(data, served.field_names)
            if rows:
                samples.append(rows)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    texts = [
        "Hello, see you at 7?",
        "WIN £1000 now!!! call 0800 123",
        "",
        "a" * 300,
        "Ünïcode  text\twith   runs of\nwhite space, ÉCOLE and émoji 🙂 ok",
        "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005. "
        "Text FA to 87121 to receive entry question(std txt rate)T&C's apply",
    ]
    synthetic = []
    for i, text in enumerate(texts):
        row = {}
        for f in served.inputs:
            if f.type == "string":
                row[f.name] = text
            elif f.type == "boolean":
                row[f.name] = bool(i % 2)
            else:
                row[f.name] = float(i * 3 - 1) if f.type in ("double", "float") else i
        synthetic.append(row)
    samples.append(synthetic)
    samples.append(synthetic[:1])
    return samples


def _example_rows(data: Any, names: list[str]) -> list[dict]:
    if isinstance(data, dict) and "columns" in data and "data" in data:
        return [
            dict(zip(data["columns"], values, strict=False)) for values in data["data"]
        ]
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return data
    if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
        n = len(next(iter(data.values()), []))
        return [{k: v[i] for k, v in data.items()} for i in range(n)]
    return []


_cache: ModelCache | None = None
_cache_lock = threading.Lock()


def model_cache() -> ModelCache:
    """This process's cache (created on first use with the current settings)."""
    global _cache
    if _cache is None:
        with _cache_lock:
            if _cache is None:
                _cache = ModelCache(
                    settings.MODELGATE["MODEL_CACHE_DIR"],
                    settings.INFERENCE["ALIAS_POLL_SECONDS"],
                )
    return _cache


def reset_model_cache() -> None:
    """Drop the process's cache object (tests, settings changes)."""
    global _cache
    with _cache_lock:
        if _cache is not None:
            _cache.clear()
        _cache = None


def warm_up(models: list[str] | None = None) -> dict[str, int]:
    """Load ``name@alias`` entries (default: the WARM_MODELS setting) now, so the
    first request does not pay for imports and downloads. Failures are logged,
    never raised: a process must start even when a model is not there yet."""
    loaded = {}
    for entry in settings.INFERENCE["WARM_MODELS"] if models is None else models:
        name, _, alias = entry.partition("@")
        try:
            served = model_cache().get(name=name, alias=alias or None)
        except Exception as exc:
            logger.warning("warm-up of %s skipped: %s", entry, exc)
            continue
        loaded[entry] = served.version
    if loaded:
        logger.info("warm-up done: %s", loaded)
    return loaded
