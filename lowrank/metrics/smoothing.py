"""Smoothing and standardisation along time, plus the input checks shared by
the metric modules.

The EEG protocol (docs/design.md §6) smooths a generated series with a 15-point
Hann window and z-scores it per channel before comparing it with the
recording; :func:`hann_smooth` and :func:`zscore` are those two steps.
"""
import numpy as np
from scipy import ndimage

from .._checks import as_float_array, check_int, check_positive_float

__all__ = ["hann_smooth", "hann_unsmooth", "zscore"]


def _as_array(x, name, ndims=(2,)):
    """``x`` as a finite, non-empty float64 array whose ndim is in ``ndims`` (None: any).

    The checks are :func:`lowrank._checks.as_float_array`'s (TypeError for
    non-numeric input, ValueError for a wrong ndim or NaN/inf); the metrics
    add that a series must not be empty.
    """
    if ndims == (2,) and np.ndim(x) == 1:
        raise ValueError(f"{name} must be a 2-D array of shape (time, channels); got shape {np.shape(x)}: "
                         f"for a single channel pass x[:, None]")
    arr = as_float_array(name, x, ndims, shape_desc="(time, channels)" if ndims == (2,) else None)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    return arr


def _check_same_dims(x_true, x_gen, name_true="x_true", name_gen="x_gen"):
    if x_true.shape[-1] != x_gen.shape[-1]:
        raise ValueError(
            f"{name_true} and {name_gen} must have the same number of "
            f"channels (last axis), found {x_true.shape[-1]} and "
            f"{x_gen.shape[-1]}"
        )


def _hann_weights(window):
    """The normalised ``window``-point Hann weights (``[1.0]`` for 1), ``window`` validated."""
    window = check_int("window", window, 1)
    if window == 2:
        raise ValueError("window must be 1 or >= 3: the 2-point Hann window is all zeros")
    w = np.hanning(window) if window > 1 else np.ones(1)
    return w / w.sum()


def zscore(x, axis=0):
    """Standardise ``x`` to zero mean and unit variance along ``axis``.

    Parameters
    ----------
    x : array_like, shape (T, D) (any shape is accepted)
        Data; by default time is axis 0 and each column (channel) is
        standardised separately.
    axis : int, default 0
        Axis along which mean and standard deviation (``ddof=0``) are taken.

    Returns
    -------
    numpy.ndarray, same shape as ``x``, float64
        ``(x - mean) / std``. A constant slice (std = 0) has no scale to
        divide by; it is returned centred, i.e. all zeros, instead of NaN.

    Raises
    ------
    ValueError
        If ``x`` is empty or contains NaN/inf.

    Examples
    --------
    >>> z = lowrank.metrics.zscore(np.array([[1.0, 10.0], [3.0, 30.0]]))
    >>> z
    array([[-1., -1.],
           [ 1.,  1.]])
    """
    arr = _as_array(x, "x", ndims=None)
    mean = arr.mean(axis=axis, keepdims=True)
    centred = arr - mean
    std = np.sqrt(np.mean(centred * centred, axis=axis, keepdims=True))
    safe = np.where(std > 0, std, 1.0)
    return centred / safe


def hann_smooth(x, window=15, axis=0):
    """Smooth ``x`` along time with a normalised Hann window.

    Parameters
    ----------
    x : array_like, shape (T, D) (or (T,), or (n_trials, T, D) with ``axis=1``)
        Series to smooth; each channel is smoothed separately.
    window : int, default 15
        Window length in time steps (the EEG protocol uses 15). The window is
        the symmetric Hann window ``numpy.hanning(window)`` (as
        ``scipy.signal.windows.hann(window)``), whose two end taps are zero,
        so 15 gives 13 non-zero weights; it is divided by its sum so a
        constant series is left unchanged. ``window=1`` is the identity.
        ``window=2`` is rejected because both of its taps are zero. For an
        even ``window`` the output is shifted by half a step (the centre
        tap is ``window // 2``).
    axis : int, default 0
        The time axis.

    Returns
    -------
    numpy.ndarray, same shape as ``x``, float64
        The smoothed series, the same length as the input. Edges: the series
        is *not* padded with zeros (which would pull the ends towards 0);
        near the ends only the taps that fall inside the series are used and
        the weights are renormalised to sum to 1 over those taps.

    Raises
    ------
    ValueError
        If ``window`` is not an integer >= 1 or equals 2, or ``x`` is empty
        or not finite.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((1000, 2))
    >>> s = lowrank.metrics.hann_smooth(x, 15)
    >>> s.shape, bool(s.std() < 0.5 * x.std())
    ((1000, 2), True)
    """
    weights = _hann_weights(window)
    arr = _as_array(x, "x", ndims=None)
    if weights.size == 1:
        return arr.copy()
    # Convolution of the data and of a ones-series with the same zero
    # padding: their ratio is the edge-renormalised weighted average.
    num = ndimage.convolve1d(arr, weights, axis=axis, mode="constant", cval=0.0)
    ones_shape = [1] * arr.ndim
    ones_shape[axis] = arr.shape[axis]
    mass = ndimage.convolve1d(
        np.ones(arr.shape[axis]), weights, mode="constant", cval=0.0
    ).reshape(ones_shape)
    return num / mass


