"""Optimal (locally exact) proposal for linear-Gaussian read-outs, and its adjoint.

With ``y = B z + c + noise``, ``R_obs = diag(1/rinv)`` and a Gaussian prior
``z ~ N(f, Σ)``, ``Σ = L Lᵀ``:

    G = Bᵀ R_obs⁻¹ B,    A = Σ⁻¹ + G,    P = A⁻¹,    L_P = chol(P)
    per step:      e = y - c,   g = Bᵀ R_obs⁻¹ e,   s = eᵀ R_obs⁻¹ e
    per particle:  q = g - G f
                   z = f + P q + L_P ε               (= P (Σ⁻¹ f + g) + L_P ε)
                   log w = k - s/2 + fᵀg - fᵀG f/2 + qᵀP q/2
                   k = -(log|R_obs| + log|Σ| + log|A|)/2 - D/2 log 2π

``log w`` is ``log N(y; B f + c, B Σ Bᵀ + R_obs)`` by Woodbury and the
determinant lemma, so each particle costs O(R²) beyond its transition; the
setup is O(R³ + D R²) per call. There are two regimes: Σ_0 (t = 0) and Σ_z.
The residual term ``s - 2fᵀg + fᵀGf = |y - c - B f|²_R⁻¹`` is formed from
R-dimensional pieces; it loses relative precision only when the data are
many orders of magnitude larger than the residual (not the case for
standardised recordings).
"""
import math

import numba
import numpy as np

