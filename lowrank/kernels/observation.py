"""Read-out means, observation log-likelihoods and their adjoints.

Codes: read-out 0 latent / 1 units (``from_rates`` 0 currents / 1 rates);
likelihood 0 Gaussian / 1 Poisson; link 0 softplus / 1 exp.

Per step the caller precomputes the read-out offset ``off`` (D,):
latent ``b + W_v v_t``; units ``W_u[:D] v_t`` (the input current of the
observed units). Then

- latent: ``eta = W z + off``
- units:  ``eta = gain * u + b`` with ``u = m[:D] z + off`` (currents) or
  ``u = phi(m[:D] z + off - hD)`` (rates), ``hD = h[:D]``.

Kernels take ``W`` and ``m[:D]`` transposed, (R, D), so loops run over D.

Poisson rates are ``lambda = g(eta) * bin_width``. Terms with ``y_d = 0``
contribute ``-lambda_d`` only, so that ``0 * log(0)`` never appears. The
Poisson terms and their adjoints are those of :mod:`.vmath` (vectorised
over D); ``loglik_adjoint`` writes ``deta``, which must not overlap ``y``
or ``eta``.
"""
import math

import numba

from ..config import CACHE, FASTMATH
from .activations import dphi_dh, dphi_dx, phi
from .transition import lincomb
from .vmath import poisson_loglik, poisson_loglik_adjoint

LOG_2PI = math.log(2.0 * math.pi)


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def readout_mean(readout, from_rates, act, z, WT, mDT, hD, gain, b, off, eta):
    """Read-out mean ``eta`` (D,) of one particle ``z`` (R,).

    ``WT = Wᵀ`` (R, D) for the latent read-out, ``mDT = m[:D]ᵀ`` (R, D) for
    units: transposed so the loops run over D with unit stride.
    """
    if readout == 0:
        lincomb(off, WT, z, eta)
        return
    lincomb(off, mDT, z, eta)
    D = eta.shape[0]
    if from_rates:
        for d in range(D):
            eta[d] = gain[d] * phi(act, eta[d] - hD[d], hD[d]) + b[d]
    else:
        for d in range(D):
            eta[d] = gain[d] * eta[d] + b[d]


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def loglik(lik, link, y, eta, inv_sigma, gauss_const, bin_width, lgy, work):
    """``log p(y | eta)`` summed over D.

    ``gauss_const = -sum(log sigma) - D/2 log(2 pi)``; ``lgy = sum lgamma(y+1)``;
    ``work`` (D,) scratch for the Poisson terms (:func:`.vmath.poisson_loglik`),
    not overlapping ``y`` or ``eta``.
    """
    D = y.shape[0]
    s = 0.0
    if lik == 0:
        for d in range(D):
            r = (y[d] - eta[d]) * inv_sigma[d]
            s -= 0.5 * r * r
        return s + gauss_const
    return poisson_loglik(link, y, eta, bin_width, lgy, work)


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def loglik_adjoint(lik, link, y, eta, inv_sigma, bin_width, w, deta, dsigma):
    """``deta = w * dlogp/deta``; Gaussian: ``dsigma += w * dlogp/dsigma``."""
    D = y.shape[0]
    if lik == 0:
        for d in range(D):
            isg = inv_sigma[d]
            r = (y[d] - eta[d]) * isg
            deta[d] = w * r * isg
            dsigma[d] += w * (r * r - 1.0) * isg
        return
    poisson_loglik_adjoint(link, y, eta, bin_width, w, deta)


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def linear_adjoint(z, MT, x, dz, dMT):
    """Reverse of a linear read-out ``c = MTᵀ z`` given the adjoint ``x`` (D,) of ``c``.

    Accumulates ``dz += MT x`` (R,) and ``dMT += z xᵀ`` on the first D
    columns of ``dMT`` (R, ≥ D); ``MT`` (R, ≥ D) is ``Wᵀ`` (latent) or
    ``m[:D]ᵀ`` (units).
    """
    D = x.shape[0]
    R = z.shape[0]
    for r in range(R):
        zr = z[r]
        s = 0.0
        for d in range(D):
            dMT[r, d] += x[d] * zr
            s += MT[r, d] * x[d]
        dz[r] += s


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def units_current_adjoint(from_rates, act, x, hD, gain, deta, dh, dgain, db, doff):
    """Reverse of the units read-out ``eta = gain * u + b`` from the currents ``x`` (D,).

    ``u = x`` (currents) or ``u = phi(x - hD)`` (``from_rates``). Overwrites
    ``x`` with the adjoint of the currents and accumulates it into ``doff``;
    accumulates ``dh`` (first D units), ``dgain`` and ``db`` (D,).
    """
    for d in range(deta.shape[0]):
        gd = deta[d]
        xd = x[d]
        db[d] += gd
        if from_rates:
            xh = xd - hD[d]
            du = gd * gain[d]
            dx = du * dphi_dx(act, xh, hD[d])
            dh[d] += du * dphi_dh(act, xh, hD[d]) - dx
            dgain[d] += gd * phi(act, xh, hD[d])
        else:
            dx = gd * gain[d]
            dgain[d] += gd * xd
        doff[d] += dx
        x[d] = dx


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def lgamma_sum(y):
    s = 0.0
    for d in range(y.shape[0]):
        s += math.lgamma(y[d] + 1.0)
    return s


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def readout_offset(readout, b, Wv, Wu, v, off):
    """Per-step offset ``off`` (D,): latent ``b + W_v v``; units ``W_u[:D] v``."""
    D = off.shape[0]
    U = v.shape[0]
    if readout == 0:
        for d in range(D):
            s = b[d]
            for u in range(Wv.shape[1]):
                s += Wv[d, u] * v[u]
            off[d] = s
    else:
        for d in range(D):
            s = 0.0
            for u in range(U):
                s += Wu[d, u] * v[u]
            off[d] = s


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def linear_residual(readout, y, off, gain, b, e):
    """``e = y - c`` for a linear-Gaussian read-out (``c = off`` latent, ``gain*off + b`` units)."""
    D = y.shape[0]
    if readout == 0:
        for d in range(D):
            e[d] = y[d] - off[d]
    else:
        for d in range(D):
            e[d] = y[d] - (gain[d] * off[d] + b[d])
