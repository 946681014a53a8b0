"""Pure tensor functions the detectors share: length masks, frame counts, masked pooling
and the detection score. Inputs are padded ``(batch, time)`` batches with ``lengths``.
"""

from __future__ import annotations

from os import PathLike
from typing import Union

import torch
from torch import nn

PathLikeStr = Union[str, "PathLike[str]"]


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Boolean mask of valid positions.

    Args:
        lengths: (batch,) integer tensor, valid length of each row.
        max_len: padded length of the time axis.

    Returns:
        (batch, max_len) bool tensor, True where ``t < lengths[i]``.
    """
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def num_frames(lengths: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """Number of STFT frames (no centre padding) that lie wholly inside each signal.

    A frame ``j`` covers samples ``[j * hop_length, j * hop_length + n_fft)``. Signals
    shorter than ``n_fft`` still get one frame (zero-padded), so the result is >= 1.

    Args:
        lengths: (batch,) valid lengths in samples.

    Returns:
        (batch,) int64 frame counts.
    """
    lengths = lengths.to(torch.int64)
    return 1 + torch.clamp(lengths - n_fft, min=0) // hop_length


def masked_mean_max(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean and max over the valid part of the time axis.

    Args:
        x: (batch, channels, time) features.
        lengths: (batch,) valid lengths along time, each >= 1.

    Returns:
        (batch, 2 * channels): ``[mean, max]`` concatenated along channels.
    """
    mask = lengths_to_mask(lengths, x.shape[-1]).unsqueeze(1)  # (batch, 1, time)
    denom = lengths.clamp(min=1).to(x.dtype).unsqueeze(1)
    mean = x.masked_fill(~mask, 0.0).sum(dim=-1) / denom
    peak = x.masked_fill(~mask, float("-inf")).amax(dim=-1)
    return torch.cat([mean, peak], dim=1)


def bonafide_score(logits: torch.Tensor) -> torch.Tensor:
    """Detection score from (batch, 2) logits: ``logit_bonafide - logit_spoof``, (batch,)."""
    if logits.ndim != 2 or logits.shape[1] != 2:
        raise ValueError(f"logits must have shape (batch, 2), got {tuple(logits.shape)}")
    return logits[:, 1] - logits[:, 0]


def masked_group_norm(x: torch.Tensor, lengths: torch.Tensor, norm: nn.GroupNorm
                      ) -> torch.Tensor:
    """``norm(x)`` with the statistics taken over the valid frames of each row only, in
    float32; (batch, channels, time). Equal to ``norm`` for full-length rows."""
    batch, channels, steps = x.shape
    groups = norm.num_groups
    mask = lengths_to_mask(lengths, steps).view(batch, 1, 1, steps).float()
    xf = x.float().view(batch, groups, channels // groups, steps)
    count = (lengths.clamp(min=1).float() * (channels // groups)).view(batch, 1, 1, 1)
    mean = (xf * mask).sum(dim=(2, 3), keepdim=True) / count
    var = (((xf - mean) * mask) ** 2).sum(dim=(2, 3), keepdim=True) / count
    y = ((xf - mean) * torch.rsqrt(var + norm.eps)).view(batch, channels, steps)
    if norm.affine:
        y = y * norm.weight.float().view(1, -1, 1) + norm.bias.float().view(1, -1, 1)
    return y.to(x.dtype)


def masked_mean(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the valid frames: (batch, time, dim) -> (batch, dim)."""
    mask = lengths_to_mask(lengths, h.shape[1]).unsqueeze(-1).to(h.dtype)
    return (h * mask).sum(dim=1) / lengths.clamp(min=1).to(h.dtype).unsqueeze(-1)
