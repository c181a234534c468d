"""Checks at the public boundary, with one exception policy for the whole library.

- ``TypeError``: the argument has the wrong type (a string where a number
  was expected, a float where an integer was, a complex or text array);
- ``ValueError``: the type is right but the value is not (out of range,
  wrong shape, NaN, an unknown choice).

Every message names the argument, what was expected and what was found.
Modules do not keep their own copies of these checks.
"""
from __future__ import annotations

import math
import numbers

import numpy as np


def as_float_array(name, x, ndims, last_dim=None, last_dim_name=None, shape_desc=None):
    """``x`` as a C-contiguous float64 array whose ndim is one of ``ndims`` (None: any).

    Raises TypeError for non-numeric input, ValueError for a wrong ndim, a
    wrong trailing dimension, or NaN/inf values. ``shape_desc`` (e.g.
    ``"(n_units, R)"``) is quoted in the messages.
    """
    of_shape = f" of shape {shape_desc}" if shape_desc else ""
    if x is None:
        raise TypeError(f"{name} must be an array{of_shape}; got None")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array of real numbers{of_shape}; got {type(x).__name__} ({exc})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be an array of real numbers; got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real; got complex dtype {arr.dtype}")
    if ndims is not None and arr.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be a {want} array{of_shape}; got an array of shape {arr.shape}")
    if last_dim is not None and arr.shape[-1] != last_dim:
        what = f" ({last_dim_name}={last_dim})" if last_dim_name else ""
        raise ValueError(f"{name} must have {last_dim} values in its last axis{what}; got shape {arr.shape}")
    arr = np.asarray(arr, dtype=np.float64, order="C")      # keeps 0-d scalars 0-d
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or inf (first at index {tuple(int(i) for i in bad)})")
    return arr


def check_mask(name, mask, shape):
    """A missing-data mask as a bool array of ``shape`` (True where observed).

    It may be anything that broadcasts to ``shape``: ``(D,)`` leaves out whole
    channels, ``(T, D)`` the same bins of every trial. Booleans, or numbers
    that are all 0 or 1, with at least one True.
    """
    try:
        m = np.asarray(mask)
    except Exception as exc:
        raise TypeError(f"{name} must be an array of booleans (True where observed); got {type(mask).__name__} "
                        f"({exc})") from None
    if m.dtype != bool:
        if not np.issubdtype(m.dtype, np.number) or not np.all((m == 0) | (m == 1)):
            raise TypeError(f"{name} must hold booleans (True where observed), or only 0 and 1; got dtype {m.dtype}")
        m = m != 0
    if m.size and not m.any():
        raise ValueError(f"{name} marks nothing as observed (every entry is False): there is no data to use")
    try:
        return np.broadcast_to(m, shape)
    except ValueError:
        raise ValueError(f"{name} of shape {m.shape} does not broadcast to the data's shape {tuple(shape)}") from None


def check_counts(name, y):
    """Poisson observations: non-negative integers (float arrays holding integers are fine)."""
    if np.any(y < 0):
        raise ValueError(f"{name} must hold non-negative counts for a Poisson likelihood; found minimum {y.min()}")
    if np.any(y != np.round(y)):
        bad = y[y != np.round(y)].flat[0]
        raise ValueError(f"{name} must hold integer counts for a Poisson likelihood; found non-integer value {bad}")


def check_observations(y, opts, name="y"):
    """Observations as (n_trials, T, D) float64. A (T, D) array is one trial."""
    y = as_float_array(name, y, (2, 3), opts.n_obs, "n_obs")
    if y.ndim == 2:
        y = y[None]
    if y.shape[1] < 1:
        raise ValueError(f"{name} must have at least one time step; got shape {y.shape}")
    if opts.likelihood == "poisson":
        check_counts(name, y)
    return y


def check_inputs(inputs, opts, n_trials, n_steps, name="inputs"):
    """Inputs as (n_trials, T, U) float64, or an empty (n_trials, T, 0) array when U = 0."""
    U = opts.n_inputs
    if inputs is None:
        if U > 0:
            raise ValueError(f"{name} are required: the model has n_inputs={U}; got None")
        return np.zeros((n_trials, n_steps, 0))
    if U == 0:
        raise ValueError(f"{name} were given but the model has n_inputs=0")
    u = as_float_array(name, inputs, (2, 3), U, "n_inputs")
    if u.ndim == 2:
        u = np.broadcast_to(u[None], (n_trials,) + u.shape).copy()
    if u.shape[0] != n_trials:
        raise ValueError(f"{name} must have {n_trials} trials to match; got shape {u.shape}")
    if u.shape[1] != n_steps:
        raise ValueError(f"{name} must have {n_steps} time steps to match the data; got {u.shape[1]} (shape {u.shape})")
    return u


def check_int(name, value, minimum=None, *, allow_none=False):
    """``value`` as an ``int`` (``None`` passes with ``allow_none``); bool is not an integer."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer{_or_none(allow_none)}; got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def check_positive_int(name, value, minimum=1, *, allow_none=False):
    """An integer ``>= minimum`` (1 by default)."""
    return check_int(name, value, minimum, allow_none=allow_none)


def check_float(name, value, *, low=None, high=None, low_open=False, high_open=False, allow_none=False):
    """``value`` as a finite ``float`` in the given bounds (``None`` passes with ``allow_none``)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number{_or_none(allow_none)}; got {type(value).__name__} {value!r}")
    v = float(value)
    bad = not math.isfinite(v)
    bad = bad or (low is not None and (v <= low if low_open else v < low))
    bad = bad or (high is not None and (v >= high if high_open else v > high))
    if bad:
        raise ValueError(f"{name} must be a finite number{_bounds(low, high, low_open, high_open)}; got {value!r}")
    return v


def check_positive_float(name, value, *, allow_none=False):
    """A finite number ``> 0``."""
    return check_float(name, value, low=0.0, low_open=True, allow_none=allow_none)


def check_nonneg_float(name, value, *, allow_none=False):
    """A finite number ``>= 0``."""
    return check_float(name, value, low=0.0, allow_none=allow_none)


def check_choice(name, value, valid):
    """``value`` if it is one of the strings ``valid``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {list(valid)}; got {type(value).__name__} {value!r}")
    if value not in valid:
        raise ValueError(f"{name} must be one of {list(valid)}; got {value!r}")
    return value


def check_bool(name, value):
    """``True`` or ``False`` (numpy booleans too), nothing else."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {type(value).__name__} {value!r}")
    return bool(value)


def json_seed(seed):
    """A seed as JSON can store it: an int, or None for anything else (a Generator, None)."""
    return int(seed) if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) else None


def _or_none(allow_none):
    return " or None" if allow_none else ""


def _bounds(low, high, low_open, high_open):
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""
