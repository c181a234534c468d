"""The CUDA backward pass against the CPU kernel: every gradient-row entry and the encoder's
per-step adjoints, on the CPU forward pass's records, over a pairwise cover of the configurations."""
import numpy as np
import pytest

from lowrank.kernels.smc_args import grad_layout, records
from lowrank.kernels.smc_backward import smc_backward
from lowrank.kernels.smc_forward import smc_forward
from _cuda_cases import build, case_id, pairwise_cover

CASES = pairwise_cover(seed=0)


def backward_buffers(args, opts, params):
    S, T, _, R = args.draws.eps.shape
    lay = grad_layout(opts.n_units, R, opts.n_obs, opts.n_inputs, params.W_v.shape[1])
    return lay, np.full((S, lay.size), np.nan), np.zeros((S, T if args.codes.proposal == 2 else 0, 2 * R))


def assert_gradients_equal(gpu, cpu, rtol=1e-10):
    """Equal to ``rtol``, entries near zero (cancellations) to a tiny fraction of the largest."""
    np.testing.assert_allclose(gpu, cpu, rtol=rtol, atol=1e-12 * np.abs(cpu).max(initial=1e-300))


@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{i}:{case_id(c)}" for i, c in enumerate(CASES)])
def test_backward_matches_cpu(i, gpu, make_model):
    args, opts, params = build(CASES[i], 100 + i, make_model)
    rec = records(*args.draws.eps.shape)
    smc_forward(*args, rec)
    lay, g_cpu, d_cpu = backward_buffers(args, opts, params)
    _, g_gpu, d_gpu = backward_buffers(args, opts, params)
    smc_backward(*args, rec, lay, g_cpu, d_cpu)
    gpu.smc_backward_cuda(*args, rec, lay, g_gpu, d_gpu)
    assert np.all(np.isfinite(g_cpu)) and np.abs(g_cpu).max() > 0
    assert_gradients_equal(g_gpu, g_cpu)
    assert_gradients_equal(d_gpu, d_cpu)
