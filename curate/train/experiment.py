"""Experiment files: ``recipes/experiments/*.toml`` -> :class:`Experiment` -> a run.

::

    name = "demo_cnn"          # the run id is NAME-<hash of everything below>
    seed = 0
    device = "auto"            # auto | cpu | cuda | cuda:N
    precision = "fp32"         # fp32 | bf16 | fp16
    augment = ""               # chain file: relative to this file, or in recipes/augment/
    log_augmentation = false   # record applied steps in augment_log
    out = "runs"               # run folders go to OUT/runs/RUN_ID (relative to the cwd)

    [data]
    selection = "demo"         # the main selection
    train = "train"            # a split of it, or "SELECTION:SPLIT"
    dev = "dev"                # "" for none
    test = ["test"]            # eval sets scored at the end
    eval = []                  # more eval sets: "SELECTION:SPLIT" or a whole "SELECTION"
    sampler = "balanced"       # natural | balanced | temperature | weighted
    shards = ""                # stream the train split from `curate shard` shards (a
                               # folder relative to the cwd, or a URL); "" reads files
    ...

    [model]
    name = "small_cnn"         # further keys are the model's arguments
    [optim]
    [sam]
    [batching]
    [train]
    [checkpoint]

Every key is checked: an unknown key or section is an error that names it and lists
the known ones; so is a value of the wrong type (checked against the section's field
type, or for ``[model]`` against the model's signature) and an integer beyond 64 bits
(``seed``: 0 .. 2**63 - 1, as runs store it). ``--set key=value`` (dotted keys,
TOML values: ``--set sam.enabled=true --set optim.lr=3e-4``) overrides the file
before checking. :func:`parse_experiment` takes an already-parsed (and overridden)
table, as an ablation grid produces.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
import tomllib
import types
import typing
from collections import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.names import NAME_RE
from curate.tomlfile import read_toml
from curate.train.loop import TrainConfig
from curate.train.models import MODELS, model_argument_types, model_arguments
from curate.train.run import RunSpec, parse_ref

__all__ = ["Experiment", "DataSection", "BatchingSection", "ModelSection", "OptimSection",
           "SamSection", "TrainSection", "CheckpointSection", "load_experiment",
           "parse_experiment", "apply_sets", "parse_set", "resolve_chain"]



@dataclass(frozen=True)
class DataSection:
    """``[data]``: what the run trains and is evaluated on."""

    selection: str = ""
    train: str = "train"
    dev: str = ""
    test: tuple[str, ...] = ("test",)
    eval: tuple[str, ...] = ()
    sample_rate: int = 16000
    num_workers: int = 0
    sampler: str = "natural"
    sampler_by: str = "corpus"
    temperature: float = 1.0
    class_weighting: bool = False
    shards: str = ""
    shuffle_buffer: int = 1000


@dataclass(frozen=True)
class BatchingSection:
    """``[batching]``: length regime and batch shapes (0 = off / whole where noted)."""

    regime: str = "fixed"
    crop_seconds: float = 4.0
    long_min_seconds: float = 10.0
    long_max_seconds: float = 13.0
    batch_size: int = 16
    max_batch_seconds: float = 0.0
    buckets: int = 10
    grad_accum: int = 1
    eval_max_seconds: float = 8.0
    eval_batch_size: int = 32


@dataclass(frozen=True)
class ModelSection:
    """``[model]``: ``name`` and the model's own arguments."""

    name: str = "small_cnn"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimSection:
    """``[optim]``: the base optimizer and its schedule."""

    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.01
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_steps: int = 10
    min_lr_ratio: float = 0.0
    grad_clip: float = 5.0
    backbone_lr_scale: float = 1.0
    head_lr_scale: float = 1.0
    layer_decay: float = 1.0
    freeze_backbone_steps: int = 0


@dataclass(frozen=True)
class SamSection:
    """``[sam]``: Sharpness-Aware Minimization (ASAM with ``adaptive``)."""

    enabled: bool = False
    rho: float = 0.05
    adaptive: bool = False


