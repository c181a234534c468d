"""The hand-written SMC kernels (``lowrank.smc.elbo``) against the autograd oracle.

For a pairwise covering set of model × algorithm configurations, on random
small models with the same draws:

* the forward pass (ELBO, particles, weights, ancestors) equals the reference;
* the gradient (per constrained block, and w.r.t. the flat vector) equals
  ``autograd`` on the reference replaying the kernel's ancestors;
* the gradient matches central finite differences of the kernel's own
  ``value`` along random directions.
"""
import itertools

import numpy as np
import pytest

from lowrank.model.options import ModelOptions
from lowrank.model.params import BLOCKS, Params, flat_slices, from_flat, to_flat
from reference import smc_numpy as ref   # tests/ is put on sys.path by conftest

# ---------------------------------------------------------------------------
# The configuration space and a pairwise covering set of it
# ---------------------------------------------------------------------------

FACTORS = {
    "proposal": ["bootstrap", "optimal", "encoder"],
    "activation": ["identity", "relu", "clipped_relu", "tanh"],
    "readout": ["latent", "latent_wv", "units_currents", "units_rates"],
    "likelihood": ["gaussian", "poisson_softplus", "poisson_exp"],
    "inputs": ["none", "raw", "filtered"],
    "noise": ["full", "diag"],
    "init_noise": ["full", "diag"],
    "shared_leak": [False, True],
    "resample": ["systematic", "stratified", "multinomial", "none"],
    "adaptive": [False, True],
    "rank": [1, 2, 3],
    "missing": [False, True],
}
NAMES = list(FACTORS)


def is_valid(c):
    if c["proposal"] == "optimal" and (c["likelihood"] != "gaussian" or c["readout"] == "units_rates"):
        return False
    if c["readout"] == "latent_wv" and c["inputs"] == "none":
        return False
    if c["adaptive"] and c["resample"] == "none":
        return False
    if c["missing"] and c["proposal"] == "optimal":
        return False
    return True


def valid_product(factors, valid):
    """All valid configurations, as rows of value indices (a small int array)."""
    names = list(factors)
    sizes = [len(factors[n]) for n in names]
    return np.array([idx for idx in itertools.product(*map(range, sizes))
                     if valid({n: factors[n][i] for n, i in zip(names, idx)})], dtype=np.int64)


def realised_pairs(rows, sizes):
    """{(i, j): bool matrix of the value pairs of factors i < j that some row realises}."""
    out = {}
    for i, j in itertools.combinations(range(len(sizes)), 2):
        u = np.zeros((sizes[i], sizes[j]), dtype=bool)
        u[rows[:, i], rows[:, j]] = True
        out[i, j] = u
    return out


def pairwise_cover(factors, valid, seed=0):
    """Greedy covering array: every pair of factor values that occurs in some
    valid configuration occurs in at least one chosen configuration.

    Enumerates the valid product once and repeatedly takes the row covering
    the most uncovered pairs; ties are broken by a seeded permutation so the
    set is deterministic.
    """
    names = list(factors)
    sizes = [len(factors[n]) for n in names]
    rows = valid_product(factors, valid)
    rows = rows[np.random.default_rng(seed).permutation(len(rows))]
    uncovered = realised_pairs(rows, sizes)
    chosen = []
    while any(u.any() for u in uncovered.values()):
        gain = np.zeros(len(rows), dtype=np.int64)
        for (i, j), u in uncovered.items():
            gain += u[rows[:, i], rows[:, j]]
        best = rows[int(np.argmax(gain))]
        for (i, j), u in uncovered.items():
            u[best[i], best[j]] = False
        chosen.append({n: factors[n][k] for n, k in zip(names, best)})
    return chosen


# Two independent covers: every pair twice, on different random models and sizes.
CONFIGS = pairwise_cover(FACTORS, is_valid, seed=0) + pairwise_cover(FACTORS, is_valid, seed=1)


def config_id(c):
    parts = [c["proposal"][:4], c["activation"], c["readout"], c["likelihood"], f"in-{c['inputs']}",
             f"Lz-{c['noise']}", f"L0-{c['init_noise']}", "shared" if c["shared_leak"] else "perdim",
             c["resample"] + ("-ess" if c["adaptive"] else ""), f"R{c['rank']}"] + (["missing"] if c["missing"] else [])
    return "/".join(parts)


PADDINGS = ("causal", "acausal", "windowed", "lookahead")
PADDING_MODES = ("zeros", "reflect", "circular", "replicate")


