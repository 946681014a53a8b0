"""The counter-based random numbers of the device stage (RawBoost, packet loss).

A counter-based generator turns ``(seed, stream, counter)`` into a random word by a
fixed integer hash: there is no state to carry, so the words of an item depend only on
its own seed (not on the batch it is in, nor on the order of calls), any word can be
computed without the ones before it, and every device computes the same words. The
step that needs noise draws one 62-bit seed per item from its ``torch.Generator``
(logged with the item's parameters) and expands it here, on the device, in one tensor
expression.

The hash is ``mix32`` (xor-shift-multiply, two rounds, a bijection of [0, 2**32)) on
int64 tensors holding 32-bit values; every product stays below 2**59, so the result is
exact and identical on the CPU and on CUDA. Per item and stream two 32-bit keys are
derived from the seed; word ``j`` is ``mix32(mix32(j ^ k1) ^ k2)``, a bijection of the
counter for a fixed key.

Streams in use (each step draws its own seeds, so steps never share words):

========  =============================================
stream    use
========  =============================================
0, 1, 2   RawBoost ISD: positions, impulse factors u1, u2
3, 4      RawBoost SSI: Box-Muller uniforms of the white noise
16        packet loss: which frames are lost
========  =============================================
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

__all__ = ["hash_words", "uniform", "normal", "uniform_frames"]

_M32 = 0xFFFFFFFF
_MUL = 0x45D9F3B  # < 2**27: 32-bit products stay exact in int64
_SALT = 0x9E3779B9
_KEY2 = 0x68E31DA4

#: int64 words per hashing chunk on the CPU (2 MiB): the counter axis is done in chunks
#: that stay in cache.
CPU_CHUNK = 1 << 18


def _mix32(x: Tensor) -> Tensor:
    """A bijective 32-bit integer hash on int64 tensors holding values in [0, 2**32).

    Works in place on ``x`` (pass a temporary).
    """
    for _ in range(2):
        x ^= x >> 16
        x *= _MUL
        x &= _M32
    x ^= x >> 16
    return x


def _keys(seed: Tensor, streams: Sequence[int]) -> tuple[Tensor, Tensor]:
    """The two 32-bit keys of every (item, stream): int64 ``(batch, streams, 1)`` each.

    Computed where ``seed`` is, with the stream salts as Python integers (nothing is
    copied between devices).
    """
    lo, hi = seed & _M32, (seed >> 32) & _M32
    k1 = torch.stack([_mix32(_mix32(lo ^ ((s * _SALT) & _M32)) ^ hi) for s in streams],
                     dim=1)[..., None]
    return k1, _mix32(k1 ^ _KEY2)


def hash_words(seed: Tensor, streams: Sequence[int], count: int,
               device: Union[None, str, torch.device] = None) -> Tensor:
    """Counter-based random words: int64 ``(batch, len(streams), count)`` in [0, 2**32).

    Word ``j`` of stream ``s`` of item ``i`` depends only on ``(seed[i], s, j)``: the same
    on every device and in every batch. For a fixed item and stream, ``j -> word`` is a
    bijection of [0, 2**32).

    Args:
        seed: int64 ``(batch,)``, one seed per item (values in [0, 2**62)).
        streams: stream numbers (small non-negative integers), see the module doc.
        count: words per stream.
        device: where the words are made (default: ``seed``'s device); the per-item
            keys are derived where ``seed`` is and moved there.
    """
    device = seed.device if device is None else torch.device(device)
    k1, k2 = _keys(seed, streams)
    if k1.device != device:
        k1, k2 = k1.to(device, non_blocking=True), k2.to(device, non_blocking=True)
    if device.type != "cpu":
        words = _mix32(torch.arange(count, device=device, dtype=torch.int64) ^ k1)
        words ^= k2
        return _mix32(words)
    step = max(1024, CPU_CHUNK // max(1, seed.shape[0] * len(streams)))
    out = torch.empty((seed.shape[0], len(streams), count), dtype=torch.int64)
    for start in range(0, count, step):
        j = torch.arange(start, min(count, start + step), dtype=torch.int64)
        words = _mix32(j ^ k1)
        words ^= k2
        out[..., start:start + step] = _mix32(words)
    return out


def uniform(words: Tensor, dtype: torch.dtype) -> Tensor:
    """Words in [0, 2**32) to uniforms ``(w + 0.5) / 2**32`` in (0, 1) of ``dtype``
    (float32 rounds the largest words to 1.0)."""
    if dtype == torch.float64:
        return (words.to(torch.float64) + 0.5).mul_(2.0 ** -32)
    return words.to(dtype).add_(0.5).mul_(2.0 ** -32)


def normal(seed: Tensor, length: int, dtype: torch.dtype, device: torch.device,
           streams: tuple[int, int] = (3, 4)) -> Tensor:
    """Standard Gaussian noise ``(batch, length)`` on ``device``, per item seed.

    Box-Muller on the uniforms of two streams: pair ``p`` gives sample ``2p`` (cosine)
    and ``2p + 1`` (sine).
    """
    pairs = (length + 1) // 2
    u = uniform(hash_words(seed, streams, pairs, device), dtype)
    radius = torch.log(u[:, 0]).mul_(-2.0).sqrt_()
    angle = u[:, 1].mul_(2 * math.pi)
    out = torch.empty((seed.shape[0], pairs, 2), dtype=dtype, device=device)
    torch.mul(radius, torch.cos(angle), out=out[..., 0])
    torch.mul(radius, torch.sin(angle), out=out[..., 1])
    return out.reshape(seed.shape[0], 2 * pairs)[:, :length]


def uniform_frames(seed: Tensor, count: int, stream: int,
                   device: Optional[torch.device] = None) -> Tensor:
    """One float64 uniform in (0, 1) per item and counter: ``(batch, count)``."""
    return uniform(hash_words(seed, (stream,), count, device)[:, 0], torch.float64)
