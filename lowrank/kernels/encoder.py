"""The encoder proposal's convolutional network, forward and reverse mode (one sequence per thread).

The network and its flat parameter layout are specified in
:mod:`lowrank.model.encoder`. Per sequence ``s`` of length ``n = T_s`` and
per layer of kernel ``k``, the input ``x`` (n, C_in) is first gathered into
a padded copy ``xp`` (n + k - 1, C_in) by the index map :func:`source_index`
(zero rows where ``zeros`` padding leaves nothing); the layer is then a
'valid' correlation ``a[t] = b + Σ_j xp[t + j] W[j]`` with no boundary
tests in the inner loops.

Reverse mode runs the layers backwards: ``dW[j] += Σ_t xp[t + j]ᵀ da[t]``,
``db += Σ_t da[t]``, and the input's adjoint is the padded input's adjoint
``dxp[p] = Σ_j W[j] da[p - j]`` (again a valid correlation, of ``da``
zero-padded by ``k - 1`` on both sides with the kernel flipped and
transposed) scattered back through the index map, times the activation's
slope.

Speed. A plain loop reloads every weight and output row for each
multiply-add and runs at a fraction of the FMA rate. :func:`conv_valid` and
:func:`weight_adjoint` work on 4 time steps × 4 input channels per pass of
the innermost, contiguous loop over output channels: each weight loaded
serves four steps and each accumulator row loaded takes four channels (on
this project's 2-core machine, 64→64, k=11: ~80 GFLOP/s per thread, against
~30 blocking four steps only). The first layer reads raw spike counts, mostly zeros,
so a sequence whose input is sparse (fewer than ``SPARSE_DENSITY`` of its
entries non-zero) takes scatter forms that skip zero inputs instead
(:func:`conv_sparse`, :func:`weight_adjoint_sparse`); dense data keep the
blocked forms. Both give the same sums up to rounding.

Determinism: each sequence is computed by one thread with the same code
whatever the thread count, and writes only its own rows, so results do not
depend on the number of threads.
"""
import math

import numba
import numpy as np

from .threads import over_sequences
from ..config import CACHE, FASTMATH
from ..model.codes import ENC_GELU, PAD_CIRCULAR, PAD_REPLICATE, PAD_ZEROS
from ..model.encoder import LEAKY_SLOPE, EncoderLayout
from .vmath import exp_s

# Below this fraction of non-zero inputs the first layer skips zeros (scatter form).
SPARSE_DENSITY = 0.2

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


# ---- scalar helpers

@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def source_index(mode, i, n):
    """Compiled twin of :func:`lowrank.model.encoder.source_index`; ``mode`` is the
    ``lowrank.model.codes.PAD_*`` (zeros, reflect, circular, replicate)."""
    if 0 <= i < n:
        return i
    if mode == PAD_ZEROS:
        return -1
    if mode == PAD_REPLICATE:
        return 0 if i < 0 else n - 1
    if mode == PAD_CIRCULAR:
        return i % n
    if n == 1:
        return 0
    p = 2 * (n - 1)
    i = i % p
    return p - i if i >= n else i


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def activation(code, x):
    """Exact GELU ``x Φ(x)`` (``ENC_GELU``) or leaky ReLU (``ENC_LEAKY_RELU``)."""
    if code == ENC_GELU:
        return 0.5 * x * (1.0 + math.erf(x * _INV_SQRT2))
    return x if x > 0.0 else LEAKY_SLOPE * x


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def activation_slope(code, x, h):
    """Derivative of :func:`activation` at ``x``, whose value ``h`` it was: ``Φ(x) + x φ(x)``, or 1 /
    ``LEAKY_SLOPE``.

    GELU's ``Φ(x)`` is ``h / x`` (½ at ``x = 0``) rather than a second ``erf``: libm's ``erf`` is
    a call that keeps the loop scalar, while the division and :func:`~.vmath.exp_s` vectorise (the
    slopes took a quarter of the encoder's reverse mode). ``Φ`` then carries the rounding of ``h``.
    """
    if code == ENC_GELU:
        return _gelu_slope(x, h)
    return 1.0 if x > 0.0 else LEAKY_SLOPE