def encoder_case(i):
    """A tiny encoder network, its padding, mode, activation and variance cycling with the case."""
    return dict(kernel_sizes=(3, 2) if i % 2 else (2, 3, 1), channels=(4,) if i % 2 else (3, 2),
                activation=("gelu", "leaky_relu")[i % 2], padding=PADDINGS[i % 4],
                padding_mode=PADDING_MODES[(i // 4) % 4], init_scale=1.0, constant_var=i % 3 == 0)


def build_case(i, c, make_model, make_inputs, n_particles=None):
    """Options, parameters, data and draws of configuration i (sizes seeded by i; ``n_particles``
    overrides the number of particles)."""
    rng = np.random.default_rng(1000 + i)
    R = c["rank"]
    D = int(rng.integers(1, 6))
    N = int(rng.integers(max(R, D, 2), 13))
    K = int(rng.integers(2, 9))
    K = K if n_particles is None else n_particles
    T = int(rng.integers(3, 7))
    U = 0 if c["inputs"] == "none" else int(rng.integers(1, 3))
    readout, _, frm = c["readout"].partition("_")
    lik, _, link = c["likelihood"].partition("_")
    opts = ModelOptions(
        n_units=N, rank=R, n_obs=D, n_inputs=U, activation=c["activation"],
        readout=readout, units_readout_from=(frm if readout == "units" else "currents"),
        readout_input=(frm == "wv"), likelihood=lik, link=link or "softplus",
        bin_width=float(rng.choice([1.0, 0.5])) if lik == "poisson" else 1.0,
        shared_leak=c["shared_leak"], filter_inputs=(c["inputs"] == "filtered"),
        noise=c["noise"], init_noise=c["init_noise"], encoder=encoder_case(i) if c["proposal"] == "encoder" else None)
    params = make_model(opts, 2000 + i)
    n_seq = 2
    u = make_inputs(opts, n_seq, T, 3000 + i)
    _, y = ref.simulate(params, opts, T, n_seq, u, seed=4000 + i)
    if c["missing"]:
        # about a third of the entries missing (NaN, which the kernels' rule and the reference leave out)
        y = np.where(rng.random(y.shape) < 0.35, np.nan, y)
    # every other case pads the second sequence, to exercise `lengths`
    lengths = np.array([T, T - 1 - (i % 3 == 0)], dtype=np.int64) if i % 2 == 0 else None
    draws = ref.make_draws(n_seq, T, K, R, 5000 + i)
    ess = None
    if c["adaptive"]:
        # the optimal proposal keeps weights even: a high threshold still triggers sometimes
        ess = 0.95 if c["proposal"] == "optimal" else 0.7
    kw = dict(draws=draws, proposal=c["proposal"], resample=c["resample"], ess_threshold=ess, lengths=lengths)
    return opts, params, u, y, K, kw


def kernel_run(smc, params, opts, y, u, K, kw, grad=True):
    missing = np.isnan(y)
    return smc.elbo(params, y, u, options=opts, n_particles=K, grad=grad, return_particles=True,
                    mask=~missing if missing.any() else None, **kw)


def rel_err(a, b, floor=1e-8):
    a, b = np.ravel(a), np.ravel(b)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), floor))


GRAD_RTOL = 1e-6
ELBO_TOL = 1e-10

# Module-level cache: each case's kernel run and reference gradient are used by several tests.
_CACHE = {}


def _case(i, smc, make_model, make_inputs):
    if i not in _CACHE:
        c = CONFIGS[i]
        opts, params, u, y, K, kw = build_case(i, c, make_model, make_inputs)
        res = kernel_run(smc, params, opts, y, u, K, kw)
        _CACHE[i] = (opts, params, u, y, K, kw, res)
    return _CACHE[i]


def _valid_mask(kw, T):
    L = kw["lengths"]
    n_seq = kw["draws"][0].shape[0]
    L = np.full(n_seq, T) if L is None else L
    return np.arange(T)[None, :] < L[:, None]


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

def test_cover_is_pairwise_complete():
    """The covering set realises every valid pair (so every factor value meets every proposal it supports)."""
    assert len(CONFIGS) < 80
    sizes = [len(v) for v in FACTORS.values()]
    want = realised_pairs(valid_product(FACTORS, is_valid), sizes)
    chosen = np.array([[FACTORS[n].index(c[n]) for n in NAMES] for c in CONFIGS])
    got = realised_pairs(chosen, sizes)
    for (i, j), w in want.items():
        missing = np.argwhere(w & ~got[i, j])
        assert not len(missing), (NAMES[i], NAMES[j],
                                  [(FACTORS[NAMES[i]][a], FACTORS[NAMES[j]][b]) for a, b in missing])
    assert all(is_valid(c) for c in CONFIGS)


IDS = [f"{i}:{config_id(c)}" for i, c in enumerate(CONFIGS)]


