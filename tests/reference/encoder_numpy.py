"""Plain autograd reference of the encoder network (lowrank.model.encoder), the oracle of
:mod:`lowrank.kernels.encoder`.

Written differently from the kernels on purpose: one sequence at a time at
its own length, the padded input built explicitly by gathering rows through
an index array (the zero row for ``zeros`` padding is an appended row of
zeros that index -1 picks), then one dense product per tap
(``Σ_j padded[j:j+n] @ W[j]``), with no in-place writes so that
``autograd.grad`` differentiates it.
"""
from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import erf

from lowrank.model.encoder import LEAKY_SLOPE, MAX_VAR, MIN_VAR, encoder_layout, pad_left, source_index


def padding_index(mode, n, left, k):
    """(n + k - 1,) rows of the input that the padded positions read; -1 for a zero row."""
    return np.array([source_index(mode, p - left, n) for p in range(n + k - 1)], dtype=np.int64)


def _act(name, x):
    if name == "gelu":
        return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
    return anp.where(x > 0.0, x, LEAKY_SLOPE * x)


def _layer(x, W, b, idx):
    n = x.shape[0]
    padded = anp.concatenate([x, anp.zeros((1, x.shape[1]))], axis=0)[idx]
    return b + sum(anp.dot(padded[j:j + n], W[j]) for j in range(W.shape[0]))


def network(theta, enc, x, rank):
    """Raw outputs (n, C_last) of the network on one sequence ``x`` (n, D)."""
    lay = encoder_layout(enc, x.shape[1], rank)
    n, L = x.shape[0], len(enc.kernel_sizes)
    h = x
    for l, k in enumerate(enc.kernel_sizes):
        ci, co = int(lay.cin[l]), int(lay.cout[l])
        W = anp.reshape(theta[lay.w_off[l]:lay.w_off[l] + k * ci * co], (k, ci, co))
        b = theta[lay.b_off[l]:lay.b_off[l] + co]
        a = _layer(h, W, b, padding_index(enc.padding_mode, n, pad_left(enc.padding, k), k))
        h = a if l == L - 1 else _act(enc.activation, a)
    return h


def encode(theta, enc, y, lengths, rank):
    """``(mu, logvar)`` (S, T, R) of every sequence, zero past each length."""
    S, T, _ = y.shape
    lay = encoder_layout(enc, y.shape[2], rank)
    mus, lvs = [], []
    for s in range(S):
        n = int(lengths[s])
        o = network(theta, enc, y[s, :n], rank)
        lv = anp.ones((n, 1)) * theta[lay.lv_off:lay.lv_off + rank] if enc.constant_var else o[:, rank:]
        pad = anp.zeros((T - n, rank))
        mus.append(anp.concatenate([o[:, :rank], pad], axis=0))
        lvs.append(anp.concatenate([lv, pad], axis=0))
    return anp.stack(mus), anp.stack(lvs)


def precision(logvar):
    """``1 / clip(exp(logvar), MIN_VAR, MAX_VAR)`` (autograd passes no gradient through an active clip)."""
    return 1.0 / anp.clip(anp.exp(logvar), MIN_VAR, MAX_VAR)


def functional(theta, enc, y, lengths, rank, c1, c2):
    """``Σ c1 ⊙ mu + c2 ⊙ prec``, the scalar the gradient tests differentiate."""
    mu, logvar = encode(theta, enc, y, lengths, rank)
    return anp.sum(c1 * mu) + anp.sum(c2 * precision(logvar))
