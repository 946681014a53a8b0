"""The neural-codec hook: run a codec model the user keeps in a local file.

EnCodec-, DAC- or SpeechTokenizer-style models encode a waveform into tokens and
decode it back; speech resynthesised that way is a common artefact. curate does not
download or bundle such models: :func:`load_codec_model` reads one from a file the
user gives, either

- a **TorchScript** archive (``torch.jit.save``): self-contained;
- a **torch.export** archive (``torch.export.save``, ``.pt2``): self-contained, forward
  only (export it with a dynamic batch and time dimension); or
- a **state dict** (``torch.save(model.state_dict(), path)``, read with
  ``weights_only=True``) plus ``factory = "package.module:callable"`` (and
  ``factory_kwargs``) that builds the model the weights belong to.

The model contract: it takes float audio ``(batch, 1, time)`` at ``model_rate`` Hz and
either has ``encode`` and ``decode`` methods (``decode(encode(x))`` is used) or returns
the reconstruction from ``forward(x)``; the output may be ``(batch, 1, time')`` or
``(batch, time')`` and is cut or zero-padded to ``time``. :func:`neural_codec` resamples
to ``model_rate`` and back (torchaudio), runs the model without gradients on the
device of ``x``, and keeps samples past each row's length at zero.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import threading
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional, Sequence

import torch
from torch import Tensor

from curate.augment.channel.resample import _resample
from curate.augment.channel.rows import _mask
from curate.batch import check_batch

__all__ = ["load_codec_model", "neural_codec", "NeuralCodecStep", "file_digest"]

_CACHE: dict[tuple, torch.nn.Module] = {}
_LOCK = threading.Lock()


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """blake2b-64 hex digest of a file (logged to say which model ran); cached per
    (path, mtime, size)."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _DIGESTS:
        _DIGESTS[key] = _digest(path)
    return _DIGESTS[key]


def _digest(path: str | os.PathLike) -> str:
    h = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _archive_kind(path: Path) -> Optional[str]:
    """"torchscript", "export" (a torch.export .pt2 archive) or None (e.g. a state dict)."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    if any(n.endswith("archive_format") for n in names) and \
            any(n.endswith("models/model.json") or "serialized_exported_program" in n
                for n in names):
        return "export"
    if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        return "torchscript"
    return None


def _is_self_contained(path: Path) -> bool:
    return _archive_kind(path) is not None


def _factory(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"factory must look like 'package.module:callable', got {spec!r}")
    try:
        target = importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"factory {spec!r}: cannot import {module!r} ({exc}); install it or "
                         "fix the module path") from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ValueError(f"factory {spec!r}: {module!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"factory {spec!r} is not callable")
    return target


def load_codec_model(path: str | os.PathLike, *, factory: Optional[str] = None,
                     factory_kwargs: Optional[Mapping[str, Any]] = None,
                     device: str | torch.device = "cpu") -> torch.nn.Module:
    """Load a codec model from a local file (TorchScript, or a state dict + ``factory``),
    in eval mode on ``device``; cached per (file, mtime, factory, device).

    Raises:
        ValueError: the file is missing, is a state dict without ``factory``, or does
            not fit the model ``factory`` builds; the message says the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model {path} does not exist; give the path of a TorchScript file "
                         "or a state dict on this machine (nothing is downloaded)")
    key = (str(path.resolve()), path.stat().st_mtime_ns, factory,
           tuple(sorted((factory_kwargs or {}).items())), str(device))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    kind = _archive_kind(path)
    if kind == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.jit.load(str(path), map_location=device)
    elif kind == "export":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = torch.export.load(str(path)).module().to(device)
    else:
        if factory is None:
            raise ValueError(f"model {path} is not a TorchScript or torch.export archive; "
                             "if it is a state dict, give factory = 'package.module:callable' "
                             "that builds the model (and factory_kwargs), or save the model "
                             "with torch.export.save or torch.jit.save")
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds here
            raise ValueError(f"model {path}: cannot read a state dict ({exc})") from None
        if isinstance(state, Mapping) and "state_dict" in state and len(state) <= 3:
            state = state["state_dict"]
        model = _factory(factory)(**dict(factory_kwargs or {}))
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"factory {factory!r} returned {type(model).__name__}, not a "
                             "torch.nn.Module")
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise ValueError(f"model {path} does not fit the model {factory!r} builds "
                             f"({first}); check factory_kwargs") from None
        model = model.to(device)
    try:
        model.eval()
    except (NotImplementedError, RuntimeError):  # exported programs have no train mode
        pass
    for p in model.parameters():
        p.requires_grad_(False)
    with _LOCK:
        _CACHE[key] = model
    return model


