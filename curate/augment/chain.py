"""Augmentation chains: one TOML file for offline augmentation, previews and training.

```toml
sample_rate = 16000
seed = 11
[[step]]
name = "rawboost"   # rawboost, codec, preset, g711, telephone, bandlimit, bit_depth,
p = 0.5             # downsample, packet_loss, gain, clip, neural_codec,
algo = 5            # audiomentations.<Transform>
[[step]]
name = "codec"
p = 0.5
codecs = ["mp3", "opus", "g711_mu"]
```

**Two stages.** Steps that need CPU libraries (``codec``, ``preset``,
``audiomentations.*``) are *CPU steps*: they run per utterance in the DataLoader
workers (:meth:`Chain.cpu_stage`, numpy in and out). Tensor steps (``rawboost``,
``g711``, ``telephone``, ``bandlimit``, ``bit_depth``, ``downsample``,
``packet_loss``, ``gain``, ``clip``, ``neural_codec``) are *device steps*: they run
once per batch on the training device (:meth:`Chain.device_stage`). Each stage runs
its steps in file order; **all CPU steps run before all device steps**. A chain that
lists a device step before a CPU step is run in that stage order anyway
(``Chain.reordered`` is then True and ``Chain.notes`` says so); to keep a tensor step
before a CPU step, give it ``stage = "cpu"``: it then runs in the worker on the one
utterance, with the same implementation. :meth:`Chain.apply_offline` (``curate
augment``, previews) runs exactly the two stages training runs, so a preview shows
what training sees.

**Randomness.** ``p`` (default 1) is the probability that a step touches an utterance,
drawn per utterance: from ``rng`` (a ``numpy.random.Generator``) in the CPU stage and
from ``generator`` (a ``torch.Generator``, best on the training device) in the device
stage. Every step draws its parameters from the same source, so a chain, a seed and
the order of calls give the same output; :func:`utterance_rng` and
:func:`batch_generator` derive those sources from ``(seed, epoch, index)``. Each
utterance's applied steps are returned as ``[{"step": name, "params": {...}}]`` (plain
JSON data) for the ``augment_log`` table (:func:`curate.augment.log.write_augment_log`).

**No host round trips in the device stage.** Device steps draw their parameters for
every row as tensors on the generator's device, run on the whole batch and keep their
result where ``u < p`` (``torch.where``); nothing is read back to the host. The log
(:class:`AppliedSteps`) is copied to the host in one transfer when it is first read,
and never when augmentation is not logged.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from curate.errors import CurateError
from curate.tomlfile import read_toml

__all__ = ["ChainError", "Step", "Chain", "AppliedSteps", "load_chain", "parse_chain",
           "utterance_rng", "batch_generator", "STEP_NAMES", "jsonable"]

CPU_STEPS = ("codec", "preset")
DEVICE_STEPS = ("rawboost", "g711", "telephone", "bandlimit", "bit_depth", "downsample",
                "packet_loss", "gain", "clip", "neural_codec")
#: Every step name a chain may use (plus ``audiomentations.<Transform>``).
STEP_NAMES = CPU_STEPS + DEVICE_STEPS
_TOP_KEYS = ("sample_rate", "seed", "step", "name", "description")
_COMMON = ("name", "p", "stage")


class ChainError(CurateError, ValueError):
    """A chain file that cannot be used; the message names the file, the step and the fix."""


# ------------------------------------------------------------------------ json data


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


# ------------------------------------------------------------------------ randomness


def _seed_words(*parts: Any) -> list[int]:
    digest = hashlib.blake2b(json.dumps([str(p) for p in parts]).encode(), digest_size=16)
    raw = digest.digest()
    return [int.from_bytes(raw[i:i + 4], "little") for i in range(0, 16, 4)]


def utterance_rng(seed: int, epoch: int, key: Any) -> np.random.Generator:
    """The CPU-stage generator of one utterance: a function of (chain seed, epoch, key),
    where ``key`` is the utterance's index or id; independent of worker and order."""
    return np.random.default_rng(_seed_words(seed, epoch, key))


def batch_generator(seed: int, epoch: int, step: Any, device: str | torch.device = "cpu"
                    ) -> torch.Generator:
    """The device-stage generator of one batch: a function of (seed, epoch, step)."""
    words = _seed_words(seed, epoch, step, "device")
    return torch.Generator(device=device).manual_seed((words[0] << 31) ^ words[1])


# ------------------------------------------------------------------------ step runners


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


def _rows(params: Any, host: Optional[Mapping[str, np.ndarray]] = None,
          index: Optional[Sequence[int]] = None) -> list[Any]:
    """A step's plain per-item rows (JSON data); tensor params from ``host`` (default:
    copied to the host now, in one transfer)."""
    from curate.augment.drawn import plain_rows

    return [jsonable(row) for row in plain_rows(params, host, index)]


