"""Figures for a fit, an evaluation and a model's fixed points (needs ``pip install lowrank[plot]``).

Each function draws on axes it is given (or makes a new figure), returns what
it drew on, and never calls ``show``: save it with ``fig.savefig`` or let
your notebook display it. matplotlib is imported when a function is called,
so ``import lowrank`` does not need it.
"""
import numpy as np

from . import metrics

__all__ = ["plot_history", "plot_evaluation", "plot_fixed_points", "plot_spike_statistics", "plot_latents",
           "plot_phase_portrait", "plot_sweep", "save_figure"]

_STYLE = {"stable": dict(marker="o", facecolors="k", edgecolors="k"),
          "saddle": dict(marker="o", facecolors="0.6", edgecolors="k"),
          "unstable": dict(marker="o", facecolors="w", edgecolors="k")}


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("lowrank.plotting needs matplotlib: pip install 'lowrank[plot]'") from exc
    return plt


def save_figure(fig, path, *, dpi=120, format=None, close=True):
    """Write a figure to ``path`` atomically (a reader never sees a half-written image).

    Parameters
    ----------
    fig : matplotlib Figure or Axes
        What a ``plot_*`` function returned (an Axes is saved with its figure).
    path : str or PathLike
        Destination; its folder must exist. The content goes to a temporary
        file beside it, which then replaces ``path`` (see ``lowrank._files``).
    dpi : float, default 120
    format : str, optional
        Image format; default: from the extension of ``path`` (``png``, ``pdf``, ``svg``, ...).
    close : bool, default True
        Close the figure afterwards (``pyplot`` keeps every open figure alive).

    Returns
    -------
    None

    Examples
    --------
    >>> ax = lowrank.plotting.plot_fixed_points(lowrank.teachers.get("bistable").model)
    >>> lowrank.plotting.save_figure(ax, "fixed_points.png")
    >>> import os; os.path.getsize("fixed_points.png") > 0
    True
    """
    import os

    from ._files import atomic_write
    figure = fig if hasattr(fig, "savefig") else getattr(fig, "figure", None)
    if not hasattr(figure, "savefig"):
        raise TypeError(f"fig must be a matplotlib Figure or Axes; got {type(fig).__name__}")
    path = os.fspath(path)
    if format is None:
        format = os.path.splitext(path)[1][1:].lower()
        if not format:
            raise ValueError(f"path {path!r} has no extension; give format= (e.g. 'png')")
    atomic_write(path, lambda fh: figure.savefig(fh, format=format, dpi=dpi, bbox_inches="tight"))
    if close:
        _pyplot().close(figure)


def _moving_average(x, width):
    x = np.asarray(x, dtype=np.float64)
    if width <= 1 or x.size < width:
        return x
    c = np.cumsum(np.insert(x, 0, 0.0))
    head = c[1:width] / np.arange(1, width)
    return np.concatenate([head, (c[width:] - c[:-width]) / width])


