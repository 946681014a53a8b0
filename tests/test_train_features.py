"""Loop features of real post-training runs: learning rate per part and layer-wise decay,
head warm-up with a frozen backbone, fp16 with loss scaling (with SAM and accumulation),
early stopping, checkpoint averaging, torch.compile."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curate.train.loop import (LossScaler, Stepper, TrainConfig, average_checkpoints,
                               build_optimizer, lr_at, no_improvement, parameter_groups,
                               read_checkpoint, train)
from curate.train.loop.rng import local_rng
from curate.train.models import build_model
from test_ddp import TINY as TINY_SSL
from test_train import make_corpus, tiny_config


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    return make_corpus(root / "train", 24, seed=0), make_corpus(root / "dev", 16, seed=1)


def ssl_config(**overrides) -> TrainConfig:
    base = dict(model="ssl", model_kwargs={"arch": "custom", "arch_config": TINY_SSL,
                                           "dropout": 0.0},
                crop_seconds=0.3, batch_size=4, steps=2, lr=1e-3, warmup_steps=1,
                device="cpu", log_every=1)
    base.update(overrides)
    return TrainConfig(**base)


def _initial_model(config: TrainConfig) -> torch.nn.Module:
    with local_rng(config.seed, torch.device("cpu")):
        return build_model(config.model, sample_rate=config.sample_rate,
                           **config.model_kwargs)


# --------------------------------------------------------------------------- rates


def test_each_part_and_layer_gets_its_own_rate():
    config = ssl_config(backbone_lr_scale=0.1, head_lr_scale=2.0, layer_decay=0.5)
    model = _initial_model(config)
    scales = {}
    for group in parameter_groups(model, config):
        for p in group["params"]:
            scales[p] = (group["part"], group["lr_scale"])
    named = dict(model.named_parameters())
    depth = len(model.backbone.encoder.transformer.layers)  # 2
    assert scales[named["head.weight"]] == ("head", 2.0)
    first = "backbone.encoder.transformer.layers.0.attention.k_proj.weight"
    last = f"backbone.encoder.transformer.layers.{depth - 1}.attention.k_proj.weight"
    assert scales[named[first]] == ("backbone", pytest.approx(0.1 * 0.5 ** depth))
    assert scales[named[last]] == ("backbone", pytest.approx(0.1 * 0.5 ** 1))
    conv = "backbone.feature_extractor.conv_layers.0.conv.weight"
    assert scales[named[conv]] == ("backbone", pytest.approx(0.1 * 0.5 ** (depth + 1)))
    # biases and norms never decay; weights do
    for group in parameter_groups(model, config):
        assert group["weight_decay"] == (config.weight_decay if group["params"][0].ndim >= 2
                                         else 0.0)


def test_the_schedule_scales_each_groups_own_rate(corpus, tmp_path):
    (paths, labels), _ = corpus
    config = ssl_config(steps=3, backbone_lr_scale=0.25, head_lr_scale=1.0, warmup_steps=1,
                        schedule="linear", min_lr_ratio=0.5)
    train(config, paths, labels, out_dir=tmp_path)
    state = read_checkpoint(tmp_path / "checkpoints" / "last.pt")
    groups = state["optimizer"]["param_groups"]
    rate = lr_at(2, base_lr=config.lr, warmup_steps=1, total_steps=3, min_lr_ratio=0.5,
                 schedule="linear")  # the last step's rate
    for group in groups:
        assert group["lr"] == pytest.approx(rate * group["lr_scale"])
    assert {g["part"] for g in groups} == {"backbone", "head"}
    assert {g["lr_scale"] for g in groups if g["part"] == "backbone"} == {0.25}


def test_small_models_keep_one_rate_and_the_old_group_order():
    config = tiny_config(head_lr_scale=1.0)
    model = _initial_model(config)
    groups = build_optimizer(model, config).param_groups
    assert [g["weight_decay"] for g in groups] == [config.weight_decay, 0.0]
    assert all(g["lr_scale"] == 1.0 and g["part"] == "head" for g in groups)


# --------------------------------------------------------------------------- freezing


def test_the_backbone_stays_frozen_during_head_warm_up(corpus):
    (paths, labels), _ = corpus
    frozen = ssl_config(steps=2, freeze_backbone_steps=2)
    start = _initial_model(frozen).state_dict()
    result = train(frozen, paths, labels)
    after = result.model.state_dict()
    for key, value in start.items():
        if key.startswith("backbone."):
            assert torch.equal(after[key], value), key
    assert not torch.equal(after["head.weight"], start["head.weight"])
    thawed = train(ssl_config(steps=2, freeze_backbone_steps=1), paths, labels)
    assert any(not torch.equal(thawed.model.state_dict()[k], v) for k, v in start.items()
               if k.startswith("backbone.encoder.transformer.layers."))


# --------------------------------------------------------------------------- fp16


def test_loss_scaler_skips_overflows_and_grows():
    scaler = LossScaler(True, init_scale=8.0, growth_interval=2)
    p = torch.nn.Parameter(torch.ones(3))
    from curate.train.distributed import DistContext

    ctx = DistContext()
    p.grad = torch.tensor([8.0, 16.0, float("inf")])
    assert not scaler.unscale([p], ctx)
    scaler.update(False)
    assert scaler.scale == 4.0 and scaler.skipped == 1
    for _ in range(2):
        p.grad = torch.tensor([4.0, 8.0, 12.0])
        assert scaler.unscale([p], ctx)
        torch.testing.assert_close(p.grad, torch.tensor([1.0, 2.0, 3.0]))
        scaler.update(True)
    assert scaler.scale == 8.0  # two good steps in a row: grown
    restored = LossScaler(True)
    restored.load_state_dict(scaler.state_dict())
    assert restored.state_dict() == scaler.state_dict()
    off = LossScaler(False)
    p.grad = torch.tensor([float("nan"), 1.0, 1.0])
    assert off.unscale([p], ctx) and off.scale == 1.0  # fp32/bf16: nothing checked


def test_fp16_with_sam_and_accumulation_resumes_bit_for_bit(corpus, tmp_path):
    (paths, labels), _ = corpus
    config = tiny_config(precision="fp16", sam=True, sam_rho=0.05, grad_accum=2, steps=4,
                         checkpoint_every=2, batch_size=4)
    whole = train(config, paths, labels, out_dir=tmp_path / "a")
    assert np.isfinite(whole.losses).all() and len(whole.losses) == 4
    state = read_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    assert state["extra"]["scaler"]["scale"] > 0
    train(config, paths, labels, out_dir=tmp_path / "b", stop_at=2)
    resumed = train(config, paths, labels, out_dir=tmp_path / "b", resume=True)
    for key, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    assert resumed.losses == whole.losses


def test_a_skipped_sam_step_leaves_the_weights_alone(corpus, monkeypatch):
    (paths, labels), _ = corpus
    config = tiny_config(precision="fp16", sam=True, steps=1, batch_size=4)
    calls = []

    def overflow_on_second_pass(self, params, ctx):
        calls.append(1)
        return len(calls) != 2  # the ascent is fine, the descent's gradients overflow

    monkeypatch.setattr(LossScaler, "unscale", overflow_on_second_pass)
    start = dict(_initial_model(config).named_parameters())
    result = train(config, paths, labels)
    for key, value in result.model.named_parameters():  # (BatchNorm statistics move)
        assert torch.equal(value, start[key]), key
    assert calls == [1, 1]
    assert Stepper  # the class the loop uses for these steps


# --------------------------------------------------------------------------- selection


def test_no_improvement_counts_evaluations():
    assert not no_improvement({1: 0.3, 2: 0.2}, 0)
    assert not no_improvement({1: 0.3, 2: 0.2}, 1)
    assert no_improvement({1: 0.3, 2: 0.2, 3: 0.2}, 1)
    assert not no_improvement({1: 0.3, 2: 0.2, 3: 0.25, 4: 0.1}, 2)
    assert no_improvement({1: 0.3, 2: 0.2, 3: 0.25, 4: 0.21}, 2)


def test_early_stopping_ends_a_finished_run(corpus, tmp_path):
    (paths, labels), (dev_paths, dev_labels) = corpus
    config = tiny_config(steps=80, eval_every=2, patience=2, keep_best=1, lr=1e-2)
    result = train(config, paths, labels, dev=(dev_paths, dev_labels), out_dir=tmp_path)
    assert result.early_stopped and result.steps < result.total_steps
    evals = [result.dev_eer[s] for s in sorted(result.dev_eer)]
    assert min(evals[-2:]) >= min(evals[:-2])  # stopped because nothing improved
    assert read_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == result.steps


def test_select_average_is_the_mean_of_the_best_checkpoints(corpus, tmp_path):
    (paths, labels), (dev_paths, dev_labels) = corpus
    config = tiny_config(steps=6, eval_every=2, keep_best=2, select="average")
    result = train(config, paths, labels, dev=(dev_paths, dev_labels), out_dir=tmp_path)
    assert len(result.best) == 2
    files = [tmp_path / "checkpoints" / f"best-step{s:08d}.pt" for _, s in result.best]
    mean = average_checkpoints(files)
    states = [read_checkpoint(f)["model"] for f in files]
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, mean[key]), key
        if torch.is_floating_point(value):
            torch.testing.assert_close(value, (states[0][key] + states[1][key]) / 2)
    with pytest.raises(ValueError, match="keep_best >= 2"):
        tiny_config(select="average", eval_every=2, keep_best=1)


# --------------------------------------------------------------------------- compile


@pytest.mark.slow
def test_compiled_forward_gives_the_same_losses(corpus):
    (paths, labels), _ = corpus
    plain = train(tiny_config(steps=2, model_kwargs={"channels": (8, 16), "n_mels": 32,
                                                     "dropout": 0.0}), paths, labels)
    compiled = train(tiny_config(steps=2, compile=True,
                                 model_kwargs={"channels": (8, 16), "n_mels": 32,
                                               "dropout": 0.0}), paths, labels)
    np.testing.assert_allclose(compiled.losses, plain.losses, rtol=1e-4, atol=1e-5)
    for key, value in plain.model.state_dict().items():
        torch.testing.assert_close(compiled.model.state_dict()[key], value, rtol=1e-3,
                                   atol=1e-4)
