"""The chain file: its top-level keys, each step's name, ``p`` and stage, the notes on
reordered or left-out steps; :func:`parse_chain` and :func:`load_chain`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from curate.augment.chain.build import STEP_NAMES, _build, _where
from curate.augment.chain.errors import ChainError
from curate.augment.chain.pipeline import Chain
from curate.augment.chain.step import Step
from curate.tomlfile import read_toml

_TOP_KEYS = ("sample_rate", "seed", "step", "name", "description")
_COMMON = ("name", "p", "stage")


def check_int(source: str, key: str, value: Any, low: int) -> int:
    """``value`` of ``key`` as an integer >= ``low``, or a :class:`ChainError` naming
    ``source`` and the key."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ChainError(f"{source}: {key} must be an integer >= {low}, got {value!r}")
    return value


def parse_chain(data: Mapping[str, Any], source: str = "<chain>",
                base_dir: Optional[Path] = None) -> Chain:
    """A :class:`Chain` from parsed TOML ``data``; ``source`` names it in errors,
    ``base_dir`` resolves relative file paths (models, noise and impulse-response
    folders; default: the folder of ``source`` when it is a file).

    Raises:
        ChainError: an unknown key, step or parameter, or a bad value; the message
            names ``source``, the step's index and name, and the fix.
    """
    if not isinstance(data, Mapping):
        raise ChainError(f"{source}: a chain is a TOML table with sample_rate, seed and "
                         "[[step]] tables")
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise ChainError(f"{source}: unknown key {unknown[0]!r}; a chain has "
                         f"{', '.join(_TOP_KEYS)} (steps go in [[step]] tables)")
    sample_rate = check_int(source, "sample_rate", data.get("sample_rate", 16000), 1000)
    seed = check_int(source, "seed", data.get("seed", 0), 0)
    raw_steps = data.get("step", [])
    if not isinstance(raw_steps, list) or not all(isinstance(s, Mapping) for s in raw_steps):
        raise ChainError(f"{source}: steps must be [[step]] tables")
    if base_dir is None and Path(source).is_file():
        base_dir = Path(source).resolve().parent
    steps = []
    for index, raw in enumerate(raw_steps, start=1):
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ChainError(f"{source}: step {index} has no name; give name = one of "
                             f"{', '.join(STEP_NAMES)} or audiomentations.<Transform>")
        where = _where(source, index, name)
        p = raw.get("p", 1.0)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            hint = (" (RawBoost's ISD share in percent is P in a chain: p is the step's "
                    "probability)") if name == "rawboost" else ""
            raise ChainError(f"{where}: p must be a probability in [0, 1], got {p!r}{hint}")
        settings = {k: v for k, v in raw.items() if k not in _COMMON}
        try:
            runner = _build(name, settings, sample_rate, where, base_dir)
        except ChainError:
            raise
        except (ValueError, TypeError) as exc:
            raise ChainError(f"{where}: {exc}") from None
        tensor = hasattr(runner, "draw")
        stage = raw.get("stage", "device" if tensor else "cpu")
        if stage not in ("cpu", "device"):
            raise ChainError(f"{where}: stage must be 'cpu' or 'device', got {stage!r}")
        if stage == "device" and not tensor:
            raise ChainError(f"{where}: {name} needs CPU libraries and runs per utterance; "
                             "it cannot have stage = 'device'")
        steps.append(Step(index, name, float(p), stage, dict(settings), runner))
    chain = Chain(sample_rate, seed, tuple(steps), source)
    notes = []
    if chain.reordered:
        first_device = next(s for s in steps if s.stage == "device")
        late_cpu = [s for s in steps if s.stage == "cpu" and s.index > first_device.index]
        notes.append(f"{source}: CPU step {late_cpu[0].index} ({late_cpu[0].name}) comes "
                     f"after device step {first_device.index} ({first_device.name}) in the "
                     "file, but every CPU step runs before the device steps; give the tensor "
                     "step stage = \"cpu\" to keep the file order")
    for s in steps:
        left = getattr(s.runner, "left_out", ())
        if left:
            notes.append(f"{source}: step {s.index} (preset) leaves out {', '.join(left)}: "
                         "they need model = 'path/to/codec.pt'")
    return Chain(sample_rate, seed, tuple(steps), source, tuple(notes))


def load_chain(path: str | Path) -> Chain:
    """Read and check a chain TOML file (errors name the file, step and parameter)."""
    path = Path(path)
    return parse_chain(read_toml(path, "chain"), str(path), path.resolve().parent)
