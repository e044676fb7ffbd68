"""The training pipeline's ``export`` stage: the ONNX export of the fitted
pipeline and its parity test on the held-out split.

Its outcome is the version's *edge export status*, recorded apart from the
model tests: a version whose export fails, or whose export disagrees with
scikit-learn, is registered and served online as usual; only the edge channel
refuses it (with the reason).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.config import TrainConfig
from trainer.onnx_export import ExportError, OnnxExport, onnx_export, onnx_parity

logger = logging.getLogger(__name__)

#: Run artifacts of the export (under the run's artifact root).
EDGE_ARTIFACT_DIR = "edge"
EDGE_MODEL_FILE = "model.onnx"
EDGE_META_FILE = "export.json"


class EdgeStatus:
    PASSED = "passed"  # exported, parity test passed: served to the edge
    FAILED = "failed"  # export or parity failed: online only
    SKIPPED = "skipped"  # edge.export is false


@dataclass
class Exported:
    """The export stage's outcome."""

    status: str
    reason: str = ""
    export: OnnxExport | None = None
    parity: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        """What the edge channel and the version's page show (export.json)."""
        out: dict[str, Any] = {"status": self.status, "reason": self.reason}
        if self.export is not None:
            out.update(
                sha256=self.export.sha256,
                opset=self.export.opset,
                bytes=len(self.export.model),
                inputs=self.export.inputs,
                labels=self.export.labels,
            )
        out["parity"] = self.parity
        return out

    def tags(self) -> dict[str, str]:
        """Model-version tags: the status apart from ``modelgate.tests``."""
        tags = {"modelgate.edge.status": self.status}
        if self.reason:
            tags["modelgate.edge.reason"] = self.reason[:500]
        if self.export is not None:
            tags["modelgate.edge.sha256"] = self.export.sha256
            tags["modelgate.edge.opset"] = str(self.export.opset)
            tags["modelgate.edge_artifact"] = f"{EDGE_ARTIFACT_DIR}/{EDGE_MODEL_FILE}"
        return tags

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        model = folder / EDGE_MODEL_FILE
        if self.export is not None:
            model.write_bytes(self.export.model)
        elif model.exists():
            model.unlink()
        (folder / EDGE_META_FILE).write_text(json.dumps(self.meta(), indent=2))

    @classmethod
    def load(cls, folder: Path) -> Exported:
        meta = json.loads((folder / EDGE_META_FILE).read_text())
        export = None
        model = folder / EDGE_MODEL_FILE
        if model.exists():
            export = OnnxExport(
                model=model.read_bytes(),
                opset=meta["opset"],
                inputs=meta["inputs"],
                labels=meta["labels"],
            )
        return cls(meta["status"], meta["reason"], export, meta.get("parity", {}))


def stage_export(config: TrainConfig, prepared, fitted, progress) -> Exported:
    """Export the fitted pipeline to ONNX and test it against scikit-learn on
    the held-out split (thresholds: ``edge.parity``). Never raises for an
    unexportable model: the outcome says why."""
    if not config.edge.export:
        progress("edge export: skipped (edge.export is false)")
        return Exported(EdgeStatus.SKIPPED, "edge.export is false in the configuration")
    try:
        export = onnx_export(
            fitted.model,
            feature_columns=prepared.feature_columns,
            text_columns=list(config.data.text_columns),
        )
    except ExportError as exc:
        progress(f"edge export FAILED: {exc}")
        logger.warning("ONNX export of %s failed: %s", config.model.pipeline, exc)
        return Exported(EdgeStatus.FAILED, f"export: {exc}")
    bounds = config.edge.parity
    report = onnx_parity(
        export,
        fitted.model,
        prepared.split.X_test[prepared.feature_columns],
        min_label_agreement=bounds.min_label_agreement,
        max_probability_diff=bounds.max_probability_diff,
    )
    summary = (
        f"{report.rows} held-out rows, labels equal {report.label_agreement:.2%} "
        f"(want >= {bounds.min_label_agreement:.2%}), largest probability "
        f"difference {report.max_probability_diff:.2e} "
        f"(want <= {bounds.max_probability_diff:.0e})"
    )
    parity = {
        **report.as_dict(),
        "min_label_agreement": bounds.min_label_agreement,
        "max_probability_diff_allowed": bounds.max_probability_diff,
    }
    if not report.passed:
        progress(f"edge export FAILED the parity test: {summary}")
        return Exported(EdgeStatus.FAILED, f"parity: {summary}", export, parity)
    progress(
        f"edge export: ONNX opset {export.opset}, {len(export.model) / 1e6:.2f} MB, "
        f"sha256 {export.sha256[:12]}; parity passed: {summary}"
    )
    return Exported(EdgeStatus.PASSED, "", export, parity)
