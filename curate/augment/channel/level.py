"""Amplitude transforms: requantisation to a bit depth, gain with clipping at full scale,
and clipping relative to each row's peak."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

import torch
from torch import Tensor

from curate.augment.channel.rows import _mask, _row_tensor
from curate.batch import check_batch


def bit_depth(x: Tensor, lengths: Optional[Tensor],
              bits: Union[int, Sequence[int], Tensor]) -> Tensor:
    """Requantise every row to ``bits`` bits (mid-tread, full scale [-1, 1)):
    ``round(x * 2**(bits-1)) / 2**(bits-1)``, clipped."""
    x, lengths = check_batch(x, lengths)
    b = _row_tensor(bits, x.shape[0], x.device, "bits")
    q = (2.0 ** (b - 1))[:, None].to(torch.float64)
    y = torch.clamp(torch.round(x.to(torch.float64) * q), -q, q - 1) / q
    return _mask(y.to(x.dtype), lengths)


def gain(x: Tensor, lengths: Optional[Tensor], gain_db: Union[float, Sequence[float], Tensor],
         clip: bool = True) -> Tensor:
    """Scale every row by ``gain_db`` dB; with ``clip`` hard-clip at digital full scale ±1."""
    x, lengths = check_batch(x, lengths)
    g = _row_tensor(gain_db, x.shape[0], x.device, "gain_db")
    y = x * (10.0 ** (g / 20.0)).to(x.dtype)[:, None]
    if clip:
        y = y.clamp(-1.0, 1.0)
    return _mask(y, lengths)


def clip(x: Tensor, lengths: Optional[Tensor],
         clip_db: Union[float, Sequence[float], Tensor]) -> Tensor:
    """Hard-clip every row at ``clip_db`` dB relative to its own peak (``clip_db <= 0``)."""
    x, lengths = check_batch(x, lengths)
    c = _row_tensor(clip_db, x.shape[0], x.device, "clip_db")
    x = _mask(x, lengths)
    peak = x.abs().amax(dim=-1) if x.shape[-1] else torch.zeros(x.shape[0], device=x.device)
    level = (peak.to(torch.float64) * 10.0 ** (c / 20.0)).to(x.dtype)[:, None]
    return _mask(torch.maximum(torch.minimum(x, level), -level), lengths)
