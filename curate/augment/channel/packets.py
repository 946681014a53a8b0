"""Packet loss: frames dropped by a counter-based draw per (seed, frame), concealed with
silence or the last received frame."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional, Union

import torch
from torch import Tensor

from curate.augment.channel.rows import _mask, _row_tensor
from curate.augment.counter_rng import uniform_frames
from curate.batch import check_batch

#: Counter-RNG stream of the packet-loss draws (see :mod:`curate.augment.counter_rng`).
PACKET_LOSS_STREAM = 16


def packet_loss(x: Tensor, lengths: Optional[Tensor], sample_rate: int,
                frame_ms: Union[float, Sequence[float], Tensor],
                loss: Union[float, Sequence[float], Tensor],
                seed: Union[int, Sequence[int], Tensor],
                conceal: Union[str, Sequence[str], Tensor] = "zero",
                min_frame_ms: Optional[float] = None) -> Tensor:
    """Drop frames of ``frame_ms`` ms, each independently with probability ``loss``.

    Frame ``k`` of a row is lost when the counter-based uniform of ``(seed, k)``
    (:func:`curate.augment.counter_rng.uniform_frames`, stream
    :data:`PACKET_LOSS_STREAM`) is below ``loss``: the same drops on any device and in
    any batch. Concealment: ``"zero"`` (silence) or ``"repeat"`` (the last received
    frame again; a lost first frame is silence).

    Args:
        x: float ``(batch, time)`` at ``sample_rate``.
        lengths: valid samples per row, or None.
        sample_rate: Hz.
        frame_ms: frame length, ms (rounded to whole samples, at least one), per row or
            for all.
        loss: probability that a frame is lost, per row or for all.
        seed: int per row or for all.
        conceal: "zero", "repeat", one of them per row, or a bool tensor ``(batch,)``
            (true: repeat).
        min_frame_ms: a lower bound of ``frame_ms`` known on the host, which sizes the
            frame draws when ``frame_ms`` is a tensor (None then: one draw per sample,
            slower, same result).
    """
    x, lengths = check_batch(x, lengths)
    batch, time = x.shape
    if batch == 0 or time == 0:
        return x.clone()
    dev = x.device
    rate = _row_tensor(loss, batch, dev, "loss")
    if isinstance(seed, Tensor):
        seeds = seed.to(dev, dtype=torch.int64, non_blocking=True).expand(batch)
    else:
        seeds = torch.tensor(seed, dtype=torch.int64).expand(batch).to(dev, non_blocking=True)
    if isinstance(conceal, Tensor):
        repeat: Union[bool, Tensor] = conceal.to(dev, dtype=torch.bool, non_blocking=True)
    else:
        modes = [conceal] * batch if isinstance(conceal, str) else list(conceal)
        if len(modes) != batch or any(m not in ("zero", "repeat") for m in modes):
            raise ValueError(f"conceal must be 'zero' or 'repeat' (or one per row), got "
                             f"{conceal!r}")
        repeat = all(m == "repeat" for m in modes) if len(set(modes)) == 1 else \
            torch.tensor([m == "repeat" for m in modes]).to(dev, non_blocking=True)
    if isinstance(frame_ms, Tensor):
        shortest = 1.0 if min_frame_ms is None else min_frame_ms * sample_rate / 1000
        frame = frame_ms.to(dev, dtype=torch.float64, non_blocking=True).expand(batch)
    else:
        host = [float(frame_ms)] * batch if isinstance(frame_ms, (int, float)) \
            else [float(v) for v in frame_ms]
        shortest = min(host) * sample_rate / 1000
        frame = torch.tensor(host, dtype=torch.float64).to(dev, non_blocking=True)
    frame = torch.clamp(torch.round(frame * sample_rate / 1000), min=1).to(torch.int64)
    shortest = max(1.0, float(round(shortest)))
    n = torch.arange(time, device=dev)
    index = n[None, :] // frame[:, None]                             # frame of each sample
    max_frames = int(math.ceil(time / shortest))
    lost = uniform_frames(seeds, max_frames + 1, PACKET_LOSS_STREAM, dev) < rate[:, None]
    x = _mask(x, lengths)
    sample_lost = lost.gather(1, index.clamp(max=max_frames))
    y = torch.where(sample_lost, torch.zeros((), dtype=x.dtype, device=dev), x)
    if repeat is not False:
        frames = torch.arange(max_frames + 1, device=dev).expand(batch, -1)
        kept = torch.where(lost, torch.full_like(frames, -1), frames)
        last_kept = torch.cummax(kept, dim=1).values                # -1: none received yet
        src_frame = last_kept.gather(1, index.clamp(max=max_frames))
        src = src_frame * frame[:, None] + (n[None, :] - index * frame[:, None])
        filled = torch.where(src_frame >= 0, x.gather(1, src.clamp(0, time - 1)),
                             torch.zeros((), dtype=x.dtype, device=dev))
        use = sample_lost if repeat is True else repeat[:, None] & sample_lost
        y = torch.where(use, filled, y)
    return _mask(y, lengths)
