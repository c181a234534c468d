"""State-space divergence ``D_stsp`` (docs/design.md §6).

``D_stsp`` asks whether a generated series visits the same regions of state
space, as often, as the real one, regardless of timing. Each series is
turned into a density over state space and the two densities are compared
by Kullback-Leibler divergence ``KL(p_true || p_gen)``:

* ``gmm`` (used for EEG): each series is a Gaussian mixture with one
  isotropic component ``N(x_t, sigma^2 I)`` per time point; the KL is
  estimated by Monte Carlo with draws from the true mixture, entirely in log
  space.
* ``binned`` (low-dimensional data only): each series is a histogram over a
  common grid; the KL of the smoothed, normalised histograms is exact.
"""
import numpy as np
from scipy.special import logsumexp

from .._checks import check_int, check_positive_float
from .smoothing import _as_array, _check_same_dims

__all__ = ["dstsp", "dstsp_gmm", "dstsp_binned"]

# Largest number of (sample, component) squared distances held at once:
# 2**21 float64 values is 16 MiB per block.
_BLOCK_ELEMENTS = 2**21

_MAX_BINNED_DIMS = 5


def _prepare_pair(x_true, x_gen, max_steps):
    x_true = _as_array(x_true, "x_true")
    x_gen = _as_array(x_gen, "x_gen")
    _check_same_dims(x_true, x_gen)
    max_steps = check_int("max_steps", max_steps, 1, allow_none=True)
    if max_steps is not None:
        x_true = x_true[:max_steps]
        x_gen = x_gen[:max_steps]
    return x_true, x_gen


# exp(x) rounds to 0 in float32 below this (half the smallest subnormal, 2**-150).
_FLOAT32_FLUSH = -150 * np.log(2.0)


