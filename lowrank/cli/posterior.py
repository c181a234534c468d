"""``lowrank posterior``: filtering and smoothed latents of a recording under a saved model."""
from __future__ import annotations

import os

import numpy as np

from .files import _check_array, check_outputs, load_model, load_recording, plot_format, save_npz
from .parser import add_force, add_model_command, add_plot, given

__all__ = ["posterior_latents", "register"]


def _behavior(behavior, y, path):
    """A data file's ``behavior`` array as (n_trials, T, B), checked against ``y``."""
    b = _check_array(behavior, f"the behavior array in {path}", (y.ndim - 1, y.ndim), "(..., T[, B])")
    if y.ndim == 2:
        b = b[None]
    if b.ndim == 2:
        b = b[:, :, None]
    n, T = (1,) + y.shape[:1] if y.ndim == 2 else y.shape[:2]
    if b.shape[:2] != (n, T):
        raise ValueError(f"the behavior array in {path} must have {n} trial(s) of {T} steps like y; "
                         f"got shape {behavior.shape}")
    return b


def posterior_latents(model, data, *, n_particles=100, proposal=None, smoother="backward", seed=0,
                      out="latents.npz", particles_out=None, plot=None, force=False, bin_size=None):
    """Filtering and smoothed latents of a recording under a saved model, written to ``out``.

    Parameters
    ----------
    model : path or LowRankRNN
    data : path or ndarray
        ``.npy`` observations (T, D) or (n_trials, T, D), or ``.npz`` with ``y``,
        inputs ``u`` (for a model with inputs) and optionally ``behavior``
        ((n_trials, T[, B]) or (T[, B])), which ``plot`` draws under the latents.
    n_particles, proposal, smoother, seed
        As for :func:`lowrank.inference.posterior.posterior`.
    bin_size : float, optional
        Bin width in seconds for an ``.nwb`` data file (see :func:`load_recording`).
    out : path
        ``.npz`` with ``filter_mean``, ``smooth_mean`` (n, T, R), ``filter_cov``,
        ``smooth_cov`` (n, T, R, R), ``obs_mean`` (n, T, D), ``elbo`` (n,), and
        the settings ``smoother``, ``n_particles``, ``seed``.
    particles_out : path, optional
        ``.npz`` with ``particles`` (n, T, K, R), ``log_weights``, ``ancestors``
        and ``smooth_weights`` (n, T, K) (and ``smoothed`` for the ancestry smoother).
    plot : path, optional
        The first trial's latents over time (and its behaviour), needs matplotlib.
    force : bool
        Replace existing outputs (see the module docstring for the output policy).

    Returns
    -------
    Posterior
    """
    from ..inference.posterior import posterior
    from .fit import _checked
    c = _checked(dict(n_particles=n_particles, proposal=proposal, smoother=smoother, seed=seed), "posterior")
    n_particles, proposal, smoother, seed = c["n_particles"], c["proposal"], c["smoother"], c["seed"]
    outs = check_outputs({"out": out, "particles_out": particles_out, "plot": plot},
                         {"model": model, "data": data}, force=force)
    if "out" not in outs:
        raise ValueError("out must be a path: where the latents are written")
    if "plot" in outs:
        plot_format(outs["plot"])
    m = load_model(model)
    if proposal is not None and proposal not in m.options.proposals:
        raise ValueError(f"--proposal {proposal} does not apply to this model; its proposals: "
                         f"{', '.join(m.options.proposals)}" + (" (encoder needs a model with an encoder)"
                                                                if proposal == "encoder" else ""))
    rec, behavior = load_recording(data, bin_size=bin_size), None
    if isinstance(data, (str, os.PathLike)) and os.fspath(data).endswith(".npz"):
        from ..io import open_npz
        with open_npz(os.fspath(data), "data file (.npz archive)") as z:
            if "behavior" in z.files:
                behavior = _behavior(z.read("behavior"), rec.y, os.fspath(data))
    post = posterior(m, rec.y, rec.u, n_particles=n_particles, proposal=proposal, smoother=smoother, seed=seed,
                     mask=rec.mask)
    save_npz(outs["out"], filter_mean=post.filter_mean, filter_cov=post.filter_cov, smooth_mean=post.smooth_mean,
              smooth_cov=post.smooth_cov, obs_mean=post.obs_mean, elbo=post.elbo, smoother=np.array(smoother),
              n_particles=np.array(n_particles), seed=np.array(seed))
    if "particles_out" in outs:
        save_npz(outs["particles_out"], particles=post.particles, log_weights=post.log_weights,
                  ancestors=post.ancestors, smooth_weights=post.smooth_weights,
                  smoothed=None if post.smoothed is post.particles else post.smoothed)
    if "plot" in outs:
        from .. import plotting
        plotting.save_figure(plotting.plot_latents(post, behavior=behavior), outs["plot"])
    return post


def _posterior(args, config=None):
    post = posterior_latents(args.model, args.data, out=args.out, particles_out=args.particles_out, plot=args.plot,
                             force=args.force, **given(args, "posterior"))
    n, T, K, R = post.particles.shape
    smoother = getattr(args, "smoother", "backward")
    print(f"wrote {args.out}: filtering and {smoother}-smoothed latent means (n, T, R) = {(n, T, R)} "
          f"and covariances ({n} trial{'' if n == 1 else 's'}, {K} particles, ELBO/step "
          f"{float(sum(post.elbo_per_step)) / n:.4f})")
    for path in (args.particles_out, args.plot):
        if path:
            print(f"wrote {path}")


def register(sub):
    s = add_model_command(sub, "posterior", "filtering and smoothed latents of a recording under a saved model",
                          ".npy (T, D) or (trials, T, D), .npz with y, inputs u, optional behavior and mask (True "
                          "where observed), or .nwb spike times (with --bin-size)", _posterior)
    s.add_argument("--out", default="latents.npz",
                   help="output .npz: filter_mean, smooth_mean (trials, T, R), filter_cov, smooth_cov "
                        "(trials, T, R, R), obs_mean, elbo (default latents.npz)")
    s.add_argument("--particles-out", default=None, metavar="FILE",
                   help="also write the particles, their filtering log-weights, ancestors and smoothing weights")
    add_plot(s, "the first trial's latents over time (and its behavior, if the data file has one)")
    add_force(s)
