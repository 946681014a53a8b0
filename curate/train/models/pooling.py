"""Pooling of frame sequences: attentive pooling over valid frames."""

from __future__ import annotations

import torch
from torch import nn

from curate.train.models.functional import lengths_to_mask


class AttentivePooling(nn.Module):
    """Attentive statistics pooling: attention weights over the valid frames (a masked
    softmax of ``v . tanh(W h)``), then the weighted mean and standard deviation.

    Shapes: forward(h (batch, time, dim), lengths (batch,)) -> (batch, 2 * dim).
    """

    def __init__(self, dim: int, attention_dim: int = 128) -> None:
        super().__init__()
        self.project = nn.Linear(dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        logits = self.score(torch.tanh(self.project(h))).squeeze(-1)  # (batch, time)
        mask = lengths_to_mask(lengths, h.shape[1])
        weights = torch.softmax(logits.float().masked_fill(~mask, float("-inf")), dim=1)
        weights = weights.to(h.dtype).unsqueeze(-1)
        mean = (weights * h).sum(dim=1)
        var = (weights * (h - mean.unsqueeze(1)) ** 2).sum(dim=1)
        return torch.cat([mean, torch.sqrt(var.clamp(min=1e-6))], dim=1)


POOLINGS = ("mean", "attentive")
