"""Edge serving: the ONNX export of a governed alias, and the predictions made
with it in browsers, reported back and logged like any other.

The edge follows the online channel's rules: the alias resolves through the
same model cache (so a promotion or rollback reaches browsers when it reaches
the API), only governed stage aliases are served, and only a version whose
export passed its parity test at training time
(``modelgate.edge.status=passed``). Reported predictions become log rows
through ``log_rows_build`` with channel ``edge``: drift, outliers (scored
here, on the server) and feedback cover them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core import registry
from core.exceptions import ApplicationError, NotFoundError
from core.ids import uuid7
from inference.choices import PredictionSource, ServedAs
from inference.logrows import LogContext, LogRow, log_rows_build
from inference.logwriter import prediction_logs_insert
from inference.models import PredictionLog
from inference.services.predict import served_model_get
from inference.serving import Predictions, ServedModel, model_cache
from inference.serving.policy import serving_grant, tests_admit
from inference.validation import validate_rows

logger = logging.getLogger(__name__)

EDGE_DIR = "edge"  # the run's artifact folder (trainer.export_stage)
MAX_TELEMETRY_ITEMS = 500
#: How far back a reported prediction may have been made (offline browsers
#: report late), and how far ahead of the server's clock.
TELEMETRY_MAX_AGE = timedelta(days=7)
TELEMETRY_MAX_SKEW = timedelta(minutes=5)
_download_lock = threading.Lock()


@dataclass(frozen=True)
class EdgeModel:
    """The ONNX export an alias serves to the edge."""

    name: str
    alias: str
    version: int
    path: Path
    sha256: str
    opset: int
    inputs: list[dict[str, str]]
    labels: list[str]

    @property
    def etag(self) -> str:
        # the version is part of it: an alias moved to a version with the same
        # bytes is still news to the browser (its log rows name the version)
        return f'"{self.name}-v{self.version}-{self.sha256[:16]}"'


def edge_aliases() -> tuple[str, ...]:
    """The aliases served to the edge: the governed stages a version reaches
    only through an approved promotion (never ``previous``)."""
    names = settings.MODELGATE["STAGE_ALIASES"]
    return tuple(names[stage] for stage in ("production", "staging") if stage in names)


def edge_model_get(*, name: str, user: Any, alias: str | None = None) -> EdgeModel:
    """The export of ``name@alias`` (default production) for ``user``, under
    the serving rules of every channel (``served_model_get``), downloaded once
    per machine. ``NotFoundError`` naming the reason when there is none to
    serve."""
    grant = serving_grant(user=user, alias=alias)
    if grant.alias not in edge_aliases():
        raise NotFoundError(
            f"the edge serves only the aliases {', '.join(edge_aliases())}",
            code="alias_not_served_to_edge",
        )
    served, _served_as = served_model_get(name=name, user=user, alias=grant.alias)
    return _edge_model(served, grant.alias)


def _edge_model(served: ServedModel, alias: str) -> EdgeModel:
    status = served.tags.get("modelgate.edge.status", "")
    if status != "passed":
        reason = served.tags.get("modelgate.edge.reason") or (
            "the version was trained before edge exports existed"
            if not status
            else f"edge export {status}"
        )
        raise NotFoundError(
            f"{served.name} v{served.version} has no valid edge export: {reason}",
            code="no_edge_export",
        )
    folder = _local_export(served)
    meta = json.loads((folder / "export.json").read_text())
    return EdgeModel(
        name=served.name,
        alias=alias,
        version=served.version,
        path=folder / "model.onnx",
        sha256=meta["sha256"],
        opset=int(meta["opset"]),
        inputs=meta["inputs"],
        labels=meta["labels"],
    )


def _local_export(served: ServedModel) -> Path:
    """The version's export folder on this machine, checked against the hash
    the version was tagged with."""
    root = Path(settings.MODELGATE["MODEL_CACHE_DIR"]) / "edge" / served.name
    folder = root / f"v{served.version}"
    if (folder / "model.onnx").is_file():
        return folder
    with _download_lock:
        if (folder / "model.onnx").is_file():
            return folder
        root.mkdir(parents=True, exist_ok=True)
        staging = root / f".v{served.version}-{os.getpid()}-{time.monotonic_ns()}"
        downloaded = registry.run_artifact_download(served.run_id, EDGE_DIR, staging)
        data = (downloaded / "model.onnx").read_bytes()
        expected = served.tags.get("modelgate.edge.sha256", "")
        if hashlib.sha256(data).hexdigest() != expected:
            raise NotFoundError(
                f"{served.name} v{served.version}: the stored ONNX file does not "
                "match the hash the version was registered with",
                code="no_edge_export",
            )
        os.replace(downloaded, folder)
        logger.info("edge export of %s v%s ready", served.name, served.version)
    return folder


# ----------------------------------------------------------------- telemetry
@dataclass(frozen=True)
class _Item:
    client_id: str  # the browser's id of the prediction (idempotency key)
    version: int
    row: dict
    label: str
    probabilities: dict[str, float] | None
    predicted_at: datetime
    latency_ms: float


def _bad(index: int, field: str, message: str) -> ApplicationError:
    return ApplicationError(
        f"items[{index}].{field}: {message}; nothing was recorded",
        {"fields": {f"items[{index}].{field}": [message]}},
        code="invalid_input",
    )


def _parse_items(items: Any, now: datetime) -> list[tuple[int, dict]]:
    if not isinstance(items, list) or not items:
        raise ApplicationError(
            "items must be a non-empty list of reported predictions",
            {"fields": {"items": ["expected a non-empty list"]}},
            code="invalid_input",
        )
    if len(items) > MAX_TELEMETRY_ITEMS:
        raise ApplicationError(
            f"at most {MAX_TELEMETRY_ITEMS} items per request",
            {"fields": {"items": [f"{len(items)} items"]}},
            code="invalid_input",
        )
    seen: set[str] = set()
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad(index, "", "expected an object")
        raw_id = item.get("id")
        try:
            client_id = str(uuid.UUID(str(raw_id)))
        except ValueError:
            raise _bad(index, "id", "a UUID made by the client is required") from None
        if client_id in seen:
            raise _bad(index, "id", "the same id twice in one request")
        seen.add(client_id)
        version = item.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise _bad(index, "version", "the model version that predicted")
        when = item.get("predicted_at")
        parsed = parse_datetime(when) if isinstance(when, str) else None
        if parsed is None or parsed.tzinfo is None:
            raise _bad(index, "predicted_at", "an ISO 8601 time with its offset")
        if not now - TELEMETRY_MAX_AGE <= parsed <= now + TELEMETRY_MAX_SKEW:
            raise _bad(
                index, "predicted_at", "more than 7 days old or ahead of the server"
            )
        out.append((index, {**item, "id": client_id, "predicted_at": parsed}))
    return out


def _check_outputs(index: int, item: dict, edge: ServedModel) -> None:
    label = item.get("label")
    if label not in edge.classes:
        raise _bad(index, "label", f"one of {list(edge.classes)}")
    probabilities = item.get("probabilities")
    if probabilities is None:
        return
    if not isinstance(probabilities, dict) or set(probabilities) != set(edge.classes):
        raise _bad(index, "probabilities", f"an object keyed by {list(edge.classes)}")
    for value in probabilities.values():
        if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise _bad(index, "probabilities", "numbers between 0 and 1")


def _items(name: str, raw: Any, now: datetime) -> tuple[list[_Item], dict]:
    """Checked items and the served model of each version they name."""
    config = settings.INFERENCE
    models: dict[int, ServedModel] = {}
    items = []
    for index, item in _parse_items(raw, now):
        version = item["version"]
        if version not in models:
            served = model_cache().get(name=name, version=version)
            if served.tags.get("modelgate.edge.status") != "passed":
                raise _bad(index, "version", f"v{version} was never served to edge")
            models[version] = served
        served = models[version]
        rows = validate_rows(
            [item.get("inputs")],
            served.inputs,
            where=f"items[{index}].inputs",
            max_rows=1,
            max_length=config["MAX_STRING_LENGTH"],
        )
        _check_outputs(index, item, served)
        latency = item.get("latency_ms", 0.0)
        if not isinstance(latency, int | float) or not 0 <= latency < 3_600_000:
            raise _bad(index, "latency_ms", "milliseconds, 0 or more")
        items.append(
            _Item(
                client_id=item["id"],
                version=version,
                row=rows[0],
                label=item["label"],
                probabilities=item.get("probabilities"),
                predicted_at=item["predicted_at"],
                latency_ms=float(latency),
            )
        )
    return items, models


def edge_telemetry_record(
    *, name: str, items: Any, client, alias: str = ""
) -> list[dict[str, str]]:
    """Log predictions a browser made with an edge export, each exactly once.

    Every item is checked before anything is written (one bad item: a 400
    naming it, nothing recorded). An item whose id this client already
    reported is answered ``duplicate`` with the prediction id it got the
    first time. Returns ``[{"id", "prediction_id", "status"}]`` in order.
    """
    now = timezone.now()
    # reported under the alias the export was fetched with: the same rule
    grant = serving_grant(user=client, alias=alias or None)
    checked, models = _items(name, items, now)
    served_as = {
        version: ServedAs.OVERRIDE
        if tests_admit(name=name, version=version, tags=served.tags)
        else grant.served_as
        for version, served in models.items()
    }
    client_pk = client.pk if client is not None and client.pk else None
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # one reporter of a client at a time: the check below then sees
            # every row a concurrent retry of the same batch wrote
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)",
                    [0x6D6701, client_pk or 0],
                )
        known = _reported(name=name, client_pk=client_pk, items=checked)
        logs: list[LogRow] = []
        results = []
        for item in checked:
            request_id = f"edge:{item.client_id}"
            if request_id in known:
                results.append(
                    {
                        "id": item.client_id,
                        "prediction_id": known[request_id],
                        "status": "duplicate",
                    }
                )
                continue
            served = models[item.version]
            prediction_id = uuid7(at=item.predicted_at)
            logs += log_rows_build(
                served=served,
                rows=[item.row],
                result=_outputs(served, item),
                context=LogContext(
                    channel=PredictionSource.EDGE,
                    alias=alias,
                    client_id=client_pk,
                    request_id=request_id,
                    served_as=served_as[item.version],
                ),
                prediction_ids=[prediction_id],
                latency_ms=item.latency_ms,
                created_at=item.predicted_at,
            )
            known[request_id] = str(prediction_id)
            results.append(
                {
                    "id": item.client_id,
                    "prediction_id": str(prediction_id),
                    "status": "created",
                }
            )
        if logs:
            prediction_logs_insert(logs)
    created = sum(r["status"] == "created" for r in results)
    logger.info(
        "edge telemetry of %s: %d logged, %d duplicates",
        name,
        created,
        len(results) - created,
    )
    return results


def _outputs(served: ServedModel, item: _Item) -> Predictions:
    """The browser's outputs, with the outlier score computed here (the
    detector is not exported)."""
    scores = flags = None
    if served.scorer is not None:
        scores = [float(s) for s in served.scorer.score([item.row])]
        flags = [bool(s > served.scorer.threshold) for s in scores]
    return Predictions(
        labels=[item.label],
        probabilities=[item.probabilities] if item.probabilities else None,
        outlier_scores=scores,
        outlier_flags=flags,
    )


def _reported(*, name: str, client_pk, items: list[_Item]) -> dict[str, str]:
    """request id → prediction id of the items already logged."""
    times = [i.predicted_at for i in items]
    return {
        rid: str(pid)
        for rid, pid in PredictionLog.objects.filter(
            model_name=name,
            source=PredictionSource.EDGE,
            client_id=client_pk,
            created_at__gte=min(times),
            created_at__lte=max(times),
            request_id__in=[f"edge:{i.client_id}" for i in items],
        ).values_list("request_id", "prediction_id")
    }
