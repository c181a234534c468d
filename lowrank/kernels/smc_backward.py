"""Backward pass of variational SMC: hand-written reverse mode.

Differentiates ``value = mean_s (sum_t ell[s, t]) / T_s`` with the draws, the
ancestors and the resampling decisions held fixed (docs/smc.md). Walks
t = T_s-1 .. 0 per sequence (one sequence per thread), recomputing transition
means and pre-activations from the stored particles.

Each sequence writes its own row of ``gbuf`` (S, n_grad); rows are summed in
a fixed order afterwards (:func:`assemble`), so results do not depend on the
thread count. The proposal set-up (P, L_P, the Cholesky factors, the read-out
matrix B) is differentiated once, after the sum.

Adjoint of one step. With ``pi = exp(logW_t)`` and ``dlogW`` the adjoint of
``logW_t`` carried back from step t+1 (zero if resampling followed step t)::

    dell   = c_s - sum(dlogW)            c_s = 1 / (S T_s)
    dlw    = dell * pi + dlogW           adjoint of log w_t and of logW_{t-1}
"""
import functools
import math

import numba
import numpy as np

from ..config import CACHE, FASTMATH
from .observation import linear_residual, loglik_adjoint, readout_adjoint, readout_mean, readout_offset
from .proposal import gram_adjoint, setup_adjoint, step_terms, step_terms_adjoint
from .transition import input_drive, preactivations, transition_adjoint_block, transition_adjoints

# Per-sequence gradient buffer layout: name -> shape (in units of N, R, D, U).
GRAD_FIELDS = ("mT", "nT", "h", "a", "Wu", "Lz", "L0", "P", "LP", "k", "G", "B",
               "rinv", "W", "b", "Wv", "gain", "sigma", "mu", "abar")


@functools.lru_cache(maxsize=64)
def grad_layout(N, R, D, U, Uv):
    """Offsets (int64 array, one past the last at the end) and shapes of ``GRAD_FIELDS``."""
    shapes = {"mT": (R, N), "nT": (R, N), "h": (N,), "a": (R,), "Wu": (N, U),
              "Lz": (R, R), "L0": (R, R), "P": (2, R, R), "LP": (2, R, R), "k": (2,),
              "G": (R, R), "B": (D, R), "rinv": (D,), "W": (R, D), "b": (D,),
              "Wv": (D, Uv), "gain": (D,), "sigma": (D,), "mu": (R,), "abar": (1,)}
    offs = [0]
    for name in GRAD_FIELDS:
        offs.append(offs[-1] + int(np.prod(shapes[name])))
    return np.array(offs, dtype=np.int64), shapes


@numba.njit(fastmath=FASTMATH, cache=CACHE)
def _view2(gb, go, i, n0, n1):
    return gb[go[i]:go[i] + n0 * n1].reshape((n0, n1))