def plot_history(history, ax=None, smooth=None):
    """Training ELBO per step (moving average) and held-out ELBO against the iteration.

    Parameters
    ----------
    history : History or FitResult or LowRankRNN
        ``fit(...).history``, the fit result itself, or a fitted model (its
        ``history_``).
    ax : matplotlib Axes, optional
    smooth : int, optional
        Moving-average width for the training ELBO (default: 1 % of the
        iterations, at least 1).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> model = lowrank.LowRankRNN(n_units=8, rank=2, n_obs=3, seed=0)
    >>> y = model.sample(n_trials=4, n_steps=30, seed=1).y
    >>> ax = lowrank.plotting.plot_history(model.fit(y, n_iter=5, window=None, verbose=0))
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('iteration', 'ELBO per time step')
    """
    from .training.fit import FitResult, History
    if isinstance(history, FitResult):
        history = history.history
    elif not isinstance(history, History) and isinstance(getattr(history, "history_", None), History):
        history = history.history_
    if not isinstance(history, History):
        raise TypeError(f"history must be a History, a FitResult or a fitted model; got {type(history).__name__}")
    if smooth is not None and (isinstance(smooth, bool) or int(smooth) < 1):
        raise ValueError(f"smooth must be an integer >= 1; got {smooth!r}")
    train = np.asarray(history.train_elbo)
    done = np.flatnonzero(np.isfinite(train))
    n = int(done[-1]) + 1 if done.size else 0
    width = max(1, n // 100) if smooth is None else int(smooth)
    plt = _pyplot()
    own_figure = ax is None
    if own_figure:
        ax = plt.figure(figsize=(6, 3.5)).add_subplot()
    it = np.arange(n)
    ax.plot(it, train[:n], color="0.8", lw=0.5, label="train (minibatch)")
    ax.plot(it, _moving_average(train[:n], width), color="C0", label=f"train (mean of {width})")
    val = np.asarray(history.val_elbo)[:n]
    ok = np.isfinite(val)
    if ok.any():
        ax.plot(it[ok], val[ok], "o-", color="C1", ms=3, label="held out")
    ax.set_xlabel("iteration")
    ax.set_ylabel("ELBO per time step")
    ax.set_title(f"training ({history.stop_reason})")
    ax.legend(loc="lower right", fontsize="small")
    if own_figure:
        ax.figure.tight_layout()
    return ax


def plot_evaluation(evaluation, channels=None, n_steps=1000, fig=None):
    """Recorded vs generated data: a few channels, power spectra and the leading PCs.

    Parameters
    ----------
    evaluation : Evaluation
        The result of :func:`lowrank.evaluate`.
    channels : sequence of int, optional
        Channels shown over time (default: the first three).
    n_steps : int, default 1000
        Time steps shown (from the start of each series).
    fig : matplotlib Figure, optional

    Returns
    -------
    matplotlib Figure
        Three panels: the channels over time; the mean over channels of the
        smoothed, normalised power spectra (as compared by ``D_H``); and both
        series projected on the recording's two leading principal
        directions (the state space that ``D_stsp`` compares, in two of its
        dimensions).

    Examples
    --------
    >>> model = lowrank.LowRankRNN(n_units=8, rank=2, n_obs=3, seed=0)
    >>> y = model.sample(n_trials=4, n_steps=30, seed=1).y
    >>> ev = lowrank.evaluate(model, model.sample(n_trials=1, n_steps=400, seed=2).y[0])
    >>> fig = lowrank.plotting.plot_evaluation(ev, n_steps=200)
    >>> len(fig.axes)
    3
    """
    from .analysis.evaluation import Evaluation
    if not isinstance(evaluation, Evaluation):
        raise TypeError(f"evaluation must be the result of lowrank.evaluate; got {type(evaluation).__name__}")
    real, gen = np.asarray(evaluation.reference), np.asarray(evaluation.generated)
    D = real.shape[1]
    channels = list(range(min(3, D))) if channels is None else [int(c) for c in channels]
    bad = [c for c in channels if not 0 <= c < D]
    if bad or not channels:
        raise ValueError(f"channels must be a non-empty list of indices in [0, {D}); got {channels}")
    if isinstance(n_steps, bool) or int(n_steps) < 2:
        raise ValueError(f"n_steps must be an integer >= 2; got {n_steps!r}")
    plt = _pyplot()
    if fig is None:
        fig = plt.figure(figsize=(12, 3.6))
    ax_t, ax_f, ax_s = fig.subplots(1, 3, gridspec_kw=dict(width_ratios=[2, 1.2, 1.2]))
    T = min(int(n_steps), real.shape[0], gen.shape[0])
    spread = 3.0 * max(np.std(real[:, channels]), np.std(gen[:, channels]), 1e-12)
    for i, c in enumerate(channels):
        ax_t.plot(real[:T, c] - i * spread, color="k", lw=0.8, label="recorded" if i == 0 else None)
        ax_t.plot(gen[:T, c] - i * spread, color="C3", lw=0.8, label="generated" if i == 0 else None)
    ax_t.set_yticks([-i * spread for i in range(len(channels))], [f"ch {c}" for c in channels])
    ax_t.set_xlabel("time step")
    ax_t.legend(loc="upper right", fontsize="small")
    f = np.fft.rfftfreq(real.shape[0])
    fg = np.fft.rfftfreq(gen.shape[0])
    ax_f.loglog(f[1:], metrics.power_spectra(real).mean(axis=1)[1:], color="k", label="recorded")
    ax_f.loglog(fg[1:], metrics.power_spectra(gen).mean(axis=1)[1:], color="C3", label="generated")
    ax_f.set_xlabel("frequency (cycles per step)")
    ax_f.set_ylabel("normalised power")
    ax_f.set_title(f"D_H = {evaluation.dh:.3f}")
    mu = real.mean(axis=0)
    V = np.linalg.eigh(np.cov((real - mu).T).reshape(D, D))[1][:, ::-1][:, :2]
    if V.shape[1] == 1:
        V = np.hstack([V, np.zeros_like(V)])
    pr, pg = (real - mu) @ V, (gen - mu) @ V
    ax_s.plot(pr[:, 0], pr[:, 1], ",", color="k", alpha=0.5)
    ax_s.plot(pg[:, 0], pg[:, 1], ",", color="C3", alpha=0.5)
    ax_s.set_xlabel("PC 1 (recorded)")
    ax_s.set_ylabel("PC 2 (recorded)")
    ax_s.set_title(f"D_stsp = {evaluation.dstsp:.2f}")
    fig.tight_layout()
    return fig


def plot_fixed_points(model, fixed_points=None, ax=None, dims=(0, 1), trajectory=None):
    """A model's fixed points in its latent space, marked by stability.

    Parameters
    ----------
    model : LowRankRNN
    fixed_points : FixedPoints, optional
        Default: ``model.fixed_points()``.
    ax : matplotlib Axes, optional
    dims : (int, int), default (0, 1)
        Latent coordinates on the axes (rank 1: the second axis is 0).
    trajectory : ndarray, shape (T, R), optional
        A latent path drawn underneath (e.g. ``model.sample(...).z[0]``).

    Returns
    -------
    matplotlib Axes
        Stable points filled black, saddles grey, unstable ones open.

    Examples
    --------
    >>> teacher = lowrank.teachers.get("bistable")
    >>> path = teacher.model.sample(n_trials=1, n_steps=300, seed=0).z[0]
    >>> ax = lowrank.plotting.plot_fixed_points(teacher.model, trajectory=path)
    >>> ax.get_title()
    '3 fixed point(s)'
    """
    from .fixed_points import FixedPoints
    if not hasattr(model, "fixed_points") or not hasattr(model, "options"):
        raise TypeError(f"model must be a LowRankRNN; got {type(model).__name__}")
    fp = model.fixed_points() if fixed_points is None else fixed_points
    if not isinstance(fp, FixedPoints):
        raise TypeError(f"fixed_points must be a FixedPoints result; got {type(fp).__name__}")
    R = model.options.rank
    try:
        d0, d1 = (int(d) for d in dims)
    except (TypeError, ValueError):
        raise ValueError(f"dims must be two latent indices; got {dims!r}") from None
    if not (0 <= d0 < R and (R == 1 or (0 <= d1 < R and d1 != d0))):
        raise ValueError(f"dims must be two different indices in [0, {R}); got {dims!r}")
    plt = _pyplot()
    own_figure = ax is None
    if own_figure:
        ax = plt.figure(figsize=(4.5, 4.5)).add_subplot()

    def xy(z):
        z = np.asarray(z, dtype=np.float64).reshape(-1, R)
        return z[:, d0], (z[:, d1] if R > 1 else np.zeros(len(z)))

    if trajectory is not None:
        traj = np.asarray(trajectory, dtype=np.float64)
        if traj.ndim != 2 or traj.shape[1] != R:
            raise ValueError(f"trajectory must have shape (T, {R}); got {traj.shape}")
        ax.plot(*xy(traj), color="C0", lw=0.5, alpha=0.6, label="latent path")
    for kind in ("stable", "saddle", "unstable"):
        idx = [i for i, s in enumerate(fp.stability) if s == kind]
        if idx:
            ax.scatter(*xy(fp.z[idx]), s=40, zorder=3, label=f"{kind} ({len(idx)})", **_STYLE[kind])
    for k, c in enumerate(fp.continuum):
        label = "continuum" if k == 0 else None
        if c.directions.shape[1] == 1 and c.extent is not None:
            # A line of fixed points: draw the part inside its region (infinite ends cut at ±3).
            lo, hi = (float(np.clip(e, -3.0, 3.0)) for e in c.extent)
            seg = c.point[None, :] + np.array([[lo], [hi]]) @ c.directions.T
            ax.plot(*xy(seg), color="C2", lw=2, zorder=3, label=label)
        else:
            ax.scatter(*xy(c.point), marker="x", color="C2", zorder=3, label=label)
    pts = [fp.z] + [c.point[None] for c in fp.continuum]
    if trajectory is not None:
        pts.append(traj)
    _set_limits(ax, [np.column_stack(xy(p)) for p in pts], _latent_std(model)[[d0, d1 if R > 1 else d0]])
    ax.set_xlabel(f"z{d0 + 1}")
    ax.set_ylabel(f"z{d1 + 1}" if R > 1 else "")
    ax.set_title(f"{len(fp)} fixed point(s)" + (f", {len(fp.continuum)} continuum(a)" if fp.continuum else ""))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    if own_figure:
        ax.figure.tight_layout()
    return ax


def _latent_std(model):
    """Per-coordinate scale of the latent state: the initial-state std (``L_0``), at least the noise's."""
    p = model.params
    std = np.sqrt(np.maximum(np.diag(p.L_0 @ p.L_0.T), np.diag(p.L_z @ p.L_z.T)))
    return np.where(std > 0, std, 1.0)


def _set_limits(ax, point_sets, std):
    """Axes limits that show every point and at least ±3 latent stds around their centre; few ticks.

    A lone fixed point otherwise gets matplotlib's ±0.003·|z| window, whose tick labels overlap.
    """
    from matplotlib.ticker import MaxNLocator
    pts = np.vstack([np.asarray(q, dtype=np.float64).reshape(-1, 2) for q in point_sets if np.size(q)] or
                    [np.zeros((1, 2))])
    pts = pts[np.all(np.isfinite(pts), axis=1)] if np.any(np.isfinite(pts)) else np.zeros((1, 2))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = 0.5 * (lo + hi)
    half = np.maximum(0.55 * (hi - lo), 3.0 * np.asarray(std, dtype=np.float64))
    half = np.maximum(half, 1e-3 * (1.0 + np.abs(centre)))
    ax.set_xlim(centre[0] - half[0], centre[0] + half[0])
    ax.set_ylim(centre[1] - half[1], centre[1] + half[1])
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(5))


