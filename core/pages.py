"""Sections that other apps add to governance's model page.

Governance imports no other app, yet the model page is where people look for
everything about a model (its retraining runs, for one). An app registers a
provider in its ``AppConfig.ready``; the page asks every provider for its
section and renders the section's template with its context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PageSection:
    key: str  # the section's HTML id
    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)


SectionProvider = Callable[..., PageSection | None]

_providers: dict[str, SectionProvider] = {}


def model_section_register(key: str, provider: SectionProvider) -> None:
    """``provider(request=..., model_name=...)`` returns a section or None."""
    _providers[key] = provider


def model_sections(*, request: Any, model_name: str) -> list[PageSection]:
    sections = []
    for provider in _providers.values():
        section = provider(request=request, model_name=model_name)
        if section is not None:
            sections.append(section)
    return sections
