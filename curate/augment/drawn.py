"""Drawn parameters that stay on the device, and their one-transfer copy to the host.

The device stage draws every parameter as a tensor on the generator's device and applies
it there: nothing is read back while augmenting. Plain per-item data (JSON rows for the
``augment_log`` table) is made only when asked for, by :func:`to_host`: every tensor of
a batch is packed into one int64 buffer on its device, copied to the host in **one
transfer**, and unpacked there.

:class:`StepParams` holds the draws of a channel step (``g711``, ``telephone``,
``bandlimit``, ...): one tensor per parameter, one row per item; indexing or iterating
gives plain dicts, as the steps logged before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Union

import numpy as np
import torch
from torch import Tensor

__all__ = ["to_host", "StepParams", "plain_rows"]

_NUMPY = {torch.float64: np.float64, torch.float32: np.float32, torch.float16: np.float16,
          torch.bfloat16: np.float32, torch.int64: np.int64, torch.int32: np.int32,
          torch.int16: np.int16, torch.int8: np.int8, torch.uint8: np.uint8,
          torch.bool: np.bool_}


def to_host(tensors: Mapping[str, Tensor]) -> dict[str, np.ndarray]:
    """Copy ``tensors`` to the host in one transfer per device; numpy arrays back.

    Every tensor is flattened and reinterpreted as int64 (float64 bit for bit; other
    floats widened to float64, integers and booleans to int64), the pieces are
    concatenated on their device, copied with a single ``.cpu()``, and cut and cast back
    to each tensor's shape and dtype on the host.
    """
    out: dict[str, np.ndarray] = {}
    by_device: dict[torch.device, list[tuple[str, Tensor]]] = {}
    for name, t in tensors.items():
        by_device.setdefault(t.device, []).append((name, t.detach()))
    for items in by_device.values():
        pieces = []
        for _, t in items:
            wide = t.to(torch.float64) if t.is_floating_point() else t.to(torch.int64)
            wide = wide.reshape(-1)
            pieces.append(wide.view(torch.int64) if wide.is_floating_point() else wide)
        buffer = torch.cat(pieces).cpu().numpy() if pieces else np.zeros(0, np.int64)
        offset = 0
        for name, t in items:
            chunk = buffer[offset:offset + t.numel()]
            offset += t.numel()
            if t.is_floating_point():
                chunk = chunk.view(np.float64)
            out[name] = chunk.astype(_NUMPY.get(t.dtype, chunk.dtype), copy=False) \
                .reshape(tuple(t.shape))
    return out


@dataclass
class StepParams:
    """The draws of a tensor step for a batch: tensors on the generator's device.

    ``params[i]`` (or iterating, or :meth:`to_list`) gives item ``i`` as a plain dict
    (JSON-ready, loggable); each such access copies every tensor to the host in one
    transfer (:func:`to_host`; keep ``to_list()`` when reading many items). Steps apply
    the tensors directly. Equal to another StepParams or a list of dicts with the same
    plain data.

    Attributes:
        batch: items.
        values: numeric parameters, name -> ``(batch,)`` tensor (int64 or float64).
        choices: categorical parameters, name -> ``(index, options)``: ``index`` int64
            ``(batch,)`` into the tuple ``options`` (e.g. ``("mu", "a")``).
        order: the keys of the plain dicts, in order.
        bounds: host-side facts the step needs to size its work without reading the
            draws (e.g. the shortest packet-loss frame possible), not per item.
    """

    batch: int
    values: dict[str, Tensor] = field(default_factory=dict)
    choices: dict[str, tuple[Tensor, tuple[Any, ...]]] = field(default_factory=dict)
    order: tuple[str, ...] = ()
    bounds: dict[str, Any] = field(default_factory=dict)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared as plain data

    def __len__(self) -> int:
        return self.batch

    def tensors(self) -> dict[str, Tensor]:
        """Every tensor, by name (what :func:`to_host` copies)."""
        out = dict(self.values)
        out.update({name: index for name, (index, _) in self.choices.items()})
        return out

    def rows(self, host: Mapping[str, np.ndarray],
             index: Optional[Sequence[int]] = None) -> list[dict[str, Any]]:
        """Plain dicts of the items at ``index`` (default all) from :meth:`tensors` on the host."""
        columns = {}
        for name in self.order:
            if name in self.choices:
                options = self.choices[name][1]
                columns[name] = [options[k] for k in host[name].tolist()]
            else:
                columns[name] = host[name].tolist()
        items = range(self.batch) if index is None else index
        return [{name: columns[name][i] for name in self.order} for i in items]

    def to_list(self) -> list[dict[str, Any]]:
        """All items as plain dicts (one transfer)."""
        return self.rows(to_host(self.tensors()))

    def __getitem__(self, i: Union[int, slice]) -> Any:
        return self.to_list()[i]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.to_list())

    def __eq__(self, other: object) -> bool:
        """Equal as plain data to another StepParams or a list of dicts."""
        if isinstance(other, StepParams):
            return self.to_list() == other.to_list()
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return self.to_list() == list(other)
        return NotImplemented

    def to(self, device: Union[str, torch.device]) -> "StepParams":
        """The same params with every tensor on ``device`` (from the host without waiting
        for the device)."""
        def move(t: Tensor) -> Tensor:
            return t.to(device, non_blocking=t.device.type == "cpu")
        return StepParams(self.batch, {k: move(v) for k, v in self.values.items()},
                          {k: (move(i), o) for k, (i, o) in self.choices.items()},
                          self.order, dict(self.bounds))

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]], order: Sequence[str],
                  categorical: Sequence[str], defaults: Optional[Mapping[str, Any]] = None,
                  device: Union[None, str, torch.device] = None) -> "StepParams":
        """Params from plain dicts (a log read back): the inverse of :meth:`to_list`.

        Raises:
            KeyError: a dict lacks a key of ``order`` (and ``defaults`` has none).
        """
        rows = [{**(defaults or {}), **row} for row in rows]
        out = cls(len(rows), order=tuple(order))
        for name in order:
            column = [row[name] for row in rows]
            if name in categorical:
                options = tuple(dict.fromkeys(column))
                where = {v: k for k, v in enumerate(options)}
                out.choices[name] = (torch.tensor([where[v] for v in column], dtype=torch.int64,
                                                  device=device), options)
            else:
                integral = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                               for v in column)
                out.values[name] = torch.tensor(column, device=device,
                                                dtype=torch.int64 if integral else torch.float64)
        return out

    def mask(self, name: str, option: Any) -> Tensor:
        """Bool ``(batch,)``: the items whose categorical ``name`` is ``option``.

        Made with comparisons on the device (no lookup table is copied there).
        """
        index, options = self.choices[name]
        out = torch.zeros(index.shape, dtype=torch.bool, device=index.device)
        for k, value in enumerate(options):
            if value == option:
                out |= index == k
        return out

    def has(self, name: str, option: Any) -> bool:
        """Whether ``option`` can occur for ``name`` (a host-side fact: the options)."""
        return option in self.choices[name][1]


def plain_rows(params: Any, host: Optional[Mapping[str, np.ndarray]] = None,
               index: Optional[Sequence[int]] = None) -> list[Any]:
    """Plain per-item rows of any step's params: tensor params (``tensors`` / ``rows``)
    from ``host`` (default: copied now) or a list of dicts as it is."""
    if hasattr(params, "rows") and hasattr(params, "tensors"):
        return params.rows(to_host(params.tensors()) if host is None else host, index)
    items = list(params)
    return items if index is None else [items[i] for i in index]
