"""Detectors: waveform ``(batch, time)`` + ``lengths`` -> logits ``(batch, 2)``.

Class index 1 is bonafide and index 0 is spoof, so the detection score (higher = more
bonafide) is ``logits[:, 1] - logits[:, 0]`` (:func:`bonafide_score`).

Every detector takes padded batches and is invariant to padding in eval mode: the
output for a row depends only on its first ``lengths[i]`` samples, never on how much
padding follows or what it contains. Batched scoring of clips of different durations
therefore equals scoring them one at a time.

Models are registered by name (:func:`register_model`) and built from plain keyword
arguments (:func:`build_model`), so an experiment config can name them and a
checkpoint can rebuild them.

Registered models:

- ``small_cnn`` (:class:`SmallCNN`): log-mel front end and a light CNN; trains on a CPU
  in minutes (the demo's and the tests' model).
- ``ssl`` (:class:`SSLDetector`): a wav2vec 2.0 / XLS-R / MMS / HuBERT backbone built
  with torchaudio, loaded from a local Hugging Face folder or fairseq checkpoint, then
  mean or attentive pooling and a linear head.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Union

import torch
import torchaudio
from torch import nn

from curate.errors import CurateError

PathLikeStr = Union[str, "PathLike[str]"]

__all__ = [
    "lengths_to_mask",
    "num_frames",
    "masked_mean_max",
    "bonafide_score",
    "LogMelFrontEnd",
    "SmallCNN",
    "MODELS",
    "register_model",
    "build_model",
    "model_arguments",
    "model_argument_types",
    "restore_kwargs",
    "count_parameters",
    "SSL_ARCHS",
    "PretrainedError",
    "ssl_arch",
    "read_pretrained",
    "read_safetensors",
    "hf_config_to_arch",
    "hf_to_torchaudio",
    "fairseq_cfg_to_arch",
    "fairseq_to_torchaudio",
    "masked_group_norm",
    "masked_mean",
    "AttentivePooling",
    "SSLDetector",
]


# --------------------------------------------------------------------------- pure functions


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Boolean mask of valid positions.

    Args:
        lengths: (batch,) integer tensor, valid length of each row.
        max_len: padded length of the time axis.

    Returns:
        (batch, max_len) bool tensor, True where ``t < lengths[i]``.
    """
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def num_frames(lengths: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """Number of STFT frames (no centre padding) that lie wholly inside each signal.

    A frame ``j`` covers samples ``[j * hop_length, j * hop_length + n_fft)``. Signals
    shorter than ``n_fft`` still get one frame (zero-padded), so the result is >= 1.

    Args:
        lengths: (batch,) valid lengths in samples.

    Returns:
        (batch,) int64 frame counts.
    """
    lengths = lengths.to(torch.int64)
    return 1 + torch.clamp(lengths - n_fft, min=0) // hop_length


def masked_mean_max(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean and max over the valid part of the time axis.

    Args:
        x: (batch, channels, time) features.
        lengths: (batch,) valid lengths along time, each >= 1.

    Returns:
        (batch, 2 * channels): ``[mean, max]`` concatenated along channels.
    """
    mask = lengths_to_mask(lengths, x.shape[-1]).unsqueeze(1)  # (batch, 1, time)
    denom = lengths.clamp(min=1).to(x.dtype).unsqueeze(1)
    mean = x.masked_fill(~mask, 0.0).sum(dim=-1) / denom
    peak = x.masked_fill(~mask, float("-inf")).amax(dim=-1)
    return torch.cat([mean, peak], dim=1)


def bonafide_score(logits: torch.Tensor) -> torch.Tensor:
    """Detection score from (batch, 2) logits: ``logit_bonafide - logit_spoof``, (batch,)."""
    if logits.ndim != 2 or logits.shape[1] != 2:
        raise ValueError(f"logits must have shape (batch, 2), got {tuple(logits.shape)}")
    return logits[:, 1] - logits[:, 0]


def _check_batch(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Validate a (batch, time) waveform batch; return lengths as int64 on x's device."""
    if x.ndim != 2:
        raise ValueError(
            f"x must be a (batch, time) waveform batch, got shape {tuple(x.shape)}; "
            "use x.unsqueeze(0) for a single clip"
        )
    if lengths is None:
        return torch.full((x.shape[0],), x.shape[1], dtype=torch.int64, device=x.device)
    lengths = torch.as_tensor(lengths, device=x.device).to(torch.int64)
    if lengths.shape != (x.shape[0],):
        raise ValueError(
            f"lengths must have shape (batch,) = ({x.shape[0]},), got {tuple(lengths.shape)}"
        )
    return lengths


# --------------------------------------------------------------------------- front end


class LogMelFrontEnd(nn.Module):
    """Log mel spectrogram of padded waveforms, with padded frames set to 0.

    Frames are not centre-padded, and samples beyond ``lengths`` are zeroed first,
    so every kept frame depends only on the valid samples of its row.

    Args:
        sample_rate: input sample rate in Hz.
        n_mels: number of mel bands.
        n_fft: FFT size in samples (512 = 32 ms at 16 kHz).
        win_length: analysis window in samples (400 = 25 ms at 16 kHz).
        hop_length: frame shift in samples (160 = 10 ms at 16 kHz).
        f_min, f_max: mel filterbank range in Hz (``f_max=None``: Nyquist).
        eps: floor added to the mel power before the log.

    Shapes:
        forward(x (batch, time), lengths (batch,)) ->
        (features (batch, n_mels, frames), frame_lengths (batch,)).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 64,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        f_min: float = 20.0,
        f_max: float | None = None,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0 Hz, got {sample_rate}")
        if n_mels < 1:
            raise ValueError(f"n_mels must be >= 1, got {n_mels}")
        if not 0 < win_length <= n_fft:
            raise ValueError(
                f"win_length must be in (0, n_fft={n_fft}], got {win_length}; raise n_fft"
            )
        if hop_length < 1:
            raise ValueError(f"hop_length must be >= 1 sample, got {hop_length}")
        nyquist = sample_rate / 2
        if f_max is not None and not f_min < f_max <= nyquist:
            raise ValueError(
                f"f_max must be in (f_min={f_min}, {nyquist}] Hz, got {f_max}; "
                "use None for the Nyquist frequency"
            )
        if eps <= 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.eps = eps
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            f_min=f_min,
            f_max=f_max,
            n_mels=n_mels,
            center=False,
            power=2.0,
        )

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid frames per row for sample ``lengths`` (batch,) -> (batch,)."""
        return num_frames(lengths, self.n_fft, self.hop_length)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = _check_batch(x, lengths)
        x = x.masked_fill(~lengths_to_mask(lengths, x.shape[1]), 0.0)
        if x.shape[1] < self.n_fft:
            x = nn.functional.pad(x, (0, self.n_fft - x.shape[1]))
        feats = torch.log(self.mel(x) + self.eps)  # (batch, n_mels, frames)
        frame_lengths = self.frame_lengths(lengths).clamp(max=feats.shape[-1])
        mask = lengths_to_mask(frame_lengths, feats.shape[-1]).unsqueeze(1)
        return feats.masked_fill(~mask, 0.0), frame_lengths


# --------------------------------------------------------------------------- detectors


class _ConvBlock(nn.Module):
    """Conv3x3 -> BatchNorm -> ReLU -> 2x2 max-pool over (freq, time), padding-safe.

    Padded frames are zeroed before pooling; values are >= 0 after the ReLU, so a
    pooling window that straddles the end of the valid part takes the max of the valid
    frames only. ``ceil_mode`` keeps the last odd frame, and the new valid length is
    ``ceil(length / 2)``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(kernel_size=2, ceil_mode=True)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor, padded: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, in, bands, frames) + frame lengths -> pooled features + new lengths.

        ``padded=False`` promises every row is full length and skips the masking.
        """
        x = torch.relu(self.norm(self.conv(x)))
        if padded:
            x = x * lengths_to_mask(lengths, x.shape[-1])[:, None, None, :].to(x.dtype)
        x = self.pool(x)
        return x, (lengths + 1) // 2


class SmallCNN(nn.Module):
    """A small log-mel CNN detector, fast enough to train on a CPU.

    log-mel (:class:`LogMelFrontEnd`) -> per-band BatchNorm -> ``len(channels)``
    conv blocks (3x3 conv, BatchNorm, ReLU, 2x2 max-pool) -> flatten channels and
    remaining mel bands per frame -> masked mean + max over time -> dropout -> linear.

    Args:
        sample_rate: input sample rate in Hz.
        n_mels: mel bands of the front end.
        channels: output channels of each conv block.
        dropout: dropout probability before the linear head.
        **front_end: further :class:`LogMelFrontEnd` arguments (n_fft, hop_length, ...).

    Shapes:
        forward(x (batch, time) float waveform, lengths (batch,) or None) ->
        logits (batch, 2), index 1 = bonafide.
    """

    #: keyword arguments ``**front_end`` passes on to :class:`LogMelFrontEnd`
    extra_arguments = ("n_fft", "win_length", "hop_length", "f_min", "f_max", "eps")
    #: where those arguments go (their types and defaults are read from its signature)
    extra_arguments_from = LogMelFrontEnd

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 64,
        channels: Sequence[int] = (8, 16, 32, 64),
        dropout: float = 0.2,
        **front_end: Any,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if not channels or min(channels) < 1:
            raise ValueError(
                f"channels must be a non-empty sequence of positive ints, got {channels}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.front_end = LogMelFrontEnd(sample_rate=sample_rate, n_mels=n_mels, **front_end)
        self.input_norm = nn.BatchNorm1d(n_mels)
        blocks = []
        in_channels = 1
        bands = n_mels
        for out_channels in channels:
            blocks.append(_ConvBlock(in_channels, out_channels))
            in_channels = out_channels
            bands = (bands + 1) // 2
        self.blocks = nn.ModuleList(blocks)
        self.embedding_dim = 2 * channels[-1] * bands
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.embedding_dim, 2)

    def embed(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Utterance embedding before the head: (batch, time) -> (batch, embedding_dim)."""
        feats, frames = self.front_end(x, lengths)  # (batch, n_mels, frames)
        mask = lengths_to_mask(frames, feats.shape[-1]).unsqueeze(1)
        feats = self.input_norm(feats).masked_fill(~mask, 0.0)
        # Full-length batches (fixed training crops) need no masking inside the blocks;
        # the check costs one host-device sync per forward on an accelerator.
        padded = bool((frames < feats.shape[-1]).any())
        h = feats.unsqueeze(1)  # (batch, 1, n_mels, frames)
        for block in self.blocks:
            h, frames = block(h, frames, padded)
        batch, chans, bands, steps = h.shape
        return masked_mean_max(h.reshape(batch, chans * bands, steps), frames)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x, lengths)))


# --------------------------------------------------------------------------- registry

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a model factory under ``name`` for :func:`build_model`.

    A factory takes keyword arguments only, including ``sample_rate`` (Hz, which the
    training loop always passes), and returns an ``nn.Module`` mapping
    ``(x (batch, time), lengths (batch,))`` to logits ``(batch, 2)``, index 1 = bonafide.
    """

    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in MODELS and MODELS[name] is not factory:
            raise ValueError(f"model name {name!r} is already registered; pick another name")
        MODELS[name] = factory
        return factory

    return wrap


register_model("small_cnn")(SmallCNN)


def model_arguments(name: str) -> set[str] | None:
    """Keyword arguments the factory of ``name`` accepts (None: it takes any)."""
    import inspect

    factory = MODELS[name]
    target = factory.__init__ if isinstance(factory, type) else factory
    params = inspect.signature(target).parameters.values()
    names = {p.name for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        extra = getattr(factory, "extra_arguments", None)  # what **kwargs passes on
        return None if extra is None else names | set(extra)
    return names


def model_argument_types(name: str) -> dict[str, tuple[Any, Any]]:
    """Annotated type and default of each keyword argument the factory of ``name`` takes.

    Arguments that ``**kwargs`` passes on are included where the factory names their
    destination (``extra_arguments_from``, as :class:`SmallCNN` does). An argument
    without an annotation maps to ``Any``; one without a default to
    ``inspect.Parameter.empty``. Experiment files check their ``[model]`` values
    against these types.
    """
    import inspect
    import typing

    out: dict[str, tuple[Any, Any]] = {}

    def add(target: Any, names: set[str] | None = None) -> None:
        target = target.__init__ if isinstance(target, type) else target
        try:
            hints = typing.get_type_hints(target)
        except Exception:  # an annotation that does not resolve: no type to check
            hints = {}
        for p in inspect.signature(target).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            if names is None or p.name in names:
                out.setdefault(p.name, (hints.get(p.name, Any), p.default))

    factory = MODELS[name]
    add(factory)
    source = getattr(factory, "extra_arguments_from", None)
    if source is not None:
        add(source, set(getattr(factory, "extra_arguments", ())))
    return out


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered detector by name, e.g. ``build_model("small_cnn", n_mels=40)``."""
    if name not in MODELS:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"unknown model {name!r}; known models: {known}")
    allowed = model_arguments(name)
    unknown = sorted(set(kwargs) - allowed) if allowed is not None else []
    if unknown:
        raise ValueError(f"model {name!r} has no argument(s) {', '.join(unknown)}; its "
                         f"arguments: {', '.join(sorted(allowed - {'sample_rate'}))}")
    return MODELS[name](**kwargs)


def restore_kwargs(model: nn.Module, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments that rebuild ``model`` without outside files (a pretrained
    SSL checkpoint, say): the model's own ``restore_kwargs()`` where it has one."""
    own = getattr(model, "restore_kwargs", None)
    return dict(own()) if callable(own) else dict(kwargs)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# =========================================================================== SSL backbones
#
# wav2vec 2.0 / XLS-R / MMS / HuBERT through torchaudio's ``wav2vec2_model`` (the same
# module for all of them), a pooling layer and a linear head. Pretrained weights come
# from local files only: a Hugging Face model folder or a fairseq checkpoint, mapped
# onto torchaudio's parameter names here (neither library is needed).

_CONV_DEFAULT = [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2

# Shapes of the published sizes (torchaudio's builders); dropouts are the builders'.
_BASE = dict(extractor_mode="group_norm", extractor_conv_layer_config=_CONV_DEFAULT,
             extractor_conv_bias=False, encoder_embed_dim=768, encoder_pos_conv_kernel=128,
             encoder_pos_conv_groups=16, encoder_num_layers=12, encoder_num_heads=12,
             encoder_ff_interm_features=3072, encoder_layer_norm_first=False,
             encoder_projection_dropout=0.1, encoder_attention_dropout=0.1,
             encoder_ff_interm_dropout=0.1, encoder_dropout=0.1, encoder_layer_drop=0.0)


def _arch(**changes: Any) -> dict[str, Any]:
    return {**_BASE, **changes}


_LARGE_LN = dict(extractor_mode="layer_norm", encoder_embed_dim=1024, encoder_num_layers=24,
                 encoder_num_heads=16, encoder_ff_interm_features=4096,
                 encoder_layer_norm_first=True)
_XLSR = dict(_LARGE_LN, extractor_conv_bias=True, encoder_projection_dropout=0.0,
             encoder_attention_dropout=0.0, encoder_ff_interm_dropout=0.0, encoder_dropout=0.0)
_XLSR_1B = dict(_XLSR, encoder_embed_dim=1280, encoder_num_layers=48,
                encoder_ff_interm_features=5120, encoder_projection_dropout=0.1)
_XLSR_2B = dict(_XLSR_1B, encoder_embed_dim=1920, encoder_ff_interm_features=7680)

#: Named backbone sizes -> ``torchaudio.models.wav2vec2_model`` arguments.
SSL_ARCHS: dict[str, dict[str, Any]] = {
    "wav2vec2_base": _arch(),
    "wav2vec2_large": _arch(encoder_embed_dim=1024, encoder_num_layers=24, encoder_num_heads=16,
                            encoder_ff_interm_features=4096),
    "wav2vec2_large_lv60k": _arch(**dict(_LARGE_LN, extractor_conv_bias=True)),
    "xlsr_300m": _arch(**_XLSR),
    "xlsr_1b": _arch(**_XLSR_1B),
    "xlsr_2b": _arch(**_XLSR_2B),
    "mms_300m": _arch(**_XLSR),  # MMS pretrained models share the XLS-R shapes
    "mms_1b": _arch(**_XLSR_1B),
    "hubert_base": _arch(encoder_projection_dropout=0.1, encoder_attention_dropout=0.1,
                         encoder_ff_interm_dropout=0.0, encoder_dropout=0.1),
    "hubert_large": _arch(**dict(_LARGE_LN, encoder_projection_dropout=0.0,
                                 encoder_attention_dropout=0.0, encoder_ff_interm_dropout=0.0,
                                 encoder_dropout=0.0)),
    "hubert_xlarge": _arch(**dict(_LARGE_LN, encoder_embed_dim=1280, encoder_num_layers=48,
                                  encoder_ff_interm_features=5120,
                                  encoder_projection_dropout=0.0,
                                  encoder_attention_dropout=0.0,
                                  encoder_ff_interm_dropout=0.0, encoder_dropout=0.0)),
}
ARCH_KEYS = tuple(_BASE)
_SHAPE_KEYS = ("extractor_mode", "extractor_conv_layer_config", "extractor_conv_bias",
               "encoder_embed_dim", "encoder_pos_conv_kernel", "encoder_pos_conv_groups",
               "encoder_num_layers", "encoder_num_heads", "encoder_ff_interm_features",
               "encoder_layer_norm_first")
_DROPOUT_KEYS = ("encoder_projection_dropout", "encoder_attention_dropout",
                 "encoder_ff_interm_dropout", "encoder_dropout")
LAYOUT_HELP = (
    "a Hugging Face model folder (config.json + model.safetensors or pytorch_model.bin, "
    "as saved by save_pretrained) or a fairseq checkpoint file (.pt holding 'model' and "
    "'cfg' or 'args'); nothing is downloaded"
)


class PretrainedError(CurateError):
    """A pretrained checkpoint is missing or cannot be read; the message names the path
    and the expected layout."""


def ssl_arch(name: str, **overrides: Any) -> dict[str, Any]:
    """The ``wav2vec2_model`` arguments of a named size, with ``overrides`` applied."""
    if name not in SSL_ARCHS:
        raise ValueError(f"unknown SSL architecture {name!r}; known: {', '.join(SSL_ARCHS)} "
                         "(or arch = 'custom' with arch_config)")
    return _check_arch({**SSL_ARCHS[name], **overrides}, name)


def _check_arch(config: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(config) - set(ARCH_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown architecture key(s) {', '.join(unknown)}; "
                         f"known: {', '.join(ARCH_KEYS)}")
    missing = [k for k in ARCH_KEYS if k not in config]
    if missing:
        raise ValueError(f"{where}: architecture lacks {', '.join(missing)}")
    config = dict(config)
    config["extractor_conv_layer_config"] = [tuple(int(v) for v in layer) for layer in
                                             config["extractor_conv_layer_config"]]
    if config["extractor_mode"] not in ("group_norm", "layer_norm"):
        raise ValueError(f"{where}: extractor_mode must be group_norm or layer_norm, got "
                         f"{config['extractor_mode']!r}")
    return config


# --------------------------------------------------------------------------- file reading


def read_safetensors(path: PathLikeStr) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file (the format is a JSON header and raw bytes;
    read here without the safetensors package)."""
    import json as _json

    dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
              "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
              "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
    raw = Path(path).read_bytes()
    if len(raw) < 8:
        raise PretrainedError(f"{path} is too short to be a safetensors file")
    size = int.from_bytes(raw[:8], "little")
    try:
        header = _json.loads(raw[8 : 8 + size])
    except ValueError as exc:
        raise PretrainedError(f"{path}: unreadable safetensors header ({exc})") from None
    base = 8 + size
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in dtypes:
            raise PretrainedError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        buffer = bytearray(raw[base + start : base + end])
        tensor = torch.frombuffer(buffer, dtype=dtypes[info["dtype"]]) if buffer else \
            torch.empty(0, dtype=dtypes[info["dtype"]])
        out[name] = tensor.reshape(info["shape"]).clone()
    return out


def _torch_load(path: Path, trust: bool) -> Any:
    """``torch.load`` without running code (argparse.Namespace allowed: old fairseq
    checkpoints keep their arguments in one); ``trust`` allows full unpickling."""
    import argparse

    if trust:
        return torch.load(path, map_location="cpu", weights_only=False)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle that needs code to load
        raise PretrainedError(
            f"cannot read {path} without running code from it ({str(exc).splitlines()[0]}); "
            "if the file comes from a source you trust, set trust_checkpoint = true in "
            "[model]"
        ) from None


def _field(cfg: Any, key: str, default: Any = None) -> Any:
    if cfg is None:
        return default
    if isinstance(cfg, dict):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def _literal_layers(text: str) -> list[tuple[int, int, int]]:
    """fairseq's ``conv_feature_layers`` expression, e.g. ``"[(512, 10, 5)] + [(512, 3,
    2)] * 4"``, evaluated safely (lists, tuples, ints, + and *)."""
    import ast

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = ev(node.left), ev(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(f"unsupported expression element {ast.dump(node)}")

    try:
        layers = ev(ast.parse(str(text), mode="eval"))
    except (SyntaxError, ValueError) as exc:
        raise PretrainedError(f"cannot read conv_feature_layers {text!r}: {exc}") from None
    return [tuple(int(v) for v in layer[:3]) for layer in layers]


# --------------------------------------------------------------------------- HF layout


def hf_config_to_arch(cfg: dict[str, Any]) -> dict[str, Any]:
    """A Hugging Face ``config.json`` (wav2vec2 / hubert) -> ``wav2vec2_model`` arguments."""
    model_type = cfg.get("model_type", "wav2vec2")
    if model_type not in ("wav2vec2", "hubert"):
        raise PretrainedError(f"model_type {model_type!r} is not supported; use a wav2vec2 "
                              "(wav2vec 2.0, XLS-R, MMS) or hubert checkpoint")
    if model_type == "hubert" and not cfg.get("feat_proj_layer_norm", True):
        raise PretrainedError("HuBERT checkpoints with feat_proj_layer_norm = false are not "
                              "supported")
    conv_dim = cfg.get("conv_dim", [512] * 7)
    conv_kernel = cfg.get("conv_kernel", [10, 3, 3, 3, 3, 2, 2])
    conv_stride = cfg.get("conv_stride", [5, 2, 2, 2, 2, 2, 2])
    return _check_arch({
        "extractor_mode": f"{cfg.get('feat_extract_norm', 'group')}_norm",
        "extractor_conv_layer_config": list(zip(conv_dim, conv_kernel, conv_stride)),
        "extractor_conv_bias": bool(cfg.get("conv_bias", False)),
        "encoder_embed_dim": int(cfg.get("hidden_size", 768)),
        "encoder_projection_dropout": float(cfg.get("feat_proj_dropout", 0.0)),
        "encoder_pos_conv_kernel": int(cfg.get("num_conv_pos_embeddings", 128)),
        "encoder_pos_conv_groups": int(cfg.get("num_conv_pos_embedding_groups", 16)),
        "encoder_num_layers": int(cfg.get("num_hidden_layers", 12)),
        "encoder_num_heads": int(cfg.get("num_attention_heads", 12)),
        "encoder_attention_dropout": float(cfg.get("attention_dropout", 0.1)),
        "encoder_ff_interm_features": int(cfg.get("intermediate_size", 3072)),
        "encoder_ff_interm_dropout": float(cfg.get("activation_dropout", 0.1)),
        "encoder_dropout": float(cfg.get("hidden_dropout", 0.1)),
        "encoder_layer_norm_first": bool(cfg.get("do_stable_layer_norm", False)),
        "encoder_layer_drop": float(cfg.get("layerdrop", 0.1)),
    }, "config.json")


_HF_SKIP = ("masked_spec_embed", "quantizer.", "project_q.", "project_hid.", "lm_head.",
            "projector.", "classifier.", "adapter.", "label_embeddings_concat", "final_proj.",
            "layer_weights", "dropout_features", "encoder.pos_conv_embed.padding")
_POS_G = ("weight_g", "parametrizations.weight.original0")
_POS_V = ("weight_v", "parametrizations.weight.original1")


def _pos_conv_name(kind: str, target_keys: Any) -> str:
    """The name torchaudio gives the positional conv's weight-norm ``g`` / ``v`` here."""
    modern = any("parametrizations.weight.original0" in k for k in target_keys)
    index = 1 if modern else 0
    return (_POS_G if kind == "g" else _POS_V)[index]


def hf_to_torchaudio(state: dict[str, torch.Tensor],
                     target_keys: Any = ()) -> dict[str, torch.Tensor]:
    """Hugging Face ``Wav2Vec2Model`` / ``HubertModel`` parameter names (any head, with or
    without the ``wav2vec2.`` / ``hubert.`` prefix) -> torchaudio ``Wav2Vec2Model`` names.
    Heads and pretraining-only parameters are dropped."""
    out = {}
    for key, value in state.items():
        for prefix in ("wav2vec2.", "hubert.", "model."):
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        if key.startswith(_HF_SKIP):
            continue
        if key.startswith("feature_extractor."):
            new = key
        elif key.startswith("feature_projection."):
            new = "encoder." + key
        elif key.startswith("encoder.pos_conv_embed.conv."):
            leaf = key[len("encoder.pos_conv_embed.conv."):]
            if leaf in _POS_G:
                leaf = _pos_conv_name("g", target_keys)
            elif leaf in _POS_V:
                leaf = _pos_conv_name("v", target_keys)
            new = "encoder.transformer.pos_conv_embed.conv." + leaf
        elif key.startswith("encoder."):
            new = "encoder.transformer." + key[len("encoder."):]
        else:
            raise PretrainedError(f"unexpected parameter {key!r} in the Hugging Face "
                                  "checkpoint; is it a wav2vec2 / hubert model?")
        out[new] = value
    return out


def read_hf_folder(folder: Path, trust: bool = False
                   ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(arch, state dict in HF names)`` of a Hugging Face model folder."""
    import json as _json

    config_file = folder / "config.json"
    if not config_file.is_file():
        raise PretrainedError(f"{folder} has no config.json; expected {LAYOUT_HELP}")
    arch = hf_config_to_arch(_json.loads(config_file.read_text()))
    state: dict[str, torch.Tensor] = {}
    for index_name, loader in (("model.safetensors.index.json", read_safetensors),
                               ("pytorch_model.bin.index.json", None)):
        index = folder / index_name
        if index.is_file():
            shards = sorted(set(_json.loads(index.read_text())["weight_map"].values()))
            for shard in shards:
                state.update(loader(folder / shard) if loader else
                             _torch_load(folder / shard, trust))
            return arch, state
    if (folder / "model.safetensors").is_file():
        return arch, read_safetensors(folder / "model.safetensors")
    if (folder / "pytorch_model.bin").is_file():
        return arch, _torch_load(folder / "pytorch_model.bin", trust)
    raise PretrainedError(f"{folder} has config.json but no model.safetensors or "
                          f"pytorch_model.bin; expected {LAYOUT_HELP}")


# --------------------------------------------------------------------------- fairseq layout

_FAIRSEQ_SKIP = ("mask_emb", "quantizer.", "project_q.", "final_proj.", "label_embs_concat",
                 "target_glu.", "proj.", "encoder.pos_conv.0.padding")


def fairseq_cfg_to_arch(model_cfg: Any) -> dict[str, Any]:
    """fairseq's model config (``cfg['model']`` or old ``args``) -> ``wav2vec2_model``
    arguments; fairseq's defaults where a key is absent."""
    mode = _field(model_cfg, "extractor_mode", "default")
    if mode not in ("default", "layer_norm"):
        raise PretrainedError(f"fairseq extractor_mode {mode!r} is not supported")
    layers = _field(model_cfg, "conv_feature_layers",
                    "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2")
    if int(_field(model_cfg, "pos_conv_depth", 1) or 1) != 1:
        raise PretrainedError("fairseq checkpoints with pos_conv_depth > 1 (data2vec) are "
                              "not supported")
    return _check_arch({
        "extractor_mode": "group_norm" if mode == "default" else "layer_norm",
        "extractor_conv_layer_config": _literal_layers(layers),
        "extractor_conv_bias": bool(_field(model_cfg, "conv_bias", False)),
        "encoder_embed_dim": int(_field(model_cfg, "encoder_embed_dim", 768)),
        "encoder_projection_dropout": float(_field(model_cfg, "dropout_input", 0.0)),
        "encoder_pos_conv_kernel": int(_field(model_cfg, "conv_pos", 128)),
        "encoder_pos_conv_groups": int(_field(model_cfg, "conv_pos_groups", 16)),
        "encoder_num_layers": int(_field(model_cfg, "encoder_layers", 12)),
        "encoder_num_heads": int(_field(model_cfg, "encoder_attention_heads", 12)),
        "encoder_attention_dropout": float(_field(model_cfg, "attention_dropout", 0.1)),
        "encoder_ff_interm_features": int(_field(model_cfg, "encoder_ffn_embed_dim", 3072)),
        "encoder_ff_interm_dropout": float(_field(model_cfg, "activation_dropout", 0.0)),
        "encoder_dropout": float(_field(model_cfg, "dropout", 0.1)),
        "encoder_layer_norm_first": bool(_field(model_cfg, "layer_norm_first", False)),
        "encoder_layer_drop": float(_field(model_cfg, "encoder_layerdrop", 0.0)),
    }, "fairseq cfg")


_FAIRSEQ_RULES: list[tuple[str, str]] = [
    (r"feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)",
     r"feature_extractor.conv_layers.\1.conv.\2"),
    (r"feature_extractor\.conv_layers\.(\d+)\.2\.(weight|bias)",  # group norm (layer 0)
     r"feature_extractor.conv_layers.\1.layer_norm.\2"),
    (r"feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)",  # layer-norm mode
     r"feature_extractor.conv_layers.\1.layer_norm.\2"),
    (r"post_extract_proj\.(weight|bias)", r"encoder.feature_projection.projection.\1"),
    (r"layer_norm\.(weight|bias)", r"encoder.feature_projection.layer_norm.\1"),
    (r"encoder\.pos_conv\.0\.bias", r"encoder.transformer.pos_conv_embed.conv.bias"),
    (r"encoder\.layer_norm\.(weight|bias)", r"encoder.transformer.layer_norm.\1"),
    (r"encoder\.layers\.(\d+)\.self_attn\.(k|v|q|out)_proj\.(weight|bias)",
     r"encoder.transformer.layers.\1.attention.\2_proj.\3"),
    (r"encoder\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)",
     r"encoder.transformer.layers.\1.layer_norm.\2"),
    (r"encoder\.layers\.(\d+)\.fc1\.(weight|bias)",
     r"encoder.transformer.layers.\1.feed_forward.intermediate_dense.\2"),
    (r"encoder\.layers\.(\d+)\.fc2\.(weight|bias)",
     r"encoder.transformer.layers.\1.feed_forward.output_dense.\2"),
    (r"encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)",
     r"encoder.transformer.layers.\1.final_layer_norm.\2"),
]


def fairseq_to_torchaudio(state: dict[str, torch.Tensor],
                          target_keys: Any = ()) -> dict[str, torch.Tensor]:
    """fairseq wav2vec 2.0 / HuBERT parameter names (pretrained, or fine-tuned with the
    ``w2v_encoder.w2v_model.`` prefix) -> torchaudio ``Wav2Vec2Model`` names. Heads and
    pretraining-only parameters (quantizer, mask embedding, projections) are dropped."""
    import re

    rules = [(re.compile(p + r"$"), r) for p, r in _FAIRSEQ_RULES]
    out = {}
    for key, value in state.items():
        for prefix in ("w2v_encoder.w2v_model.", "w2v_model.", "encoder.w2v_model."):
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        if key.startswith("w2v_encoder.") or key.startswith(_FAIRSEQ_SKIP):
            continue
        if key in ("encoder.pos_conv.0.weight_g", "encoder.pos_conv.0.weight_v"):
            leaf = _pos_conv_name(key[-1], target_keys)
            out["encoder.transformer.pos_conv_embed.conv." + leaf] = value
            continue
        for pattern, replacement in rules:
            if pattern.match(key):
                out[pattern.sub(replacement, key)] = value
                break
        else:
            raise PretrainedError(f"unexpected parameter {key!r} in the fairseq checkpoint; "
                                  "is it a wav2vec 2.0 / HuBERT model?")
    return out


def read_fairseq(path: Path, trust: bool = False
                 ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(arch, state dict in fairseq names)`` of a fairseq checkpoint file."""
    blob = _torch_load(path, trust)
    if not isinstance(blob, dict) or "model" not in blob:
        raise PretrainedError(f"{path} holds no 'model' state dict; expected {LAYOUT_HELP}")
    cfg = blob.get("cfg")
    model_cfg = _field(cfg, "model") if cfg is not None else blob.get("args")
    if model_cfg is None:
        raise PretrainedError(f"{path} has no 'cfg' or 'args' describing the model; "
                              f"expected {LAYOUT_HELP}")
    # fine-tuned models keep the pretraining config in w2v_args
    inner = _field(model_cfg, "w2v_args")
    if inner is not None:
        model_cfg = _field(inner, "model", inner)
    return fairseq_cfg_to_arch(model_cfg), blob["model"]


def read_pretrained(path: PathLikeStr, trust: bool = False
                    ) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
    """Read a local SSL checkpoint: ``(arch or {}, state dict, layout)``.

    Layouts: ``huggingface`` (a folder), ``fairseq`` (a file with ``model`` and
    ``cfg``/``args``), ``torchaudio`` (a file holding a torchaudio ``Wav2Vec2Model``
    state dict; the architecture must then be named). The state dict still has the
    layout's own names (see :func:`hf_to_torchaudio`, :func:`fairseq_to_torchaudio`).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        arch, state = read_hf_folder(path, trust)
        return arch, state, "huggingface"
    if not path.is_file():
        raise PretrainedError(f"pretrained checkpoint {path} does not exist; expected "
                              f"{LAYOUT_HELP}")
    if path.suffix == ".safetensors":
        return {}, read_safetensors(path), "torchaudio"
    blob = _torch_load(path, trust)
    if isinstance(blob, dict) and "model" in blob and ("cfg" in blob or "args" in blob):
        arch, state = read_fairseq(path, trust)
        return arch, state, "fairseq"
    if isinstance(blob, dict) and blob and all(isinstance(v, torch.Tensor)
                                               for v in blob.values()):
        return {}, blob, "torchaudio"
    raise PretrainedError(f"cannot tell the layout of {path}; expected {LAYOUT_HELP}, or a "
                          "torchaudio Wav2Vec2Model state dict")


# --------------------------------------------------------------------------- pooling


def masked_group_norm(x: torch.Tensor, lengths: torch.Tensor, norm: nn.GroupNorm
                      ) -> torch.Tensor:
    """``norm(x)`` with the statistics taken over the valid frames of each row only, in
    float32; (batch, channels, time). Equal to ``norm`` for full-length rows."""
    batch, channels, steps = x.shape
    groups = norm.num_groups
    mask = lengths_to_mask(lengths, steps).view(batch, 1, 1, steps).float()
    xf = x.float().view(batch, groups, channels // groups, steps)
    count = (lengths.clamp(min=1).float() * (channels // groups)).view(batch, 1, 1, 1)
    mean = (xf * mask).sum(dim=(2, 3), keepdim=True) / count
    var = (((xf - mean) * mask) ** 2).sum(dim=(2, 3), keepdim=True) / count
    y = ((xf - mean) * torch.rsqrt(var + norm.eps)).view(batch, channels, steps)
    if norm.affine:
        y = y * norm.weight.float().view(1, -1, 1) + norm.bias.float().view(1, -1, 1)
    return y.to(x.dtype)


def masked_mean(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the valid frames: (batch, time, dim) -> (batch, dim)."""
    mask = lengths_to_mask(lengths, h.shape[1]).unsqueeze(-1).to(h.dtype)
    return (h * mask).sum(dim=1) / lengths.clamp(min=1).to(h.dtype).unsqueeze(-1)


class AttentivePooling(nn.Module):
    """Attentive statistics pooling: attention weights over the valid frames (a masked
    softmax of ``v . tanh(W h)``), then the weighted mean and standard deviation.

    Shapes: forward(h (batch, time, dim), lengths (batch,)) -> (batch, 2 * dim).
    """

    def __init__(self, dim: int, attention_dim: int = 128) -> None:
        super().__init__()
        self.project = nn.Linear(dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        logits = self.score(torch.tanh(self.project(h))).squeeze(-1)  # (batch, time)
        mask = lengths_to_mask(lengths, h.shape[1])
        weights = torch.softmax(logits.float().masked_fill(~mask, float("-inf")), dim=1)
        weights = weights.to(h.dtype).unsqueeze(-1)
        mean = (weights * h).sum(dim=1)
        var = (weights * (h - mean.unsqueeze(1)) ** 2).sum(dim=1)
        return torch.cat([mean, torch.sqrt(var.clamp(min=1e-6))], dim=1)


POOLINGS = ("mean", "attentive")


# --------------------------------------------------------------------------- detector


class SSLDetector(nn.Module):
    """An SSL backbone (wav2vec 2.0, XLS-R, MMS, HuBERT) + pooling + linear head.

    Args:
        sample_rate: must be 16000 (the backbones' rate).
        arch: a named size (:data:`SSL_ARCHS`: ``wav2vec2_base``, ``wav2vec2_large``,
            ``wav2vec2_large_lv60k``, ``xlsr_300m``, ``xlsr_1b``, ``xlsr_2b``, ``mms_300m``,
            ``mms_1b``, ``hubert_base``, ``hubert_large``, ``hubert_xlarge``), ``custom``
            (``arch_config``, with the base size's values for keys it leaves out) or
            ``auto`` (from the pretrained checkpoint).
        pretrained: a local checkpoint (Hugging Face folder or fairseq file, see
            :func:`read_pretrained`), or None for random initialisation.
        arch_config: ``wav2vec2_model`` arguments overriding the size's (tiny test
            configurations, other dropouts ...).
        layer_drop: encoder layer drop (0: off, the default for detection).
        dropout: when set, every encoder dropout (projection, attention, feed-forward,
            residual) takes this value; None keeps the size's / checkpoint's.
        layers: ``"last"`` (the encoder output), ``"weighted"`` (a learned softmax-weighted
            sum of all layer outputs) or an int k (the output of layer k, 1-based).
        pooling: ``"mean"`` or ``"attentive"`` (attentive statistics pooling).
        attention_dim: hidden size of the attentive pooling.
        head_hidden: size of a hidden layer before the output layer (0: linear head).
        head_dropout: dropout before the head.
        freeze_feature_extractor: keep the convolutional feature extractor fixed.
        trust_checkpoint: allow full unpickling of the pretrained file (trusted files
            only; needed for some old fairseq checkpoints).

    Padding: the convolutional feature extractor's group norm (base models) is computed
    over each row's valid frames, and the encoder masks padded frames, so a row's
    output does not depend on the padding after it. Masking of time steps (SpecAugment
    style, from pretraining) is not applied.

    Shapes:
        forward(x (batch, time), lengths (batch,) or None) -> logits (batch, 2).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        arch: str = "wav2vec2_base",
        pretrained: str | None = None,
        arch_config: dict[str, Any] | None = None,
        layer_drop: float = 0.0,
        dropout: float | None = None,
        layers: str | int = "last",
        pooling: str = "mean",
        attention_dim: int = 128,
        head_hidden: int = 0,
        head_dropout: float = 0.0,
        freeze_feature_extractor: bool = False,
        trust_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        from torchaudio.models import wav2vec2_model

        if sample_rate != 16000:
            raise ValueError(f"SSL backbones take 16000 Hz audio; set sample_rate = 16000 "
                             f"(got {sample_rate})")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if not (layers in ("last", "weighted") or (isinstance(layers, int)
                                                    and not isinstance(layers, bool))):
            raise ValueError(f"layers must be 'last', 'weighted' or a layer number, got "
                             f"{layers!r}")
        if not 0.0 <= layer_drop < 1.0:
            raise ValueError(f"layer_drop must be in [0, 1), got {layer_drop}")
        if dropout is not None and not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1) or None, got {dropout}")
        state = None
        ckpt_arch: dict[str, Any] = {}
        if pretrained:
            ckpt_arch, raw, layout = read_pretrained(pretrained, trust_checkpoint)
            self.pretrained_layout = layout
        if arch == "auto":
            if not ckpt_arch:
                raise ValueError("arch = 'auto' needs a pretrained checkpoint that describes "
                                 "its architecture (a Hugging Face folder or fairseq file)")
            config = dict(ckpt_arch)
        elif arch == "custom":
            if not arch_config:
                raise ValueError("arch = 'custom' needs arch_config (wav2vec2_model arguments)")
            config = dict(_BASE)  # the base size's values for keys arch_config leaves out
        else:
            config = ssl_arch(arch)
            if ckpt_arch:
                clash = [k for k in _SHAPE_KEYS if _norm(ckpt_arch[k]) != _norm(config[k])]
                if clash:
                    raise PretrainedError(
                        f"pretrained checkpoint {pretrained} does not match arch {arch!r} "
                        f"({', '.join(f'{k}: {ckpt_arch[k]} vs {config[k]}' for k in clash)}); "
                        "use arch = 'auto' to take the architecture from the checkpoint"
                    )
                config = dict(ckpt_arch)
        config.update(arch_config or {})
        config["encoder_layer_drop"] = float(layer_drop)
        if dropout is not None:
            config.update({k: float(dropout) for k in _DROPOUT_KEYS})
        self.arch_config = _check_arch(config, f"arch {arch!r}")
        self.backbone = wav2vec2_model(**self.arch_config, aux_num_out=None)
        if pretrained:
            target = self.backbone.state_dict()
            if layout == "huggingface":
                state = hf_to_torchaudio(raw, target.keys())
            elif layout == "fairseq":
                state = fairseq_to_torchaudio(raw, target.keys())
            else:
                state = raw
            self._load_backbone(state, target, str(pretrained))
        dim = self.arch_config["encoder_embed_dim"]
        num_layers = self.arch_config["encoder_num_layers"]
        if isinstance(layers, int) and not 1 <= layers <= num_layers:
            raise ValueError(f"layers must be in [1, {num_layers}] for this backbone, got "
                             f"{layers}")
        self.layers = layers
        self.layer_weights = nn.Parameter(torch.zeros(num_layers)) if layers == "weighted" \
            else None
        self.pooling = pooling
        self.pool = AttentivePooling(dim, attention_dim) if pooling == "attentive" else None
        pooled = 2 * dim if pooling == "attentive" else dim
        self.dropout = nn.Dropout(head_dropout)
        if head_hidden:
            self.head = nn.Sequential(nn.Linear(pooled, head_hidden), nn.GELU(),
                                      nn.Dropout(head_dropout), nn.Linear(head_hidden, 2))
        else:
            self.head = nn.Linear(pooled, 2)
        self.freeze_feature_extractor = bool(freeze_feature_extractor)
        if self.freeze_feature_extractor:
            for p in self.backbone.feature_extractor.parameters():
                p.requires_grad_(False)
        self._kwargs = dict(arch="custom", pretrained=None,
                            arch_config=_plain_arch(self.arch_config), layer_drop=layer_drop,
                            dropout=None, layers=layers, pooling=pooling,
                            attention_dim=attention_dim, head_hidden=head_hidden,
                            head_dropout=head_dropout,
                            freeze_feature_extractor=freeze_feature_extractor)
        self.receptive_field = _receptive_field(self.arch_config["extractor_conv_layer_config"])

    def restore_kwargs(self) -> dict[str, Any]:
        """Arguments that rebuild this architecture without the pretrained file."""
        return dict(self._kwargs)

    def _load_backbone(self, state: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                       where: str) -> None:
        missing = sorted(set(target) - set(state))
        unexpected = sorted(set(state) - set(target))
        if missing or unexpected:
            raise PretrainedError(
                f"pretrained checkpoint {where} does not fit the backbone: missing "
                f"{', '.join(missing[:5]) or 'none'}{' ...' if len(missing) > 5 else ''}; "
                f"unexpected {', '.join(unexpected[:5]) or 'none'}"
                f"{' ...' if len(unexpected) > 5 else ''}"
            )
        for key, value in state.items():
            if value.shape != target[key].shape:
                raise PretrainedError(f"pretrained checkpoint {where}: {key} has shape "
                                      f"{tuple(value.shape)}, the backbone "
                                      f"{tuple(target[key].shape)}")
        self.backbone.load_state_dict(state, strict=True)

    def features(self, x: torch.Tensor, lengths: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """The conv feature extractor, padding-safe: (batch, time) -> (batch, frames, C)."""
        if x.shape[1] < self.receptive_field:
            x = nn.functional.pad(x, (0, self.receptive_field - x.shape[1]))
        padded = bool((lengths < x.shape[1]).any())
        h = x.unsqueeze(1)
        frames = lengths
        for layer in self.backbone.feature_extractor.conv_layers:
            h = layer.conv(h)
            frames = torch.div(frames - layer.kernel_size, layer.stride,
                               rounding_mode="floor") + 1
            frames = frames.clamp(min=1)
            if isinstance(layer.layer_norm, nn.GroupNorm) and padded:
                h = masked_group_norm(h, frames.clamp(max=h.shape[-1]), layer.layer_norm)
            elif layer.layer_norm is not None:
                h = layer.layer_norm(h)
            h = nn.functional.gelu(h)
        return h.transpose(1, 2), frames.clamp(max=h.shape[-1])

    def hidden(self, x: torch.Tensor, lengths: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone output before pooling: (batch, frames, dim) and frame lengths."""
        lengths = _check_batch(x, lengths)
        feats, frames = self.features(x, lengths)
        encoder = self.backbone.encoder
        if self.layers == "last":
            return encoder(feats, frames), frames
        outputs = encoder.extract_features(feats, frames)
        if self.layers == "weighted":
            w = torch.softmax(self.layer_weights, dim=0)
            return sum(wi * hi for wi, hi in zip(w, outputs)), frames
        return outputs[int(self.layers) - 1], frames

    def embed(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h, frames = self.hidden(x, lengths)
        return self.pool(h, frames) if self.pool is not None else masked_mean(h, frames)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x, lengths)))


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    return value


def _plain_arch(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    out["extractor_conv_layer_config"] = [list(layer) for layer in
                                          config["extractor_conv_layer_config"]]
    return out


def _receptive_field(layers: Sequence[tuple[int, int, int]]) -> int:
    field_, jump = 1, 1
    for _, kernel, stride in layers:
        field_ += (kernel - 1) * jump
        jump *= stride
    return field_


register_model("ssl")(SSLDetector)
