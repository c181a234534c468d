"""Power-spectrum distance ``D_H`` (docs/design.md §6).

``D_H`` compares the temporal structure of two series channel by channel:
each channel's power spectrum is smoothed and normalised into a probability
distribution over frequencies, and two such distributions are compared by
the Hellinger distance, which lies in [0, 1] (0: same spectral shape;
1: no overlapping frequencies). The result is the mean over channels.
"""
import numpy as np
from scipy.ndimage import gaussian_filter1d

from .._checks import check_int, check_nonneg_float
from .smoothing import _as_array, _check_same_dims, zscore

__all__ = ["power_spectrum_distance", "power_spectra", "hellinger"]


def hellinger(p, q, axis=0):
    """Hellinger distance ``(1/sqrt(2)) * ||sqrt(p) - sqrt(q)||_2``.

    Parameters
    ----------
    p, q : array_like, same shape, e.g. (n_freq,) or (n_freq, D)
        Non-negative weights of discrete distributions along ``axis``. They
        are not renormalised: when each sums to 1 along ``axis`` the
        distance lies in [0, 1].
    axis : int, default 0
        Axis holding the distribution (frequencies for the output of
        :func:`power_spectra`).

    Returns
    -------
    float or numpy.ndarray
        The distance, with ``axis`` removed (a float for 1-D input).

    Raises
    ------
    ValueError
        If the shapes differ, or either input has negative or non-finite
        entries.

    Examples
    --------
    >>> p = np.array([0.5, 0.5, 0.0])
    >>> float(lowrank.metrics.hellinger(p, p)), float(lowrank.metrics.hellinger(p, np.array([0.0, 0.0, 1.0])))
    (0.0, 1.0)
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, found {p.shape} and {q.shape}")
    for name, arr in (("p", p), ("q", q)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must contain only finite values, found NaN/inf")
        if np.any(arr < 0):
            raise ValueError(f"{name} must be non-negative, found min {arr.min()}")
    diff = np.sqrt(p) - np.sqrt(q)
    out = np.sqrt(0.5 * np.sum(diff * diff, axis=axis))
    return float(out) if np.ndim(out) == 0 else out


def _spectra(x, smoothing, cutoff, name):
    """Normalised smoothed spectra of validated (T, D) data."""
    if x.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 time steps, found {x.shape[0]}")
    z = zscore(x, axis=0)
    n_steps = z.shape[0]
    power = np.abs(np.fft.rfft(z, axis=0, norm="ortho")) ** 2 * (2.0 / n_steps)
    if smoothing > 0:
        power = gaussian_filter1d(power, smoothing, axis=0, mode="reflect")
    np.maximum(power, 0.0, out=power)
    if cutoff is not None:
        power = power[:cutoff]
    total = power.sum(axis=0)
    bad = np.flatnonzero(~(total > 0))
    if bad.size:
        raise ValueError(
            f"{name} has channels with no power to normalise (constant, or "
            f"no power below the cutoff): channels {bad[:10].tolist()}"
        )
    return power / total


def power_spectra(x, smoothing=20, cutoff=None):
    """Per-channel smoothed power spectra, each normalised to sum 1.

    Parameters
    ----------
    x : array_like, shape (T, D)
        Series, time x channels, ``T >= 2``.
    smoothing : float, default 20
        Standard deviation, in frequency bins, of the Gaussian kernel
        (``scipy.ndimage.gaussian_filter1d``, ``mode="reflect"``, truncated at
        4 sigma) applied to each power spectrum; 0 switches smoothing off.
    cutoff : int or None, default None
        If given, keep only the first ``cutoff`` frequency bins (rfft bins;
        bin ``k`` is the frequency ``k / T`` cycles per time step, so the
        cut-off frequency is ``cutoff / T`` of the sampling rate) after
        smoothing and before normalising. ``None`` keeps all ``T // 2 + 1``.

    Returns
    -------
    numpy.ndarray, shape (n_freq, D)
        Column ``d`` is the distribution over frequencies of channel ``d``:
        the channel is z-scored, transformed with
        ``numpy.fft.rfft(..., norm="ortho")``, its power ``|.|^2 * 2 / T`` is
        smoothed, clipped at 0, cut, and divided by its sum.
        ``n_freq = min(T // 2 + 1, cutoff)``.

    Raises
    ------
    ValueError
        If ``x`` is not 2-D, is empty or not finite, has fewer than 2 time
        steps, has a constant channel (its spectrum cannot be normalised), or
        a parameter is out of range.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((1000, 4))
    >>> p = lowrank.metrics.power_spectra(x)
    >>> p.shape, np.allclose(p.sum(axis=0), 1.0)
    ((501, 4), True)
    """
    smoothing = check_nonneg_float("smoothing", smoothing)
    cutoff = check_int("cutoff", cutoff, 1, allow_none=True)
    x = _as_array(x, "x")
    return _spectra(x, smoothing, cutoff, "x")


def power_spectrum_distance(x_true, x_gen, smoothing=20, cutoff=None):
    """Power-spectrum distance ``D_H``: mean over channels of the Hellinger
    distance between normalised smoothed power spectra.

    Parameters
    ----------
    x_true : array_like, shape (T_true, D)
        Reference series, time x channels.
    x_gen : array_like, shape (T_gen, D)
        Generated series with the same ``D``. If the lengths differ, both
        series are truncated to their first ``min(T_true, T_gen)`` steps, so
        that frequency bins mean the same frequencies and both spectra have
        the same resolution.
    smoothing : float, default 20
        Gaussian smoothing width in frequency bins (see :func:`power_spectra`).
    cutoff : int or None, default None
        Number of low-frequency bins to keep (see :func:`power_spectra`);
        bins are those of the common length.

    Returns
    -------
    float
        ``D_H`` in [0, 1]; 0 for series with the same spectral shape per
        channel. Symmetric in its two arguments.

    Raises
    ------
    ValueError
        If an array is not 2-D, empty or not finite, the numbers of channels
        differ, the common length is below 2, a channel is constant, or a
        parameter is out of range.

    Examples
    --------
    >>> t = np.arange(2000)[:, None]
    >>> slow, fast = np.sin(2 * np.pi * 0.01 * t), np.sin(2 * np.pi * 0.2 * t)
    >>> lowrank.metrics.power_spectrum_distance(slow, slow)
    0.0
    >>> bool(lowrank.metrics.power_spectrum_distance(slow, fast) > 0.5)
    True
    """
    smoothing = check_nonneg_float("smoothing", smoothing)
    cutoff = check_int("cutoff", cutoff, 1, allow_none=True)
    x_true = _as_array(x_true, "x_true")
    x_gen = _as_array(x_gen, "x_gen")
    _check_same_dims(x_true, x_gen)
    n_steps = min(x_true.shape[0], x_gen.shape[0])
    p = _spectra(x_true[:n_steps], smoothing, cutoff, "x_true")
    q = _spectra(x_gen[:n_steps], smoothing, cutoff, "x_gen")
    return float(np.mean(hellinger(p, q, axis=0)))
