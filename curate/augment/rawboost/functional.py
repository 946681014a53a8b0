"""RawBoost's pure batched functions: :func:`apply` (deterministic) and :func:`rawboost`
(draw, then apply), and the three noise steps LnL, ISD and SSI.

Everything works on a batch ``x`` of shape ``(batch, time)`` with ``lengths`` (valid
samples per row) in one pass of tensor operations on ``x``'s device, with no Python loop
over items and nothing read back from the device: the shapes that could depend on the
draws (filter width, ISD candidate count) come from host-side bounds carried by the
params. Padding beyond ``lengths`` stays zero and never influences the valid part.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import torch
from torch import Tensor

from curate.augment.counter_rng import hash_words, normal, uniform
from curate.augment.rawboost.filters import (Plan, cascade_spectra, frames, geometry,
                                             overlap_save)
from curate.augment.rawboost.params import Cascades, RawBoostParams
from curate.augment.rawboost.sampling import sample_params
from curate.augment.rawboost.settings import ALGORITHMS
from curate.batch import check_batch

__all__ = ["apply", "rawboost"]

#: Counter-RNG streams of the SSI white noise (see :mod:`curate.augment.counter_rng`).
SSI_STREAMS = (3, 4)


def _largest_taps(params: RawBoostParams) -> int:
    """The largest tap count of hand-made params without ``max_taps`` (read from the
    tensors: this waits for their device)."""
    taps = [c.taps for c in (params.lnl, params.ssi) if c is not None and c.taps.numel()]
    return max((int(t.max()) for t in taps), default=1)


def _peak_normalise(y: Tensor, always: bool) -> Tensor:
    """Divide each row by its peak ``max|y|``: always (a zero row stays zero) or only
    where the peak exceeds 1."""
    peak = torch.maximum(y.amax(dim=-1, keepdim=True), -y.amin(dim=-1, keepdim=True))
    if always:
        divisor = peak.masked_fill_(peak == 0, 1.0)
    else:
        divisor = peak.clamp_(min=1.0)
    return y / divisor


def _masked(y: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Zero past each row's length (``mask`` is None when every row is full)."""
    return y if mask is None else y * mask


def _lnl(x: Tensor, mask: Optional[Tensor], lengths: Tensor, cascades: Cascades, sample_rate: int,
         geo: tuple[Plan, int]) -> Tensor:
    time = x.shape[-1]
    plan, width = geo
    spectra = cascade_spectra(cascades, sample_rate, plan, width, x.dtype)  # (B, n_f, F)
    framed = frames(x, plan)
    power = framed
    acc = torch.fft.rfft(power) * spectra[:, None, 0]
    for k in range(1, spectra.shape[1]):
        power = power * framed
        acc.addcmul_(torch.fft.rfft(power), spectra[:, None, k])
    y = _masked(overlap_save(acc, plan, time), mask)
    mean = y.sum(dim=-1, keepdim=True) / lengths.clamp(min=1)[:, None].to(y.dtype)
    return _peak_normalise(_masked(y - mean, mask), always=False)


