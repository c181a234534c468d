"""Tests of lowrank.fixed_points: the region enumerator against brute force,
region counts, constructed linear / line-attractor / bistable models, thread
independence and input validation."""
import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lowrank.fixed_points import (
    FixedPoints,
    brute_force_fixed_points,
    find_fixed_points,
    format_table,
    newton_fixed_points,
    zaslavsky_bound,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _random_model(rng, n, R, activation, gain, with_c, rank_deficient=False):
    M = rng.standard_normal((n, R))
    if rank_deficient and R > 1:
        M[:, -1] = 0.5 * M[:, 0]
    N = rng.standard_normal((n, R)) * gain / np.sqrt(n)
    h = rng.standard_normal(n)
    if activation == "clipped_relu" and rng.random() < 0.7:
        h = np.abs(h) + 0.1  # the usual positive thresholds; others keep mixed signs
    c = rng.standard_normal(n) if with_c else None
    a = rng.uniform(0.1, 0.95, R)
    return M, N, h, a, c


def _assert_same(res, ref):
    assert len(res) == len(ref), (res.z, ref.z)
    np.testing.assert_allclose(res.z, ref.z, atol=1e-9, rtol=0)
    assert res.stability == ref.stability
    np.testing.assert_array_equal(res.pattern, ref.pattern)
    assert len(res.continuum) == len(ref.continuum)


@pytest.mark.parametrize("block", range(4))
def test_enumerator_matches_brute_force(block):
    """≥ 200 random models (R ∈ {1,2,3}, both activations, with/without c)."""
    rng = np.random.default_rng(1000 + block)
    n_models, n_fp_total, max_fp = 0, 0, 0
    for trial in range(55):
        R = int(rng.integers(1, 4))
        activation = ("relu", "clipped_relu")[trial % 2]
        n = int(rng.integers(1, 13 if activation == "relu" else 9))
        gain = float(rng.choice([0.5, 2.0, 5.0, 10.0]))  # large gain: strongly recurrent, many fixed points
        M, N, h, a, c = _random_model(rng, n, R, activation, gain, with_c=trial % 3 == 0,
                                      rank_deficient=trial % 11 == 0)
        res = find_fixed_points(M, N, h, a, activation, c)
        ref = brute_force_fixed_points(M, N, h, a, activation, c)
        _assert_same(res, ref)
        assert res.exhaustive and ref.exhaustive
        n_models += 1
        n_fp_total += len(ref)
        max_fp = max(max_fp, len(ref))
        # every fixed point really is one
        for z in res.z:
            x = M @ z + (0 if c is None else c) - h
            phi = np.maximum(x, 0) if activation == "relu" else np.maximum(x + h, 0) - np.maximum(x, 0)
            np.testing.assert_allclose(a * z + N.T @ phi, z, atol=1e-9 * (1 + np.abs(z).max()))
    assert n_models == 55
    assert n_fp_total > 40 and max_fp >= 4  # the sample does exercise models with many fixed points


def test_region_count_general_position():
    rng = np.random.default_rng(7)
    n = 60
    M = rng.standard_normal((n, 2))
    N = rng.standard_normal((n, 2)) / n
    h = rng.standard_normal(n)
    res = find_fixed_points(M, N, h, 0.8)
    assert res.n_regions_checked == 1831 == zaslavsky_bound(60, 2)
    assert res.n_vertices == math.comb(60, 2)
    assert res.n_hyperplanes == 60


@pytest.mark.parametrize("R,activation", [(1, "relu"), (3, "relu"), (2, "clipped_relu"), (3, "clipped_relu")])
def test_region_count_other_ranks(R, activation):
    rng = np.random.default_rng(R)
    n = 15
    M = rng.standard_normal((n, R))
    res = find_fixed_points(M, rng.standard_normal((n, R)) / n, np.abs(rng.standard_normal(n)) + 0.1, 0.5,
                            activation)
    H = n if activation == "relu" else 2 * n
    if activation == "relu":
        assert res.n_regions_checked == zaslavsky_bound(H, R)
    else:
        # parallel pairs never meet: each lost vertex-subset removes its region
        lost = sum(math.comb(n, 1) * math.comb(H - 2, k - 2) for k in range(2, R + 1))
        assert res.n_regions_checked == zaslavsky_bound(H, R) - lost


def test_linear_network_matches_solve():
    rng = np.random.default_rng(3)
    n, R = 20, 3
    M = rng.standard_normal((n, R)) * 0.1
    N = rng.standard_normal((n, R)) * 0.02
    h = np.full(n, -10.0)  # every unit active wherever a fixed point can be
    a = np.array([0.3, 0.5, 0.7])
    res = find_fixed_points(M, N, h, a)
    z = np.linalg.solve(np.eye(R) - np.diag(a) - N.T @ M, N.T @ (-h))
    assert len(res) == 1
    np.testing.assert_allclose(res.z[0], z, rtol=1e-12, atol=1e-12)
    assert np.all(res.pattern == 1)
    np.testing.assert_allclose(res.jacobian[0], np.diag(a) + N.T @ M, atol=1e-14)
    assert res.stability == ("stable",)


def test_line_attractor_reported_as_continuum():
    rng = np.random.default_rng(11)
    n, R = 6, 2
    a = np.array([0.5, 0.5])
    M = rng.standard_normal((n, R))
    K = np.array([[0.5, 0.0], [0.0, 0.2]])  # Nᵀ M = K: I − diag(a) − K has a zero first column
    N = M @ np.linalg.inv(M.T @ M) @ K.T
    g = np.linalg.solve(M.T @ M, M.T @ np.ones(n))
    z_star = np.array([g[0], 0.4 * g[1]])  # consistent right-hand side, see derivation in the issue
    h = M @ z_star - 1.0  # all units active (x = 1) at z_star
    res = find_fixed_points(M, N, h, a)
    assert len(res.continuum) >= 1
    cn = [c for c in res.continuum if np.all(c.pattern == 1)]
    assert len(cn) == 1
    cn = cn[0]
    assert cn.directions.shape == (2, 1)
    assert abs(abs(cn.directions[0, 0]) - 1.0) < 1e-9  # along z_1
    assert abs(cn.point[1] - z_star[1]) < 1e-9
    assert cn.extent[0] < 0 < cn.extent[1]
    # points of the continuum are fixed points of F
    for y in np.linspace(cn.extent[0], cn.extent[1], 5)[1:-1]:
        z = cn.point + cn.directions[:, 0] * y
        np.testing.assert_allclose(a * z + N.T @ np.maximum(M @ z - h, 0), z, atol=1e-9)
    assert np.any(np.abs(np.abs(cn.eigenvalues) - 1.0) < 1e-9)
    ref = brute_force_fixed_points(M, N, h, a)
    assert len(ref.continuum) == len(res.continuum)
    assert "continuum" in format_table(res)


def _bistable_clipped():
    # breakpoints at z = 1 and z = 3; F = 0.5 z + 2 φ
    return np.array([[1.0]]), np.array([[2.0]]), np.array([2.0]), 0.5, np.array([-1.0])


def test_bistable_clipped_relu():
    M, N, h, a, c = _bistable_clipped()
    res = find_fixed_points(M, N, h, a, "clipped_relu", c)
    np.testing.assert_allclose(res.z[:, 0], [0.0, 2.0 / 1.5, 8.0], atol=1e-12)
    assert res.stability == ("stable", "unstable", "stable")
    np.testing.assert_array_equal(res.pattern[:, 0], [0, 1, 2])
    assert not np.any(res.on_boundary)


def test_bistable_relu_pair():
    # excitatory unit from z = 1, inhibitory copy from z = 3: saturating feedback
    M = np.array([[1.0], [1.0]])
    N = np.array([[2.0], [-2.0]])
    h = np.array([1.0, 3.0])
    res = find_fixed_points(M, N, h, 0.5)
    np.testing.assert_allclose(res.z[:, 0], [0.0, 2.0 / 1.5, 8.0], atol=1e-12)
    assert res.stability == ("stable", "unstable", "stable")
    np.testing.assert_array_equal(res.pattern, [[0, 0], [1, 0], [1, 1]])
    _assert_same(res, brute_force_fixed_points(M, N, h, 0.5))


def test_saddle_label_rank2():
    # two uncoupled bistable coordinates: the mixed fixed points are saddles
    M = np.array([[1.0, 0], [1.0, 0], [0, 1.0], [0, 1.0]])
    N = np.array([[2.0, 0], [-2.0, 0], [0, 2.0], [0, -2.0]])
    h = np.array([1.0, 3.0, 1.0, 3.0])
    res = find_fixed_points(M, N, h, 0.5)
    assert len(res) == 9
    assert res.stability.count("stable") == 4
    assert res.stability.count("unstable") == 1
    assert res.stability.count("saddle") == 4


def test_no_vertex_cases():
    rng = np.random.default_rng(5)
    for n, R in [(1, 3), (2, 3), (1, 2), (0, 2)]:
        M = rng.standard_normal((n, R)) * 2
        N = rng.standard_normal((n, R)) * 3
        h = rng.standard_normal(n)
        res = find_fixed_points(M, N, h, 0.6, c=np.full(n, 0.3))
        ref = brute_force_fixed_points(M, N, h, 0.6, c=np.full(n, 0.3))
        _assert_same(res, ref)
        assert res.n_regions_checked == zaslavsky_bound(n, R)


def test_zero_row_unit_is_constant_input():
    M = np.array([[0.0, 0.0], [1.0, 0.5]])
    N = np.array([[1.0, -1.0], [0.5, 0.2]])
    h = np.array([-1.0, 0.3])
    for act in ("relu", "clipped_relu"):
        _assert_same(find_fixed_points(M, N, h, 0.7, act), brute_force_fixed_points(M, N, h, 0.7, act))


def test_result_object_and_json():
    M, N, h, a, c = _bistable_clipped()
    res = find_fixed_points(M, N, h, a, "clipped_relu", c)
    assert isinstance(res, FixedPoints)
    d = res.to_dict()
    json.dumps(d)
    assert d["stability"] == ["stable", "unstable", "stable"]
    assert len(d["eigenvalues"][0][0]) == 2
    text = repr(res)
    assert "stable" in text and "unstable" in text and "FixedPoints" in text
    assert format_table(res).count("\n") == 3
    assert res.z.shape == (3, 1) and res.jacobian.shape == (3, 1, 1) and res.eigenvalues.shape == (3, 1)
    assert res.pattern.dtype == np.int8


def test_tanh_newton():
    # 1-D bistable tanh unit: z = 0.5 z + tanh(z) has three roots
    res = find_fixed_points(np.array([[1.0]]), np.array([[1.0]]), np.array([0.0]), 0.5, "tanh")
    assert res.exhaustive is False and res.method == "newton"
    assert len(res) == 3
    assert res.stability == ("stable", "unstable", "stable")
    z = res.z[:, 0]
    np.testing.assert_allclose(0.5 * z + np.tanh(z), z, atol=1e-10)
    res2 = newton_fixed_points(np.array([[1.0]]), np.array([[1.0]]), np.array([0.0]), 0.5, "tanh", seed=0)
    np.testing.assert_array_equal(res.z, res2.z)


def test_thread_count_does_not_change_results(tmp_path):
    script = textwrap.dedent("""
        import hashlib, numpy as np
        from lowrank.fixed_points import find_fixed_points
        rng = np.random.default_rng(0)
        out = []
        for n, R, act in [(40, 2, "relu"), (25, 3, "relu"), (15, 3, "clipped_relu")]:
            M = rng.standard_normal((n, R)); N = rng.standard_normal((n, R)) * 6 / np.sqrt(n)
            h = rng.standard_normal(n) * 0.5
            r = find_fixed_points(M, N, h, 0.5, act)
            out.append(r.z.tobytes() + r.pattern.tobytes() + r.eigenvalues.tobytes()
                       + repr((r.n_regions_checked, r.n_vertices, r.stability)).encode())
        print(hashlib.sha256(b"".join(out)).hexdigest(), sum(1 for _ in out))
    """)
    digests = []
    for threads in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads, PYTHONPATH=REPO)
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                              timeout=300, cwd=REPO)
        assert proc.returncode == 0, proc.stderr
        digests.append(proc.stdout.strip())
    assert digests[0] == digests[1]


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(M=np.ones(3)), ValueError, r"M must be a 2-D array"),
    (dict(N=np.ones((4, 2))), ValueError, r"N must have the same shape as M.*\(4, 2\)"),
    (dict(h=np.ones(4)), ValueError, r"h must have shape \(n_units,\) = \(3,\); got \(4,\)"),
    (dict(h=np.array([0.0, np.nan, 1.0])), ValueError, r"h contains NaN or inf"),
    (dict(M=np.array([[1.0, np.inf]] * 3)), ValueError, r"M contains NaN or inf"),
    (dict(a=1.0), ValueError, r"a \(the leak\) must lie in the open interval \(0, 1\)"),
    (dict(a=np.array([0.5, 0.0])), ValueError, r"open interval \(0, 1\)"),
    (dict(a=np.array([0.5, 0.5, 0.5])), ValueError, r"a must be a scalar or have shape \(R,\) = \(2,\)"),
    (dict(c=np.ones(2)), ValueError, r"c must have shape \(n_units,\) = \(3,\); got \(2,\)"),
    (dict(activation="sigmoid"), ValueError, r"activation must be one of \['relu', 'clipped_relu', 'tanh'\]; got 'sigmoid'"),
    (dict(activation=3), TypeError, r"activation must be a string"),
    (dict(M=[["a", "b"]] * 3), TypeError, r"M must be an array of real numbers"),
    (dict(method="magic"), ValueError, r"method must be one of .*; got 'magic'"),
    (dict(activation="tanh", method="enumerate"), ValueError, r"piecewise-linear"),
    (dict(tol=-1.0), ValueError, r"tol must be a finite number in \(0, 0.01\); got -1.0"),
    (dict(tol="small"), TypeError, r"tol must be a real number"),
    (dict(method=3), TypeError, r"method must be a string"),
])
def test_validation(kwargs, exc, match):
    args = dict(M=np.ones((3, 2)), N=np.ones((3, 2)), h=np.zeros(3), a=0.5, activation="relu", c=None)
    method = kwargs.pop("method", "auto")
    tol = kwargs.pop("tol", 1e-9)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        find_fixed_points(args["M"], args["N"], args["h"], args["a"], args["activation"], args["c"],
                          method=method, tol=tol)


def test_brute_force_refuses_large_n():
    with pytest.raises(ValueError, match=r"n_units <= 20; got n_units=21"):
        brute_force_fixed_points(np.ones((21, 1)), np.ones((21, 1)), np.zeros(21), 0.5)
    with pytest.raises(ValueError, match=r"3\^15 .* max_patterns"):
        brute_force_fixed_points(np.ones((15, 1)), np.ones((15, 1)), np.ones(15), 0.5, "clipped_relu")


def test_bistable_teacher_fixed_points_and_labels():
    from lowrank import teachers
    t = teachers.get("bistable", seed=0)
    res = t.model.fixed_points()
    order = np.argsort(res.z[:, 0])
    np.testing.assert_allclose(res.z[order], t.facts["fixed_points"], atol=1e-9)
    assert [res.stability[i] for i in order] == t.facts["stability"]