def _log_mixture_density(points, centres, sigma, flush=None):
    """``log((1/n) sum_j exp(-|s - mu_j|^2 / (2 sigma^2)))`` for every s.

    The Gaussian normalising constant ``(2 pi sigma^2)^(-D/2)`` is left out:
    both mixtures share it, so it cancels in the KL.

    Parameters
    ----------
    points : ndarray, shape (S, D)
    centres : ndarray, shape (n, D)
    sigma : float
    flush : float, optional
        Exponents below it count as exactly 0 (linear-space underflow).

    Returns
    -------
    ndarray, shape (S,)
    """
    n = centres.shape[0]
    c_sq = np.einsum("ij,ij->i", centres, centres)
    out = np.empty(points.shape[0])
    rows = max(1, _BLOCK_ELEMENTS // n)
    scale = -0.5 / (sigma * sigma)
    for start in range(0, points.shape[0], rows):
        block = points[start:start + rows]
        b_sq = np.einsum("ij,ij->i", block, block)
        d2 = b_sq[:, None] - 2.0 * (block @ centres.T) + c_sq[None, :]
        # The expansion can go slightly negative by cancellation.
        np.maximum(d2, 0.0, out=d2)
        d2 *= scale
        if flush is not None:
            d2[d2 < flush] = -np.inf
        with np.errstate(divide="ignore"):
            out[start:start + rows] = logsumexp(d2, axis=1)
    return out - np.log(n)


def _gmm_log_ratios(x_true, x_gen, sigma, n_samples, seed, flush=None):
    """Per-sample ``log p_true(s) - log p_gen(s)`` for ``s ~ p_true``.

    With ``flush``, samples where either density (as the reference computes
    it, in float32 linear space) is 0 get NaN.

    Inputs are already validated and truncated. The draws are, in this
    order, ``rng.integers(0, T_true, n_samples)`` (components) and
    ``rng.standard_normal((n_samples, D))`` (noise), with
    ``rng = numpy.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    comp = rng.integers(0, x_true.shape[0], size=n_samples)
    noise = rng.standard_normal((n_samples, x_true.shape[1]))
    # KL is translation invariant; moving the origin to the true data's
    # centre keeps the |x|^2 - 2 x.mu + |mu|^2 expansion from cancelling
    # catastrophically on data far from 0.
    origin = x_true.mean(axis=0)
    centred_true = x_true - origin
    centred_gen = x_gen - origin
    samples = centred_true[comp] + sigma * noise
    log_p = _log_mixture_density(samples, centred_true, sigma, flush)
    log_q = _log_mixture_density(samples, centred_gen, sigma, flush)
    if flush is None:
        return log_p - log_q
    ratio = log_p - log_q
    ratio[(log_p < flush) | (log_q < flush)] = np.nan
    return ratio


def dstsp_gmm(x_true, x_gen, *, sigma=1.0, max_steps=10_000, n_samples=1_000,
              seed=0, drop_underflow=False):
    """Gaussian-mixture state-space divergence ``KL(p_true || p_gen)``.

    Parameters
    ----------
    x_true : array_like, shape (T_true, D)
        Reference (real) series, time x dims; expected z-scored, since
        ``sigma`` is in the data's units.
    x_gen : array_like, shape (T_gen, D)
        Generated series with the same ``D``; ``T_gen`` may differ.
    sigma : float, default 1.0
        Standard deviation of every isotropic mixture component.
    max_steps : int or None, default 10_000
        Only the first ``max_steps`` time points of each series become
        components; ``None`` uses all of them.
    n_samples : int, default 1_000
        Number of Monte Carlo draws from the true mixture.
    seed : int, numpy.random.Generator or None, default 0
        Seed for ``numpy.random.default_rng``; the default makes the
        estimate deterministic.
    drop_underflow : bool, default False
        Reproduce the arithmetic of the reference implementation (Pals et
        al.'s ``evaluation/kl_Gauss.py``, after the Durstewitz lab): it
        evaluates both mixture densities in float32 linear space,
        ``(1/n) sum_j exp(-|s - mu_j|^2 / (2 sigma^2))``, and discards the
        draws where either underflows to 0. Those are the draws far from
        every generated point, the ones that weigh most in the KL, so the
        estimate is lower. Use it only to compare with numbers computed
        that way; the default keeps every draw (exact log space). Returns
        NaN if every draw is discarded.

    Returns
    -------
    float
        ``mean_s [log p_true(s) - log p_gen(s)]`` over the draws ``s``.
        Every density is evaluated as a log-sum-exp over components, so the
        result is finite (possibly large) even when all densities underflow
        in linear space. The Monte Carlo estimate can be slightly negative
        when the two series are close.

    Raises
    ------
    ValueError
        If an array is not 2-D, is empty or not finite, if the numbers of
        channels differ, or if a parameter is out of range.

    Notes
    -----
    With components ``mu_j`` (true, ``n_p`` of them) and ``nu_k``
    (generated, ``n_q``),
    ``log p(s) = logsumexp_j(-|s - mu_j|^2 / (2 sigma^2)) - log n_p`` (the
    shared Gaussian constant is dropped), and likewise for ``q``. Squared
    distances are formed as ``|s|^2 - 2 s.mu + |mu|^2`` with matrix products
    in blocks of at most 2**21 entries, so 1,000 draws against 10,000
    components in 64 dimensions stay cheap in time and memory.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((500, 8)), 2.0 * rng.standard_normal((500, 8))
    >>> d = lowrank.metrics.dstsp_gmm(x, y)
    >>> bool(d > lowrank.metrics.dstsp_gmm(x, rng.standard_normal((500, 8))))
    True
    """
    sigma = check_positive_float("sigma", sigma)
    n_samples = check_int("n_samples", n_samples, 1)
    x_true, x_gen = _prepare_pair(x_true, x_gen, max_steps)
    if not drop_underflow:
        return float(np.mean(_gmm_log_ratios(x_true, x_gen, sigma, n_samples, seed)))
    # The density (1/n) sum exp(.) is 0 in float32 when its log is below the flush level.
    ratio = _gmm_log_ratios(x_true, x_gen, sigma, n_samples, seed, flush=_FLOAT32_FLUSH)
    # As in float32: each exp term is flushed before the division by n, the density after it.
    return float(np.mean(ratio[np.isfinite(ratio)])) if np.any(np.isfinite(ratio)) else float("nan")


def _bin_codes(x, lo, width, n_bins):
    idx = np.floor((x - lo) / width).astype(np.int64)
    # Points outside the true data's range go to the edge bins, so mass a
    # generated series puts far away is still counted (and penalised).
    np.clip(idx, 0, n_bins - 1, out=idx)
    codes = np.zeros(x.shape[0], dtype=np.int64)
    for d in range(x.shape[1]):
        codes = codes * n_bins + idx[:, d]
    return codes


def dstsp_binned(x_true, x_gen, n_bins=30, *, alpha=1e-5, bounds=None,
                 max_steps=10_000):
    """Histogram state-space divergence ``KL(p_true || p_gen)``, for D < 6.

    Parameters
    ----------
    x_true : array_like, shape (T_true, D)
        Reference series, time x dims, with ``D <= 5``.
    x_gen : array_like, shape (T_gen, D)
        Generated series with the same ``D``.
    n_bins : int, default 30
        Bins per dimension; the grid has ``n_bins**D`` cells.
    alpha : float, default 1e-5
        Laplace (additive) smoothing: every cell gets ``alpha`` pseudo-counts
        before normalising, so ``p_c = (n_c + alpha) / (T + alpha n_bins**D)``.
        ``alpha=1`` is add-one smoothing; it must be > 0 so that ``p_gen`` has
        no zero cells. Small values (the default) make the divergence mostly
        a measure of support mismatch; large values pull both histograms
        towards uniform.
    bounds : None or array_like, shape (2, D), default None
        Lower and upper edges of the grid per dimension. ``None`` uses the
        per-dimension minimum and maximum of the (truncated) true series; a
        dimension where the two are equal gets the range ``value +- 0.5``.
        Points of either series outside the range are counted in the nearest
        edge bin.
    max_steps : int or None, default 10_000
        Only the first ``max_steps`` time points of each series are binned
        (same convention as :func:`dstsp_gmm`); ``None`` uses all of them.

    Returns
    -------
    float
        ``sum_c p_c log(p_c / q_c)`` over all ``n_bins**D`` cells; >= 0.

    Raises
    ------
    ValueError
        If ``D >= 6`` (the grid would be too large and too sparse; use the
        Gaussian-mixture variant), or on invalid arrays or parameters.

    Notes
    -----
    Only occupied cells are stored: every cell that is empty in both
    histograms contributes the same term ``(alpha/Z_p) log(Z_q/Z_p)``, which
    is added in closed form, so memory is O(T) even for 30**5 cells.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((5000, 2))
    >>> near = lowrank.metrics.dstsp_binned(x, rng.standard_normal((5000, 2)), n_bins=10)
    >>> far = lowrank.metrics.dstsp_binned(x, rng.standard_normal((5000, 2)) + 1.0, n_bins=10)
    >>> bool(near < far)
    True
    """
    n_bins = check_int("n_bins", n_bins, 1)
    alpha = check_positive_float("alpha", alpha)
    x_true, x_gen = _prepare_pair(x_true, x_gen, max_steps)
    dims = x_true.shape[1]
    if dims > _MAX_BINNED_DIMS:
        raise ValueError(
            f"x_true has {dims} dimensions; dstsp_binned needs fewer than 6 "
            f"(found D={dims}); use dstsp(..., method='gmm') instead"
        )
    if bounds is None:
        lo = x_true.min(axis=0)
        hi = x_true.max(axis=0)
    else:
        b = _as_array(bounds, "bounds")
        if b.shape != (2, dims):
            raise ValueError(
                f"bounds must have shape (2, {dims}), found {b.shape}"
            )
        lo, hi = b[0].copy(), b[1].copy()
        if np.any(hi < lo):
            raise ValueError("bounds must have bounds[0] <= bounds[1] in every dimension")
    flat = hi <= lo
    lo[flat] -= 0.5
    hi[flat] += 0.5
    width = (hi - lo) / n_bins

    codes_p = _bin_codes(x_true, lo, width, n_bins)
    codes_q = _bin_codes(x_gen, lo, width, n_bins)
    cells, inverse = np.unique(np.concatenate([codes_p, codes_q]),
                               return_inverse=True)
    counts_p = np.bincount(inverse[:codes_p.size], minlength=cells.size)
    counts_q = np.bincount(inverse[codes_p.size:], minlength=cells.size)

    n_cells = float(n_bins) ** dims
    z_p = codes_p.size + alpha * n_cells
    z_q = codes_q.size + alpha * n_cells
    p = (counts_p + alpha) / z_p
    q = (counts_q + alpha) / z_q
    occupied = float(np.sum(p * (np.log(p) - np.log(q))))
    n_empty = n_cells - cells.size
    empty = n_empty * (alpha / z_p) * np.log(z_q / z_p)
    return max(occupied + empty, 0.0)


_METHODS = ("gmm", "binned", "auto")


def dstsp(x_true, x_gen, *, method="gmm", sigma=1.0, max_steps=10_000,
          n_samples=1_000, seed=0, n_bins=30, alpha=1e-5, drop_underflow=False):
    """State-space divergence ``D_stsp = KL(p_true || p_gen)``.

    Parameters
    ----------
    x_true : array_like, shape (T_true, D)
        Reference (real) series, time x dims; expected z-scored per channel.
    x_gen : array_like, shape (T_gen, D)
        Generated series with the same ``D``; ``T_gen`` may differ.
    method : {"gmm", "binned", "auto"}, default "gmm"
        ``"gmm"``: Gaussian-mixture Monte Carlo estimate
        (:func:`dstsp_gmm`), the variant used for EEG in docs/design.md §6 and
        valid in any dimension. ``"binned"``: histogram KL
        (:func:`dstsp_binned`), only for ``D < 6``. ``"auto"``: binned when
        ``D < 6``, otherwise gmm. The two variants are on different scales;
        compare numbers only within one method.
    sigma : float, default 1.0
        Component standard deviation (gmm only).
    max_steps : int or None, default 10_000
        Only the first ``max_steps`` steps of each series are used (both
        methods); ``None`` uses all.
    n_samples : int, default 1_000
        Monte Carlo draws from the true mixture (gmm only).
    seed : int, numpy.random.Generator or None, default 0
        Seed of the Monte Carlo draws (gmm only).
    n_bins : int, default 30
        Bins per dimension (binned only).
    alpha : float, default 1e-5
        Laplace smoothing pseudo-count per cell (binned only).
    drop_underflow : bool, default False
        gmm only: reproduce the reference implementation's float32
        arithmetic (see :func:`dstsp_gmm`).

    Returns
    -------
    float
        The divergence (nats).

    Raises
    ------
    ValueError
        On an unknown ``method``, invalid arrays (wrong ndim, NaN/inf,
        mismatched channels) or parameters, or ``method="binned"`` with
        ``D >= 6``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2000, 3))
    >>> same = lowrank.metrics.dstsp(x, rng.standard_normal((2000, 3)))
    >>> shifted = lowrank.metrics.dstsp(x, rng.standard_normal((2000, 3)) + 2.0)
    >>> bool(same < shifted)
    True
    """
    if method not in _METHODS:
        raise ValueError(
            f"method must be one of {_METHODS}, found {method!r}"
        )
    if method == "auto":
        dims = np.shape(x_true)[-1] if np.ndim(x_true) == 2 else None
        method = "binned" if dims is not None and dims <= _MAX_BINNED_DIMS else "gmm"
    if method == "binned":
        return dstsp_binned(x_true, x_gen, n_bins, alpha=alpha,
                            max_steps=max_steps)
    return dstsp_gmm(x_true, x_gen, sigma=sigma, max_steps=max_steps,
                     n_samples=n_samples, seed=seed, drop_underflow=drop_underflow)
