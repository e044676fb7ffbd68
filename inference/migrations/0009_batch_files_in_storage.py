# Batch files move into the shared storage: the paths stored under the media
# folder become storage names (the filesystem storage's root is that folder).

from pathlib import Path

from django.conf import settings
from django.db import migrations, models


def _roots() -> list[Path]:
    media = Path(settings.MEDIA_ROOT)
    return list(dict.fromkeys([media.absolute(), media.resolve()]))


def _to_name(value: str) -> str:
    path = Path(value)
    if not value or not path.is_absolute():
        return value
    for root in _roots():
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return value  # outside the media folder: left as it was


def _to_path(value: str) -> str:
    if not value or Path(value).is_absolute():
        return value
    return str(_roots()[0] / value)


def _convert(apps, convert) -> None:
    BatchJob = apps.get_model("inference", "BatchJob")
    changed = []
    for job in BatchJob.objects.only("id", "input_kind", "input_path", "output_path"):
        before = (job.input_path, job.output_path)
        if job.input_kind == "upload":
            job.input_path = convert(job.input_path)
        job.output_path = convert(job.output_path)
        if (job.input_path, job.output_path) != before:
            changed.append(job)
    BatchJob.objects.bulk_update(changed, ["input_path", "output_path"], batch_size=500)


def forwards(apps, schema_editor):
    _convert(apps, _to_name)


def backwards(apps, schema_editor):
    _convert(apps, _to_path)


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0008_precomputed_store"),
    ]

    operations = [
        migrations.AlterField(
            model_name="batchjob",
            name="input_path",
            field=models.CharField(
                help_text="The input CSV: an upload's name in the shared storage, or the path of a server-side file on the hosts that run batch jobs.",
                max_length=1024,
            ),
        ),
        migrations.AlterField(
            model_name="batchjob",
            name="output_path",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Name of the results CSV in the shared storage, once written.",
                max_length=1024,
            ),
        ),
        migrations.RunPython(forwards, backwards, elidable=True),
    ]
