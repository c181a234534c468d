"""Correlated observation noise for the latent Gaussian read-out.

With a *noise basis* ``S`` (an invertible ``(D, D)`` matrix, fixed during
fitting) the read-out is

    y_t = S (W z_t + b + σ ⊙ ε_t),      ε_t ~ 𝒩(0, I_D),

so the observation noise has the full covariance ``S diag(σ²) Sᵀ`` and the
read-out weights in data space are ``S W``. The parameters ``W``, ``b``
(``W_v``) and ``σ`` live in the *noise coordinates* ``S⁻¹ y``: inference
maps the data there (``to_noise_coords``) and runs the diagonal-noise
kernels unchanged, and the log-likelihood of ``y`` gains the Jacobian term
``−log|det S|`` per time step. Generation maps back (``from_noise_coords``).

Why: a rank-R read-out with diagonal noise can only put the data's variance
beyond its top R directions into independent per-channel noise. Recordings
such as EEG carry correlated structure there (volume conduction), and a
generated series then misses it. ``residual_noise_basis`` builds ``S`` from
that structure.
"""
from __future__ import annotations

import numpy as np

from .._checks import as_float_array

__all__ = ["residual_noise_basis", "check_noise_basis", "to_noise_coords", "from_noise_coords",
           "log_abs_det"]

# Beyond this condition number, S⁻¹ y loses too many digits to be trusted.
_MAX_COND = 1e10


def check_noise_basis(basis, options):
    """``basis`` as a validated float64 ``(D, D)`` array, or None.

    Raises ValueError for a model whose read-out is not latent-Gaussian, a
    wrong shape, non-finite values or a (nearly) singular matrix.
    """
    if basis is None:
        return None
    if options.readout != "latent" or options.likelihood != "gaussian":
        raise ValueError("noise_basis needs a latent read-out with a Gaussian likelihood; this model has "
                         f"readout={options.readout!r}, likelihood={options.likelihood!r}")
    D = options.n_obs
    S = as_float_array("noise_basis", basis, (2,), D, "n_obs", shape_desc="(n_obs, n_obs)")
    if S.shape != (D, D):
        raise ValueError(f"noise_basis must have shape ({D}, {D}); got {S.shape}")
    cond = np.linalg.cond(S)
    if not np.isfinite(cond) or cond > _MAX_COND:
        raise ValueError(f"noise_basis must be invertible and well conditioned (condition number <= "
                         f"{_MAX_COND:g}); got {cond:.3g}")
    return S.copy()


def to_noise_coords(basis, y):
    """``S⁻¹ y`` along the last axis of ``y`` (any leading shape); ``y`` itself when ``basis`` is None."""
    if basis is None:
        return y
    y = np.asarray(y, dtype=np.float64)
    flat = y.reshape(-1, y.shape[-1])
    return np.linalg.solve(basis, flat.T).T.reshape(y.shape)


def from_noise_coords(basis, y):
    """``S y`` along the last axis of ``y``; ``y`` itself when ``basis`` is None."""
    if basis is None:
        return y
    return np.asarray(y, dtype=np.float64) @ np.asarray(basis, dtype=np.float64).T


def log_abs_det(basis):
    """``log|det S|`` (0 when ``basis`` is None)."""
    if basis is None:
        return 0.0
    return float(np.linalg.slogdet(basis)[1])


def residual_noise_basis(y, rank, *, smoothing_gain=1.0, floor=0.05):
    """A noise basis shaped like the data's covariance beyond its top ``rank`` directions.

    Parameters
    ----------
    y : ndarray, shape (T, D) or (n_trials, T, D)
        The recording, in the units the model will be fitted in.
    rank : int
        Number of leading principal directions the latent read-out will
        explain (usually the model's rank).
    smoothing_gain : float in (0, 1], default 1.0
        If the recording was low-pass filtered before it reached you, the
        residual it holds is a filtered version of a broadband one; pass the
        filter's white-noise power gain (for a normalised Hann window,
        :func:`lowrank.metrics.hann_noise_gain`) to undo that attenuation:
        the residual covariance is divided by it.
    floor : float, default 0.05
        Eigenvalues of the noise covariance are raised to at least ``floor``
        times their mean, keeping ``S`` well conditioned.

    Returns
    -------
    ndarray, shape (D, D)
        The symmetric square root ``S`` of

        ``Σ = V_>r Λ_>r V_>rᵀ / smoothing_gain + q V_r V_rᵀ``,

        where ``V Λ Vᵀ`` is the eigendecomposition of the covariance of
        ``y`` (leading ``rank`` directions ``V_r``, the rest ``V_>r``) and
        ``q`` is the mean of ``Λ_>r / smoothing_gain``: in the leading
        directions the signal hides the residual, so it gets the average
        residual variance. A model with ``noise_basis=S`` and ``σ = 1`` has
        observation noise covariance ``Σ``.

    Raises
    ------
    ValueError
        For bad ``y``, ``rank`` outside ``[0, D)`` or out-of-range gains.

    Examples
    --------
    >>> y = lowrank.LowRankRNN(n_units=16, rank=3, n_obs=8, seed=0).sample(1, 2000, seed=1).y[0]
    >>> S = lowrank.residual_noise_basis(y, 3)
    >>> S.shape, np.allclose(S, S.T)
    ((8, 8), True)
    >>> model = lowrank.LowRankRNN(n_units=16, rank=3, n_obs=8, noise_basis=S)
    >>> model.obs_cov.shape
    (8, 8)
    """
    arr = as_float_array("y", y, (2, 3), shape_desc="(T, D) or (n_trials, T, D)")
    flat = arr.reshape(-1, arr.shape[-1])
    T, D = flat.shape
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < D:
        raise ValueError(f"rank must be an integer in [0, {D}) (the number of channels); got {rank!r}")
    if T < 2:
        raise ValueError(f"y must have at least 2 time points; got {T}")
    g = float(smoothing_gain)
    if not 0.0 < g <= 1.0:
        raise ValueError(f"smoothing_gain must be in (0, 1]; got {smoothing_gain!r}")
    if not float(floor) > 0.0:
        raise ValueError(f"floor must be > 0; got {floor!r}")
    lam, V = np.linalg.eigh(np.cov(flat.T).reshape(D, D))
    lam, V = np.maximum(lam[::-1], 0.0), V[:, ::-1]
    rest = lam[rank:] / g
    if not rest.mean() > 0:
        raise ValueError("y has no variance beyond its leading directions; a noise basis cannot be built")
    var = np.concatenate([np.full(rank, rest.mean()), rest])
    var = np.maximum(var, floor * var.mean())
    return (V * np.sqrt(var)) @ V.T
