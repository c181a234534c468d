"""The latent dynamics run forward from given noise on the GPU: the twin of
:func:`lowrank.kernels.simulate.simulate_latents`, one thread per trajectory."""
import numpy as np
from numba import cuda, float64

from .device import MAX_RANK, phi

THREADS = 64


@cuda.jit
def latents_kernel(z0, eps, v, mT, nT, h, a, W_u, L_z, noise_scale, act, z):
    """``z[b, t+1] = a⊙z[b, t] + nᵀφ(m z[b, t] + W_u v[b, t] − h) + noise_scale L_z eps[b, t]``.

    ``z0`` (B, R); ``eps`` (B, T, R); ``v`` (B, T, U); ``mT, nT`` (R, N); ``h`` (N,);
    ``a`` (R,); ``W_u`` (N, U); ``L_z`` (R, R); ``z`` (B, T, R) output.
    """
    b = cuda.grid(1)
    if b >= z.shape[0]:
        return
    B, T, R = z.shape
    N, U = W_u.shape
    acc = cuda.local.array(MAX_RANK, float64)
    for r in range(R):
        z[b, 0, r] = z0[b, r]
    for t in range(T - 1):
        for r in range(R):
            acc[r] = a[r] * z[b, t, r]
        for i in range(N):
            x = -h[i]
            for r in range(R):
                x += mT[r, i] * z[b, t, r]
            for j in range(U):
                x += W_u[i, j] * v[b, t, j]
            p = phi(act, x, h[i])
            for r in range(R):
                acc[r] += nT[r, i] * p
        for r in range(R):
            for c in range(r + 1):
                acc[r] += noise_scale * L_z[r, c] * eps[b, t, c]
            z[b, t + 1, r] = acc[r]


def simulate_latents_cuda(z0, eps, v, mT, nT, h, a, W_u, L_z, noise_scale, act):
    """:func:`lowrank.kernels.simulate.simulate_latents` on the GPU (same arguments); returns
    ``z`` (B, T, R) as a numpy array."""
    B, T, R = eps.shape
    if R > MAX_RANK:
        raise ValueError(f"the CUDA kernels support rank up to {MAX_RANK}; got rank {R}")
    args = [cuda.to_device(np.ascontiguousarray(x, dtype=np.float64)) for x in (z0, eps, v, mT, nT, h, a, W_u, L_z)]
    z = cuda.device_array((B, T, R))
    latents_kernel[(B + THREADS - 1) // THREADS, THREADS](*args, float(noise_scale), int(act), z)
    return z.copy_to_host()
