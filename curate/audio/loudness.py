"""Integrated loudness per ITU-R BS.1770-4, vectorised (no per-sample or per-block Python).

The measurement is the one of pyloudnorm's ``Meter(rate).integrated_loudness`` (the
reference the tests compare against, within 0.05 LU), computed at a fraction of its
cost:

1. **K-weighting**: the two biquads of BS.1770 (a +4 dB high shelf at 1500 Hz, Q
   1/sqrt(2), then a high-pass at 38 Hz, Q 0.5), designed for the file's own sample rate
   with the RBJ cookbook formulas (as pyloudnorm does), run as second-order sections by
   :func:`scipy.signal.sosfilt` in float32 over all channels at once.
2. **Gating blocks** of 400 ms with 75 % overlap (a hop of 100 ms): the mean square of
   each block and channel, from sums of squares over the segments between block
   boundaries (:func:`numpy.add.reduceat`, accumulated in float64). The number of
   blocks and their bounds follow pyloudnorm exactly (``round((T - 0.4) / 0.1) + 1``
   blocks; block ``j`` covers samples ``int(0.4 * 0.25 j * rate)`` to
   ``int(0.4 * (0.25 j + 1) * rate)``, cut at the end of the file; every block's mean
   divides by the full block length).
3. **Gating**: block loudness ``-0.691 + 10 log10(sum_i G_i z_ij)`` with channel weights
   ``G = (1, 1, 1, 1.41, 1.41)`` (L, R, C, Ls, Rs); blocks at or above the absolute gate
   of -70 LUFS give the relative gate (their mean power, -10 LU); the integrated
   loudness is the mean power of the blocks above both gates, in LUFS.

All functions are pure; inputs are ``(time, channels)`` (a 1-D ``(time,)`` array is
mono), full scale 1.0, and the sample rate in Hz.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.signal import sosfilt

__all__ = [
    "BLOCK_S",
    "OVERLAP",
    "ABSOLUTE_GATE_LUFS",
    "RELATIVE_GATE_LU",
    "CHANNEL_WEIGHTS",
    "k_weighting_sos",
    "k_weight",
    "block_powers",
    "gated_loudness",
    "integrated_loudness",
]

#: Gating block length, seconds.
BLOCK_S = 0.4
#: Overlap of consecutive gating blocks (a fraction of :data:`BLOCK_S`).
OVERLAP = 0.75
#: Absolute gate, LUFS: quieter blocks never count.
ABSOLUTE_GATE_LUFS = -70.0
#: Relative gate, LU below the mean power of the blocks above the absolute gate.
RELATIVE_GATE_LU = -10.0
#: BS.1770 channel weights in the order L, R, C, Ls, Rs (at most five channels).
CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)

_OFFSET = -0.691  # dB: K-weighting's gain at 1 kHz, so a 1 kHz sine reads its RMS level


def _check_sample_rate(sample_rate) -> int:
    try:
        valid = not isinstance(sample_rate, bool) and int(sample_rate) == sample_rate > 0
    except (TypeError, ValueError, OverflowError):
        valid = False
    if not valid:
        raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    return int(sample_rate)


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        return x[:, None]
    if x.ndim != 2:
        raise ValueError(f"x must have shape (time, channels) or (time,), got shape "
                         f"{x.shape}; transpose or reshape it first")
    return x


@functools.lru_cache(maxsize=32)
def _sos(sample_rate: int) -> np.ndarray:
    def biquad(kind: str, gain_db: float, q: float, fc: float) -> list[float]:
        a_ = 10 ** (gain_db / 40.0)
        w0 = 2.0 * math.pi * fc / sample_rate
        cos_w0, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
        if kind == "high_shelf":
            sq = 2 * math.sqrt(a_) * alpha
            b = [a_ * ((a_ + 1) + (a_ - 1) * cos_w0 + sq),
                 -2 * a_ * ((a_ - 1) + (a_ + 1) * cos_w0),
                 a_ * ((a_ + 1) + (a_ - 1) * cos_w0 - sq)]
            a = [(a_ + 1) - (a_ - 1) * cos_w0 + sq,
                 2 * ((a_ - 1) - (a_ + 1) * cos_w0),
                 (a_ + 1) - (a_ - 1) * cos_w0 - sq]
        else:  # high_pass
            b = [(1 + cos_w0) / 2, -(1 + cos_w0), (1 + cos_w0) / 2]
            a = [1 + alpha, -2 * cos_w0, 1 - alpha]
        return [v / a[0] for v in b] + [v / a[0] for v in a]

    return np.array([biquad("high_shelf", 4.0, 1 / math.sqrt(2), 1500.0),
                     biquad("high_pass", 0.0, 0.5, 38.0)])


@functools.lru_cache(maxsize=32)
def _sos32(sample_rate: int) -> np.ndarray:
    return _sos(sample_rate).astype(np.float32)


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """The K-weighting filter of BS.1770 for ``sample_rate`` (Hz) as second-order sections.

    Returns:
        ``(2, 6)`` float64 array ``[b0, b1, b2, 1, a1, a2]`` per section (high shelf, then
        high-pass), as :func:`scipy.signal.sosfilt` takes it (a new array).
    """
    return _sos(_check_sample_rate(sample_rate)).copy()


def k_weight(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """K-weighted samples: :func:`k_weighting_sos` applied along time, from rest, in float32.

    Args:
        x: samples ``(time, channels)`` or ``(time,)``, full scale 1.0.
        sample_rate: Hz.

    Returns:
        float32 array ``(time, channels)`` (a new array).
    """
    x = _as_2d(x)
    sos = _sos32(_check_sample_rate(sample_rate))
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1] == 1:  # a contiguous 1-D view: no transposed copy inside sosfilt
        return sosfilt(sos, x[:, 0])[:, None]
    return sosfilt(sos, x, axis=0)


def _block_bounds(n: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last sample of every gating block (pyloudnorm's arithmetic)."""
    step = 1.0 - OVERLAP
    duration = n / sample_rate
    n_blocks = int(np.round((duration - BLOCK_S) / (BLOCK_S * step))) + 1
    j = np.arange(n_blocks, dtype=np.float64)
    lower = (BLOCK_S * (j * step) * sample_rate).astype(np.int64)
    upper = (BLOCK_S * (j * step + 1) * sample_rate).astype(np.int64)
    return np.minimum(lower, n), np.minimum(upper, n)


