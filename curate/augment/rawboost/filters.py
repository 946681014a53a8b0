"""RawBoost's filters: band-stop cascades designed for a whole batch at once, and FFT
overlap-save filtering with the published alignment.

Every band filter is centred in a common odd width (``RawBoostParams.max_taps``, a
bound known on the host), so the cascades of all items and orders share one centre and
one FFT geometry (:class:`Plan`), and nothing about the geometry is read from the draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy.fft import next_fast_len
from torch import Tensor

from curate.augment.rawboost.params import Cascades

__all__ = ["Plan", "make_plan", "geometry", "band_taps", "cascade_spectra", "frames",
           "overlap_save"]


def band_taps(cascades: Cascades, sample_rate: int, width: int) -> Tensor:
    """firwin(c, [f1, f2], window="hamming", fs) band-stops, centred in ``width`` taps.

    Returns float64 ``(batch, cascades, bands, width)``; ``width`` is odd and at least
    the largest tap count, each filter sits centred with zeros around it.
    """
    nyquist = 0.5 * sample_rate
    fc, bw = cascades.fc_hz, cascades.bw_hz
    f1 = fc - bw / 2
    f2 = fc + bw / 2
    f1 = torch.where(f1 <= 0, torch.full_like(f1, 1e-3), f1)
    f2 = torch.where(f2 >= nyquist, torch.full_like(f2, nyquist - 1e-3), f2)
    lo = (f1 / nyquist)[..., None]
    hi = (f2 / nyquist)[..., None]
    half = (width - 1) // 2
    m = torch.arange(-half, half + 1, device=fc.device, dtype=torch.float64)
    # passbands [0, lo] and [hi, 1]: lo*sinc(lo*m) + sinc(m) - hi*sinc(hi*m), where
    # lo*sinc(lo*m) = sin(pi*lo*m) / (pi*m) and sinc(m) is 1 at m = 0, else 0
    pm = math.pi * torch.where(m == 0, torch.ones_like(m), m)
    h = (torch.sin(lo * pm) - torch.sin(hi * pm)) / pm
    h = torch.where(m == 0, 1 + lo - hi, h)
    taps = cascades.taps[..., None].to(torch.float64)
    window = 0.54 + 0.46 * torch.cos((2 * math.pi / torch.clamp(taps - 1, min=1.0)) * m)
    h = torch.where(m.abs() <= (taps - 1) / 2, h * window, torch.zeros_like(h))
    return h / h.sum(dim=-1, keepdim=True)


@dataclass(frozen=True)
class Plan:
    """FFT overlap-save geometry for filters of ``kernel`` taps on ``time`` samples."""

    kernel: int   # common cascade length K (odd); the centre is (K-1)/2
    n_fft: int    # frame length N
    hop: int      # N - K + 1 output samples per frame
    frames: int
    design: int   # FFT length of the design (a multiple of 1024 >= K)


def make_plan(kernel: int, time: int) -> Plan:
    """The overlap-save geometry: frames of the smallest power of two >= 8K (at least the
    design length), or one frame of ``next_fast_len(time + K - 1)`` when that is shorter."""
    design = 1024 * max(1, -(-kernel // 1024))
    frame = max(design, 1 << max(0, (8 * kernel - 1).bit_length()))
    whole = next_fast_len(max(1, time + kernel - 1), real=True)
    n_fft = min(frame, whole)
    hop = n_fft - kernel + 1
    return Plan(kernel, n_fft, hop, max(1, -(-time // hop)), design)


def cascade_spectra(cascades: Cascades, sample_rate: int, plan: Plan, width: int,
                     dtype: torch.dtype) -> Tensor:
    """Frequency responses of the scaled cascades at ``plan.n_fft``.

    The cascade of item i, cascade k is the convolution of its band filters (each
    centred in ``width`` taps, so all cascades share the centre ``(K-1)/2``), scaled to
    ``10**(G/20) / max|H|`` with ``max|H|`` over freqz's 512 points ``pi*j/512``.
    The taps are computed in float64, the transforms in ``dtype`` (float32 or float64).
    Returns complex ``(batch, cascades, n_fft//2 + 1)`` of ``dtype``'s precision.
    """
    bands = torch.fft.rfft(band_taps(cascades, sample_rate, width).to(dtype), n=plan.design)
    spectrum = bands[..., 0, :]                                  # (B, C, design/2+1)
    for band in range(1, bands.shape[-2]):
        spectrum = spectrum * bands[..., band, :]
    step = plan.design // 1024
    peak = spectrum[..., ::step][..., :512].abs().amax(dim=-1)
    spectrum = spectrum * (10.0 ** (cascades.gain_db / 20) / peak).to(dtype)[..., None]
    if plan.n_fft != plan.design:
        taps = torch.fft.irfft(spectrum, n=plan.design)[..., :plan.kernel]
        spectrum = torch.fft.rfft(taps, n=plan.n_fft)
    return spectrum


def frames(x: Tensor, plan: Plan) -> Tensor:
    """Overlap-save frames ``(batch, frames, n_fft)`` aligned with the published crop.

    The published filter keeps output ``n`` = full convolution at ``n + (L+1)/2`` for a
    cascade of ``L`` taps, i.e. the centre plus one; with all cascades centred at
    ``C = (K-1)/2`` frame ``b`` starts at input sample ``b*hop - C + 1``.
    """
    centre = (plan.kernel - 1) // 2
    left = centre - 1
    total = (plan.frames - 1) * plan.hop + plan.n_fft
    x = torch.nn.functional.pad(x, (left, total - x.shape[-1] - left))
    return x.unfold(-1, plan.n_fft, plan.hop)


def overlap_save(spectra: Tensor, plan: Plan, time: int) -> Tensor:
    """Inverse of frame spectra ``(batch, frames, bins)`` to ``(batch, time)``."""
    y = torch.fft.irfft(spectra, n=plan.n_fft)[..., plan.kernel - 1:]
    return y.reshape(y.shape[0], -1)[:, :time]


def geometry(n_bands: int, max_taps: int, time: int) -> tuple[Plan, int]:
    """``(plan, width)`` for cascades of ``n_bands`` bands of at most ``max_taps`` taps
    on ``time`` samples; ``width`` is ``max_taps`` made odd. Host integers only."""
    width = int(max_taps)
    width += 1 - width % 2
    return make_plan(n_bands * (width - 1) + 1, time), width
