"""The model card: a markdown page logged with every version."""

from __future__ import annotations

from typing import Any

from core.metric_names import METRIC_LABELS, metric_label
from trainer.config import TrainConfig


def model_card(
    *,
    config: TrainConfig,
    data_report: dict[str, Any],
    split_counts: dict[str, int],
    metrics: dict[str, Any],
    tests: dict[str, Any],
) -> str:
    card = config.card
    lines = [
        f"# {card.title}",
        "",
        f"Registered model `{config.mlflow.registered_model}`, pipeline "
        f"`{config.model.pipeline}`: {config.model.active.description}",
        "",
        "## Intended use",
        card.intended_use.strip(),
        "",
        "## Data",
        card.data_source.strip() or "(not described)",
        "",
        f"- rows read: {data_report['rows_read']}, used: {data_report['rows_used']}",
        f"- labels: {data_report['label_counts']}",
        f"- duplicates: {data_report['duplicates']} "
        f"({data_report['duplicates_dropped']} dropped)",
        f"- split: {split_counts['train']} train / {split_counts['test']} test "
        f"(test_size {config.split.test_size}, seed {config.split.random_state}, "
        f"stratified: {config.split.stratify})",
        f"- data sha256: `{data_report['sha256']}`",
        "",
        "## Metrics on the held-out split",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [
        f"| {metric_label(m)} | {metrics[m]:.4f} |"
        for m in METRIC_LABELS
        if m in metrics
    ]
    matrix = metrics.get("confusion_matrix")
    if matrix:
        labels = matrix["labels"]
        lines += ["", "Confusion matrix (rows: true, columns: predicted)", ""]
        lines += ["| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        lines += [
            f"| **{label}** | " + " | ".join(str(v) for v in row) + " |"
            for label, row in zip(labels, matrix["matrix"], strict=True)
        ]
    lines += ["", f"## Model tests: {'passed' if tests['passed'] else 'FAILED'}", ""]
    lines += [
        f"- {'✔' if r['passed'] else '✘'} {r['name']}: {r['detail']}"
        for r in tests["results"]
    ]
    lines += ["", "## Limitations", card.limitations.strip(), ""]
    return "\n".join(lines)
