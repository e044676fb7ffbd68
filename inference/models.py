"""The prediction log and the ground-truth feedback joined to it."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.ids import uuid7
from core.models import BaseModel
from inference.choices import (
    BatchInputKind,
    BatchStatus,
    PredictionSource,
    ServedAs,
)


class PredictionLog(models.Model):
    """One served prediction: one row per input row of a 2xx response.

    Written in the same transaction that produces the response, so the log and
    what clients received can never disagree. Append-only; deleted only by the
    retention command.
    """

    prediction_id = models.UUIDField(
        default=uuid7,
        editable=False,
        help_text="Public id of the prediction, returned to the client.",
    )
    model_name = models.CharField(
        max_length=256,
        help_text="Registered model name that served the prediction.",
    )
    model_version = models.PositiveIntegerField(
        help_text="Registered model version that served the prediction.",
    )
    alias = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Alias the client asked for (blank when it named a version).",
    )
    source = models.CharField(
        max_length=16,
        choices=PredictionSource.choices,
        default=PredictionSource.API,
        help_text="Interface that served the prediction.",
    )
    served_as = models.CharField(
        max_length=16,
        choices=ServedAs.choices,
        default=ServedAs.PROMOTED,
        help_text=(
            "Serving rule that allowed it: the production alias, a role's "
            "elevated access (staging, previous, a version), or an override."
        ),
    )
    inputs = models.JSONField(
        help_text="The input row as validated against the signature.",
    )
    prediction = models.JSONField(
        help_text="The predicted label (classification) or value (regression).",
    )
    probabilities = models.JSONField(
        null=True,
        blank=True,
        help_text="Class probabilities, {label: probability}, when the model has them.",
    )
    outlier_score = models.FloatField(
        null=True,
        blank=True,
        help_text="Outlier score from the version's detector (higher is stranger).",
    )
    is_outlier = models.BooleanField(
        default=False,
        help_text="Whether the detector flagged the row.",
    )
    latency_ms = models.FloatField(
        help_text="Server time spent on the request, divided by its rows.",
    )
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,  # predlog_client_time leads with the client
        # No database constraint: its check locks the client's user row (FOR
        # KEY SHARE) in every logging transaction, so concurrent requests of
        # one client contend on that row. The serving path only writes the
        # authenticated user's id, and SET_NULL on delete is done by Django.
        db_constraint=False,
        related_name="predictions",
        help_text="Authenticated client (user or API token owner).",
    )
    request_id = models.CharField(
        max_length=128,
        blank=True,
        default="",
        help_text="X-Request-ID of the request (client-supplied or generated).",
    )
    row_index = models.PositiveIntegerField(
        default=0,
        help_text="Position of the row in its request.",
    )
    batch_id = models.UUIDField(
        null=True,
        blank=True,
        help_text="Batch job that produced the row, if any.",
    )
    created_at = models.DateTimeField(
        default=timezone.now,
        help_text="When the prediction was served.",
    )

    class Meta:
        ordering = ["-id"]  # ids grow with time; no index on time alone
        # Every index costs each insert (the serving path's one write), so
        # only the ones queries need: windows of a model by time, a client's
        # own predictions, a batch's rows; retention and rollups walk the
        # primary key.
        indexes = [
            models.Index(
                fields=["model_name", "created_at"], name="predlog_model_time"
            ),
            models.Index(fields=["client", "created_at"], name="predlog_client_time"),
            models.Index(
                fields=["batch_id"],
                name="predlog_batch",
                condition=models.Q(batch_id__isnull=False),
            ),
        ]
        # On PostgreSQL the table is partitioned by day of ``created_at``
        # (migration 0005, ``inference.services.partitions``) and a unique
        # constraint must hold the partition key. Prediction ids are v7 UUIDs
        # made by the server (74 random bits), so they do not repeat; their
        # time finds the partition of a lookup by id (``log_time_bounds``).
        constraints = [
            models.UniqueConstraint(
                fields=["prediction_id", "created_at"],
                name="predlog_prediction_id_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.model_version} {self.prediction_id}"


class Feedback(BaseModel):
    """The ground-truth label of a logged prediction (latest one wins)."""

    prediction = models.OneToOneField(
        PredictionLog,
        on_delete=models.CASCADE,
        # No database foreign key: the partitioned log's key is (id,
        # created_at). Django applies the CASCADE; retention deletes the
        # feedback of a partition before dropping it.
        db_constraint=False,
        related_name="feedback",
        help_text="The prediction the label belongs to.",
    )
    label = models.JSONField(
        help_text="True label (a class of the model) or value.",
    )
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="feedback",
        help_text="Who sent the label.",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"feedback for {self.prediction_id}"


class FeedbackHistory(models.Model):
    """A label that was replaced by a later one (kept for audit)."""

    feedback = models.ForeignKey(
        Feedback,
        on_delete=models.CASCADE,
        related_name="history",
        help_text="The feedback row whose label changed.",
    )
    previous_label = models.JSONField(
        help_text="Label before the change.",
    )
    new_label = models.JSONField(
        help_text="Label after the change.",
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who sent the replacing label.",
    )
    changed_at = models.DateTimeField(
        default=timezone.now,
        help_text="When the label was replaced.",
    )

    class Meta:
        ordering = ["-changed_at"]
        verbose_name_plural = "feedback history"

    def __str__(self) -> str:
        return f"{self.previous_label!r} → {self.new_label!r}"


class StoredResponse(models.Model):
    """The response of a prediction request that carried a request id.

    A retry with the same ``(scope, request_id)`` gets this stored response
    instead of a second prediction. The unique constraint settles the race of
    two identical requests arriving together: the second insert fails inside
    its transaction, which rolls back, and the stored response is returned.
    ``scope`` is ``u<user id>`` for API clients, ``stream:<name>`` for stream
    events, so ids of different clients never collide.
    """

    scope = models.CharField(
        max_length=160,
        help_text="Whose id space the request id belongs to (u<user id>, stream:...).",
    )
    request_id = models.CharField(
        max_length=128,
        help_text="Client-supplied X-Request-ID (or stream entry id).",
    )
    model_name = models.CharField(
        max_length=256,
        help_text="Model that served the request.",
    )
    model_version = models.PositiveIntegerField(
        help_text="Version that served the request.",
    )
    status_code = models.PositiveSmallIntegerField(
        default=200,
        help_text="HTTP status of the stored response.",
    )
    response = models.JSONField(
        help_text="The response body sent the first time.",
    )
    created_at = models.DateTimeField(
        default=timezone.now,
        db_index=True,
        help_text="When the request was first served.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "request_id"], name="uniq_stored_response_request"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope}/{self.request_id}"


class RequestError(models.Model):
    """One refused or failed prediction request (4xx or 5xx).

    Written outside the prediction transaction (which rolled back or never
    began), so monitoring can compute error rates next to the prediction log.
    """

    model_name = models.CharField(
        max_length=256,
        help_text="Model named by the request (blank when none could be read).",
    )
    model_version = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Version that would have served it, when known.",
    )
    source = models.CharField(
        max_length=16,
        choices=PredictionSource.choices,
        default=PredictionSource.API,
        help_text="Interface that received the request.",
    )
    status_code = models.PositiveSmallIntegerField(
        help_text="HTTP status returned (or the equivalent for streams).",
    )
    code = models.CharField(
        max_length=64,
        help_text="Error code of the response body (invalid_input, not_found, ...).",
    )
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Authenticated client, when there was one.",
    )
    created_at = models.DateTimeField(
        default=timezone.now,
        help_text="When the request was refused.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["model_name", "created_at"], name="reqerr_model_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status_code__gte=400, status_code__lt=600),
                name="reqerr_status_is_error",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} {self.status_code} {self.code}"


class BatchJob(BaseModel):
    """A CSV scored in chunks by a Celery task, with progress and a results file.

    Each chunk is scored and logged in one transaction that also advances
    ``rows_done`` by a conditional UPDATE, so a redelivered task resumes after
    the last committed chunk and never logs a row twice.
    """

    id = models.UUIDField(
        primary_key=True,
        default=uuid.uuid4,
        editable=False,
        help_text="Public id of the job; PredictionLog.batch_id of its rows.",
    )
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="batch_jobs",
        help_text="Who started the job (blank for scheduled jobs).",
    )
    model_name = models.CharField(
        max_length=256,
        help_text="Registered model to score with.",
    )
    alias = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Alias asked for (blank when a version was named).",
    )
    requested_version = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Version asked for, if any.",
    )
    model_version = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Version that scored the rows (fixed at the first chunk).",
    )
    input_kind = models.CharField(
        max_length=16,
        choices=BatchInputKind.choices,
        default=BatchInputKind.UPLOAD,
        help_text="Uploaded CSV or a file on the server.",
    )
    input_path = models.CharField(
        max_length=1024,
        help_text="The input CSV: an upload's name in the shared storage, or "
        "the path of a server-side file on the hosts that run batch jobs.",
    )
    original_filename = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="Name of the uploaded file, for display.",
    )
    output_path = models.CharField(
        max_length=1024,
        blank=True,
        default="",
        help_text="Name of the results CSV in the shared storage, once written.",
    )
    status = models.CharField(
        max_length=16,
        choices=BatchStatus.choices,
        default=BatchStatus.PENDING,
        help_text="Where the job is in its life.",
    )
    rows_total = models.PositiveIntegerField(
        default=0,
        help_text="Data rows in the input (known once the job starts).",
    )
    rows_done = models.PositiveIntegerField(
        default=0,
        help_text="Rows processed so far (scored or reported bad), chunk by chunk.",
    )
    rows_failed = models.PositiveIntegerField(
        default=0,
        help_text="Rows reported bad in the results with their error.",
    )
    chunk_size = models.PositiveIntegerField(
        default=500,
        help_text="Rows scored per transaction.",
    )
    attempts = models.PositiveSmallIntegerField(
        default=0,
        help_text="Times a worker started the task (redeliveries included).",
    )
    error = models.TextField(
        blank=True,
        default="",
        help_text="Why the job failed, if it did.",
    )
    key_column = models.CharField(
        max_length=256,
        blank=True,
        default="",
        help_text=(
            "Column of the input holding each row's entity key: when set, the "
            "job fills the precomputed store instead of logging predictions."
        ),
    )
    ttl_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=(
            "How long the entries a filling job writes stay fresh (blank: "
            "INFERENCE_PRECOMPUTED_TTL_SECONDS)."
        ),
    )
    schedule_name = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Periodic task that created the job, if any.",
    )
    started_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a worker first started the job.",
    )
    finished_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the job succeeded or failed.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rows_done__lte=models.F("rows_total"))
                | models.Q(rows_total=0),
                name="batch_done_le_total",
            ),
            models.CheckConstraint(
                condition=models.Q(chunk_size__gte=1),
                name="batch_chunk_size_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "created_at"], name="batch_client_time"),
        ]

    def __str__(self) -> str:
        return f"batch {self.id} ({self.model_name}, {self.status})"

    @property
    def progress(self) -> float:
        """Share of rows processed, 0..1."""
        return (self.rows_done / self.rows_total) if self.rows_total else 0.0


class PrecomputedPrediction(models.Model):
    """A prediction computed ahead by a batch job and served by entity key.

    One entry per (model, version, key): a lookup asks for the version the
    caller is served now, so entries of a version the alias has left simply
    miss. ``inputs_hash`` lets a lookup that also sends inputs check that
    the entry was computed for the same inputs.
    """

    model_name = models.CharField(
        max_length=256,
        help_text="Registered model that computed the entry.",
    )
    model_version = models.PositiveIntegerField(
        help_text="Version that computed the entry.",
    )
    key = models.CharField(
        max_length=256,
        help_text="The entity key the entry is looked up by (customer id, ...).",
    )
    inputs = models.JSONField(
        help_text="The input row as validated against the signature.",
    )
    inputs_hash = models.CharField(
        max_length=64,
        help_text="SHA-256 of the canonical JSON of the inputs.",
    )
    prediction = models.JSONField(
        help_text="The predicted label or value.",
    )
    probabilities = models.JSONField(
        null=True,
        blank=True,
        help_text="Class probabilities, {label: probability}, when the model has them.",
    )
    outlier_score = models.FloatField(
        null=True,
        blank=True,
        help_text="Outlier score from the version's detector.",
    )
    is_outlier = models.BooleanField(
        default=False,
        help_text="Whether the detector flagged the row.",
    )
    batch_id = models.UUIDField(
        null=True,
        blank=True,
        help_text="Batch job that computed the entry (blank: written back online).",
    )
    computed_at = models.DateTimeField(
        help_text="When the entry was computed.",
    )
    expires_at = models.DateTimeField(
        help_text="After this time the entry is no longer served.",
    )

    class Meta:
        ordering = ["model_name", "model_version", "key"]
        constraints = [
            # also the index of every lookup (model, version, keys)
            models.UniqueConstraint(
                fields=["model_name", "model_version", "key"],
                name="precomputed_model_version_key",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("computed_at")),
                name="precomputed_expires_after_computed",
            ),
        ]
        indexes = [
            # the daily prune deletes expired entries
            models.Index(fields=["expires_at"], name="precomputed_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} v{self.model_version} key {self.key}"
