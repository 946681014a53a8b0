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
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from curate.catalog.columns import GROUPABLE
from curate.errors import CurateError
from curate.names import NAME_RE
from curate.select.where import check_where
from curate.tomlfile import read_toml

SPLIT_BY = ("speaker", "source_utt", "utt", "subset")
BALANCE_METHODS = ("downsample", "weight")
HOLDOUT_POLICIES = ("drop", "test")
_SPLIT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
SEED_MIN, SEED_MAX = -(2 ** 63), 2 ** 63 - 1  # selections.seed is a BIGINT


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
    where: str | None = None  # a checked SQL boolean over utterances columns


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
class Quota:
    """Caps per group (hours or counts) and temperature sampling across groups."""

    by: tuple[str, ...] = ()
    unit: str = "hours"  # hours | count
    cap: float | None = None  # default cap per group, in `unit`
    caps: tuple[tuple[str, str, float], ...] = ()  # (column, value, cap) overrides
    temperature: float | None = None  # p ~ n^(1/T) across temperature_by groups
    temperature_by: str = "language"
    total_hours: float | None = None  # budget of temperature sampling

    @property
    def active(self) -> bool:
        return self.cap is not None or bool(self.caps)


@dataclass(frozen=True)
class Balance:
    """bonafide:spoof = ratio:1, per group (``by``) or global."""

    ratio: float | None = None
    by: tuple[str, ...] = ()
    method: str = "downsample"  # downsample | weight


@dataclass(frozen=True)
class Dedup:
    content_hash: bool = False  # keep one row per decoded-audio hash (smallest utt_id)
    source_utt: bool = False  # keep one artifact per genuine source (seeded choice)


