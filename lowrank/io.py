"""Saving and loading models: one ``.npz`` holding every parameter block and a
JSON metadata entry. No pickle: files are safe to open from anyone.

Format history
--------------
1: blocks of ``Params`` under their names, ``__metadata__`` JSON with
   ``format_version``, ``library_version``, ``options``, ``seed``, ``extra``.
2: adds the optional ``noise_basis`` (D, D) array (correlated observation
   noise). Files without it load as diagonal-noise models, so version-1
   files read unchanged; files that have it are written as version 2, so
   a lowrank that cannot honour it refuses them instead of dropping it.
"""
from __future__ import annotations

import json
import os

import numpy as np

from ._version import __version__
from .model.options import ModelOptions
from .model.params import BLOCKS, Params

FORMAT_VERSION = 2
_BASIS = "noise_basis"
_META = "__metadata__"


def save_model(model, path, extra=None):
    path = os.fspath(path)
    arrays = {k: np.asarray(getattr(model.params, k)) for k in BLOCKS}
    extra = dict(extra or {})
    for k, v in extra.items():
        arrays[f"extra/{k}"] = np.asarray(v)
    basis = getattr(model, "noise_basis", None)
    if basis is not None:
        arrays[_BASIS] = np.asarray(basis, dtype=np.float64)
    # Version 1 whenever it describes the model fully, so older lowrank versions still read it.
    meta = {"format_version": FORMAT_VERSION if basis is not None else 1, "library_version": __version__,
            "options": model.options.to_dict(), "seed": _jsonable_seed(model.seed),
            "extra": sorted(extra)}
    arrays[_META] = np.array(json.dumps(meta))
    # np.savez appends .npz to names without it; write to the exact path the user gave.
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _jsonable_seed(seed):
    return int(seed) if isinstance(seed, (int, np.integer)) else None


def read_metadata(path):
    """The JSON metadata of a saved model, as a dict."""
    with np.load(os.fspath(path), allow_pickle=False) as f:
        if _META not in f.files:
            raise ValueError(f"{path} is not a lowrank model file: it has no {_META} entry")
        return json.loads(str(f[_META][()]))


def load_model(path, cls=None, with_extra=False):
    """Load a model; ``with_extra=True`` also returns the dict of extra arrays."""
    if cls is None:
        from .model.rnn import LowRankRNN as cls
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    try:
        f = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable .npz model file ({exc})") from None
    with f:
        if _META not in f.files:
            raise ValueError(f"{path} is not a lowrank model file: it has no {_META} entry")
        meta = json.loads(str(f[_META][()]))
        version = meta.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(
                f"{path} has model format version {version}, newer than this lowrank "
                f"{__version__} reads (up to {FORMAT_VERSION}); upgrade lowrank")
        missing = [k for k in BLOCKS if k not in f.files]
        if missing:
            raise ValueError(f"{path} is missing parameter arrays {missing}")
        options = ModelOptions.from_dict(meta["options"])
        params = Params(**{k: np.array(f[k], dtype=np.float64) for k in BLOCKS})
        basis = np.array(f[_BASIS], dtype=np.float64) if _BASIS in f.files else None
        extra = {k[len("extra/"):]: np.array(f[k]) for k in f.files if k.startswith("extra/")}
    model = cls.from_params(params, options, seed=meta.get("seed"), noise_basis=basis)
    return (model, extra) if with_extra else model