from ..config import CACHE, FASTMATH
from .observation import LOG_2PI


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def cholesky(A, L):
    """Lower Cholesky factor of a small SPD matrix (R, R) into ``L``."""
    R = A.shape[0]
    L[:, :] = 0.0
    for j in range(R):
        s = A[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not s > 0.0:
            raise FloatingPointError("matrix is not positive definite in the optimal-proposal setup")
        d = math.sqrt(s)
        L[j, j] = d
        for i in range(j + 1, R):
            s = A[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            L[i, j] = s / d


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def tril_inverse_into(L, Li):
    """Inverse of a lower-triangular matrix ``L`` (R, R) into ``Li`` (R, R, lower-triangular)."""
    R = L.shape[0]
    for j in range(R):
        for i in range(j):
            Li[i, j] = 0.0
        Li[j, j] = 1.0 / L[j, j]
        for i in range(j + 1, R):
            s = 0.0
            for k in range(j, i):
                s += L[i, k] * Li[k, j]
            Li[i, j] = -s / L[i, i]


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def tril_inverse(L):
    """Inverse of a lower-triangular matrix (lower-triangular)."""
    Li = np.zeros(L.shape)
    tril_inverse_into(L, Li)
    return Li


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def spd_inverse_from_chol(L):
    """``(L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹``."""
    Li = tril_inverse(L)
    out = np.empty(L.shape)
    product(Li, Li, True, out)      # not ``@``: Numba's BLAS path compiles seconds of error formatting
    return out


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def gram(B, rinv):
    """``G = Bᵀ diag(rinv) B`` (R, R)."""
    D, R = B.shape
    G = np.zeros((R, R))
    for d in range(D):
        for i in range(R):
            bi = B[d, i] * rinv[d]
            for j in range(R):
                G[i, j] += bi * B[d, j]
    return G


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def setup(G, L, rinv, P, LP):
    """Fill ``P``, ``LP`` for prior factor ``L``; return the constant ``k``."""
    R = L.shape[0]
    D = rinv.shape[0]
    A = spd_inverse_from_chol(L) + G
    LA = np.zeros((R, R))
    cholesky(A, LA)
    PA = spd_inverse_from_chol(LA)
    for i in range(R):              # a loop: an array-to-slice copy compiles seconds of error formatting
        for j in range(R):
            P[i, j] = PA[i, j]
    # Symmetrise: P feeds a second Cholesky and Woodbury identities assume Pᵀ = P.
    for i in range(R):
        for j in range(i):
            s = 0.5 * (P[i, j] + P[j, i])
            P[i, j] = s
            P[j, i] = s
    cholesky(P, LP)
    logdet = 0.0
    for d in range(D):
        logdet -= math.log(rinv[d])
    for i in range(R):
        logdet += 2.0 * math.log(L[i, i]) + 2.0 * math.log(LA[i, i])
    return -0.5 * logdet - 0.5 * D * LOG_2PI


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def step_terms(B, rinv, e, g):
    """``g = Bᵀ diag(rinv) e`` into ``g`` (R,); return ``s = eᵀ diag(rinv) e``."""
    D, R = B.shape
    for r in range(R):
        g[r] = 0.0
    s = 0.0
    for d in range(D):
        w = rinv[d] * e[d]
        s += w * e[d]
        for r in range(R):
            g[r] += B[d, r] * w
    return s


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def step_terms_adjoint(B, rinv, e, dg, ds, de, dB, drinv):
    """Reverse of :func:`step_terms`: write ``de`` (D,), accumulate ``dB``, ``drinv``."""
    D, R = B.shape
    for d in range(D):
        bd = 0.0
        for r in range(R):
            bd += B[d, r] * dg[r]
        w = rinv[d] * e[d]
        de[d] = rinv[d] * bd + 2.0 * ds * w
        drinv[d] += e[d] * bd + ds * e[d] * e[d]
        for r in range(R):
            dB[d, r] += w * dg[r]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def product(A, B, transpose_a, out):
    """``out = A B`` (or ``Aᵀ B``) for (R, R) matrices, ``out`` distinct from both."""
    R = A.shape[0]
    for i in range(R):
        for j in range(R):
            acc = 0.0
            for k in range(R):
                acc += (A[k, i] if transpose_a else A[i, k]) * B[k, j]
            out[i, j] = acc


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def cholesky_adjoint_into(L, dL, X, Li, Y):
    """Symmetric adjoint of ``A`` given ``L = chol(A)`` and ``dL`` (lower part), into ``X`` (R, R).

    ``sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹)`` with Φ the lower triangle, diagonal halved
    (Murray 2016), without allocating: the encoder proposal runs it at every
    step of every sequence. ``Li``, ``Y`` (R, R) are scratch.
    """
    R = L.shape[0]
    for i in range(R):
        for j in range(R):
            acc = 0.0
            if j <= i:
                for k in range(i, R):
                    acc += L[k, i] * dL[k, j]
            X[i, j] = 0.5 * acc if i == j else acc
    tril_inverse_into(L, Li)
    product(X, Li, False, Y)
    product(Li, Y, True, X)
    for i in range(R):
        for j in range(i):
            a = 0.5 * (X[i, j] + X[j, i])
            X[i, j] = a
            X[j, i] = a


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def cholesky_adjoint(L, dL):
    """Symmetric adjoint of ``A`` given ``L = chol(A)`` and ``dL`` (lower part used), allocated:
    :func:`cholesky_adjoint_into`."""
    R = L.shape[0]
    X, Li, Y = np.empty((R, R)), np.empty((R, R)), np.empty((R, R))
    cholesky_adjoint_into(L, dL, X, Li, Y)
    return X


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def setup_adjoint(G, L, rinv, P, LP, dP, dLP, dk, dG, dL, drinv):
    """Reverse of :func:`setup` given adjoints of ``P``, ``LP`` and ``k``.

    Accumulates ``dG`` (R, R), ``dL`` (R, R, lower part meaningful) and
    ``drinv`` (D,).
    """
    R = L.shape[0]
    dPt = dP + cholesky_adjoint(LP, dLP)
    # P = A⁻¹ ; k holds -log|A|/2 = +log|P|/2, whose gradient in A is -P/2.
    tmp, prod = np.empty((R, R)), np.empty((R, R))
    product(P, dPt, False, tmp)
    product(tmp, P, False, prod)
    dA = -prod - 0.5 * dk * P
    dG += dA
    Sinv = spd_inverse_from_chol(L)
    product(Sinv, dA, False, tmp)
    product(tmp, Sinv, False, prod)          # -dS
    product(prod + prod.T, L, False, tmp)
    dL -= tmp
    for i in range(R):
        dL[i, i] -= dk / L[i, i]
    for d in range(rinv.shape[0]):
        drinv[d] += 0.5 * dk / rinv[d]


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def gram_adjoint(B, rinv, dG, dB, drinv):
    """Reverse of :func:`gram`: accumulate ``dB`` (D, R) and ``drinv`` (D,)."""
    D, R = B.shape
    for d in range(D):
        q = 0.0
        for i in range(R):
            for j in range(R):
                q += B[d, i] * dG[i, j] * B[d, j]
        drinv[d] += q
        for i in range(R):
            s = 0.0
            for j in range(R):
                s += (dG[i, j] + dG[j, i]) * B[d, j]
            dB[d, i] += rinv[d] * s