def plot_phase_portrait(model, *, inputs=None, cycles=(), trajectory=None, start=None, n_steps=300, ax=None,
                        n_grid=21):
    """Phase portrait of a rank-2 model's noise-free map.

    Flow field ``F(z) − z`` (arrows), nullclines (``F(z)_i = z_i``, lines),
    fixed points (filled stable, grey saddle, open unstable), cycles (points
    joined in visiting order) and an example trajectory.

    Parameters
    ----------
    model : LowRankRNN
        Rank 2.
    inputs : (U,) array_like, optional
        Constant input.
    cycles : sequence of Cycles, optional
        From :func:`lowrank.dynamics.find_cycles`.
    trajectory : (T, 2) array_like, optional
        Drawn as given; default: ``n_steps`` noise-free steps from ``start``
        (default: near the first unstable fixed point, else off the first one).
    ax : matplotlib Axes, optional
    n_grid : int
        Arrows per axis.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> teacher = lowrank.teachers.get("bistable").model
    >>> ax = lowrank.plotting.plot_phase_portrait(teacher, n_grid=11, n_steps=50)
    >>> ax.get_xlabel()
    'z1'
    """
    from .dynamics import latent_map, model_arrays
    if not hasattr(model, "options") or model.options.rank != 2:
        raise ValueError("plot_phase_portrait needs a rank-2 LowRankRNN")
    arrays = model_arrays(model, inputs)
    fp = model.fixed_points(inputs=inputs)
    if trajectory is None:
        trajectory = _example_path(arrays, fp, start, n_steps, _latent_std(model))
    traj = np.asarray(trajectory, dtype=np.float64).reshape(-1, 2)
    plt = _pyplot()
    if ax is None:
        ax = plt.figure(figsize=(5, 5)).add_subplot()
    orbits = [o for cyc in cycles for o in cyc.orbits]
    _set_limits(ax, [fp.z, traj] + orbits, _latent_std(model))
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    gx, gy = np.meshgrid(np.linspace(x0, x1, n_grid), np.linspace(y0, y1, n_grid))
    G = np.column_stack([gx.ravel(), gy.ravel()])
    D = latent_map(arrays, G) - G
    ax.quiver(gx, gy, D[:, 0].reshape(gx.shape), D[:, 1].reshape(gx.shape), color="0.6", angles="xy", width=0.003)
    fx, fy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    F = latent_map(arrays, np.column_stack([fx.ravel(), fy.ravel()])) - np.column_stack([fx.ravel(), fy.ravel()])
    for i, color in ((0, "C1"), (1, "C2")):
        ax.contour(fx, fy, F[:, i].reshape(fx.shape), levels=[0.0], colors=color, linewidths=1.2)
        ax.plot([], [], color=color, label=f"z{i + 1}-nullcline")
    ax.plot(traj[:, 0], traj[:, 1], color="C0", lw=0.8, alpha=0.8, label="trajectory")
    for j, orbit in enumerate(orbits):
        closed = np.vstack([orbit, orbit[:1]])
        ax.plot(closed[:, 0], closed[:, 1], "s--", color="C3", ms=4, lw=0.8,
                label=f"{orbit.shape[0]}-cycle" if j == 0 else None)
    for kind in ("stable", "saddle", "unstable"):
        idx = [i for i, s in enumerate(fp.stability) if s == kind]
        if idx:
            ax.scatter(fp.z[idx, 0], fp.z[idx, 1], s=40, zorder=3, label=f"{kind} ({len(idx)})", **_STYLE[kind])
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.legend(loc="best", fontsize="small")
    return ax