@numba.njit(fastmath=FASTMATH, error_model="numpy", forceinline=True, cache=CACHE)
def _gelu_slope(x, h):
    """GELU's slope at ``x`` given its value ``h`` (see :func:`activation_slope`). Its own
    ``error_model="numpy"``: a division under Python's checks for zero, a branch that keeps the loop scalar."""
    cdf = h / x if abs(x) > 1e-300 else 0.5
    return cdf + x * _INV_SQRT2PI * exp_s(-0.5 * x * x)


# ---- padding by index map

@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def pad_rows(x, n, left, k, mode, xp):
    """Gather the padded input: ``xp[p] = x[src(p - left)]``, or 0 where there is no source.

    ``x`` (>= n, C); ``xp`` (n + k - 1, C), overwritten.
    """
    for p in range(n + k - 1):
        src = source_index(mode, p - left, n)
        if src < 0:
            xp[p, :] = 0.0
        else:
            xp[p, :] = x[src]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def unpad_rows_adjoint(dxp, n, left, k, mode, dx):
    """Adjoint of :func:`pad_rows`: ``dx[src(p - left)] += dxp[p]``; ``dx`` (n, C) zeroed first."""
    dx[:, :] = 0.0
    for p in range(n + k - 1):
        src = source_index(mode, p - left, n)
        if src >= 0:
            dx[src] += dxp[p]


# ---- correlation forms

