"""The SMC draws (lowrank.inference.draws, lowrank.kernels.normals) and the scratch arrays
reused between ELBO calls (lowrank.inference.workspace)."""
import threading

import numba
import numpy as np
import pytest
import scipy.stats

from factories import make_options, random_params
from lowrank import smc
from lowrank.inference import workspace
from lowrank.inference.draws import smc_draws, standard_normals
from lowrank.kernels.normals import box_muller, sincos_2pi
from reference import smc_numpy as ref


@numba.njit
def _sincos_all(b, s, c):
    for i in range(b.shape[0]):
        s[i], c[i] = sincos_2pi(b[i])


def test_sincos_2pi_against_numpy_on_a_grid_with_the_quadrant_edges():
    edges = np.array([k / 8 for k in range(8)])
    near = np.concatenate([edges, np.nextafter(edges, 1.0), np.nextafter(edges, -1.0)])
    b = np.concatenate([np.linspace(0.0, 1.0, 200_001)[:-1], near[(near >= 0) & (near < 1)],
                        [np.nextafter(1.0, 0.0), 5e-324, 1e-300]])
    s, c = np.empty_like(b), np.empty_like(b)
    _sincos_all(b, s, c)
    # numpy's own sin(2πb) carries the rounding of 2πb (up to ~7e-16 absolute); ours the same
    np.testing.assert_allclose(s, np.sin(2 * np.pi * b), rtol=0, atol=2e-15)
    np.testing.assert_allclose(c, np.cos(2 * np.pi * b), rtol=0, atol=2e-15)
    assert np.all(np.abs(s) <= 1.0) and np.all(np.abs(c) <= 1.0)
    assert s[b == 0.0][0] == 0.0 and c[b == 0.0][0] == 1.0


@pytest.mark.parametrize("n", [1, 2, 7, 8192 * 2 + 3, 100_001])
def test_box_muller_matches_the_formula_for_any_length(n):
    """Odd lengths drop the last sine; chunk edges (8192 pairs) change nothing."""
    rng = np.random.default_rng(n)
    got = standard_normals(rng, (n,))
    m = (n + 1) // 2
    u = np.random.default_rng(n).random(2 * m)
    r = np.sqrt(-2.0 * np.log1p(-u[:m]))
    want = np.concatenate([r * np.cos(2 * np.pi * u[m:]), r * np.sin(2 * np.pi * u[m:])])[:n]
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


def test_box_muller_extremes_are_finite():
    u = np.array([0.0, np.nextafter(1.0, 0.0), 0.5, 0.25])
    box_muller(u)
    assert np.all(np.isfinite(u))
    # pairs (u[0], u[2]) and (u[1], u[3]): r = 0 at u = 0; the largest radius at an angle of π/2
    assert u[0] == 0.0 and u[2] == 0.0
    assert u[1] == 0.0
    np.testing.assert_allclose(u[3], np.sqrt(-2 * np.log(2.0**-53)), rtol=1e-14)


def test_normals_are_standard_normal():
    """Fixed seed: a KS test and the first four moments on 400,000 draws."""
    x = standard_normals(np.random.default_rng(2024), (400_000,))
    assert scipy.stats.kstest(x, "norm").pvalue > 0.01
    assert abs(x.mean()) < 5 / np.sqrt(x.size)
    assert abs(x.var() - 1) < 5 * np.sqrt(2 / x.size)
    assert abs(scipy.stats.skew(x)) < 5 * np.sqrt(6 / x.size)
    assert abs(scipy.stats.kurtosis(x)) < 5 * np.sqrt(24 / x.size)
    # the two halves of a pair are independent
    assert abs(np.corrcoef(x[:200_000], x[200_000:])[0, 1]) < 5 / np.sqrt(200_000)


def test_smc_draws_order_and_generator_use():
    d = smc_draws(3, 2, 5, 4, 3)
    eps, unif = ref.make_draws(2, 5, 4, 3, 3)
    np.testing.assert_allclose(d.eps, eps, rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(d.unif, unif)
    g = np.random.default_rng(3)
    a, b = smc_draws(g, 2, 5, 4, 3), smc_draws(g, 2, 5, 4, 3)
    np.testing.assert_array_equal(a.eps, d.eps)
    assert not np.array_equal(a.eps, b.eps)                    # the Generator advanced


def test_draws_do_not_depend_on_the_thread_count():
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = smc_draws(9, 4, 300, 64, 3).eps.copy()
        numba.set_num_threads(before)
        many = smc_draws(9, 4, 300, 64, 3).eps
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)


# ---- the workspace

def _poisson_call(seed, **kw):
    opts = make_options(n_units=6, rank=2, n_obs=5, activation="relu", readout="units", likelihood="poisson")
    params = random_params(opts, np.random.default_rng(0))
    y = np.random.default_rng(1).poisson(1.0, (3, 12, 5)).astype(float)
    return smc.elbo(params, y, options=opts, n_particles=8, proposal="bootstrap", seed=seed, **kw)


def test_workspace_reuses_arrays_and_caps_its_size():
    ws = workspace.Workspace(max_bytes=1000)
    a = ws.empty("a", (10,))
    assert ws.empty("a", (10,)) is a
    assert ws.empty("a", (11,)) is not a and ws.empty("a", (11,)).shape == (11,)
    assert ws.empty("a", (11,), np.int64).dtype == np.int64
    big = ws.empty("big", (1000,))
    assert ws.empty("big", (1000,)) is not big                 # over the cap: never kept
    assert ws.nbytes <= 1000
    ws.clear()
    assert ws.nbytes == 0


def test_repeated_calls_give_the_numbers_of_fresh_arrays():
    """A call that reuses the thread's arrays equals one run with new arrays (return_particles)."""
    workspace.release()
    first = _poisson_call(4)
    other = _poisson_call(5)
    again = _poisson_call(4)
    assert workspace.thread_workspace().nbytes > 0
    fresh = _poisson_call(4, return_particles=True)
    assert np.array_equal(again.elbo, first.elbo) and np.array_equal(fresh.elbo, first.elbo)
    assert np.array_equal(again.grad_flat, fresh.grad_flat)
    assert not np.array_equal(other.elbo, first.elbo)
    # results do not alias the reused arrays: the first result is unchanged by the later calls
    assert np.array_equal(first.grad_flat, fresh.grad_flat)


def test_returned_particles_are_not_overwritten_by_later_calls():
    res = _poisson_call(6, return_particles=True)
    Z, eps = res.particles.copy(), res.draws[0].copy()
    _poisson_call(7)
    _poisson_call(8)
    assert np.array_equal(res.particles, Z) and np.array_equal(res.draws[0], eps)


def test_each_thread_has_its_own_workspace():
    seen = []
    t = threading.Thread(target=lambda: seen.append(workspace.thread_workspace()))
    t.start()
    t.join()
    assert seen[0] is not workspace.thread_workspace()
