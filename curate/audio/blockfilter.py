"""A linear filter of second-order sections, from rest, run in blocks by matrix products.

A per-sample recursion (:func:`scipy.signal.sosfilt`) pays the latency of its chain of
multiply-adds on every sample. The same filter runs on blocks of ``L`` samples
(:data:`BLOCK`) at once:

- its state space, in the sections' own state (transposed direct form II, the state
  ``sosfilt`` keeps, two values per section): ``s' = A s + B x``, ``y = C s + D x``;
- block ``k`` (samples ``x_k``, a row of ``L``) from the state ``s_k`` at its start:
  ``y_k = x_k T + s_k O`` (``T`` ``(L, L)``: the impulse response ``h[0..L-1]`` as an
  upper-triangular Toeplitz matrix; ``O`` ``(order, L)``: the free response ``C A^t``)
  and ``s_(k+1) = M s_k + u_k`` with ``M = A^L`` and ``u_k = x_k G`` (``G`` ``(L,
  order)``, rows ``A^(L-1-t) B``);
- the states at every block start without a loop over blocks: by the Faddeev-LeVerrier
  expansion ``(zI - M)^-1 = sum_j N_j z^(-1-j) / (1 + sum_j c_j z^-j)``, the sequence
  ``v_k = sum_j N_j u_(k-1-j)`` filtered by :func:`scipy.signal.lfilter` with the
  denominator ``c`` (the characteristic polynomial of ``M``) at the block rate, ``L``
  times fewer steps than samples, in float64.

The products run in float32, within 5e-6 of float64 ``sosfilt`` on full-scale noise
for the K-weighting at 8-192 kHz (float32 ``sosfilt``: 1.5e-5 at 8 kHz, 2e-4 at 48 kHz,
2e-3 at 192 kHz, its rounding fed back through poles near 1), on at most
:data:`_GEMM_ROWS` rows at a time: OpenBLAS keeps a product of fewer than 2^18
multiply-adds on one thread, so a probe worker stays on its one core (a threaded
product on a busy machine is several times slower). Long inputs go through in segments
of :data:`SEGMENT` samples, so the float64 states take a few hundred KiB whatever the
file's length.

All functions are pure; samples are 1-D ``(time,)`` arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter, sosfilt

__all__ = ["BLOCK", "SEGMENT", "BlockFilter", "design", "apply"]

#: Samples per block: the matrix products do ``BLOCK + 2 * order`` multiply-adds per
#: sample; the float64 recursion runs once per block.
BLOCK = 32
#: Samples per segment of a long input (a multiple of :data:`BLOCK`).
SEGMENT = 1 << 17
#: Rows per matrix product: ``192 * 32 * 32`` multiply-adds stay under OpenBLAS's 2^18
#: threshold for threading.
_GEMM_ROWS = 192


@dataclass(frozen=True)
class BlockFilter:
    """The matrices of one filter at one block length (from :func:`design`)."""

    block: int  # L, samples
    t: np.ndarray  # (L, L) float32: x_k @ t is the block's response from rest
    g: np.ndarray  # (L, order) float32: x_k @ g is u_k
    o: np.ndarray  # (order, L) float32: s_k @ o is the block's free response
    n: np.ndarray  # (order, order, order) float64: n[j] = N_j transposed
    c: np.ndarray  # (order + 1,) float64: 1, c_1, ..., c_order


def design(sos: np.ndarray, block: int = BLOCK) -> BlockFilter:
    """The block matrices of the filter ``sos``.

    Args:
        sos: ``(sections, 6)`` second-order sections ``[b0, b1, b2, 1, a1, a2]``, as
            :func:`scipy.signal.sosfilt` takes them.
        block: samples per block, >= 1.

    Returns:
        The :class:`BlockFilter` for :func:`apply`.

    Raises:
        ValueError: ``sos`` is not ``(sections, 6)`` or ``block`` < 1.
    """
    sos = np.asarray(sos, dtype=np.float64)
    if sos.ndim != 2 or sos.shape[1] != 6 or sos.shape[0] < 1:
        raise ValueError(f"sos must have shape (sections, 6), got shape {sos.shape}")
    if block < 1:
        raise ValueError(f"block must be >= 1 samples, got {block}")
    order = 2 * sos.shape[0]
    # the state space read off sosfilt itself: one step from each unit state, and from rest
    a, c_out = np.zeros((order, order)), np.zeros(order)
    for i in range(order):
        unit = np.zeros((sos.shape[0], 2))
        unit.flat[i] = 1.0
        y, state = sosfilt(sos, [0.0], zi=unit)
        a[:, i], c_out[i] = state.ravel(), y[0]
    y, state = sosfilt(sos, [1.0], zi=np.zeros((sos.shape[0], 2)))
    b_in, d = state.ravel(), y[0]

    powers = [np.eye(order)]
    for _ in range(block):
        powers.append(a @ powers[-1])
    h = np.array([d] + [c_out @ powers[j - 1] @ b_in for j in range(1, block)])
    t = np.zeros((block, block))
    for row in range(block):
        t[row, row:] = h[: block - row]
    g = np.stack([powers[block - 1 - row] @ b_in for row in range(block)])
    o = np.stack([c_out @ powers[col] for col in range(block)], axis=1)
    m = powers[block]
    # Faddeev-LeVerrier: N_0 = I, N_j = M N_(j-1) + c_j I, c_j = -tr(M N_(j-1)) / j
    n_mats, coeffs = [np.eye(order)], [1.0]
    for j in range(1, order + 1):
        product = m @ n_mats[-1]
        coeffs.append(-np.trace(product) / j)
        n_mats.append(product + coeffs[-1] * np.eye(order))
    return BlockFilter(block=block, t=t.astype(np.float32), g=g.astype(np.float32),
                       o=o.astype(np.float32),
                       n=np.ascontiguousarray(np.stack(n_mats[:order]).transpose(0, 2, 1)),
                       c=np.asarray(coeffs))


def apply(f: BlockFilter, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Filter ``x`` from rest.

    Args:
        f: from :func:`design`.
        x: samples ``(time,)`` (converted to float32).
        out: optional float32 ``(time,)`` C-contiguous array to write into.

    Returns:
        float32 ``(time,)``: ``out`` when given, else a new array.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"x must have shape (time,), got shape {x.shape}")
    if out is None:
        out = np.empty(x.shape[0], np.float32)
    state = np.zeros(f.g.shape[1])
    step = SEGMENT - SEGMENT % f.block
    for start in range(0, x.shape[0], step):
        state = _segment(f, x[start:start + step], out[start:start + step], state)
    return out


def _segment(f: BlockFilter, x: np.ndarray, y: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Filter one segment from ``state`` into ``y``; returns the state after it."""
    size, order = f.block, f.g.shape[1]
    blocks, rest = divmod(x.shape[0], size)
    rows = x[: blocks * size].reshape(blocks, size)
    # u[0] is the state the segment starts from (s_0 = M 0 + u_-1): s[k + 1] is s_k
    u = np.empty((blocks + 1, order))
    u[0] = state
    u[1:] = _matmul(rows, f.g)
    v = np.zeros((blocks + 2, order))
    for j in range(min(order, blocks + 1)):
        v[j + 1:] += u[: blocks + 1 - j] @ f.n[j]
    states = lfilter([1.0], f.c, v, axis=0)[1:]  # (blocks + 1, order): s_0 .. s_blocks
    s = states.astype(np.float32)
    if blocks:
        block_out = y[: blocks * size].reshape(blocks, size)
        _matmul(rows, f.t, out=block_out)
        block_out += _matmul(s[:blocks], f.o)
    if rest:  # only the last segment ends inside a block: its state is not needed
        y[blocks * size:] = x[blocks * size:] @ f.t[:rest, :rest] + s[blocks] @ f.o[:, :rest]
    return states[blocks]


def _matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` for C-contiguous ``a`` ``(rows, k)``, as products of at most
    :data:`_GEMM_ROWS` rows each (one thread each, see the module docstring)."""
    rows, cols = a.shape[0], b.shape[1]
    if out is None:
        out = np.empty((rows, cols), np.result_type(a, b))
    whole = rows - rows % _GEMM_ROWS
    if whole:
        np.matmul(a[:whole].reshape(-1, _GEMM_ROWS, a.shape[1]), b,
                  out=out[:whole].reshape(-1, _GEMM_ROWS, cols))
    if whole < rows:
        np.matmul(a[whole:], b, out=out[whole:])
    return out
