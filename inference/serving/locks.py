"""Locks of the model cache: the alias watcher's lease, the per-version
download lock shared by the processes of one cache folder, and the short GIL
turns a download runs with."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: every process polls MLflow
    fcntl = None

# While a download runs, threads get the GIL in shorter turns: a download is
# hundreds of small socket and file operations, each giving the GIL up and
# waiting a whole turn for it behind a busy worker's request threads (figures
# in docs/inference.md). Serving throughput is the same with either turn
# (docs/benchmark.md); the short turn is kept to the download all the same.
DOWNLOAD_SWITCH_INTERVAL = 0.0005


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
