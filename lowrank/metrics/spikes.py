"""Summary statistics of binned spike counts, and real-vs-generated errors
(docs/design.md §6, spiking data).

Statistics per neuron: mean rate, inter-spike-interval (ISI) mean and
coefficient of variation (CV), and the matrix of pairwise count
correlations. Spike times are only known to bin resolution: every spike is
placed at the start of its bin, so the ``k`` spikes of a bin holding ``k``
of them give ``k - 1`` zero-length intervals. This keeps one interval per
consecutive pair of spikes, so ``ISI mean ~= 1 / rate`` for stationary
trains, and a train with one spike every ``n`` bins has CV exactly 0.
"""
from typing import NamedTuple

import numpy as np

from .._checks import as_float_array, check_positive_float
from .._summary import summary

__all__ = [
    "SpikeStatistics",
    "SpikeComparison",
    "spike_statistics",
    "compare_spike_statistics",
    "bits_per_spike",
]


class SpikeStatistics(NamedTuple):
    """Per-neuron statistics of binned counts (``D`` neurons), as :func:`spike_statistics` returns them.

    Parameters
    ----------
    rate : ndarray, shape (D,)
        Mean spikes per unit time (mean count per bin / ``dt``).
    isi_mean : ndarray, shape (D,)
        Mean inter-spike interval, in time units (bins * ``dt``); NaN for a
        neuron with fewer than 2 spikes in every trial.
    isi_cv : ndarray, shape (D,)
        ISI standard deviation (ddof=0) over ISI mean; NaN where
        ``isi_mean`` is NaN or 0.
    corr : ndarray, shape (D, D)
        Pearson correlation of the counts per bin, over all bins of all
        trials pooled; rows and columns of silent (constant-count) neurons
        are NaN, the diagonal is 1 elsewhere.
    n_spikes : ndarray, shape (D,), int64
        Total spikes per neuron.

    Examples
    --------
    >>> st = lowrank.metrics.spike_statistics(np.array([[[0, 1], [1, 1], [0, 1], [1, 1]]]))
    >>> st.rate, st.n_spikes
    (array([0.5, 1. ]), array([2, 4]))
    """

    rate: np.ndarray
    isi_mean: np.ndarray
    isi_cv: np.ndarray
    corr: np.ndarray
    n_spikes: np.ndarray

    def __repr__(self):
        """Neuron count, total spikes and mean rate, then the array shapes."""
        return summary(self, n_neurons=len(self.rate), total_spikes=int(np.sum(self.n_spikes)),
                       mean_rate=float(np.mean(self.rate)) if len(self.rate) else float("nan"))


class SpikeComparison(NamedTuple):
    """Errors of generated against real spike statistics.

    Per-neuron arrays have shape (D,) and are NaN where the statistic is
    undefined for either input (or, for relative errors, where the real value
    is 0). Scalars are means over the neurons where the per-neuron error is
    defined (NaN if there are none). :func:`compare_spike_statistics` returns it.

    Parameters
    ----------
    rate_rel_error : ndarray, shape (D,)
        ``|rate_gen - rate_real| / rate_real``.
    isi_mean_rel_error : ndarray, shape (D,)
        ``|isi_mean_gen - isi_mean_real| / isi_mean_real``.
    isi_cv_error : ndarray, shape (D,)
        ``|isi_cv_gen - isi_cv_real|``.
    mean_rate_rel_error, mean_isi_mean_rel_error, mean_isi_cv_error : float
        Means of the three arrays above over their defined entries.
    corr_rmse : float
        Root-mean-square difference of the correlation matrices over the
        off-diagonal pairs ``i < j`` defined in both.
    real, generated : SpikeStatistics
        The statistics that were compared.

    Examples
    --------
    >>> counts = np.random.default_rng(0).poisson(0.5, (10, 100, 3))
    >>> cmp = lowrank.metrics.compare_spike_statistics(counts, counts)
    >>> float(cmp.mean_rate_rel_error), float(cmp.corr_rmse)
    (0.0, 0.0)
    """

    rate_rel_error: np.ndarray
    isi_mean_rel_error: np.ndarray
    isi_cv_error: np.ndarray
    mean_rate_rel_error: float
    mean_isi_mean_rel_error: float
    mean_isi_cv_error: float
    corr_rmse: float
    real: SpikeStatistics
    generated: SpikeStatistics

    def __repr__(self):
        """The scalar errors, then the per-neuron arrays by shape and the compared statistics in short."""
        return summary(self, ("mean_rate_rel_error", "mean_isi_mean_rel_error", "mean_isi_cv_error", "corr_rmse",
                              "rate_rel_error", "isi_mean_rel_error", "isi_cv_error", "real", "generated"))


