"""Markdown to HTML for text the project itself wrote (model cards), with raw
HTML off: a card logged by anyone with MLflow access cannot inject markup."""

from __future__ import annotations

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# CommonMark with tables; "html": False escapes raw HTML, and markdown-it's
# link validation drops javascript:, vbscript: and data: (except images) URLs
_RENDERER = MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_html(text: str) -> SafeString:
    return mark_safe(_RENDERER.render(text or ""))  # noqa: S308 - escaped above
