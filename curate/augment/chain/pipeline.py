"""A parsed chain (:class:`Chain`): its steps in file order and the two stages that run
them, CPU steps per utterance and then device steps per batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from curate.augment.chain.applied import AppliedSteps
from curate.augment.chain.cpu_stage import run_cpu_steps
from curate.augment.chain.device_stage import run_device_steps
from curate.augment.chain.step import Step


@dataclass(frozen=True, eq=False)
class Chain:
    """A parsed chain (see :mod:`curate.augment.chain`); build with :func:`load_chain`."""

    sample_rate: int
    seed: int
    steps: tuple[Step, ...]
    source: str = "<chain>"
    notes: tuple[str, ...] = ()

    @property
    def cpu_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.stage == "cpu")

    @property
    def device_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.stage == "device")

    @property
    def has_cpu_steps(self) -> bool:
        return bool(self.cpu_steps)

    @property
    def has_device_steps(self) -> bool:
        return bool(self.device_steps)

    @property
    def reordered(self) -> bool:
        """True when the run order (CPU steps, then device steps) differs from the file."""
        return [s.index for s in self.cpu_steps + self.device_steps] != \
            [s.index for s in self.steps]

    def _check_rate(self, sample_rate: int) -> None:
        if int(sample_rate) != self.sample_rate:
            raise ValueError(f"audio at {sample_rate} Hz given to a chain for "
                             f"{self.sample_rate} Hz ({self.source}); resample it first or "
                             "change sample_rate in the chain")

    def cpu_stage(self, x: np.ndarray, sample_rate: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, list[dict]]:
        """Run the CPU steps on one utterance (in a DataLoader worker).

        Args:
            x: float mono ``(time,)`` at the chain's sample rate.
            sample_rate: Hz of ``x`` (must be the chain's).
            rng: the utterance's generator (see :func:`utterance_rng`).

        Returns:
            ``(y, applied)``: ``y`` float32 ``(time,)`` (a step that changes the length is
            cut or zero-padded back), ``applied`` the steps that ran with their params.
        """
        self._check_rate(sample_rate)
        return run_cpu_steps(self.cpu_steps, self.sample_rate, x, rng)

    def device_stage(self, x: Tensor, lengths: Optional[Tensor], generator: torch.Generator
                     ) -> tuple[Tensor, AppliedSteps]:
        """Run the device steps on a batch (on the training device), with no host round
        trip.

        Each step draws ``u ~ U[0, 1)`` per row, then its parameters for every row (as
        tensors on the generator's device), applies them to the whole batch and keeps
        the result on the rows with ``u < p`` (``torch.where``): no value is read back
        and no Python loop runs over rows. Use a generator on ``x``'s device (as the
        training loop does) and nothing crosses between host and device.

        Args:
            x: float ``(batch, time)`` at the chain's rate, any device.
            lengths: valid samples per row, int ``(batch,)`` (None: all).
            generator: draws ``p`` per row and each step's parameters.

        Returns:
            ``(y, applied)``: ``y`` like ``x``; ``applied[i]`` the steps that ran on row
            ``i`` with their params, an :class:`AppliedSteps` copied to the host in one
            transfer when first read (never, when augmentation is not logged).
        """
        return run_device_steps(self.device_steps, x, lengths, generator)

    def apply_offline(self, x: np.ndarray, sample_rate: int, rng: np.random.Generator,
                      generator: torch.Generator) -> tuple[np.ndarray, list[dict]]:
        """Both stages on one utterance, as training runs them (CPU then device steps)."""
        y, applied = self.cpu_stage(x, sample_rate, rng)
        if self.has_device_steps:
            t, rows = self.device_stage(torch.from_numpy(np.ascontiguousarray(y))[None],
                                        torch.tensor([len(y)]), generator)
            y = t[0].numpy()
            applied = applied + list(rows[0])
        return np.asarray(y, dtype=np.float32), applied

    def describe(self) -> list[str]:
        """One line per step, in run order."""
        return [f"{s.stage:6s} step {s.index}: {s.name} (p={s.p:g})"
                for s in self.cpu_steps + self.device_steps]
