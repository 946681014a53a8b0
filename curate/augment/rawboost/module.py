"""RawBoost as a layer (a thin ``nn.Module`` over :func:`~curate.augment.rawboost.rawboost`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any, Optional

import torch
from torch import Tensor, nn

from curate.augment.rawboost.functional import rawboost
from curate.augment.rawboost.params import RawBoostParams
from curate.augment.rawboost.settings import ALIASES, RawBoostSettings, check_algo

__all__ = ["RawBoost"]


class RawBoost(nn.Module):
    """RawBoost as a layer: ``y = RawBoost(algo=5)(x, lengths)``.

    Draws from its own ``torch.Generator`` (seeded by ``seed``; its state is part of
    ``state_dict()``) unless ``forward`` is given one. That generator is a CPU one:
    on an accelerator its draws (a few hundred numbers per item) are copied to ``x``'s
    device without waiting for it; pass ``generator`` on ``x``'s device to draw there. The params of the last call are
    kept in ``last_params`` for logging. Works the same in train and eval mode: call it
    where augmentation is wanted.

    Args:
        algo: RawBoost algorithm, 1-8.
        sample_rate: Hz.
        seed: seed of the module's generator.
        **params: :class:`RawBoostSettings` fields or the published names.
    """

    def __init__(self, algo: int = 5, sample_rate: int = 16000, seed: int = 0,
                 **params: Any) -> None:
        super().__init__()
        self.algo = check_algo(algo)
        self.sample_rate = int(sample_rate)
        self.settings = RawBoostSettings.from_params(sample_rate, **params)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.last_params: Optional[RawBoostParams] = None

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> Tensor:
        """x: float ``(batch, time)``; lengths: int ``(batch,)`` or None -> ``(batch, time)``."""
        y, self.last_params = rawboost(x, lengths, self.algo, generator or self.generator,
                                       self.sample_rate, **asdict(self.settings))
        return y

    def get_extra_state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])

    def extra_repr(self) -> str:
        return f"algo={self.algo}, sample_rate={self.sample_rate}"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], where: str = "rawboost step") -> "RawBoost":
        """A module from a TOML table (``algo``, ``sample_rate``, ``seed``, settings).

        Raises:
            ValueError: naming ``where`` and the bad key, with the keys that are allowed.
        """
        config = dict(config)
        config.pop("name", None)
        config.pop("step", None)
        known = {"algo", "sample_rate", "seed"} | {f.name for f in fields(RawBoostSettings)} \
            | set(ALIASES)
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}; allowed keys are "
                             f"{', '.join(sorted(known - set(ALIASES)))}")
        try:
            return cls(**config)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
