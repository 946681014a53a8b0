"""Selection specs: a TOML file that says which utterances form which split.

::

    name = "demo"
    seed = 0
    [filter]                 # all optional; lists match any of their values
    corpora = ["asvspoof2019_la"]
    languages = ["eng", "deu"]
    labels = ["bonafide", "spoof"]
    generators = ["asvspoof2019_la:A01"]
    subsets = ["train"]
    min_duration_s = 1.0
    max_duration_s = 12.0
    status = "ok"            # default; "any" keeps every status
    [holdout]                # rows reserved for the test split
    generators = ["demo_multi:lpc"]
    languages = []
    corpora = []
    policy = "drop"          # holdout rows whose group is not in test: drop | test
    [split]
    by = "speaker"           # speaker | source_utt | utt
    fractions = { train = 0.8, dev = 0.1, test = 0.1 }

Every key is documented in docs/selections.md; unknown keys are rejected by name.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from curate.errors import CurateError
from curate.tomlfile import read_toml

SPLIT_BY = ("speaker", "source_utt", "utt", "subset")
HOLDOUT_POLICIES = ("drop", "test")
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_SPLIT_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Filter:
    corpora: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    generators: tuple[str, ...] = ()
    subsets: tuple[str, ...] = ()
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    status: str = "ok"


@dataclass(frozen=True)
class Holdout:
    generators: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    corpora: tuple[str, ...] = ()
    policy: str = "drop"

    @property
    def active(self) -> bool:
        return bool(self.generators or self.languages or self.corpora)


@dataclass(frozen=True)
class Split:
    by: str = "speaker"
    fractions: tuple[tuple[str, float], ...] = (("train", 1.0),)
    subsets: tuple[tuple[str, str], ...] = ()  # corpus subset -> split (by = "subset")


@dataclass(frozen=True)
class SelectionSpec:
    name: str
    seed: int = 0
    filter: Filter = field(default_factory=Filter)
    holdout: Holdout = field(default_factory=Holdout)
    split: Split = field(default_factory=Split)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @property
    def spec_hash(self) -> str:
        return hashlib.blake2b(self.to_json().encode(), digest_size=16).hexdigest()


def _strings(value, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CurateError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _number(value, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CurateError(f"{where}: {key} must be a number")
    return float(value)


def _check_keys(table: dict, allowed: set[str], where: str, section: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise CurateError(f"{where}: unknown key(s) {', '.join(unknown)} in {section}; "
                          f"allowed: {', '.join(sorted(allowed))}")


def parse_selection(data: dict, where: str = "selection") -> SelectionSpec:
    """Validate a spec given as a dict (parsed TOML); ``where`` names it in errors."""
    _check_keys(data, {"name", "seed", "filter", "holdout", "split"}, where, "the top level")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise CurateError(f"{where}: name must be an identifier like 'train_v1'")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise CurateError(f"{where}: seed must be an integer")

    raw = data.get("filter", {})
    filter_keys = {f for f in Filter.__dataclass_fields__}
    _check_keys(raw, filter_keys, where, "[filter]")
    kwargs = {}
    for key in ("corpora", "languages", "labels", "generators", "subsets"):
        if key in raw:
            kwargs[key] = _strings(raw[key], where, f"filter.{key}")
    for key in ("min_duration_s", "max_duration_s"):
        if key in raw:
            kwargs[key] = _number(raw[key], where, f"filter.{key}")
    if "status" in raw:
        if not isinstance(raw["status"], str):
            raise CurateError(f"{where}: filter.status must be a status name or 'any'")
        kwargs["status"] = raw["status"]
    bad_labels = sorted(set(kwargs.get("labels", ())) - {"bonafide", "spoof"})
    if bad_labels:
        raise CurateError(f"{where}: filter.labels has {', '.join(bad_labels)}; use "
                          f"'bonafide' and/or 'spoof'")
    flt = Filter(**kwargs)
    if (flt.min_duration_s is not None and flt.max_duration_s is not None
            and flt.min_duration_s > flt.max_duration_s):
        raise CurateError(f"{where}: filter.min_duration_s is above filter.max_duration_s")

    raw = data.get("holdout", {})
    _check_keys(raw, {"generators", "languages", "corpora", "policy"}, where, "[holdout]")
    policy = raw.get("policy", "drop")
    if policy not in HOLDOUT_POLICIES:
        raise CurateError(f"{where}: holdout.policy must be one of {', '.join(HOLDOUT_POLICIES)}")
    holdout = Holdout(**{k: _strings(raw[k], where, f"holdout.{k}")
                         for k in ("generators", "languages", "corpora") if k in raw},
                      policy=policy)

    raw = data.get("split", {})
    _check_keys(raw, {"by", "fractions", "subsets"}, where, "[split]")
    by = raw.get("by", "speaker")
    if by not in SPLIT_BY:
        raise CurateError(f"{where}: split.by must be one of {', '.join(SPLIT_BY)}")
    if by == "subset":
        return _subset_split(data, raw, where, name, seed, flt, holdout)
    if "subsets" in raw:
        raise CurateError(f"{where}: split.subsets is only used with by = \"subset\"")
    fractions = raw.get("fractions", {"train": 1.0})
    if not isinstance(fractions, dict) or not fractions:
        raise CurateError(f"{where}: split.fractions must be a table like "
                          f"{{ train = 0.8, dev = 0.1, test = 0.1 }}")
    pairs = []
    for split_name, value in fractions.items():
        if not _SPLIT_RE.match(split_name):
            raise CurateError(f"{where}: split name {split_name!r} must be a lowercase "
                              f"identifier")
        value = _number(value, where, f"split.fractions.{split_name}")
        if value < 0:
            raise CurateError(f"{where}: split.fractions.{split_name} is negative")
        pairs.append((split_name, value))
    total = sum(v for _, v in pairs)
    if abs(total - 1.0) > 1e-6:
        raise CurateError(f"{where}: split.fractions sum to {total:g}; make them sum to 1")
    if holdout.active and "test" not in dict(pairs):
        raise CurateError(f"{where}: [holdout] needs a 'test' split in split.fractions "
                          f"(it may be 0 to hold out only the listed rows)")
    return SelectionSpec(name=name, seed=seed, filter=flt, holdout=holdout,
                         split=Split(by=by, fractions=tuple(pairs)))


def _subset_split(data, raw, where, name, seed, flt, holdout) -> SelectionSpec:
    """``by = "subset"``: the corpus's own subsets mapped to splits, no fractions."""
    if "fractions" in raw:
        raise CurateError(f"{where}: by = \"subset\" takes split.subsets, not fractions")
    mapping = raw.get("subsets")
    if not isinstance(mapping, dict) or not mapping:
        raise CurateError(f"{where}: by = \"subset\" needs split.subsets, e.g. "
                          f"{{ train = \"train\", dev = \"dev\", eval = \"test\" }}")
    pairs = []
    for subset, split_name in mapping.items():
        if not isinstance(split_name, str) or not _SPLIT_RE.match(split_name):
            raise CurateError(f"{where}: split.subsets.{subset} must name a split, a "
                              f"lowercase identifier")
        pairs.append((str(subset), split_name))
    if holdout.active and "test" not in {s for _, s in pairs}:
        raise CurateError(f"{where}: [holdout] needs a subset mapped to 'test'")
    return SelectionSpec(name=name, seed=seed, filter=flt, holdout=holdout,
                         split=Split(by="subset", fractions=(), subsets=tuple(pairs)))


def load_selection(path: Path | str) -> SelectionSpec:
    """Read and validate a selection spec TOML file."""
    return parse_selection(read_toml(path, "selection spec"), str(path))
