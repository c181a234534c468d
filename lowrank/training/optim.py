"""Hand-written first-order optimisers on a flat parameter vector.

Both optimisers *minimise*: ``fit`` hands them the gradient of the negative
ELBO. They update the parameter vector in place using preallocated buffers
(the per-step cost is a handful of vectorised numpy operations on
``n_params`` floats), and their whole state is a few arrays and one integer,
so :meth:`state_dict` / :meth:`load_state_dict` round-trip exactly through an
``.npz`` file.

Adam (Kingma & Ba 2015), at step ``t = 1, 2, ...`` with gradient ``g``::

    m_t = β1 m_{t-1} + (1 − β1) g
    v_t = β2 v_{t-1} + (1 − β2) g²
    m̂ = m_t / (1 − β1^t),  v̂ = v_t / (1 − β2^t)
    θ ← θ − lr · m̂ / (√v̂ + ε)

RAdam (Liu et al. 2020) rectifies the variance of the adaptive step while
few gradients have been seen::

    ρ_∞ = 2 / (1 − β2) − 1,   ρ_t = ρ_∞ − 2 t β2^t / (1 − β2^t)
    if ρ_t > 5:  r_t = √[(ρ_t − 4)(ρ_t − 2) ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2) ρ_t)]
                 θ ← θ − lr · r_t · m̂ / (√v̂ + ε)
    else:        θ ← θ − lr · m̂          (un-adapted momentum step)

The rectifier is finite for ρ_t > 4; the threshold 5 (as in the authors'
implementation) avoids the huge, noisy ``r_t`` just above 4.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["Adam", "RAdam", "make_optimizer", "OPTIMIZERS"]


class Adam:
    """Adam on a flat float64 vector (minimises).

    Parameters
    ----------
    n : int
        Number of parameters.
    beta1, beta2 : float, default 0.9, 0.999
    eps : float, default 1e-8

    Attributes
    ----------
    t : int
        Number of steps taken.
    m, v : ndarray, shape (n,)
        First- and second-moment estimates.
    """

    name = "adam"

    def __init__(self, n, beta1=0.9, beta2=0.999, eps=1e-8):
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"beta1 and beta2 must lie in [0, 1); got {beta1}, {beta2}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0; got {eps}")
        self.n = int(n)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.t = 0
        self.m = np.zeros(self.n)
        self.v = np.zeros(self.n)
        self._buf = np.empty(self.n)
        self._buf2 = np.empty(self.n)

    def _moments(self, grad):
        """Update ``m``, ``v`` and ``t``; leave ``m̂`` in ``_buf`` and the Adam denominator in ``_buf2``."""
        b1, b2 = self.beta1, self.beta2
        self.t += 1
        m, v, buf, den = self.m, self.v, self._buf, self._buf2
        m *= b1
        np.multiply(grad, 1.0 - b1, out=buf)
        m += buf
        v *= b2
        np.multiply(grad, grad, out=buf)
        buf *= 1.0 - b2
        v += buf
        np.multiply(m, 1.0 / (1.0 - b1 ** self.t), out=buf)
        np.multiply(v, 1.0 / (1.0 - b2 ** self.t), out=den)
        np.sqrt(den, out=den)
        den += self.eps

    def step(self, theta, grad, lr):
        """One update of ``theta`` (in place) against ``grad``.

        Parameters
        ----------
        theta : ndarray, shape (n,)
            Modified in place.
        grad : ndarray, shape (n,)
            Gradient of the objective being *minimised*.
        lr : float
        """
        self._moments(grad)
        self._buf /= self._buf2
        self._buf *= lr
        theta -= self._buf
        return theta

    def state_dict(self):
        """Everything needed to continue bit-identically: name -> ndarray."""
        return {"t": np.array(self.t, dtype=np.int64), "m": self.m.copy(), "v": self.v.copy(),
                "hyper": np.array([self.beta1, self.beta2, self.eps])}

    def load_state_dict(self, state):
        """Restore a :meth:`state_dict` (shapes and hyper-parameters must match)."""
        m = np.asarray(state["m"], dtype=np.float64)
        v = np.asarray(state["v"], dtype=np.float64)
        if m.shape != (self.n,) or v.shape != (self.n,):
            raise ValueError(f"optimiser state is for {m.shape[0]} parameters; this model has {self.n}")
        hyper = np.asarray(state["hyper"], dtype=np.float64)
        if not np.array_equal(hyper, [self.beta1, self.beta2, self.eps]):
            raise ValueError(f"optimiser state has (beta1, beta2, eps) = {tuple(hyper)}; "
                             f"this optimiser has {(self.beta1, self.beta2, self.eps)}")
        self.t = int(state["t"])
        self.m[:] = m
        self.v[:] = v

    def copy_state_from(self, other):
        """Copy ``other``'s moments and step count into this optimiser's buffers (no allocation)."""
        self.t = other.t
        np.copyto(self.m, other.m)
        np.copyto(self.v, other.v)


class RAdam(Adam):
    """Rectified Adam on a flat float64 vector (minimises); see the module docstring."""

    name = "radam"

    def __init__(self, n, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(n, beta1, beta2, eps)
        self.rho_inf = 2.0 / (1.0 - self.beta2) - 1.0

    def rectifier(self, t):
        """``r_t``, or None while ``ρ_t <= 5`` (the un-adapted step is used)."""
        b2t = self.beta2 ** t
        rho_t = self.rho_inf - 2.0 * t * b2t / (1.0 - b2t)
        if rho_t <= 5.0:
            return None
        ri = self.rho_inf
        return math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * ri / ((ri - 4.0) * (ri - 2.0) * rho_t))

    def step(self, theta, grad, lr):
        self._moments(grad)
        r = self.rectifier(self.t)
        if r is None:
            self._buf *= lr
        else:
            self._buf /= self._buf2
            self._buf *= lr * r
        theta -= self._buf
        return theta


OPTIMIZERS = {"adam": Adam, "radam": RAdam}


def make_optimizer(name, n, **hyper):
    """An optimiser by name (``"adam"`` or ``"radam"``) for ``n`` parameters."""
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {name!r}")
    return OPTIMIZERS[name](n, **hyper)
