"""Expanding an ablation into runs: cells x seeds, each a set of experiment overrides."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

from curate.ablate.spec import AblationSpec
from curate.errors import CurateError


@dataclass(frozen=True)
class PlannedRun:
    """One run of an ablation: a cell (one level per factor) and a seed."""

    cell: str  # "factor=label,factor=label"
    levels: tuple[tuple[str, str], ...]  # (factor, label) in factor order
    repeat: int  # index into the ablation's seeds
    seed: int | None
    overrides: tuple[tuple[str, object], ...]  # dotted experiment key -> value

    @property
    def run_name(self) -> str:
        """The experiment name of this run (the run_id adds a content hash)."""
        parts = "-".join(f"{f}_{label}" for f, label in self.levels)
        return f"{parts}-r{self.repeat}"


def cell_name(levels: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f"{factor}={label}" for factor, label in levels)


def expand(spec: AblationSpec) -> list[PlannedRun]:
    """Every run of ``spec``, in a stable order (cells in factor order, then seeds).

    Raises:
        CurateError: when two factors of one cell set the same experiment key.
    """
    if spec.mode == "list":
        cells = list(spec.cells)
    else:
        cells = [tuple((f.name, level.label) for f, level in zip(spec.factors, combo))
                 for combo in itertools.product(*(f.levels for f in spec.factors))]
    by_name = {f.name: f for f in spec.factors}
    runs = []
    for levels in cells:
        merged: dict[str, object] = {}
        owner: dict[str, str] = {}
        for factor, label in levels:
            for key, value in by_name[factor].level(label).overrides:
                if key in merged and owner[key] != factor:
                    raise CurateError(f"{spec.name}: factors {owner[key]!r} and {factor!r} "
                                      f"both set {key!r}; give each key to one factor")
                merged[key] = value
                owner[key] = factor
        for repeat, seed in enumerate(spec.seeds):
            overrides = dict(merged)
            if seed is not None:
                overrides["seed"] = seed
            runs.append(PlannedRun(cell_name(levels), tuple(levels), repeat, seed,
                                   tuple(sorted(overrides.items()))))
    return runs


def apply_overrides(base: dict, overrides) -> dict:
    """A deep copy of ``base`` with dotted ``overrides`` set (tables created as needed)."""
    out = copy.deepcopy(base)
    for key, value in dict(overrides).items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out
