"""The batch contract of every tensor function (augmentations and detectors): ``(batch,
time)`` + ``lengths``; the one validator of the package."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def check_batch(x: Tensor, lengths: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """Validate ``x`` (float ``(batch, time)``) and ``lengths`` (int ``(batch,)`` valid
    samples per row, or None for full rows); returns ``lengths`` as int64 on ``x``'s
    device. Out-of-range lengths are an error on the CPU and clamped on an accelerator
    (checking there would wait for the device)."""
    if not isinstance(x, Tensor) or x.ndim != 2 or not x.is_floating_point():
        raise ValueError("x must be a float tensor of shape (batch, time), got "
                         f"{getattr(x, 'dtype', type(x).__name__)} of shape "
                         f"{tuple(getattr(x, 'shape', ()))}; use x[None] for one utterance")
    batch, time = x.shape
    if lengths is None:
        lengths = torch.full((batch,), time, dtype=torch.int64, device=x.device)
    else:
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (batch,) or lengths.is_floating_point() or lengths.is_complex():
            raise ValueError(f"lengths must be integers of shape ({batch},) (valid samples "
                             f"per row of x), got {lengths.dtype} of shape "
                             f"{tuple(lengths.shape)}")
        lengths = lengths.to(torch.int64)
        if lengths.device.type == "cpu":
            if batch and bool(((lengths < 0) | (lengths > time)).any()):
                raise ValueError(f"lengths must lie in [0, {time}] (the time axis of x), "
                                 f"got {lengths.tolist()}")
            lengths = lengths.to(x.device, non_blocking=True)   # does not wait for x's device
        else:  # checking values on an accelerator would wait for it; clamp instead
            lengths = lengths.to(x.device).clamp(0, time)
    return x, lengths
