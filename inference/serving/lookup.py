"""The per-process model cache: registered models loaded once, found by
version or by alias, swapped when an alias moves, served from the local copy
when MLflow is unreachable.

- An alias serves the version governance confirmed: the last move Modelgate
  recorded in its audit ledger (``governance.selectors.alias_confirmed``: an
  applied promotion or rollback, a revert), never what MLflow says alone. An
  alias moved directly in MLflow is flagged by the reconciler and never
  served.
- Every process sharing a cache folder (the web workers and Celery workers of
  one machine) runs a daemon watcher thread, but only one of them, the holder
  of the folder's lease (an ``flock`` the operating system releases when its
  process dies), reads the confirmed aliases: every ``ALIAS_POLL_SECONDS``,
  one query per alias ever served from the folder. When an alias moved, it
  downloads the new version once (from MLflow) and records it in
  ``aliases.json``; the other processes read that file every second and swap
  from the local copy, so a promotion costs one download per machine
  whatever the number of workers.
- A swap replaces one dictionary entry: requests in flight keep the object
  they already hold, new requests get the new one.
- Memory stays bounded: a version no alias of the process points to (the one
  an alias left, one asked for by number) is dropped once unused for
  ``EVICT_AFTER_SECONDS``, and before a load would pass
  ``MAX_LOADED_VERSIONS`` the least recently used such versions go first. A
  version an alias serves is never dropped; a load by number that finds
  every slot held by aliases is refused (503) rather than passing the limit.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection

from inference.serving.errors import ModelNotFound, ModelUnavailable
from inference.serving.local import LocalCopies
from inference.serving.locks import Lease
from inference.serving.policy import ModelTestsFailed, ModelUntested, tests_admit
from inference.serving.served import ServedModel, served_model_build

logger = logging.getLogger(__name__)

# How long "no such model/alias/version" is remembered before it is looked up
# again (a newly set alias is served at the latest this much later).
MISSING_TTL_SECONDS = 5.0
LEASE_FILE = ".alias-watcher.lease"
# How often a process without the lease reads aliases.json (a local file).
FOLLOW_SECONDS = 1.0
# After a version failed to load for an alias, how long before trying again.
LOAD_RETRY_SECONDS = 30.0
# How often requests look for idle versions to drop (the watcher thread,
# where there is one, looks every tick as well).
EVICT_CHECK_SECONDS = 30.0


class ModelCache:
    """Loaded models of this process, by (name, version) and by (name, alias)."""

    def __init__(
        self,
        root: Path,
        poll_seconds: float,
        *,
        max_versions: int = 6,
        evict_after: float = 600.0,
    ) -> None:
        self.root = Path(root)
        self.poll_seconds = poll_seconds
        self.max_versions = max(1, max_versions)
        self.evict_after = evict_after
        self.copies = LocalCopies(self.root)
        self._loaded: dict[tuple[str, int], ServedModel] = {}
        self._aliases: dict[tuple[str, str], int] = {}
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._meta_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._watcher_pid: int | None = None
        self._stop = threading.Event()
        # names, aliases and versions found not to exist, until when: unknown
        # names in requests must not each cost a lookup
        self._missing: dict[tuple, tuple[float, ModelNotFound]] = {}
        # (name, version) that failed to load for an alias swap, until when
        self._failed: dict[tuple[str, int], float] = {}
        # when each loaded version last served a request (monotonic seconds)
        self._used: dict[tuple[str, int], float] = {}
        self._next_evict = 0.0

    # ------------------------------------------------------------ lookup
    def get(
        self, *, name: str, alias: str | None = None, version: int | None = None
    ) -> ServedModel:
        """The model to serve: an explicit version, else the alias (production)."""
        now = time.monotonic()
        if now >= self._next_evict:
            self._next_evict = now + EVICT_CHECK_SECONDS
            self.evict(now=now)
        if version is not None:
            served = self._loaded.get((name, version))
            if served is None:
                served = self._remember_missing(
                    ("v", name, version), self._load_version, name, version
                )
            self._used[(name, version)] = now
            return served
        alias = alias or settings.MODELGATE["STAGE_ALIASES"]["production"]
        current = self._aliases.get((name, alias))
        served = self._loaded.get((name, current)) if current is not None else None
        if served is None:
            served = self._remember_missing(
                ("a", name, alias), self._load_alias, name, alias
            )
        self._used[(name, served.version)] = now
        return served

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

    def loaded(self) -> set[tuple[str, int]]:
        """``(name, version)`` of every version loaded in this process."""
        return set(self._loaded)

    def served_aliases(self) -> dict[str, int]:
        return {f"{n}@{a}": v for (n, a), v in self._aliases.items()}

    def clear(self) -> None:
        """Forget every loaded model (tests); local files stay."""
        self._stop.set()
        self._loaded.clear()
        self._aliases.clear()
        self._missing.clear()
        self._failed.clear()
        self._used.clear()
        self._watcher = None
        self._watcher_pid = None
        self._stop = threading.Event()

    # ------------------------------------------------------------ loading
    def _load_alias(self, name: str, alias: str) -> ServedModel:
        version = self._resolve_alias(name, alias)
        served = self._load_version(name, version, for_alias=True)
        self._aliases[(name, alias)] = version
        self._publish(name, alias, version)
        self._ensure_watcher()
        return served

    def _resolve_alias(self, name: str, alias: str) -> int:
        try:
            version = alias_confirmed(model_name=name, alias=alias)
        except DatabaseError as exc:
            version = self._alias_file().get(name, {}).get(alias)
            if version is None:
                raise ModelUnavailable(
                    f"the database is unreachable and {name}@{alias} was never "
                    "served from this machine"
                ) from exc
            logger.warning(
                "database unreachable (%s); serving %s@%s as last seen: version %s",
                exc,
                name,
                alias,
                version,
            )
            return int(version)
        if version is None:
            raise ModelNotFound(
                f"model {name!r} has no version at @{alias} confirmed by "
                "governance (an alias set directly in MLflow is not served)"
            )
        self._remember_alias(name, alias, version)
        return version

    def _lock_for(self, key: tuple[str, int]) -> threading.Lock:
        with self._meta_lock:
            return self._locks.setdefault(key, threading.Lock())

    def _load_version(
        self, name: str, version: int, *, for_alias: bool = False
    ) -> ServedModel:
        key = (name, version)
        with self._lock_for(key):
            served = self._loaded.get(key)
            if served is not None:
                return served
            self._make_room(name, version, for_alias=for_alias)
            started = time.perf_counter()
            folder = self.copies.ensure(name, version)
            # the serving rules judge the version's tags before its pickle is
            # loaded: a version that may not be served never runs here
            tests_admit(name=name, version=version, tags=self.copies.tags(folder))
            served = served_model_build(folder)
            self._loaded[key] = served
            self._used[key] = time.monotonic()
            logger.info(
                "loaded %s v%s in %.2fs (raw estimator: %s, outlier detector: %s)",
                name,
                version,
                time.perf_counter() - started,
                served.raw,
                served.scorer is not None,
            )
            return served

    # ----------------------------------------------------------- eviction
    def _pinned(self) -> set[tuple[str, int]]:
        """Versions an alias of this process serves: never dropped."""
        return {(name, v) for (name, _alias), v in list(self._aliases.items())}

    def evict(self, *, now: float | None = None) -> list[tuple[str, int]]:
        """Drop the versions no alias points to that have been unused for
        ``evict_after`` seconds; returns the ``(name, version)`` dropped.
        Requests in flight keep the object they hold."""
        now = time.monotonic() if now is None else now
        for key in [k for k in list(self._used) if k not in self._loaded]:
            self._used.pop(key, None)  # a use recorded as its version was dropped
        pinned = self._pinned()
        idle = [
            key
            for key in list(self._loaded)
            if key not in pinned and now - self._used.get(key, 0.0) >= self.evict_after
        ]
        return self._drop(idle, reason="idle")

    def _make_room(self, name: str, version: int, *, for_alias: bool) -> None:
        """Before loading one more version: drop the least recently used
        versions no alias points to until it fits in ``max_versions``. A
        load for an alias always goes ahead (an alias must be served); a
        load by number that cannot fit is refused."""
        self.evict()
        over = len(self._loaded) + 1 - self.max_versions
        if over <= 0:
            return
        pinned = self._pinned()
        unpinned = sorted(
            (k for k in list(self._loaded) if k not in pinned),
            key=lambda k: self._used.get(k, 0.0),
        )
        self._drop(unpinned[:over], reason="limit")
        if for_alias or len(self._loaded) < self.max_versions:
            return
        raise ModelUnavailable(
            f"cannot load {name} v{version}: this process already holds "
            f"{len(self._loaded)} versions (INFERENCE_MAX_LOADED_VERSIONS="
            f"{self.max_versions}), each served by an alias; ask for an alias "
            "or raise the limit"
        )

    def _drop(self, keys: list[tuple[str, int]], *, reason: str) -> list:
        from core.metrics import MODEL_EVICTIONS

        dropped = []
        for key in keys:
            if self._loaded.pop(key, None) is None:
                continue
            self._used.pop(key, None)
            with self._meta_lock:
                self._locks.pop(key, None)
            MODEL_EVICTIONS.labels(key[0], reason).inc()
            logger.info(
                "dropped %s v%s from the model cache (%s; %d loaded)",
                key[0],
                key[1],
                "unused and served by no alias" if reason == "idle" else "limit",
                len(self._loaded),
            )
            dropped.append(key)
        return dropped

    # ------------------------------------------------------ alias memory
    def _alias_file(self) -> dict[str, dict[str, int]]:
        return self.copies.aliases()

    def _remember_alias(self, name: str, alias: str, version: int) -> None:
        self.copies.remember_alias(name, alias, version)

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
        """The watcher thread: reads the confirmed aliases while it holds the
        folder's lease, follows ``aliases.json`` otherwise (and takes the lease
        over when its holder is gone)."""
        lease = Lease(self.root / LEASE_FILE)
        tick = min(self.poll_seconds, FOLLOW_SECONDS)
        next_poll = 0.0
        try:
            while not stop.wait(tick):
                try:
                    if lease.try_acquire():
                        if time.monotonic() >= next_poll:
                            next_poll = time.monotonic() + self.poll_seconds
                            try:
                                self.refresh_aliases(machine=True)
                            finally:
                                # this thread's own connection: not held
                                # between polls
                                connection.close()
                    else:
                        self.follow_aliases()
                    self.evict()
                except Exception:  # the watcher must outlive any one failure
                    logger.exception("alias watcher: check failed")
        finally:
            lease.release()

    def refresh_aliases(self, machine: bool = False) -> list[tuple[str, str, int, int]]:
        """Check every served alias once against the confirmed aliases; load
        and swap those that moved. With ``machine``, also check the aliases
        other processes of this cache folder serve (from ``aliases.json``),
        downloading their new versions so those processes only have to load
        them.

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
                version = alias_confirmed(model_name=name, alias=alias)
            except DatabaseError as exc:
                logger.debug("alias check of %s@%s skipped: %s", name, alias, exc)
                continue
            if version is None or version == current:
                continue
            if (name, alias) not in self._aliases:
                try:  # served by another process: fetch it for that process
                    self.copies.ensure(name, version)
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
        by the process that polls) differs from the one served here."""
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
            self._load_version(name, version, for_alias=True)
        except (ModelTestsFailed, ModelUntested) as exc:
            self._failed[(name, version)] = time.monotonic() + LOAD_RETRY_SECONDS
            logger.warning(
                "%s@%s points to v%s, which is not served (%s); still serving v%s",
                name,
                alias,
                version,
                exc.code,
                current,
            )
            return None
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


def alias_confirmed(*, model_name: str, alias: str) -> int | None:
    """The version governance confirmed at ``model_name@alias``
    (``governance.selectors.alias_confirmed``; imported on first use, so this
    package imports without Django's app registry)."""
    from governance.selectors import alias_confirmed as confirmed

    return confirmed(model_name=model_name, alias=alias)


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
                    max_versions=settings.INFERENCE["MAX_LOADED_VERSIONS"],
                    evict_after=settings.INFERENCE["EVICT_AFTER_SECONDS"],
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
    from inference.serving.fetch import fetch_helper_start

    try:
        fetch_helper_start()
    except Exception as exc:  # downloads then start it themselves
        logger.warning("the fetch helper did not start: %s", exc)
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
