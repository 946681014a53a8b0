"""Checks of the channel steps' settings: finite numbers in a range, ordered ranges, odd
filter lengths, G.711 laws; each failure is a ``ValueError`` naming the setting and the
fix."""

from __future__ import annotations

import math
from typing import Any, Optional

from curate.augment.codec import LAWS


def _number(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def _range(lo_name: str, lo: Any, hi_name: str, hi: Any, low: float = -math.inf,
           high: float = math.inf) -> None:
    _number(lo_name, lo, low, high)
    _number(hi_name, hi, low, high)
    if lo > hi:
        raise ValueError(f"{lo_name}={lo} must be <= {hi_name}={hi}; swap them")


def _odd_taps(taps: Any) -> None:
    if isinstance(taps, bool) or not isinstance(taps, int) or taps < 3 or taps % 2 == 0:
        raise ValueError(f"taps must be an odd integer >= 3, got {taps!r}")


def _laws(value: Any, allow_none: bool) -> tuple[Optional[str], ...]:
    options = list(value) if isinstance(value, (list, tuple)) else [value]
    allowed = LAWS + (("none",) if allow_none else ())
    for v in options:
        if (v is None and not allow_none) or (v is not None and v not in allowed):
            raise ValueError(f"law must be one of {', '.join(map(repr, allowed))} or a list "
                             f"of them, got {value!r}")
    if not options:
        raise ValueError("law is an empty list; give at least one law")
    return tuple(None if v in (None, "none") else v for v in options)
