"""The optimiser's flat unconstrained vector back to model parameters, fast."""
from __future__ import annotations

import numpy as np

from ..model.options import ModelOptions
from ..model.params import Params, block_shapes, flat_slices

__all__ = ["Unflatten"]


class Unflatten:
    """``from_flat`` for plain ndarrays without autograd's dispatch overhead.

    Same operations in the same order as :func:`lowrank.model.params.from_flat`
    (so bit-identical results, checked in the tests), about 5× cheaper, which
    matters at ~1e4 updates per minute. An overflowing ``exp`` (a diverged
    update) gives ``inf`` quietly: :meth:`broken` is the check.
    """

    def __init__(self, opts: ModelOptions):
        self.opts = opts
        self.shapes = block_shapes(opts)
        self.slices = flat_slices(opts)
        R = opts.rank
        self.diag = np.arange(R)
        self.tril = np.tril_indices(R, -1)

    def _chol(self, v, kind):
        R = self.opts.rank
        L = np.zeros((R, R))
        L[self.diag, self.diag] = np.exp(v[:R])
        if kind == "full":
            L[self.tril] = v[R:]
        return L

    def __call__(self, theta) -> Params:
        with np.errstate(over="ignore"):
            return self._unflatten(theta)

    def broken(self, theta, params):
        """What a diverged update broke: names of blocks that :func:`~lowrank.model.params.check_params` rejects.

        ``"theta"`` when the flat vector holds NaN or inf; a block holding NaN
        or inf; ``a`` when a leak saturated to exactly 0 or 1; ``L_z``, ``L_0``
        or (Gaussian likelihood) ``sigma`` when an ``exp`` underflowed to 0.
        Empty for a valid update.
        """
        bad = [] if np.isfinite(theta).all() else ["theta"]
        bad += [k for k, v in zip(params._fields, params) if not np.isfinite(v).all()]
        if not np.all((params.a > 0) & (params.a < 1)):
            bad.append("a")
        bad += [k for k in ("L_z", "L_0") if not np.all(np.diagonal(getattr(params, k)) > 0)]
        if self.opts.likelihood == "gaussian" and not np.all(params.sigma > 0):
            bad.append("sigma")
        return list(dict.fromkeys(bad))

    def _unflatten(self, theta):
        o, sh, sl = self.opts, self.shapes, self.slices
        a = 1.0 / (1.0 + np.exp(-theta[sl["a"]]))
        if o.shared_leak:
            a = a * np.ones(o.rank)
        return Params(
            m=theta[sl["m"]].reshape(sh["m"]).copy(), n=theta[sl["n"]].reshape(sh["n"]).copy(),
            h=theta[sl["h"]].copy(), a=a, W_u=theta[sl["W_u"]].reshape(sh["W_u"]).copy(),
            L_z=self._chol(theta[sl["L_z"]], o.noise), mu0=theta[sl["mu0"]].copy(),
            L_0=self._chol(theta[sl["L_0"]], o.init_noise), W=theta[sl["W"]].reshape(sh["W"]).copy(),
            b=theta[sl["b"]].copy(), W_v=theta[sl["W_v"]].reshape(sh["W_v"]).copy(),
            gain=theta[sl["gain"]].copy(), sigma=np.exp(theta[sl["sigma"]]), enc=theta[sl["enc"]].copy())
