"""The Hugging Face ``transformers`` layout of wav2vec 2.0 / HuBERT checkpoints: config ->
architecture, state-dict keys -> torchaudio's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from curate.train.models.checkpoint_files import read_safetensors, torch_load
from curate.train.models.ssl_arch import LAYOUT_HELP, PretrainedError, check_arch


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
    return check_arch({
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


def pos_conv_name(kind: str, target_keys: Any) -> str:
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
                leaf = pos_conv_name("g", target_keys)
            elif leaf in _POS_V:
                leaf = pos_conv_name("v", target_keys)
            new = "encoder.transformer.pos_conv_embed.conv." + leaf
        elif key.startswith("encoder."):
            new = "encoder.transformer." + key[len("encoder."):]
        else:
            raise PretrainedError(f"unexpected parameter {key!r} in the Hugging Face "
                                  "checkpoint; is it a wav2vec2 / hubert model?")
        out[new] = value
    return out


def hf_normalize(folder: Path) -> bool | None:
    """Whether a Hugging Face model folder's feature extractor normalises waveforms:
    ``do_normalize`` of its ``preprocessor_config.json`` (zero mean, unit variance per
    utterance; the extractor's default, true, when the file leaves the key out), or
    None when the folder has no such file (the checkpoint does not say)."""
    import json as _json

    path = folder / "preprocessor_config.json"
    if not path.is_file():
        return None
    try:
        cfg = _json.loads(path.read_text())
    except ValueError as exc:
        raise PretrainedError(f"{path} is not valid JSON ({exc}); fix or remove it") from None
    value = cfg.get("do_normalize", True) if isinstance(cfg, dict) else None
    if not isinstance(value, bool):
        raise PretrainedError(f"{path}: do_normalize must be true or false, got {value!r}")
    return value


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
                             torch_load(folder / shard, trust))
            return arch, state
    if (folder / "model.safetensors").is_file():
        return arch, read_safetensors(folder / "model.safetensors")
    if (folder / "pytorch_model.bin").is_file():
        return arch, torch_load(folder / "pytorch_model.bin", trust)
    raise PretrainedError(f"{folder} has config.json but no model.safetensors or "
                          f"pytorch_model.bin; expected {LAYOUT_HELP}")
