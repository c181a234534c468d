"""The same network seen through a subset of its observed channels, and back.

Excluding channels from the likelihood (held-out neurons for co-smoothing,
channels missing from a recording) leaves the network itself unchanged: a
latent read-out keeps the kept rows of its weights; a units read-out, whose
observed units are the first ``D`` of the network, has its units reordered so
that the kept ones come first (a low-rank network is the same network under
any order of its units); an encoder keeps the first-layer weights of the kept
channels. :func:`restrict_channels` makes that model and :func:`embed_channels`
puts its parameters back into the full model, leaving the excluded channels'
own read-out parameters (and their encoder inputs' weights) as they were.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .encoder import encoder_layout
from .options import ModelOptions
from .params import Params


def check_channels(channels, D, name="heldout_units"):
    """Sorted unique channel indices in ``[0, D)``, not all of them (ValueError otherwise)."""
    arr = np.asarray(channels)
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty list of channel indices in [0, {D}); got {channels!r}")
    out = np.unique(arr.ravel())
    if out.min() < 0 or out.max() >= D:
        raise ValueError(f"{name} must lie in [0, {D}) (the model has n_obs={D}); got {out.tolist()}")
    if out.size == D:
        raise ValueError(f"{name} holds every channel: at least one must stay observed")
    return out


def _unit_order(opts, keep):
    rest = np.setdiff1d(np.arange(opts.n_units), keep)
    return np.concatenate([keep, rest])


def _first_layer(enc, D, R):
    """The first layer's weights' flat indices, shaped (k, D, C_out), and where they end.

    They start the flat vector; everything after them (the first layer's
    biases, the later layers, a constant log-variance) does not depend on D.
    """
    lay = encoder_layout(enc, D, R)
    k, cout, end = int(lay.kernel[0]), int(lay.cout[0]), int(lay.b_off[0])
    return np.arange(end).reshape(k, D, cout), end


def restrict_channels(params: Params, opts: ModelOptions, keep):
    """``(params, options)`` of the network observed through channels ``keep`` (sorted) only."""
    D, R = opts.n_obs, opts.rank
    sub_opts = dataclasses.replace(opts, n_obs=int(keep.size))
    p = params
    sig = p.sigma[keep] if p.sigma.size else p.sigma
    blocks = dict(b=p.b[keep], W_v=p.W_v[keep], sigma=sig)
    if opts.readout == "latent":
        blocks["W"] = p.W[keep]
    else:
        order = _unit_order(opts, keep)
        blocks.update(m=p.m[order], n=p.n[order], h=p.h[order], W_u=p.W_u[order], gain=p.gain[keep])
    if opts.encoder is not None:
        rows, end = _first_layer(opts.encoder, D, R)
        blocks["enc"] = np.concatenate([p.enc[rows[:, keep, :].ravel()], p.enc[end:]])
    return p._replace(**blocks), sub_opts


def embed_channels(full: Params, sub: Params, opts: ModelOptions, keep):
    """The full model's parameters with those of :func:`restrict_channels`' model ``sub`` put back."""
    D, R = opts.n_obs, opts.rank
    out = {k: np.array(v, copy=True) for k, v in full._asdict().items()}
    out["b"][keep] = sub.b
    out["W_v"][keep] = sub.W_v
    if full.sigma.size:
        out["sigma"][keep] = sub.sigma
    for k in ("a", "L_z", "mu0", "L_0"):
        out[k] = np.array(getattr(sub, k), copy=True)
    if opts.readout == "latent":
        out["W"][keep] = sub.W
        for k in ("m", "n", "h", "W_u"):
            out[k] = np.array(getattr(sub, k), copy=True)
    else:
        order = _unit_order(opts, keep)
        for k in ("m", "n", "h", "W_u"):
            out[k][order] = getattr(sub, k)
        out["gain"][keep] = sub.gain
    if opts.encoder is not None:
        rows, end = _first_layer(opts.encoder, D, R)
        sub_end = rows[:, keep, :].size
        out["enc"][rows[:, keep, :].ravel()] = sub.enc[:sub_end]
        out["enc"][end:] = sub.enc[sub_end:]
    return Params(**out)
