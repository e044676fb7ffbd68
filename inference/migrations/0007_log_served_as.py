"""The prediction log records the serving rule of each prediction (``served_as``).

On PostgreSQL the log is partitioned (0005): ``ALTER TABLE ... ADD COLUMN`` on
the parent adds the column to every partition, and a constant default fills
existing rows without rewriting them. The column keeps its default in the
database, so a process still running the previous code during a deploy
(whose INSERT and COPY name the old columns) keeps writing: its rows read
``promoted``, which is all it could serve.
"""

from django.db import migrations, models


def keep_database_default(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    schema_editor.execute(
        f"ALTER TABLE {quote('inference_predictionlog')} "
        f"ALTER COLUMN {quote('served_as')} SET DEFAULT 'promoted'"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0006_edge_and_precomputed_sources"),
    ]

    operations = [
        migrations.AddField(
            model_name="predictionlog",
            name="served_as",
            field=models.CharField(
                choices=[
                    ("promoted", "Production alias"),
                    ("elevated", "Staging, previous or an explicit version (by role)"),
                    (
                        "override",
                        "A version whose tests failed or never ran (override)",
                    ),
                ],
                default="promoted",
                help_text=(
                    "Serving rule that allowed it: the production alias, a role's "
                    "elevated access (staging, previous, a version), or an override."
                ),
                max_length=16,
            ),
        ),
        migrations.RunPython(keep_database_default, migrations.RunPython.noop),
    ]
