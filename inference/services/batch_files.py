"""The files of a batch job, in the shared storage.

Uploads, the chunks' results and the results file live in Django's
"default" storage (``settings.STORAGES``: the media folder, or a bucket),
addressed by name only, so the web host that took an upload, the worker
that scores it and the web host that serves the results may be three
machines:

- ``batch/<job id>/input.csv``: an uploaded input;
- ``batch/<job id>/parts/<first row>.csv``: one chunk's results, until the
  job ends;
- ``batch/<job id>/results.csv``: the results, header first.

A server-side input is the one exception: a file under an allowed folder,
read where the job runs (``INFERENCE_BATCH_ALLOWED_DIRS``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import tempfile
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from inference.choices import BatchInputKind

PREFIX = "batch"


def upload_name(job_id) -> str:
    return f"{PREFIX}/{job_id}/input.csv"


def parts_folder(job_id) -> str:
    return f"{PREFIX}/{job_id}/parts"


def results_name(job_id) -> str:
    return f"{PREFIX}/{job_id}/results.csv"


def csv_text(binary: IO[bytes]) -> io.TextIOWrapper:
    """A CSV reader's view of a binary file (UTF-8, bad bytes replaced)."""
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")


def upload_rows_over(upload, cap: int) -> int | None:
    """The number of data rows of an uploaded CSV if above ``cap`` (counting
    stops at ``cap + 1``), else None; read where the upload arrived, before
    anything is stored. Raises csv.Error for a file csv cannot read."""
    upload.seek(0)
    text = csv_text(upload)
    try:
        reader = csv.reader(text)
        next(reader, None)
        counted = sum(1 for _ in itertools.islice(reader, cap + 1))
    finally:
        text.detach()  # the upload stays open for the storage to copy
    upload.seek(0)
    return counted if counted > cap else None


def upload_store(*, job_id, upload) -> str:
    """Copy an uploaded CSV into the storage; returns its name."""
    return default_storage.save(upload_name(job_id), upload)


def input_open(*, input_kind: str, input_path: str) -> IO[bytes]:
    """The job's input, opened for binary reading: an upload from the
    storage, a server-side file from this host. Raises OSError when it
    cannot be read."""
    if input_kind == BatchInputKind.SERVER_FILE:
        return open(input_path, "rb")  # noqa: SIM115 - the caller closes it
    return default_storage.open(input_path, "rb")


def _replace(name: str, content: File) -> str:
    """Store ``content`` under ``name``, replacing an older file of that
    name (a storage would otherwise pick a new name beside it)."""
    default_storage.delete(name)
    return default_storage.save(name, content)


def part_write(*, job_id, start: int, text: str) -> None:
    """Store one chunk's results. A chunk scored again after a rolled-back
    attempt replaces its earlier part."""
    name = f"{parts_folder(job_id)}/{start:012d}.csv"
    stored = _replace(name, ContentFile(text.encode("utf-8")))
    if stored != name:  # the chunk runs under the job's row lock: no rival
        raise RuntimeError(f"part {name} stored as {stored}")


def _part_names(job_id) -> list[str]:
    try:
        _, files = default_storage.listdir(parts_folder(job_id))
    except FileNotFoundError:
        return []
    return sorted(f"{parts_folder(job_id)}/{f}" for f in files if f.endswith(".csv"))


def results_write(*, job_id, header: list[str]) -> str:
    """Write the results file: the header, then every part in row order;
    returns its name. Composed in a spooled local file (memory up to
    FILE_UPLOAD_MAX_MEMORY_SIZE, then a temporary file) and stored in one
    save, so a reader never sees half a file under a name that a finished
    job points to."""
    with tempfile.SpooledTemporaryFile(
        max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b"
    ) as out:
        text = csv_text(out)
        csv.writer(text).writerow(header)
        text.flush()
        text.detach()
        for name in _part_names(job_id):
            with default_storage.open(name, "rb") as part:
                for chunk in part.chunks():
                    out.write(chunk)
        out.seek(0)
        return _replace(results_name(job_id), File(out, name="results.csv"))


def parts_delete(*, job_id) -> None:
    """Remove the parts of a finished job (and the folder, where the storage
    has folders)."""
    for name in _part_names(job_id):
        default_storage.delete(name)
    # a folder that still holds a file is left as it is
    with contextlib.suppress(OSError):
        default_storage.delete(parts_folder(job_id))


def results_open(name: str) -> IO[bytes]:
    """A finished job's results for streaming to the client (the response
    reads it in chunks and closes it). Raises FileNotFoundError when the
    file is gone."""
    return default_storage.open(name, "rb")
