"""SSL detectors: torchaudio sizes, padding, Hugging Face / fairseq checkpoint layouts
(written here by the test from tiny random configurations), save and reload."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.models as ta_models
from torchaudio.models import wav2vec2_model

from curate.train.loop import TrainConfig, load_checkpoint, save_checkpoint, score, train
from curate.train.models import (
    SSL_ARCHS,
    PretrainedError,
    SSLDetector,
    build_model,
    masked_group_norm,
    read_safetensors,
)

TINY = dict(extractor_mode="group_norm",
            extractor_conv_layer_config=[(16, 10, 5), (16, 3, 2), (16, 2, 2)],
            extractor_conv_bias=False, encoder_embed_dim=32, encoder_pos_conv_kernel=8,
            encoder_pos_conv_groups=4, encoder_num_layers=2, encoder_num_heads=2,
            encoder_ff_interm_features=64, encoder_layer_norm_first=False,
            encoder_projection_dropout=0.0, encoder_attention_dropout=0.0,
            encoder_ff_interm_dropout=0.0, encoder_dropout=0.0, encoder_layer_drop=0.0)
TINY_LN = dict(TINY, extractor_mode="layer_norm", extractor_conv_bias=True,
               encoder_layer_norm_first=True)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread_module):
    yield


def tiny_backbone(config: dict, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = wav2vec2_model(**config, aux_num_out=None).eval()
    with torch.no_grad():  # non-trivial norms and biases, so a wrong mapping shows
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model


# --------------------------------------------------------------------------- sizes


def test_named_sizes_match_torchaudio_builders():
    builders = {"wav2vec2_base": ta_models.wav2vec2_base,
                "wav2vec2_large": ta_models.wav2vec2_large,
                "wav2vec2_large_lv60k": ta_models.wav2vec2_large_lv60k,
                "xlsr_300m": ta_models.wav2vec2_xlsr_300m,
                "xlsr_1b": ta_models.wav2vec2_xlsr_1b, "xlsr_2b": ta_models.wav2vec2_xlsr_2b,
                "hubert_base": ta_models.hubert_base, "hubert_large": ta_models.hubert_large,
                "hubert_xlarge": ta_models.hubert_xlarge}
    for name, builder in builders.items():
        with torch.device("meta"):  # shapes only, no memory
            ref = builder()
            ours = wav2vec2_model(**SSL_ARCHS[name], aux_num_out=None)
        assert {k: v.shape for k, v in ref.state_dict().items()} == \
            {k: v.shape for k, v in ours.state_dict().items()}, name
        assert ref.encoder.transformer.layer_norm_first == \
            ours.encoder.transformer.layer_norm_first, name
    assert SSL_ARCHS["mms_300m"] == SSL_ARCHS["xlsr_300m"]
    assert SSL_ARCHS["mms_1b"] == SSL_ARCHS["xlsr_1b"]
    assert all(a["encoder_layer_drop"] == 0.0 for a in SSL_ARCHS.values())


# --------------------------------------------------------------------------- model


def test_padding_does_not_change_a_row_and_full_rows_match_torchaudio():
    for config in (TINY, TINY_LN):
        model = SSLDetector(arch="custom", arch_config=config, pooling="attentive",
                            layers="weighted").eval()
        x = 0.1 * torch.randn(3, 8000)
        lengths = torch.tensor([8000, 5000, 1200])
        with torch.no_grad():
            batched = model(x, lengths)
            for row, n in enumerate(lengths.tolist()):
                alone = model(x[row : row + 1, :n])
                torch.testing.assert_close(batched[row : row + 1], alone, atol=1e-5, rtol=1e-4)
            garbage = x.clone()
            garbage[1, 5000:] = 5.0
            torch.testing.assert_close(model(garbage, lengths), batched, atol=1e-5, rtol=1e-4)
            # full-length rows: the same features as torchaudio's own extractor
            feats, frames = model.features(x, torch.full((3,), 8000))
            ref, ref_frames = model.backbone.feature_extractor(x, torch.full((3,), 8000))
            assert torch.equal(feats, ref) and torch.equal(frames, ref_frames)
    assert model(torch.randn(2, 100)).shape == (2, 2)  # shorter than the receptive field


def test_masked_group_norm_equals_group_norm_on_full_rows():
    norm = torch.nn.GroupNorm(4, 8)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 8, 50)
    torch.testing.assert_close(masked_group_norm(x, torch.tensor([50, 50]), norm), norm(x),
                               atol=1e-5, rtol=1e-5)
    short = masked_group_norm(x, torch.tensor([50, 20]), norm)
    torch.testing.assert_close(short[1:, :, :20], norm(x[1:, :, :20]), atol=1e-5, rtol=1e-5)


def test_layer_choice_pooling_and_freezing():
    model = SSLDetector(arch="custom", arch_config=TINY, layers=1, head_hidden=8,
                        freeze_feature_extractor=True)
    assert not any(p.requires_grad for p in model.backbone.feature_extractor.parameters())
    assert model(torch.randn(2, 4000)).shape == (2, 2)
    with pytest.raises(ValueError, match="layers must be in"):
        SSLDetector(arch="custom", arch_config=TINY, layers=5)
    with pytest.raises(ValueError, match="pooling"):
        SSLDetector(arch="custom", arch_config=TINY, pooling="max")
    with pytest.raises(ValueError, match="16000"):
        SSLDetector(sample_rate=8000, arch="custom", arch_config=TINY)
    with pytest.raises(ValueError, match="unknown SSL architecture"):
        SSLDetector(arch="xlsr_9b")
    with pytest.raises(ValueError, match="has no argument"):
        build_model("ssl", arch="custom", arch_config=TINY, polling="mean")


def test_layer_outputs_match_the_backbone_and_layer_k_builds_only_k_layers():
    for config in (TINY, TINY_LN):
        x = 0.1 * torch.randn(2, 6000)
        lengths = torch.tensor([6000, 4000])
        last = SSLDetector(arch="custom", arch_config=config).eval()
        with torch.no_grad():
            feats, frames = last.features(x, lengths)
            ours = last.layer_outputs(feats, frames)
            # "last" is the backbone's own encoder forward (final layer norm included)
            torch.testing.assert_close(ours[-1], last.backbone.encoder(feats, frames))
            # every other layer output is torchaudio's intermediate output
            theirs = last.backbone.encoder.extract_features(feats, frames)
            for a, b in zip(ours[:-1], theirs[:-1]):
                torch.testing.assert_close(a, b)
        first = SSLDetector(arch="custom", arch_config=config, layers=1).eval()
        assert len(first.backbone.encoder.transformer.layers) == 1  # layer 2 never runs
        first.load_state_dict(last.state_dict())  # the full stack's weights load (strict)
        with torch.no_grad():
            h, _ = first.hidden(x, lengths)
            torch.testing.assert_close(h, ours[0])
        assert not first.may_skip_parameters and last.layer_drop == 0.0


def test_layer_drop_is_keyed_by_the_step_seed():
    model = SSLDetector(arch="custom", arch_config=TINY, layers="weighted", layer_drop=0.5,
                        dropout=0.0).train()
    assert model.may_skip_parameters
    x = 0.1 * torch.randn(2, 4000)
    lengths = torch.tensor([4000, 4000])
    feats, frames = model.features(x, lengths)
    model.set_step_seed(11)
    a = [o.detach() for o in model.layer_outputs(feats, frames)]
    b = [o.detach() for o in model.layer_outputs(feats, frames)]
    for u, v in zip(a, b):  # the same step: the same layers skipped in every pass
        assert torch.equal(u, v)
    outcomes = set()
    for seed in range(12):
        model.set_step_seed(seed)
        outs = model.layer_outputs(feats, frames)
        outcomes.add(tuple(bool(torch.equal(outs[i], outs[i - 1])) for i in range(1, len(outs))))
    assert len(outcomes) > 1  # different steps drop different layers
    model.eval()
    with torch.no_grad():  # no layer drop in eval mode
        outs = model.layer_outputs(feats, frames)
        assert not torch.equal(outs[1], outs[0])


# --------------------------------------------------------------------------- layouts
#
# The test writes the two foreign layouts from a torchaudio backbone with its own
# renaming rules, as the libraries name their parameters.


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    names = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def to_hf(state: dict[str, torch.Tensor], old_weight_norm: bool) -> dict[str, torch.Tensor]:
    """torchaudio names -> transformers' Wav2Vec2ForPreTraining names."""
    out = {}
    for key, value in state.items():
        key = key.replace("encoder.feature_projection.", "feature_projection.")
        key = key.replace("encoder.transformer.", "encoder.")
        key = key.replace("pos_conv_embed.conv.parametrizations.weight.original0",
                          "pos_conv_embed.conv.weight_g" if old_weight_norm else
                          "pos_conv_embed.conv.parametrizations.weight.original0")
        key = key.replace("pos_conv_embed.conv.parametrizations.weight.original1",
                          "pos_conv_embed.conv.weight_v" if old_weight_norm else
                          "pos_conv_embed.conv.parametrizations.weight.original1")
        out["wav2vec2." + key] = value.clone()
    # pretraining-only parameters a real checkpoint carries
    out["wav2vec2.masked_spec_embed"] = torch.zeros(32)
    out["quantizer.codevectors"] = torch.zeros(1, 8, 4)
    out["project_q.weight"] = torch.zeros(4, 4)
    out["project_hid.weight"] = torch.zeros(4, 32)
    return out


