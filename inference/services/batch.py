"""Batch scoring: a CSV scored in chunks by a Celery task.

Each chunk is one transaction: lock the job row, check ``rows_done`` is where
this worker expects it, score the chunk, write the chunk's part of the results
file, log the scored rows with the job's id, advance ``rows_done``. A task that
is delivered again (worker killed, duplicate message) resumes after the last
committed chunk, so every row is logged exactly once. Bad rows are reported in
the results with their error and do not stop the job. The job's files live in
the shared storage (``inference.services.batch_files``).

A job with a key column fills the precomputed store of hybrid serving
(``inference.services.precomputed``) instead: the same chunks, scored the same
way, but each row's result is written under its key in the chunk's
transaction, and not logged (it is logged when a keyed request answers it).
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import time
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.exceptions import ApplicationError
from core.ids import uuid7
from inference.choices import BatchInputKind, BatchStatus, PredictionSource, ServedAs
from inference.logrows import LogContext, log_rows_build
from inference.logwriter import prediction_logs_insert
from inference.models import BatchJob
from inference.services import batch_files
from inference.services.owners import channel_owner_get
from inference.services.precomputed import key_problem, precomputed_store
from inference.services.predict import served_model_get
from inference.serving import model_cache
from inference.serving.policy import tests_admit
from inference.validation import Field, parse_csv_value, printable

logger = logging.getLogger(__name__)


class BatchInputError(ApplicationError):
    code = "invalid_batch_input"


# room for the multipart envelope around an uploaded file
MULTIPART_ENVELOPE_BYTES = 64 * 1024


def upload_body_cap() -> int:
    """The largest request body of a batch upload (core.limits reads it as
    the upload views' ``max_body_bytes``)."""
    return settings.INFERENCE["BATCH_MAX_UPLOAD_BYTES"] + MULTIPART_ENVELOPE_BYTES


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
    key_column: str = "",
    ttl_seconds: int | None = None,
    enqueue: bool = True,
) -> BatchJob:
    """Create a job from an uploaded file or a server-side file and enqueue it
    (after the transaction commits). With ``key_column`` the job fills the
    precomputed store (entries fresh for ``ttl_seconds``)."""
    if (upload is None) == (server_path is None):
        raise BatchInputError("give either an uploaded file or a server path")
    if ttl_seconds is not None and not key_column:
        raise BatchInputError(
            "ttl_seconds applies only to a job that fills the store (key_column)",
            {"fields": {"ttl_seconds": ["needs key_column"]}},
        )
    # the serving rules and the model are checked before anything is stored
    served_model_get(name=model_name, user=client, alias=alias, version=version)
    job_id = uuid.uuid4()
    if upload is not None:
        cap = settings.INFERENCE["BATCH_MAX_UPLOAD_BYTES"]
        if upload.size > cap:
            raise BatchInputError(
                f"file too large: at most {cap} bytes",
                {"fields": {"file": ["too large"]}},
                status_code=413,
            )
        row_cap = settings.INFERENCE["BATCH_MAX_UPLOAD_ROWS"]
        try:
            over = batch_files.upload_rows_over(upload, row_cap)
        except csv.Error as exc:
            raise BatchInputError(
                f"the file is not a readable CSV: {exc}",
                {"fields": {"file": [str(exc)]}},
            ) from exc
        if over is not None:
            raise BatchInputError(
                f"too many rows: an upload has at most {row_cap} rows",
                {"fields": {"file": [f"at most {row_cap} rows"]}},
            )
        # checked where it arrived; stored only once it is accepted
        input_path = batch_files.upload_store(job_id=job_id, upload=upload)
        kind, original = BatchInputKind.UPLOAD, Path(upload.name or "").name[:255]
    else:
        server_file = server_path_check(server_path)
        input_path = str(server_file)
        kind, original = BatchInputKind.SERVER_FILE, server_file.name[:255]
    job = BatchJob.objects.create(
        id=job_id,
        client=client,
        model_name=model_name,
        alias="" if version is not None else (alias or "production"),
        requested_version=version,
        input_kind=kind,
        input_path=input_path,
        original_filename=original,
        chunk_size=settings.INFERENCE["BATCH_CHUNK_SIZE"],
        schedule_name=schedule_name,
        key_column=key_column,
        ttl_seconds=ttl_seconds,
    )
    logger.info("batch job %s created for %s (%s)", job.pk, model_name, original)
    if enqueue:
        from inference.tasks import batch_score

        transaction.on_commit(lambda: batch_score.delay(str(job.pk)))
    return job