@dataclass(frozen=True)
class TrainSection:
    """``[train]``: how long (``epochs`` > 0 wins over ``steps``) and how often to log."""

    steps: int = 200
    epochs: float = 0.0
    log_every: int = 10
    compile: bool = False
    threads: int = 0


@dataclass(frozen=True)
class CheckpointSection:
    """``[checkpoint]``: checkpoint policy and best-k by dev EER."""

    every: int = 0
    keep_last: int = 1
    eval_every: int = 0
    keep_best: int = 0
    select: str = "last"
    patience: int = 0


_SECTIONS = {"data": DataSection, "batching": BatchingSection, "model": ModelSection,
             "optim": OptimSection, "sam": SamSection, "train": TrainSection,
             "checkpoint": CheckpointSection}
_TOP = {"name": str, "seed": int, "device": str, "precision": str, "augment": str,
        "log_augmentation": bool, "out": str}

# TrainConfig field -> the experiment key that sets it (for error messages).
_KEY_OF = {
    "sample_rate": "data.sample_rate", "num_workers": "data.num_workers",
    "sampler": "data.sampler", "sampler_by": "data.sampler_by",
    "temperature": "data.temperature", "class_weighting": "data.class_weighting",
    "regime": "batching.regime", "crop_seconds": "batching.crop_seconds",
    "long_min_seconds": "batching.long_min_seconds",
    "long_max_seconds": "batching.long_max_seconds", "batch_size": "batching.batch_size",
    "max_batch_seconds": "batching.max_batch_seconds", "buckets": "batching.buckets",
    "grad_accum": "batching.grad_accum", "eval_max_seconds": "batching.eval_max_seconds",
    "eval_batch_size": "batching.eval_batch_size", "model": "model.name",
    "model_kwargs": "model", "optimizer": "optim.name", "lr": "optim.lr",
    "weight_decay": "optim.weight_decay", "momentum": "optim.momentum",
    "schedule": "optim.schedule", "warmup_steps": "optim.warmup_steps",
    "min_lr_ratio": "optim.min_lr_ratio", "grad_clip": "optim.grad_clip",
    "sam": "sam.enabled", "sam_rho": "sam.rho", "sam_adaptive": "sam.adaptive",
    "steps": "train.steps", "epochs": "train.epochs", "log_every": "train.log_every",
    "checkpoint_every": "checkpoint.every", "keep_last": "checkpoint.keep_last",
    "eval_every": "checkpoint.eval_every", "keep_best": "checkpoint.keep_best",
    "select": "checkpoint.select", "patience": "checkpoint.patience",
    "backbone_lr_scale": "optim.backbone_lr_scale", "head_lr_scale": "optim.head_lr_scale",
    "layer_decay": "optim.layer_decay", "freeze_backbone_steps": "optim.freeze_backbone_steps",
    "compile": "train.compile", "threads": "train.threads", "seed": "seed", "device": "device",
    "precision": "precision", "augment": "augment", "log_augmentation": "log_augmentation",
    "shards": "data.shards", "shards_split": "data.train", "shuffle_buffer": "data.shuffle_buffer",
}


