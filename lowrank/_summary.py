"""Short one-line summaries of result containers (key numbers and array shapes, never raw arrays)."""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["short", "summary"]


def short(value):
    """A short text for one field: arrays by shape and dtype, numbers to 4 significant digits.

    Parameters
    ----------
    value : object
        An ndarray becomes ``<array (T, D)>`` (``<int64 array (D,)>`` when
        not float64); a real
        number ``-1.235``; anything else its ``repr`` (a nested result's own
        summary).
    """
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return short(value.item())
        kind = "" if value.dtype == np.float64 else f"{value.dtype} "
        return f"<{kind}array {value.shape}>"
    if isinstance(value, (bool, np.bool_)) or isinstance(value, numbers.Integral):
        return repr(value) if isinstance(value, bool) else str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    return repr(value)


def summary(obj, fields=None, **key_numbers):
    """``Name(field=..., ...)`` for a result ``obj``, each field by :func:`short`.

    Parameters
    ----------
    obj : NamedTuple
        The result; ``fields`` (default: all of ``obj._fields``) are shown.
    **key_numbers
        Derived numbers shown first (e.g. ``n_iter=200``).
    """
    names = obj._fields if fields is None else fields
    parts = [f"{k}={short(v)}" for k, v in key_numbers.items()]
    parts += [f"{k}={short(getattr(obj, k))}" for k in names]
    return f"{type(obj).__name__}({', '.join(parts)})"
