"""The device stage's log of a batch (:class:`AppliedSteps`), copied to the host in one
transfer when it is first read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
from torch import Tensor

from curate.augment.chain.json_data import _rows


class AppliedSteps(Sequence):
    """The device stage's log of a batch: ``applied[i]`` is the list of
    ``{"step": name, "params": {...}}`` that ran on row ``i``.

    Built lazily: the device stage keeps the drawn tensors and which rows each step
    touched, and nothing is copied to the host until the log is read. The first read
    copies all of it in **one transfer** (:func:`curate.augment.drawn.to_host`) and
    makes the plain rows; a log that is never read (augmentation logging off) costs
    nothing. Compares equal to another log or list with the same rows;
    :meth:`to_list` gives a plain list (for ``json.dumps``).
    """

    def __init__(self, batch: int, drawn: Sequence[tuple[str, Tensor, Any]]) -> None:
        self._batch = batch
        self._drawn = list(drawn)       # (step name, chosen rows (bool), params)
        self._plain: Optional[list[list[dict]]] = None

    def __len__(self) -> int:
        return self._batch

    def __getitem__(self, i: Any) -> Any:
        return self.to_list()[i]

    def __iter__(self) -> Any:
        return iter(self.to_list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return self.to_list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        state = "read" if self._plain is not None else "not read"
        return f"AppliedSteps({self._batch} rows, {len(self._drawn)} steps, {state})"

    def to_list(self) -> list[list[dict]]:
        """The rows as plain lists (copied to the host on the first call, in one transfer)."""
        if self._plain is None:
            from curate.augment.drawn import to_host

            tensors: dict[str, Tensor] = {}
            for k, (_, chosen, params) in enumerate(self._drawn):
                tensors[f"{k}/chosen"] = chosen
                if hasattr(params, "tensors"):
                    tensors.update({f"{k}/{key}": t for key, t in params.tensors().items()})
            host = to_host(tensors)
            plain: list[list[dict]] = [[] for _ in range(self._batch)]
            for k, (name, _, params) in enumerate(self._drawn):
                prefix = f"{k}/"
                own = {key[len(prefix):]: v for key, v in host.items()
                       if key.startswith(prefix)}
                rows = np.flatnonzero(own.pop("chosen")).tolist()
                for row, item in zip(rows, _rows(params, own, rows)):
                    plain[row].append({"step": name, "params": item})
            self._plain = plain
            self._drawn = []
        return self._plain