FAIRSEQ_RULES = [  # torchaudio -> fairseq
    (r"feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
    (r"encoder\.feature_projection\.projection\.", "post_extract_proj."),
    (r"encoder\.feature_projection\.layer_norm\.", "layer_norm."),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original0",
     "encoder.pos_conv.0.weight_g"),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original1",
     "encoder.pos_conv.0.weight_v"),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.bias", "encoder.pos_conv.0.bias"),
    (r"encoder\.transformer\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn."),
    (r"encoder\.transformer\.layers\.(\d+)\.layer_norm\.",
     r"encoder.layers.\1.self_attn_layer_norm."),
    (r"encoder\.transformer\.layers\.(\d+)\.feed_forward\.intermediate_dense\.",
     r"encoder.layers.\1.fc1."),
    (r"encoder\.transformer\.layers\.(\d+)\.feed_forward\.output_dense\.",
     r"encoder.layers.\1.fc2."),
    (r"encoder\.transformer\.layers\.(\d+)\.final_layer_norm\.",
     r"encoder.layers.\1.final_layer_norm."),
    (r"encoder\.transformer\.layer_norm\.", "encoder.layer_norm."),
]


def to_fairseq(state: dict[str, torch.Tensor], mode: str) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        m = re.match(r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(weight|bias)", key)
        if m:  # group norm: module 2 of layer 0; layer norm: 2.1 (inside TransposeLast)
            sub = "2" if mode == "group_norm" else "2.1"
            out[f"feature_extractor.conv_layers.{m.group(1)}.{sub}.{m.group(2)}"] = value.clone()
            continue
        for pattern, repl in FAIRSEQ_RULES:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = value.clone()
                break
        else:
            raise AssertionError(f"no fairseq name for {key}")
    out["mask_emb"] = torch.zeros(32)
    out["quantizer.vars"] = torch.zeros(1, 8, 4)
    out["project_q.weight"] = torch.zeros(4, 4)
    out["final_proj.weight"] = torch.zeros(4, 32)
    return out


def hf_config(config: dict) -> dict:
    conv = config["extractor_conv_layer_config"]
    return {"model_type": "wav2vec2", "architectures": ["Wav2Vec2ForPreTraining"],
            "feat_extract_norm": config["extractor_mode"].split("_")[0],
            "conv_dim": [c[0] for c in conv], "conv_kernel": [c[1] for c in conv],
            "conv_stride": [c[2] for c in conv], "conv_bias": config["extractor_conv_bias"],
            "hidden_size": config["encoder_embed_dim"],
            "num_hidden_layers": config["encoder_num_layers"],
            "num_attention_heads": config["encoder_num_heads"],
            "intermediate_size": config["encoder_ff_interm_features"],
            "num_conv_pos_embeddings": config["encoder_pos_conv_kernel"],
            "num_conv_pos_embedding_groups": config["encoder_pos_conv_groups"],
            "do_stable_layer_norm": config["encoder_layer_norm_first"],
            "hidden_dropout": 0.1, "activation_dropout": 0.0, "attention_dropout": 0.1,
            "feat_proj_dropout": 0.0, "layerdrop": 0.1, "mask_time_prob": 0.05}


def fairseq_model_cfg(config: dict) -> dict:
    conv = " + ".join(f"[({c}, {k}, {s})]" for c, k, s in config["extractor_conv_layer_config"])
    return {"_name": "wav2vec2",
            "extractor_mode": "default" if config["extractor_mode"] == "group_norm"
            else "layer_norm",
            "conv_feature_layers": conv, "conv_bias": config["extractor_conv_bias"],
            "encoder_embed_dim": config["encoder_embed_dim"],
            "encoder_layers": config["encoder_num_layers"],
            "encoder_attention_heads": config["encoder_num_heads"],
            "encoder_ffn_embed_dim": config["encoder_ff_interm_features"],
            "conv_pos": config["encoder_pos_conv_kernel"],
            "conv_pos_groups": config["encoder_pos_conv_groups"],
            "layer_norm_first": config["encoder_layer_norm_first"], "dropout": 0.1,
            "attention_dropout": 0.1, "activation_dropout": 0.0, "dropout_input": 0.1,
            "encoder_layerdrop": 0.05}


def assert_same_backbone(model: SSLDetector, source: torch.nn.Module) -> None:
    ours = model.backbone.state_dict()
    theirs = source.state_dict()
    assert set(ours) == set(theirs)
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key
    x = 0.1 * torch.randn(2, 6000)
    with torch.no_grad():
        torch.testing.assert_close(model.backbone.eval()(x)[0], source.eval()(x)[0])


@pytest.mark.parametrize("config", [TINY, TINY_LN], ids=["group_norm", "layer_norm"])
def test_hugging_face_folder_layouts(tmp_path, config):
    source = tiny_backbone(config, seed=1)
    state = source.state_dict()
    # safetensors with the current weight-norm names
    folder = tmp_path / "hf_safetensors"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(hf_config(config)))
    write_safetensors(folder / "model.safetensors", to_hf(state, old_weight_norm=False))
    assert set(read_safetensors(folder / "model.safetensors")) == set(to_hf(state, False))
    model = SSLDetector(arch="auto", pretrained=str(folder))
    assert model.pretrained_layout == "huggingface"
    assert_same_backbone(model, source)
    assert model.arch_config["encoder_layer_drop"] == 0.0  # off for detection
    assert model.arch_config["encoder_dropout"] == 0.1  # from config.json
    # pytorch_model.bin with the old weight_g / weight_v names
    folder = tmp_path / "hf_bin"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(hf_config(config)))
    torch.save(to_hf(state, old_weight_norm=True), folder / "pytorch_model.bin")
    assert_same_backbone(SSLDetector(arch="auto", pretrained=str(folder)), source)


