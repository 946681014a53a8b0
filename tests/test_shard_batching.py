"""Dynamic batches on shards (``max_batch_seconds`` with ``data.shards``): batches cut from
consecutive items of each worker's stream within the padded-seconds budget, resumable
exactly (2N steps == N + resume + N, with 0 and 2 loader workers, and under two gloo
ranks, which stay in step)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ddp_resume_worker, make_tone_selection
from curate.catalog.db import CatalogRef
from curate.shard import shard_selection
from curate.train.data import (CropStage, ShardSource, ShardStream, StreamStart,
                               dynamic_batches, items_per_batch)
from curate.train.loop import TrainConfig, read_checkpoint, train
from curate.train.loop.train_loop import total_steps

RATE = 16000


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread_module):
    yield


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """Shards of 3 items of a tone selection (0.5 s clips; 16 train items, 6 shards)."""
    tmp = tmp_path_factory.mktemp("shard_batching")
    make_tone_selection(tmp)
    shard_selection(CatalogRef(tmp / "c.duckdb"), "sel", tmp / "shards", shard_size="3")
    return tmp / "shards"


def _long_stage() -> CropStage:
    """Long regime: the 0.5 s clips get random crops of 0.1-0.4 s (lengths vary)."""
    return CropStage(RATE, 0.4, True, "long", (0.1, 0.4))


def _stream(shards: Path, **kwargs) -> ShardStream:
    return ShardStream(ShardSource.open(str(shards), "train"), _long_stage(), seed=7,
                       buffer=4, **kwargs)


def test_batches_are_the_stream_cut_greedily_within_the_budget(shards):
    budget = 0.9 * RATE  # samples
    items = list(itertools.islice(_stream(shards).worker_items(0), 60))
    batches = list(dynamic_batches(iter(items), budget))
    assert [u for b in batches for u in b.utt_ids] == [it[3] for it in items]
    assert len({len(b.utt_ids) for b in batches}) > 1  # the lengths vary, so do the sizes
    at = 0
    for batch in batches:
        n = len(batch.utt_ids)
        lengths = [it[1] for it in items[at:at + n]]
        assert batch.lengths.tolist() == lengths
        assert max(lengths) * n <= budget  # padded size within the budget
        if at + n < len(items):  # ... and maximal: the next item would break it
            assert max(lengths + [items[at + n][1]]) * (n + 1) > budget
        assert batch.token == items[at + n - 1][7]  # the token of its last item
        for row, item in enumerate(items[at:at + n]):
            assert torch.equal(batch.x[row, : item[1]], item[0])
            assert not batch.x[row, item[1]:].any()  # zero padding
        at += n
    # an item longer than the budget is a batch of its own
    alone = list(dynamic_batches(iter(items[:5]), 0.05 * RATE))
    assert [len(b.utt_ids) for b in alone] == [1] * 5
    with pytest.raises(ValueError, match="max_samples must be > 0"):
        next(dynamic_batches(iter(items), 0))


def test_a_batch_stream_restarted_from_a_batch_token_continues_exactly(shards):
    budget = 0.7 * RATE
    ref = list(itertools.islice(dynamic_batches(_stream(shards, workers=2).worker_items(1),
                                                budget), 25))
    assert len({int(e) for b in ref for e in b.epoch}) >= 2  # over an epoch's end
    for k in (0, 3, 11, 17):
        again = _stream(shards, workers=2, start=StreamStart(0, {1: ref[k].token}))
        got = list(itertools.islice(dynamic_batches(again.worker_items(1), budget),
                                    len(ref) - k - 1))
        for g, r in zip(got, ref[k + 1:], strict=True):
            assert g.utt_ids == r.utt_ids and g.token == r.token
            assert torch.equal(g.x, r.x) and torch.equal(g.lengths, r.lengths)


def test_items_per_batch_and_epoch_steps_on_shards(shards):
    assert items_per_batch(1.0, 0.4) == 2 and items_per_batch(1.2, 0.4) == 3
    assert items_per_batch(0.1, 0.4) == 1
    source = ShardSource.open(str(shards), "train")
    cfg = _config(shards, epochs=3, steps=1, regime="fixed", max_batch_seconds=1.2,
                  grad_accum=1)
    assert total_steps(cfg, source) == 3 * 16 // 3  # 3 crops of 0.4 s per batch
    assert total_steps(cfg, source, world=2) == 3 * 16 // (2 * 1)  # 0.6 s each: 1 item
    long = _config(shards, epochs=2, steps=1, max_batch_seconds=1.0, grad_accum=1)
    assert total_steps(long, source) == 2 * 16 // 4  # ~0.25 s crops: 4 per batch


class ScaleChain:
    """A seeded gain on the CPU and seeded noise on the device (both stages exercised)."""

    has_cpu_steps = True
    has_device_steps = True

    def cpu_stage(self, x, sample_rate, rng):
        gain = float(rng.uniform(0.5, 1.5))
        return (x * gain).astype(np.float32), [{"step": "gain", "params": {"gain": gain}}]

    def device_stage(self, x, lengths, generator):
        noise = torch.randn(x.shape, generator=generator, device=x.device) * 0.01
        return x + noise, [[{"step": "noise"}] for _ in range(x.shape[0])]


def _config(shards: Path, **overrides) -> TrainConfig:
    base = dict(model_kwargs={"channels": (8, 16), "n_mels": 32, "dropout": 0.2},
                crop_seconds=0.4, regime="long", long_min_seconds=0.1, long_max_seconds=0.4,
                max_batch_seconds=1.0, grad_accum=2, steps=6, lr=3e-3, warmup_steps=2,
                device="cpu", log_every=2, sam=True, sampler="balanced",
                class_weighting=True, checkpoint_every=3, log_augmentation=True,
                shards=str(shards), shuffle_buffer=3)
    base.update(overrides)
    return TrainConfig(**base)


def _run(cfg: TrainConfig, out: Path, **kwargs):
    logs = []
    result = train(cfg, None, out_dir=out, chain=ScaleChain(),
                   augment_log=lambda epoch, frame: logs.append((epoch, frame)), **kwargs)
    return result, [(e, u, str(s)) for e, f in logs for u, s in zip(f.utt_id, f.steps)]


@pytest.mark.parametrize("workers", [0, 2])
def test_dynamic_batches_on_shards_resume_bit_for_bit(shards, tmp_path, workers):
    cfg = _config(shards, num_workers=workers)
    whole, whole_logs = _run(cfg, tmp_path / "whole")
    first, first_logs = _run(cfg, tmp_path / "split", stop_at=3)
    (stream,) = read_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["extra"][
        "stream"]
    assert stream["batches"] == 3 * 2 and len(stream["tokens"]) == max(1, workers)
    torch.manual_seed(123)  # the caller's RNG does not matter
    second, second_logs = _run(cfg, tmp_path / "split", resume=True)
    assert second.resumed_from == 3 and second.steps == 6
    a, b = whole.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "weights differ after resuming"
    assert second.losses == whole.losses
    assert first_logs + second_logs == whole_logs
    # 12 micro-batches of 0.1-0.4 s crops within 1 s: between 2 and 9 items each
    assert 12 * 2 < len(whole_logs) <= 12 * 9


def test_two_gloo_ranks_with_dynamic_batches_stay_in_step_and_resume(shards, tmp_path):
    import torch.multiprocessing as mp

    cfg = _config(shards, steps=4, checkpoint_every=2, grad_accum=1, log_augmentation=False,
                  max_batch_seconds=1.6)  # 0.8 s per rank
    mp.spawn(ddp_resume_worker, args=(2, str(tmp_path / "init"), cfg.to_dict(),
                                     str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for rank in ranks:
        assert rank["steps"] == 4
        assert all(torch.equal(rank["whole"][k], rank["again"][k]) for k in rank["whole"])
        assert rank["losses"][0] == rank["losses"][1]
    weights = [k for k in ranks[0]["whole"] if "running_" not in k and "num_batches" not in k]
    assert all(torch.equal(ranks[0]["whole"][k], ranks[1]["whole"][k]) for k in weights)