def _as_counts(counts, name):
    """Validate counts; return an int64 array of shape (n_trials, T, D)."""
    if not isinstance(counts, np.ndarray) or counts.dtype == bool:
        counts = np.asarray(counts) if not isinstance(counts, np.ndarray) else counts.astype(np.int64)
    arr = as_float_array(name, counts, (2, 3), shape_desc="(T, D) or (n_trials, T, D)")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    if np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must hold non-negative integer counts, found non-integer values")
    if np.any(arr < 0):
        raise ValueError(
            f"{name} must hold non-negative integer counts, found minimum "
            f"{arr.min()}"
        )
    arr = arr.astype(np.int64)
    if arr.ndim == 2:
        arr = arr[None]
    return arr


def _isi_moments(train):
    """ISI count, mean and std (in bins) of one neuron; train (n_trials, T)."""
    n_trials, n_steps = train.shape
    flat = train.reshape(-1)
    # Each spike sits at the start of its bin; intervals never span trials.
    times = np.repeat(np.arange(flat.size), flat)
    if times.size < 2:
        return 0, np.nan, np.nan
    isi = np.diff(times)
    trial = times // n_steps
    isi = isi[trial[1:] == trial[:-1]]
    if isi.size == 0:
        return 0, np.nan, np.nan
    return isi.size, isi.mean(), isi.std()


def _correlation(flat):
    """Pearson correlation of the columns of ``flat`` (n, D), NaN-safe."""
    centred = flat - flat.mean(axis=0)
    cov = centred.T @ centred
    var = np.diag(cov).copy()
    live = var > 0
    sd = np.where(live, np.sqrt(np.where(live, var, 1.0)), 1.0)
    corr = cov / np.outer(sd, sd)
    np.clip(corr, -1.0, 1.0, out=corr)
    np.fill_diagonal(corr, 1.0)
    corr[~live, :] = np.nan
    corr[:, ~live] = np.nan
    return corr


def spike_statistics(counts, dt=1.0):
    """Per-neuron rate, ISI mean and CV, and pairwise correlations.

    Parameters
    ----------
    counts : array_like, shape (T, D) or (n_trials, T, D)
        Non-negative integer spike counts per time bin (integer dtype, or
        floats holding whole numbers).
    dt : float, default 1.0
        Bin width in the time unit of the outputs (e.g. seconds gives rates
        in Hz and ISIs in seconds).

    Returns
    -------
    SpikeStatistics
        ``rate`` (D,), ``isi_mean`` (D,), ``isi_cv`` (D,), ``corr`` (D, D),
        ``n_spikes`` (D,). ISIs are taken within trials and pooled across
        trials; multiple spikes in one bin count as zero-length intervals
        (see the module docstring). Undefined values (fewer than 2 spikes in
        a trial, silent neurons in ``corr``) are NaN, without warnings.

    Raises
    ------
    ValueError
        If ``counts`` is not 2-D or 3-D, empty, not finite, negative or not
        integer-valued, or ``dt`` is not a positive finite number.

    Examples
    --------
    >>> counts = np.random.default_rng(0).poisson(0.5, size=(20, 100, 3))
    >>> st = lowrank.metrics.spike_statistics(counts, dt=0.02)
    >>> st.rate.shape, st.corr.shape, bool(np.allclose(st.rate, 25, rtol=0.2))
    ((3,), (3, 3), True)
    """
    dt = check_positive_float("dt", dt)
    arr = _as_counts(counts, "counts")
    n_trials, n_steps, n_neurons = arr.shape
    flat = arr.reshape(n_trials * n_steps, n_neurons)
    n_spikes = flat.sum(axis=0)
    rate = n_spikes / (flat.shape[0] * dt)
    isi_mean = np.full(n_neurons, np.nan)
    isi_cv = np.full(n_neurons, np.nan)
    for d in range(n_neurons):
        n_isi, mean, std = _isi_moments(arr[:, :, d])
        if n_isi == 0:
            continue
        isi_mean[d] = mean * dt
        if mean > 0:
            isi_cv[d] = std / mean
    corr = _correlation(flat.astype(np.float64))
    return SpikeStatistics(rate, isi_mean, isi_cv, corr, n_spikes)


def _nanmean(values):
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _rel_error(gen, real):
    out = np.full(real.shape, np.nan)
    ok = np.isfinite(gen) & np.isfinite(real) & (real != 0)
    out[ok] = np.abs(gen[ok] - real[ok]) / np.abs(real[ok])
    return out


