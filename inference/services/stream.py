"""Predictions from a Redis Stream, with an exactly-once effect.

Events are read with a consumer group. Each event's stream entry id is its
request id (in the ``stream:<input stream>`` scope of the stored responses),
so an event delivered again — after a consumer crashed, or reclaimed from
another consumer with XAUTOCLAIM — gets the stored result instead of a
second prediction. The result is published and the event acknowledged in one
MULTI/EXEC after the database commit: a crash between the commit and the
EXEC leaves the event pending, and its redelivery publishes the stored result.

Predictions are logged under the configured owner (``INFERENCE_STREAM_CLIENT``,
``inference.services.owners``) so that its feedback finds them.

The consumer trims its three streams every ``trim_seconds``
(``inference.services.stream_retention``): only entries that every group has
acknowledged, older than the retention, so the streams stay bounded.

Event fields: ``inputs`` (JSON: one row object or a list of rows), optional
``model`` (default: the default model), ``alias`` or ``version``. A malformed
event goes to the dead-letter stream with the reason.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection

from core.exceptions import ApplicationError, ServiceUnavailableError
from core.parsers import loads_strict
from inference.choices import PredictionSource
from inference.services.owners import channel_owner_get
from inference.services.predict import (
    prediction_serve,
    prediction_serve_events,
    request_error_record,
    served_model_get,
)
from inference.services.stream_retention import stream_trim

logger = logging.getLogger(__name__)


@dataclass
class StreamConfig:
    redis_url: str
    input: str
    output: str
    dead_letter: str
    group: str
    consumer: str
    batch: int = 100
    block_ms: int = 1000
    claim_idle_ms: int = 30000
    max_deliveries: int = 5
    #: username of the account that owns the predictions (blank: none)
    client: str = ""
    #: trimming (``inference.services.stream_retention``): handled entries
    #: older than this go, results and dead letters beyond ``maxlen`` too;
    #: every ``trim_seconds`` (None: never)
    retention_ms: int = 3_600_000
    maxlen: int = 100_000
    trim_seconds: float | None = 10.0

    @classmethod
    def from_settings(cls, **overrides) -> StreamConfig:
        config = settings.INFERENCE
        values = {
            "redis_url": settings.REDIS_URL,
            "input": config["STREAM_INPUT"],
            "output": config["STREAM_OUTPUT"],
            "dead_letter": config["STREAM_DEAD_LETTER"],
            "group": config["STREAM_GROUP"],
            "consumer": f"{socket.gethostname()}-{os.getpid()}",
            "batch": config["STREAM_BATCH"],
            "claim_idle_ms": config["STREAM_CLAIM_IDLE_MS"],
            "max_deliveries": config["STREAM_MAX_DELIVERIES"],
            "client": config["STREAM_CLIENT"],
            "retention_ms": config["STREAM_RETENTION_SECONDS"] * 1000,
            "maxlen": config["STREAM_MAXLEN"],
            "trim_seconds": config["STREAM_TRIM_SECONDS"] or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class StreamStats:
    predicted: int = 0
    replayed: int = 0
    dead: int = 0
    reclaimed: int = 0
    errors: int = 0
    trimmed: int = 0
    started: float = field(default_factory=time.monotonic)


class MalformedEvent(Exception):
    """The event cannot be predicted, whatever happens later: dead-letter it."""


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def event_parse(fields: dict) -> dict:
    """``{"model", "alias", "version", "payload"}`` of an event, or MalformedEvent."""
    decoded = {_text(k): v for k, v in fields.items()}
    raw = decoded.get("inputs")
    if raw is None:
        raise MalformedEvent("missing field 'inputs'")
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    try:
        inputs = loads_strict(raw)
    except Exception as exc:
        raise MalformedEvent(f"inputs is not valid JSON: {exc}") from None
    rows = inputs if isinstance(inputs, list) else [inputs]
    model = _text(decoded.get("model") or settings.MODELGATE["DEFAULT_MODEL"])
    alias = _text(decoded["alias"]) if decoded.get("alias") else None
    version = None
    if decoded.get("version"):
        text = _text(decoded["version"])
        if not text.isdigit():
            raise MalformedEvent("version must be a positive integer")
        version = int(text)
    return {
        "model": model,
        "alias": alias,
        "version": version,
        "payload": {"inputs": rows},
    }


class StreamConsumer:
    """One consumer of the group; ``run()`` loops until ``stop()``."""

    def __init__(self, config: StreamConfig, redis_client=None) -> None:
        import redis

        self.config = config
        self.redis = redis_client or redis.Redis.from_url(
            config.redis_url, socket_timeout=10, socket_connect_timeout=5
        )
        self.owner = channel_owner_get(
            username=config.client, setting="INFERENCE_STREAM_CLIENT"
        )
        self.stats = StreamStats()
        self._stopping = False

    def stop(self, *_args) -> None:
        self._stopping = True

    def ensure_group(self) -> None:
        import redis

        try:
            self.redis.xgroup_create(
                self.config.input, self.config.group, id="0", mkstream=True
            )
            logger.info(
                "created consumer group %s on %s", self.config.group, self.config.input
            )
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(
        self,
        *,
        idle_exit_seconds: float | None = None,
        progress: Callable[[StreamStats], None] | None = None,
    ) -> StreamStats:
        """Consume until stopped (or idle for ``idle_exit_seconds``)."""
        import redis

        self.ensure_group()
        c = self.config
        # our own pending entries first (a restart after a crash under this name)
        self._drain_own_pending()
        last_claim = last_trim = 0.0
        idle_since = time.monotonic()
        while not self._stopping:
            try:
                if time.monotonic() - last_claim > max(c.claim_idle_ms / 1000, 1.0) / 2:
                    self._reclaim()
                    last_claim = time.monotonic()
                if (
                    c.trim_seconds is not None
                    and time.monotonic() - last_trim >= c.trim_seconds
                ):
                    last_trim = time.monotonic()
                    try:
                        self.trim()
                    except redis.ResponseError:
                        logger.exception("trimming the streams failed")
                reply = self.redis.xreadgroup(
                    c.group, c.consumer, {c.input: ">"}, count=c.batch, block=c.block_ms
                )
            except redis.ConnectionError as exc:
                logger.warning("Redis unavailable (%s); retrying in 1 s", exc)
                time.sleep(1)
                continue
            entries = reply[0][1] if reply else []
            if entries:
                self.process(entries)
                idle_since = time.monotonic()
                if progress:
                    progress(self.stats)
            elif idle_exit_seconds is not None and (
                time.monotonic() - idle_since > idle_exit_seconds
            ):
                break
        return self.stats

    def trim(self) -> int:
        """Trim the input, output and dead-letter streams to the retention;
        never an event that is pending or not yet delivered to a group."""
        c = self.config
        removed = stream_trim(
            redis_client=self.redis, stream=c.input, retention_ms=c.retention_ms
        )
        for stream in (c.output, c.dead_letter):
            removed += stream_trim(
                redis_client=self.redis,
                stream=stream,
                retention_ms=c.retention_ms,
                maxlen=c.maxlen,
            )
        self.stats.trimmed += removed
        return removed

    def _drain_own_pending(self) -> None:
        c = self.config
        while True:
            reply = self.redis.xreadgroup(
                c.group, c.consumer, {c.input: "0"}, count=c.batch
            )
            entries = [e for e in (reply[0][1] if reply else []) if e[1]]
            if not entries:
                return
            logger.info("re-processing %d of our own pending events", len(entries))
            self.process(entries)

    def _reclaim(self) -> None:
        c = self.config
        start = "0-0"
        while True:
            result = self.redis.xautoclaim(
                c.input,
                c.group,
                c.consumer,
                min_idle_time=c.claim_idle_ms,
                start_id=start,
                count=c.batch,
            )
            start, entries = result[0], result[1]
            entries = [e for e in entries if e[1]]
            if entries:
                self.stats.reclaimed += len(entries)
                logger.info("reclaimed %d events of a stalled consumer", len(entries))
                self.process(entries, reclaimed=True)
            if _text(start) == "0-0":
                return

    def _deliveries(self, entry_id) -> int:
        info = self.redis.xpending_range(
            self.config.input, self.config.group, min=entry_id, max=entry_id, count=1
        )
        return int(info[0]["times_delivered"]) if info else 0

    def process(self, entries, *, reclaimed: bool = False) -> None:
        """Predict, log, publish and acknowledge entries.

        Fast path: the events of one model are validated one by one, predicted
        together and logged in one transaction, then published and
        acknowledged in one MULTI/EXEC. If that transaction meets a stored
        response written meanwhile by another consumer (unique constraint),
        the events are taken one at a time instead.
        """
        if not connection.in_atomic_block:  # (never inside a test's transaction)
            close_old_connections()
        groups: dict[tuple, list[tuple[str, dict, dict]]] = {}
        for entry_id, fields in entries:
            eid = _text(entry_id)
            if reclaimed and self._deliveries(entry_id) > self.config.max_deliveries:
                self._dead(eid, fields, "delivered too many times")
                continue
            try:
                event = event_parse(fields)
            except MalformedEvent as exc:
                self._dead(eid, fields, str(exc))
                continue
            key = (event["model"], event["alias"], event["version"])
            groups.setdefault(key, []).append((eid, fields, event))
        for (model, alias, version), items in groups.items():
            try:
                done = prediction_serve_events(
                    name=model,
                    alias=alias,
                    version=version,
                    events=[(eid, event["payload"]) for eid, _f, event in items],
                    scope=self.scope,
                    client=self.owner,
                )
            except IntegrityError:
                done = None
            except ServiceUnavailableError as exc:
                self._leave_pending(len(items), exc.message)
                continue
            except ApplicationError:
                done = None  # e.g. unknown model: sort it out event by event
            if done is None:
                for eid, fields, event in items:
                    self._process_one(eid, fields, event)
                continue
            bodies, refused = done
            for eid, fields, _event in items:
                if eid in refused:
                    exc = refused[eid]
                    self._refuse(eid, fields, model, exc)
            self._publish_many(bodies)

    @property
    def scope(self) -> str:
        return f"stream:{self.config.input}"[:160]

    def _leave_pending(self, count: int, reason: str) -> None:
        # not the events' fault: leave them pending for a later retry
        self.stats.errors += count
        logger.warning("%d events left pending: %s", count, reason)
        time.sleep(0.5)

    def _refuse(self, eid: str, fields: dict, model: str, exc: ApplicationError):
        request_error_record(
            model_name=model,
            status_code=exc.status_code,
            code=exc.code,
            client=self.owner,
            channel=PredictionSource.STREAM,
        )
        self._dead(eid, fields, f"{exc.code}: {exc.message}")

    def _process_one(self, eid: str, fields: dict, event: dict) -> None:
        try:
            served, served_as = served_model_get(
                name=event["model"],
                user=self.owner,
                alias=event["alias"],
                version=event["version"],
            )
            outcome = prediction_serve(
                served=served,
                served_as=served_as,
                payload=event["payload"],
                client=self.owner,
                alias=event["alias"],
                version=event["version"],
                channel=PredictionSource.STREAM,
                request_id=eid,
                scope=self.scope,
            )
        except ServiceUnavailableError as exc:
            self._leave_pending(1, exc.message)
            return
        except ApplicationError as exc:
            self._refuse(eid, fields, event["model"], exc)
            return
        self._publish_many([(eid, outcome.body, outcome.replayed)])

    def _publish_many(self, bodies: list[tuple[str, dict, bool]]) -> None:
        if not bodies:
            return
        c = self.config
        with self.redis.pipeline(transaction=True) as pipe:
            for eid, body, _replayed in bodies:
                pipe.xadd(c.output, {"request_id": eid, "result": json.dumps(body)})
            pipe.xack(c.input, c.group, *[eid for eid, _b, _r in bodies])
            pipe.execute()
        for _eid, _body, replayed in bodies:
            if replayed:
                self.stats.replayed += 1
            else:
                self.stats.predicted += 1

    def _dead(self, entry_id: str, fields: dict, reason: str) -> None:
        c = self.config
        event = {_text(k): _text(v)[:10_000] for k, v in fields.items()}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                c.dead_letter,
                {
                    "source_id": entry_id,
                    "reason": reason[:1000],
                    "event": json.dumps(event),
                },
            )
            pipe.xack(c.input, c.group, entry_id)
            pipe.execute()
        self.stats.dead += 1
        logger.warning("event %s dead-lettered: %s", entry_id, reason)