def hann_unsmooth(x, window=15, max_freq=0.1, axis=0):
    """Undo :func:`hann_smooth` where it can be undone: below ``max_freq``.

    A Hann window passes low frequencies almost unchanged and removes high
    ones; where it still passes a usable fraction, dividing the spectrum by
    the window's frequency response recovers what the series was before
    smoothing. For a recording that reached you smoothed (the EEG file of
    Pals et al. 2024 was smoothed with 15 points), this gives back the
    unsmoothed recording below ``max_freq``; what lay above is gone and is
    left out (the result is band-limited).

    Parameters
    ----------
    x : array_like, shape (T, D) (or (T,), or (n_trials, T, D) with ``axis=1``)
        The smoothed series.
    window : int, default 15
        The window that smoothed it, as in :func:`hann_smooth`.
    max_freq : float, default 0.1
        Highest frequency recovered, in cycles per time step (at most 0.5).
        The window's power response there must be at least 1e-3 of its
        value at 0: for 15 points it is 0.05 at 0.1 cycles per step and
        falls to 0 at 1/7. Higher frequencies are set to zero.
    axis : int, default 0
        The time axis.

    Returns
    -------
    numpy.ndarray, same shape as ``x``, float64
        The series with its spectrum below ``max_freq`` divided by the
        window's frequency response and nothing above. The division treats
        the series as periodic, so it inverts the smoothing exactly away from
        the ends; within about ``window`` steps of either end (where
        :func:`hann_smooth` renormalises its weights) it is approximate.

    Raises
    ------
    ValueError
        If ``window`` is not an integer >= 1 or equals 2, ``max_freq`` is not
        in (0, 0.5] or reaches frequencies the window removes, or ``x`` is
        empty or not finite.

    Examples
    --------
    A slow signal smoothed and unsmoothed comes back (the band below ``max_freq``):

    >>> t = np.arange(4000)
    >>> x = np.sin(2 * np.pi * 0.03 * t)[:, None]
    >>> back = lowrank.metrics.hann_unsmooth(lowrank.metrics.hann_smooth(x, 15), 15, max_freq=0.1)
    >>> bool(np.abs(back - x)[100:-100].max() < 0.05)
    True
    """
    weights = _hann_weights(window)
    max_freq = check_positive_float("max_freq", max_freq)
    if max_freq > 0.5:
        raise ValueError(f"max_freq must be at most 0.5 cycles per step (the Nyquist frequency); got {max_freq}")
    arr = _as_array(x, "x", ndims=None)
    n = arr.shape[axis]
    # The response of the smoothing as a circular convolution, read off an
    # impulse: exact for odd and even windows alike.
    impulse = np.zeros(n)
    impulse[0] = 1.0
    response = np.fft.rfft(ndimage.convolve1d(impulse, weights, mode="wrap"))
    freqs = np.fft.rfftfreq(n)
    keep = freqs < max_freq
    weak = keep & (np.abs(response) ** 2 < 1e-3)
    if np.any(weak):
        raise ValueError(f"max_freq={max_freq} reaches frequencies the {window}-point Hann window removes (its "
                         f"power response falls below 1e-3 at {freqs[weak][0]:.4g} cycles per step); choose a "
                         f"lower max_freq")
    gain = np.zeros_like(response)
    gain[keep] = 1.0 / response[keep]
    shape = [1] * arr.ndim
    shape[axis] = -1
    spectrum = np.fft.rfft(arr, axis=axis) * gain.reshape(shape)
    return np.fft.irfft(spectrum, n=n, axis=axis)


def hann_noise_gain(window=15):
    """White-noise power gain of :func:`hann_smooth`: ``sum(w²) / sum(w)²``.

    Smoothing white noise of variance ``v`` with the normalised ``window``-point
    Hann window leaves variance ``v * hann_noise_gain(window)`` (away from the
    edges): 0.1071 for 15 points, i.e. a standard deviation of 0.327.

    Parameters
    ----------
    window : int, default 15
        As in :func:`hann_smooth` (1 or >= 3).

    Returns
    -------
    float in (0, 1]

    Examples
    --------
    >>> round(lowrank.metrics.hann_noise_gain(15), 4)
    0.1071
    """
    if _hann_weights(window).size == 1:
        return 1.0
    w = np.hanning(window)        # unnormalised: the same digits as the fits recorded in bench/results
    return float(np.sum(w * w) / np.sum(w) ** 2)