@numba.njit(parallel=True, fastmath=FASTMATH, cache=CACHE)
def smc_backward(act, readout, from_rates, lik, link, prop, bin_width, filt, abar,
                 y, u_in, v, lengths, eps,
                 mT, nT, h, a, Wu, mu_init, Lz, L0, W, Wv, gain, b, inv_sigma,
                 B, rinv, G, P2, LP2,
                 Z, F, anc, logW, resampled, go, gbuf):
    S, T, K, R = eps.shape
    N = mT.shape[1]
    D = y.shape[2]
    U = v.shape[2]
    Uv = Wv.shape[1]
    mDT = np.ascontiguousarray(mT[:, :min(D, N)])
    WT = np.ascontiguousarray(W.T)
    hD = h[:D]
    for s in numba.prange(S):
        Tb = lengths[s]
        cs = 1.0 / (S * Tb)
        gb = gbuf[s]
        gb[:] = 0.0
        dmT = _view2(gb, go, 0, R, N)
        dnT = _view2(gb, go, 1, R, N)
        dh = gb[go[2]:go[3]]
        da = gb[go[3]:go[4]]
        dWu = _view2(gb, go, 4, N, U)
        dLz = _view2(gb, go, 5, R, R)
        dL0 = _view2(gb, go, 6, R, R)
        dP = gb[go[7]:go[8]].reshape((2, R, R))
        dLP = gb[go[8]:go[9]].reshape((2, R, R))
        dk = gb[go[9]:go[10]]
        dG = _view2(gb, go, 10, R, R)
        dB = _view2(gb, go, 11, D, R)
        drinv = gb[go[12]:go[13]]
        dWT = _view2(gb, go, 13, R, D)
        db = gb[go[14]:go[15]]
        dWv = _view2(gb, go, 15, D, Uv)
        dgain = gb[go[16]:go[17]]
        dsigma = gb[go[17]:go[18]]
        dmu = gb[go[18]:go[19]]
        dabar = gb[go[19]:go[20]]

        dz_cur = np.zeros((K, R))
        dz_prev = np.zeros((K, R))
        dlogW = np.zeros(K)
        dlw = np.zeros(K)
        xb = np.empty(N)
        XW = np.empty((K, N))
        PB = np.empty((K, N))
        DZ = np.empty((K, R))
        GX = np.empty((K, N))
        ZP = np.empty((K, R))
        DF = np.empty((K, R))
        dxb_t = np.zeros(N)
        dxb_p = np.zeros(N)
        f = np.empty(R)
        q = np.empty(R)
        tmp = np.empty(R)
        zk = np.empty(R)
        ek = np.empty(R)
        dzk = np.empty(R)
        dq = np.empty(R)
        df = np.empty(R)
        g = np.zeros(R)
        dg = np.zeros(R)
        off = np.empty(D)
        e = np.empty(D)
        de = np.empty(D)
        eta = np.empty(D)
        deta = np.empty(D)
        xw = np.empty(D)
        doff = np.empty(D)
        dv = np.zeros(U)
        dv_next = np.zeros(U)
        for i in range(N):
            xb[i] = -h[i]

        for t in range(Tb - 1, -1, -1):
            dell = cs
            for k in range(K):
                dell -= dlogW[k]
            for k in range(K):
                dlw[k] = dell * math.exp(logW[s, t, k]) + dlogW[k]
            carry = t >= 1 and resampled[s, t - 1] == 0
            for k in range(K):
                dlogW[k] = dlw[k] if carry else 0.0
            if t >= 1 and U > 0:
                input_drive(Wu, v[s, t - 1], h, xb)
            readout_offset(readout, b, Wv, Wu, v[s, t], off)
            yt = y[s, t]
            ds = 0.0
            if prop == 1:
                linear_residual(readout, yt, off, gain, b, e)
                step_terms(B, rinv, e, g)
                for r in range(R):
                    dg[r] = 0.0
            for d in range(D):
                doff[d] = 0.0
            for i in range(N):
                dxb_p[i] = 0.0
            reg = 0 if t == 0 else 1
            dL = dL0 if t == 0 else dLz
            P = P2[reg]
            dPr = dP[reg]
            dLPr = dLP[reg]
            # Thread-local copies instead of views (see smc_forward).
            for k in range(K):
                wk = dlw[k]
                j = anc[s, t, k]
                for r in range(R):
                    dzk[r] = dz_cur[k, r]
                    ek[r] = eps[s, t, k, r]
                if t == 0:
                    for r in range(R):
                        f[r] = mu_init[s, r]
                else:
                    for r in range(R):
                        ZP[k, r] = Z[s, t - 1, j, r]
                        f[r] = F[s, t, k, r]
                if prop == 0:
                    if wk != 0.0:
                        for r in range(R):
                            zk[r] = Z[s, t, k, r]
                        readout_mean(readout, from_rates, act, zk, WT, mDT, hD, gain, b, off, eta)
                        loglik_adjoint(lik, link, yt, eta, inv_sigma, bin_width, wk, deta, dsigma)
                        readout_adjoint(readout, from_rates, act, zk, WT, mDT, hD, gain, off, deta, xw,
                                        dzk, dWT, dmT, dh, dgain, db, doff)
                    for r in range(R):
                        df[r] = dzk[r]
                        for c in range(r + 1):
                            dL[r, c] += dzk[r] * ek[c]
                else:
                    for r in range(R):
                        acc = g[r]
                        for c in range(R):
                            acc -= G[r, c] * f[c]
                        q[r] = acc
                        tmp[r] = dzk[r] + wk * acc
                    for r in range(R):
                        acc = 0.0
                        for c in range(R):
                            acc += P[r, c] * tmp[c]
                        dq[r] = acc
                    for r in range(R):
                        for c in range(R):
                            dPr[r, c] += (dzk[r] + 0.5 * wk * q[r]) * q[c]
                            dG[r, c] -= (0.5 * wk * f[r] + dq[r]) * f[c]
                        for c in range(r + 1):
                            dLPr[r, c] += dzk[r] * ek[c]
                        dg[r] += wk * f[r] + dq[r]
                    dk[reg] += wk
                    ds -= 0.5 * wk
                    for r in range(R):
                        acc = tmp[r]
                        for c in range(R):
                            acc -= G[r, c] * dq[c]
                        df[r] = acc
                if t == 0:
                    for r in range(R):
                        dmu[r] += df[r]
                else:
                    for r in range(R):
                        DF[k, r] = df[r]
            if t >= 1:
                # Transitions from step t-1, all particles at once: recompute the
                # pre-activations, then reverse.
                preactivations(act, ZP, mT, h, xb, XW, PB)
                transition_adjoints(act, ZP, a, mT, nT, h, XW, DF, GX, DZ, dh, da)
                for k in range(K):
                    j = anc[s, t, k]
                    for r in range(R):
                        dz_prev[j, r] += DZ[k, r]
                transition_adjoint_block(DF, ZP, PB, GX, dmT, dnT, dxb_p)

            # Close step t. The transition's pre-activation is m z + W_u v - h, so
            # the adjoint of h is minus that of the input current (dxb_p holds
            # only transition terms until the read-out of step t-1 adds to it).
            if t >= 1:
                for i in range(N):
                    dh[i] -= dxb_p[i]
            # The read-out offset, then everything fed by v_t.
            if prop == 1:
                step_terms_adjoint(B, rinv, e, dg, ds, de, dB, drinv)
                if readout == 0:
                    for d in range(D):
                        doff[d] -= de[d]
                else:
                    for d in range(D):
                        db[d] -= de[d]
                        dgain[d] -= de[d] * off[d]
                        doff[d] -= de[d] * gain[d]
            vt = v[s, t]
            if readout == 0:
                for d in range(D):
                    db[d] += doff[d]
                    for c in range(Uv):
                        dWv[d, c] += doff[d] * vt[c]
                        if filt:
                            dv[c] += Wv[d, c] * doff[d]
            else:
                for d in range(D):
                    dxb_t[d] += doff[d]
            if U > 0:
                for i in range(N):
                    for c in range(U):
                        dWu[i, c] += dxb_t[i] * vt[c]
                        if filt:
                            dv[c] += Wu[i, c] * dxb_t[i]
                if filt:
                    for c in range(U):
                        dabar[0] += dv_next[c] * (vt[c] - u_in[s, t, c])
                        dv[c] += abar * dv_next[c]
                        dv_next[c] = dv[c]
                        dv[c] = 0.0
            dxb_t, dxb_p = dxb_p, dxb_t
            dz_cur, dz_prev = dz_prev, dz_cur
            for k in range(K):
                for r in range(R):
                    dz_prev[k, r] = 0.0