class AppliedSteps(Sequence):
    """The device stage's log of a batch: ``applied[i]`` is the list of
    ``{"step": name, "params": {...}}`` that ran on row ``i``.

    Built lazily: the device stage keeps the drawn tensors and which rows each step
    touched, and nothing is copied to the host until the log is read. The first read
    copies all of it in **one transfer** (:func:`curate.augment.drawn.to_host`) and
    makes the plain rows; a log that is never read (augmentation logging off) costs
    nothing. Compares equal to another log or list with the same rows;
    :meth:`to_list` gives a plain list (for ``json.dumps``).
    """

    def __init__(self, batch: int, drawn: Sequence[tuple[str, Tensor, Any]]) -> None:
        self._batch = batch
        self._drawn = list(drawn)       # (step name, chosen rows (bool), params)
        self._plain: Optional[list[list[dict]]] = None

    def __len__(self) -> int:
        return self._batch

    def __getitem__(self, i: Any) -> Any:
        return self.to_list()[i]

    def __iter__(self) -> Any:
        return iter(self.to_list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return self.to_list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        state = "read" if self._plain is not None else "not read"
        return f"AppliedSteps({self._batch} rows, {len(self._drawn)} steps, {state})"

    def to_list(self) -> list[list[dict]]:
        """The rows as plain lists (copied to the host on the first call, in one transfer)."""
        if self._plain is None:
            from curate.augment.drawn import to_host

            tensors: dict[str, Tensor] = {}
            for k, (_, chosen, params) in enumerate(self._drawn):
                tensors[f"{k}/chosen"] = chosen
                if hasattr(params, "tensors"):
                    tensors.update({f"{k}/{key}": t for key, t in params.tensors().items()})
            host = to_host(tensors)
            plain: list[list[dict]] = [[] for _ in range(self._batch)]
            for k, (name, _, params) in enumerate(self._drawn):
                prefix = f"{k}/"
                own = {key[len(prefix):]: v for key, v in host.items() if key.startswith(prefix)}
                rows = np.flatnonzero(own.pop("chosen")).tolist()
                for row, item in zip(rows, _rows(params, own, rows)):
                    plain[row].append({"step": name, "params": item})
            self._plain = plain
            self._drawn = []
        return self._plain


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


# ------------------------------------------------------------------------ chain


@dataclass(frozen=True, eq=False)
class Step:
    """One step of a chain.

    Attributes:
        index: 1-based position in the file.
        name: step name (``codec``, ``rawboost``, ``audiomentations.Gain``, ...).
        p: probability per utterance.
        stage: "cpu" (per utterance, in the loader workers) or "device" (per batch).
        settings: the step's other keys as given.
    """

    index: int
    name: str
    p: float
    stage: str
    settings: Mapping[str, Any]
    runner: Any = field(repr=False, compare=False)

    @property
    def is_tensor(self) -> bool:
        """Whether the step is a tensor step (runs on a batch; may run in either stage)."""
        return hasattr(self.runner, "draw")

    def run_tensor(self, x: Tensor, lengths: Tensor, generator: torch.Generator,
                   ) -> tuple[Tensor, list[dict]]:
        """Draw and apply the step on every row; returns its plain rows too (one
        transfer: for the CPU stage, where the rows are wanted at once)."""
        params = self.runner.draw(x.shape[0], generator)
        return self.runner.apply(x, lengths, params), _rows(params)


@dataclass(frozen=True, eq=False)
class Chain:
    """A parsed chain (see the module doc); build with :func:`load_chain`."""

    sample_rate: int
    seed: int
    steps: tuple[Step, ...]
    source: str = "<chain>"
    notes: tuple[str, ...] = ()

    @property
    def cpu_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.stage == "cpu")

    @property
    def device_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.stage == "device")

    @property
    def has_cpu_steps(self) -> bool:
        return bool(self.cpu_steps)

    @property
    def has_device_steps(self) -> bool:
        return bool(self.device_steps)

    @property
    def reordered(self) -> bool:
        """True when the run order (CPU steps, then device steps) differs from the file."""
        return [s.index for s in self.cpu_steps + self.device_steps] != \
            [s.index for s in self.steps]

    def _check_rate(self, sample_rate: int) -> None:
        if int(sample_rate) != self.sample_rate:
            raise ValueError(f"audio at {sample_rate} Hz given to a chain for "
                             f"{self.sample_rate} Hz ({self.source}); resample it first or "
                             "change sample_rate in the chain")

    def cpu_stage(self, x: np.ndarray, sample_rate: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, list[dict]]:
        """Run the CPU steps on one utterance (in a DataLoader worker).

        Args:
            x: float mono ``(time,)`` at the chain's sample rate.
            sample_rate: Hz of ``x`` (must be the chain's).
            rng: the utterance's generator (see :func:`utterance_rng`).

        Returns:
            ``(y, applied)``: ``y`` float32 ``(time,)`` (a step that changes the length is
            cut or zero-padded back), ``applied`` the steps that ran with their params.
        """
        self._check_rate(sample_rate)
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"x must be mono (time,), got shape {x.shape}")
        n = x.shape[0]
        applied: list[dict] = []
        y = x
        for step in self.cpu_steps:
            if rng.random() >= step.p:
                continue
            if step.is_tensor:
                generator = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
                t, plain = step.run_tensor(torch.from_numpy(np.ascontiguousarray(y))[None],
                                           torch.tensor([len(y)]), generator)
                y, params = t[0].numpy(), plain[0]
            else:
                y, params = step.runner.run(y, self.sample_rate, rng)
            y = _fit(np.asarray(y, dtype=np.float32), n)
            applied.append({"step": step.name, "params": jsonable(params)})
        return y, applied

    def device_stage(self, x: Tensor, lengths: Optional[Tensor], generator: torch.Generator
                     ) -> tuple[Tensor, AppliedSteps]:
        """Run the device steps on a batch (on the training device), with no host round
        trip.

        Each step draws ``u ~ U[0, 1)`` per row, then its parameters for every row (as
        tensors on the generator's device), applies them to the whole batch and keeps
        the result on the rows with ``u < p`` (``torch.where``): no value is read back
        and no Python loop runs over rows. Use a generator on ``x``'s device (as the
        training loop does) and nothing crosses between host and device.

        Args:
            x: float ``(batch, time)`` at the chain's rate, any device.
            lengths: valid samples per row, int ``(batch,)`` (None: all).
            generator: draws ``p`` per row and each step's parameters.

        Returns:
            ``(y, applied)``: ``y`` like ``x``; ``applied[i]`` the steps that ran on row
            ``i`` with their params, an :class:`AppliedSteps` copied to the host in one
            transfer when first read (never, when augmentation is not logged).
        """
        from curate.batch import check_batch

        x, lengths = check_batch(x, lengths)
        batch = x.shape[0]
        drawn = []
        for step in self.device_steps:
            u = torch.rand(batch, generator=generator, device=generator.device,
                           dtype=torch.float64)
            if step.p <= 0 or batch == 0:
                continue
            params = step.runner.draw(batch, generator)
            y = step.runner.apply(x, lengths, params).to(x.dtype)
            chosen = (u < step.p).to(x.device, non_blocking=True)
            x = torch.where(chosen[:, None], y, x)
            drawn.append((step.name, chosen, params))
        return x, AppliedSteps(batch, drawn)

    def apply_offline(self, x: np.ndarray, sample_rate: int, rng: np.random.Generator,
                      generator: torch.Generator) -> tuple[np.ndarray, list[dict]]:
        """Both stages on one utterance, as training runs them (CPU then device steps)."""
        y, applied = self.cpu_stage(x, sample_rate, rng)
        if self.has_device_steps:
            t, rows = self.device_stage(torch.from_numpy(np.ascontiguousarray(y))[None],
                                        torch.tensor([len(y)]), generator)
            y = t[0].numpy()
            applied = applied + list(rows[0])
        return np.asarray(y, dtype=np.float32), applied

    def describe(self) -> list[str]:
        """One line per step, in run order."""
        return [f"{s.stage:6s} step {s.index}: {s.name} (p={s.p:g})"
                for s in self.cpu_steps + self.device_steps]


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    if y.ndim != 1:
        y = y.reshape(-1)
    if y.shape[0] >= n:
        return y[:n]
    return np.concatenate([y, np.zeros(n - y.shape[0], np.float32)])


# ------------------------------------------------------------------------ parsing


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
    from curate.augment.channel import TENSOR_STEPS
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
            raise ChainError(f"{where}: sample_rate differs from the chain's {sample_rate} Hz; "
                             "leave it out (the chain's rate applies to every step)")
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


def _check_int(source: str, key: str, value: Any, low: int) -> int:
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
    sample_rate = _check_int(source, "sample_rate", data.get("sample_rate", 16000), 1000)
    seed = _check_int(source, "seed", data.get("seed", 0), 0)
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
        notes.append(f"{source}: CPU step {late_cpu[0].index} ({late_cpu[0].name}) comes after "
                     f"device step {first_device.index} ({first_device.name}) in the file, "
                     "but every CPU step runs before the device steps; give the tensor "
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