def _count_rows(handle: io.TextIOWrapper) -> int:
    """The data rows of the input; ``handle`` is back at the start after."""
    reader = csv.reader(handle)
    next(reader, None)
    counted = sum(1 for _ in reader)
    handle.seek(0)
    return counted


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
    cap = settings.INFERENCE["BATCH_MAX_ATTEMPTS"]
    claimed = BatchJob.objects.filter(
        pk=job_id,
        status__in=[BatchStatus.PENDING, BatchStatus.RUNNING],
        attempts__lt=cap,
    ).update(
        status=BatchStatus.RUNNING,
        attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), timezone.now()),
    )
    job = BatchJob.objects.get(pk=job_id)
    if not claimed:
        if job.status in (BatchStatus.PENDING, BatchStatus.RUNNING):
            # every delivery so far died (worker lost, crash): stop trying
            _fail(job, _gave_up(job.attempts, job.error or "the worker was lost"))
            return BatchJob.objects.get(pk=job.pk)
        logger.info("batch job %s is already %s", job.pk, job.status)
        return job
    try:
        # the job's owner is judged again when it runs (a role may be gone);
        # the version its alias served at the first chunk stays the job's
        served, served_as = served_model_get(
            name=job.model_name,
            user=job.client,
            alias=job.alias or None,
            version=job.requested_version,
        )
        if job.model_version is None:
            BatchJob.objects.filter(pk=job.pk, model_version__isnull=True).update(
                model_version=served.version
            )
            job.refresh_from_db()
        if job.model_version != served.version:
            served = model_cache().get(name=job.model_name, version=job.model_version)
            if tests_admit(name=served.name, version=served.version, tags=served.tags):
                served_as = ServedAs.OVERRIDE
    except ApplicationError as exc:
        _fail(job, f"model not served: {exc.message}")
        return BatchJob.objects.get(pk=job.pk)
    try:
        # one read of the input per delivery: counted (first delivery), then
        # scored from the same handle
        handle = batch_files.csv_text(
            batch_files.input_open(input_kind=job.input_kind, input_path=job.input_path)
        )
    except OSError as exc:
        _fail(job, f"cannot read the input file: {exc}")
        return BatchJob.objects.get(pk=job.pk)
    with handle:
        try:
            if not job.rows_total:
                total = _count_rows(handle)
                cap = settings.INFERENCE["BATCH_MAX_ROWS"]
                if total > cap:
                    _fail(job, f"{total} rows: at most {cap}")
                    return BatchJob.objects.get(pk=job.pk)
                BatchJob.objects.filter(pk=job.pk).update(rows_total=total)
                job.rows_total = total
        except OSError as exc:
            _fail(job, f"cannot read the input file: {exc}")
            return BatchJob.objects.get(pk=job.pk)
        except csv.Error as exc:
            _fail(job, _bad_csv(exc))
            return BatchJob.objects.get(pk=job.pk)
        try:
            return _chunks_run(job, served, served_as, handle, max_chunks, max_seconds)
        except csv.Error as exc:  # a bad line past the rows already counted
            _fail(job, _bad_csv(exc))
    return BatchJob.objects.get(pk=job.pk)


def _bad_csv(exc: csv.Error) -> str:
    return f"the file is not a readable CSV: _csv.Error: {exc}"


def _gave_up(attempts: int, last_error: str) -> str:
    return f"gave up after {attempts} attempts; last error: {last_error}"


def batch_job_attempt_failed(*, job_id, error: str, final: bool) -> BatchJob:
    """Record why a delivery of the job raised; with ``final`` (the task's
    retries are exhausted) the job ends failed with that reason."""
    if final:
        job = BatchJob.objects.get(pk=job_id)
        _fail(job, _gave_up(job.attempts, error))
    else:
        BatchJob.objects.filter(
            pk=job_id, status__in=[BatchStatus.PENDING, BatchStatus.RUNNING]
        ).update(error=error[:2000])
    return BatchJob.objects.get(pk=job_id)


def _chunks_run(job, served, served_as, handle, max_chunks, max_seconds) -> BatchJob:
    """Score the chunks after ``rows_done`` from the open input ``handle``."""
    started = time.monotonic()
    chunks = 0
    reader = csv.reader(handle)
    header = next(reader, None) or []
    missing = [f.name for f in served.inputs if f.required and f.name not in header]
    if job.key_column and job.key_column not in header:
        missing.append(job.key_column)
    if missing:
        _fail(job, f"the CSV lacks column(s): {', '.join(missing)}")
        return BatchJob.objects.get(pk=job.pk)
    position = job.rows_done
    rows = itertools.islice(reader, position, None)
    while position < job.rows_total:
        chunk = list(itertools.islice(rows, job.chunk_size))
        if not chunk:
            break
        if not _chunk_commit(job, served, served_as, header, position, chunk):
            logger.info("batch job %s: chunk at %s done elsewhere", job.pk, position)
            return BatchJob.objects.get(pk=job.pk)
        position += len(chunk)
        chunks += 1
        logger.info("batch job %s: %s/%s rows", job.pk, position, job.rows_total)
        if max_chunks is not None and chunks >= max_chunks:
            return BatchJob.objects.get(pk=job.pk)
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            # a slice that ended cleanly: the attempt cap counts only
            # deliveries that died or raised
            BatchJob.objects.filter(pk=job.pk).update(attempts=0, error="")
            return BatchJob.objects.get(pk=job.pk)
    _finish(job)
    return BatchJob.objects.get(pk=job.pk)


