"""Decoding behaviour from latents: cross-validated ridge regression, in numpy.

:func:`decode` answers "how much of the behaviour do these latents carry,
linearly?" with an out-of-fold R² per behavioural variable, and returns the
decoder refitted on all the data.

- Features at step ``t`` are the latents at ``t − l`` for each lag ``l``
  (history for ``l > 0``), concatenated; steps whose history falls outside
  their trial are not used (and are NaN in predictions). An intercept is
  fitted and never penalised (features and targets are centred on the
  training data).
- Folds are contiguous blocks of trials (``numpy.array_split`` of the trial
  order, as scikit-learn's unshuffled ``KFold``): deterministic, and no
  trial is split between training and testing, so slow drifts and the
  autocorrelation within a trial cannot leak.
- ``alpha=None`` chooses, for each behavioural variable, the penalty with
  the best R² of an inner cross-validation over the training trials of each
  outer fold (and over all trials for the refitted decoder), from
  ``ALPHA_GRID`` times the features' mean variance per row (so the grid
  follows the latents' scale).
- R² is ``1 − SS_res / SS_tot`` over all out-of-fold predictions pooled,
  ``SS_tot`` about the mean of all used steps; NaN for a constant variable.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .._checks import as_float_array, check_float, check_int

__all__ = ["decode", "Decoder", "ALPHA_GRID"]

#: Ridge penalties tried when ``alpha=None``, relative to the features' mean variance times the rows.
ALPHA_GRID = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


class Decoder(NamedTuple):
    """What :func:`decode` returns: the cross-validated scores and the decoder refitted on all trials.

    Parameters
    ----------
    r2 : ndarray (B,)
        Cross-validated (out-of-fold) R² per behavioural variable.
    coef : ndarray (n_lags * R, B)
        Weights of the decoder refitted on all trials; rows are lag-major
        (the ``R`` latents at ``lags[0]``, then at ``lags[1]``, ...).
    intercept : ndarray (B,)
    alpha : ndarray (B,)
        The ridge penalty of the refitted decoder, per variable.
    lags : tuple of int
    predicted : same layout as ``behaviour``
        The out-of-fold predictions (NaN where a step lacks its history).

    Examples
    --------
    >>> z = np.random.default_rng(1).standard_normal((10, 40, 2))
    >>> dec = lowrank.metrics.decode(z, 3.0 * z[..., :1], cv=5)
    >>> dec.lags, dec.r2.round(3)
    ((0,), array([1.]))
    >>> np.allclose(dec.predict(z), 3.0 * z[..., :1], atol=1e-2)
    True
    """

    r2: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    alpha: np.ndarray
    lags: tuple
    predicted: object

    def predict(self, latents):
        """Behaviour predicted from ``latents`` (the layout :func:`decode` takes), NaN where history is missing."""
        trials, layout = _trials("latents", latents)
        R = self.coef.shape[0] // len(self.lags)
        if trials[0].shape[1] != R:
            raise ValueError(f"latents must have {R} columns (the decoder's latents); got {trials[0].shape[1]}")
        out = []
        for z in trials:
            X, rows = _features(z, self.lags)
            pred = np.full((len(z), self.coef.shape[1]), np.nan)
            pred[rows] = X @ self.coef + self.intercept
            out.append(pred)
        return _restore(out, layout)


def _trials(name, x):
    """Per-trial 2-D float64 arrays from (n_trials, T, C) or a list of (T_i, C), and the layout."""
    if isinstance(x, (list, tuple)):
        if len(x) == 0:
            raise ValueError(f"{name} is an empty list; give at least one trial")
        arrs = [as_float_array(f"{name}[{i}]", a, (2,), shape_desc="(T_i, C)") for i, a in enumerate(x)]
        C = {a.shape[1] for a in arrs}
        if len(C) > 1:
            raise ValueError(f"{name}: every trial must have the same number of columns; got {sorted(C)}")
        return arrs, "list"
    arr = as_float_array(name, x, (3,), shape_desc="(n_trials, T, C), or a list of (T_i, C) arrays")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no trials (shape {arr.shape})")
    return list(arr), "array"


def _restore(per_trial, layout):
    return np.stack(per_trial) if layout == "array" else per_trial


def _check_lags(lags):
    if isinstance(lags, (numbers.Integral, np.integer)) and not isinstance(lags, bool):
        return tuple(range(check_int("lags", lags, 0) + 1))
    if isinstance(lags, (list, tuple, np.ndarray)):
        vals = list(lags)
        if not vals or any(isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)) for v in vals):
            raise TypeError(f"lags must be a non-negative integer or a non-empty list of integers; got {lags!r}")
        if len(set(vals)) != len(vals):
            raise ValueError(f"lags lists a lag twice: {vals}")
        return tuple(int(v) for v in vals)
    raise TypeError(f"lags must be a non-negative integer or a list of integers; got {type(lags).__name__} {lags!r}")


def _features(z, lags):
    """(n_rows, n_lags * R) features of one trial and the steps they belong to."""
    T = len(z)
    lo, hi = max(max(lags), 0), T + min(min(lags), 0)        # steps whose every lag lies inside the trial
    rows = np.arange(lo, max(hi, lo))
    return np.concatenate([z[rows - lag] for lag in lags], axis=1) if rows.size else \
        np.zeros((0, z.shape[1] * len(lags))), rows


def _ridge_path(X, Y, alphas):
    """Ridge weights and intercepts for each alpha: (n_alpha, p, B), (n_alpha, B). Centred, intercept free."""
    xm, ym = X.mean(0), Y.mean(0)
    U, s, Vt = np.linalg.svd(X - xm, full_matrices=False)
    UtY = U.T @ (Y - ym)
    W = np.stack([Vt.T @ ((s / (s ** 2 + a))[:, None] * UtY) for a in alphas])
    return W, ym[None] - np.einsum("p,kpb->kb", xm, W)


def _r2(Y, P):
    ss_tot = np.sum((Y - Y.mean(0)) ** 2, axis=0)
    ss_res = np.sum((Y - P) ** 2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.nan)


def _folds(n, k):
    return np.array_split(np.arange(n), k)


def _stack(parts, idx, width):
    chosen = [parts[i] for i in idx]
    return np.concatenate(chosen) if chosen else np.zeros((0, width))


def _fit(Xs, Ys, idx, alphas, cv):
    """Ridge on the trials ``idx``: per-variable alpha by inner CV when there are several; (W, b, alpha)."""
    X, Y = _stack(Xs, idx, Xs[0].shape[1]), _stack(Ys, idx, Ys[0].shape[1])
    if len(alphas) == 1:
        W, b = _ridge_path(X, Y, alphas)
        return W[0], b[0], np.full(Y.shape[1], alphas[0])
    inner = [f for f in _folds(len(idx), min(cv, len(idx))) if f.size]
    sse = np.zeros((len(alphas), Y.shape[1]))
    for f in inner:
        train = np.setdiff1d(np.arange(len(idx)), f)
        Xt, Yt = _stack(Xs, idx[train], X.shape[1]), _stack(Ys, idx[train], Y.shape[1])
        Xv, Yv = _stack(Xs, idx[f], X.shape[1]), _stack(Ys, idx[f], Y.shape[1])
        if len(Xt) < 2 or len(Xv) == 0:
            continue
        W, b = _ridge_path(Xt, Yt, alphas)
        sse += np.sum((np.einsum("np,kpb->knb", Xv, W) + b[:, None] - Yv[None]) ** 2, axis=1)
    best = np.argmin(sse, axis=0)                          # the first (smallest) alpha on ties
    W, b = _ridge_path(X, Y, alphas)
    cols = np.arange(Y.shape[1])
    return W[best, :, cols].T, b[best, cols], np.asarray(alphas)[best]


def _check_pairs(zs, bs):
    if len(zs) != len(bs):
        raise ValueError(f"latents has {len(zs)} trials but behaviour has {len(bs)}; they must match")
    for i, (z, b) in enumerate(zip(zs, bs)):
        if len(z) != len(b):
            raise ValueError(f"trial {i}: latents has {len(z)} steps but behaviour has {len(b)}; they must match")


def decode(latents, behaviour, lags=0, cv=5, alpha=None):
    """Cross-validated linear (ridge) decoding of behaviour from latents.

    Parameters
    ----------
    latents : ndarray (n_trials, T, R) or list of (T_i, R) arrays
        E.g. ``model.posterior(y).smooth_mean``, or a teacher's true latents.
    behaviour : ndarray (n_trials, T, B) or list of (T_i, B) arrays
        The same trials and steps; no NaN (drop trials that have them).
    lags : int or list of int
        An int ``L >= 0`` uses the latents at ``t, t−1, ..., t−L`` for step
        ``t``; a list uses exactly those lags (negative: future latents).
    cv : int
        Number of folds, ``2 <= cv <= n_trials``; folds are contiguous blocks
        of trials.
    alpha : float >= 0, optional
        The ridge penalty; None chooses it per variable by inner
        cross-validation from ``ALPHA_GRID`` (see the module docstring).

    Returns
    -------
    Decoder
        ``r2`` (B,), ``coef`` (n_lags·R, B), ``intercept`` (B,), ``alpha``
        (B,), ``lags``, ``predicted`` (out of fold) and ``predict(latents)``.

    Raises
    ------
    TypeError, ValueError
        Naming the argument: wrong layouts, mismatched trials or steps, NaN,
        a bad ``lags``, ``cv`` or ``alpha``, too few usable steps.

    Examples
    --------
    Behaviour that is a linear read-out of the latents, plus a little noise, decodes with R² near 1:

    >>> rng = np.random.default_rng(0)
    >>> z = rng.standard_normal((20, 50, 2))                  # 20 trials, 50 steps, 2 latents
    >>> b = z @ np.array([[1.0], [-2.0]]) + 0.1 * rng.standard_normal((20, 50, 1))
    >>> dec = lowrank.decode(z, b, cv=5)
    >>> dec.r2.round(2), dec.coef.shape
    (array([1.]), (2, 1))
    >>> dec.predict(z[:2]).shape
    (2, 50, 1)
    """
    zs, _ = _trials("latents", latents)
    bs, layout = _trials("behaviour", behaviour)
    _check_pairs(zs, bs)
    lags = _check_lags(lags)
    cv = check_int("cv", cv, 2)
    if cv > len(zs):
        raise ValueError(f"cv must be at most the number of trials ({len(zs)}): folds hold whole trials; got {cv}")
    alpha = check_float("alpha", alpha, low=0.0, allow_none=True)
    feats = [_features(z, lags) for z in zs]
    Xs = [X for X, _ in feats]
    Ys = [b[rows] for b, (_, rows) in zip(bs, feats)]
    n_rows = sum(len(X) for X in Xs)
    if n_rows < 2 * Xs[0].shape[1] + 2:
        raise ValueError(f"too few steps with their full history ({n_rows}) for {Xs[0].shape[1]} features: give "
                         f"longer or more trials, or fewer lags")
    if alpha is None:
        X = np.concatenate(Xs)
        scale = float(np.mean(np.var(X, axis=0))) * len(X)
        alphas = tuple(g * (scale if scale > 0 else 1.0) for g in ALPHA_GRID)
    else:
        alphas = (alpha,)
    n = len(zs)
    pred = [np.full(b.shape, np.nan) for b in bs]
    for f in _folds(n, cv):
        train = np.setdiff1d(np.arange(n), f)
        W, b, _ = _fit(Xs, Ys, train, alphas, cv)
        for i in f:
            pred[i][feats[i][1]] = Xs[i] @ W + b
    Y = np.concatenate(Ys)
    P = np.concatenate([p[rows] for p, (_, rows) in zip(pred, feats)])
    W, b, a = _fit(Xs, Ys, np.arange(n), alphas, cv)
    return Decoder(r2=_r2(Y, P), coef=W, intercept=b, alpha=a, lags=lags, predicted=_restore(pred, layout))