@dataclass(frozen=True)
class Experiment:
    """A parsed experiment file (see the module doc)."""

    name: str
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    augment: str = ""
    log_augmentation: bool = False
    out: str = "runs"
    data: DataSection = field(default_factory=DataSection)
    batching: BatchingSection = field(default_factory=BatchingSection)
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimSection = field(default_factory=OptimSection)
    sam: SamSection = field(default_factory=SamSection)
    train: TrainSection = field(default_factory=TrainSection)
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    source: str = "<experiment>"

    def train_config(self) -> TrainConfig:
        """The loop's settings."""
        b, o, t, c, d = self.batching, self.optim, self.train, self.checkpoint, self.data
        values = dict(
            model=self.model.name, model_kwargs=dict(self.model.kwargs),
            sample_rate=d.sample_rate, regime=b.regime, crop_seconds=b.crop_seconds,
            long_min_seconds=b.long_min_seconds, long_max_seconds=b.long_max_seconds,
            batch_size=b.batch_size, max_batch_seconds=b.max_batch_seconds or None,
            buckets=b.buckets, grad_accum=b.grad_accum, steps=t.steps,
            epochs=t.epochs or None, lr=o.lr, weight_decay=o.weight_decay,
            optimizer=o.name, momentum=o.momentum, schedule=o.schedule,
            warmup_steps=o.warmup_steps, min_lr_ratio=o.min_lr_ratio,
            grad_clip=o.grad_clip or None, backbone_lr_scale=o.backbone_lr_scale,
            head_lr_scale=o.head_lr_scale, layer_decay=o.layer_decay,
            freeze_backbone_steps=o.freeze_backbone_steps, compile=t.compile,
            threads=t.threads,
            patience=c.patience, sam=self.sam.enabled, sam_rho=self.sam.rho,
            sam_adaptive=self.sam.adaptive, precision=self.precision, seed=self.seed,
            device=self.device, num_workers=d.num_workers, sampler=d.sampler,
            sampler_by=d.sampler_by, temperature=d.temperature,
            class_weighting=d.class_weighting, augment=self.augment or None,
            log_augmentation=self.log_augmentation, checkpoint_every=c.every,
            keep_last=c.keep_last, eval_every=c.eval_every, keep_best=c.keep_best,
            select=c.select, eval_max_seconds=b.eval_max_seconds or None,
            eval_batch_size=b.eval_batch_size, log_every=t.log_every,
            shards=d.shards or None, shuffle_buffer=d.shuffle_buffer,
            shards_split=parse_ref(d.train, d.selection)[1] or "train" if d.shards else "train",
        )
        try:
            return TrainConfig(**values)
        except ValueError as exc:
            message = str(exc)
            match = re.match(r"TrainConfig\.(\w+)", message)
            if match and match.group(1) in _KEY_OF:
                message = message.replace(match.group(0), _KEY_OF[match.group(1)], 1)
            raise CurateError(f"{self.source}: {message}") from None

    def run_spec(self) -> RunSpec:
        """The run: selections, splits and the loop's settings."""
        return RunSpec(name=self.name, selection=self.data.selection,
                       train_split=self.data.train, eval_splits=tuple(self.data.test),
                       config=self.train_config(), dev_split=self.data.dev or None,
                       extra_eval=tuple(self.data.eval))

    def to_dict(self) -> dict[str, Any]:
        """The experiment as a nested table (what the file would say, defaults filled)."""
        out = {k: getattr(self, k) for k in _TOP}
        for name in _SECTIONS:
            section = dataclasses.asdict(getattr(self, name))
            if name == "model":
                section = {"name": section["name"], **section["kwargs"]}
            out[name] = section
        return out


# --------------------------------------------------------------------------- parsing


# TOML integers are 64-bit; a larger value fails later (the runs table, torch seeds).
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _is_sequence(tp: Any) -> bool:
    return tp in (tuple, list) or typing.get_origin(tp) in (tuple, list, abc.Sequence)


def _item_type(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not Ellipsis]
    return args[0] if args else Any


def _kind(tp: Any, plural: bool = False) -> str:
    """``tp`` in words: "an integer", "true or false", "a list of integers" ..."""
    if _is_union(tp):
        return " or ".join(_kind(a, plural) for a in typing.get_args(tp) if a is not type(None))
    if _is_sequence(tp):
        return "lists" if plural else f"a list of {_kind(_item_type(tp), plural=True)}"
    if typing.get_origin(tp) is dict or tp is dict:
        return "tables" if plural else "a table"
    singular, many = {bool: ("true or false", "true/false values"),
                      int: ("an integer", "integers"), float: ("a number", "numbers"),
                      str: ("a string", "strings")}.get(tp, ("a value", "values"))
    return many if plural else singular