def _result_columns(job: BatchJob, served) -> list[str]:
    probas = [f"proba_{c}" for c in served.classes]
    # a filling job logs nothing: its rows are named by their key
    return [
        "row",
        *[f.name for f in served.inputs],
        "prediction",
        *probas,
        "outlier_score",
        "is_outlier",
        "key" if job.key_column else "prediction_id",
        "error",
    ]


def batch_log_context(job: BatchJob, served_as: str) -> LogContext:
    """The log context of a job's rows: the job's owner, its alias as asked,
    ``batch:<job id>`` as request id, the serving rule that allowed it."""
    return LogContext(
        channel=PredictionSource.BATCH,
        alias=job.alias,
        client_id=job.client_id,
        request_id=f"batch:{job.pk}",
        batch_id=job.pk,
        served_as=served_as,
    )


def _chunk_commit(job, served, served_as, header, start, chunk) -> bool:
    """Score and log one chunk; False when another worker already did it."""
    fields: list[Field] = list(served.inputs)
    limit = settings.INFERENCE["MAX_STRING_LENGTH"]
    index = {name: i for i, name in enumerate(header)}
    good: list[tuple[int, dict]] = []
    bad: dict[int, str] = {}
    keys: dict[int, str] = {}
    for offset, cells in enumerate(chunk):
        number = start + offset
        row = {}
        try:
            if job.key_column:
                position = index[job.key_column]
                key = cells[position] if position < len(cells) else ""
                problem = key_problem(key)
                if problem:
                    raise ValueError(f"{printable(job.key_column)}: {problem}")
                keys[number] = key
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
                context=batch_log_context(job, served_as),
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
            if job.key_column:
                pid = keys[number]
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
        batch_files.part_write(job_id=job.pk, start=start, text=out.getvalue())
        if job.key_column and good:
            ttl = job.ttl_seconds or settings.INFERENCE["PRECOMPUTED_TTL_SECONDS"]
            precomputed_store(
                served=served,
                keys=[keys[number] for number, _ in good],
                rows=[row for _, row in good],
                result=result,
                computed_at=now,
                ttl=timedelta(seconds=ttl),
                batch_id=job.pk,
            )
        elif logs:
            prediction_logs_insert(logs)
        BatchJob.objects.filter(pk=job.pk, rows_done=start).update(
            rows_done=start + len(chunk),
            rows_failed=F("rows_failed") + len(bad),
            updated_at=now,
        )
    if good and not job.key_column:
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
    output = batch_files.results_write(
        job_id=job.pk, header=_result_columns(job, served)
    )
    finished = BatchJob.objects.filter(pk=job.pk, status=BatchStatus.RUNNING).update(
        status=BatchStatus.SUCCEEDED,
        output_path=output,
        finished_at=timezone.now(),
    )
    if finished:
        batch_files.parts_delete(job_id=job.pk)
        logger.info("batch job %s succeeded: results in %s", job.pk, output)


def batch_job_scheduled_run(
    *,
    path: str,
    model: str,
    alias: str | None,
    version: int | None,
    key: str,
    client: str | None = None,
    key_column: str = "",
    ttl_seconds: int | None = None,
) -> BatchJob:
    """The job of one scheduled run (created once per ``key``), then run it.

    The job, and so its predictions, belong to the account named ``client``
    (default ``INFERENCE_SCHEDULED_BATCH_CLIENT``), whose feedback finds them.
    """
    existing = BatchJob.objects.filter(schedule_name=key).first()
    if existing is None:
        owner = channel_owner_get(
            username=client or settings.INFERENCE["SCHEDULED_BATCH_CLIENT"],
            setting="client" if client else "INFERENCE_SCHEDULED_BATCH_CLIENT",
        )
        existing = batch_job_create(
            model_name=model,
            client=owner,
            alias=alias,
            version=version,
            server_path=path,
            schedule_name=key,
            key_column=key_column,
            ttl_seconds=ttl_seconds,
            enqueue=False,
        )
    return batch_job_run(job_id=existing.pk)
