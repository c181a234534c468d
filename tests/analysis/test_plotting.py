"""lowrank.plotting: what is drawn is the data it was given (matplotlib, Agg backend)."""
import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="plotting tests need matplotlib (pip install 'lowrank[plot]')")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import lowrank  # noqa: E402
from lowrank import metrics, plotting, teachers  # noqa: E402
from lowrank.analysis.evaluation import Evaluation  # noqa: E402
from lowrank.fixed_points import find_fixed_points  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _fitted(heldout=0.25):
    t = teachers.get("bistable")
    y = t.model.sample(8, 40, seed=1).y
    m = lowrank.LowRankRNN(6, 2, 10, seed=0)
    return lowrank.fit(m, y, window=20, batch_size=4, n_iter=30, heldout=heldout, eval_every=10, verbose=0, seed=2)


def test_history_draws_the_training_and_heldout_elbo():
    res = _fitted()
    h = res.history
    ax = plotting.plot_history(res, smooth=5)
    raw, avg, val = ax.lines
    np.testing.assert_array_equal(raw.get_ydata(), h.train_elbo)
    # The moving average: partial means over the first 4 iterations, then windows of 5.
    np.testing.assert_allclose(avg.get_ydata()[:4], np.cumsum(h.train_elbo[:4]) / np.arange(1, 5))
    np.testing.assert_allclose(avg.get_ydata()[4:], np.convolve(h.train_elbo, np.ones(5) / 5, "valid"))
    ok = np.isfinite(h.val_elbo)
    assert ok.sum() == 3
    np.testing.assert_array_equal(val.get_xdata(), np.flatnonzero(ok))
    np.testing.assert_array_equal(val.get_ydata(), h.val_elbo[ok])
    # A History and a fitted model draw the same thing; without held-out data there is no third line.
    np.testing.assert_array_equal(plotting.plot_history(h, smooth=5).lines[1].get_ydata(), avg.get_ydata())
    model = lowrank.LowRankRNN(6, 2, 10, seed=0)
    model.history_ = h                              # as LowRankRNN.fit leaves it
    np.testing.assert_array_equal(plotting.plot_history(model, smooth=5).lines[0].get_ydata(), h.train_elbo)
    assert len(plotting.plot_history(_fitted(heldout=None)).lines) == 2


def test_history_of_an_interrupted_fit_stops_at_the_last_iteration():
    t = teachers.get("bistable")
    y = t.model.sample(8, 40, seed=1).y
    model = lowrank.LowRankRNN(6, 2, 10, seed=0).fit(y, window=20, batch_size=4, n_iter=30, verbose=0,
                                                     callback=lambda i, m, info: i == 11)
    ax = plotting.plot_history(model)
    assert len(ax.lines[0].get_ydata()) == 12
    assert "callback" in ax.get_title()


def _evaluation(T=400, D=4, seed=0):
    rng = np.random.default_rng(seed)
    ref = metrics.zscore(np.cumsum(rng.standard_normal((T, D)), axis=0))
    gen = metrics.zscore(rng.standard_normal((T, D)))
    return Evaluation(dstsp=1.234, dh=0.5678, generated=gen, reference=ref)


def test_evaluation_draws_channels_spectra_and_projections():
    ev = _evaluation()
    fig = plotting.plot_evaluation(ev, channels=[1, 3], n_steps=100)
    ax_t, ax_f, ax_s = fig.axes
    lines = ax_t.lines
    assert len(lines) == 4
    spread = 3.0 * max(np.std(ev.reference[:, [1, 3]]), np.std(ev.generated[:, [1, 3]]))
    np.testing.assert_allclose(lines[0].get_ydata(), ev.reference[:100, 1])
    np.testing.assert_allclose(lines[1].get_ydata(), ev.generated[:100, 1])
    np.testing.assert_allclose(lines[3].get_ydata(), ev.generated[:100, 3] - spread)
    np.testing.assert_allclose(ax_f.lines[0].get_ydata(), metrics.power_spectra(ev.reference).mean(axis=1)[1:])
    np.testing.assert_allclose(ax_f.lines[1].get_ydata(), metrics.power_spectra(ev.generated).mean(axis=1)[1:])
    assert "0.568" in ax_f.get_title() and "1.23" in ax_s.get_title()
    # The state-space panel holds every time step of both series, on the recording's leading PCs.
    real_pts = np.column_stack([ax_s.lines[0].get_xdata(), ax_s.lines[0].get_ydata()])
    assert real_pts.shape == (400, 2)
    np.testing.assert_allclose(real_pts.var(axis=0), np.linalg.eigvalsh(np.cov(ev.reference.T))[::-1][:2],
                               rtol=1e-2)


