"""Where a fitted model came from: the resolved fit settings, the seed, a fingerprint of the
data and the lowrank version (docs/design.md §2). :func:`lowrank.training.fit` puts this
record on the model (``model.provenance_``) before it starts, so every model file a fit
writes, including that of a failed or interrupted fit, carries it in its metadata
(``lowrank.io``, key ``provenance``); ``lowrank info`` shows it. Files without it still load.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .._checks import json_seed
from .._version import __version__

__all__ = ["data_fingerprint", "fit_provenance"]


def data_fingerprint(y):
    """``{"sha256", "shape"}`` of an array (as float64, C order) or of a list of arrays (one hash,
    the shapes listed); the hash covers each array's shape and bytes."""
    arrays = list(y) if isinstance(y, (list, tuple)) else [y]
    h = hashlib.sha256()
    shapes = []
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
        shapes.append(list(a.shape))
    return {"sha256": h.hexdigest(), "shape": shapes if isinstance(y, (list, tuple)) else shapes[0]}


def fit_provenance(settings, seed, y, inputs=None, y_val=None):
    """The JSON-ready record of a fit (``settings`` the resolved :class:`FitSettings`)."""
    resolved = settings.trajectory()
    resolved.update(n_epochs=settings.n_epochs, batches_per_epoch=settings.batches_per_epoch,
                    restore_best=settings.restore_best, on_nonfinite=settings.on_nonfinite,
                    checkpoint_every=settings.checkpoint_every)
    data = {"y": data_fingerprint(y)}
    if inputs is not None:
        data["inputs"] = data_fingerprint(inputs)
    if y_val is not None:
        data["y_val"] = data_fingerprint(y_val)
    return {"settings": resolved, "seed": json_seed(seed), "data": data, "lowrank_version": __version__}
