"""lowrank.dynamics: exact cycles against brute force, sweeps, attractors of the teachers."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reference.cycles_numpy import brute_cycles  # noqa: E402

from lowrank import teachers  # noqa: E402
from lowrank.dynamics import attractors, find_cycles, sweep_inputs  # noqa: E402
from lowrank.model.options import ModelOptions  # noqa: E402
from lowrank.model.params import Params, block_shapes  # noqa: E402
from lowrank.rnn import LowRankRNN  # noqa: E402

SPIKES = Path(__file__).resolve().parents[3] / "shared" / "data" / "spikes" / "oscillator_poisson.npz"


def _same_sets(found, expected):
    """Every expected cycle found once (up to rotation), nothing else."""
    if len(found) != len(expected):
        return False
    left = list(expected)
    for o in found:
        scale = 1e-6 * (1.0 + np.max(np.abs(o)))
        hit = [j for j, p in enumerate(left)
               if any(np.max(np.abs(np.roll(o, -i, axis=0) - p)) <= scale for i in range(o.shape[0]))]
        if not hit:
            return False
        left.pop(hit[0])
    return not left


def _random(seed, n, activation):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, 2))
    N = rng.standard_normal((n, 2)) * (2 + seed % 5 * 2) / n * (2 if activation == "clipped_relu" else 1)
    h = rng.standard_normal(n) * 0.5
    return M, N, h, 0.3


# (activation, period, n_units, seeds): brute force tries (levels^n)^k sequences
CASES = [("relu", 1, 10, 4), ("relu", 2, 6, 12), ("relu", 3, 3, 12), ("clipped_relu", 2, 3, 12),
         ("clipped_relu", 3, 2, 10)]


@pytest.mark.parametrize("activation,k,n,n_seeds", CASES)
def test_cycles_match_brute_force(activation, k, n, n_seeds):
    total = 0
    for seed in range(n_seeds):
        M, N, h, a = _random(seed, n, activation)
        res = find_cycles((M, N, h, a), period=k, activation=activation)
        ref, _ = brute_cycles(M, N, h, a, k, activation=activation)
        assert _same_sets(list(res.orbits), ref), (seed, len(res), len(ref))
        total += len(ref)
        assert res.n_cells[0] == res.n_regions and res.n_closed <= res.n_sequences
    assert total > 0        # the cases do have cycles


def _random_rank(seed, n, activation, R):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, R))
    N = rng.standard_normal((n, R)) * (2 + seed % 5 * 2) / n * (2 if activation == "clipped_relu" else 1)
    return M, N, rng.standard_normal(n) * 0.5, 0.3


def _flip3(seed, n_extra, activation, g=2.0):
    """R = 3; coordinates 1 and 2 follow ``z -> 0.3 z − g·clip(z, −1, 1)``, a flip (slope −1.7)
    inside ±1 that saturates outside, with the 2-cycle ``±g / 1.3``; so the map has the 2-cycles
    of the product (4 of them, coordinate 3 at rest), kept under the random couplings and units.

    relu: ``clip(z, −1, 1) = relu(z + 1) − relu(z − 1) − 1``, the constant from a unit with a zero
    row of M; clipped relu (plateau 2): ``clip(z, −1, 1) = φ(z + 1) − 1`` likewise."""
    rng = np.random.default_rng(seed)
    rows_m, rows_n, hs = [], [], []
    for i in (0, 1):
        e = np.eye(3)[i]
        if activation == "relu":
            rows_m += [e, e]
            rows_n += [-g * e, g * e]
            hs += [-1.0, 1.0]
        else:
            rows_m += [e]
            rows_n += [-g * e]
            hs += [2.0]
    rows_m.append(np.zeros(3))                        # the constant g·(1, 1, 0)
    rows_n.append(g * np.array([1.0, 1.0, 0.0]))
    hs.append(-1.0 if activation == "relu" else 2.0)
    n_fixed = len(rows_m)
    M = np.vstack(rows_m + [rng.standard_normal((n_extra, 3))])
    N = np.vstack(rows_n + [0.3 * rng.standard_normal((n_extra, 3))])
    h = np.concatenate([hs, rng.standard_normal(n_extra) * 0.5])
    c = np.zeros(M.shape[0])
    if activation != "relu":                          # pre-activations z − 1 and −1 (φ(−1) = 1)
        c[:n_fixed] = 1.0
    M[:n_fixed - 1] += 0.05 * rng.standard_normal((n_fixed - 1, 3))
    N += 0.05 * rng.standard_normal(N.shape)
    return M, N, h, 0.3, c


# (activation, period, n_units, seeds) at R = 3
CASES_R3 = [("relu", 2, 5, 8), ("clipped_relu", 2, 4, 6), ("relu", 3, 3, 8)]


@pytest.mark.parametrize("activation,k,n,n_seeds", CASES_R3)
def test_rank3_cycles_match_brute_force(activation, k, n, n_seeds):
    total = 0
    for seed in range(n_seeds):
        M, N, h, a = _random_rank(seed, n, activation, 3)
        res = find_cycles((M, N, h, a), period=k, activation=activation)
        ref, _ = brute_cycles(M, N, h, a, k, activation=activation)
        assert _same_sets(list(res.orbits), ref), (seed, len(res), len(ref))
        assert res.orbits.shape[1:] == (k, 3) and res.multipliers.shape == (len(ref), 3)
        total += len(ref)
        assert res.n_cells[0] == res.n_regions and res.n_closed <= res.n_sequences
    assert total > 0


@pytest.mark.parametrize("activation,n_extra,seed", [("relu", 1, 0), ("relu", 2, 1), ("clipped_relu", 1, 0)])
def test_rank3_two_cycles_of_a_flip(activation, n_extra, seed):
    M, N, h, a, c = _flip3(seed, n_extra, activation)
    res = find_cycles((M, N, h, a), period=2, activation=activation, c=c)
    ref, _ = brute_cycles(M, N, h, a, 2, activation=activation, c=c)
    assert len(ref) == 4 and _same_sets(list(res.orbits), ref)
    assert sorted(res.stability) == ["saddle", "saddle", "stable", "stable"]
    for orbit, mult in zip(res.orbits, res.multipliers):
        nxt = a * orbit + _phi(activation, orbit @ M.T + c - h, h) @ N
        assert np.allclose(nxt, orbit[::-1], atol=1e-9)
        # multipliers: eigenvalues of the product of the Jacobians along the orbit (finite differences)
        P = _fd_jacobian(lambda z: _step(activation, M, N, h, a, _step(activation, M, N, h, a, z, c), c), orbit[0])
        assert np.allclose(np.poly(P), np.poly(mult).real, rtol=1e-5, atol=1e-6)   # same characteristic polynomial


def _phi(activation, x, h):
    return np.maximum(x, 0) if activation == "relu" else np.maximum(x + h, 0) - np.maximum(x, 0)


def _step(activation, M, N, h, a, z, c=0.0):
    return a * z + _phi(activation, M @ z + c - h, h) @ N


def _fd_jacobian(f, z, eps=1e-7):
    return np.array([(f(z + eps * e) - f(z - eps * e)) / (2 * eps) for e in np.eye(z.size)]).T


def test_rank3_agrees_with_the_plane_search_at_rank2():
    """The any-rank search (every sequence of regions) run at R = 2 finds what the pruned
    search of the plane finds."""
    from lowrank.dynamics import cycles as cyc
    for k, n, seeds in ((2, 8, 6), (3, 5, 6)):
        for seed in range(seeds):
            M, N, h, a = _random(seed, n, "relu")
            arrays = cyc.model_arrays((M, N, h, a))
            maps, lines = cyc._region_maps(arrays, 1e-9)
            out = cyc._run_sequences(maps, k)
            orbits, _ = cyc._collect(arrays, lines, cyc._found_sequences(out, maps.sides), k, 1e-9)
            res = find_cycles((M, N, h, a), period=k)
            assert maps.G.shape[0] == res.n_regions
            assert _same_sets(orbits, list(res.orbits)), (k, seed)


def test_rank3_continuum_of_two_cycles():
    # unit 0 is on for z1 > −100 and makes z1 -> −z1 − 150 (a flip with multiplier −1): every
    # (t, 0, 0), t in (−100, −50), is on a 2-cycle; unit 1 is off there.
    a = 0.5
    M = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    N = np.array([[-1.5, 0.0, 0.0], [0.0, 0.2, 0.1]])
    h = np.array([-100.0, 50.0])
    res = find_cycles((M, N, h, a), period=2)
    assert len(res) == 0 and len(res.continuum) == 1
    orbit = res.continuum[0].orbit
    assert np.allclose(_step("relu", M, N, h, a, orbit[0]), orbit[1])
    assert np.allclose(_step("relu", M, N, h, a, orbit[1]), orbit[0])
    assert np.max(np.abs(orbit[0] - orbit[1])) > 1e-6
    assert res.continuum[0].directions.shape == (3, 1)
    assert len(find_cycles((M, N, h, a), period=1)) == 1    # the centre, z1 = −75


def test_cycles_are_minimal_and_labelled():
    # z -> -0.9 z + 0.5·1 (a flip): one fixed point, no 2-cycle; with a kink, a 2-cycle
    M = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    N = np.array([[-3.0, 0.0], [0.0, -3.0], [0.5, 0.5]])
    h = np.array([0.1, -0.2, 0.3])
    fp = find_cycles((M, N, h, 0.5), period=1)
    two = find_cycles((M, N, h, 0.5), period=2)
    four = find_cycles((M, N, h, 0.5), period=4)
    ref2, _ = brute_cycles(M, N, h, 0.5, 2)
    assert _same_sets(list(two.orbits), ref2)
    for orbit in two.orbits:       # a 2-cycle is not a fixed point, and is not reported as a 4-cycle
        assert np.max(np.abs(orbit[0] - orbit[1])) > 1e-6
        assert not any(np.allclose(np.tile(orbit, (2, 1)), np.roll(o, -i, axis=0)) for o in four.orbits
                       for i in range(4))
    assert len(fp) >= 1
    for orbit, mult, stab in zip(two.orbits, two.multipliers, two.stability):
        assert stab == ("stable" if np.all(np.abs(mult) < 1) else "unstable" if np.all(np.abs(mult) > 1)
                        else "saddle")


def test_continuum_of_cycles_is_flagged_not_crashed():
    # one unit on everywhere in the region where it matters: F is a rotation by 90° about a point,
    # so every point is on a 4-cycle (a continuum); its isolated part is the centre, a fixed point.
    a = 0.5
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    # units 0, 1 on for z > −100 (z_{t+1} = rot z there, thanks to unit 2, a constant: zero row of M)
    M = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    h = np.array([-100.0, -100.0, -1.0])
    N = np.vstack([(rot - a * np.eye(2)).T, ((rot - a * np.eye(2)) @ h[:2])[None]])
    res = find_cycles((M, N, h, a), period=4)
    assert len(res.continuum) >= 1 and len(res) == 0
    cn = res.continuum[0]
    orbit = cn.orbit
    nxt = a * orbit + np.maximum(orbit @ M.T - h, 0) @ N
    assert np.allclose(nxt, np.roll(orbit, -1, axis=0))
    assert find_cycles((M, N, h, a), period=2).continuum == ()


def test_cycle_through_a_boundary_is_counted_once():
    # brute force over the patterns finds a cycle on a kink from both sides; both count it once
    M = np.array([[1.0, 0.0], [0.0, 1.0]])
    N = np.array([[-2.6, 0.0], [0.0, -2.6]])
    a = 0.3
    # choose h so that the 2-cycle's lower point sits exactly on unit 0's kink
    ref, _ = brute_cycles(M, N, np.array([0.0, 0.0]), a, 2)
    res = find_cycles((M, N, np.array([0.0, 0.0]), a), period=2)
    assert _same_sets(list(res.orbits), ref)
    c = np.array([1.0, 1.0])
    ref, _ = brute_cycles(M, N, np.zeros(2), a, 2, c=c)
    res = find_cycles((M, N, np.zeros(2), a), period=2, c=c)
    assert _same_sets(list(res.orbits), ref)


def test_find_cycles_rejects_bad_input():
    M = np.ones((200, 3))
    with pytest.raises(ValueError, match="R = 3 tries every sequence"):
        find_cycles((M, M, np.zeros(200), 0.5), period=3)
    with pytest.raises(TypeError, match="period"):
        find_cycles((np.ones((3, 2)), np.ones((3, 2)), np.zeros(3), 0.5), period=2.0)
    with pytest.raises(ValueError, match="tanh"):
        find_cycles((np.ones((3, 2)), np.ones((3, 2)), np.zeros(3), 0.5), period=2, activation="tanh")


def _fold_model():
    """z1 -> 0.9 z1 + 0.3 relu(z1 + u): two fixed points (0 and −3u) for u < 0, none for u > 0."""
    opts = ModelOptions(n_units=2, rank=2, n_obs=2, n_inputs=1, activation="relu")
    shapes = block_shapes(opts)
    blocks = {k: np.zeros(s) for k, s in shapes.items()}
    blocks.update(m=np.array([[1.0, 0.0], [0.0, 0.0]]), n=np.array([[0.3, 0.0], [0.0, 0.0]]),
                  h=np.zeros(2), a=np.full(2, 0.9), W_u=np.array([[1.0], [0.0]]), L_z=0.1 * np.eye(2),
                  L_0=np.eye(2), C=np.eye(2), sigma=np.ones(2))
    blocks = {k: np.asarray(v, dtype=np.float64).reshape(shapes[k]) for k, v in blocks.items() if k in shapes}
    return LowRankRNN.from_params(Params(**blocks), opts)


def test_sweep_locates_saddle_node():
    model = _fold_model()
    u = np.linspace(-1.0, 1.0, 41)[:, None] + 0.013     # the fold (u = 0) is not a grid point
    res = sweep_inputs(model, u)
    sn = [e for e in res.events if e.kind == "saddle-node"]
    assert len(sn) == 1
    step = u[1, 0] - u[0, 0]
    assert abs(sn[0].input[0] - 0.0) <= step
    assert [len(f) for f in res.fixed_points[:3]] == [2, 2, 2]


def test_oscillator_teacher_attractor():
    """The built-in oscillator is a damped oscillation (ρ = 0.96): noise-free, its one attractor is a
    stable focus, turning at the teacher's frequency (measured here from the decaying path)."""
    t = teachers.get("oscillator", seed=0)
    res = attractors(t.model, n_starts=6, seed=0, n_transient=500, n_record=200)
    assert len(res) == 1 and res[0].kind == "fixed_point" and res[0].stability == "stable"
    p = t.model.params
    z, zs = p.mu0 + np.array([0.3, 0.0]), []
    for _ in range(60):
        z = p.a * z + p.n.T @ np.maximum(p.m @ z - p.h, 0)
        zs.append(z - t.facts["fixed_point"])
    zs = np.array(zs)
    ang = np.unwrap(np.arctan2(zs[:, 1], zs[:, 0]))
    measured = abs(ang[-1] - ang[0]) / (2 * np.pi * (len(zs) - 1))
    assert res[0].frequency == pytest.approx(measured, rel=1e-6)


@pytest.mark.skipif(not SPIKES.exists(), reason=f"shared spiking teacher not found at {SPIKES}")
def test_spiking_teacher_limit_cycle():
    d = np.load(SPIKES)
    arrays = (d["m"], d["n"], d["h"], d["a"])
    res = attractors(arrays, n_starts=6, seed=0)
    assert len(res) == 1
    cyc = res[0]
    assert cyc.kind == "closed_curve" and abs(cyc.lyapunov) < 1e-3
    assert len(cyc.encloses) == 1
    assert res.fixed_points.stability[cyc.encloses[0]] == "unstable"
    # independent: the mean time between upward crossings of z1 through its mean on a long path
    z, zs = np.array([0.5, 0.5]), []
    for _ in range(12000):
        z = d["a"] * z + d["n"].T @ np.maximum(d["m"] @ z - d["h"], 0)
        zs.append(z[0])
    x = np.array(zs[2000:]) - np.mean(zs[2000:])
    up = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    assert cyc.frequency == pytest.approx((len(up) - 1) / (up[-1] - up[0]), rel=2e-3)
    # the noise-free cycle turns at 0.0200/step; the noisy data's 0.0195 is 2.6 % slower
    assert cyc.frequency == pytest.approx(0.0195, rel=0.03)
