"""One step of a chain: its place, name, probability, stage, settings and runner."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from curate.augment.chain.json_data import _rows


@dataclass(frozen=True, eq=False)
class Step:
    """One step of a chain.

    Attributes:
        index: 1-based position in the file.
        name: step name (``codec``, ``rawboost``, ``audiomentations.Gain``, ...).
        p: probability per utterance.
        stage: "cpu" (per utterance, in the loader workers) or "device" (per batch).
        settings: the step's other keys as given.
    """

    index: int
    name: str
    p: float
    stage: str
    settings: Mapping[str, Any]
    runner: Any = field(repr=False, compare=False)

    @property
    def is_tensor(self) -> bool:
        """Whether the step is a tensor step (runs on a batch; may run in either stage)."""
        return hasattr(self.runner, "draw")

    def run_tensor(self, x: Tensor, lengths: Tensor, generator: torch.Generator,
                   ) -> tuple[Tensor, list[dict]]:
        """Draw and apply the step on every row; returns its plain rows too (one
        transfer: for the CPU stage, where the rows are wanted at once)."""
        params = self.runner.draw(x.shape[0], generator)
        return self.runner.apply(x, lengths, params), _rows(params)
