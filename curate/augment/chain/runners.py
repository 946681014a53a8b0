"""How each kind of chain step runs: a tensor step (``draw`` and ``apply`` on a batch) and
the CPU steps (``run`` on one utterance): real codecs, presets and audiomentations."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from curate.augment.chain.json_data import jsonable


class _TensorRunner:
    """A tensor step (RawBoost, G.711, a channel simulation, the neural codec):
    ``draw(n, generator) -> params`` (tensors on the generator's device, or plain dicts
    for steps without randomness) and ``apply(x, lengths, params)``."""

    def __init__(self, transform: Any) -> None:
        self.transform = transform

    def draw(self, n: int, generator: torch.Generator) -> Any:
        return self.transform.sample_params(n, generator)

    def apply(self, x: Tensor, lengths: Tensor, params: Any) -> Tensor:
        return self.transform.apply(x, lengths, params)


class _CodecRunner:
    """CPU step ``codec``: one codec per utterance, drawn from ``codecs``; its bit rate
    drawn from ``bitrates[codec]`` (``[low, high]`` log-uniform, or a list of values) or
    the codec's own range."""

    def __init__(self, codecs: Sequence[str], bitrates: Mapping[str, Sequence[float]],
                 codec_rates: Mapping[str, int], sample_rate: int = 16000) -> None:
        from curate.augment import realcodec

        if isinstance(codecs, str) or not codecs:
            raise ValueError("codecs must be a non-empty list of codec names, e.g. "
                             "[\"mp3\", \"opus\"]")
        self.codecs = tuple(realcodec.codec_spec(c).name for c in codecs)
        self.bitrates = {}
        for key, values in dict(bitrates).items():
            name = realcodec.codec_spec(key).name
            if name not in self.codecs:
                raise ValueError(f"bitrates names {key!r}, which is not in codecs")
            if isinstance(values, (int, float)):
                values = [values]
            values = list(values)
            if not values:
                raise ValueError(f"bitrates.{key} is empty; give [low, high] or values")
            for v in values:
                realcodec.resolve_bitrate(name, v, realcodec.codec_rate(name, sample_rate, v))
            self.bitrates[name] = values
        self.codec_rates = {}
        for key, rate in dict(codec_rates).items():
            spec = realcodec.codec_spec(key)
            if isinstance(rate, bool) or not isinstance(rate, int) or \
                    (spec.rates is not None and rate not in spec.rates):
                allowed = ", ".join(map(str, spec.rates)) if spec.rates else "a rate in Hz"
                raise ValueError(f"codec_rates.{key} must be {allowed}, got {rate!r}")
            self.codec_rates[spec.name] = rate

    def run(self, x: np.ndarray, sample_rate: int, rng: np.random.Generator
            ) -> tuple[np.ndarray, dict]:
        from curate.augment import realcodec

        codec = self.codecs[int(rng.integers(len(self.codecs)))]
        choices = self.bitrates.get(codec)
        bitrate = realcodec.sample_bitrate(codec, rng, choices)
        y, info = realcodec.encode_decode_info(x, sample_rate, codec, bitrate,
                                               codec_rate_hz=self.codec_rates.get(codec))
        return y, info


class _PresetRunner:
    def __init__(self, preset: str, conditions: Optional[Sequence[str]],
                 neural: Any) -> None:
        from curate.augment import presets

        table = presets.preset_conditions(preset)
        if conditions is not None:
            if isinstance(conditions, str) or not conditions:
                raise ValueError("conditions must be a non-empty list of condition ids")
            unknown = [c for c in conditions if c not in table]
            if unknown:
                raise ValueError(f"preset {preset!r} has no condition {unknown[0]!r}; use "
                                 f"{', '.join(table)}")
            chosen = list(conditions)
            if neural is None:
                needing = [c for c in chosen if presets.needs_model(table[c])]
                if needing:
                    raise ValueError(f"condition {needing[0]} runs the neural-codec hook; "
                                     "give model = 'path/to/codec.pt' or leave it out of "
                                     "conditions")
        else:
            chosen = [c for c in table if neural is not None or
                      not presets.needs_model(table[c])]
        self.preset = preset
        self.conditions = tuple(chosen)
        self.neural = neural
        self.left_out = tuple(c for c in table if c not in chosen) if conditions is None \
            else ()

    def run(self, x: np.ndarray, sample_rate: int, rng: np.random.Generator
            ) -> tuple[np.ndarray, dict]:
        from curate.augment import presets

        return presets.run_condition(x, sample_rate, self.preset, rng, self.conditions,
                                     self.neural)


_GLOBAL_RNG_LOCK = threading.Lock()


class _AudiomentationsRunner:
    """An audiomentations transform, its own probability replaced by the chain's ``p``.

    audiomentations draws from Python's and numpy's global generators; the runner seeds
    both from the chain's ``rng`` around the call and restores their previous state, so
    the result depends on the chain's seed only.
    """

    def __init__(self, transform_name: str, kwargs: Mapping[str, Any]) -> None:
        self.transform_name = transform_name
        self.kwargs = dict(kwargs)
        self.transform = _audiomentations_classes()[transform_name](p=1.0, **self.kwargs)

    def __getstate__(self) -> dict:
        return {"transform_name": self.transform_name, "kwargs": self.kwargs}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["transform_name"], state["kwargs"])

    def run(self, x: np.ndarray, sample_rate: int, rng: np.random.Generator
            ) -> tuple[np.ndarray, dict]:
        seed = int(rng.integers(2 ** 32))
        with _GLOBAL_RNG_LOCK:
            py_state, np_state = random.getstate(), np.random.get_state()
            try:
                random.seed(seed)
                np.random.seed(seed)
                y = self.transform(samples=np.ascontiguousarray(x, dtype=np.float32),
                                   sample_rate=sample_rate)
                params = {k: v for k, v in self.transform.parameters.items()
                          if k != "should_apply"}
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)
        return np.asarray(y, dtype=np.float32), jsonable(params)


def _audiomentations_classes() -> dict[str, type]:
    import audiomentations
    from audiomentations.core.transforms_interface import BaseWaveformTransform

    return {name: obj for name, obj in vars(audiomentations).items()
            if isinstance(obj, type) and issubclass(obj, BaseWaveformTransform)
            and name != "Lambda"}
