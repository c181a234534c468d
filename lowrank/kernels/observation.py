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
import numpy as np

from ..config import CACHE, FASTMATH
from .activations import dphi_dh, dphi_dx, phi
from .transition import lincomb
from .vmath import poisson_loglik, poisson_loglik_adjoint, poisson_loglik_adjoint_rows, poisson_loglik_rows

LOG_2PI = math.log(2.0 * math.pi)

# lgamma(y + 1) of the counts 0..255, as math.lgamma gives them: the forward pass
# needs it per step and channel, and a libm call each cost as much as a step's
# transition. Other values fall back to math.lgamma.
_LGAMMA1 = np.array([math.lgamma(i + 1.0) for i in range(256)])


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
    """``sum_d lgamma(y_d + 1)`` of ``y`` (D,); counts 0..255 from a table (same values)."""
    s = 0.0
    for d in range(y.shape[0]):
        yd = y[d]
        i = int(yd) if 0.0 <= yd < 256.0 else 0
        s += _LGAMMA1[i] if yd == i else math.lgamma(yd + 1.0)
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


# ---- all particles of a step at once
#
# The step functions call each of these once per step with (K, D) blocks: one call
# per particle binds its arrays (an atomic reference count each, see
# :mod:`.smc_forward`) and runs the vectorised link terms on D-long vectors only.
# Each loop writes one array (LLVM cannot prove that two do not alias, e.g. the
# gradient blocks, which are views of one row, and would not vectorise).


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def _lincomb_rows(base, MT, Z, out):
    """``out[k] = base + MTᵀ Z[k]`` for ``Z`` (K, R), ``MT`` (R, ≥ D), ``base`` (D,), ``out`` (K, D)."""
    K, D = out.shape
    R = Z.shape[1]
    for k in range(K):
        o = out[k]
        if R == 2:
            c0, c1 = Z[k, 0], Z[k, 1]
            for d in range(D):
                o[d] = base[d] + MT[0, d] * c0 + MT[1, d] * c1
        elif R == 3:
            c0, c1, c2 = Z[k, 0], Z[k, 1], Z[k, 2]
            for d in range(D):
                o[d] = base[d] + MT[0, d] * c0 + MT[1, d] * c1 + MT[2, d] * c2
        else:
            for d in range(D):
                o[d] = base[d]
            for r in range(R):
                cr = Z[k, r]
                for d in range(D):
                    o[d] += MT[r, d] * cr


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def readout_means(readout, from_rates, act, Z, WT, mDT, hD, gain, b, off, XC, ETA):
    """Read-out means ``ETA`` (K, D) of the particles ``Z`` (K, R): :func:`readout_mean` per row.

    ``WT`` (R, D), ``mDT`` (R, ≥ D) as :func:`readout_mean`; ``hD, gain, b,
    off`` (D,). Units read-out: ``XC`` (K, D) receives the currents
    ``off + m[:D] z`` (which the adjoint needs); latent: ``XC`` is not used.
    """
    K, D = ETA.shape
    if readout == 0:
        _lincomb_rows(off, WT, Z, ETA)
        return
    _lincomb_rows(off, mDT, Z, XC)
    for k in range(K):
        x, e = XC[k], ETA[k]
        if from_rates:
            for d in range(D):
                e[d] = gain[d] * phi(act, x[d] - hD[d], hD[d]) + b[d]
        else:
            for d in range(D):
                e[d] = gain[d] * x[d] + b[d]


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def loglik_rows(lik, link, y, ETA, inv_sigma, gauss_const, bin_width, lgy, work, out):
    """``out[k] = log p(y | ETA[k])``: :func:`loglik` of each row of ``ETA`` (K, D).

    ``y, inv_sigma`` (D,); ``work`` (3, K, D) scratch for the Poisson terms
    (:func:`.vmath.poisson_loglik_rows`), not overlapping ``ETA``; ``out`` (K,).
    """
    if lik == 0:
        K, D = ETA.shape
        for k in range(K):
            e = ETA[k]
            s = 0.0
            for d in range(D):
                r = (y[d] - e[d]) * inv_sigma[d]
                s -= 0.5 * r * r
            out[k] = s + gauss_const
        return
    poisson_loglik_rows(link, y, ETA, bin_width, lgy, work, out)


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def loglik_adjoint_rows(lik, link, y, ETA, inv_sigma, bin_width, w, work, DETA, dsigma):
    """``DETA[k] = w[k] * dlogp/deta`` at ``ETA[k]``; Gaussian: ``dsigma += Σ_k w[k] dlogp/dsigma``.

    ``y, inv_sigma, dsigma`` (D,); ``w`` (K,); ``ETA, DETA`` (K, D); ``work``
    (3, K, D) scratch for the Poisson terms. Rows with ``w[k] == 0`` are zero and add nothing: their
    particles do not contribute (their derivative may not even be finite).
    """
    if lik != 0:
        poisson_loglik_adjoint_rows(link, y, ETA, bin_width, w, work, DETA)
        return
    K, D = ETA.shape
    for k in range(K):
        wk = w[k]
        e, de = ETA[k], DETA[k]
        if wk == 0.0:
            for d in range(D):
                de[d] = 0.0
            continue
        for d in range(D):
            de[d] = wk * (y[d] - e[d]) * inv_sigma[d] * inv_sigma[d]
        for d in range(D):
            r = (y[d] - e[d]) * inv_sigma[d]
            dsigma[d] += wk * (r * r - 1.0) * inv_sigma[d]


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def column_sums(X, acc):
    """``acc += Σ_k X[k]`` for ``X`` (K, D), ``acc`` (D,); four rows per pass over ``acc``."""
    K, D = X.shape
    k = 0
    while k + 4 <= K:
        x0, x1, x2, x3 = X[k], X[k + 1], X[k + 2], X[k + 3]
        for d in range(D):
            acc[d] += (x0[d] + x1[d]) + (x2[d] + x3[d])
        k += 4
    while k < K:
        x0 = X[k]
        for d in range(D):
            acc[d] += x0[d]
        k += 1


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def column_dots(X, Y, acc):
    """``acc += Σ_k X[k] * Y[k]`` for ``X, Y`` (K, D), ``acc`` (D,); four rows per pass over ``acc``."""
    K, D = X.shape
    k = 0
    while k + 4 <= K:
        x0, x1, x2, x3 = X[k], X[k + 1], X[k + 2], X[k + 3]
        y0, y1, y2, y3 = Y[k], Y[k + 1], Y[k + 2], Y[k + 3]
        for d in range(D):
            acc[d] += (x0[d] * y0[d] + x1[d] * y1[d]) + (x2[d] * y2[d] + x3[d] * y3[d])
        k += 4
    while k < K:
        x0, y0 = X[k], Y[k]
        for d in range(D):
            acc[d] += x0[d] * y0[d]
        k += 1


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def linear_adjoint_rows(Z, MT, X, dz, dMT):
    """:func:`linear_adjoint` of every particle: ``dz[k] += MT X[k]``, ``dMT[:, :D] += Zᵀ X``.

    ``Z, dz`` (K, R); ``MT, dMT`` (R, ≥ D); ``X`` (K, D) the adjoints of the
    read-outs ``MTᵀ Z[k]``.
    """
    K, D = X.shape
    R = Z.shape[1]
    for k in range(K):
        x = X[k]
        if R == 2:      # both rows in one pass over x
            s0 = s1 = 0.0
            for d in range(D):
                s0 += MT[0, d] * x[d]
                s1 += MT[1, d] * x[d]
            dz[k, 0] += s0
            dz[k, 1] += s1
            continue
        for r in range(R):
            s = 0.0
            for d in range(D):
                s += MT[r, d] * x[d]
            dz[k, r] += s
    # four particles per pass: each row of dMT loaded and stored once per four
    for r in range(R):
        dm = dMT[r]
        k = 0
        while k + 4 <= K:
            x0, x1, x2, x3 = X[k], X[k + 1], X[k + 2], X[k + 3]
            c0, c1, c2, c3 = Z[k, r], Z[k + 1, r], Z[k + 2, r], Z[k + 3, r]
            for d in range(D):
                dm[d] += x0[d] * c0 + x1[d] * c1 + x2[d] * c2 + x3[d] * c3
            k += 4
        while k < K:
            x0 = X[k]
            c0 = Z[k, r]
            for d in range(D):
                dm[d] += x0[d] * c0
            k += 1


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def units_current_adjoint_rows(from_rates, act, XC, hD, gain, DETA, dh, dgain, db, doff):
    """:func:`units_current_adjoint` of every particle.

    ``XC, DETA`` (K, D): the currents and the read-outs' adjoints; ``XC`` is
    overwritten with the currents' adjoints, whose sum over particles goes
    into ``doff``. Accumulates ``dh`` (first D units), ``dgain``, ``db`` (D,).
    One array written per loop (see above).
    """
    K, D = XC.shape
    column_sums(DETA, db)
    for k in range(K):
        x, gd = XC[k], DETA[k]
        if from_rates:
            for d in range(D):
                dgain[d] += gd[d] * phi(act, x[d] - hD[d], hD[d])
            for d in range(D):
                xh = x[d] - hD[d]
                du = gd[d] * gain[d]
                dh[d] += du * dphi_dh(act, xh, hD[d]) - du * dphi_dx(act, xh, hD[d])
    if not from_rates:
        column_dots(DETA, XC, dgain)
    for k in range(K):
        x, gd = XC[k], DETA[k]
        if from_rates:
            for d in range(D):
                x[d] = gd[d] * gain[d] * dphi_dx(act, x[d] - hD[d], hD[d])
        else:
            for d in range(D):
                x[d] = gd[d] * gain[d]
    column_sums(XC, doff)
