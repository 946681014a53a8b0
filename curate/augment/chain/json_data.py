"""Plain JSON data of the chain's logs: :func:`jsonable` (numbers, lists, notes of big
arrays) and a step's drawn params as plain per-row dicts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
from torch import Tensor


def jsonable(value: Any, max_items: int = 64) -> Any:
    """``value`` as plain JSON data: numpy scalars become numbers, small arrays lists,
    big arrays a ``"<array shape dtype>"`` note, paths strings."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, max_items) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, max_items) for v in value]
    if isinstance(value, np.ndarray) or isinstance(value, Tensor):
        arr = value.detach().cpu().numpy() if isinstance(value, Tensor) else value
        if arr.size <= max_items:
            return jsonable(arr.tolist(), max_items)
        return f"<array {tuple(arr.shape)} {arr.dtype}>"
    if isinstance(value, np.generic):
        return jsonable(value.item(), max_items)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def _rows(params: Any, host: Optional[Mapping[str, np.ndarray]] = None,
          index: Optional[Sequence[int]] = None) -> list[Any]:
    """A step's plain per-item rows (JSON data); tensor params from ``host`` (default:
    copied to the host now, in one transfer)."""
    from curate.augment.drawn import plain_rows

    return [jsonable(row) for row in plain_rows(params, host, index)]