def _example_path(arrays, fp, start, n_steps, std):
    from .dynamics import latent_map
    if start is None:
        order = [i for i, s in enumerate(fp.stability) if s != "stable"] + list(range(len(fp)))
        start = (fp.z[order[0]] if len(fp) else np.zeros(2)) + 0.5 * std
    z = np.asarray(start, dtype=np.float64).reshape(1, 2)
    path = [z[0]]
    for _ in range(n_steps):
        z = latent_map(arrays, z)
        path.append(z[0])
    return np.array(path)


def plot_sweep(sweep, ax=None, coordinate=0, input_index=0):
    """A bifurcation diagram: fixed-point branches against the swept input, with events.

    Parameters
    ----------
    sweep : Sweep
        From :func:`lowrank.dynamics.sweep_inputs`.
    ax : matplotlib Axes, optional
    coordinate : int
        Latent coordinate on the vertical axis.
    input_index : int
        Input on the horizontal axis.

    Returns
    -------
    matplotlib Axes
        Stable parts solid, others dashed; saddle-nodes marked ×, Hopf-like events ◇.

    Examples
    --------
    >>> ring = lowrank.teachers.get("ring").model                     # two inputs
    >>> path = np.stack([np.linspace(0.0, 1.0, 5), np.zeros(5)], axis=1)
    >>> ax = lowrank.plotting.plot_sweep(lowrank.dynamics.sweep_inputs(ring, path))
    """
    plt = _pyplot()
    if ax is None:
        ax = plt.figure(figsize=(5.5, 4)).add_subplot()
    u = sweep.inputs[:, input_index]
    for b in range(sweep.branches.shape[0]):
        y = sweep.branches[b, :, coordinate]
        stable = sweep.stability[b] == "stable"
        ax.plot(u, np.where(stable, y, np.nan), "-", color=f"C{b % 10}", lw=1.5)
        ax.plot(u, np.where(~stable, y, np.nan), "--", color=f"C{b % 10}", lw=1.0)
    marks = {"saddle-node": "x", "hopf": "D", "stability": "o"}
    for kind, mk in marks.items():
        ev = [e for e in sweep.events if e.kind == kind]
        if ev:
            ax.scatter([e.input[input_index] for e in ev], [e.z[coordinate] for e in ev], marker=mk, color="k",
                       zorder=3, label=f"{kind} ({len(ev)})")
    ax.set_xlabel(f"input {input_index + 1}")
    ax.set_ylabel(f"z{coordinate + 1} of fixed points")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    return ax


