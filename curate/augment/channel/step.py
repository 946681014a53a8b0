"""The base of the channel steps: validated settings, ``sample_params`` (per-row draws as
tensors), ``apply`` (deterministic; replays plain dicts) and the draw-and-apply call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Optional, Union

import torch
from torch import Tensor

from curate.augment.channel.draws import _check_count, _check_generator
from curate.augment.drawn import StepParams
from curate.batch import check_batch

Params = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class _Step:
    """Base of the tensor steps: settings (validated), draws and replay.

    A subclass names its per-row parameters (``keys_``, the plain dicts' keys in
    order; ``categorical_``, those drawn from a list of options), draws them as a
    :class:`StepParams` in ``_draw`` and applies the tensors in ``_apply``.
    """

    name: ClassVar[str] = ""
    keys_: ClassVar[tuple[str, ...]] = ()
    categorical_: ClassVar[tuple[str, ...]] = ()
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, int) \
                or self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer in Hz, got "
                             f"{self.sample_rate!r}")
        self.validate()

    def validate(self) -> None:  # pragma: no cover - overridden
        pass

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The settings a chain step may give (TOML keys)."""
        return tuple(f.name for f in fields(cls))

    def sample_params(self, batch: int, generator: torch.Generator) -> StepParams:
        """Per-row parameters drawn from ``generator``, as tensors on its device
        (``params[i]`` / iterating give plain dicts)."""
        _check_generator(generator)
        return self._draw(_check_count(batch), generator)

    def _draw(self, batch: int, generator: torch.Generator) -> StepParams:
        raise NotImplementedError

    def params_from_list(self, rows: Params) -> StepParams:
        """Params from plain dicts (``params.to_list()``, e.g. read back from a log).

        Raises:
            KeyError: a dict lacks one of the step's keys.
        """
        return StepParams.from_rows(rows, self.keys_, self.categorical_, self._defaults())

    def _defaults(self) -> dict[str, Any]:
        return {}

    def apply(self, x: Tensor, lengths: Optional[Tensor],
              params: Union[StepParams, Params]) -> Tensor:
        """Apply drawn ``params`` (:class:`StepParams` or one dict per row); deterministic."""
        x, lengths = check_batch(x, lengths)
        if len(params) != x.shape[0]:
            raise ValueError(f"params hold {len(params)} items but x has {x.shape[0]} rows; "
                             "draw one item per row")
        if not isinstance(params, StepParams):
            try:
                params = self.params_from_list(params)
            except KeyError as exc:
                raise ValueError(f"{self.name} params lack {exc}; pass dicts from "
                                 "sample_params") from None
        return self._apply(x, lengths, params.to(x.device))

    def _apply(self, x: Tensor, lengths: Tensor, params: StepParams) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Tensor, lengths: Optional[Tensor], generator: torch.Generator
                 ) -> tuple[Tensor, list[dict[str, Any]]]:
        """Draw, apply, and return the params as plain dicts (one transfer to the host)."""
        params = self.sample_params(x.shape[0], generator)
        return self.apply(x, lengths, params), params.to_list()
