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
3: adds the ``enc`` block (the encoder proposal's network) and the
   ``encoder`` entry of the options. Files of models without an encoder
   have neither and are still written as version 1 or 2; earlier files load
   as models without an encoder.

Reading
-------
Files are read defensively: every failure to read one (missing, a folder,
empty, truncated, a corrupt zip entry, foreign content, metadata that is
not a JSON object, arrays whose shapes do not match the options, parameters
that are NaN or inf) raises
``ValueError`` naming the file (``FileNotFoundError`` when there is none).
Each array's shape and dtype are read from its ``.npy`` header and checked
before its data is, so a damaged or hostile file cannot make lowrank
allocate more than the file could hold. :func:`read_npy` and
:func:`open_npz` give the same guarantees for data files.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from typing import NamedTuple, Optional

import numpy as np

from ._checks import json_seed
from ._files import atomic_write
from ._version import __version__
from .model.options import ModelOptions
from .model.params import BLOCKS, Params, block_shapes

__all__ = ["ModelFile", "save_model", "read_model", "read_metadata", "read_npy", "open_npz", "NpzArchive",
           "FORMAT_VERSION", "provenance_of"]

FORMAT_VERSION = 3
_BASIS = "noise_basis"
_META = "__metadata__"
_NPY_MAGIC = b"\x93NUMPY"
_MAX_META_BYTES = 64 << 20
# Deflate cannot compress by more than about 1032:1; a larger claimed ratio is a lie (or a zip bomb).
_MAX_DEFLATE_RATIO = 1100
_REAL_KINDS = "biuf"


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


def save_model(path, options, params, *, seed=None, noise_basis=None, extra=None, provenance=None):
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
    provenance : dict, optional
        JSON-ready record of the fit that made the model (settings, seed, data
        fingerprint, lowrank version; :mod:`lowrank.training.provenance`),
        stored under the metadata key ``provenance``. Readers ignore keys they
        do not know, so this needs no new format version.

    Raises
    ------
    ValueError
        A parameter block or the noise basis holds NaN or inf: :func:`read_model`
        would refuse the file, so it is not written (nothing is replaced).
    """
    arrays = {k: np.asarray(getattr(params, k)) for k in BLOCKS}
    for k in BLOCKS:
        _refuse_non_finite(path, f"parameter block {k!r}", arrays[k])
    if noise_basis is not None:
        _refuse_non_finite(path, "the noise basis", np.asarray(noise_basis, dtype=np.float64))
    extra = dict(extra or {})
    for k, v in extra.items():
        arrays[f"extra/{k}"] = np.asarray(v)
    if noise_basis is not None:
        arrays[_BASIS] = np.asarray(noise_basis, dtype=np.float64)
    # The lowest version that describes the model fully, so older lowrank versions still read it.
    version = 3 if options.encoder is not None else 2 if noise_basis is not None else 1
    if options.encoder is None:
        del arrays["enc"]
    meta = {"format_version": version, "library_version": __version__,
            "options": options.to_dict(), "seed": json_seed(seed), "extra": sorted(extra)}
    if provenance is not None:
        meta["provenance"] = provenance
    arrays[_META] = np.array(json.dumps(meta))
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def _refuse_non_finite(path, what, arr):
    msg = _non_finite(what, arr)
    if msg:
        raise ValueError(f"{os.fspath(path)}: not written: {msg}; such a model could not be loaded back")


# ---- reading arrays without trusting the file ------------------------------------------------------

def _check_file(path, what):
    if not os.path.exists(path):
        raise FileNotFoundError(f"no {what} at {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a {what}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path} is empty, not a {what}")


def _read_header(fh, where):
    """(shape, dtype, fortran_order) from the ``.npy`` header at the start of ``fh``."""
    start = fh.read(len(_NPY_MAGIC))
    if start != _NPY_MAGIC:
        raise ValueError(f"{where} is not a .npy array (it does not start with the .npy magic string)")
    version = tuple(fh.read(2))
    try:
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except ValueError as exc:
        raise ValueError(f"{where} has an unreadable .npy header ({exc})") from None
    if dtype.hasobject:
        raise ValueError(f"{where} holds Python objects (pickled data), which lowrank never loads")
    if dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"{where} is a structured array ({dtype}), not a plain numeric array")
    return tuple(int(s) for s in shape), dtype, fortran


def _nbytes(shape, dtype):
    return math.prod(shape) * dtype.itemsize


def _read_data(fh, shape, dtype, fortran, available, where):
    """The array data after a header, refusing before allocating if the file cannot hold it."""
    need = _nbytes(shape, dtype)
    if need > available:
        raise ValueError(f"{where} is truncated or corrupt: its header declares a {dtype} array of shape "
                         f"{shape} ({need} bytes) but only {max(available, 0)} bytes follow")
    if need == 0:
        return np.zeros(shape, dtype=dtype)
    buf = bytearray(need)
    view, got = memoryview(buf), 0
    while got < need:
        n = fh.readinto(view[got:])
        if not n:
            raise ValueError(f"{where} is truncated: expected {need} bytes of array data, found {got}")
        got += n
    arr = np.frombuffer(buf, dtype=dtype)
    return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)


def read_npy(path, what=".npy array file"):
    """Read a ``.npy`` file (no pickle), raising ValueError with a clear message when it is not one.

    Empty, truncated and foreign files (text named ``.npy``, pickles) are refused before any
    array is allocated.
    """
    path = os.fspath(path)
    _check_file(path, what)
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        try:
            shape, dtype, fortran = _read_header(fh, path)
        except ValueError as exc:
            if "magic string" in str(exc):
                raise ValueError(f"{path} is not a {what} (it does not start with the .npy magic string)") from None
            raise
        return _read_data(fh, shape, dtype, fortran, size - fh.tell(), path)


class NpzArchive:
    """A ``.npz`` archive opened for careful reading (:func:`open_npz`).

    ``files`` lists the array names (as ``np.load`` does); :meth:`header`
    gives an entry's shape and dtype without reading its data; :meth:`read`
    reads it after checking that the archive can hold what the header
    declares (and, optionally, that shape and dtype are as expected). Every
    failure is a ValueError naming the file and the entry.
    """

    def __init__(self, path, what=".npz file"):
        self.path, self.what = os.fspath(path), what
        _check_file(self.path, what)
        self._size = os.path.getsize(self.path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
            raise ValueError(f"{self.path} is not a {what}: it is not a readable .npz (zip) archive ({exc})") from None
        self._info = {i.filename[:-4]: i for i in self._zip.infolist() if i.filename.endswith(".npy")}
        self.files = list(self._info)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._zip.close()

    def _where(self, name):
        return f"{self.path}: entry {name!r}"

    def _open(self, name):
        if name not in self._info:
            raise ValueError(f"{self.path} has no array {name!r} (found {self.files})")
        info, where = self._info[name], self._where(name)
        if info.compress_size > self._size or (
                info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size) or (
                info.file_size > _MAX_DEFLATE_RATIO * max(info.compress_size, 1) + (1 << 20)):
            raise ValueError(f"{where} is corrupt: its sizes in the zip directory are impossible "
                             f"({info.compress_size} bytes stored, {info.file_size} declared)")
        try:
            return self._zip.open(info), info, where
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ValueError(f"{where} is corrupt ({exc})") from None

    def header(self, name):
        """``(shape, dtype)`` of an entry, from its header only."""
        fh, _, where = self._open(name)
        with fh:
            try:
                shape, dtype, _ = _read_header(fh, where)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise ValueError(f"{where} is corrupt ({exc})") from None
        return shape, dtype

    def read(self, name, shape=None, kinds=None, max_bytes=None):
        """Read an entry; ``shape``/``kinds`` (dtype kind letters, e.g. ``"biuf"``) are checked first."""
        fh, info, where = self._open(name)
        with fh:
            try:
                got_shape, dtype, fortran = _read_header(fh, where)
                if shape is not None and got_shape != tuple(shape):
                    raise ValueError(f"{where} has shape {got_shape}; expected {tuple(shape)}")
                if kinds is not None and dtype.kind not in kinds:
                    raise ValueError(f"{where} has dtype {dtype}; expected a real numeric array")
                if max_bytes is not None and _nbytes(got_shape, dtype) > max_bytes:
                    raise ValueError(f"{where} is implausibly large ({_nbytes(got_shape, dtype)} bytes)")
                arr = _read_data(fh, got_shape, dtype, fortran, info.file_size - fh.tell(), where)
                fh.read()                                       # to the end, where the CRC is checked
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise ValueError(f"{where} is corrupt ({exc})") from None
        return arr


def open_npz(path, what=".npz file"):
    """Open a ``.npz`` archive for careful reading; use as a context manager (see :class:`NpzArchive`)."""
    return NpzArchive(path, what)


# ---- model files -----------------------------------------------------------------------------------

_WHAT = "lowrank model file"


def _read_meta(z):
    path = z.path
    if _META not in z.files:
        raise ValueError(f"{path} is not a {_WHAT}: it has no {_META} entry")
    raw = z.read(_META, kinds="US", max_bytes=_MAX_META_BYTES)
    if raw.ndim != 0:
        raise ValueError(f"{path} is not a {_WHAT}: its {_META} entry is not a single JSON string")
    try:
        meta = json.loads(str(raw[()]))
    except ValueError as exc:
        raise ValueError(f"{path} is not a {_WHAT}: its metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is not a {_WHAT}: its metadata is a JSON {type(meta).__name__}, not an object")
    return meta


def _check_version(meta, path):
    if "format_version" not in meta:
        raise ValueError(f"{path} is not a {_WHAT}: its metadata has no format_version")
    version = meta["format_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{path} has an invalid model format version {version!r} (expected an integer >= 1)")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format version {version}, newer than this lowrank "
            f"{__version__} reads (up to {FORMAT_VERSION}); upgrade lowrank")


def _options(meta, path):
    if "options" not in meta:
        raise ValueError(f"{path} is not a complete {_WHAT}: its metadata has no 'options'")
    if not isinstance(meta["options"], dict):
        raise ValueError(f"{path} has invalid model options: expected a JSON object, "
                         f"got {type(meta['options']).__name__}")
    try:
        return ModelOptions.from_dict(meta["options"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path} has invalid model options: {exc}") from None


def provenance_of(metadata):
    """The fit's provenance record of a model file's metadata (a dict), or None where there is none
    (files from fits before it was recorded, or not written by a fit) or it is not a JSON object."""
    prov = metadata.get("provenance") if isinstance(metadata, dict) else None
    return prov if isinstance(prov, dict) else None


def read_metadata(path):
    """The JSON metadata of a saved model, as a dict (ValueError if the file is not a model file)."""
    with open_npz(path, _WHAT) as z:
        return _read_meta(z)


def read_model(path) -> ModelFile:
    """Read a model file written by any earlier format version.

    Raises FileNotFoundError when there is no file, ValueError for anything
    else that makes it unreadable (see the module docstring), including a
    parameter block or noise basis holding NaN or inf (the message names the
    file and the block).
    """
    path = os.fspath(path)
    with open_npz(path, _WHAT) as z:
        meta = _read_meta(z)
        _check_version(meta, path)
        options = _options(meta, path)
        # Files from before the encoder (version < 3) have no ``enc``: an empty block.
        optional = {"enc"} if options.encoder is None else set()
        missing = [k for k in BLOCKS if k not in z.files and k not in optional]
        if missing:
            raise ValueError(f"{path} is missing parameter arrays {missing}")
        expected = {k: v for k, v in block_shapes(options).items() if k in z.files or k not in optional}
        if _BASIS in z.files:
            expected[_BASIS] = (options.n_obs, options.n_obs)
        # Every header first: nothing is allocated for a file whose shapes do not fit its options.
        for k, want in expected.items():
            shape, dtype = z.header(k)
            if shape != tuple(want):
                raise ValueError(f"{path}: array {k!r} has shape {shape}, but the model's options imply {tuple(want)}")
            if dtype.kind not in _REAL_KINDS:
                raise ValueError(f"{path}: array {k!r} has dtype {dtype}; expected real numbers")
        extra_names = [k for k in z.files if k.startswith("extra/")]
        for k in extra_names:
            z.header(k)
        params = Params(**{k: np.array(z.read(k), dtype=np.float64) if k in z.files else np.zeros(0)
                           for k in BLOCKS})
        basis = np.array(z.read(_BASIS), dtype=np.float64) if _BASIS in z.files else None
        extra = {k[len("extra/"):]: np.array(z.read(k)) for k in extra_names}
    for k in BLOCKS:
        _check_finite(path, f"parameter block {k!r}", getattr(params, k))
    if basis is not None:
        _check_finite(path, f"array {_BASIS!r}", basis)
    return ModelFile(options, params, json_seed(meta.get("seed")), basis, extra, meta)


def _check_finite(path, what, arr):
    """ValueError naming the file ``path`` and ``what`` when ``arr`` holds NaN or inf (first index quoted)."""
    msg = _non_finite(what, arr)
    if msg:
        raise ValueError(f"{path}: {msg}; the model file is damaged or was saved from a diverged fit")


def _non_finite(what, arr):
    """``"<what> contains NaN or inf (...)"`` with the count and the first bad index, or None."""
    bad = ~np.isfinite(arr)
    if not np.any(bad):
        return None
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{what} contains NaN or inf ({int(bad.sum())} of {arr.size} values, first {arr[first]} at index {first})"