def _isd_slots(params: RawBoostParams, lengths: Tensor, time: int, dtype: torch.dtype,
               share: float) -> tuple[Tensor, Tensor]:
    """ISD positions (``time`` for an unused slot) and factors, both ``(batch, slots)``.

    ``share`` is an upper bound of ``beta/100`` over the batch (the settings' ``p``,
    known on the host, so nothing waits for the device); the positions do not depend
    on it as long as it is a bound.
    """
    device = lengths.device
    if params.isd_positions is not None:   # explicit (reference-compatible) positions
        pos = params.isd_positions
        if pos.device.type == "cpu" and pos.shape[1] and int(pos.max()) >= time:
            raise ValueError("params.isd_positions point past the end of x; apply params "
                             "to the signals they were drawn for")
        pos = pos.to(device, non_blocking=True).clamp(max=time)
        pos = torch.where(pos >= 0, pos, torch.full_like(pos, time))
        return pos, params.isd_factors.to(device=device, dtype=dtype, non_blocking=True)
    beta = params.isd_beta.to(device, non_blocking=True)
    seed = params.isd_seed
    batch = len(params)
    count = torch.floor(lengths.to(torch.float64) * (beta / 100)).to(torch.int64)
    bound = min(time, math.floor(time * share))
    if bound == 0:
        empty = torch.zeros((batch, 0), dtype=torch.int64, device=device)
        return empty, empty.to(dtype)
    # Items with beta <= 50 %: draw positions uniformly with replacement and keep the
    # first `count` distinct ones, a uniform random subset of that size. `draws` covers
    # the expected number of draws to reach it (-T ln(1 - beta/100)) plus 8 standard
    # deviations. Items above 50 %: rank all positions by a bijective hash (a random
    # permutation) and keep the first `count`. Which way an item goes depends on its
    # own beta only, so an item gives the same positions in any batch.
    shared = min(share, 0.5)
    expected = -time * math.log1p(-shared)
    draws = math.ceil(expected + 8 * math.sqrt(expected) + 16)
    width = max(draws, bound) if share > 0.5 else draws
    words = hash_words(seed, (0, 1, 2), width, device)
    cand = (words[:, 0, :draws] * lengths[:, None]) >> 32            # uniform in [0, length)
    u = uniform(words[:, 1:], dtype)
    if share > 0.5:
        keys = hash_words(seed, (0,), time, device)[:, 0]
        keys = torch.where(torch.arange(time, device=device) < lengths[:, None], keys,
                           torch.full_like(keys, 1 << 40))
        ranked = torch.argsort(keys, dim=-1)[:, :bound]
        cand = torch.where((beta > 50)[:, None],
                           torch.nn.functional.pad(ranked, (0, width - bound), value=time),
                           torch.nn.functional.pad(cand, (0, width - draws), value=time))
        draws = width
    slot = torch.arange(draws, device=device, dtype=torch.int32).expand(batch, draws)
    first_draw = torch.full((batch, time + 1), draws, dtype=torch.int32, device=device)
    first_draw.scatter_reduce_(1, cand, slot, reduce="amin")
    first = first_draw.gather(1, cand) == slot
    rank = torch.cumsum(first, dim=-1) - 1
    keep = first & (rank < count[:, None]) & (cand < time)
    pos = torch.where(keep, cand, torch.full_like(cand, time))
    return pos, (2 * u[:, 0] - 1) * (2 * u[:, 1] - 1)


def _isd(x: Tensor, params: RawBoostParams, lengths: Tensor, share: float) -> Tensor:
    time = x.shape[-1]
    pos, factors = _isd_slots(params, lengths, time, x.dtype, share)
    x_at = x.gather(1, pos.clamp(max=max(time - 1, 0))) if time else x[:, :0]
    y = torch.nn.functional.pad(x, (0, 1))                       # the last column: a sink
    y.scatter_(1, pos, x_at + params.g_sd * x_at * factors)
    return _peak_normalise(y[:, :time], always=False)


def _ssi(x: Tensor, mask: Optional[Tensor], params: RawBoostParams, sample_rate: int,
         geo: tuple[Plan, int]) -> Tensor:
    time = x.shape[-1]
    if params.ssi_noise is not None:   # explicit (reference-compatible) noise
        noise = params.ssi_noise.to(device=x.device, dtype=x.dtype, non_blocking=True)
        if noise.shape[-1] < time:
            raise ValueError("params.ssi_noise is shorter than x; apply params to the "
                             "signals they were drawn for")
        noise = _masked(noise[:, :time], mask)
    else:
        noise = _masked(normal(params.ssi_seed, time, x.dtype, x.device, SSI_STREAMS), mask)
    plan, width = geo
    spectrum = cascade_spectra(params.ssi.to(x.device), sample_rate, plan, width, x.dtype)
    noise = _masked(overlap_save(torch.fft.rfft(frames(noise, plan)) * spectrum, plan, time),
                    mask)
    noise = _peak_normalise(noise, always=True)
    noise_norm = torch.linalg.vector_norm(noise, dim=-1, keepdim=True)
    noise_norm = torch.where(noise_norm > 0, noise_norm, torch.ones_like(noise_norm))
    x_norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    snr = params.ssi_snr_db.to(device=x.device, dtype=x.dtype, non_blocking=True)[:, None]
    return x + noise / noise_norm * x_norm / 10.0 ** (0.05 * snr)


