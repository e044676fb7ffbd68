"""The models this process serves, by concern:

- ``lookup``: the per-process cache (by version and by alias), alias
  watching and swaps, warm-up;
- ``served``: a loaded version and its predict paths (raw estimator, the
  verified fast paths, pyfunc), built from a local copy;
- ``local``: the machine's local copy of versions and its ``aliases.json``;
- ``locks``: the watcher's lease, the per-version download lock, short GIL
  turns while downloading;
- ``errors``: why a model cannot be served.
"""

from inference.serving.errors import ModelNotFound, ModelUnavailable, NoSignature
from inference.serving.lookup import (
    ModelCache,
    model_cache,
    reset_model_cache,
    warm_up,
)
from inference.serving.served import Predictions, ServedModel

__all__ = [
    "ModelCache",
    "ModelNotFound",
    "ModelUnavailable",
    "NoSignature",
    "Predictions",
    "ServedModel",
    "model_cache",
    "reset_model_cache",
    "warm_up",
]
