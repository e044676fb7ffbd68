"""The prediction log becomes a table partitioned by day on PostgreSQL.

PostgreSQL: the existing table is renamed, a partitioned table is created
``LIKE`` it (so every column, default and check constraint it has carries
over), day partitions covering its rows (at most ``MAX_PAST_DAYS`` back; older
rows go to the default partition) and the next days are created, every row is
copied with its id, the old table dropped, and the primary key, constraints
and indexes of the model are built once on the full partitioned table. All in
the migration's one transaction: it commits whole or not at all. Serving must
be stopped while it runs (the copy takes about a minute per few million rows).

A primary key or unique constraint of a partitioned table must hold the
partition key, so the key is ``(id, created_at)``, the prediction id is
unique with ``created_at`` (ids are random v7 UUIDs made by the server: they
do not repeat) and feedback keeps its link to the log's id without a database
foreign key (Django's CASCADE still applies; retention deletes the feedback of
a partition before dropping it).

SQLite keeps the plain table; only the constraint changes apply there.
"""

from datetime import UTC, datetime, timedelta

import django.db.models.deletion
from django.db import migrations, models

import core.ids

OLD = "inference_predictionlog_unpartitioned"
PARENT = "inference_predictionlog"
DAYS_AHEAD = 3
MAX_PAST_DAYS = 400


def _partition(cursor, quote, day) -> None:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    cursor.execute(
        f"CREATE TABLE {quote(f'{PARENT}_p{day:%Y%m%d}')} PARTITION OF "
        f"{quote(PARENT)} FOR VALUES FROM ('{start.isoformat()}') "
        f"TO ('{end.isoformat()}')"
    )


def _model_keys(schema_editor, model) -> None:
    """The sequence, primary key, constraints and indexes of the model."""
    quote = schema_editor.quote_name
    seq = f"{PARENT}_id_seq"
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"CREATE SEQUENCE {quote(seq)} OWNED BY {quote(PARENT)}.id")
        cursor.execute(
            "SELECT setval(%s, coalesce((SELECT max(id) FROM "  # noqa: S608
            f"{quote(PARENT)}), 0) + 1, false)",
            [seq],
        )
        cursor.execute(
            f"ALTER TABLE {quote(PARENT)} ALTER COLUMN id SET DEFAULT nextval('{seq}')"
        )
        cursor.execute(
            f"ALTER TABLE {quote(PARENT)} ADD CONSTRAINT {quote(PARENT + '_pkey')} "
            "PRIMARY KEY (id, created_at)"
        )
    for constraint in model._meta.constraints:
        schema_editor.add_constraint(model, constraint)
    for index in model._meta.indexes:
        schema_editor.add_index(model, index)


def partition(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("inference", "PredictionLog")
    quote = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {quote(PARENT)} RENAME TO {quote(OLD)}")
        cursor.execute(
            f"CREATE TABLE {quote(PARENT)} (LIKE {quote(OLD)} INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS) PARTITION BY RANGE (created_at)"
        )
        cursor.execute(
            f"CREATE TABLE {quote(PARENT + '_default')} PARTITION OF "
            f"{quote(PARENT)} DEFAULT"
        )
        cursor.execute(
            f"SELECT min(created_at), max(created_at) FROM {quote(OLD)}"  # noqa: S608
        )
        first, last = cursor.fetchone()
        today = datetime.now(tz=UTC).date()
        first_day = max(
            (first.astimezone(UTC).date() if first else today),
            today - timedelta(days=MAX_PAST_DAYS),
        )
        last_day = max(last.astimezone(UTC).date() if last else today, today)
        day = first_day
        while day <= last_day + timedelta(days=DAYS_AHEAD):
            _partition(cursor, quote, day)
            day += timedelta(days=1)
        cursor.execute(
            f"INSERT INTO {quote(PARENT)} SELECT * FROM {quote(OLD)}"  # noqa: S608
        )
        cursor.execute(f"DROP TABLE {quote(OLD)}")
    _model_keys(schema_editor, model)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {quote(PARENT)}")


def unpartition(apps, schema_editor) -> None:
    """Back to one plain table, every row kept."""
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("inference", "PredictionLog")
    quote = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {quote(PARENT)} RENAME TO {quote(OLD)}")
        for index in model._meta.indexes:
            cursor.execute(f"DROP INDEX IF EXISTS {quote(index.name)}")
        for constraint in model._meta.constraints:
            cursor.execute(
                f"ALTER TABLE {quote(OLD)} DROP CONSTRAINT IF EXISTS "
                f"{quote(constraint.name)}"
            )
        cursor.execute(
            f"ALTER TABLE {quote(OLD)} DROP CONSTRAINT IF EXISTS "
            f"{quote(PARENT + '_pkey')}"
        )
    schema_editor.create_model(model)
    columns = ", ".join(quote(f.column) for f in model._meta.concrete_fields)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(PARENT)} ({columns}) "  # noqa: S608
            f"OVERRIDING SYSTEM VALUE SELECT {columns} FROM {quote(OLD)}"
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), "  # noqa: S608
            f"coalesce((SELECT max(id) FROM {quote(PARENT)}), 0) + 1, false)",
            [PARENT],
        )
        cursor.execute(f"DROP TABLE {quote(OLD)} CASCADE")


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0004_log_client_without_constraint"),
    ]

    operations = [
        migrations.AlterField(
            model_name="feedback",
            name="prediction",
            field=models.OneToOneField(
                db_constraint=False,
                help_text="The prediction the label belongs to.",
                on_delete=django.db.models.deletion.CASCADE,
                related_name="feedback",
                to="inference.predictionlog",
            ),
        ),
        migrations.AlterField(
            model_name="predictionlog",
            name="prediction_id",
            field=models.UUIDField(
                default=core.ids.uuid7,
                editable=False,
                help_text="Public id of the prediction, returned to the client.",
            ),
        ),
        migrations.AddConstraint(
            model_name="predictionlog",
            constraint=models.UniqueConstraint(
                fields=("prediction_id", "created_at"),
                name="predlog_prediction_id_time",
            ),
        ),
        migrations.RunPython(partition, unpartition),
    ]
