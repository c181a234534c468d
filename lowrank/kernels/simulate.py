"""The latent dynamics run forward from caller-drawn noise (generation)."""
import numba
import numpy as np

from ..config import CACHE, FASTMATH
from .activations import phi


@numba.njit(parallel=True, fastmath=FASTMATH, cache=CACHE)
def simulate_latents(z0, eps, v, mT, nT, h, a, W_u, L_z, noise_scale, act):
    """Run the transition ``z_{t+1} = a⊙z_t + nᵀφ(m z_t + W_u v_t − h) + s L_z ε_t``.

    Parameters
    ----------
    z0 : (B, R) initial states.
    eps : (B, T, R) standard normal draws (row ``t`` drives step t → t+1; the last is unused).
    v : (B, T, U) fed inputs.
    mT, nT : (R, N) transposed loadings (contiguous over units).
    h : (N,); a : (R,); W_u : (N, U); L_z : (R, R) lower-triangular.
    noise_scale : float; act : activation code.

    Returns
    -------
    z : (B, T, R)
    """
    B, T, R = eps.shape
    N = h.shape[0]
    U = v.shape[2]
    z = np.empty((B, T, R))
    for b in numba.prange(B):
        x = np.empty(N)
        for r in range(R):
            z[b, 0, r] = z0[b, r]
        for t in range(T - 1):
            for i in range(N):
                x[i] = -h[i]
            for r in range(R):
                zr = z[b, t, r]
                for i in range(N):
                    x[i] += mT[r, i] * zr
            for j in range(U):
                vj = v[b, t, j]
                for i in range(N):
                    x[i] += W_u[i, j] * vj
            for i in range(N):
                x[i] = phi(act, x[i], h[i])
            for r in range(R):
                acc = a[r] * z[b, t, r]
                for i in range(N):
                    acc += nT[r, i] * x[i]
                for c in range(r + 1):
                    acc += noise_scale * L_z[r, c] * eps[b, t, c]
                z[b, t + 1, r] = acc
    return z
