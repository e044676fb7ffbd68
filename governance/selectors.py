"""Reads of the governance app, for the other apps and the pages."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from governance.models import ModelAlias, ModelVersion, RegisteredModel


def registered_model_list() -> QuerySet[RegisteredModel]:
    """Every mirrored model with its versions (newest first) and aliases."""
    return RegisteredModel.objects.prefetch_related(
        Prefetch("versions", queryset=ModelVersion.objects.order_by("-version")),
        Prefetch("aliases", queryset=ModelAlias.objects.select_related("version")),
    )


def registered_model_get(*, name: str) -> RegisteredModel | None:
    return registered_model_list().filter(name=name).first()


def model_version_get(*, name: str, version: int) -> ModelVersion | None:
    return (
        ModelVersion.objects.select_related("registered_model")
        .filter(registered_model__name=name, version=version)
        .first()
    )


def model_version_for_alias(*, name: str, alias: str) -> ModelVersion | None:
    """The mirrored version that ``name@alias`` points to, or None."""
    link = (
        ModelAlias.objects.select_related("version__registered_model")
        .filter(registered_model__name=name, alias=alias)
        .first()
    )
    return link.version if link else None


def model_aliases(*, name: str) -> dict[str, int]:
    return dict(
        ModelAlias.objects.filter(registered_model__name=name).values_list(
            "alias", "version__version"
        )
    )
