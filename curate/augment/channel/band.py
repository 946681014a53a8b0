"""Band limits: the narrowband telephone channel (:func:`telephone`: resampling, band-pass,
G.711) and per-row low-pass filtering (:func:`bandlimit`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

import torch
from torch import Tensor

from curate.augment.channel.fir import fir_filter, fir_lowpass
from curate.augment.channel.resample import _margin, _resample
from curate.augment.channel.rows import _mask, _row_tensor
from curate.augment.codec import g711
from curate.batch import check_batch

#: G.711 law codes of :func:`telephone`'s per-row ``law`` tensor.
LAW_CODES = {"mu": 0, "a": 1, None: -1}


def _law_codes(law: Union[None, str, Sequence[Optional[str]], Tensor], batch: int,
               device: torch.device) -> Union[None, str, Tensor]:
    """None (no G.711 on any row), one law for all rows, or int codes ``(batch,)``."""
    if law is None or isinstance(law, str):
        return law
    if isinstance(law, Tensor):
        if law.shape != (batch,) or law.is_floating_point() or law.is_complex():
            raise ValueError(f"law as a tensor must be int codes of shape ({batch},) "
                             f"(0 mu-law, 1 A-law, -1 none), got {law.dtype} of shape "
                             f"{tuple(law.shape)}")
        return law.to(device, non_blocking=True)
    laws = list(law)
    if len(laws) != batch:
        raise ValueError(f"law holds {len(laws)} values for {batch} rows; give one per row")
    if any(v not in LAW_CODES for v in laws):
        raise ValueError(f"law must be 'mu', 'a' or None per row, got {law!r}")
    if all(v is None for v in laws):
        return None
    return torch.tensor([LAW_CODES[v] for v in laws]).to(device, non_blocking=True)


def telephone(x: Tensor, lengths: Optional[Tensor], sample_rate: int, *,
              law: Union[None, str, Sequence[Optional[str]], Tensor] = "mu",
              low_hz: Union[float, Tensor] = 300.0, high_hz: Union[float, Tensor] = 3400.0,
              narrow_rate: int = 8000, taps: int = 129) -> Tensor:
    """A narrowband telephone channel: resample to ``narrow_rate`` (torchaudio), band-pass
    ``low_hz``-``high_hz``, optionally G.711, resample back.

    Args:
        x: float ``(batch, time)`` at ``sample_rate``.
        lengths: valid samples per row, or None.
        sample_rate: Hz.
        law: "mu", "a", None (no G.711), one of these per row, or int codes per row
            (a tensor ``(batch,)``: 0 mu-law, 1 A-law, -1 none; :data:`LAW_CODES`).
        low_hz, high_hz: pass band edges, Hz (300-3400 Hz is the ITU telephone band);
            numbers (checked), or float tensors ``(batch,)``, one per row (not checked:
            that would read them back from the device).
        narrow_rate: Hz of the narrowband leg (8000).
        taps: band-pass FIR length at ``narrow_rate`` (odd).

    Returns:
        ``(batch, time)`` at ``sample_rate``, time-aligned with ``x``.
    """
    x, lengths = check_batch(x, lengths)
    per_row = isinstance(low_hz, Tensor) or isinstance(high_hz, Tensor)
    if not per_row and not 0 <= low_hz < high_hz <= narrow_rate / 2:
        raise ValueError(f"low_hz={low_hz} and high_hz={high_hz} must satisfy 0 <= low_hz < "
                         f"high_hz <= narrow_rate/2 = {narrow_rate / 2:g} Hz")
    batch, time = x.shape
    codes = _law_codes(law, batch, x.device)
    if batch == 0 or time == 0:
        return x.clone()
    y = torch.nn.functional.pad(_mask(x, lengths),
                                (0, _margin(sample_rate, narrow_rate, taps)))
    if sample_rate != narrow_rate:
        y = _resample(y, sample_rate, narrow_rate)
    if per_row:
        low = _row_tensor(low_hz, batch, x.device, "low_hz")
        high = _row_tensor(high_hz, batch, x.device, "high_hz")
        lp = fir_lowpass(torch.cat([high, low.clamp(min=1e-6)]), narrow_rate, taps)
        kernel = lp[:batch] - torch.where((low > 0)[:, None], lp[batch:],
                                          torch.zeros_like(lp[:1]))
    else:
        edges = torch.tensor([high_hz, max(low_hz, 1e-6)], dtype=torch.float64) \
            .to(x.device, non_blocking=True)
        lp = fir_lowpass(edges, narrow_rate, taps)
        kernel = (lp[0] - lp[1])[None] if low_hz > 0 else lp[:1]
    y = fir_filter(y, kernel)
    if isinstance(codes, str):
        y = g711(y, codes)
    elif codes is not None:
        y = torch.where((codes >= 0)[:, None], g711(y, codes == 1), y)
    if sample_rate != narrow_rate:
        y = _resample(y, narrow_rate, sample_rate)
    y = y[:, :time]
    if y.shape[-1] < time:
        y = torch.nn.functional.pad(y, (0, time - y.shape[-1]))
    return _mask(y.to(x.dtype), lengths)


def bandlimit(x: Tensor, lengths: Optional[Tensor], cutoff_hz: Union[float, Sequence[float],
              Tensor], sample_rate: int, taps: int = 255) -> Tensor:
    """Low-pass every row at its own ``cutoff_hz`` (Hz; windowed-sinc FIR, zero phase)."""
    x, lengths = check_batch(x, lengths)
    cutoff = _row_tensor(cutoff_hz, x.shape[0], x.device, "cutoff_hz")
    if x.shape[0] == 0:
        return x.clone()
    return _mask(fir_filter(_mask(x, lengths), fir_lowpass(cutoff, sample_rate, taps)),
                 lengths)
