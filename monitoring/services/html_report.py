"""Evidently's HTML view of a stored report: the same rows, columns, methods
and thresholds as the report's own verdicts, and a header that links back to
the report page.

Evidently gets exactly what the report tested (``report.drift_inputs``):
feature and text-descriptor columns in its drift table and share (as in the
report's headline), prediction and label columns as separate value-drift
panels (outside the share, as in the report), every column's method and
threshold pinned, and the same samples: all the window's rows for numeric and
categorical columns, and for text columns the rows the report's domain
classifier used, in the same order (the other rows' texts are left empty,
which Evidently drops). Evidently is imported here only, in Celery workers;
web processes never import it.
"""

from __future__ import annotations

import html
import logging
import os
import re
from dataclasses import dataclass

import pandas as pd
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.templatetags.static import static
from django.urls import reverse

from monitoring.calculations.drift import DESCRIPTOR, FEATURE, LABEL, ColumnSpec
from monitoring.calculations.methods import CAT, NUM, TEXT
from monitoring.calculations.report import ReportConfig, drift_inputs, text_sample
from monitoring.models import Report

logger = logging.getLogger(__name__)

# the folder of Report.html_file's upload_to
REPORTS_FOLDER = "monitoring/reports"


@dataclass
class EvidentlyInput:
    """The two frames and the columns Evidently is given for one report."""

    reference: pd.DataFrame
    current: pd.DataFrame
    #: counted in the drift share (features and text descriptors)
    share_columns: list[ColumnSpec]
    #: shown apart (prediction, probability, label)
    other_columns: list[ColumnSpec]
    text_rows: tuple[int, int]

    @property
    def columns(self) -> list[ColumnSpec]:
        return self.share_columns + self.other_columns


def _text_rows_first(
    frame: pd.DataFrame, config: ReportConfig, texts: list[str]
) -> pd.DataFrame:
    """The frame with the report's text sample first, in its drawn order, and
    the texts of the other rows emptied (order matters only to the text
    classifier's split; every other statistic ignores it)."""
    sample = text_sample(frame, config).index
    rest = frame.index.difference(sample, sort=False)
    ordered = pd.concat([frame.loc[sample], frame.loc[rest]])
    for column in texts:
        ordered[column] = ordered[column].astype(object)
        ordered.loc[ordered.index.isin(rest), column] = None
    return ordered.reset_index(drop=True)


def evidently_input(
    reference: pd.DataFrame, current: pd.DataFrame, config: ReportConfig, summary: dict
) -> EvidentlyInput:
    """What Evidently is given for a report whose ``summary`` was computed
    from the same ``reference``, ``current`` and ``config``: the columns the
    report scored (a column it could not score is left out, as from its share)."""
    reference, current, specs = drift_inputs(reference, current, config)
    scored = {
        c["column"] for c in summary.get("columns", []) if c.get("score") is not None
    }
    specs = [s for s in specs if s.name in scored]
    if any(s.group == LABEL for s in specs):
        # the reference names the label "target"; unlabelled rows stay empty
        reference = reference.rename(columns={"target": "label"})
    names = [s.name for s in specs]
    texts = [s.name for s in specs if s.kind == TEXT]
    reference = _text_rows_first(reference[names], config, texts)
    current = _text_rows_first(current[names], config, texts)
    return EvidentlyInput(
        reference=reference,
        current=current,
        share_columns=[s for s in specs if s.group in (FEATURE, DESCRIPTOR)],
        other_columns=[s for s in specs if s.group not in (FEATURE, DESCRIPTOR)],
        text_rows=(
            min(len(reference), config.text_sample_rows),
            min(len(current), config.text_sample_rows),
        ),
    )


