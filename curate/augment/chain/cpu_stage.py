"""The CPU stage of a chain: its steps run in file order on one utterance (numpy in and
out), each with probability ``p``, drawing from the utterance's generator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from curate.augment.chain.json_data import jsonable
from curate.augment.chain.step import Step


def run_cpu_steps(steps: Sequence[Step], sample_rate: int, x: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """Run ``steps`` on one utterance (see :meth:`curate.augment.chain.Chain.cpu_stage`).

    Args:
        steps: the chain's CPU steps, in run order.
        sample_rate: Hz of ``x`` (the chain's).
        x: float mono ``(time,)``.
        rng: the utterance's generator; draws ``p`` and each step's parameters.

    Returns:
        ``(y, applied)``: ``y`` float32 ``(time,)`` (a step that changes the length is cut
        or zero-padded back), ``applied`` the steps that ran with their params.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"x must be mono (time,), got shape {x.shape}")
    n = x.shape[0]
    applied: list[dict] = []
    y = x
    for step in steps:
        if rng.random() >= step.p:
            continue
        if step.is_tensor:
            generator = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
            t, plain = step.run_tensor(torch.from_numpy(np.ascontiguousarray(y))[None],
                                       torch.tensor([len(y)]), generator)
            y, params = t[0].numpy(), plain[0]
        else:
            y, params = step.runner.run(y, sample_rate, rng)
        y = _fit(np.asarray(y, dtype=np.float32), n)
        applied.append({"step": step.name, "params": jsonable(params)})
    return y, applied


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    if y.ndim != 1:
        y = y.reshape(-1)
    if y.shape[0] >= n:
        return y[:n]
    return np.concatenate([y, np.zeros(n - y.shape[0], np.float32)])
