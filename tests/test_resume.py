"""Resuming: 2N steps in one go equal N steps, a checkpoint, and N more, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from curate.errors import CurateError
from curate.train.loop import TrainConfig, read_checkpoint, train

SR = 16000


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread_module):
    yield


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(20):
        t = np.arange(int(rng.uniform(0.3, 0.9) * SR)) / SR
        x = (0.3 * np.sin(2 * np.pi * rng.uniform(150, 400) * t) if i % 3 == 0 else
             0.1 * np.sin(2 * np.pi * 4000 * t) + 0.05 * rng.standard_normal(t.size))
        path = root / f"{i:02d}.wav"
        sf.write(path, x.astype(np.float32), SR)
        paths.append(str(path))
        labels.append(int(i % 3 == 0))
    return paths, labels


class NoiseChain:
    """A stand-in augmentation chain: a seeded gain in the CPU stage, seeded noise in the
    device stage; both log their parameters."""

    has_cpu_steps = True
    has_device_steps = True

    def cpu_stage(self, x, sample_rate, rng):
        gain = float(rng.uniform(0.5, 1.5))
        return (x * gain).astype(np.float32), [{"step": "gain", "params": {"gain": gain}}]

    def device_stage(self, x, lengths, generator):
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        scale = torch.rand(x.shape[0], generator=generator, device=x.device) * 0.01
        logs = [[{"step": "noise", "params": {"scale": float(s)}}] for s in scale]
        return x + scale[:, None] * noise, logs


def config(**overrides) -> TrainConfig:
    base = dict(model_kwargs={"channels": (8, 16), "n_mels": 32, "dropout": 0.2},
                crop_seconds=0.4, batch_size=6, grad_accum=2, steps=6, lr=3e-3, warmup_steps=2,
                device="cpu", log_every=2, sam=True, sampler="balanced", class_weighting=True,
                checkpoint_every=3, log_augmentation=True)
    base.update(overrides)
    return TrainConfig(**base)


def run(cfg: TrainConfig, corpus, out: Path, **kwargs):
    paths, labels = corpus
    logs = []
    result = train(cfg, paths, labels, out_dir=out, chain=NoiseChain(),
                   augment_log=lambda epoch, frame: logs.append((epoch, frame)), **kwargs)
    return result, logs


def test_two_n_steps_equal_n_plus_resumed_n_bit_for_bit(corpus, tmp_path):
    cfg = config()
    whole, whole_logs = run(cfg, corpus, tmp_path / "whole")
    first, first_logs = run(cfg, corpus, tmp_path / "split", stop_at=3)
    assert first.steps == 3 and first.total_steps == 6
    state = read_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    assert state["step"] == 3 and state["optimizer"]["base_optimizer"]["state"]
    assert set(state["extra"]["rng"][0]) == {"python", "numpy", "torch", "cuda"}
    torch.manual_seed(999)  # the caller's RNG does not matter
    second, second_logs = run(cfg, corpus, tmp_path / "split", resume=True)
    assert second.resumed_from == 3 and second.steps == 6
    a, b = whole.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "weights differ after resuming"
    assert second.losses == whole.losses
    # the augmentation log is the same, split across the two calls
    flat = lambda logs: [(e, u, str(s)) for e, f in logs for u, s in zip(f.utt_id, f.steps)]
    assert flat(first_logs) + flat(second_logs) == flat(whole_logs)
    assert len(flat(whole_logs)) == 6 * 12  # every item of every micro-batch, once


def test_resume_without_checkpoint_starts_fresh_and_other_config_is_refused(corpus, tmp_path):
    cfg = config(sam=False, steps=2, checkpoint_every=0, log_augmentation=False)
    fresh, _ = run(cfg, corpus, tmp_path / "a", resume=True)
    assert fresh.resumed_from == 0 and fresh.steps == 2
    run(config(steps=4), corpus, tmp_path / "b", stop_at=3)
    with pytest.raises(CurateError, match=r"another configuration \(differs in lr\)"):
        run(config(steps=4, lr=1e-3), corpus, tmp_path / "b", resume=True)


def test_keep_best_by_dev_eer_and_select_best(corpus, tmp_path):
    paths, labels = corpus
    cfg = config(sam=False, steps=6, eval_every=2, keep_best=2, select="best",
                 log_augmentation=False, checkpoint_every=0)
    result = train(cfg, paths, labels, dev=(paths[:12], labels[:12]), out_dir=tmp_path)
    assert sorted(result.dev_eer) == [2, 4, 6]
    assert len(result.best) == 2
    best = sorted((eer, step) for step, eer in result.dev_eer.items())[:2]
    assert result.best == best
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("best-*.pt"))
    assert kept == sorted(f"best-step{s:08d}.pt" for _, s in best)
    best_state = read_checkpoint(tmp_path / "checkpoints" / f"best-step{best[0][1]:08d}.pt")
    model = result.model.state_dict()  # the run ends with the best model
    assert all(torch.equal(model[k], best_state["model"][k].to(model[k].device)) for k in model)
    assert best_state["extra"]["dev_eer"] == best[0][0]


def test_keep_last_rotates_numbered_copies(corpus, tmp_path):
    run(config(sam=False, steps=6, checkpoint_every=2, keep_last=2, log_augmentation=False),
        corpus, tmp_path)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["last.pt", "step-00000006.pt"]