@pytest.mark.parametrize("config", [TINY, TINY_LN], ids=["group_norm", "layer_norm"])
def test_fairseq_checkpoint_layouts(tmp_path, config):
    source = tiny_backbone(config, seed=2)
    fairseq_state = to_fairseq(source.state_dict(), config["extractor_mode"])
    # the names fairseq really uses, spelled out for layer 0
    assert "encoder.layers.0.self_attn.k_proj.weight" in fairseq_state
    assert "encoder.pos_conv.0.weight_g" in fairseq_state and "post_extract_proj.weight" in \
        fairseq_state
    # a recent checkpoint: cfg as plain data
    path = tmp_path / "pretrained.pt"
    torch.save({"cfg": {"model": fairseq_model_cfg(config), "task": {"_name": "audio"}},
                "model": fairseq_state, "optimizer_history": []}, path)
    model = SSLDetector(arch="auto", pretrained=str(path), dropout=0.0)
    assert model.pretrained_layout == "fairseq"
    assert_same_backbone(model, source)
    assert model.arch_config["encoder_dropout"] == 0.0
    # an old checkpoint: args as an argparse.Namespace
    old = tmp_path / "old.pt"
    torch.save({"args": argparse.Namespace(**fairseq_model_cfg(config)),
                "model": fairseq_state}, old)
    assert_same_backbone(SSLDetector(arch="auto", pretrained=str(old)), source)
    # a fine-tuned (CTC) checkpoint: prefixed names, the pretraining config in w2v_args
    tuned = tmp_path / "finetuned.pt"
    prefixed = {f"w2v_encoder.w2v_model.{k}": v for k, v in fairseq_state.items()}
    prefixed["w2v_encoder.proj.weight"] = torch.zeros(10, 32)
    torch.save({"cfg": {"model": {"_name": "wav2vec_ctc",
                                  "w2v_args": {"model": fairseq_model_cfg(config)}}},
                "model": prefixed}, tuned)
    assert_same_backbone(SSLDetector(arch="auto", pretrained=str(tuned)), source)


