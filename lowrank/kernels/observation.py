"""Read-out means, observation log-likelihoods and their adjoints.

Codes (:mod:`lowrank.model.codes`): read-out ``READOUT_LATENT`` / ``READOUT_UNITS``
(``from_rates`` 0 currents / 1 rates); likelihood ``LIK_GAUSSIAN`` / ``LIK_POISSON``;
link ``LINK_SOFTPLUS`` / ``LINK_EXP``.

Per step the caller precomputes the read-out offset ``off`` (D,):
latent ``b + W_v v_t``; units ``W_u[:D] v_t`` (the input current of the
observed units). Then

- latent: ``eta = W z + off``
- units:  ``eta = gain * u + b`` with ``u = m[:D] z + off`` (currents) or
  ``u = phi(m[:D] z + off - hD)`` (rates), ``hD = h[:D]``.

Kernels take ``W`` and ``m[:D]`` transposed, (R, D), so loops run over D.

Poisson rates are ``lambda = g(eta) * bin_width``. Terms with ``y_d = 0``
contribute ``-lambda_d`` only, so that ``0 * log(0)`` never appears. The
Poisson terms and their adjoints are those of :mod:`.vmath`.

Every function takes all K particles of a step at once, as channel-major
(D, K) blocks (``ETA[d, k]`` is channel d of particle k), so that the loops
run over the particles of one channel and vectorise.
"""
import math

import numba
import numpy as np

from ..config import CACHE, FASTMATH
from ..model.codes import ACT_CLIPPED_RELU, ACT_IDENTITY, ACT_RELU, ACT_TANH, LIK_GAUSSIAN, READOUT_LATENT
from .activations import dphi_dh, dphi_dx, phi
from .vmath import poisson_loglik_adjoint_block, poisson_loglik_block

LOG_2PI = math.log(2.0 * math.pi)

# lgamma(y + 1) of the counts 0..255, as math.lgamma gives them: the forward pass
# needs it per step and channel, and a libm call each cost as much as a step's
# transition. Other values fall back to math.lgamma.
_LGAMMA1 = np.array([math.lgamma(i + 1.0) for i in range(256)])


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def lgamma_sum(y):
    """``sum_d lgamma(y_d + 1)`` of ``y`` (D,); counts 0..255 from a table (same values); NaN (missing) adds nothing."""
    s = 0.0
    for d in range(y.shape[0]):
        yd = y[d]
        if yd != yd:
            continue
        i = int(yd) if 0.0 <= yd < 256.0 else 0
        s += _LGAMMA1[i] if yd == i else math.lgamma(yd + 1.0)
    return s


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def readout_offset(readout, b, Wv, Wu, v, off):
    """Per-step offset ``off`` (D,): latent ``b + W_v v``; units ``W_u[:D] v``."""
    D = off.shape[0]
    U = v.shape[0]
    if readout == READOUT_LATENT:
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
    if readout == READOUT_LATENT:
        for d in range(D):
            e[d] = y[d] - off[d]
    else:
        for d in range(D):
            e[d] = y[d] - (gain[d] * off[d] + b[d])


