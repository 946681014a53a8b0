"""The fairseq layout of wav2vec 2.0 / HuBERT checkpoints: config -> architecture, state-
dict keys -> torchaudio's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from curate.train.models.checkpoint_files import config_field, literal_layers, torch_load
from curate.train.models.hf_layout import pos_conv_name
from curate.train.models.ssl_arch import LAYOUT_HELP, PretrainedError, check_arch

_FAIRSEQ_SKIP = ("mask_emb", "quantizer.", "project_q.", "final_proj.", "label_embs_concat",
                 "target_glu.", "proj.", "encoder.pos_conv.0.padding")


def fairseq_cfg_to_arch(model_cfg: Any) -> dict[str, Any]:
    """fairseq's model config (``cfg['model']`` or old ``args``) -> ``wav2vec2_model``
    arguments; fairseq's defaults where a key is absent."""
    mode = config_field(model_cfg, "extractor_mode", "default")
    if mode not in ("default", "layer_norm"):
        raise PretrainedError(f"fairseq extractor_mode {mode!r} is not supported")
    layers = config_field(model_cfg, "conv_feature_layers",
                    "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2")
    if int(config_field(model_cfg, "pos_conv_depth", 1) or 1) != 1:
        raise PretrainedError("fairseq checkpoints with pos_conv_depth > 1 (data2vec) are "
                              "not supported")
    return check_arch({
        "extractor_mode": "group_norm" if mode == "default" else "layer_norm",
        "extractor_conv_layer_config": literal_layers(layers),
        "extractor_conv_bias": bool(config_field(model_cfg, "conv_bias", False)),
        "encoder_embed_dim": int(config_field(model_cfg, "encoder_embed_dim", 768)),
        "encoder_projection_dropout": float(config_field(model_cfg, "dropout_input", 0.0)),
        "encoder_pos_conv_kernel": int(config_field(model_cfg, "conv_pos", 128)),
        "encoder_pos_conv_groups": int(config_field(model_cfg, "conv_pos_groups", 16)),
        "encoder_num_layers": int(config_field(model_cfg, "encoder_layers", 12)),
        "encoder_num_heads": int(config_field(model_cfg, "encoder_attention_heads", 12)),
        "encoder_attention_dropout": float(config_field(model_cfg, "attention_dropout", 0.1)),
        "encoder_ff_interm_features": int(config_field(model_cfg, "encoder_ffn_embed_dim", 3072)),
        "encoder_ff_interm_dropout": float(config_field(model_cfg, "activation_dropout", 0.0)),
        "encoder_dropout": float(config_field(model_cfg, "dropout", 0.1)),
        "encoder_layer_norm_first": bool(config_field(model_cfg, "layer_norm_first", False)),
        "encoder_layer_drop": float(config_field(model_cfg, "encoder_layerdrop", 0.0)),
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
            leaf = pos_conv_name(key[-1], target_keys)
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


def fairseq_normalize(blob: dict[str, Any]) -> bool | None:
    """Whether a fairseq checkpoint's task normalised waveforms (zero mean, unit variance
    per utterance): ``cfg['task']['normalize']``, or ``args.normalize`` in old
    checkpoints; a fine-tuned checkpoint's own task first, then the pretraining task in
    ``w2v_args``. None when no config holds the key (fairseq's default is false)."""
    cfg = blob.get("cfg")
    if cfg is not None:
        tasks = [config_field(cfg, "task")]
        inner = config_field(config_field(cfg, "model"), "w2v_args")
        tasks.append(config_field(inner, "task"))
    else:
        args = blob.get("args")
        tasks = [args, config_field(args, "w2v_args")]
    for task in tasks:
        value = config_field(task, "normalize")
        if value is not None:
            return bool(value)
    return None


def fairseq_from_blob(blob: Any, where: str
                      ) -> tuple[dict[str, Any], dict[str, torch.Tensor], bool | None]:
    """``(arch, state dict in fairseq names, normalize)`` of a loaded fairseq checkpoint
    (see :func:`fairseq_normalize`); ``where`` names it in errors."""
    if not isinstance(blob, dict) or "model" not in blob:
        raise PretrainedError(f"{where} holds no 'model' state dict; expected {LAYOUT_HELP}")
    cfg = blob.get("cfg")
    model_cfg = config_field(cfg, "model") if cfg is not None else blob.get("args")
    if model_cfg is None:
        raise PretrainedError(f"{where} has no 'cfg' or 'args' describing the model; "
                              f"expected {LAYOUT_HELP}")
    # fine-tuned models keep the pretraining config in w2v_args
    inner = config_field(model_cfg, "w2v_args")
    if inner is not None:
        model_cfg = config_field(inner, "model", inner)
    return fairseq_cfg_to_arch(model_cfg), blob["model"], fairseq_normalize(blob)


def read_fairseq(path: Path, trust: bool = False
                 ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(arch, state dict in fairseq names)`` of a fairseq checkpoint file."""
    arch, state, _ = fairseq_from_blob(torch_load(path, trust), str(path))
    return arch, state