def assemble(gbuf, go, shapes, ctx):
    """Sum the per-sequence rows (fixed order) and push the proposal set-up,
    the read-out matrix, the initial mean and the input filter back to the
    constrained parameter blocks. Returns a dict block -> gradient."""
    tot = gbuf.sum(axis=0)
    part = {}
    for i, name in enumerate(GRAD_FIELDS):
        part[name] = tot[go[i]:go[i + 1]].reshape(shapes[name])
    p = ctx["params"]
    opts = ctx["options"]
    R = opts.rank
    D = opts.n_obs
    out = {
        "m": part["mT"].T.copy(), "n": part["nT"].T.copy(), "h": part["h"].copy(),
        "a": part["a"].copy(), "W_u": part["Wu"].copy(),
        "L_z": part["Lz"].copy(), "L_0": part["L0"].copy(), "mu0": part["mu"].copy(),
        "W": part["W"].T.copy() if opts.readout == "latent" else np.zeros((0, R)),
        "b": part["b"].copy(), "W_v": part["Wv"].copy(),
        "gain": part["gain"].copy() if opts.readout == "units" else np.zeros(0),
        "sigma": part["sigma"].copy() if opts.likelihood == "gaussian" else np.zeros(0),
    }
    if ctx["prop"] == 1:
        B, rinv, G = ctx["B"], ctx["rinv"], ctx["G"]
        dG = part["G"].copy()
        dB = part["B"].copy()
        drinv = part["rinv"].copy()
        for reg, (L, key) in enumerate(((p.L_0, "L_0"), (p.L_z, "L_z"))):
            setup_adjoint(G, L, rinv, ctx["P2"][reg], ctx["LP2"][reg], part["P"][reg].copy(),
                          part["LP"][reg].copy(), part["k"][reg], dG, out[key], drinv)
        gram_adjoint(B, rinv, dG, dB, drinv)
        if opts.readout == "latent":
            out["W"] += dB
        else:
            out["gain"] += np.einsum("dr,dr->d", dB, p.m[:D])
            out["m"][:D] += p.gain[:, None] * dB
        out["sigma"] += drinv * (-2.0) / p.sigma ** 3
    if opts.n_inputs > 0:
        # mu_init = mu0 + (mᵀm)⁻¹ mᵀ W_u v_0 per sequence.
        dmu_s = gbuf[:, go[GRAD_FIELDS.index("mu")]:go[GRAD_FIELDS.index("mu") + 1]]
        v0 = ctx["v"][:, 0, :]
        if np.any(v0 != 0.0):
            m = p.m
            C = m.T @ m
            lam = np.linalg.solve(C, dmu_s.T).T          # (S, R)
            w = v0 @ p.W_u.T                              # (S, N)
            sol = np.linalg.solve(C, (w @ m).T).T         # (S, R)
            out["m"] += w.T @ lam - m @ (lam.T @ sol + sol.T @ lam)
            out["W_u"] += (lam @ m.T).T @ v0
        if opts.filter_inputs:
            out["a"] += part["abar"][0] / R
    for key, kind in (("L_z", opts.noise), ("L_0", opts.init_noise)):
        out[key] = np.tril(out[key]) if kind == "full" else np.diag(np.diag(out[key]))
    return out
