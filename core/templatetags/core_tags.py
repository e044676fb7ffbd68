"""Template filters every app's pages share: metric labels and local times."""

from __future__ import annotations

from datetime import UTC

from django import template
from django.utils.dateformat import format as date_format
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.timezone import is_aware

from core.metric_names import metric_label as _metric_label

register = template.Library()


@register.filter
def metric_label(key: str) -> str:
    """``{{ "roc_auc"|metric_label }}`` → ``ROC AUC``."""
    return _metric_label(str(key))


@register.filter
def local_time(value, fmt: str = "Y-m-d H:i") -> str:
    """A ``<time>`` element in UTC that static/js/localtime.js rewrites to the
    reader's time zone; without JavaScript it reads as UTC."""
    if not value:
        return "–"
    if isinstance(value, str):
        value = parse_datetime(value)
        if value is None:
            return "–"
    shown = value.astimezone(UTC) if is_aware(value) else value
    return format_html(
        '<time class="local" datetime="{}">{} UTC</time>',
        shown.isoformat(),
        date_format(shown, fmt),
    )


@register.filter
def markdown(text: str):
    """``{{ card|markdown }}``: CommonMark with tables, raw HTML escaped."""
    from core.markdown import markdown_html

    return markdown_html(text)
