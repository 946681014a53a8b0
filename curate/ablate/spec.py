"""Ablation files: a base experiment and factors whose levels override its keys.

::

    name = "rawboost_x_sam"
    base = "../experiments/demo.toml"   # an experiment file (relative to this file), or
    # [base] ...                        # an inline experiment table
    set = { "train.steps" = 120 }       # overrides applied to every run
    repeats = 2                         # runs per cell; seeds base.seed + 0, 1, ...
    # seeds = [0, 1, 2]                 # or explicit seeds
    mode = "factorial"                  # or "list" with [[run]] tables

    [[factor]]
    name = "rawboost"
    levels = [
      { label = "off", set = { augment = "" } },
      { label = "algo5", set = { augment = "rawboost5.toml" } },
    ]

    [[factor]]
    name = "sam"
    levels = [
      { label = "off", set = { "sam.enabled" = false } },
      { label = "rho0.05", set = { "sam.enabled" = true, "sam.rho" = 0.05 } },
    ]

    [[run]]                             # mode = "list" only
    levels = { rawboost = "algo5", sam = "off" }

    [sharpness]                         # m-sharpness of every run on every eval set
    enabled = true
    rho = 0.05
    m = 32                              # utterances per mini-batch
    batches = 10                        # mini-batches per eval set (and group)

A level's ``set`` maps dotted experiment keys to values; it may override any key of
the experiment (selection, augmentation chain, SAM, model, optimiser ...).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from curate.errors import CurateError
from curate.names import NAME_RE
from curate.tomlfile import read_toml

TOP_KEYS = {"name", "base", "set", "repeats", "seeds", "mode", "factor", "run", "sharpness"}
SHARPNESS_KEYS = {"enabled": bool, "rho": float, "m": int, "batches": int, "adaptive": bool}
MODES = ("factorial", "list")


@dataclass(frozen=True)
class Level:
    label: str
    overrides: tuple[tuple[str, object], ...]  # (dotted key, value)


@dataclass(frozen=True)
class Factor:
    name: str
    levels: tuple[Level, ...]

    def level(self, label: str) -> Level:
        for level in self.levels:
            if level.label == label:
                return level
        raise KeyError(label)


@dataclass(frozen=True)
class AblationSpec:
    name: str
    base: dict  # the base experiment as a (nested) dict
    base_dir: Path  # paths in the experiment are relative to this folder
    factors: tuple[Factor, ...]
    seeds: tuple[int | None, ...]  # None: the base experiment's seed
    mode: str = "factorial"
    cells: tuple[tuple[tuple[str, str], ...], ...] = ()  # mode "list": (factor, label) pairs
    text: str = ""
    sharpness: tuple[tuple[str, object], ...] = (("enabled", True), ("rho", 0.05), ("m", 32),
                                                 ("batches", 10), ("adaptive", False))

    @property
    def spec_hash(self) -> str:
        blob = json.dumps({"base": self.base, "text": self.text}, sort_keys=True, default=str)
        return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


def _fail(where: str, message: str) -> CurateError:
    return CurateError(f"{where}: {message}")


def _parse_level(raw, where: str, factor: str, index: int) -> Level:
    if not isinstance(raw, dict) or "label" not in raw:
        raise _fail(where, f"factor {factor!r} level #{index + 1} must be a table with "
                           f"'label' and 'set'")
    unknown = sorted(set(raw) - {"label", "set"})
    if unknown:
        raise _fail(where, f"factor {factor!r} level {raw['label']!r} has unknown key(s) "
                           f"{', '.join(unknown)}; use label and set")
    overrides = raw.get("set", {})
    if not isinstance(overrides, dict):
        raise _fail(where, f"factor {factor!r} level {raw['label']!r}: set must be a table of "
                           f"experiment keys")
    return Level(str(raw["label"]), tuple(sorted(_flatten(overrides).items())))


def _flatten(table: dict, prefix: str = "") -> dict:
    """{"sam": {"rho": 1}} and {"sam.rho": 1} both -> {"sam.rho": 1}."""
    out = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def parse_ablation(data: dict, where: str, base_dir: Path, text: str = "") -> AblationSpec:
    """Validate a parsed ablation file; ``where`` names it in errors."""
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(unknown)}; allowed: "
                           f"{', '.join(sorted(TOP_KEYS))}")
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _fail(where, "name must be an identifier like 'rawboost_x_sam'")
    base = data.get("base")
    exp_dir = base_dir
    if isinstance(base, str):
        path = (base_dir / base).resolve()
        base = read_toml(path, "base experiment")
        exp_dir = path.parent
    elif not isinstance(base, dict):
        raise _fail(where, "base must be an experiment file path or an inline [base] table")
    common = data.get("set", {})
    if not isinstance(common, dict):
        raise _fail(where, "set must be a table of experiment keys applied to every run")
    if common:
        from curate.ablate.grid import apply_overrides

        base = apply_overrides(base, _flatten(common))
    factors = []
    for i, raw in enumerate(data.get("factor", [])):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise _fail(where, f"[[factor]] #{i + 1} needs a name")
        bad = sorted(set(raw) - {"name", "levels"})
        if bad:
            raise _fail(where, f"factor {raw['name']!r} has unknown key(s) {', '.join(bad)}")
        levels = raw.get("levels")
        if not isinstance(levels, list) or not levels:
            raise _fail(where, f"factor {raw['name']!r} needs a non-empty levels list")
        parsed = tuple(_parse_level(level, where, raw["name"], j) for j, level in
                       enumerate(levels))
        labels = [level.label for level in parsed]
        if len(set(labels)) != len(labels):
            raise _fail(where, f"factor {raw['name']!r} repeats a level label")
        factors.append(Factor(raw["name"], parsed))
    names = [f.name for f in factors]
    if len(set(names)) != len(names):
        raise _fail(where, "two factors share a name")
    if not factors:
        raise _fail(where, "no [[factor]] tables: an ablation needs at least one factor")
    if "repeats" in data and "seeds" in data:
        raise _fail(where, "give repeats or seeds, not both")
    if "seeds" in data:
        seeds = data["seeds"]
        if not isinstance(seeds, list) or not seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise _fail(where, "seeds must be a non-empty list of integers")
        seed_list: tuple[int | None, ...] = tuple(seeds)
    else:
        repeats = data.get("repeats", 1)
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise _fail(where, "repeats must be an integer >= 1")
        base_seed = int(_get(base, "seed", 0) or 0)
        seed_list = tuple(base_seed + r for r in range(repeats))
    mode = data.get("mode", "factorial")
    if mode not in MODES:
        raise _fail(where, f"mode must be one of {', '.join(MODES)}")
    cells: list[tuple[tuple[str, str], ...]] = []
    if mode == "list":
        runs = data.get("run", [])
        if not runs:
            raise _fail(where, "mode = 'list' needs [[run]] tables")
        by_name = {f.name: f for f in factors}
        for k, run in enumerate(runs):
            levels = run.get("levels") if isinstance(run, dict) else None
            if not isinstance(levels, dict) or set(levels) != set(by_name):
                raise _fail(where, f"[[run]] #{k + 1} must give levels for every factor "
                                   f"({', '.join(by_name)})")
            for factor, label in levels.items():
                try:
                    by_name[factor].level(str(label))
                except KeyError:
                    raise _fail(where, f"[[run]] #{k + 1}: factor {factor!r} has no level "
                                       f"{label!r}") from None
            cells.append(tuple((f, str(levels[f])) for f in by_name))
    elif "run" in data:
        raise _fail(where, "[[run]] tables need mode = 'list'")
    sharp = dict(AblationSpec.__dataclass_fields__["sharpness"].default)
    raw_sharp = data.get("sharpness", {})
    if not isinstance(raw_sharp, dict):
        raise _fail(where, "sharpness must be a table like { rho = 0.05, m = 32, batches = 10 }")
    for key, value in raw_sharp.items():
        kind = SHARPNESS_KEYS.get(key)
        if kind is None:
            raise _fail(where, f"unknown key sharpness.{key}; allowed: "
                               f"{', '.join(SHARPNESS_KEYS)}")
        ok = isinstance(value, bool) if kind is bool else (
            isinstance(value, (int, float)) and not isinstance(value, bool)
            and (kind is float or isinstance(value, int)) and value > 0)
        if not ok:
            raise _fail(where, f"sharpness.{key} must be "
                               f"{'true or false' if kind is bool else 'a positive number'}")
        sharp[key] = kind(value)
    return AblationSpec(name=name, base=base, base_dir=exp_dir, factors=tuple(factors),
                        seeds=seed_list, mode=mode, cells=tuple(cells), text=text,
                        sharpness=tuple(sharp.items()))


def _get(table: dict, dotted: str, default=None):
    node = table
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def load_ablation(path: Path | str) -> AblationSpec:
    """Read and validate an ablation TOML file."""
    path = Path(path)
    data = read_toml(path, "ablation file")
    return parse_ablation(data, str(path), path.resolve().parent, path.read_text())