def test_evaluation_of_one_channel_and_real_run():
    t = teachers.get("bistable")
    y = t.model.sample(1, 300, seed=4).y[0, :, :1]
    m = lowrank.LowRankRNN(4, 1, 1, seed=0)
    fig = plotting.plot_evaluation(lowrank.evaluate(m, y, seed=0))
    assert len(fig.axes) == 3


@pytest.mark.parametrize("kw, exc, match", [
    (dict(channels=[4]), ValueError, r"channels must be .* \[0, 4\)"),
    (dict(channels=[]), ValueError, "non-empty"),
    (dict(n_steps=1), ValueError, "n_steps"),
])
def test_evaluation_rejects_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        plotting.plot_evaluation(_evaluation(), **kw)


def test_evaluation_needs_an_evaluation():
    with pytest.raises(TypeError, match="result of lowrank.evaluate"):
        plotting.plot_evaluation((1.0, 0.1))


def _markers(ax):
    """label -> (n, 2) offsets of each scatter collection."""
    handles, labels = ax.get_legend_handles_labels()
    return {lab.split(" ")[0]: np.asarray(h.get_offsets()) for h, lab in zip(handles, labels)
            if hasattr(h, "get_offsets")}


def test_fixed_points_are_marked_by_stability():
    t = teachers.get("bistable")
    z = t.model.sample(1, 200, seed=0).z[0]
    ax = plotting.plot_fixed_points(t.model, trajectory=z)
    np.testing.assert_array_equal(ax.lines[0].get_xydata(), z)
    marks = _markers(ax)
    assert sorted(marks) == ["saddle", "stable"]
    fp = t.facts["fixed_points"]
    np.testing.assert_allclose(np.sort(marks["stable"][:, 0]), [fp[0, 0], fp[2, 0]], atol=1e-9)
    np.testing.assert_allclose(marks["saddle"], fp[[1]], atol=1e-9)
    assert ax.get_title() == "3 fixed point(s)"
    # Axes swapped by dims.
    swapped = _markers(plotting.plot_fixed_points(t.model, dims=(1, 0)))
    np.testing.assert_allclose(swapped["saddle"], fp[[1]][:, ::-1], atol=1e-9)


def test_a_line_attractor_is_drawn_as_a_segment():
    rng = np.random.default_rng(11)
    n, R = 6, 2
    a = np.array([0.5, 0.5])
    M = rng.standard_normal((n, R))
    N = M @ np.linalg.inv(M.T @ M) @ np.array([[0.5, 0.0], [0.0, 0.2]]).T
    g = np.linalg.solve(M.T @ M, M.T @ np.ones(n))
    h = M @ np.array([g[0], 0.4 * g[1]]) - 1.0
    model = lowrank.LowRankRNN(n, R, 3, activation="relu", seed=0)
    model.params = model.params._replace(m=M, n=N, h=h, a=a)
    res = find_fixed_points(M, N, h, a)
    ax = plotting.plot_fixed_points(model, res)
    seg = [ln for ln in ax.lines if ln.get_label() == "continuum"]
    assert len(seg) == 1
    cn = [c for c in res.continuum if np.all(c.pattern == 1)][0]
    # The segment lies on the continuum's line (its z2 is the continuum's).
    np.testing.assert_allclose(seg[0].get_ydata(), cn.point[1], atol=1e-9)
    assert "continuum" in ax.get_title()


@pytest.mark.parametrize("kw, exc, match", [
    (dict(dims=(0, 0)), ValueError, "two different indices"),
    (dict(dims=(0, 2)), ValueError, r"\[0, 2\)"),
    (dict(dims="ab"), ValueError, "dims"),
    (dict(trajectory=np.zeros((5, 3))), ValueError, r"shape \(T, 2\)"),
    (dict(fixed_points="x"), TypeError, "FixedPoints"),
])
def test_fixed_points_reject_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        plotting.plot_fixed_points(teachers.get("bistable").model, **kw)


def test_plot_functions_name_their_wrong_inputs():
    with pytest.raises(TypeError, match="History, a FitResult or a fitted model"):
        plotting.plot_history(np.zeros(3))
    with pytest.raises(TypeError, match="LowRankRNN"):
        plotting.plot_fixed_points(np.zeros(3))
    with pytest.raises(ValueError, match="smooth"):
        plotting.plot_history(_fitted(heldout=None), smooth=0)


def test_missing_matplotlib_is_a_clear_import_error(hide_matplotlib):
    with pytest.raises(ImportError, match=r"pip install 'lowrank\[plot\]'"):
        plotting.plot_evaluation(_evaluation())


def test_import_lowrank_does_not_import_matplotlib():
    import subprocess
    import sys
    code = "import sys, lowrank; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
