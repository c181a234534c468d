"""lowrank: stochastic low-rank RNNs fitted to neural data with variational SMC.

Public surface::

    lowrank.LowRankRNN            the model (sample, fit, posterior, score, predict, save/load, fixed_points)
    lowrank.EncoderOptions        the encoder proposal's network (LowRankRNN(..., encoder=...))
    lowrank.residual_noise_basis  correlated observation noise shaped like the data's residual
    lowrank.fit                   the functional fit underneath LowRankRNN.fit
    lowrank.FitError              a fit that failed while computing (its best parameters, history, cause)
    lowrank.fit_many              many independent fits in parallel (joblib)
    lowrank.evaluate              D_stsp and D_H of generated vs recorded data
    lowrank.co_smoothing          held-out neurons' rates predicted from the held-in ones, in bits per spike
    lowrank.decode                cross-validated ridge decoding of behaviour from latents (R², decoder)
    lowrank.teachers              built-in teacher networks and their data sets
    lowrank.smc.elbo              the variational SMC objective and its gradient
    lowrank.fixed_points          every fixed point of piecewise-linear networks
    lowrank.metrics               D_stsp, D_H, spike statistics
    lowrank.data                  data layouts; spike times to counts (bin_spikes), NWB files (read_nwb)
    lowrank.plotting              figures of a fit, an evaluation, fixed points (needs matplotlib)
"""
from ._version import __version__
from .model import ModelOptions, Params
from .model.encoder import EncoderOptions
from .rnn import LowRankRNN, Sample, fit_many
from .model.noise_basis import residual_noise_basis
from . import data, fixed_points, metrics, plotting, smc, teachers
from .analysis import co_smoothing, evaluate
from .metrics.decoding import decode
from .training import FitError, fit

__all__ = ["LowRankRNN", "Sample", "ModelOptions", "EncoderOptions", "Params", "fit", "fit_many", "FitError",
           "evaluate", "co_smoothing", "decode", "residual_noise_basis", "smc", "metrics", "data", "teachers",
           "plotting", "fixed_points", "__version__"]
