"""Serve Plotly's bundle from the installed ``plotly`` package as the static
file ``vendor/plotly.min.js``, so dashboards need no CDN and the version
always matches the Python package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

STATIC_PATH = "vendor/plotly.min.js"


def plotly_bundle() -> Path | None:
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data"
    path = path / "plotly.min.js"
    return path if path.is_file() else None


class _VendorStorage(FileSystemStorage):
    """Storage whose root holds only the bundle, exposed under ``vendor/``."""

    def __init__(self, bundle: Path) -> None:
        super().__init__(location=str(bundle.parent))
        self.prefix = "vendor"
        self.bundle = bundle


class PlotlyFinder(BaseFinder):
    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        bundle = plotly_bundle()
        if path != STATIC_PATH or bundle is None:
            return [] if find_all else None
        return [str(bundle)] if find_all else str(bundle)

    def list(self, ignore_patterns):
        bundle = plotly_bundle()
        if bundle is not None:
            yield bundle.name, _VendorStorage(bundle)