def apply(x: Tensor, lengths: Optional[Tensor], params: Union[RawBoostParams,
          Sequence[Mapping[str, Any]]]) -> Tensor:
    """Apply drawn RawBoost ``params`` to a batch; deterministic.

    Args:
        x: waveforms, float ``(batch, time)``, any device; float64 is processed in
            float64, anything else in float32.
        lengths: valid samples per row, int ``(batch,)``; None means all of ``time``.
            Samples past a row's length are ignored and come back as zeros.
        params: from :func:`sample_params`, :func:`rawboost` or
            :meth:`RawBoostParams.from_list`, one item per row.

    Returns:
        The augmented batch, same shape, dtype and device as ``x``.
    """
    whole_rows = lengths is None
    x, lengths = check_batch(x, lengths)
    if not isinstance(params, RawBoostParams):
        params = RawBoostParams.from_list(params)
    if len(params) != x.shape[0]:
        raise ValueError(f"params hold {len(params)} items but x has {x.shape[0]} rows; "
                         "draw one item per row")
    out_dtype = x.dtype
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    steps = ALGORITHMS[params.algo]
    for step, field in (("lnl", "lnl"), ("isd", "isd_beta"), ("ssi", "ssi")):
        if (step in steps) != (getattr(params, field) is not None):
            verb = "lack" if step in steps else "carry"
            raise ValueError(f"params of algorithm {params.algo} {verb} the {step.upper()} "
                             f"step; draw them with sample_params for algorithm {params.algo}")
    time = x.shape[-1]
    if x.shape[0] == 0 or time == 0:
        return x.clone()
    # The shapes come from host-side bounds of the params (the settings' when drawn),
    # never from the draws, so nothing waits for the device.
    lnl_geometry = ssi_geometry = None
    if params.lnl is not None or params.ssi is not None:
        max_taps = params.max_taps if params.max_taps is not None else _largest_taps(params)
        if params.lnl is not None:
            lnl_geometry = geometry(params.lnl.taps.shape[-1], max_taps, time)
        if params.ssi is not None:
            ssi_geometry = geometry(params.ssi.taps.shape[-1], max_taps, time)
    share = 0.0
    if params.isd_beta is not None and params.isd_positions is None:
        top = params.max_beta_pct
        if top is None:  # hand-made params without the bound: read it (waits for x's device)
            top = float(params.isd_beta.max()) if params.isd_beta.numel() else 0.0
        share = min(1.0, max(0.0, top / 100))
    full = whole_rows or (lengths.device.type == "cpu" and bool((lengths == time).all()))
    mask = None if full else (torch.arange(time, device=x.device) < lengths[:, None]).to(dtype)
    x = _masked(x.to(dtype), mask)
    fs = params.sample_rate
    lnl = params.lnl.to(x.device) if params.lnl is not None else None
    if params.algo == 8:
        y = _lnl(x, mask, lengths, lnl, fs, lnl_geometry) + _isd(x, params, lengths, share)
        y = _peak_normalise(y, always=False)
    else:
        y = x
        for step in steps:
            if step == "lnl":
                y = _lnl(y, mask, lengths, lnl, fs, lnl_geometry)
            elif step == "isd":
                y = _isd(y, params, lengths, share)
            else:
                y = _ssi(y, mask, params, fs, ssi_geometry)
    return y.to(out_dtype)


def rawboost(x: Tensor, lengths: Optional[Tensor], algo: int, generator: torch.Generator,
             sample_rate: int = 16000, **params: Any) -> tuple[Tensor, RawBoostParams]:
    """Draw RawBoost parameters from ``generator`` and apply them to the batch.

    Args:
        x: waveforms, float ``(batch, time)``, any device.
        lengths: valid samples per row, int ``(batch,)``, or None for all.
        algo: 1-8 (1 LnL, 2 ISD, 3 SSI, 4 = 1+2+3, 5 = 1+2, 6 = 1+3, 7 = 2+3,
            8 = LnL(x) + ISD(x)); 5 is the usual choice for LA-style training, 3 for DF.
        generator: the only source of randomness; the params are drawn on its device
            (use one on ``x``'s device: then nothing crosses between host and device).
        sample_rate: Hz.
        **params: :class:`RawBoostSettings` fields or the published names (``nBands``,
            ``minF``, ..., ``SNRmax``).

    Returns:
        ``(y, params_used)``: ``y`` like ``x``; ``params_used[i]`` is item ``i``'s plain
        data, and ``apply(x, lengths, params_used)`` reproduces ``y``.
    """
    x, lengths = check_batch(x, lengths)
    drawn = sample_params(x.shape[0], algo, generator, sample_rate, **params)
    return apply(x, lengths, drawn), drawn