def _matches(value: Any, tp: Any) -> bool:
    """Whether a TOML ``value`` fits the annotation ``tp`` (an int fits a float; a type
    this check does not know is left to the code that uses the value)."""
    if _is_union(tp):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if _is_sequence(tp):
        item = _item_type(tp)
        return isinstance(value, (list, tuple)) and all(_matches(v, item) for v in value)
    if typing.get_origin(tp) is dict or tp is dict:
        return isinstance(value, dict)
    return True


def _out_of_range(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_out_of_range(v) for v in value)
    return (isinstance(value, int) and not isinstance(value, bool)
            and not INT64_MIN <= value <= INT64_MAX)


def _check_value(value: Any, tp: Any, where: str, key: str,
                 default: Any = inspect.Parameter.empty) -> None:
    """Raise one sentence naming ``key``, ``value`` and the expected type when ``value``
    does not fit the annotation ``tp``."""
    if not _matches(value, tp):
        unset = any(default is d for d in (inspect.Parameter.empty, dataclasses.MISSING, None))
        example = "" if unset or isinstance(default, dict) else \
            f" (the default is {_toml(default)})"
        raise CurateError(f"{where}: {key} must be {_kind(tp)}, got {value!r}{example}")
    if _out_of_range(value):
        raise CurateError(f"{where}: {key} = {value!r} is out of range; integers must lie "
                          f"from {INT64_MIN} to {INT64_MAX} (64 bits)")


