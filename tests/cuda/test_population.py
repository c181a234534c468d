"""Populations: several models in one launch (stacked, ``model_of``) equal each model run
alone through the CPU kernels; the data stay on the device between the passes; repeated
launches give the same bits."""
import numpy as np
import pytest

from lowrank.kernels.smc_args import Draws, Sequences, grad_layout, records
from lowrank.kernels.smc_backward import smc_backward
from lowrank.kernels.smc_forward import smc_forward
from _cuda_cases import assert_records_equal, build

POPULATIONS = [
    dict(proposal=2, activation="tanh", readout="units_rates", likelihood="poisson_softplus", inputs="filtered",
         resampling=1, adaptive=False, ragged=True, rank=2),
    dict(proposal=1, activation="clipped_relu", readout="latent_wv", likelihood="gaussian", inputs="filtered",
         resampling=2, adaptive=True, ragged=True, rank=3),
    dict(proposal=0, activation="relu", readout="units_currents", likelihood="poisson_exp", inputs="raw",
         resampling=3, adaptive=False, ragged=False, rank=1),
]
SIZES = (2, 1, 3)   # sequences of each model


def cpu_run(args, opts, params):
    """Records, gradient rows and encoder adjoints of one model on the CPU."""
    S, T, _, R = args.draws.eps.shape
    rec = records(S, T, args.draws.eps.shape[2], R)
    smc_forward(*args, rec)
    lay = grad_layout(opts.n_units, R, opts.n_obs, opts.n_inputs, params.W_v.shape[1])
    gbuf, dsteps = np.empty((S, lay.size)), np.zeros((S, T if args.codes.proposal == 2 else 0, 2 * R))
    smc_backward(*args, rec, lay, gbuf, dsteps)
    return rec, lay, gbuf, dsteps


def stacked(gpu, runs):
    """The population's inputs: sequences and draws concatenated, models and proposals stacked."""
    args = [r[0] for r in runs]
    seqs = Sequences(*(np.ascontiguousarray(np.concatenate([a.seqs[f] for a in args])) for f in range(4)))
    draws = Draws(*(np.ascontiguousarray(np.concatenate([a.draws[f] for a in args])) for f in range(2)))
    model = gpu.stack_models([a.model for a in args])
    prop = gpu.stack_proposals([a.prop for a in args])
    return args[0].codes, seqs, draws, model, prop, gpu.model_index([a.draws.eps.shape[0] for a in args])


def device_pipeline(gpu, codes, seqs, draws, model, prop, model_of, lay, dsteps_shape):
    """Forward then backward with everything uploaded once and the records kept on the device."""
    from numba import cuda
    seqs, draws, model, prop = gpu.upload(seqs), gpu.upload(draws), gpu.upload(model), gpu.upload(prop)
    model_of = cuda.to_device(model_of)
    S, T, K, R = draws.eps.shape
    rec = gpu.device_records(S, T, K, R)
    gpu.smc_forward_cuda(codes, seqs, draws, model, prop, rec, model_of)
    gbuf, dsteps = cuda.device_array((S, lay.size)), cuda.to_device(np.zeros(dsteps_shape))
    gpu.smc_backward_cuda(codes, seqs, draws, model, prop, rec, lay, gbuf, dsteps, model_of)
    host = type(rec)(*(x.copy_to_host() for x in rec))
    return host, gbuf.copy_to_host(), dsteps.copy_to_host()


@pytest.mark.parametrize("c", POPULATIONS, ids=lambda c: f"proposal{c['proposal']}")
def test_population_equals_models_alone(c, gpu, make_model):
    runs = [build(c, 7, make_model, S=n, model_seed=j) for j, n in enumerate(SIZES)]
    cpu = [cpu_run(*r) for r in runs]
    codes, seqs, draws, model, prop, model_of = stacked(gpu, runs)
    lay = cpu[0][1]
    dshape = (len(model_of),) + cpu[0][3].shape[1:]
    rec, gbuf, dsteps = device_pipeline(gpu, codes, seqs, draws, model, prop, model_of, lay, dshape)
    lo = 0
    for (args, _, _), (c_rec, _, c_gbuf, c_dsteps) in zip(runs, cpu):
        hi = lo + args.draws.eps.shape[0]
        assert_records_equal(c_rec, type(rec)(*(x[lo:hi] for x in rec)), args.seqs.lengths)
        np.testing.assert_allclose(gbuf[lo:hi], c_gbuf, rtol=1e-10, atol=1e-12 * np.abs(c_gbuf).max())
        np.testing.assert_allclose(dsteps[lo:hi], c_dsteps, rtol=1e-10,
                                   atol=1e-12 * np.abs(c_dsteps).max(initial=1e-300))
        lo = hi
    # the models differ, so the test would see a model mix-up
    assert not np.allclose(model.mT[0], model.mT[1])


def test_repeated_launches_are_bit_identical(gpu, make_model):
    c = POPULATIONS[0]
    runs = [build(c, 8, make_model, S=n, model_seed=j) for j, n in enumerate(SIZES)]
    codes, seqs, draws, model, prop, model_of = stacked(gpu, runs)
    lay = cpu_run(*runs[0])[1]
    dshape = (len(model_of),) + seqs.y.shape[1:2] + (2 * c["rank"],)
    first = device_pipeline(gpu, codes, seqs, draws, model, prop, model_of, lay, dshape)
    second = device_pipeline(gpu, codes, seqs, draws, model, prop, model_of, lay, dshape)
    ok = np.arange(seqs.y.shape[1])[None, :] < seqs.lengths[:, None]
    for a, b in zip(first[0], second[0]):
        np.testing.assert_array_equal(a[ok] if a.ndim > 1 else a, b[ok] if b.ndim > 1 else b)
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(first[2], second[2])