@pytest.mark.parametrize("i", range(len(CONFIGS)), ids=IDS)
def test_forward_matches_reference(i, smc, make_model, make_inputs):
    opts, params, u, y, K, kw, res = _case(i, smc, make_model, make_inputs)
    T = y.shape[1]
    valid = _valid_mask(kw, T)
    # Own resampling first: the reference's ancestors must equal the kernel's.
    own = ref.forward(params, opts, y, u, **kw)
    anc_k = np.asarray(res.ancestors)
    assert np.array_equal(own.ancestors[valid], anc_k[valid]), (
        f"ancestors differ at (seq, t) = {np.argwhere((own.ancestors != anc_k).any(-1) & valid).tolist()}")
    np.testing.assert_allclose(res.particles[valid], own.particles[valid], rtol=1e-9, atol=1e-10,
                               err_msg="particles")
    np.testing.assert_allclose(res.log_weights[valid], own.log_W[valid], rtol=1e-9, atol=1e-9,
                               err_msg="normalised log-weights")
    err = np.abs(np.asarray(res.elbo) - own.elbo)
    assert np.all(err <= ELBO_TOL * np.maximum(1.0, np.abs(own.elbo))), (
        f"ELBO kernel {res.elbo} vs reference {own.elbo}: abs err {err}")
    np.testing.assert_allclose(res.elbo_per_step, own.elbo_per_step, rtol=1e-12, atol=ELBO_TOL)
    assert abs(res.value - own.value) <= ELBO_TOL * max(1.0, abs(own.value))


@pytest.mark.parametrize("i", range(len(CONFIGS)), ids=IDS)
def test_gradient_matches_autograd(i, smc, make_model, make_inputs):
    opts, params, u, y, K, kw, res = _case(i, smc, make_model, make_inputs)
    rkw = dict(kw, ancestors=np.asarray(res.ancestors))
    g_ref = ref.grad_blocks(params, opts, y, u, **rkw)
    theta = to_flat(params, opts)
    gf_ref = ref.grad_flat(theta, opts, y, u, **rkw)
    assert res.grad is not None and res.grad_flat is not None
    bad = []
    for k in BLOCKS:
        a, b = np.asarray(getattr(res.grad, k)), np.asarray(getattr(g_ref, k))
        if a.shape != b.shape:
            bad.append(f"{k}: shape {a.shape} vs {b.shape}")
            continue
        if b.size and rel_err(a, b) > GRAD_RTOL:
            bad.append(f"{k}: rel err {rel_err(a, b):.2e} (|ref| {np.linalg.norm(b):.3e})")
    sl = flat_slices(opts)
    for k in BLOCKS:
        a, b = res.grad_flat[sl[k]], gf_ref[sl[k]]
        if b.size and rel_err(a, b) > GRAD_RTOL:
            bad.append(f"flat[{k}]: rel err {rel_err(a, b):.2e} (|ref| {np.linalg.norm(b):.3e})")
    assert not bad, f"{config_id(CONFIGS[i])}: " + "; ".join(bad)


# Rank 2 with ReLU and at least LANES_MIN_PARTICLES particles takes the particles-as-lanes transitions
# (lowrank.kernels.transition.use_lanes); the cover above rarely draws that many particles.
LANES_CASES = [dict(CONFIGS[0], proposal=prop, activation="relu", readout=readout, likelihood=lik, rank=2,
                    inputs=inputs, missing=False, resample="systematic", adaptive=False)
               for prop, readout, lik, inputs in (("bootstrap", "units_rates", "poisson_softplus", "filtered"),
                                                  ("bootstrap", "latent", "gaussian", "raw"),
                                                  ("optimal", "units_currents", "gaussian", "none"),
                                                  ("encoder", "units_currents", "poisson_exp", "none"))]


@pytest.mark.parametrize("j", range(len(LANES_CASES)), ids=[config_id(c) for c in LANES_CASES])
@pytest.mark.parametrize("K", [8, 19])
def test_particles_as_lanes_match_reference(j, K, smc, make_model, make_inputs):
    from lowrank.kernels.transition import use_lanes
    from lowrank.model.codes import ACTIVATION_CODE
    assert use_lanes(ACTIVATION_CODE["relu"], 2, K)
    c = LANES_CASES[j]
    assert is_valid(c)
    opts, params, u, y, K, kw = build_case(900 + j, c, make_model, make_inputs, n_particles=K)
    res = kernel_run(smc, params, opts, y, u, K, kw)
    valid = _valid_mask(kw, y.shape[1])
    own = ref.forward(params, opts, y, u, **kw)
    assert np.array_equal(own.ancestors[valid], np.asarray(res.ancestors)[valid])
    np.testing.assert_allclose(res.particles[valid], own.particles[valid], rtol=1e-9, atol=1e-10)
    assert abs(res.value - own.value) <= ELBO_TOL * max(1.0, abs(own.value))
    g_ref = ref.grad_flat(to_flat(params, opts), opts, y, u, ancestors=np.asarray(res.ancestors), **kw)
    assert rel_err(res.grad_flat, g_ref) < GRAD_RTOL