@dataclass(frozen=True)
class SelectionSpec:
    name: str
    seed: int = 0
    filter: Filter = field(default_factory=Filter)
    holdout: Holdout = field(default_factory=Holdout)
    split: Split = field(default_factory=Split)
    quota: Quota = field(default_factory=Quota)
    balance: Balance = field(default_factory=Balance)
    dedup: Dedup = field(default_factory=Dedup)
    # Names the spec in errors (its file); not part of the spec, its JSON or its hash.
    source: str = field(default="selection", compare=False)

    def to_json(self) -> str:
        """The spec as canonical JSON (what ``selections.spec`` stores and the hash is of)."""
        data = asdict(self)
        del data["source"]
        return json.dumps(data, sort_keys=True)

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
    """``value`` as a finite float; bools, text, nan, inf and huge ints are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CurateError(f"{where}: {key} must be a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise CurateError(f"{where}: {key} must be a finite number (not nan or inf)")
    return number


def _check_keys(table: dict, allowed: set[str], where: str, section: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise CurateError(f"{where}: unknown key(s) {', '.join(unknown)} in {section}; "
                          f"allowed: {', '.join(sorted(allowed))}")


def parse_selection(data: dict, where: str = "selection") -> SelectionSpec:
    """Validate a spec given as a dict (parsed TOML); ``where`` names it in errors."""
    _check_keys(data, {"name", "seed", "filter", "holdout", "split", "quota", "balance",
                       "dedup"}, where, "the top level")
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise CurateError(f"{where}: name must be an identifier like 'train_v1'")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise CurateError(f"{where}: seed must be an integer")
    if not SEED_MIN <= seed <= SEED_MAX:
        raise CurateError(f"{where}: seed is outside the signed 64-bit range the catalog "
                          f"stores; use an integer from {SEED_MIN} to {SEED_MAX}")
    holdout = _parse_holdout(_table(data, "holdout", where), where)
    return SelectionSpec(
        name=name, seed=seed, filter=_parse_filter(_table(data, "filter", where), where),
        holdout=holdout, split=_parse_split(_table(data, "split", where), where, holdout),
        quota=_parse_quota(_table(data, "quota", where), where),
        balance=_parse_balance(_table(data, "balance", where), where),
        dedup=_parse_dedup(_table(data, "dedup", where), where), source=where,
    )


def _table(data: dict, key: str, where: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise CurateError(f"{where}: {key} must be a table ([{key}])")
    return value


def _parse_filter(raw: dict, where: str) -> Filter:
    _check_keys(raw, set(Filter.__dataclass_fields__), where, "[filter]")
    kwargs: dict = {}
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
    if "where" in raw:
        kwargs["where"] = check_where(raw["where"], where)
    bad_labels = sorted(set(kwargs.get("labels", ())) - {"bonafide", "spoof"})
    if bad_labels:
        raise CurateError(f"{where}: filter.labels has {', '.join(bad_labels)}; use "
                          f"'bonafide' and/or 'spoof'")
    flt = Filter(**kwargs)
    if (flt.min_duration_s is not None and flt.max_duration_s is not None
            and flt.min_duration_s > flt.max_duration_s):
        raise CurateError(f"{where}: filter.min_duration_s is above filter.max_duration_s")
    return flt


def _parse_holdout(raw: dict, where: str) -> Holdout:
    _check_keys(raw, {"generators", "languages", "corpora", "policy"}, where, "[holdout]")
    policy = raw.get("policy", "drop")
    if policy not in HOLDOUT_POLICIES:
        raise CurateError(f"{where}: holdout.policy must be one of {', '.join(HOLDOUT_POLICIES)}")
    return Holdout(**{k: _strings(raw[k], where, f"holdout.{k}")
                      for k in ("generators", "languages", "corpora") if k in raw},
                   policy=policy)


def _columns(value, where: str, key: str) -> tuple[str, ...]:
    names = _strings(value, where, key)
    bad = [c for c in names if c not in GROUPABLE]
    if bad:
        raise CurateError(f"{where}: {key} has {', '.join(bad)}; group by any of "
                          f"{', '.join(GROUPABLE)}")
    return names


def _parse_split(raw: dict, where: str, holdout: Holdout) -> Split:
    _check_keys(raw, {"by", "fractions", "subsets"}, where, "[split]")
    by = raw.get("by", "speaker")
    if by not in SPLIT_BY:
        raise CurateError(f"{where}: split.by must be one of {', '.join(SPLIT_BY)}")
    if by == "subset":
        return _subset_split(raw, where, holdout)
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
    return Split(by=by, fractions=tuple(pairs))


def _subset_split(raw: dict, where: str, holdout: Holdout) -> Split:
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
    return Split(by="subset", fractions=(), subsets=tuple(pairs))


def _parse_quota(raw: dict, where: str) -> Quota:
    _check_keys(raw, {"by", "hours", "count", "caps", "temperature", "temperature_by",
                      "total_hours"}, where, "[quota]")
    if "hours" in raw and "count" in raw:
        raise CurateError(f"{where}: give quota.hours or quota.count, not both")
    unit = "count" if "count" in raw else "hours"
    cap = _number(raw[unit], where, f"quota.{unit}") if unit in raw else None
    if cap is not None and cap <= 0:
        raise CurateError(f"{where}: quota.{unit} must be positive")
    by = _columns(raw.get("by", []), where, "quota.by")
    caps_raw = raw.get("caps", {})
    if not isinstance(caps_raw, dict):
        raise CurateError(f"{where}: quota.caps must be a table like "
                          f"{{ language = {{ eng = 5.0 }} }}")
    caps = []
    for column, table in caps_raw.items():
        if column not in by:
            raise CurateError(f"{where}: quota.caps.{column}: {column!r} is not in quota.by")
        if not isinstance(table, dict):
            raise CurateError(f"{where}: quota.caps.{column} must map values to caps")
        for value, limit in table.items():
            limit = _number(limit, where, f"quota.caps.{column}.{value}")
            caps.append((column, str(value), limit))
    if (cap is not None or caps) and not by:
        raise CurateError(f"{where}: quota.{unit} needs quota.by, e.g. by = [\"language\"]")
    temperature = raw.get("temperature")
    if temperature is not None:
        temperature = _number(temperature, where, "quota.temperature")
        if temperature <= 0:
            raise CurateError(f"{where}: quota.temperature must be positive (1 = natural)")
    temperature_by = raw.get("temperature_by", "language")
    if temperature_by not in ("language", "corpus"):
        raise CurateError(f"{where}: quota.temperature_by must be 'language' or 'corpus'")
    total = raw.get("total_hours")
    if total is not None:
        total = _number(total, where, "quota.total_hours")
        if total <= 0:
            raise CurateError(f"{where}: quota.total_hours must be positive")
        if temperature is None:
            raise CurateError(f"{where}: quota.total_hours is the budget of temperature "
                              f"sampling; set quota.temperature too")
    return Quota(by=by, unit=unit, cap=cap, caps=tuple(caps), temperature=temperature,
                 temperature_by=temperature_by, total_hours=total)


def _parse_balance(raw: dict, where: str) -> Balance:
    _check_keys(raw, {"ratio", "by", "method"}, where, "[balance]")
    if not raw:
        return Balance()
    ratio = _number(raw.get("ratio", 1.0), where, "balance.ratio")
    if ratio <= 0:
        raise CurateError(f"{where}: balance.ratio (bonafide per spoof) must be positive")
    method = raw.get("method", "downsample")
    if method not in BALANCE_METHODS:
        raise CurateError(f"{where}: balance.method must be one of {', '.join(BALANCE_METHODS)}")
    return Balance(ratio=ratio, by=_columns(raw.get("by", []), where, "balance.by"),
                   method=method)


def _parse_dedup(raw: dict, where: str) -> Dedup:
    _check_keys(raw, {"content_hash", "source_utt"}, where, "[dedup]")
    for key, value in raw.items():
        if not isinstance(value, bool):
            raise CurateError(f"{where}: dedup.{key} must be true or false")
    return Dedup(content_hash=raw.get("content_hash", False),
                 source_utt=raw.get("source_utt", False))


def load_selection(path: Path | str) -> SelectionSpec:
    """Read and validate a selection spec TOML file."""
    return parse_selection(read_toml(path, "selection spec"), str(path))
