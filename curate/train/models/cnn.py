"""``small_cnn``: a log-mel front end and a light CNN that trains on a CPU in minutes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from curate.train.models.frontend import LogMelFrontEnd
from curate.train.models.functional import lengths_to_mask, masked_mean_max
from curate.train.models.registry import register_model


class _ConvBlock(nn.Module):
    """Conv3x3 -> BatchNorm -> ReLU -> 2x2 max-pool over (freq, time), padding-safe.

    Padded frames are zeroed before pooling; values are >= 0 after the ReLU, so a
    pooling window that straddles the end of the valid part takes the max of the valid
    frames only. ``ceil_mode`` keeps the last odd frame, and the new valid length is
    ``ceil(length / 2)``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(kernel_size=2, ceil_mode=True)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor, padded: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, in, bands, frames) + frame lengths -> pooled features + new lengths.

        ``padded=False`` promises every row is full length and skips the masking.
        """
        x = torch.relu(self.norm(self.conv(x)))
        if padded:
            x = x * lengths_to_mask(lengths, x.shape[-1])[:, None, None, :].to(x.dtype)
        x = self.pool(x)
        return x, (lengths + 1) // 2


class SmallCNN(nn.Module):
    """A small log-mel CNN detector, fast enough to train on a CPU.

    log-mel (:class:`LogMelFrontEnd`) -> per-band BatchNorm -> ``len(channels)``
    conv blocks (3x3 conv, BatchNorm, ReLU, 2x2 max-pool) -> flatten channels and
    remaining mel bands per frame -> masked mean + max over time -> dropout -> linear.

    Args:
        sample_rate: input sample rate in Hz.
        n_mels: mel bands of the front end.
        channels: output channels of each conv block.
        dropout: dropout probability before the linear head.
        **front_end: further :class:`LogMelFrontEnd` arguments (n_fft, hop_length, ...).

    Shapes:
        forward(x (batch, time) float waveform, lengths (batch,) or None) ->
        logits (batch, 2), index 1 = bonafide.
    """

    #: keyword arguments ``**front_end`` passes on to :class:`LogMelFrontEnd`
    extra_arguments = ("n_fft", "win_length", "hop_length", "f_min", "f_max", "eps")
    #: where those arguments go (their types and defaults are read from its signature)
    extra_arguments_from = LogMelFrontEnd

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 64,
        channels: Sequence[int] = (8, 16, 32, 64),
        dropout: float = 0.2,
        **front_end: Any,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if not channels or min(channels) < 1:
            raise ValueError(
                f"channels must be a non-empty sequence of positive ints, got {channels}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.front_end = LogMelFrontEnd(sample_rate=sample_rate, n_mels=n_mels, **front_end)
        self.input_norm = nn.BatchNorm1d(n_mels)
        blocks = []
        in_channels = 1
        bands = n_mels
        for out_channels in channels:
            blocks.append(_ConvBlock(in_channels, out_channels))
            in_channels = out_channels
            bands = (bands + 1) // 2
        self.blocks = nn.ModuleList(blocks)
        self.embedding_dim = 2 * channels[-1] * bands
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.embedding_dim, 2)

    def embed(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Utterance embedding before the head: (batch, time) -> (batch, embedding_dim)."""
        feats, frames = self.front_end(x, lengths)  # (batch, n_mels, frames)
        mask = lengths_to_mask(frames, feats.shape[-1]).unsqueeze(1)
        feats = self.input_norm(feats).masked_fill(~mask, 0.0)
        # Full-length batches (fixed training crops) need no masking inside the blocks;
        # the check costs one host-device sync per forward on an accelerator.
        padded = bool((frames < feats.shape[-1]).any())
        h = feats.unsqueeze(1)  # (batch, 1, n_mels, frames)
        for block in self.blocks:
            h, frames = block(h, frames, padded)
        batch, chans, bands, steps = h.shape
        return masked_mean_max(h.reshape(batch, chans * bands, steps), frames)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x, lengths)))


register_model("small_cnn")(SmallCNN)
