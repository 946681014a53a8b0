"""Architectures of the SSL backbones (wav2vec 2.0 / XLS-R / MMS / HuBERT sizes) as
torchaudio ``wav2vec2_model`` arguments, and their checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from curate.errors import CurateError

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
    return check_arch({**SSL_ARCHS[name], **overrides}, name)


def check_arch(config: dict[str, Any], where: str) -> dict[str, Any]:
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
