"""Small dense (R, R) linear algebra for one thread: Cholesky factor, triangular solves,
and the Cholesky factor's adjoint. Matrices are thread-local arrays of at least
(R, R) entries; only the leading (R, R) block is read or written.

A matrix that is not positive definite gives NaN factors (no exception on a
device), which turn the weights NaN and the sequence fails.
"""
import math

from numba import cuda


@cuda.jit(device=True)
def cholesky(A, L, R):
    """Lower Cholesky factor of the SPD ``A`` into ``L``."""
    for j in range(R):
        for i in range(j):
            L[i, j] = 0.0
        s = A[j, j]
        for c in range(j):
            s -= L[j, c] * L[j, c]
        d = math.sqrt(s) if s > 0.0 else math.nan
        L[j, j] = d
        for i in range(j + 1, R):
            s = A[i, j]
            for c in range(j):
                s -= L[i, c] * L[j, c]
            L[i, j] = s / d


@cuda.jit(device=True)
def lower_solve(L, b, x, R):
    """``x = L⁻¹ b`` for lower-triangular ``L``."""
    for i in range(R):
        acc = b[i]
        for j in range(i):
            acc -= L[i, j] * x[j]
        x[i] = acc / L[i, i]


@cuda.jit(device=True)
def upper_solve(L, b, x, R):
    """``x = L⁻ᵀ b`` for lower-triangular ``L``."""
    for i in range(R - 1, -1, -1):
        acc = b[i]
        for j in range(i + 1, R):
            acc -= L[j, i] * x[j]
        x[i] = acc / L[i, i]


@cuda.jit(device=True)
def tril_inverse(L, Li, R):
    """Inverse of the lower-triangular ``L`` into ``Li`` (lower-triangular)."""
    for j in range(R):
        for i in range(j):
            Li[i, j] = 0.0
        Li[j, j] = 1.0 / L[j, j]
        for i in range(j + 1, R):
            s = 0.0
            for c in range(j, i):
                s += L[i, c] * Li[c, j]
            Li[i, j] = -s / L[i, i]


@cuda.jit(device=True)
def product(A, transpose_a, B, out, R):
    """``out = A B`` (or ``Aᵀ B``), (R, R); ``out`` must not be ``A`` or ``B``."""
    for i in range(R):
        for j in range(R):
            acc = 0.0
            for c in range(R):
                acc += (A[c, i] if transpose_a else A[i, c]) * B[c, j]
            out[i, j] = acc


@cuda.jit(device=True)
def cholesky_adjoint(L, dL, X, Li, Y, R):
    """Symmetric adjoint ``X`` of ``A`` given ``L = chol(A)`` and the adjoint ``dL`` of ``L``
    (lower part): ``sym(L⁻ᵀ Φ(Lᵀ dL) L⁻¹)``, Φ the lower triangle with its diagonal
    halved. Linear in ``dL``. ``Li``, ``Y`` are scratch."""
    for i in range(R):
        for j in range(R):
            acc = 0.0
            if j <= i:
                for c in range(i, R):
                    acc += L[c, i] * dL[c, j]
            X[i, j] = 0.5 * acc if i == j else acc
    tril_inverse(L, Li, R)
    product(X, False, Li, Y, R)        # Y = X L⁻¹
    product(Li, True, Y, X, R)         # X = L⁻ᵀ Y
    for i in range(R):
        for j in range(i):
            a = 0.5 * (X[i, j] + X[j, i])
            X[i, j] = a
            X[j, i] = a
