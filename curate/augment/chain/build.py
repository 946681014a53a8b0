"""A chain step from its TOML settings: the step names, the check of each step's keys
against what its implementation takes, relative paths, and the step's runner."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from curate.augment.chain.errors import ChainError
from curate.augment.chain.runners import (_audiomentations_classes, _AudiomentationsRunner,
                                          _CodecRunner, _PresetRunner, _TensorRunner)

CPU_STEPS = ("codec", "preset")
DEVICE_STEPS = ("rawboost", "g711", "telephone", "bandlimit", "bit_depth", "downsample",
                "packet_loss", "gain", "clip", "neural_codec")
#: Every step name a chain may use (plus ``audiomentations.<Transform>``).
STEP_NAMES = CPU_STEPS + DEVICE_STEPS


def _where(source: str, index: int, name: str) -> str:
    return f"{source}: step {index} ({name})"


def _check_keys(where: str, settings: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = [k for k in settings if k not in allowed]
    if unknown:
        raise ChainError(f"{where}: unknown parameter {unknown[0]!r}; allowed: "
                         f"{', '.join(sorted(set(allowed) | {'p'}))}")


def _resolve_path(value: Any, base: Optional[Path]) -> Any:
    if isinstance(value, str) and base is not None and not Path(value).is_absolute():
        candidate = base / value
        if candidate.exists():
            return str(candidate)
    return value


def _build(name: str, settings: dict[str, Any], sample_rate: int, where: str,
           base: Optional[Path]) -> Any:
    from curate.augment.channel.steps import TENSOR_STEPS
    from curate.augment.neural import NeuralCodecStep

    if name in TENSOR_STEPS:
        cls = TENSOR_STEPS[name]
        _check_keys(where, settings, [k for k in cls.keys() if k != "sample_rate"])
        values = {k: (tuple(v) if isinstance(v, list) and k == "rates" else v)
                  for k, v in settings.items()}
        return _TensorRunner(cls(sample_rate=sample_rate, **values))
    if name == "rawboost":
        from curate.augment.rawboost import ALIASES, RawBoostSettings, RawBoostStep

        allowed = ["algo", "sample_rate"] + [f for f in RawBoostSettings.__dataclass_fields__
                                             if f != "p"] + list(ALIASES)
        _check_keys(where, settings, allowed)
        values = dict(settings)
        algo = values.pop("algo", 5)
        if values.pop("sample_rate", sample_rate) != sample_rate:
            raise ChainError(f"{where}: sample_rate differs from the chain's {sample_rate} "
                             "Hz; leave it out (the chain's rate applies to every step)")
        return _TensorRunner(RawBoostStep.from_settings(algo, sample_rate, **values))
    if name == "neural_codec":
        _check_keys(where, settings, [k for k in NeuralCodecStep.keys() if k != "sample_rate"])
        values = dict(settings)
        values["model"] = _resolve_path(values.get("model", ""), base)
        return _TensorRunner(NeuralCodecStep(sample_rate=sample_rate, **values))
    if name == "codec":
        _check_keys(where, settings, ["codecs", "bitrates", "codec_rates"])
        return _CodecRunner(settings.get("codecs", ["mp3", "aac", "opus"]),
                            settings.get("bitrates", {}), settings.get("codec_rates", {}),
                            sample_rate)
    if name == "preset":
        _check_keys(where, settings, ["preset", "conditions", "model", "factory",
                                      "factory_kwargs", "model_rate", "pad_multiple"])
        if "preset" not in settings:
            raise ChainError(f"{where}: preset is required; use one of asvspoof2021_la, "
                             "asvspoof2021_df, asvspoof5")
        neural = None
        if "model" in settings:
            neural = NeuralCodecStep(sample_rate=sample_rate,
                                     model=_resolve_path(settings["model"], base),
                                     factory=settings.get("factory"),
                                     factory_kwargs=settings.get("factory_kwargs", {}),
                                     model_rate=settings.get("model_rate"),
                                     pad_multiple=settings.get("pad_multiple", 1))
        return _PresetRunner(settings["preset"], settings.get("conditions"), neural)
    if name.startswith("audiomentations."):
        transform = name.split(".", 1)[1]
        classes = _audiomentations_classes()
        if transform not in classes:
            raise ChainError(f"{where}: unknown step {name!r}; audiomentations has "
                             f"{', '.join(sorted(classes))}")
        signature = inspect.signature(classes[transform].__init__)
        allowed = [k for k in signature.parameters if k not in ("self", "p")]
        has_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD
                         for p in signature.parameters.values())
        if not has_var_kw:
            _check_keys(where, settings, allowed)
        values = {k: _resolve_path(v, base) if k.endswith("_path") else v
                  for k, v in settings.items()}
        return _AudiomentationsRunner(transform, values)
    raise ChainError(f"{where}: unknown step {name!r}; use one of {', '.join(STEP_NAMES)} "
                     "or audiomentations.<Transform>")
