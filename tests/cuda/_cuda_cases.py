"""Tiny random SMC problems of every configuration, packed as the library packs them.

The configurations are a pairwise cover of the factors below (every pair of
values of two factors, where valid together, meets in some case), so every
value of every factor appears. Sizes are tiny: the CUDA simulator runs a
Python thread per particle.
"""
import itertools
from types import SimpleNamespace

import numpy as np

from lowrank.inference.elbo import Choices, pack
from lowrank.kernels.smc_args import Draws
from lowrank.model.options import ModelOptions

FACTORS = {
    "proposal": [0, 1, 2],                      # bootstrap, optimal, encoder
    "activation": ["identity", "relu", "clipped_relu", "tanh"],
    "readout": ["latent", "latent_wv", "units_currents", "units_rates"],
    "likelihood": ["gaussian", "poisson_softplus", "poisson_exp"],
    "inputs": ["none", "raw", "filtered"],
    "resampling": [0, 1, 2, 3],                 # none, systematic, stratified, multinomial
    "adaptive": [False, True],                  # tau > 0 (ESS threshold) or resample every step
    "ragged": [False, True],
    "rank": [1, 2, 3],
    "missing": [False, True],                   # NaN observations (left out of the likelihood)
    "noise": ["diag", "full"],                  # latent and initial noise Cholesky factors
}


def is_valid(c):
    if c["proposal"] == 1 and (c["likelihood"] != "gaussian" or c["readout"] == "units_rates"):
        return False
    if c["readout"] == "latent_wv" and c["inputs"] == "none":
        return False
    if c.get("missing") and c["proposal"] == 1:
        return False
    return not (c["adaptive"] and c["resampling"] == 0)


def _pairs(c):
    names = list(FACTORS)
    return {(a, c[a], b, c[b]) for a, b in itertools.combinations(names, 2)}


def pairwise_cover(seed=0, pool=400):
    """Greedy pairwise cover: each round takes, of ``pool`` random valid configurations
    (plus one built for a pair still missing), the one covering most missing pairs."""
    rng = np.random.default_rng(seed)
    valid = [dict(zip(FACTORS, v)) for v in itertools.product(*FACTORS.values())]
    valid = [c for c in valid if is_valid(c)]
    missing = set().union(*(_pairs(c) for c in valid))
    chosen = []
    while missing:
        need = next(iter(sorted(missing, key=repr)))
        fits = [c for c in valid if c[need[0]] == need[1] and c[need[2]] == need[3]]
        pool_rows = [valid[i] for i in rng.integers(0, len(valid), pool)] + [fits[rng.integers(len(fits))]]
        best = max(pool_rows, key=lambda c: len(_pairs(c) & missing))
        chosen.append(best)
        missing -= _pairs(best)
    return chosen


def case_id(c):
    return "/".join(str(c[n]) if not isinstance(c[n], bool) else (n if c[n] else "-") for n in FACTORS)


def case_options(c, seed):
    """``(opts, K, T)``: the model options and sizes of configuration ``c``, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    R = c["rank"]
    D = int(rng.integers(1, 4))
    N = int(rng.integers(max(R, D, 2), 6))
    K = int(rng.integers(2, 6))
    T = int(rng.integers(3, 6))
    U = 0 if c["inputs"] == "none" else int(rng.integers(1, 3))
    readout, _, frm = c["readout"].partition("_")
    lik, _, link = c["likelihood"].partition("_")
    opts = ModelOptions(n_units=N, rank=R, n_obs=D, n_inputs=U, activation=c["activation"], readout=readout,
                        units_readout_from=(frm if readout == "units" else "currents"),
                        readout_input=(frm == "wv"), likelihood=lik, link=link or "softplus",
                        bin_width=0.5 if lik == "poisson" else 1.0, filter_inputs=c["inputs"] == "filtered",
                        noise=c.get("noise", "diag"), init_noise=c.get("noise", "diag"))
    return opts, K, T


def build(c, seed, make_model, S=2, model_seed=0):
    """``(inputs, opts, params)`` of configuration ``c``: :class:`SMCInputs` from
    :func:`lowrank.inference.elbo.pack` on a random model and random data. Sizes come
    from ``seed``; ``model_seed`` varies the model, the data and the draws only."""
    opts, K, T = case_options(c, seed)
    rng = np.random.default_rng([seed, model_seed])
    R, D, U = opts.rank, opts.n_obs, opts.n_inputs
    params = make_model(opts, int(rng.integers(2**31)))
    lengths = np.array([T, T - 1][:S] + [T] * (S - 2), dtype=np.int64) if c["ragged"] else np.full(S, T)
    valid = np.arange(T)[None, :, None] < lengths[:, None, None]
    y = rng.poisson(1.5, (S, T, D)).astype(float) if opts.likelihood == "poisson" else rng.normal(0.0, 1.0, (S, T, D))
    u = rng.normal(0.0, 1.0, (S, T, U))
    y, u = np.ascontiguousarray(y * valid), np.ascontiguousarray(u * valid)
    if c.get("missing"):
        y[(rng.random(y.shape) < 0.35) & valid] = np.nan
    draws = Draws(rng.standard_normal((S, T, K, R)), rng.random((S, T, K)))
    tau = (0.95 if c["proposal"] == 1 else 0.7) if c["adaptive"] else -1.0
    encoding = SimpleNamespace(mu=rng.normal(0.0, 0.5, (S, T, R)), prec=rng.uniform(0.5, 2.0, (S, T, R)))
    choices = Choices(c["proposal"], c["resampling"], tau, K)
    return pack(params, opts, y, u, lengths, choices, draws, encoding if c["proposal"] == 2 else None), opts, params


def valid_steps(rec, lengths):
    """(S, T) mask of the steps the forward pass wrote: before the end and before a failure."""
    T = rec.ell.shape[1]
    stop = np.where(rec.fail >= 0, np.minimum(rec.fail, lengths), lengths)
    return np.arange(T)[None, :] < stop[:, None]


def assert_records_equal(cpu, gpu, lengths, rtol=1e-10):
    """The GPU's records equal the CPU's: integers exactly, floats to ``rtol``, on the written steps."""
    np.testing.assert_array_equal(gpu.fail, cpu.fail)
    ok = valid_steps(cpu, lengths)
    np.testing.assert_array_equal(gpu.anc[ok], cpu.anc[ok])
    np.testing.assert_array_equal(gpu.resampled, cpu.resampled)
    np.testing.assert_allclose(gpu.ell, cpu.ell, rtol=rtol, atol=1e-13)
    for name in ("Z", "F", "logW"):
        a, b = getattr(gpu, name)[ok], getattr(cpu, name)[ok]
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-13 * max(1.0, np.abs(b).max()), err_msg=name)