def test_missing_or_mismatched_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(PretrainedError, match=r"nowhere\.pt does not exist.*Hugging Face.*"
                                              r"fairseq"):
        SSLDetector(arch="xlsr_300m", pretrained=str(tmp_path / "nowhere.pt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PretrainedError, match="no config.json"):
        SSLDetector(arch="auto", pretrained=str(tmp_path / "empty"))
    source = tiny_backbone(TINY)
    path = tmp_path / "tiny.pt"
    torch.save({"cfg": {"model": fairseq_model_cfg(TINY)},
                "model": to_fairseq(source.state_dict(), "group_norm")}, path)
    with pytest.raises(PretrainedError, match="does not match arch 'wav2vec2_base'"):
        SSLDetector(arch="wav2vec2_base", pretrained=str(path))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(PretrainedError, match="junk.pt"):
        SSLDetector(arch="auto", pretrained=str(tmp_path / "junk.pt"))


# --------------------------------------------------------------------------- training


def test_train_save_and_reload_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(16):
        t = np.arange(6400) / 16000
        x = (0.3 * np.sin(2 * np.pi * 300 * t) if i % 2 else 0.05 * rng.standard_normal(t.size))
        path = tmp_path / f"{i}.wav"
        sf.write(path, x.astype(np.float32), 16000)
        paths.append(str(path))
        labels.append(i % 2)
    source = tiny_backbone(TINY, seed=3)
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(hf_config(TINY)))
    write_safetensors(folder / "model.safetensors", to_hf(source.state_dict(), False))
    config = TrainConfig(model="ssl", model_kwargs={"arch": "auto", "pretrained": str(folder),
                                                    "pooling": "attentive", "dropout": 0.0},
                         crop_seconds=0.3, batch_size=4, steps=4, lr=1e-3, warmup_steps=1,
                         device="cpu", log_every=2, sam=True)
    result = train(config, paths, labels)
    assert len(result.losses) == 4 and np.isfinite(result.losses).all()
    checkpoint = save_checkpoint(tmp_path / "model.pt", result.model, config, result.steps)
    for f in folder.iterdir():  # the pretrained files are not needed to reload
        f.unlink()
    model, loaded_config, step = load_checkpoint(checkpoint)
    assert step == 4 and loaded_config == config
    np.testing.assert_array_equal(score(model, paths[:6]), score(result.model, paths[:6]))
