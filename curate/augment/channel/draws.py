"""Parameter draws of the channel steps: uniform and categorical draws on the generator's
device, the checks of ``sample_params``' arguments, and :class:`StepParams` assembly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import torch
from torch import Tensor

from curate.augment.drawn import StepParams


def _uniform(generator: torch.Generator, n: int, low: float, high: float) -> Tensor:
    """float64 ``(n,)`` uniform in [low, high) on the generator's device."""
    u = torch.rand(n, generator=generator, device=generator.device, dtype=torch.float64)
    return low + (high - low) * u


def _choice(generator: torch.Generator, n: int, options: Sequence[Any]
            ) -> tuple[Tensor, tuple]:
    """A categorical draw: ``(index (n,), options)`` on the generator's device."""
    options = tuple(options)
    index = torch.randint(len(options), (n,), generator=generator, device=generator.device)
    return index, options


def _check_generator(generator: Any) -> None:
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator must be a torch.Generator (e.g. "
                         "torch.Generator().manual_seed(0)); there is no global default")


def _check_count(batch: Any) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
        raise ValueError(f"batch must be an integer >= 0, got {batch!r}")
    return batch


def _params(batch: int, keys: Sequence[str], values: Optional[dict[str, Tensor]] = None,
            choices: Optional[dict[str, tuple[Tensor, tuple]]] = None,
            bounds: Optional[dict[str, Any]] = None) -> StepParams:
    return StepParams(batch, values or {}, choices or {}, tuple(keys), bounds or {})
