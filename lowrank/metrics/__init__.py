"""Metrics comparing generated with real data (docs/design.md §6).

* :func:`dstsp` (state-space divergence, ``D_stsp``): do the two series
  occupy state space alike? KL between Gaussian mixtures (or histograms for
  D < 6).
* :func:`power_spectrum_distance` (``D_H``): do the channels have alike
  power spectra? Mean Hellinger distance of smoothed normalised spectra.
* :func:`hann_smooth`, :func:`zscore`: the pre-processing of the EEG
  protocol (smooth generated data with a 15-point Hann window, z-score);
  :func:`hann_noise_gain`: how much of white noise's power the window keeps;
  :func:`hann_unsmooth`: the smoothing undone where it can be (low
  frequencies), for recordings that reached you smoothed.
* :func:`spike_statistics`, :func:`compare_spike_statistics`: rates, ISI
  statistics and correlations of spike counts; :func:`bits_per_spike`: the
  co-smoothing score of predicted rates (Neural Latents Benchmark).
* :func:`decode`: how much of the behaviour latents carry, linearly:
  cross-validated ridge regression (R² per variable) and the decoder
  (trials ``(n_trials, T, R)`` or lists of ``(T_i, R)``, not ``(T, D)``).

All other series are ``(T, D)`` arrays, time by dimensions.
"""
from .decoding import Decoder, decode
from .smoothing import hann_noise_gain, hann_smooth, hann_unsmooth, zscore
from .spectrum import hellinger, power_spectra, power_spectrum_distance
from .spikes import (
    SpikeComparison,
    SpikeStatistics,
    bits_per_spike,
    compare_spike_statistics,
    spike_statistics,
)
from .state_space import dstsp, dstsp_binned, dstsp_gmm

__all__ = [
    "dstsp",
    "dstsp_gmm",
    "dstsp_binned",
    "power_spectrum_distance",
    "power_spectra",
    "hellinger",
    "hann_smooth",
    "hann_unsmooth",
    "hann_noise_gain",
    "zscore",
    "spike_statistics",
    "compare_spike_statistics",
    "SpikeStatistics",
    "SpikeComparison",
    "bits_per_spike",
    "decode",
    "Decoder",
]