def plot_spike_statistics(comparison, fig=None):
    """Generated against real spike statistics: rates, ISI CV and pairwise correlations.

    Parameters
    ----------
    comparison : lowrank.metrics.SpikeComparison
        From :func:`lowrank.metrics.compare_spike_statistics`.
    fig : matplotlib Figure, optional
        Drawn on three new axes of it; default a new 11 × 3.4 in figure.

    Returns
    -------
    Figure
        One panel each: per-neuron mean rate, per-neuron ISI coefficient of
        variation, and the correlation of every pair of neurons (off the
        diagonal), real on the x axis and generated on the y axis, with the
        identity line.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> cmp = lowrank.metrics.compare_spike_statistics(rng.poisson(0.5, (10, 100, 5)), rng.poisson(0.6, (10, 100, 5)))
    >>> fig = lowrank.plotting.plot_spike_statistics(cmp)
    >>> [ax.get_title() for ax in fig.axes]
    ['mean rate (spikes / bin)', 'ISI coefficient of variation', 'pairwise correlation']
    """
    plt = _pyplot()
    if not hasattr(comparison, "real") or not hasattr(comparison, "generated"):
        raise TypeError(f"comparison must be a SpikeComparison; got {type(comparison).__name__}")
    fig = fig or plt.figure(figsize=(11, 3.4))
    real, gen = comparison.real, comparison.generated
    iu = np.triu_indices(real.corr.shape[0], 1)
    panels = (("mean rate (spikes / bin)", real.rate, gen.rate), ("ISI coefficient of variation", real.isi_cv,
              gen.isi_cv), ("pairwise correlation", real.corr[iu], gen.corr[iu]))
    for i, (title, x, y) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        ok = np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[ok], y[ok], s=10, color="k", alpha=0.7)
        if ok.any():
            lo, hi = min(x[ok].min(), y[ok].min()), max(x[ok].max(), y[ok].max())
            ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, zorder=0)
        ax.set_title(title)
        ax.set_xlabel("real")
        if i == 0:
            ax.set_ylabel("generated")
    fig.tight_layout()
    return fig