@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def conv_plain(xp, t0, t1, i0, i1, W, out):
    """``out[t, o] += Σ_j Σ_{i0<=i<i1} xp[t + j, i] W[j, i, o]`` for ``t0 <= t < t1`` (the blocks' edges)."""
    k, _, co = W.shape
    for t in range(t0, t1):
        orow = out[t]
        for j in range(k):
            for i in range(i0, i1):
                x = xp[t + j, i]
                w = W[j, i]
                for o in range(co):
                    orow[o] += x * w[o]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def conv_block(xp, t, i, j, W, out):
    """Steps ``t … t+3``, input channels ``i … i+3`` and tap ``j`` of :func:`conv_valid`."""
    co = W.shape[2]
    r0, r1, r2, r3 = xp[t + j], xp[t + j + 1], xp[t + j + 2], xp[t + j + 3]
    wa, wb, wc, wd = W[j, i], W[j, i + 1], W[j, i + 2], W[j, i + 3]
    a0, a1, a2, a3 = r0[i], r0[i + 1], r0[i + 2], r0[i + 3]
    b0, b1, b2, b3 = r1[i], r1[i + 1], r1[i + 2], r1[i + 3]
    c0, c1, c2, c3 = r2[i], r2[i + 1], r2[i + 2], r2[i + 3]
    d0, d1, d2, d3 = r3[i], r3[i + 1], r3[i + 2], r3[i + 3]
    o0, o1, o2, o3 = out[t], out[t + 1], out[t + 2], out[t + 3]
    for o in range(co):
        p, q, r, s = wa[o], wb[o], wc[o], wd[o]
        o0[o] += a0 * p + a1 * q + a2 * r + a3 * s
        o1[o] += b0 * p + b1 * q + b2 * r + b3 * s
        o2[o] += c0 * p + c1 * q + c2 * r + c3 * s
        o3[o] += d0 * p + d1 * q + d2 * r + d3 * s


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def conv_valid(xp, n, W, out):
    """Valid correlation, blocked: ``out[t, o] += Σ_j Σ_i xp[t + j, i] W[j, i, o]`` for ``t < n``.

    ``xp`` (>= n + k - 1, C_in); ``W`` (k, C_in, C_out); ``out`` (>= n, C_out).
    """
    k, ci, _ = W.shape
    n4, ci4 = n - n % 4, ci - ci % 4
    for t in range(0, n4, 4):
        for j in range(k):
            for i in range(0, ci4, 4):
                conv_block(xp, t, i, j, W, out)
    conv_plain(xp, 0, n4, ci4, ci, W, out)
    conv_plain(xp, n4, n, 0, ci, W, out)


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def conv_sparse(xp, n, W, out):
    """:func:`conv_valid` as a scatter over the non-zero inputs: each ``xp[p, i] != 0``
    adds ``xp[p, i] W[p - t, i]`` to the outputs ``t`` it reaches."""
    k, ci, co = W.shape
    for p in range(n + k - 1):
        for i in range(ci):
            x = xp[p, i]
            if x == 0.0:
                continue
            # indexed, not through row views: a view costs an atomic reference count, and here
            # there would be two per tap for a few multiply-adds each
            for j in range(max(0, p - n + 1), min(k, p + 1)):
                t = p - j
                for o in range(co):
                    out[t, o] += x * W[j, i, o]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def weight_plain(xp, t0, t1, i0, i1, da, dW):
    """``dW[j, i, o] += Σ_{t0<=t<t1} xp[t + j, i] da[t, o]`` for ``i0 <= i < i1`` (the blocks' edges)."""
    k, _, co = dW.shape
    for t in range(t0, t1):
        drow = da[t]
        for j in range(k):
            for i in range(i0, i1):
                x = xp[t + j, i]
                g = dW[j, i]
                for o in range(co):
                    g[o] += x * drow[o]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def weight_block(xp, t, i, j, da, dW):
    """Steps ``t … t+3``, input channels ``i … i+3`` and tap ``j`` of :func:`weight_adjoint`."""
    co = dW.shape[2]
    r0, r1, r2, r3 = xp[t + j], xp[t + j + 1], xp[t + j + 2], xp[t + j + 3]
    a0, a1, a2, a3 = r0[i], r0[i + 1], r0[i + 2], r0[i + 3]
    b0, b1, b2, b3 = r1[i], r1[i + 1], r1[i + 2], r1[i + 3]
    c0, c1, c2, c3 = r2[i], r2[i + 1], r2[i + 2], r2[i + 3]
    d0, d1, d2, d3 = r3[i], r3[i + 1], r3[i + 2], r3[i + 3]
    e0, e1, e2, e3 = da[t], da[t + 1], da[t + 2], da[t + 3]
    g0, g1, g2, g3 = dW[j, i], dW[j, i + 1], dW[j, i + 2], dW[j, i + 3]
    for o in range(co):
        p, q, r, s = e0[o], e1[o], e2[o], e3[o]
        g0[o] += a0 * p + b0 * q + c0 * r + d0 * s
        g1[o] += a1 * p + b1 * q + c1 * r + d1 * s
        g2[o] += a2 * p + b2 * q + c2 * r + d2 * s
        g3[o] += a3 * p + b3 * q + c3 * r + d3 * s


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def weight_adjoint(xp, n, da, dW):
    """Weight adjoint, blocked: ``dW[j, i, o] += Σ_{t<n} xp[t + j, i] da[t, o]``.

    ``xp`` (>= n + k - 1, C_in); ``da`` (>= n, C_out); ``dW`` (k, C_in, C_out).
    """
    k, ci, _ = dW.shape
    n4, ci4 = n - n % 4, ci - ci % 4
    for j in range(k):
        for i in range(0, ci4, 4):
            for t in range(0, n4, 4):
                weight_block(xp, t, i, j, da, dW)
    weight_plain(xp, 0, n4, ci4, ci, da, dW)
    weight_plain(xp, n4, n, 0, ci, da, dW)


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def weight_adjoint_sparse(xp, n, da, dW):
    """:func:`weight_adjoint` over the non-zero inputs only."""
    k, ci, co = dW.shape
    for p in range(n + k - 1):
        for i in range(ci):
            x = xp[p, i]
            if x == 0.0:
                continue
            for j in range(max(0, p - n + 1), min(k, p + 1)):      # indexed: see conv_sparse
                t = p - j
                for o in range(co):
                    dW[j, i, o] += x * da[t, o]


# ---- one sequence

