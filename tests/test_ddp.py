"""DDP on the CPU (gloo, 2 processes) equals one process on the same global batch; so does
gradient accumulation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from curate.train.loop import TrainConfig, train

SR = 16000
TINY = dict(extractor_mode="group_norm",  # group norm per utterance: no batch statistics
            extractor_conv_layer_config=[[16, 10, 5], [16, 3, 2], [16, 2, 2]],
            encoder_embed_dim=32, encoder_pos_conv_kernel=8, encoder_pos_conv_groups=4,
            encoder_num_layers=2, encoder_num_heads=2, encoder_ff_interm_features=64)


def make_corpus(root: Path) -> tuple[list[str], list[int]]:
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(12):
        t = np.arange(int(rng.uniform(0.25, 0.5) * SR)) / SR
        x = (0.3 * np.sin(2 * np.pi * 300 * t) if i % 2 else 0.05 * rng.standard_normal(t.size))
        path = root / f"{i:02d}.wav"
        sf.write(path, x.astype(np.float32), SR)
        paths.append(str(path))
        labels.append(i % 2)
    return paths, labels


def config(**overrides) -> TrainConfig:
    base = dict(model="ssl", model_kwargs={"arch": "custom", "arch_config": TINY,
                                           "dropout": 0.0},
                crop_seconds=0.2, batch_size=8, steps=3, optimizer="sgd", lr=0.05,
                momentum=0.9, warmup_steps=1, device="cpu", log_every=1, class_weighting=True)
    base.update(overrides)
    return TrainConfig(**base)


def _worker(rank: int, world: int, init_file: str, paths: list[str], labels: list[int],
            configs: list[dict], out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        for k, cfg in enumerate(configs):
            result = train(TrainConfig.from_dict(cfg), paths, labels)
            torch.save({"state": result.model.state_dict(), "losses": result.losses},
                       Path(out) / f"cfg{k}-rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def assert_close_states(a: dict, b: dict, atol: float = 1e-5) -> None:
    assert set(a) == set(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=atol, rtol=1e-4, msg=key)


def test_two_gloo_ranks_equal_one_process(tmp_path, one_torch_thread_module):
    paths, labels = make_corpus(tmp_path)
    plain, with_sam = config(), config(sam=True, sam_rho=0.05)
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), paths, labels,
                            [plain.to_dict(), with_sam.to_dict()], str(tmp_path)),
             nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"cfg0-rank{r}.pt") for r in (0, 1)]
    single = train(plain, paths, labels)
    assert_close_states(ranks[0]["state"], single.model.state_dict())
    np.testing.assert_allclose(ranks[0]["losses"], single.losses, rtol=1e-5)
    assert_close_states(ranks[1]["state"], ranks[0]["state"], atol=0)  # ranks in step
    # SAM under DDP: each rank ascends with its own gradient (m-sharpness), the descent
    # is synchronised, so the ranks stay identical and training moves on
    sam = [torch.load(tmp_path / f"cfg1-rank{r}.pt") for r in (0, 1)]
    assert_close_states(sam[1]["state"], sam[0]["state"], atol=0)
    assert np.isfinite(sam[0]["losses"]).all()
    assert not torch.equal(sam[0]["state"]["head.weight"], ranks[0]["state"]["head.weight"])


def test_gradient_accumulation_equals_the_big_batch(tmp_path, one_torch_thread_module):
    paths, labels = make_corpus(tmp_path)
    big = train(config(), paths, labels)
    accumulated = train(config(batch_size=4, grad_accum=2), paths, labels)
    assert_close_states(accumulated.model.state_dict(), big.model.state_dict())
    np.testing.assert_allclose(accumulated.losses, big.losses, rtol=1e-5)
