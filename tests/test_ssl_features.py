"""SSL detector options for large post-training runs: activation checkpointing of the
encoder (same gradients, fewer saved activations) and waveform normalisation as the
checkpoint expects (Hugging Face ``do_normalize``, fairseq ``task.normalize``)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from curate.train.models import SSLDetector, build_model
from curate.train.models.ssl import normalize_waveform
from test_ssl import (TINY, TINY_LN, fairseq_model_cfg, hf_config, tiny_backbone, to_fairseq,
                      to_hf, write_safetensors)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread_module):
    yield


def grads_of(model: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor,
             y: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x, lengths), y).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def saved_tensor_count(model: torch.nn.Module, x: torch.Tensor,
                       lengths: torch.Tensor) -> int:
    """How many tensors the forward pass saves for backward (outside checkpointed
    regions: a checkpointed layer keeps only its inputs)."""
    count = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal count
        count += 1
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x, lengths).sum().backward()
    return count


# --------------------------------------------------------------------------- checkpointing


@pytest.mark.parametrize("config", [TINY, TINY_LN], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("layers", ["last", "weighted"])
def test_activation_checkpointing_gives_the_same_gradients(config, layers):
    arch = dict(config, encoder_num_layers=3)
    x = 0.1 * torch.randn(3, 6000)
    lengths = torch.tensor([6000, 4000, 2500])
    y = torch.tensor([0, 1, 1])
    models = []
    for on in (False, True):
        torch.manual_seed(0)
        models.append(SSLDetector(arch="custom", arch_config=arch, dropout=0.0, layers=layers,
                                  pooling="attentive", activation_checkpointing=on).train())
    plain, ckpt = (grads_of(m, x, lengths, y) for m in models)
    assert set(plain) == set(ckpt) and len(plain) == len(list(models[0].parameters()))
    for name in plain:
        torch.testing.assert_close(ckpt[name], plain[name], msg=name)
    # the layers really are checkpointed: far fewer tensors saved for backward
    assert saved_tensor_count(models[1], x, lengths) < \
        0.5 * saved_tensor_count(models[0], x, lengths)


def test_activation_checkpointing_with_dropout_and_layer_drop_matches():
    # dropout masks are replayed in the recomputation (RNG state preserved), and the
    # step-keyed layer drop skips the same layers with and without checkpointing
    x = 0.1 * torch.randn(2, 5000)
    lengths = torch.tensor([5000, 3000])
    y = torch.tensor([1, 0])
    grads = []
    for on in (False, True):
        torch.manual_seed(0)
        model = SSLDetector(arch="custom", arch_config=dict(TINY, encoder_num_layers=4),
                            dropout=0.2, layer_drop=0.5, layers="weighted",
                            activation_checkpointing=on).train()
        model.set_step_seed(3)
        torch.manual_seed(1)
        grads.append(grads_of(model, x, lengths, y))
    assert set(grads[0]) == set(grads[1])
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], msg=name)


def test_activation_checkpointing_is_off_in_eval_and_kept_on_rebuild():
    model = SSLDetector(arch="custom", arch_config=TINY, activation_checkpointing=True,
                        dropout=0.0)
    x = 0.1 * torch.randn(2, 4000)
    lengths = torch.tensor([4000, 4000])
    plain = SSLDetector(arch="custom", arch_config=TINY, dropout=0.0)
    plain.load_state_dict(model.state_dict())
    model.eval()
    plain.eval()
    # eval mode (scoring, sharpness): the encoder runs as usual, same output
    assert saved_tensor_count(model, x, lengths) == saved_tensor_count(plain, x, lengths)
    with torch.no_grad():
        torch.testing.assert_close(model(x, lengths), plain(x, lengths))
    kwargs = model.restore_kwargs()
    assert kwargs["activation_checkpointing"] is True
    assert build_model("ssl", **kwargs).activation_checkpointing
    with pytest.raises(ValueError, match="activation_checkpointing must be true or false"):
        SSLDetector(arch="custom", arch_config=TINY, activation_checkpointing="yes")


# --------------------------------------------------------------------------- normalisation


def hf_zero_mean_unit_var(x: np.ndarray, n: int) -> np.ndarray:
    """Hugging Face Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm with an attention
    mask, for one row: statistics of the first n samples, padding set to 0."""
    out = np.zeros_like(x)
    out[:n] = (x[:n] - x[:n].mean()) / np.sqrt(x[:n].var() + 1e-7)
    return out


def test_normalize_waveform_matches_the_feature_extractor_over_valid_samples():
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal((3, 900)) + 0.2).astype(np.float32)
    lengths = np.array([900, 500, 7])
    x[1, 500:] = np.nan  # the padding's values play no part
    x[2, 7:] = 1e6
    y = normalize_waveform(torch.from_numpy(x), torch.from_numpy(lengths))
    assert torch.isfinite(y).all()
    for row, n in enumerate(lengths):
        np.testing.assert_allclose(y[row].numpy(),
                                   hf_zero_mean_unit_var(x[row].astype(np.float64), n),
                                   rtol=1e-4, atol=1e-5)
        assert abs(float(y[row, :n].mean())) < 1e-5
        assert float(y[row, :n].var(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
    bf16 = normalize_waveform(torch.from_numpy(x[:1]).bfloat16(), torch.tensor([900]))
    assert bf16.dtype == torch.bfloat16


def write_hf_folder(path, config, preprocessor=None):
    path.mkdir()
    (path / "config.json").write_text(json.dumps(hf_config(config)))
    write_safetensors(path / "model.safetensors",
                      to_hf(tiny_backbone(config, seed=5).state_dict(), False))
    if preprocessor is not None:
        (path / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return path


def feature_extractor_json(do_normalize: bool) -> dict:
    return {"do_normalize": do_normalize, "feature_extractor_type": "Wav2Vec2FeatureExtractor",
            "feature_size": 1, "padding_side": "right", "padding_value": 0.0,
            "return_attention_mask": True, "sampling_rate": 16000}


def test_hugging_face_do_normalize_decides_and_an_explicit_value_wins(tmp_path):
    on = write_hf_folder(tmp_path / "on", TINY_LN, feature_extractor_json(True))
    off = write_hf_folder(tmp_path / "off", TINY_LN, feature_extractor_json(False))
    silent = write_hf_folder(tmp_path / "silent", TINY_LN)  # no preprocessor_config.json
    default_true = write_hf_folder(tmp_path / "default", TINY_LN, {"sampling_rate": 16000})
    assert SSLDetector(arch="auto", pretrained=str(on)).normalize is True
    assert SSLDetector(arch="auto", pretrained=str(off)).normalize is False
    assert SSLDetector(arch="auto", pretrained=str(silent)).normalize is False
    assert SSLDetector(arch="auto", pretrained=str(default_true)).normalize is True
    assert SSLDetector(arch="auto", pretrained=str(on), normalize=False).normalize is False
    assert SSLDetector(arch="auto", pretrained=str(off), normalize=True).normalize is True
    assert SSLDetector(arch="custom", arch_config=TINY).normalize is False  # no checkpoint
    (tmp_path / "bad").mkdir()
    bad = write_hf_folder(tmp_path / "bad" / "m", TINY_LN, {"do_normalize": "yes"})
    with pytest.raises(Exception, match="do_normalize must be true or false"):
        SSLDetector(arch="auto", pretrained=str(bad))
    with pytest.raises(ValueError, match="normalize must be true, false or None"):
        SSLDetector(arch="custom", arch_config=TINY, normalize=1)


def test_fairseq_task_normalize_decides(tmp_path):
    state = to_fairseq(tiny_backbone(TINY_LN, seed=6).state_dict(), "layer_norm")
    model_cfg = fairseq_model_cfg(TINY_LN)
    cases = {
        "task_true.pt": ({"cfg": {"model": model_cfg, "task": {"_name": "audio_pretraining",
                                                                "normalize": True}},
                          "model": state}, True),
        "task_false.pt": ({"cfg": {"model": model_cfg, "task": {"normalize": False}},
                           "model": state}, False),
        "no_key.pt": ({"cfg": {"model": model_cfg, "task": {"_name": "audio"}},
                       "model": state}, False),
        "old_args.pt": ({"args": argparse.Namespace(**model_cfg, normalize=True),
                         "model": state}, True),
        "finetuned.pt": ({"cfg": {"model": {"_name": "wav2vec_ctc",
                                            "w2v_args": {"model": model_cfg,
                                                         "task": {"normalize": True}}},
                                  "task": {"_name": "audio_finetuning"}},
                          "model": {f"w2v_encoder.w2v_model.{k}": v
                                    for k, v in state.items()}}, True),
    }
    for name, (blob, expected) in cases.items():
        torch.save(blob, tmp_path / name)
        model = SSLDetector(arch="auto", pretrained=str(tmp_path / name))
        assert model.normalize is expected, name
        assert model.restore_kwargs()["normalize"] is expected, name
    assert SSLDetector(arch="auto", pretrained=str(tmp_path / "task_true.pt"),
                       normalize=False).normalize is False


@pytest.mark.parametrize("config", [TINY, TINY_LN], ids=["group_norm", "layer_norm"])
def test_normalisation_is_applied_padding_invariant_and_survives_a_rebuild(tmp_path, config):
    folder = write_hf_folder(tmp_path / "hf", config, feature_extractor_json(True))
    model = SSLDetector(arch="auto", pretrained=str(folder), pooling="attentive",
                        layers="weighted", dropout=0.0).eval()
    assert model.normalize
    raw = SSLDetector(arch="auto", pretrained=str(folder), pooling="attentive",
                      layers="weighted", dropout=0.0, normalize=False).eval()
    raw.load_state_dict(model.state_dict())
    x = 0.05 * torch.randn(3, 8000) + 0.01
    lengths = torch.tensor([8000, 5000, 1200])
    with torch.no_grad():
        batched = model(x, lengths)
        # the backbone sees the normalised waveform
        torch.testing.assert_close(batched, raw(normalize_waveform(x, lengths), lengths))
        # and a loud copy of the input scores the same (the scale is normalised away)
        torch.testing.assert_close(model(40 * x, lengths), batched, atol=1e-4, rtol=1e-4)
        if config is TINY_LN:  # (the group-norm extractor is nearly scale-free itself)
            assert not torch.allclose(raw(40 * x, lengths), raw(x, lengths), atol=1e-3)
        for row, n in enumerate(lengths.tolist()):
            alone = model(x[row : row + 1, :n])
            torch.testing.assert_close(batched[row : row + 1], alone, atol=1e-5, rtol=1e-4)
        garbage = x.clone()
        garbage[1, 5000:] = 3.0
        garbage[2, 1200:] = -7.0
        torch.testing.assert_close(model(garbage, lengths), batched, atol=1e-5, rtol=1e-4)
    # the resolved value travels with the model: a rebuild without the checkpoint files
    # normalises the same way
    kwargs = model.restore_kwargs()
    assert kwargs["normalize"] is True and kwargs["pretrained"] is None
    rebuilt = build_model("ssl", **kwargs).eval()
    rebuilt.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x, lengths), batched)
