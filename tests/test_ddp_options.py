"""Every documented option of the SSL detector, SAM, batching and precision trains under
two-rank DDP (gloo, on the CPU): the ranks stay identical and the losses finite.

The options are grouped into a few configurations (each option appears at least once,
with both kinds of transformer: post-norm base models and pre-norm large models), all
trained in one pair of spawned processes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from test_ddp import TINY, _worker, assert_close_states, make_corpus

from curate.train.loop import TrainConfig

# A pre-norm ("large") tiny backbone: layer-norm extractor, layer norm first.
TINY_LARGE = dict(TINY, extractor_mode="layer_norm", encoder_layer_norm_first=True,
                  extractor_conv_bias=True)

MATRIX = {
    "weighted+layer_drop+attentive+sam+accum+bf16": dict(
        model_kwargs={"arch": "custom", "arch_config": TINY, "layers": "weighted",
                      "layer_drop": 0.5, "pooling": "attentive", "attention_dim": 8},
        sam=True, sam_rho=0.05, grad_accum=2, precision="bf16"),
    "layer_k+head_hidden+frozen_extractor+asam+dynamic": dict(
        model_kwargs={"arch": "custom", "arch_config": TINY, "layers": 1, "head_hidden": 8,
                      "head_dropout": 0.1, "freeze_feature_extractor": True},
        sam=True, sam_adaptive=True, sam_rho=0.5, regime="long", long_min_seconds=0.1,
        long_max_seconds=0.3, max_batch_seconds=1.6),
    "large:last+layer_drop+dropout+accum": dict(
        model_kwargs={"arch": "custom", "arch_config": TINY_LARGE, "layers": "last",
                      "layer_drop": 0.5, "dropout": 0.1},
        grad_accum=2),
    "large:weighted+layer_k": dict(
        model_kwargs={"arch": "custom", "arch_config": TINY_LARGE, "layers": "weighted"},
        precision="bf16"),
    "large:layer_k+checkpointing+normalize": dict(
        model_kwargs={"arch": "custom", "arch_config": TINY_LARGE, "layers": 1,
                      "pooling": "attentive", "attention_dim": 8,
                      "activation_checkpointing": True, "normalize": True}),
}


def _config(options: dict) -> dict:
    base = dict(model="ssl", crop_seconds=0.2, batch_size=8, steps=3, optimizer="adamw",
                lr=1e-3, warmup_steps=1, device="cpu", log_every=1, class_weighting=True,
                seed=3)
    base.update(options)
    return TrainConfig(**base).to_dict()


@pytest.mark.slow
def test_every_option_trains_under_two_gloo_ranks(tmp_path, one_torch_thread_module):
    paths, labels = make_corpus(tmp_path)
    names = list(MATRIX)
    configs = [_config(MATRIX[name]) for name in names]
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), paths, labels, configs,
                            str(tmp_path)), nprocs=2, join=True)
    for k, name in enumerate(names):
        ranks = [torch.load(tmp_path / f"cfg{k}-rank{r}.pt") for r in (0, 1)]
        assert_close_states(ranks[1]["state"], ranks[0]["state"], atol=0)
        assert len(ranks[0]["losses"]) == 3 and np.isfinite(ranks[0]["losses"]).all(), name


def _dev_worker(rank: int, world: int, init_file: str, paths: list[str], labels: list[int],
                config: dict, out: str) -> None:
    """Train with a dev set scored every step; record what this rank scored."""
    import torch.distributed as dist

    import curate.train.loop.scoring as scoring

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    scored: list[int] = []
    original = scoring.score

    def counting(model, paths, **kwargs):
        scored.append(len(paths))
        return original(model, paths, **kwargs)

    scoring.score = counting
    try:
        from curate.train.loop import TrainConfig, train

        result = train(TrainConfig.from_dict(config), paths, labels, dev=(paths, labels))
        torch.save({"dev_eer": result.dev_eer, "scored": scored},
                   f"{out}/dev-rank{rank}.pt")
    finally:
        scoring.score = original
        dist.destroy_process_group()


@pytest.mark.slow
def test_dev_evaluation_is_shared_by_the_ranks(tmp_path, one_torch_thread_module):
    from curate.train.loop import train

    paths, labels = make_corpus(tmp_path)
    config = _config(dict(model_kwargs={"arch": "custom", "arch_config": TINY},
                          eval_every=1, precision="bf16", eval_batch_size=4))
    mp.spawn(_dev_worker, args=(2, str(tmp_path / "init"), paths, labels, config,
                                str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"dev-rank{r}.pt") for r in (0, 1)]
    # every rank scored its half of the 12 dev files at each of the 3 evaluations
    assert ranks[0]["scored"] == [6, 6, 6] and ranks[1]["scored"] == [6, 6, 6]
    assert ranks[0]["dev_eer"] == ranks[1]["dev_eer"] and len(ranks[0]["dev_eer"]) == 3
    single = train(TrainConfig.from_dict(config), paths, labels, dev=(paths, labels))
    assert set(single.dev_eer) == set(ranks[0]["dev_eer"])
