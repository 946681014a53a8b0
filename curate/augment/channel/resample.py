"""Resampling of the channel transforms: torchaudio's band-limited resampling with
cached kernels, the margins that keep filter tails independent of the batch's padding, and
:func:`downsample` (sample-rate reduction and back)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional, Union

import torch
import torchaudio.transforms as AT
from torch import Tensor

from curate.augment.channel.rows import _mask
from curate.batch import check_batch

#: torchaudio resampling settings of the channel steps: Kaiser-windowed sinc, 16 zero
#: crossings, 95 % roll-off (stop band below -60 dB; torchaudio's default leaks ~-25 dB).
RESAMPLE = {"lowpass_filter_width": 16, "resampling_method": "sinc_interp_kaiser",
            "beta": 8.0, "rolloff": 0.95}


_RESAMPLERS: dict[tuple[int, int, torch.dtype, torch.device], torch.nn.Module] = {}


def _resample(x: Tensor, src: int, dst: int) -> Tensor:
    """torchaudio's resampling with :data:`RESAMPLE`, the kernel cached per (rates, dtype,
    device): made once on the host and moved without waiting for the device, so a call
    does not copy anything from the host (``torchaudio.functional.resample`` builds its
    kernel with a blocking copy on every call). Same kernel, same numbers."""
    key = (int(src), int(dst), x.dtype, x.device)
    resampler = _RESAMPLERS.get(key)
    if resampler is None:
        resampler = AT.Resample(int(src), int(dst), dtype=x.dtype, **RESAMPLE) \
            .to(x.device, non_blocking=True)
        _RESAMPLERS[key] = resampler
    return resampler(x)


def _margin(sample_rate: int, other_rate: int, taps: int = 0) -> int:
    """Zeros appended before resampling/filtering so that a row's filter tails are
    computed whatever the batch's padding (batch and single rows then agree)."""
    ratio = math.ceil(sample_rate / max(1, other_rate))
    return (taps + 2 * RESAMPLE["lowpass_filter_width"] + 2) * ratio


def downsample(x: Tensor, lengths: Optional[Tensor], rate: Union[int, Sequence[int], Tensor],
               sample_rate: int, method: str = "sinc",
               rates: Optional[Sequence[int]] = None) -> Tensor:
    """Reduce every row's sample rate to ``rate`` Hz and bring it back to ``sample_rate``.

    ``method="sinc"``: torchaudio's band-limited resampling down and up (a recording made
    at ``rate``). ``method="hold"``: keep every ``sample_rate/rate``-th sample and hold it
    (zero-order hold, no anti-aliasing: aliasing and imaging, like a cheap converter).

    Args:
        x: float ``(batch, time)`` at ``sample_rate``.
        lengths: valid samples per row, or None.
        rate: Hz, one for all rows, one per row, or an int tensor ``(batch,)``.
        sample_rate: Hz.
        method: "sinc" or "hold".
        rates: the values a ``rate`` tensor can hold (host integers; needed for "sinc"
            with a tensor): each is resampled on the whole batch and every row keeps its
            own, so nothing is read back from the device. A row whose rate is not
            listed, or equals ``sample_rate``, is left as it is.
    """
    x, lengths = check_batch(x, lengths)
    batch, time = x.shape
    if method not in ("sinc", "hold"):
        raise ValueError(f"method must be 'sinc' or 'hold', got {method!r}")
    if isinstance(rate, Tensor):
        if rate.shape != (batch,):
            raise ValueError(f"rate holds {tuple(rate.shape)} values for {batch} rows; give "
                             "one per row")
        if method == "sinc" and rates is None:
            raise ValueError("a rate tensor needs rates, the values it can hold (Hz), for "
                             "method 'sinc'")
        row_rate = rate.to(x.device, non_blocking=True)
        options = tuple(int(r) for r in rates or ())
    else:
        values = [int(rate)] * batch if isinstance(rate, (int, float)) \
            else [int(r) for r in rate]
        if len(values) != batch:
            raise ValueError(f"rate holds {len(values)} values for {batch} rows; give one "
                             "per row")
        row_rate = torch.tensor(values, dtype=torch.int64).to(x.device, non_blocking=True)
        options = tuple(sorted(set(values)))
    if batch == 0 or time == 0:
        return x.clone()
    x = _mask(x, lengths)
    if method == "hold":
        r = row_rate.to(torch.float64)[:, None]
        n = torch.arange(time, dtype=torch.float64, device=x.device)
        k = torch.floor(n * r / sample_rate)
        src = torch.floor(k * sample_rate / r).to(torch.int64).clamp(0, time - 1)
        return _mask(x.gather(1, src), lengths)
    y = x
    for value in options:
        if value == sample_rate:
            continue
        part = torch.nn.functional.pad(x, (0, _margin(sample_rate, value)))
        part = _resample(_resample(part, sample_rate, value), value, sample_rate)[:, :time]
        if part.shape[-1] < time:
            part = torch.nn.functional.pad(part, (0, time - part.shape[-1]))
        y = torch.where((row_rate == value)[:, None], part.to(x.dtype), y)
    return _mask(y, lengths)
