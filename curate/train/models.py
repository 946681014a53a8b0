"""Detectors: waveform ``(batch, time)`` + ``lengths`` -> logits ``(batch, 2)``.

Class index 1 is bonafide and index 0 is spoof, so the detection score (higher = more
bonafide) is ``logits[:, 1] - logits[:, 0]`` (:func:`bonafide_score`).

Every detector takes padded batches and is invariant to padding in eval mode: the
output for a row depends only on its first ``lengths[i]`` samples, never on how much
padding follows or what it contains. Batched scoring of clips of different durations
therefore equals scoring them one at a time.

Models are registered by name (:func:`register_model`) and built from plain keyword
arguments (:func:`build_model`), so an experiment config can name them and a
checkpoint can rebuild them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torchaudio
from torch import nn

__all__ = [
    "lengths_to_mask",
    "num_frames",
    "masked_mean_max",
    "bonafide_score",
    "LogMelFrontEnd",
    "SmallCNN",
    "MODELS",
    "register_model",
    "build_model",
    "count_parameters",
]


# --------------------------------------------------------------------------- pure functions


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


def _check_batch(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Validate a (batch, time) waveform batch; return lengths as int64 on x's device."""
    if x.ndim != 2:
        raise ValueError(
            f"x must be a (batch, time) waveform batch, got shape {tuple(x.shape)}; "
            "use x.unsqueeze(0) for a single clip"
        )
    if lengths is None:
        return torch.full((x.shape[0],), x.shape[1], dtype=torch.int64, device=x.device)
    lengths = torch.as_tensor(lengths, device=x.device).to(torch.int64)
    if lengths.shape != (x.shape[0],):
        raise ValueError(
            f"lengths must have shape (batch,) = ({x.shape[0]},), got {tuple(lengths.shape)}"
        )
    return lengths


# --------------------------------------------------------------------------- front end


class LogMelFrontEnd(nn.Module):
    """Log mel spectrogram of padded waveforms, with padded frames set to 0.

    Frames are not centre-padded, and samples beyond ``lengths`` are zeroed first,
    so every kept frame depends only on the valid samples of its row.

    Args:
        sample_rate: input sample rate in Hz.
        n_mels: number of mel bands.
        n_fft: FFT size in samples (512 = 32 ms at 16 kHz).
        win_length: analysis window in samples (400 = 25 ms at 16 kHz).
        hop_length: frame shift in samples (160 = 10 ms at 16 kHz).
        f_min, f_max: mel filterbank range in Hz (``f_max=None``: Nyquist).
        eps: floor added to the mel power before the log.

    Shapes:
        forward(x (batch, time), lengths (batch,)) ->
        (features (batch, n_mels, frames), frame_lengths (batch,)).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 64,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        f_min: float = 20.0,
        f_max: float | None = None,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0 Hz, got {sample_rate}")
        if n_mels < 1:
            raise ValueError(f"n_mels must be >= 1, got {n_mels}")
        if not 0 < win_length <= n_fft:
            raise ValueError(
                f"win_length must be in (0, n_fft={n_fft}], got {win_length}; raise n_fft"
            )
        if hop_length < 1:
            raise ValueError(f"hop_length must be >= 1 sample, got {hop_length}")
        nyquist = sample_rate / 2
        if f_max is not None and not f_min < f_max <= nyquist:
            raise ValueError(
                f"f_max must be in (f_min={f_min}, {nyquist}] Hz, got {f_max}; "
                "use None for the Nyquist frequency"
            )
        if eps <= 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.eps = eps
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            f_min=f_min,
            f_max=f_max,
            n_mels=n_mels,
            center=False,
            power=2.0,
        )

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid frames per row for sample ``lengths`` (batch,) -> (batch,)."""
        return num_frames(lengths, self.n_fft, self.hop_length)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = _check_batch(x, lengths)
        x = x.masked_fill(~lengths_to_mask(lengths, x.shape[1]), 0.0)
        if x.shape[1] < self.n_fft:
            x = nn.functional.pad(x, (0, self.n_fft - x.shape[1]))
        feats = torch.log(self.mel(x) + self.eps)  # (batch, n_mels, frames)
        frame_lengths = self.frame_lengths(lengths).clamp(max=feats.shape[-1])
        mask = lengths_to_mask(frame_lengths, feats.shape[-1]).unsqueeze(1)
        return feats.masked_fill(~mask, 0.0), frame_lengths


# --------------------------------------------------------------------------- detectors


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


# --------------------------------------------------------------------------- registry

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a model factory under ``name`` for :func:`build_model`.

    A factory takes keyword arguments only, including ``sample_rate`` (Hz, which the
    training loop always passes), and returns an ``nn.Module`` mapping
    ``(x (batch, time), lengths (batch,))`` to logits ``(batch, 2)``, index 1 = bonafide.
    """

    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in MODELS and MODELS[name] is not factory:
            raise ValueError(f"model name {name!r} is already registered; pick another name")
        MODELS[name] = factory
        return factory

    return wrap


register_model("small_cnn")(SmallCNN)


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered detector by name, e.g. ``build_model("small_cnn", n_mels=40)``."""
    if name not in MODELS:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"unknown model {name!r}; known models: {known}")
    return MODELS[name](**kwargs)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
