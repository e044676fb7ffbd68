from django.db import models


class BaseModel(models.Model):
    """Abstract base: every table records when a row was created and last updated."""

    created_at = models.DateTimeField(
        auto_now_add=True,
        db_index=True,
        help_text="When the row was created.",
    )
    updated_at = models.DateTimeField(
        auto_now=True,
        help_text="When the row was last changed.",
    )

    class Meta:
        abstract = True