def compare_spike_statistics(real, generated, dt=1.0):
    """Compare spike statistics of generated counts with real ones.

    Parameters
    ----------
    real : array_like, shape (T, D) or (n_trials, T, D)
        Recorded non-negative integer counts.
    generated : array_like, shape (T', D) or (n_trials', T', D)
        Generated counts with the same number of neurons ``D``; trials and
        lengths may differ.
    dt : float, default 1.0
        Bin width (as in :func:`spike_statistics`); relative errors and CV
        errors do not depend on it.

    Returns
    -------
    SpikeComparison
        Per-neuron relative rate and ISI-mean errors, absolute ISI-CV errors,
        their means over defined neurons, the RMSE of the off-diagonal
        correlations, and both :class:`SpikeStatistics`. Identical inputs
        give zero errors (NaN only where a statistic is undefined).

    Raises
    ------
    ValueError
        On invalid counts (see :func:`spike_statistics`) or if the numbers of
        neurons differ.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> real, gen = rng.poisson(0.5, (20, 100, 3)), rng.poisson(0.6, (20, 100, 3))
    >>> cmp = lowrank.metrics.compare_spike_statistics(real, gen)
    >>> cmp.rate_rel_error.shape, bool(0.1 < cmp.mean_rate_rel_error < 0.3)
    ((3,), True)
    """
    real_arr = _as_counts(real, "real")
    gen_arr = _as_counts(generated, "generated")
    if real_arr.shape[-1] != gen_arr.shape[-1]:
        raise ValueError(
            f"real and generated must have the same number of neurons (last "
            f"axis), found {real_arr.shape[-1]} and {gen_arr.shape[-1]}"
        )
    s_real = spike_statistics(real_arr, dt)
    s_gen = spike_statistics(gen_arr, dt)
    rate_err = _rel_error(s_gen.rate, s_real.rate)
    isi_err = _rel_error(s_gen.isi_mean, s_real.isi_mean)
    cv_err = np.full(s_real.isi_cv.shape, np.nan)
    ok = np.isfinite(s_real.isi_cv) & np.isfinite(s_gen.isi_cv)
    cv_err[ok] = np.abs(s_gen.isi_cv[ok] - s_real.isi_cv[ok])
    iu = np.triu_indices(s_real.corr.shape[0], k=1)
    diff = s_gen.corr[iu] - s_real.corr[iu]
    diff = diff[np.isfinite(diff)]
    corr_rmse = float(np.sqrt(np.mean(diff * diff))) if diff.size else float("nan")
    return SpikeComparison(
        rate_err, isi_err, cv_err,
        _nanmean(rate_err), _nanmean(isi_err), _nanmean(cv_err),
        corr_rmse, s_real, s_gen,
    )


def bits_per_spike(rates, counts, mean_rates=None):
    """Log-likelihood of counts under predicted rates, above each neuron's mean rate, in bits per spike.

    The Neural Latents Benchmark's co-smoothing score (Pei et al. 2021):
    ``(log p(counts | rates) - log p(counts | mean rates)) / (n_spikes · ln 2)``
    with Poisson likelihoods summed over every bin and neuron, and each
    neuron's mean rate its mean count over the same bins (unless given).

    Parameters
    ----------
    rates : array_like, shape (..., D)
        Predicted expected counts per bin, > 0.
    counts : array_like, same shape
        Observed non-negative integer counts.
    mean_rates : array_like, shape (D,), optional
        The baseline's rate per neuron (default: ``counts``' mean per neuron).

    Returns
    -------
    float
        0 for a prediction as good as the mean rates, positive when better;
        NaN when there are no spikes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> rates = rng.uniform(0.1, 2.0, size=(50, 100, 4))             # rates that vary over bins
    >>> counts = rng.poisson(rates)
    >>> bool(lowrank.metrics.bits_per_spike(rates, counts) > 0)      # better than each neuron's mean rate
    True
    >>> lowrank.metrics.bits_per_spike(np.full((10, 4), 0.5), np.zeros((10, 4), dtype=int))
    nan
    """
    lam = as_float_array("rates", rates, None)
    y = as_float_array("counts", counts, None)
    if lam.shape != y.shape or lam.ndim < 1:
        raise ValueError(f"rates and counts must have the same shape (..., D); got {lam.shape} and {y.shape}")
    if np.any(lam <= 0):
        raise ValueError("rates must be > 0 (expected counts per bin)")
    if np.any(y < 0) or np.any(y != np.round(y)):
        raise ValueError("counts must be non-negative integers")
    D = y.shape[-1]
    flat_y, flat_l = y.reshape(-1, D), lam.reshape(-1, D)
    base = flat_y.mean(axis=0) if mean_rates is None else as_float_array("mean_rates", mean_rates, (1,), D)
    n_spikes = flat_y.sum()
    if n_spikes == 0:
        return float("nan")
    # Neurons silent in the baseline contribute nothing to either term's spikes; keep log(0) out.
    safe = np.where(base > 0, base, 1.0)
    ll_model = np.sum(flat_y * np.log(flat_l) - flat_l)
    ll_base = np.sum(flat_y * np.log(safe) - np.where(base > 0, base, 0.0))
    return float((ll_model - ll_base) / (n_spikes * np.log(2.0)))
