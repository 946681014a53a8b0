"""The device stage of a chain: its steps run in file order on a batch on the training
device, each kept per row with probability ``p``, with no host round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import torch
from torch import Tensor

from curate.augment.chain.applied import AppliedSteps
from curate.augment.chain.step import Step


def run_device_steps(steps: Sequence[Step], x: Tensor, lengths: Optional[Tensor],
                     generator: torch.Generator) -> tuple[Tensor, AppliedSteps]:
    """Run ``steps`` on a batch (see :meth:`curate.augment.chain.Chain.device_stage`).

    Each step draws ``u ~ U[0, 1)`` per row, then its parameters for every row (tensors
    on the generator's device), applies them to the whole batch and keeps the result on
    the rows with ``u < p`` (``torch.where``).

    Args:
        steps: the chain's device steps, in run order.
        x: float ``(batch, time)``, any device.
        lengths: valid samples per row, int ``(batch,)`` (None: all).
        generator: draws ``p`` per row and each step's parameters.

    Returns:
        ``(y, applied)``: ``y`` like ``x``; ``applied`` the lazily copied log.
    """
    from curate.batch import check_batch

    x, lengths = check_batch(x, lengths)
    batch = x.shape[0]
    drawn = []
    for step in steps:
        u = torch.rand(batch, generator=generator, device=generator.device,
                       dtype=torch.float64)
        if step.p <= 0 or batch == 0:
            continue
        params = step.runner.draw(batch, generator)
        y = step.runner.apply(x, lengths, params).to(x.dtype)
        chosen = (u < step.p).to(x.device, non_blocking=True)
        x = torch.where(chosen[:, None], y, x)
        drawn.append((step.name, chosen, params))
    return x, AppliedSteps(batch, drawn)