def _kink_prone(opts):
    return opts.activation in ("relu", "clipped_relu")


@pytest.mark.parametrize("i", range(len(CONFIGS)), ids=IDS)
def test_gradient_matches_finite_differences(i, smc, make_model, make_inputs):
    """Central differences of the kernel's own ``value`` along random unit directions.

    The value is piecewise smooth in θ with fixed draws: it jumps when an
    ancestor or resampling decision flips, and (ReLU, clipped ReLU) has kinks.
    A direction is discarded when the ancestors at θ ± h·d differ from those
    at θ, or when differences at h and h/2 disagree (a kink inside the
    stencil, which a smooth function would not show to O(h²)). At least two
    directions must survive; each must agree to 1e-6 relative.
    """
    opts, params, u, y, K, kw, res = _case(i, smc, make_model, make_inputs)
    theta = to_flat(params, opts)
    g = res.grad_flat
    rng = np.random.default_rng(7000 + i)
    anc0 = np.asarray(res.ancestors)

    def val(th):
        r = kernel_run(smc, Params(*(np.asarray(x) for x in from_flat(th, opts))), opts, y, u, K, kw, grad=False)
        return r.value, np.array_equal(np.asarray(r.ancestors), anc0)

    h = 1e-5
    checked, failures = 0, []
    for _ in range(8):
        d = rng.standard_normal(len(theta))
        d /= np.linalg.norm(d)
        (vp, okp), (vm, okm) = val(theta + h * d), val(theta - h * d)
        (vp2, okp2), (vm2, okm2) = val(theta + 0.5 * h * d), val(theta - 0.5 * h * d)
        if not (okp and okm and okp2 and okm2):
            continue
        fd, fd2 = (vp - vm) / (2 * h), (vp2 - vm2) / h
        scale = np.linalg.norm(g) + 1e-3 * abs(res.value) + 1e-12
        if abs(fd - fd2) > 1e-6 * scale:
            continue
        checked += 1
        if abs(fd2 - g @ d) > 1e-6 * scale:
            failures.append(f"fd {fd2:.10e} vs grad·d {g @ d:.10e}")
        if checked == 3:
            break
    assert not failures, "; ".join(failures)
    assert checked >= 2, "too few smooth directions (ancestors flipping or kinks)"


# ---------------------------------------------------------------------------
# API conventions the comparison relies on
# ---------------------------------------------------------------------------

def test_seeded_draws_follow_documented_order(smc, make_model):
    """``seed=s`` uses default_rng(s): Box–Muller normals (n_seq, T, K, R) first, then uniforms."""
    opts = ModelOptions(n_units=5, rank=2, n_obs=3, activation="tanh")
    params = make_model(opts, 1)
    _, y = ref.simulate(params, opts, 5, 3, seed=2)
    res = smc.elbo(params, y, options=opts, n_particles=3, seed=17, grad=False, return_particles=True)
    eps, unif = ref.make_draws(3, 5, 3, 2, 17)
    np.testing.assert_allclose(res.draws[0], eps, rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(res.draws[1], unif)
    again = smc.elbo(params, y, options=opts, n_particles=3, draws=res.draws, grad=False)
    np.testing.assert_array_equal(again.elbo, res.elbo)


def test_model_object_with_params_and_options(smc, make_model):
    class Model:
        pass

    opts = ModelOptions(n_units=5, rank=2, n_obs=3)
    m = Model()
    m.params, m.options = make_model(opts, 3), opts
    _, y = ref.simulate(m.params, opts, 3, 1, seed=4)
    a = smc.elbo(m, y, n_particles=4, seed=5)
    b = smc.elbo(m.params, y, options=opts, n_particles=4, seed=5)
    np.testing.assert_array_equal(a.elbo, b.elbo)
    np.testing.assert_array_equal(a.grad_flat, b.grad_flat)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("proposal", ["bootstrap", "optimal"])
def test_degeneracy_raises(proposal, smc, make_model):
    """Every log-weight −inf at one step (an observation so far out that (y − η)² overflows)."""
    opts = ModelOptions(n_units=5, rank=2, n_obs=3)
    params = make_model(opts, 6)
    y = np.zeros((2, 4, 3))
    y[1, 2, 0] = 1e300
    with pytest.raises(smc.SMCDegeneracyError, match="sequence 1.*step 2"):
        smc.elbo(params, y, options=opts, n_particles=4, proposal=proposal, seed=0)
