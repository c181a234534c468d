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
from typing import NamedTuple, Optional

import numpy as np

from ._files import atomic_write
from ._version import __version__
from .model.options import ModelOptions
from .model.params import BLOCKS, Params

FORMAT_VERSION = 2
_BASIS = "noise_basis"
_META = "__metadata__"


class ModelFile(NamedTuple):
    """What a model file holds (:func:`read_model`).

    Attributes
    ----------
    options : ModelOptions
    params : Params
    seed : int or None
    noise_basis : ndarray (D, D) or None
    extra : dict of str -> ndarray
        Arrays stored under ``extra/<name>`` (history, checkpoint state).
    metadata : dict
        The decoded JSON metadata.
    """

    options: ModelOptions
    params: Params
    seed: Optional[int]
    noise_basis: Optional[np.ndarray]
    extra: dict
    metadata: dict


def save_model(path, options, params, *, seed=None, noise_basis=None, extra=None):
    """Write a model file atomically (see the module docstring for the format).

    Parameters
    ----------
    path : str or PathLike
        Written exactly as given (no ``.npz`` appended).
    options : ModelOptions
    params : Params
    seed : int or None
    noise_basis : ndarray (D, D), optional
    extra : dict of str -> ndarray, optional
    """
    arrays = {k: np.asarray(getattr(params, k)) for k in BLOCKS}
    extra = dict(extra or {})
    for k, v in extra.items():
        arrays[f"extra/{k}"] = np.asarray(v)
    if noise_basis is not None:
        arrays[_BASIS] = np.asarray(noise_basis, dtype=np.float64)
    # Version 1 whenever it describes the model fully, so older lowrank versions still read it.
    meta = {"format_version": FORMAT_VERSION if noise_basis is not None else 1, "library_version": __version__,
            "options": options.to_dict(), "seed": _jsonable_seed(seed), "extra": sorted(extra)}
    arrays[_META] = np.array(json.dumps(meta))
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def _jsonable_seed(seed):
    return int(seed) if isinstance(seed, (int, np.integer)) else None


def read_metadata(path):
    """The JSON metadata of a saved model, as a dict."""
    with np.load(os.fspath(path), allow_pickle=False) as f:
        if _META not in f.files:
            raise ValueError(f"{path} is not a lowrank model file: it has no {_META} entry")
        return json.loads(str(f[_META][()]))


def read_model(path) -> ModelFile:
    """Read a model file written by any earlier format version."""
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
    return ModelFile(options, params, meta.get("seed"), basis, extra, meta)
