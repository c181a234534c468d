"""Per-thread device functions of the CUDA SMC kernels: activations, read-out, likelihood terms.

The CPU kernels' conventions (:mod:`lowrank.kernels.activations`,
:mod:`lowrank.kernels.observation`, :mod:`lowrank.kernels.vmath`) with
plain ``math`` functions instead of the CPU's branch-free approximations,
so values agree with the CPU to rounding (~1e-15 relative), not bit for bit.

Model and proposal arrays are *stacked* (a leading model axis, see
:mod:`.stack`): every function here takes the structure and the model index
``m`` and reads ``model.X[m, ...]``, so no views are built per thread.
Particles and their adjoints are thread-local arrays of ``MAX_RANK`` entries,
of which the first ``R`` are used.
"""
import math

from numba import cuda

from ...model.codes import ACT_CLIPPED_RELU, ACT_RELU, ACT_TANH, LIK_GAUSSIAN, LIK_POISSON, LINK_SOFTPLUS, READOUT_LATENT

MAX_RANK = 8          # size of the thread-local rank vectors and (rank, rank) matrices
NEG_CUT = -32.0       # below: log softplus(x) = x - e^x / 2 (log of a vanishing g would be -inf)
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@cuda.jit(device=True)
def phi(code, x, h):
    """Activation by code (``lowrank.model.codes.ACT_*``; clipped relu ``relu(x + h) - relu(x)``)."""
    if code == ACT_RELU:
        return x if x > 0.0 else 0.0
    if code == ACT_CLIPPED_RELU:
        return (x + h if x + h > 0.0 else 0.0) - (x if x > 0.0 else 0.0)
    if code == ACT_TANH:
        return math.tanh(x)
    return x


@cuda.jit(device=True)
def dphi_dx(code, x, h):
    """Slope of :func:`phi` in ``x`` (0 at the kinks)."""
    if code == ACT_RELU:
        return 1.0 if x > 0.0 else 0.0
    if code == ACT_CLIPPED_RELU:
        return (1.0 if x + h > 0.0 else 0.0) - (1.0 if x > 0.0 else 0.0)
    if code == ACT_TANH:
        t = math.tanh(x)
        return 1.0 - t * t
    return 1.0


@cuda.jit(device=True)
def dphi_dh(code, x, h):
    """Slope of :func:`phi` in the explicit ``h`` of clipped relu (0 for the others)."""
    if code == ACT_CLIPPED_RELU:
        return 1.0 if x + h > 0.0 else 0.0
    return 0.0


@cuda.jit(device=True)
def softplus_terms(x):
    """``(g, log g, g', g'/g)`` of the softplus link at ``x``, finite for every finite ``x``."""
    q = math.exp(-abs(x))
    g = (x if x > 0.0 else 0.0) + math.log1p(q)
    dg = (1.0 if x >= 0.0 else q) / (1.0 + q)
    if x < NEG_CUT:
        return g, x - 0.5 * q, dg, 1.0 - 0.5 * q
    return g, math.log(g), dg, dg / g


@cuda.jit(device=True)
def poisson_term(link, y, eta, bin_width, log_bw):
    """One channel's ``(log p + lgamma(y + 1), d log p / d eta)``, rate ``g(eta) * bin_width``.

    ``link`` ``LINK_SOFTPLUS`` or ``LINK_EXP``; ``log_bw = log(bin_width)``. Where ``y = 0``
    the ``y log(lambda)`` term is left out (no ``0 * log 0``).
    """
    if link == LINK_SOFTPLUS:
        g, log_g, dg, dlog_g = softplus_terms(eta)
        lam = g * bin_width
        if y == 0.0:
            return -lam, -bin_width * dg
        return y * (log_g + log_bw) - lam, y * dlog_g - bin_width * dg
    ex = math.exp(eta)
    lam = ex * bin_width
    if y == 0.0:
        return -lam, y - ex * bin_width
    return y * (eta + log_bw) - lam, y - ex * bin_width


@cuda.jit(device=True)
def lgamma_sum(y_row):
    """``sum_d lgamma(y_d + 1)`` of one step's counts ``y_row`` (D,); a missing count (NaN) adds nothing."""
    s = 0.0
    for d in range(y_row.shape[0]):
        yd = y_row[d]
        if yd == yd:
            s += math.lgamma(yd + 1.0)
    return s


@cuda.jit(device=True)
def readout_channel(codes, model, m, d, z, off):
    """Channel ``d``'s read-out mean of the state ``z`` given the step's offset ``off`` (scalar).

    Returns ``(eta, xc)``: ``xc`` the channel's current ``off + m[d] z`` for a
    units read-out (0 for a latent one), which the adjoint needs.
    """
    R = model.a.shape[1]
    if codes.readout == READOUT_LATENT:
        eta = off
        for r in range(R):
            eta += model.WT[m, r, d] * z[r]
        return eta, 0.0
    xc = off
    for r in range(R):
        xc += model.mDT[m, r, d] * z[r]
    u = xc
    if codes.from_rates:
        hd = model.h[m, d]
        u = phi(codes.activation, xc - hd, hd)
    return model.gain[m, d] * u + model.b[m, d], xc


@cuda.jit(device=True)
def observation_loglik(codes, model, m, y_row, off_row, z, lgy):
    """``log p(y_t | z)`` of one particle ``z``: ``y_row``, ``off_row`` (D,) the step's
    observation and read-out offset, ``lgy`` its ``sum lgamma(y + 1)`` (Poisson). A NaN in
    ``y_row`` is a missing value: its channel is left out, its share of ``gconst`` too."""
    total = 0.0
    const = model.gconst[m] if codes.likelihood == LIK_GAUSSIAN else -lgy
    log_bw = math.log(codes.bin_width) if codes.likelihood == LIK_POISSON else 0.0
    for d in range(y_row.shape[0]):
        yd = y_row[d]
        if yd != yd:
            if codes.likelihood == LIK_GAUSSIAN:
                const -= math.log(model.inv_sigma[m, d]) - HALF_LOG_2PI
            continue
        eta, _ = readout_channel(codes, model, m, d, z, off_row[d])
        if codes.likelihood == LIK_GAUSSIAN:
            r = (yd - eta) * model.inv_sigma[m, d]
            total -= 0.5 * r * r
        else:
            total += poisson_term(codes.link, yd, eta, codes.bin_width, log_bw)[0]
    return total + const


@cuda.jit(device=True)
def transition_mean(act, model, m, xb_row, zp, f):
    """``f = a ⊙ zp + nᵀ φ(m zp + xb)`` for the parent ``zp``; ``xb_row`` (N,) the step's
    input drive ``W_u v_{t-1} − h``."""
    R = model.a.shape[1]
    for r in range(R):
        f[r] = 0.0
    for i in range(xb_row.shape[0]):
        x = xb_row[i]
        for r in range(R):
            x += model.mT[m, r, i] * zp[r]
        p = phi(act, x, model.h[m, i])
        for r in range(R):
            f[r] += model.nT[m, r, i] * p
    for r in range(R):
        f[r] += model.a[m, r] * zp[r]