# ---- all particles of a step at once
#
# The step functions call each of these once per step on channel-major blocks
# (D, K): row d holds channel d of all K particles, so the loops run over K
# contiguous particles with the channel's parameters as scalars, and the sums over
# particles (the gradient blocks) are sums of a row. One call per particle binds
# its arrays (an atomic reference count each, see :mod:`.smc_forward`) and ran the
# vectorised link terms on D-long vectors only. Particles come in as ``ZT`` (R, K),
# the transposed ``Z``.


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def _lincomb_block(base, MT, ZT, out):
    """``out[d, k] = base[d] + Σ_r MT[r, d] ZT[r, k]``: ``MT`` (R, ≥ D), ``ZT`` (R, K), ``out`` (D, K)."""
    D, K = out.shape
    R = ZT.shape[0]
    for d in range(D):
        bd = base[d]
        if R == 2:
            m0, m1 = MT[0, d], MT[1, d]
            for k in range(K):
                out[d, k] = bd + m0 * ZT[0, k] + m1 * ZT[1, k]
        elif R == 3:
            m0, m1, m2 = MT[0, d], MT[1, d], MT[2, d]
            for k in range(K):
                out[d, k] = bd + m0 * ZT[0, k] + m1 * ZT[1, k] + m2 * ZT[2, k]
        else:
            for k in range(K):
                out[d, k] = bd
            for r in range(R):
                mr = MT[r, d]
                for k in range(K):
                    out[d, k] += mr * ZT[r, k]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def _rates_row(act, d, XC, gd, bd, hd, ETA):
    """``ETA[d] = gd * phi(XC[d] - hd) + bd`` for one activation code ``act``."""
    for k in range(XC.shape[1]):
        ETA[d, k] = gd * phi(act, XC[d, k] - hd, hd) + bd


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def readout_block(readout, from_rates, act, ZT, WT, mDT, hD, gain, b, off, XC, ETA):
    """Read-out means ``ETA`` (D, K) of the particles ``ZT`` (R, K): each particle's mean before the link.

    ``WT`` (R, D) the latent read-out, ``mDT`` (R, ≥ D) the observed units' loadings; ``hD, gain, b,
    off`` (D,). Units read-out: ``XC`` (D, K) receives the currents
    ``off + m[:D] z`` (which the adjoint needs); latent: ``XC`` is not used.
    The activation is dispatched once per channel, each loop compiled for
    one code (see :func:`units_current_adjoint_block` for why).
    """
    D, K = ETA.shape
    if readout == READOUT_LATENT:
        _lincomb_block(off, WT, ZT, ETA)
        return
    _lincomb_block(off, mDT, ZT, XC)
    for d in range(D):
        gd, bd, hd = gain[d], b[d], hD[d]
        if not from_rates:
            for k in range(K):
                ETA[d, k] = gd * XC[d, k] + bd
        elif act == ACT_RELU:
            _rates_row(ACT_RELU, d, XC, gd, bd, hd, ETA)
        elif act == ACT_CLIPPED_RELU:
            _rates_row(ACT_CLIPPED_RELU, d, XC, gd, bd, hd, ETA)
        elif act == ACT_TANH:
            _rates_row(ACT_TANH, d, XC, gd, bd, hd, ETA)
        else:
            _rates_row(ACT_IDENTITY, d, XC, gd, bd, hd, ETA)


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def loglik_block(lik, link, y, ETA, inv_sigma, gauss_const, bin_width, lgy, work, out):
    """``out[k] = log p(y | ETA[:, k])``: the Gaussian or Poisson log-likelihood of each particle (column of ``ETA`` (D, K)).

    ``y, inv_sigma`` (D,); ``work`` (2, D, K) scratch for the Poisson terms
    (:func:`.vmath.poisson_loglik_block`), not overlapping ``ETA``; ``out`` (K,).
    A NaN in ``y`` is a missing value: its channel is left out of the likelihood.
    """
    if lik != LIK_GAUSSIAN:
        poisson_loglik_block(link, y, ETA, bin_width, lgy, work, out)
        return
    D, K = ETA.shape
    for k in range(K):
        out[k] = 0.0
    const = gauss_const
    for d in range(D):
        yd, isg = y[d], inv_sigma[d]
        if yd != yd:
            # gauss_const sums log(1/σ_d) - log(2π)/2 over every channel
            const -= math.log(isg) - 0.5 * LOG_2PI
            continue
        for k in range(K):
            r = (yd - ETA[d, k]) * isg
            out[k] -= 0.5 * r * r
    for k in range(K):
        out[k] += const


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def loglik_adjoint_block(lik, link, y, ETA, inv_sigma, bin_width, w, work, DETA, dsigma):
    """``DETA[:, k] = w[k] * dlogp/deta`` at ``ETA[:, k]``; Gaussian: ``dsigma += Σ_k w[k] dlogp/dsigma``.

    ``y, inv_sigma, dsigma`` (D,); ``w`` (K,); ``ETA, DETA`` (D, K); ``work``
    (2, D, K) scratch for the Poisson terms. Particles with ``w[k] == 0``
    get zeros and add nothing (their derivative may not even be finite), and
    so do the channels of a missing value (NaN in ``y``).
    """
    if lik != LIK_GAUSSIAN:
        poisson_loglik_adjoint_block(link, y, ETA, bin_width, w, work, DETA)
        return
    D, K = ETA.shape
    for d in range(D):
        yd, isg = y[d], inv_sigma[d]
        if yd != yd:
            for k in range(K):
                DETA[d, k] = 0.0
            continue
        s = 0.0
        for k in range(K):
            wk = w[k]
            r = (yd - ETA[d, k]) * isg
            DETA[d, k] = 0.0 if wk == 0.0 else wk * r * isg
            s += 0.0 if wk == 0.0 else wk * (r * r - 1.0) * isg
        dsigma[d] += s


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def row_sums(X, acc):
    """``acc[d] += Σ_k X[d, k]`` for ``X`` (D, K), ``acc`` (D,)."""
    D, K = X.shape
    for d in range(D):
        s = 0.0
        for k in range(K):
            s += X[d, k]
        acc[d] += s


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def linear_adjoint_block(ZT, MT, X, DZT, dMT):
    """Adjoint of ``X[:, k] = MTᵀ ZT[:, k]`` for every particle: ``DZT[:, k] += MT X[:, k]``, ``dMT[:, :D] += ZT Xᵀ``.

    ``ZT, DZT`` (R, K); ``MT, dMT`` (R, ≥ D); ``X`` (D, K) the adjoints of
    the read-outs ``MTᵀ z``.
    """
    D, K = X.shape
    R = ZT.shape[0]
    for r in range(R):
        for d in range(D):
            m = MT[r, d]
            for k in range(K):
                DZT[r, k] += m * X[d, k]
        for d in range(D):
            s = 0.0
            for k in range(K):
                s += ZT[r, k] * X[d, k]
            dMT[r, d] += s


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def _rates_adjoint_row(act, d, XC, DETA, gn, hd):
    """Rates read-out, channel d, one activation code ``act``: overwrites ``XC[d]`` with the
    currents' adjoints; returns the sums over particles for ``db, dgain, dh, doff``."""
    sb = sg = sh = so = 0.0
    for k in range(XC.shape[1]):
        gd = DETA[d, k]
        xh = XC[d, k] - hd
        du = gd * gn
        dx = du * dphi_dx(act, xh, hd)
        sb += gd
        sg += gd * phi(act, xh, hd)
        sh += du * dphi_dh(act, xh, hd) - dx
        so += dx
        XC[d, k] = dx
    return sb, sg, sh, so


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def units_current_adjoint_block(from_rates, act, XC, hD, gain, DETA, dh, dgain, db, doff):
    """Adjoint of the units read-out ``ETA = gain * u + b`` (``u`` the currents, or the rates ``phi(XC - hD)``) of every particle (column).

    ``XC, DETA`` (D, K): the currents and the read-outs' adjoints; ``XC`` is
    overwritten with the currents' adjoints, whose sum over particles goes
    into ``doff``. Accumulates ``dh`` (first D units), ``dgain``, ``db`` (D,).

    The activation is dispatched once per channel, each loop compiled for one
    code: with the code a run-time value inside the loop, LLVM evaluated
    every branch (``tanh`` included) for every element, 50 times slower.
    """
    D, K = XC.shape
    for d in range(D):
        gn, hd = gain[d], hD[d]
        if from_rates:
            if act == ACT_RELU:
                sb, sg, sh, so = _rates_adjoint_row(ACT_RELU, d, XC, DETA, gn, hd)
            elif act == ACT_CLIPPED_RELU:
                sb, sg, sh, so = _rates_adjoint_row(ACT_CLIPPED_RELU, d, XC, DETA, gn, hd)
            elif act == ACT_TANH:
                sb, sg, sh, so = _rates_adjoint_row(ACT_TANH, d, XC, DETA, gn, hd)
            else:
                sb, sg, sh, so = _rates_adjoint_row(ACT_IDENTITY, d, XC, DETA, gn, hd)
            dh[d] += sh
        else:
            sb = sg = so = 0.0
            for k in range(K):
                gd = DETA[d, k]
                dx = gd * gn
                sb += gd
                sg += gd * XC[d, k]
                so += dx
                XC[d, k] = dx
        db[d] += sb
        dgain[d] += sg
        doff[d] += so
