"""Edges of the CUDA kernels: the failure path, blocks much wider than the particles,
the latent simulation, and that importing lowrank does not import numba.cuda."""
import subprocess
import sys

import numpy as np
import pytest

from lowrank.kernels.simulate import simulate_latents
from lowrank.kernels.smc_args import records
from lowrank.kernels.smc_forward import smc_forward
from _cuda_cases import assert_records_equal, build, pairwise_cover

BASE = dict(proposal=0, activation="tanh", readout="latent", likelihood="gaussian", inputs="raw", resampling=1,
            adaptive=False, ragged=False, rank=2)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("proposal", [0, 1, 2])
def test_failure_is_recorded_like_the_cpu(proposal, gpu, make_model):
    """An observation so far out that every log-weight is -inf (or NaN) at step 2 of sequence 1."""
    args, _, _ = build(dict(BASE, proposal=proposal), 3, make_model, S=3)
    args.seqs.y[1, 2, 0] = 1e300
    cpu_rec, gpu_rec = records(*args.draws.eps.shape), records(*args.draws.eps.shape)
    smc_forward(*args, cpu_rec)
    gpu.smc_forward_cuda(*args, gpu_rec)
    assert list(cpu_rec.fail) == [-1, 2, -1]
    assert_records_equal(cpu_rec, gpu_rec, args.seqs.lengths)


def test_wide_blocks(gpu, make_model, monkeypatch):
    """The launch's default block (a warp) around 3 particles: 29 idle threads in every reduction."""
    from lowrank.kernels.cuda import launch
    monkeypatch.setattr(launch, "MIN_THREADS", 32)
    assert launch.threads_per_block(3) == 32
    c = pairwise_cover(seed=0)[1]
    args, _, _ = build(c, 11, make_model, S=1)
    args = args._replace(draws=args.draws._replace(eps=np.ascontiguousarray(args.draws.eps[:, :, :3]),
                                                   unif=np.ascontiguousarray(args.draws.unif[:, :, :3])))
    cpu_rec, gpu_rec = records(*args.draws.eps.shape), records(*args.draws.eps.shape)
    smc_forward(*args, cpu_rec)
    gpu.smc_forward_cuda(*args, gpu_rec)
    assert_records_equal(cpu_rec, gpu_rec, args.seqs.lengths)


@pytest.mark.parametrize("act", [0, 1, 2, 3])
def test_simulation_matches_cpu(act, gpu):
    rng = np.random.default_rng(act)
    B, T, R, N, U = 3, 5, 2, 4, (act % 2) * 2
    L = np.tril(rng.normal(0.0, 0.3, (R, R))) + np.eye(R)
    args = (rng.normal(size=(B, R)), rng.normal(size=(B, T, R)), rng.normal(size=(B, T, U)),
            rng.normal(size=(R, N)), rng.normal(size=(R, N)) / 2, rng.uniform(0.3, 1.2, N),
            rng.uniform(0.5, 0.95, R), rng.normal(size=(N, U)), L, 0.7, act)
    want = simulate_latents(*args)
    got = gpu.simulate_latents_cuda(*args)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert np.abs(np.diff(want, axis=1)).min() > 0    # the trajectories move


def test_lowrank_does_not_import_numba_cuda():
    code = ("import sys, lowrank, lowrank.kernels, lowrank.smc, lowrank.inference.elbo; "
            "print(sorted(m for m in sys.modules if m.startswith(('numba.cuda', 'numba_cuda'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_link_terms_match_cpu_far_out(gpu):
    """The device's plain-math Poisson terms against the CPU's, including the softplus tail
    (x < -32) and the root of log softplus, where the CPU switches formulas."""
    from lowrank.kernels.cuda.device import poisson_term, softplus_terms
    from lowrank.kernels.vmath import poisson_channel, softplus_parts
    xs = [-800.0, -40.0, -32.5, -31.9, -3.0, 0.5, 0.5413248546129181, 0.6, 3.0, 40.0, 700.0]
    for x in xs:
        np.testing.assert_allclose(softplus_terms(x), softplus_parts(x), rtol=1e-13, atol=1e-15)
    for link in (0, 1):
        for y in (0.0, 1.0, 7.0):
            for eta in xs[1:-1] if link == 0 else xs[2:-2]:
                want = poisson_channel(link, y, eta, 0.5, np.log(0.5))
                np.testing.assert_allclose(poisson_term(link, y, eta, 0.5, np.log(0.5)), want, rtol=1e-13,
                                           atol=1e-14 * (1.0 + y))


def test_kernels_compile_for_a_real_gpu():
    """The simulator checks no types: compile the kernels to sm_90 PTX with numba-cuda's
    real pipeline (typing, lowering, NVVM) in a process without the simulator."""
    import os
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if "CUDA_HOME" not in env and os.path.isdir("/usr/local/cuda"):
        env["CUDA_HOME"] = "/usr/local/cuda"
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ptx_compile.py")
    out = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=600, env=env)
    if out.returncode == 77:
        pytest.skip(out.stdout.strip())
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "filter_kernel" in out.stdout and "reverse_kernel" in out.stdout and "latents_kernel" in out.stdout


def test_limits_and_misuse_are_reported(gpu, make_model):
    from lowrank.kernels.cuda import launch
    with pytest.raises(ValueError, match="at most 1024 particles"):
        launch.threads_per_block(1025)
    args, _, _ = build(BASE, 5, make_model)
    rec = records(*args.draws.eps.shape)
    with pytest.raises(ValueError, match="must be stacked"):
        gpu.smc_forward_cuda(*args, rec, model_of=np.zeros(2, dtype=np.int64))
    model, prop = gpu.stack_models([args.model]), gpu.stack_proposals([args.prop])
    with pytest.raises(ValueError, match="indices of the 1 stacked models"):
        gpu.smc_forward_cuda(args.codes, args.seqs, args.draws, model, prop, rec, np.array([0, 1]))
    wide = model._replace(a=np.zeros((1, 9)))
    with pytest.raises(ValueError, match="rank up to 8"):
        gpu.smc_forward_cuda(args.codes, args.seqs, args.draws, wide, prop, rec, np.array([0, 0]))