def _toml(value: Any) -> str:
    """A default value as the TOML a user would write."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def _coerce(value: Any, tp: Any, where: str, key: str,
            default: Any = inspect.Parameter.empty) -> Any:
    """Check ``value`` against the field type ``tp`` and convert it (int -> float, a
    single string -> a one-item tuple of strings)."""
    if _is_sequence(tp) and isinstance(value, str):
        value = [value]
    _check_value(value, tp, where, key, default)
    if tp is float:
        return float(value)
    if _is_sequence(tp):
        return tuple(value)
    return value


def _section(cls: type, table: Any, where: str, name: str) -> Any:
    if not isinstance(table, dict):
        raise CurateError(f"{where}: [{name}] must be a table")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    if cls is ModelSection:
        model = table.get("name", "small_cnn")
        if not isinstance(model, str) or model not in MODELS:
            raise CurateError(f"{where}: model.name must be one of {', '.join(sorted(MODELS))}, "
                              f"got {model!r}")
        kwargs = {k: v for k, v in table.items() if k != "name"}
        allowed = model_arguments(model)
        unknown = sorted(set(kwargs) - (allowed or set(kwargs)) | ({"sample_rate"} & set(kwargs)))
        if unknown:
            raise CurateError(
                f"{where}: unknown key(s) {', '.join('model.' + k for k in unknown)} for model "
                f"{model!r}; its arguments: "
                f"{', '.join(sorted((allowed or set()) - {'sample_rate'}))} (sample_rate is "
                f"data.sample_rate)")
        argument_types = model_argument_types(model)
        for key, value in kwargs.items():
            tp, default = argument_types.get(key, (Any, inspect.Parameter.empty))
            _check_value(value, tp, where, f"model.{key}", default)
        return ModelSection(model, kwargs)
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise CurateError(f"{where}: unknown key(s) {', '.join(f'{name}.{k}' for k in unknown)};"
                          f" known keys in [{name}]: {', '.join(known)}")
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    values = {k: _coerce(v, hints[k], where, f"{name}.{k}", defaults[k])
              for k, v in table.items()}
    return cls(**values)


def resolve_chain(value: str, base_dir: Path | None, where: str) -> str:
    """The chain file an experiment's ``augment`` names: relative to the experiment
    file, or a file of ``recipes/augment/`` (".toml" may be left out); "" for none."""
    if not value:
        return ""
    from curate.recipes.spec import builtin_recipes_dir

    names = [value] if value.endswith(".toml") else [value, value + ".toml"]
    folders = ([base_dir] if base_dir is not None else []) + [Path.cwd(),
                                                              builtin_recipes_dir() / "augment"]
    candidates = [Path(name) if Path(name).is_absolute() else folder / name
                  for folder in folders for name in names]
    for path in candidates:
        if path.is_file():
            return str(path.resolve())
    looked = ", ".join(dict.fromkeys(str(c.parent) for c in candidates))
    raise CurateError(f"{where}: augment chain {value!r} not found (looked in {looked}); give "
                      "a path relative to the experiment file or a recipes/augment/ name")


def _resolve_model_paths(kwargs: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    out = dict(kwargs)
    path = out.get("pretrained")
    if isinstance(path, str) and path and base_dir is not None and not Path(path).is_absolute():
        candidate = (base_dir / Path(path).expanduser())
        if candidate.exists():
            out["pretrained"] = str(candidate.resolve())
    return out


def parse_experiment(data: dict[str, Any], where: str = "<experiment>",
                     base_dir: Path | None = None) -> Experiment:
    """Validate a parsed experiment table; ``where`` names it in errors, ``base_dir``
    resolves relative paths (the chain file, a pretrained checkpoint)."""
    if not isinstance(data, dict):
        raise CurateError(f"{where}: an experiment must be a table")
    unknown = sorted(set(data) - set(_TOP) - set(_SECTIONS))
    if unknown:
        raise CurateError(f"{where}: unknown key(s) or section(s) {', '.join(unknown)}; known: "
                          f"{', '.join(list(_TOP) + [f'[{s}]' for s in _SECTIONS])}")
    seed = data.get("seed", 0)
    if isinstance(seed, int) and not isinstance(seed, bool) and not 0 <= seed <= INT64_MAX:
        raise CurateError(f"{where}: seed must be an integer from 0 to {INT64_MAX} (runs "
                          f"store it as a signed 64-bit integer), got {seed}; use a seed in "
                          f"that range")
    defaults = {f.name: f.default for f in dataclasses.fields(Experiment)}
    top = {k: _coerce(v, _TOP[k], where, k, defaults[k]) for k, v in data.items() if k in _TOP}
    name = top.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise CurateError(f"{where}: name must be an identifier like 'xlsr_sam' (letters, "
                          "digits, _ . -)")
    sections = {s: _section(cls, data.get(s, {}), where, s) for s, cls in _SECTIONS.items()}
    if not sections["data"].selection:
        raise CurateError(f"{where}: data.selection is missing; name the frozen selection to "
                          "train on (see `curate selections`)")
    sections["model"] = ModelSection(sections["model"].name,
                                     _resolve_model_paths(sections["model"].kwargs, base_dir))
    top["augment"] = resolve_chain(top.get("augment", ""), base_dir, where)
    if sections["data"].shards:  # a folder relative to the cwd (as `out`), or a URL
        from curate.shard.index import normalize_location

        sections["data"] = dataclasses.replace(
            sections["data"], shards=normalize_location(sections["data"].shards))
    experiment = Experiment(**top, **sections, source=where)
    experiment.train_config()  # every value checked now, with the file's key names
    return experiment


def parse_set(item: str) -> tuple[str, Any]:
    """``"key=value"`` -> (dotted key, TOML value; a bare word is a string)."""
    if "=" not in item:
        raise CurateError(f"--set {item!r} must look like key=value, e.g. --set optim.lr=3e-4")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or not all(part.strip() for part in key.split(".")):
        raise CurateError(f"--set {item!r}: the key before '=' is empty")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def apply_sets(data: dict[str, Any], sets: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``data`` with ``--set key=value`` overrides applied."""
    out = copy.deepcopy(data)
    for item in sets:
        key, value = parse_set(item)
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                if child is not None:
                    raise CurateError(f"--set {item!r}: {part!r} is not a section")
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def load_experiment(path: Path | str, sets: list[str] | tuple[str, ...] = ()) -> Experiment:
    """Read, override (``--set``) and check an experiment file."""
    path = Path(path)
    data = apply_sets(read_toml(path, "experiment file"), sets)
    return parse_experiment(data, str(path), path.resolve().parent)
