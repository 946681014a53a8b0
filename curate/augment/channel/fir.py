"""Linear-phase FIR filters of the channel transforms: windowed-sinc low-pass design and
zero-delay batched FFT convolution."""

from __future__ import annotations

import torch
from scipy.fft import next_fast_len
from torch import Tensor


def fir_lowpass(cutoff_hz: Tensor, sample_rate: int, taps: int) -> Tensor:
    """Blackman-windowed sinc low-pass filters, one per cutoff, unit gain at DC.

    Args:
        cutoff_hz: float ``(rows,)``, Hz, in (0, sample_rate / 2].
        sample_rate: Hz.
        taps: odd filter length (transition band about ``5.5 * sample_rate / taps`` Hz).

    Returns:
        float64 ``(rows, taps)`` on ``cutoff_hz``'s device.
    """
    n = torch.arange(taps, dtype=torch.float64, device=cutoff_hz.device) - (taps - 1) / 2
    fc = (cutoff_hz.to(torch.float64) / sample_rate)[:, None]
    h = 2 * fc * torch.sinc(2 * fc * n)
    w = torch.blackman_window(taps, periodic=False, dtype=torch.float64, device=h.device)
    h = h * w
    return h / h.sum(dim=-1, keepdim=True)


def fir_filter(x: Tensor, kernels: Tensor) -> Tensor:
    """Zero-phase (centred) linear convolution of every row with its odd-length kernel,
    by FFT; ``kernels`` is ``(batch, taps)`` or ``(1, taps)``. Output like ``x``."""
    batch, time = x.shape
    taps = kernels.shape[-1]
    if time == 0 or batch == 0:
        return x.clone()
    n = next_fast_len(time + taps - 1)
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    spectrum = torch.fft.rfft(x.to(compute), n) * torch.fft.rfft(kernels.to(compute), n)
    half = (taps - 1) // 2
    return torch.fft.irfft(spectrum, n)[:, half:half + time].to(x.dtype)