def block_powers(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean square of every 400 ms gating block (75 % overlap) of every channel.

    Args:
        y: K-weighted samples ``(time, channels)`` or ``(time,)``, at least one block long.
        sample_rate: Hz.

    Returns:
        float64 array ``(channels, blocks)``: the sum of squares of each block divided by
        the block length in samples (``0.4 * sample_rate``).

    Raises:
        ValueError: ``y`` is shorter than one block.
    """
    y = _as_2d(y)
    sample_rate = _check_sample_rate(sample_rate)
    n = y.shape[0]
    if n < BLOCK_S * sample_rate:
        raise ValueError(f"y has {n} samples, shorter than one {BLOCK_S * 1000:g} ms gating "
                         f"block at {sample_rate} Hz; pass at least "
                         f"{math.ceil(BLOCK_S * sample_rate)} samples")
    return _block_powers_of_squares(np.square(y.T, order="C", dtype=np.float32), sample_rate)


def _block_powers_of_squares(squares: np.ndarray, sample_rate: int) -> np.ndarray:
    """:func:`block_powers` from squared samples ``(channels, time)``, C-contiguous."""
    n = squares.shape[1]
    lower, upper = _block_bounds(n, sample_rate)
    hop = int(round(BLOCK_S * (1.0 - OVERLAP) * sample_rate))
    j = np.arange(len(lower))
    if (np.array_equal(lower, j * hop)
            and np.array_equal(upper, np.minimum(j * hop + round(1 / (1 - OVERLAP)) * hop, n))):
        # the usual case: blocks are runs of whole hops; sum each hop once (float32,
        # pairwise: relative error ~1e-6, a few micro-LU), then each block from the hops
        whole = n // hop
        hops = np.empty((squares.shape[0], whole + 2))
        hops[:, 0] = 0.0
        hops[:, 1:whole + 1] = squares[:, :whole * hop].reshape(-1, whole, hop).sum(axis=2)
        hops[:, whole + 1] = squares[:, whole * hop:].sum(axis=1)  # the partial last hop
        cumulative = np.cumsum(hops, axis=1)
        first, last = j, np.minimum(j + round(1 / (1 - OVERLAP)), whole + 1)
    else:
        # any rate: every bound starts a segment (the file's end does not); a block is a
        # run of whole segments
        starts = np.unique(np.concatenate([lower, upper[upper < n]]))
        segments = np.add.reduceat(squares, starts, axis=1, dtype=np.float64)
        cumulative = np.zeros((squares.shape[0], len(starts) + 1))
        np.cumsum(segments, axis=1, out=cumulative[:, 1:])
        first, last = np.searchsorted(starts, lower), np.searchsorted(starts, upper)
    return (cumulative[:, last] - cumulative[:, first]) / (BLOCK_S * sample_rate)


def gated_loudness(powers: np.ndarray, weights=CHANNEL_WEIGHTS) -> float:
    """Integrated loudness from block powers, with the absolute and relative gates.

    Args:
        powers: ``(channels, blocks)`` mean squares of K-weighted blocks
            (:func:`block_powers`).
        weights: one weight per channel (default :data:`CHANNEL_WEIGHTS`).

    Returns:
        LUFS; ``-inf`` when no block passes both gates (silence).
    """
    powers = np.asarray(powers, dtype=np.float64)
    weighted = np.asarray(weights[: powers.shape[0]], dtype=np.float64) @ powers
    with np.errstate(divide="ignore"):
        block_lufs = _OFFSET + 10.0 * np.log10(weighted)
    above_absolute = block_lufs >= ABSOLUTE_GATE_LUFS
    if not above_absolute.any():
        return -math.inf
    relative = _OFFSET + 10.0 * math.log10(weighted[above_absolute].mean()) + RELATIVE_GATE_LU
    gated = (block_lufs > relative) & (block_lufs > ABSOLUTE_GATE_LUFS)
    if not gated.any():
        return -math.inf
    return _OFFSET + 10.0 * math.log10(weighted[gated].mean())


def integrated_loudness(x: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness of ``x`` per ITU-R BS.1770-4, LUFS.

    Args:
        x: samples ``(time, channels)`` or ``(time,)``, full scale 1.0, finite, at most
            five channels (L, R, C, Ls, Rs) and at least one 400 ms block long.
        sample_rate: Hz.

    Returns:
        LUFS (a 1 kHz sine of amplitude A reads about ``20 log10(A) - 3.01``); ``-inf``
        when every block is below the gates (silence).

    Raises:
        ValueError: more than five channels, shorter than one block, or a bad
            ``sample_rate``.
    """
    x = _as_2d(x)
    sample_rate = _check_sample_rate(sample_rate)
    if x.shape[1] > len(CHANNEL_WEIGHTS):
        raise ValueError(f"x has {x.shape[1]} channels; BS.1770 weighs five channels or "
                         f"fewer (L, R, C, Ls, Rs): mix down or pick channels first")
    if x.shape[0] < BLOCK_S * sample_rate:
        raise ValueError(f"x has {x.shape[0]} samples, shorter than one "
                         f"{BLOCK_S * 1000:g} ms gating block at {sample_rate} Hz")
    squares = k_weight(x, sample_rate).T  # a new array: squared in place below
    squares = np.square(squares, out=squares) if squares.flags.c_contiguous else \
        np.square(squares, order="C")
    return gated_loudness(_block_powers_of_squares(squares, sample_rate))