def evidently_snapshot(data: EvidentlyInput, *, drift_share: float):
    """Run Evidently's drift preset on ``data`` with every method pinned."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")
    from evidently import DataDefinition, Dataset
    from evidently import Report as EvidentlyReport
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    def of_kind(kind: str) -> list[str]:
        return [s.name for s in data.columns if s.kind == kind]

    definition = DataDefinition(
        numerical_columns=of_kind(NUM),
        categorical_columns=of_kind(CAT),
        text_columns=of_kind(TEXT),
    )
    share = data.share_columns
    metrics = [
        DataDriftPreset(
            columns=[s.name for s in share],
            per_column_method={s.name: s.method for s in share},
            per_column_threshold={s.name: s.threshold for s in share},
            drift_share=drift_share,
        )
    ] + [
        ValueDrift(column=s.name, method=s.method, threshold=s.threshold)
        for s in data.other_columns
    ]
    return EvidentlyReport(metrics).run(
        Dataset.from_pandas(data.current, data_definition=definition),
        Dataset.from_pandas(data.reference, data_definition=definition),
    )


def evidently_verdicts(snapshot) -> dict:
    """Evidently's own figures from a snapshot: drifted count and share of
    the preset's columns, and each column's score."""
    out: dict = {"drifted": None, "share": None, "scores": {}}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        kind = config.get("type", "")
        if kind.endswith("DriftedColumnsCount"):
            out["drifted"] = int(metric["value"]["count"])
            out["share"] = float(metric["value"]["share"])
        elif kind.endswith("ValueDrift"):
            out["scores"][config["column"]] = {
                "score": float(metric["value"]),
                "method": config.get("method"),
                "threshold": config.get("threshold"),
            }
    return out


def _header(report: Report, data: EvidentlyInput, summary: dict, seen: dict) -> str:
    """The bar above Evidently's page: what it shows, the verdict of record,
    and the way back to the report."""
    share = summary.get("feature_drift", {})
    url = reverse("monitoring:report-detail", kwargs={"pk": report.pk})
    ref_text, cur_text = data.text_rows
    texts = [s.name for s in data.columns if s.kind == TEXT]
    verdict = (
        f"{share.get('drifted', 0)} of {share.get('columns', 0)} feature and "
        f"descriptor columns drifted ({share.get('share', 0):.0%}, limit "
        f"{share.get('limit', 0):.0%})"
    )
    agree = seen.get("drifted") == share.get("drifted")
    note = (
        "Evidently's count below agrees."
        if agree
        else f"Evidently counts {seen.get('drifted')} drifted below; the "
        "report's verdict is the one its alerts and e-mails use."
    )
    sample = (
        f"; text columns ({', '.join(texts)}) on the report's samples of "
        f"{ref_text:,} reference and {cur_text:,} window rows"
        if texts
        else ""
    )
    e = html.escape
    return (
        '<header id="modelgate-report-header" style="font:15px/1.45 system-ui,'
        "-apple-system,'Segoe UI',Roboto,sans-serif;background:#fff;color:#1d2433;"
        'border-bottom:1px solid #dde1ea;padding:.7rem 1.5rem;">'
        f'<a href="{e(url)}" style="color:#3657d6;font-weight:600;'
        f'text-decoration:none;">← Report #{report.pk}</a> '
        f"<span>· {e(report.model_name)} v{summary.get('model', {}).get('version')}"
        f" · window {report.window_start:%Y-%m-%d %H:%M}–"
        f"{report.window_end:%H:%M} UTC</span><br>"
        "<span>Evidently's view of this report: the same "
        f"{len(data.share_columns)} feature and descriptor columns with the same "
        f"pinned methods and thresholds, on the same rows "
        f"({len(data.reference):,} reference, {len(data.current):,} window{e(sample)})"
        f"; prediction and label drift apart, as in the report.</span><br>"
        f"<strong>Verdict of record: {e(verdict)}.</strong> {e(note)}"
        "</header>"
    )


def _favicon() -> str:
    try:
        return f'<link rel="icon" href="{static("favicon.svg")}">'
    except ValueError:  # static files not collected where the worker runs
        return ""


def html_report_write(
    *,
    report: Report,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: ReportConfig,
    summary: dict,
) -> str:
    """Evidently's HTML of a computed report, with a header linking back to
    the report, saved in the shared storage (the "default" storage, which the
    web hosts serve it from); returns its name there."""
    data = evidently_input(reference, current, config, summary)
    snapshot = evidently_snapshot(data, drift_share=config.drift_share_limit)
    seen = evidently_verdicts(snapshot)
    if seen["drifted"] != summary.get("feature_drift", {}).get("drifted"):
        logger.warning(
            "report %s: Evidently counts %s drifted columns, the report %s",
            report.pk,
            seen["drifted"],
            summary.get("feature_drift", {}).get("drifted"),
        )
    page = snapshot.get_html_str(as_iframe=False)
    body = re.search(r"<body[^>]*>", page)
    at = body.end() if body else 0
    page = page[:at] + _header(report, data, summary, seen) + page[at:]
    page = page.replace("</head>", _favicon() + "</head>", 1)
    name = f"{REPORTS_FOLDER}/report-{report.pk}.html"
    # a report computed again replaces its page (a storage would otherwise
    # keep the old one and pick a new name beside it)
    default_storage.delete(name)
    return default_storage.save(name, ContentFile(page.encode("utf-8")))
