"""The log-mel front end of the small CNN: waveform ``(batch, time)`` -> log-mel ``(batch,
n_mels, frames)``, padding-invariant.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

from curate.batch import check_batch
from curate.train.models.functional import lengths_to_mask, num_frames


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
        x, lengths = check_batch(x, lengths)
        x = x.masked_fill(~lengths_to_mask(lengths, x.shape[1]), 0.0)
        if x.shape[1] < self.n_fft:
            x = nn.functional.pad(x, (0, self.n_fft - x.shape[1]))
        feats = torch.log(self.mel(x) + self.eps)  # (batch, n_mels, frames)
        frame_lengths = self.frame_lengths(lengths).clamp(max=feats.shape[-1])
        mask = lengths_to_mask(frame_lengths, feats.shape[-1]).unsqueeze(1)
        return feats.masked_fill(~mask, 0.0), frame_lengths