def _run(model: torch.nn.Module, x: Tensor) -> Tensor:
    if hasattr(model, "encode") and hasattr(model, "decode"):
        y = model.decode(model.encode(x))
    else:
        y = model(x)
    if isinstance(y, (tuple, list)):
        y = y[0]
    if not isinstance(y, Tensor):
        raise ValueError("the codec model must return a tensor (batch, 1, time) or "
                         f"(batch, time), got {type(y).__name__}")
    if y.ndim == 3:
        y = y[:, 0]
    return y


def neural_codec(x: Tensor, lengths: Optional[Tensor], model: torch.nn.Module,
                 sample_rate: int, model_rate: Optional[int] = None,
                 pad_multiple: int = 1) -> Tensor:
    """Encode-decode a batch with ``model`` (see the module's contract).

    Args:
        x: float ``(batch, time)`` at ``sample_rate``, any device (the model is moved to
            it).
        lengths: valid samples per row, or None.
        model: from :func:`load_codec_model`.
        sample_rate: Hz of ``x``.
        model_rate: Hz the model works at (None: ``sample_rate``).
        pad_multiple: zero-pad the model's input to a multiple of this many samples
            (a codec's hop, e.g. 320 for EnCodec at 24 kHz).

    Returns:
        ``(batch, time)`` like ``x``.
    """
    x, lengths = check_batch(x, lengths)
    batch, time = x.shape
    if batch == 0 or time == 0:
        return x.clone()
    rate = int(model_rate or sample_rate)
    h = _mask(x, lengths)
    if rate != sample_rate:
        h = _resample(h, sample_rate, rate)
    if pad_multiple > 1 and h.shape[-1] % pad_multiple:
        h = torch.nn.functional.pad(h, (0, pad_multiple - h.shape[-1] % pad_multiple))
    param = next(iter(model.parameters()), None)
    dtype = param.dtype if param is not None else torch.float32
    if param is not None and param.device != x.device:
        model = model.to(x.device)
    with torch.inference_mode():
        y = _run(model, h[:, None, :].to(dtype)).to(x.dtype)
    if rate != sample_rate:
        y = _resample(y, rate, sample_rate)
    y = y[:, :time]
    if y.shape[-1] < time:
        y = torch.nn.functional.pad(y, (0, time - y.shape[-1]))
    return _mask(y.clone(), lengths)


@dataclass(frozen=True)
class NeuralCodecStep:
    """Chain step ``neural_codec``: ``model`` (path), optional ``factory`` /
    ``factory_kwargs`` (state dicts), ``model_rate`` (Hz; default the chain's rate),
    ``pad_multiple`` (samples at ``model_rate``; default 1)."""

    name: ClassVar[str] = "neural_codec"
    sample_rate: int = 16000
    model: str = ""
    factory: Optional[str] = None
    factory_kwargs: Mapping[str, Any] = field(default_factory=dict)
    model_rate: Optional[int] = None
    pad_multiple: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.pad_multiple, bool) or not isinstance(self.pad_multiple, int) \
                or self.pad_multiple < 1:
            raise ValueError(f"pad_multiple must be an integer >= 1 (samples), got "
                             f"{self.pad_multiple!r}")
        if not self.model:
            raise ValueError("model is required: the path of a local TorchScript file or "
                             "state dict (nothing is downloaded)")
        if not Path(self.model).is_file():
            raise ValueError(f"model {self.model} does not exist; give the path of a local "
                             "TorchScript file or state dict")
        if self.model_rate is not None and (isinstance(self.model_rate, bool) or
                                            not isinstance(self.model_rate, int) or
                                            self.model_rate <= 0):
            raise ValueError(f"model_rate must be a positive integer in Hz, got "
                             f"{self.model_rate!r}")
        if self.factory is not None:
            _factory(self.factory)
        elif not _is_self_contained(Path(self.model)):
            raise ValueError(f"model {self.model} is not a TorchScript or torch.export "
                             "archive; give factory = 'package.module:callable' to build the "
                             "model for its state dict")

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return ("sample_rate", "model", "factory", "factory_kwargs", "model_rate",
                "pad_multiple")

    def _model(self, device: torch.device) -> torch.nn.Module:
        return load_codec_model(self.model, factory=self.factory,
                                factory_kwargs=self.factory_kwargs, device=device)

    def sample_params(self, batch: int, generator: torch.Generator) -> list[dict[str, Any]]:
        """No randomness: each row records the model file and its digest."""
        item = {"model": Path(self.model).name, "digest": file_digest(self.model),
                "model_rate": int(self.model_rate or self.sample_rate)}
        return [dict(item) for _ in range(batch)]

    def apply(self, x: Tensor, lengths: Optional[Tensor],
              params: Sequence[Mapping[str, Any]]) -> Tensor:
        return neural_codec(x, lengths, self._model(x.device), self.sample_rate,
                            self.model_rate, self.pad_multiple)

    def __call__(self, x: Tensor, lengths: Optional[Tensor], generator: torch.Generator
                 ) -> tuple[Tensor, list[dict[str, Any]]]:
        params = self.sample_params(x.shape[0], generator)
        return self.apply(x, lengths, params), params
