import signal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from inference.services.stream import StreamConfig, StreamConsumer
from inference.serving import warm_up


class Command(BaseCommand):
    help = (
        "Consume prediction events from a Redis Stream (consumer group), predict, "
        "log, publish results to the output stream and acknowledge. Malformed "
        "events go to the dead-letter stream; a crashed consumer's pending events "
        "are reclaimed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--redis-url", help="default: REDIS_URL")
        parser.add_argument("--input", help="input stream (INFERENCE_STREAM_INPUT)")
        parser.add_argument("--output", help="results stream")
        parser.add_argument("--dead-letter", help="dead-letter stream")
        parser.add_argument("--group", help="consumer group")
        parser.add_argument("--consumer", help="consumer name (default host-pid)")
        parser.add_argument("--batch", type=int, help="events read per call")
        parser.add_argument(
            "--client",
            help="username owning the predictions (INFERENCE_STREAM_CLIENT)",
        )
        parser.add_argument(
            "--claim-idle-ms", type=int, help="reclaim entries idle this long"
        )
        parser.add_argument(
            "--exit-when-idle",
            type=float,
            default=None,
            help="stop after this many seconds without events (tests, one-off runs)",
        )

    def handle(self, *args, **options):
        config = StreamConfig.from_settings(
            redis_url=options["redis_url"] or None,
            input=options["input"],
            output=options["output"],
            dead_letter=options["dead_letter"],
            group=options["group"],
            consumer=options["consumer"],
            batch=options["batch"],
            claim_idle_ms=options["claim_idle_ms"],
            client=options["client"],
        )
        if not config.redis_url:
            raise CommandError("set REDIS_URL (or --redis-url) to consume a stream")
        warm_up()
        if settings.MONITORING.get("METRICS_PORT"):
            from core.metrics import serve_metrics

            serve_metrics(settings.MONITORING["METRICS_PORT"])
        try:
            consumer = StreamConsumer(config)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        signal.signal(signal.SIGTERM, consumer.stop)
        signal.signal(signal.SIGINT, consumer.stop)
        self.stdout.write(
            f"consuming {config.input} as {config.group}/{config.consumer} → "
            f"{config.output} (dead letters: {config.dead_letter}, default model "
            f"{settings.MODELGATE['DEFAULT_MODEL']}, predictions owned by "
            f"{consumer.owner or 'no account'})"
        )
        last = [0]

        def progress(stats):
            done = stats.predicted + stats.replayed + stats.dead
            if done - last[0] >= 1000:
                last[0] = done
                self.stdout.write(
                    f"{stats.predicted} predicted, {stats.replayed} replayed, "
                    f"{stats.dead} dead-lettered, {stats.reclaimed} reclaimed"
                )

        stats = consumer.run(
            idle_exit_seconds=options["exit_when_idle"], progress=progress
        )
        self.stdout.write(
            f"stopped: {stats.predicted} predicted, {stats.replayed} replayed, "
            f"{stats.dead} dead-lettered, {stats.reclaimed} reclaimed, "
            f"{stats.trimmed} trimmed"
        )
