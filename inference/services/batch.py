"""Batch scoring: a CSV scored in chunks by a Celery task.

Each chunk is one transaction: lock the job row, check ``rows_done`` is where
this worker expects it, score the chunk, write the chunk's part of the results
file, log the scored rows with the job's id, advance ``rows_done``. A task that
is delivered again (worker killed, duplicate message) resumes after the last
committed chunk, so every row is logged exactly once. Bad rows are reported in
the results with their error and do not stop the job.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import shutil
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.exceptions import ApplicationError
from core.ids import uuid7
from inference.choices import BatchInputKind, BatchStatus, PredictionSource
from inference.logrows import LogContext, log_rows_build
from inference.logwriter import prediction_logs_insert
from inference.models import BatchJob
from inference.serving import model_cache
from inference.validation import Field, parse_csv_value, printable

logger = logging.getLogger(__name__)

PARTS = "parts"
RESULTS = "results.csv"


class BatchInputError(ApplicationError):
    code = "invalid_batch_input"


def batch_folder(job_id) -> Path:
    return Path(settings.INFERENCE["BATCH_DIR"]) / str(job_id)


def server_path_check(path: str) -> Path:
    """The resolved file ``path`` if it lies under an allowed folder, else 400."""
    try:
        resolved = Path(path).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        resolved = None
    allowed = [Path(p).resolve() for p in settings.INFERENCE["BATCH_ALLOWED_DIRS"]]
    if (
        resolved is None
        or not resolved.is_file()
        or not any(resolved.is_relative_to(folder) for folder in allowed)
    ):
        raise BatchInputError(
            "path must name an existing file under an allowed folder",
            {"fields": {"path": ["not an allowed file"]}},
        )
    return resolved


def batch_job_create(
    *,
    model_name: str,
    client=None,
    alias: str | None = None,
    version: int | None = None,
    upload=None,
    server_path: str | None = None,
    schedule_name: str = "",
    enqueue: bool = True,
) -> BatchJob:
    """Create a job from an uploaded file or a server-side file and enqueue it
    (after the transaction commits)."""
    if (upload is None) == (server_path is None):
        raise BatchInputError("give either an uploaded file or a server path")
    model_cache().get(name=model_name, alias=alias, version=version)  # 404 early
    job_id = uuid.uuid4()
    folder = batch_folder(job_id)
    if upload is not None:
        cap = settings.INFERENCE["BATCH_MAX_UPLOAD_BYTES"]
        if upload.size > cap:
            raise BatchInputError(
                f"file too large: at most {cap} bytes",
                {"fields": {"file": ["too large"]}},
                status_code=413,
            )
        folder.mkdir(parents=True, exist_ok=True)
        input_path = folder / "input.csv"
        with open(input_path, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        kind, original = BatchInputKind.UPLOAD, Path(upload.name or "").name[:255]
    else:
        input_path = server_path_check(server_path)
        kind, original = BatchInputKind.SERVER_FILE, input_path.name[:255]
    job = BatchJob.objects.create(
        id=job_id,
        client=client,
        model_name=model_name,
        alias="" if version is not None else (alias or "production"),
        requested_version=version,
        input_kind=kind,
        input_path=str(input_path),
        original_filename=original,
        chunk_size=settings.INFERENCE["BATCH_CHUNK_SIZE"],
        schedule_name=schedule_name,
    )
    logger.info("batch job %s created for %s (%s)", job.pk, model_name, original)
    if enqueue:
        from inference.tasks import batch_score

        transaction.on_commit(lambda: batch_score.delay(str(job.pk)))
    return job


def _count_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        return sum(1 for _ in reader)


def _fail(job: BatchJob, message: str) -> None:
    BatchJob.objects.filter(
        pk=job.pk, status__in=[BatchStatus.PENDING, BatchStatus.RUNNING]
    ).update(
        status=BatchStatus.FAILED, error=message[:2000], finished_at=timezone.now()
    )
    logger.error("batch job %s failed: %s", job.pk, message)


def batch_job_run(
    *, job_id, max_chunks: int | None = None, max_seconds: float | None = None
) -> BatchJob:
    """Score the job's remaining chunks (all, or at most ``max_chunks`` / for
    about ``max_seconds``); returns the job as stored. Safe to call again
    at any time: it continues where the last committed chunk ended."""
    claimed = BatchJob.objects.filter(
        pk=job_id, status__in=[BatchStatus.PENDING, BatchStatus.RUNNING]
    ).update(
        status=BatchStatus.RUNNING,
        attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), timezone.now()),
    )
    job = BatchJob.objects.get(pk=job_id)
    if not claimed:
        logger.info("batch job %s is already %s", job.pk, job.status)
        return job
    path = Path(job.input_path)
    try:
        served = model_cache().get(
            name=job.model_name,
            alias=job.alias or None,
            version=job.model_version or job.requested_version,
        )
    except ApplicationError as exc:
        _fail(job, f"model unavailable: {exc.message}")
        return BatchJob.objects.get(pk=job.pk)
    if job.model_version is None:
        BatchJob.objects.filter(pk=job.pk, model_version__isnull=True).update(
            model_version=served.version
        )
        job.refresh_from_db()
        if job.model_version != served.version:
            served = model_cache().get(name=job.model_name, version=job.model_version)
    try:
        if not job.rows_total:
            total = _count_rows(path)
            if total > settings.INFERENCE["BATCH_MAX_ROWS"]:
                _fail(
                    job, f"{total} rows: at most {settings.INFERENCE['BATCH_MAX_ROWS']}"
                )
                return BatchJob.objects.get(pk=job.pk)
            BatchJob.objects.filter(pk=job.pk).update(rows_total=total)
            job.rows_total = total
        handle = open(path, newline="", encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as exc:
        _fail(job, f"cannot read the input file: {exc}")
        return BatchJob.objects.get(pk=job.pk)

    started = time.monotonic()
    chunks = 0
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None) or []
        missing = [f.name for f in served.inputs if f.required and f.name not in header]
        if missing:
            _fail(job, f"the CSV lacks column(s): {', '.join(missing)}")
            return BatchJob.objects.get(pk=job.pk)
        position = job.rows_done
        rows = itertools.islice(reader, position, None)
        while position < job.rows_total:
            chunk = list(itertools.islice(rows, job.chunk_size))
            if not chunk:
                break
            if not _chunk_commit(job, served, header, position, chunk):
                logger.info(
                    "batch job %s: chunk at %s done elsewhere", job.pk, position
                )
                return BatchJob.objects.get(pk=job.pk)
            position += len(chunk)
            chunks += 1
            logger.info("batch job %s: %s/%s rows", job.pk, position, job.rows_total)
            if max_chunks is not None and chunks >= max_chunks:
                return BatchJob.objects.get(pk=job.pk)
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                return BatchJob.objects.get(pk=job.pk)
    _finish(job)
    return BatchJob.objects.get(pk=job.pk)


def _result_columns(served) -> list[str]:
    probas = [f"proba_{c}" for c in served.classes]
    return [
        "row",
        *[f.name for f in served.inputs],
        "prediction",
        *probas,
        "outlier_score",
        "is_outlier",
        "prediction_id",
        "error",
    ]


def batch_log_context(job: BatchJob) -> LogContext:
    """The log context of a job's rows: the job's owner, its alias as asked,
    ``batch:<job id>`` as request id."""
    return LogContext(
        channel=PredictionSource.BATCH,
        alias=job.alias,
        client_id=job.client_id,
        request_id=f"batch:{job.pk}",
        batch_id=job.pk,
    )


def _chunk_commit(job, served, header, start, chunk) -> bool:
    """Score and log one chunk; False when another worker already did it."""
    fields: list[Field] = list(served.inputs)
    limit = settings.INFERENCE["MAX_STRING_LENGTH"]
    index = {name: i for i, name in enumerate(header)}
    good: list[tuple[int, dict]] = []
    bad: dict[int, str] = {}
    for offset, cells in enumerate(chunk):
        number = start + offset
        row = {}
        try:
            for f in fields:
                position = index.get(f.name)
                cell = (
                    cells[position]
                    if position is not None and position < len(cells)
                    else None
                )
                try:
                    row[f.name] = parse_csv_value(cell, f, limit)
                except ValueError as exc:
                    raise ValueError(f"{printable(f.name)}: {exc}") from None
        except ValueError as exc:
            bad[number] = str(exc)
            continue
        good.append((number, row))

    with transaction.atomic():
        locked = BatchJob.objects.select_for_update().filter(pk=job.pk).first()
        if (
            locked is None
            or locked.rows_done != start
            or locked.status != BatchStatus.RUNNING
        ):
            return False
        result = served.predict([r for _, r in good]) if good else None
        now = timezone.now()
        logs = (
            log_rows_build(
                served=served,
                rows=[row for _, row in good],
                result=result,
                context=batch_log_context(job),
                prediction_ids=[uuid7() for _ in good],
                latency_ms=0.0,
                created_at=now,
                row_indexes=[number for number, _ in good],
            )
            if good
            else []
        )
        out = io.StringIO()
        writer = csv.writer(out)
        by_number = {
            log.row_index: (i, log.prediction_id) for i, log in enumerate(logs)
        }
        rows = dict(good)
        for offset, cells in enumerate(chunk):
            number = start + offset
            if number in bad:
                raw = [
                    cells[index[f.name]]
                    if f.name in index and index[f.name] < len(cells)
                    else ""
                    for f in fields
                ]
                writer.writerow(
                    [
                        number,
                        *raw,
                        "",
                        *[""] * len(served.classes),
                        "",
                        "",
                        "",
                        bad[number],
                    ]
                )
                continue
            i, pid = by_number[number]
            probas = (
                [result.probabilities[i].get(c, "") for c in served.classes]
                if result.probabilities
                else [""] * len(served.classes)
            )
            writer.writerow(
                [
                    number,
                    *[rows[number][f.name] for f in fields],
                    result.labels[i],
                    *probas,
                    result.outlier_scores[i] if result.outlier_scores else "",
                    result.outlier_flags[i] if result.outlier_flags else "",
                    pid,
                    "",
                ]
            )
        parts = batch_folder(job.pk) / PARTS
        parts.mkdir(parents=True, exist_ok=True)
        (parts / f"{start:012d}.csv").write_text(out.getvalue(), encoding="utf-8")
        if logs:
            prediction_logs_insert(logs)
        BatchJob.objects.filter(pk=job.pk, rows_done=start).update(
            rows_done=start + len(chunk),
            rows_failed=F("rows_failed") + len(bad),
            updated_at=now,
        )
    if good:
        from inference.services.predict import metrics_record

        metrics_record(
            served=served,
            channel=PredictionSource.BATCH,
            rows=len(good),
            elapsed=0.0,
            outliers=sum(result.outlier_flags or ()),
        )
    return True


def _finish(job: BatchJob) -> None:
    served = model_cache().get(name=job.model_name, version=job.model_version)
    folder = batch_folder(job.pk)
    parts = sorted((folder / PARTS).glob("*.csv")) if (folder / PARTS).is_dir() else []
    output = folder / RESULTS
    tmp = folder / f".{RESULTS}.{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerow(_result_columns(served))
        for part in parts:
            with open(part, encoding="utf-8") as handle:
                shutil.copyfileobj(handle, out)
    tmp.replace(output)
    finished = BatchJob.objects.filter(pk=job.pk, status=BatchStatus.RUNNING).update(
        status=BatchStatus.SUCCEEDED,
        output_path=str(output),
        finished_at=timezone.now(),
    )
    if finished:
        shutil.rmtree(folder / PARTS, ignore_errors=True)
        logger.info("batch job %s succeeded: results in %s", job.pk, output)


def batch_job_scheduled_run(
    *, path: str, model: str, alias: str | None, version: int | None, key: str
) -> BatchJob:
    """The job of one scheduled run (created once per ``key``), then run it."""
    existing = BatchJob.objects.filter(schedule_name=key).first()
    if existing is None:
        existing = batch_job_create(
            model_name=model,
            alias=alias,
            version=version,
            server_path=path,
            schedule_name=key,
            enqueue=False,
        )
    return batch_job_run(job_id=existing.pk)