@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def view(buf, rows, cols):
    """The first ``rows * cols`` entries of the flat work buffer ``buf`` as a C-contiguous (rows, cols) array."""
    return buf[:rows * cols].reshape((rows, cols))


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def layer_params(theta, lay, l):
    """Views of layer ``l``'s ``W`` (k, C_in, C_out) and ``b`` (C_out,) in ``theta``."""
    k, ci, co = lay.kernel[l], lay.cin[l], lay.cout[l]
    w0, b0 = lay.w_off[l], lay.b_off[l]
    return theta[w0:w0 + k * ci * co].reshape((k, ci, co)), theta[b0:b0 + co]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def local_layout(lay):
    """A copy of ``lay`` for one thread: the threads then never touch the shared small arrays'
    reference counts (see :mod:`.smc_forward`)."""
    return EncoderLayout(lay.kernel.copy(), lay.cin.copy(), lay.cout.copy(), lay.left.copy(), lay.w_off.copy(),
                         lay.b_off.copy(), lay.ch_off.copy(), lay.activation, lay.mode, lay.rank, lay.constant_var,
                         lay.lv_off, lay.size)


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def work_buffers(lay, n, count):
    """``count`` flat buffers, each large enough for any layer's padded rows ``(n + 2(k-1), C)``."""
    size = (n + 2 * (lay.kernel.max() - 1)) * max(lay.cin.max(), lay.cout.max())
    return np.empty((count, size))


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def is_sparse(x, n):
    """Whether fewer than ``SPARSE_DENSITY`` of the first ``n`` rows of ``x`` are non-zero."""
    nz = 0
    for t in range(n):
        for i in range(x.shape[1]):
            if x[t, i] != 0.0:
                nz += 1
    return nz < SPARSE_DENSITY * n * x.shape[1]


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def forward_sequence(s, theta, lay, y, lengths, A, H, out):
    """Forward pass of sequence ``s`` (arguments as :func:`encoder_forward`)."""
    lay = local_layout(lay)
    n, L = lengths[s], lay.kernel.shape[0]
    buf = work_buffers(lay, n, 3)
    sparse = is_sparse(y[s], n)
    x = y[s]
    for l in range(L):
        k, ci, co = lay.kernel[l], lay.cin[l], lay.cout[l]
        W, b = layer_params(theta, lay, l)
        xp = view(buf[0], n + k - 1, ci)
        pad_rows(x, n, lay.left[l], k, lay.mode, xp)
        a = view(buf[1], n, co)
        a[:, :] = b
        if l == 0 and sparse:
            conv_sparse(xp, n, W, a)
        else:
            conv_valid(xp, n, W, a)
        if l == L - 1:
            out[s, :n, :] = a
            break
        h, c0 = view(buf[2], n, co), lay.ch_off[l]
        for t in range(n):
            for o in range(co):
                h[t, o] = activation(lay.activation, a[t, o])
        A[s, :n, c0:c0 + co] = a
        H[s, :n, c0:c0 + co] = h
        x = h
    A[s, n:, :] = 0.0
    H[s, n:, :] = 0.0
    out[s, n:, :] = 0.0


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def input_adjoint(W, da, n, left, mode, bufs, dx):
    """Adjoint of layer input ``dx`` (n, C_in), overwritten, from its output's ``da`` (n, C_out).

    The padded input's adjoint ``dxp[p] = Σ_j W[j] da[p - j]`` is the valid
    correlation of ``da`` zero-padded by ``k - 1`` both sides with the
    flipped, transposed kernel ``Wf[j, o, i] = W[k-1-j, i, o]``; it is then
    scattered back through the index map. ``bufs`` (3, size) work buffers.
    """
    k, ci, co = W.shape
    dap = view(bufs[0], n + 2 * (k - 1), co)
    dap[:, :] = 0.0
    dap[k - 1:k - 1 + n, :] = da
    Wf = bufs[1][:k * co * ci].reshape((k, co, ci))
    for j in range(k):
        for i in range(ci):
            for o in range(co):
                Wf[j, o, i] = W[k - 1 - j, i, o]
    dxp = view(bufs[2], n + k - 1, ci)
    dxp[:, :] = 0.0
    conv_valid(dap, n + k - 1, Wf, dxp)
    unpad_rows_adjoint(dxp, n, left, k, mode, dx)


