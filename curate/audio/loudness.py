"""Integrated loudness per ITU-R BS.1770-4, vectorised (no per-sample or per-block Python).

The measurement is the one of pyloudnorm's ``Meter(rate).integrated_loudness`` (the
reference the tests compare against, within 0.05 LU), computed at a fraction of its
cost:

1. **K-weighting**: the two biquads of BS.1770 (a +4 dB high shelf at 1500 Hz, Q
   1/sqrt(2), then a high-pass at 38 Hz, Q 0.5), designed for the file's own sample rate
   with the RBJ cookbook formulas (as pyloudnorm does), run from rest in blocks of 32
   samples by matrix products (:mod:`curate.audio.blockfilter`: the same linear filter,
   within 5e-6 of float64 :func:`scipy.signal.sosfilt` on full-scale noise, at about a
   third of the cost of its per-sample recursion), one channel at a time.
2. **Gating blocks** of 400 ms with 75 % overlap (a hop of 100 ms): the mean square of
   each block and channel, from the sum of squares of each 100 ms hop (float32 dot
   products, no squared copy) where the blocks are runs of whole hops (8, 16, 44.1,
   48 kHz, ...), else from sums over the segments between block boundaries
   (:func:`numpy.add.reduceat`, accumulated in float64). The number of
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

from curate.audio import blockfilter

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
def _block_filter(sample_rate: int) -> blockfilter.BlockFilter:
    return blockfilter.design(_sos(sample_rate))


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """The K-weighting filter of BS.1770 for ``sample_rate`` (Hz) as second-order sections.

    Returns:
        ``(2, 6)`` float64 array ``[b0, b1, b2, 1, a1, a2]`` per section (high shelf, then
        high-pass), as :func:`scipy.signal.sosfilt` takes it (a new array).
    """
    return _sos(_check_sample_rate(sample_rate)).copy()


def k_weight(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """K-weighted samples: :func:`k_weighting_sos` applied along time, from rest.

    Computed in float32 by :func:`curate.audio.blockfilter.apply` (within 5e-6 of
    float64 :func:`scipy.signal.sosfilt` on full-scale noise at 8-192 kHz).

    Args:
        x: samples ``(time, channels)`` or ``(time,)``, full scale 1.0.
        sample_rate: Hz.

    Returns:
        float32 array ``(time, channels)`` (a new array).
    """
    return _k_weighted_channels(_as_2d(x), _check_sample_rate(sample_rate)).T


def _k_weighted_channels(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """K-weighted ``x`` ``(time, channels)`` as a C-contiguous float32 ``(channels, time)``
    array (each channel filtered on its own, from rest)."""
    f = _block_filter(sample_rate)
    out = np.empty((x.shape[1], x.shape[0]), np.float32)
    for channel in range(x.shape[1]):
        blockfilter.apply(f, x[:, channel], out=out[channel])
    return out


def _block_bounds(n: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last sample of every gating block (pyloudnorm's arithmetic)."""
    lower, upper = _unclipped_bounds(_block_count(n, sample_rate), sample_rate)
    return np.minimum(lower, n), np.minimum(upper, n)


def _block_count(n: int, sample_rate: int) -> int:
    """Gating blocks of ``n`` samples, as pyloudnorm counts them."""
    step = 1.0 - OVERLAP
    return round((n / sample_rate - BLOCK_S) / (BLOCK_S * step)) + 1  # half to even


@functools.lru_cache(maxsize=1024)
def _unclipped_bounds(n_blocks: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    step = 1.0 - OVERLAP
    j = np.arange(n_blocks, dtype=np.float64)
    lower = (BLOCK_S * (j * step) * sample_rate).astype(np.int64)
    upper = (BLOCK_S * (j * step + 1) * sample_rate).astype(np.int64)
    lower.flags.writeable = upper.flags.writeable = False  # shared by every call
    return lower, upper


def _whole_hop(n: int, sample_rate: int) -> int | None:
    """The hop in samples when every gating block of ``n`` samples is a run of whole hops
    from the file's start (cut at its end), else None."""
    n_blocks = _block_count(n, sample_rate)
    hop = _uniform_hop(n_blocks, sample_rate)
    if hop is None or n_blocks * hop - hop > n:  # a block would start past the end
        return None
    return hop


@functools.lru_cache(maxsize=1024)
def _uniform_hop(n_blocks: int, sample_rate: int) -> int | None:
    hop = int(round(BLOCK_S * (1.0 - OVERLAP) * sample_rate))
    lower, upper = _unclipped_bounds(n_blocks, sample_rate)
    j = np.arange(n_blocks)
    if (hop > 0 and np.array_equal(lower, j * hop)
            and np.array_equal(upper, j * hop + round(1 / (1 - OVERLAP)) * hop)):
        return hop
    return None


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
    return _channel_block_powers(np.ascontiguousarray(y.T, dtype=np.float32), sample_rate)


def _channel_block_powers(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """:func:`block_powers` of K-weighted samples ``(channels, time)``, C-contiguous."""
    n = y.shape[1]
    hop = _whole_hop(n, sample_rate)
    if hop:
        # the usual case: blocks are runs of whole hops; the sum of squares of each hop
        # once (float32 dot products, no squared copy: relative error ~1e-6, a few
        # micro-LU), then each block from the hops
        whole = n // hop
        hops = np.empty((y.shape[0], whole + 2))
        hops[:, 0] = 0.0
        body = y[:, :whole * hop].reshape(-1, hop)
        hops[:, 1:whole + 1] = np.einsum("ij,ij->i", body, body).reshape(-1, whole)
        tail = y[:, whole * hop:]  # the partial last hop
        hops[:, whole + 1] = np.einsum("ij,ij->i", tail, tail)
        cumulative = np.cumsum(hops, axis=1)
        first = np.arange(_block_count(n, sample_rate))
        last = np.minimum(first + round(1 / (1 - OVERLAP)), whole + 1)
    else:
        # any rate: every bound starts a segment (the file's end does not); a block is a
        # run of whole segments
        lower, upper = _block_bounds(n, sample_rate)
        starts = np.unique(np.concatenate([lower, upper[upper < n]]))
        segments = np.add.reduceat(np.square(y), starts, axis=1, dtype=np.float64)
        cumulative = np.zeros((y.shape[0], len(starts) + 1))
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
    return gated_loudness(_channel_block_powers(_k_weighted_channels(x, sample_rate),
                                                sample_rate))
