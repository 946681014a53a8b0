"""RawBoost as a step of an augmentation chain (``name = "rawboost"`` in a chain TOML)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Optional, Union

import torch
from torch import Tensor

from curate.augment.rawboost.functional import apply, rawboost
from curate.augment.rawboost.params import RawBoostParams
from curate.augment.rawboost.sampling import sample_params
from curate.augment.rawboost.settings import RawBoostSettings, check_algo

__all__ = ["RawBoostStep"]


@dataclass(frozen=True)
class RawBoostStep(RawBoostSettings):
    """RawBoost as a step of an augmentation chain (TOML ``name = "rawboost"``).

    Its fields are the TOML keys: ``algo``, ``sample_rate`` and every
    :class:`RawBoostSettings` field (snake_case). Like the other chain steps it has
    ``sample_params(batch, generator) -> params`` (tensors on the generator's device,
    indexable as plain dicts), ``apply(x, lengths, params)`` (params or plain dicts) and
    ``step(x, lengths, generator) -> (y, plain dicts)``.
    """

    name: ClassVar[str] = "rawboost"
    algo: int = 5
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        check_algo(self.algo)
        self.validate(self.sample_rate)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The settings a chain step may give (TOML keys)."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_settings(cls, algo: int, sample_rate: int, **params: Any) -> "RawBoostStep":
        """A step from settings under their snake_case or published names (``P``,
        ``SNRmin``, ...); a ValueError names a bad one."""
        check_algo(algo)
        settings = RawBoostSettings.from_params(sample_rate, **params)
        return cls(algo=algo, sample_rate=sample_rate, **asdict(settings))

    def settings(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(RawBoostSettings)}

    def sample_params(self, batch: int, generator: torch.Generator) -> RawBoostParams:
        """Per-row parameters drawn from ``generator``, as tensors on its device
        (``params[i]`` / ``params.to_list()`` give plain dicts)."""
        return sample_params(batch, self.algo, generator, self.sample_rate, **self.settings())

    def apply(self, x: Tensor, lengths: Optional[Tensor],
              params: Union[RawBoostParams, Sequence[Mapping[str, Any]]]) -> Tensor:
        """Apply drawn ``params`` (one per row); deterministic."""
        return apply(x, lengths, params)

    def __call__(self, x: Tensor, lengths: Optional[Tensor], generator: torch.Generator
                 ) -> tuple[Tensor, list[dict[str, Any]]]:
        """Draw, apply, and return the params as plain dicts (one transfer to the host)."""
        y, params = rawboost(x, lengths, self.algo, generator, self.sample_rate,
                             **self.settings())
        return y, params.to_list()
