"""Row helpers of the channel transforms: zeroing samples past each row's length, and
per-row arguments as float64 ``(batch,)`` tensors on the batch's device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch
from torch import Tensor


def _mask(x: Tensor, lengths: Tensor) -> Tensor:
    keep = torch.arange(x.shape[-1], device=x.device) < lengths[:, None]
    return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))


def _row_tensor(values: Union[float, Sequence[float], Tensor], batch: int,
                device: torch.device, name: str) -> Tensor:
    """float64 ``(batch,)`` on ``device``: a tensor is moved (without waiting for the
    device), a number repeated, a list copied from the host."""
    if isinstance(values, Tensor):
        t = values.to(device=device, dtype=torch.float64, non_blocking=True)
    elif isinstance(values, (int, float)):
        t = torch.full((batch,), float(values), dtype=torch.float64, device=device)
    else:
        t = torch.tensor(values, dtype=torch.float64).to(device, non_blocking=True)
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"{name} must be one number or one per row ({batch}), got shape "
                         f"{tuple(t.shape)}")
    return t