def plot_latents(posterior, trial=0, behavior=None, fig=None):
    """Filtering and smoothed latents of one trial over time, ±2 posterior standard deviations.

    Parameters
    ----------
    posterior : Posterior, or a mapping with ``filter_mean``, ``filter_cov``
        (n, T, R[, R]) and optionally ``smooth_mean``, ``smooth_cov`` (e.g. the
        arrays of a ``lowrank posterior --out`` file).
    trial : int
    behavior : ndarray, shape (n, T, B) or (n, T), optional
        Drawn in an extra panel under the latents.
    fig : matplotlib Figure, optional

    Returns
    -------
    Figure

    Examples
    --------
    >>> model = lowrank.LowRankRNN(n_units=8, rank=2, n_obs=3, seed=0)
    >>> y = model.sample(n_trials=4, n_steps=30, seed=1).y
    >>> fig = lowrank.plotting.plot_latents(model.posterior(y), trial=1)
    >>> len(fig.axes)                                  # one panel per latent dimension
    2
    """
    plt = _pyplot()
    get = posterior.get if hasattr(posterior, "get") else lambda k: getattr(posterior, k, None)
    fm, fc = np.asarray(get("filter_mean"))[trial], np.asarray(get("filter_cov"))[trial]
    sm, sc = get("smooth_mean"), get("smooth_cov")
    T, R = fm.shape
    rows = R + (behavior is not None)
    if fig is None:
        fig = plt.figure(figsize=(8, 1.8 * rows))
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    t = np.arange(T)
    curves = [("filtering", fm, fc, "C0")]
    if sm is not None and sc is not None:
        curves.append(("smoothed", np.asarray(sm)[trial], np.asarray(sc)[trial], "C1"))
    for r in range(R):
        ax = axes[r]
        for label, mean, cov, color in curves:
            sd = np.sqrt(np.maximum(cov[:, r, r], 0.0))
            ax.plot(t, mean[:, r], color=color, lw=1, label=label)
            ax.fill_between(t, mean[:, r] - 2 * sd, mean[:, r] + 2 * sd, color=color, alpha=0.2, lw=0)
        ax.set_ylabel(f"z{r + 1}")
    axes[0].legend(loc="upper right", fontsize="small")
    axes[0].set_title(f"trial {trial}: posterior latents (±2 sd)")
    if behavior is not None:
        b = np.asarray(behavior, dtype=np.float64)[trial]
        axes[-1].plot(np.arange(b.shape[0]), b.reshape(b.shape[0], -1), lw=1)
        axes[-1].set_ylabel("behaviour")
    axes[-1].set_xlabel("time step")
    return fig