@numba.njit(inline="always", fastmath=FASTMATH, cache=CACHE)
def backward_sequence(s, theta, lay, y, lengths, A, H, dout, grows):
    """Reverse mode of sequence ``s`` into ``grows[s]`` (arguments as :func:`encoder_backward`)."""
    lay = local_layout(lay)
    n, L = lengths[s], lay.kernel.shape[0]
    row = grows[s]
    row[:] = 0.0
    kmax = lay.kernel.max()
    buf = work_buffers(lay, n, 4)
    wbuf = np.empty((3, max(buf.shape[1], kmax * (lay.cin * lay.cout).max())))
    sparse = is_sparse(y[s], n)
    da = view(buf[0], n, lay.cout[L - 1])
    da[:, :] = dout[s, :n, :]
    for l in range(L - 1, -1, -1):
        k, ci, left = lay.kernel[l], lay.cin[l], lay.left[l]
        W, _ = layer_params(theta, lay, l)
        dW, db = layer_params(row, lay, l)
        x = y[s]
        if l > 0:
            x = view(buf[1], n, ci)
            x[:, :] = H[s, :n, lay.ch_off[l - 1]:lay.ch_off[l - 1] + ci]
        xp = view(buf[2], n + k - 1, ci)
        pad_rows(x, n, left, k, lay.mode, xp)
        for t in range(n):
            db += da[t]
        if l == 0:
            if sparse:
                weight_adjoint_sparse(xp, n, da, dW)
            else:
                weight_adjoint(xp, n, da, dW)
            break
        weight_adjoint(xp, n, da, dW)
        dx = view(buf[3], n, ci)
        input_adjoint(W, da, n, left, lay.mode, wbuf, dx)
        da = view(buf[0], n, ci)
        c0 = lay.ch_off[l - 1]
        for t in range(n):
            for i in range(ci):
                da[t, i] = dx[t, i] * activation_slope(lay.activation, A[s, t, c0 + i], H[s, t, c0 + i])


# ---- the kernels

@numba.njit(nogil=True, fastmath=FASTMATH, cache=CACHE)
def forward_sequences(start, step, theta, lay, y, lengths, A, H, out):
    """The network over sequences ``start, start + step, ...`` (arguments as
    :func:`encoder_forward`), without the GIL (:mod:`.threads`)."""
    for s in range(start, y.shape[0], step):
        forward_sequence(s, theta, lay, y, lengths, A, H, out)


def encoder_forward(theta, lay, y, lengths, A, H, out):
    """The encoder network on every sequence, one sequence per thread.

    Parameters
    ----------
    theta : (P,)
        Flat encoder parameters (:mod:`lowrank.model.encoder`).
    lay : EncoderLayout
        Their layout and the layer sizes (:func:`lowrank.model.encoder.encoder_layout`).
    y : (S, T, D)
        Observations; only the first ``lengths[s]`` steps of sequence s are read.
    lengths : (S,) int64
        Steps of each sequence, in ``[1, T]``.
    A, H : (S, T, Ch)
        Output: pre- and post-activations of the hidden layers, layer l's
        channels at ``lay.ch_off[l]`` (Ch = total hidden channels, may be 0).
    out : (S, T, C_last)
        Output: the last layer's raw outputs (means, then log-variances
        unless ``constant_var``).

    Entries past a sequence's length are set to 0.
    """
    over_sequences(forward_sequences, y.shape[0], theta, lay, y, lengths, A, H, out)


@numba.njit(nogil=True, fastmath=FASTMATH, cache=CACHE)
def backward_sequences(start, step, theta, lay, y, lengths, A, H, dout, grows):
    """The network's reverse mode over sequences ``start, start + step, ...`` (arguments as
    :func:`encoder_backward`), without the GIL (:mod:`.threads`)."""
    for s in range(start, y.shape[0], step):
        backward_sequence(s, theta, lay, y, lengths, A, H, dout, grows)


def encoder_backward(theta, lay, y, lengths, A, H, dout, grows):
    """Reverse mode of :func:`encoder_forward`, one sequence per thread.

    Parameters
    ----------
    theta, lay, y, lengths : as :func:`encoder_forward`.
    A, H : (S, T, Ch)
        As filled by :func:`encoder_forward`.
    dout : (S, T, C_last)
        Adjoint of ``out`` (only the first ``lengths[s]`` steps are read).
    grows : (S, P)
        Output: row s is sequence s's contribution to d/dtheta, to be summed
        over rows in a fixed order by the caller. The constant log-variance
        entries (``lay.lv_off`` on) are left 0: they do not enter ``out``.
    """
    over_sequences(backward_sequences, y.shape[0], theta, lay, y, lengths, A, H, dout, grows)
