"""Training stack: front end and detector, dataset and sampler, loop, scoring, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from curate.errors import CurateError
from curate.train.data import (
    AudioReadError,
    CropDataset,
    EpochBatchSampler,
    Item,
    as_items,
    as_label,
    collate,
)
from curate.train.loop import (
    TrainConfig,
    class_weights,
    load_checkpoint,
    lr_at,
    read_checkpoint,
    save_checkpoint,
    score,
    train,
)
from curate.train.metrics import compute_eer
from curate.train.models import (
    LogMelFrontEnd,
    SmallCNN,
    bonafide_score,
    build_model,
    count_parameters,
    masked_mean_max,
)

SR = 16000
TINY = {"channels": (8, 16, 32), "n_mels": 32, "dropout": 0.1}


# --------------------------------------------------------------------------- fixtures


def write_wav(path: Path, x: np.ndarray, sr: int = SR) -> str:
    sf.write(str(path), x.astype(np.float32), sr)
    return str(path)


def make_clip(rng: np.random.Generator, label: int, seconds: float) -> np.ndarray:
    """Bonafide: a clean low tone. Spoof: a high tone buried in noise."""
    t = np.arange(int(seconds * SR)) / SR
    if label == 1:
        tone = np.sin(2 * np.pi * rng.uniform(150, 400) * t + rng.uniform(0, 2 * np.pi))
        return 0.3 * tone + 0.01 * rng.standard_normal(t.size)
    tone = np.sin(2 * np.pi * rng.uniform(3000, 6000) * t)
    return 0.1 * tone + 0.05 * rng.standard_normal(t.size)


def make_corpus(root: Path, n: int, seed: int) -> tuple[list[str], list[int]]:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths, labels = [], []
    for i in range(n):
        label = i % 2
        x = make_clip(rng, label, rng.uniform(0.4, 1.2))
        paths.append(write_wav(root / f"{i:03d}.wav", x))
        labels.append(label)
    return paths, labels


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    return make_corpus(root / "train", 48, seed=0), make_corpus(root / "test", 32, seed=1)


def tiny_config(**overrides) -> TrainConfig:
    base = dict(
        model_kwargs=dict(TINY),
        crop_seconds=0.5,
        batch_size=8,
        steps=60,
        lr=3e-3,
        warmup_steps=5,
        device="cpu",
        log_every=20,
    )
    base.update(overrides)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(corpus):
    (paths, labels), _ = corpus
    calls = []
    result = train(tiny_config(), paths, labels, progress=lambda *a: calls.append(a))
    return result, calls


# --------------------------------------------------------------------------- models


def test_front_end_shapes_and_masking():
    fe = LogMelFrontEnd(n_mels=40)
    x = torch.randn(2, 8000)
    feats, frames = fe(x, torch.tensor([8000, 3000]))
    assert feats.shape == (2, 40, 1 + (8000 - 512) // 160)
    assert frames.tolist() == [feats.shape[-1], 1 + (3000 - 512) // 160]
    assert torch.all(feats[1, :, frames[1] :] == 0)
    assert torch.all(feats[1, :, : frames[1]] != 0)
    # Shorter than one FFT frame: still one frame.
    feats, frames = fe(torch.randn(1, 100))
    assert feats.shape[-1] == 1 and frames.tolist() == [1]


def test_front_end_rejects_bad_arguments():
    with pytest.raises(ValueError, match="win_length"):
        LogMelFrontEnd(n_fft=256, win_length=400)
    with pytest.raises(ValueError, match=r"\(batch, time\)"):
        LogMelFrontEnd()(torch.randn(16000))
    with pytest.raises(ValueError, match="lengths must be integers of shape"):
        LogMelFrontEnd()(torch.randn(2, 16000), torch.tensor([16000]))


def test_small_cnn_forward_shape_and_score():
    model = SmallCNN(**TINY).eval()
    x = torch.randn(3, 12000)
    logits = model(x, torch.tensor([12000, 9000, 400]))
    assert logits.shape == (3, 2)
    assert torch.equal(bonafide_score(logits), logits[:, 1] - logits[:, 0])
    assert model(x).shape == (3, 2)  # lengths default to full


def test_padding_does_not_change_a_row():
    torch.manual_seed(0)
    model = SmallCNN(**TINY).eval()
    lengths = torch.tensor([16000, 11111, 5000, 700])
    x = 0.1 * torch.randn(4, 16000)
    with torch.no_grad():
        batched = model(x, lengths)
        garbage = x.clone()
        for row, n in enumerate(lengths.tolist()):
            garbage[row, n:] = 3.0 * torch.randn(16000 - n)
        longer = torch.cat([garbage, torch.randn(4, 5000)], dim=1)
        for row, n in enumerate(lengths.tolist()):
            alone = model(x[row : row + 1, :n])
            torch.testing.assert_close(batched[row : row + 1], alone, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model(garbage, lengths), batched, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model(longer, lengths), batched, atol=1e-5, rtol=1e-5)


def test_masked_mean_max():
    x = torch.tensor([[[1.0, 3.0, 100.0]], [[-1.0, -2.0, -3.0]]])
    out = masked_mean_max(x, torch.tensor([2, 3]))
    assert torch.allclose(out, torch.tensor([[2.0, 3.0], [-2.0, -1.0]]))


def test_registry():
    model = build_model("small_cnn", **TINY)
    assert isinstance(model, SmallCNN)
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match="known models: .*small_cnn"):
        build_model("resnet9000")


# --------------------------------------------------------------------------- data


def test_crop_is_deterministic_per_seed_epoch_index(tmp_path):
    path = write_wav(tmp_path / "long.wav", np.random.default_rng(0).standard_normal(3 * SR))
    ds = CropDataset([path, path], [1, 0], seconds=0.5, seed=7)
    wave, length, label = ds[0]
    assert wave.dtype == torch.float32 and wave.shape == (8000,) and length == 8000
    assert label == 1
    assert torch.equal(ds[0][0], CropDataset([path, path], [1, 0], seconds=0.5, seed=7)[0][0])
    assert not torch.equal(ds[0][0], ds[1][0])  # other index, other crop
    ds.set_epoch(3)
    epoch3 = ds[0][0]
    assert not torch.equal(epoch3, wave)
    assert torch.equal(ds[(0, 3)][0], epoch3)  # an (index, epoch) key overrides set_epoch
    ds.set_epoch(0)
    assert torch.equal(ds[(0, 3)][0], epoch3) and torch.equal(ds[0][0], wave)
    # The crop is a contiguous piece of the file.
    full = torch.from_numpy(sf.read(path, dtype="float32")[0])
    starts = [i for i in range(len(full) - 8000 + 1) if torch.equal(full[i : i + 8000], wave)]
    assert len(starts) == 1


def test_short_clip_is_tile_padded_in_train_mode(tmp_path):
    x = np.random.default_rng(1).standard_normal(3000)
    path = write_wav(tmp_path / "short.wav", x)
    wave, length, _ = CropDataset([path], [0], seconds=0.5)[0]
    assert length == 8000
    ref = torch.from_numpy(sf.read(path, dtype="float32")[0])
    assert torch.equal(wave[:3000], ref) and torch.equal(wave[3000:6000], ref)
    assert torch.equal(wave[6000:], ref[:2000])


def test_eval_mode_reads_start_and_is_not_padded(tmp_path):
    x = np.random.default_rng(2).standard_normal(2 * SR)
    path = write_wav(tmp_path / "a.wav", x)
    short = write_wav(tmp_path / "b.wav", x[:1000])
    ref = torch.from_numpy(sf.read(path, dtype="float32")[0])
    ds = CropDataset([path, short], None, seconds=0.5, train=False)
    wave, length, label = ds[0]
    assert torch.equal(wave, ref[:8000]) and length == 8000 and label == -1
    assert ds[1][1] == 1000
    whole = CropDataset([path], None, seconds=None, train=False)[0]
    assert torch.equal(whole[0], ref)


def test_resampling_and_mono_mix(tmp_path):
    rng = np.random.default_rng(3)
    stereo = rng.standard_normal((8000, 2)).astype(np.float32) * 0.1
    path = write_wav(tmp_path / "st8k.wav", stereo, sr=8000)
    wave, length, _ = CropDataset([path], None, seconds=None, train=False)[0]
    assert wave.ndim == 1 and length == SR  # 1 s at 8 kHz -> 16000 samples
    native = CropDataset([path], None, sample_rate=8000, seconds=None, train=False)[0][0]
    stored = sf.read(path, dtype="float32")[0]  # (time, 2), as quantised in the file
    assert torch.allclose(native, torch.from_numpy(stored.mean(axis=1)), atol=1e-7)
    crop = CropDataset([path], [1], seconds=0.25)[0][0]
    assert crop.shape == (4000,)


def test_decode_failure_names_the_path(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"this is not audio")
    for train_mode in (True, False):
        with pytest.raises(AudioReadError, match="broken.wav"):
            CropDataset([bad], [1], train=train_mode)[0]
    with pytest.raises(AudioReadError, match="missing.wav"):
        CropDataset([tmp_path / "missing.wav"], [1])[0]
    assert issubclass(AudioReadError, CurateError)


def test_collate_pads_with_zeros():
    batch = [(torch.ones(3), 3, 1), (torch.ones(5), 5, 0)]
    x, lengths, labels = collate(batch)
    assert x.shape == (2, 5) and x.dtype == torch.float32
    assert lengths.tolist() == [3, 5] and labels.tolist() == [1, 0]
    assert x[0, 3:].abs().sum() == 0 and x[1].sum() == 5


def test_items_and_labels():
    assert as_label("bonafide") == 1 and as_label("spoof") == 0 and as_label(True) == 1
    with pytest.raises(ValueError, match="not a valid label"):
        as_label(2)
    items = as_items([("a.wav", "spoof"), ("b.wav", 1, "b"), {"path": "c.wav", "label": 0}])
    assert items == [Item("a.wav", 0, "a.wav"), Item("b.wav", 1, "b"), Item("c.wav", 0)]
    ds = CropDataset.from_items(items, seconds=1.0)
    assert ds.labels.tolist() == [0, 1, 0] and len(ds) == 3
    with pytest.raises(ValueError, match="one label per path"):
        CropDataset(["a.wav"], [0, 1])


def test_sampler_epochs_are_seeded_permutations():
    labels = [0, 1] * 5
    sampler = EpochBatchSampler(labels, 4, seed=3, num_batches=5)
    batches = list(sampler)
    assert batches == list(EpochBatchSampler(labels, 4, seed=3, num_batches=5))
    assert len(batches) == len(sampler) == 5
    keys = [k for b in batches for k in b]
    epoch0 = [i for i, e in keys if e == 0]
    epoch1 = [i for i, e in keys if e == 1]
    assert sorted(epoch0) == list(range(10)) and sorted(epoch1) == list(range(10))
    assert epoch0 != epoch1  # reshuffled
    assert list(EpochBatchSampler(labels, 4, seed=3, num_batches=5, start_batch=2)) == batches[2:]
    assert batches != list(EpochBatchSampler(labels, 4, seed=4, num_batches=5))


def test_sampler_balanced_oversamples_minority():
    labels = [0] * 18 + [1] * 2
    sampler = EpochBatchSampler(labels, 6, seed=0, balanced=True)
    epoch = sampler.epoch_indices(0)
    counts = np.bincount([labels[i] for i in epoch.tolist()])
    assert counts.tolist() == [18, 18]
    assert sorted(i for i in epoch.tolist() if labels[i] == 0) == list(range(18))


# --------------------------------------------------------------------------- loop pieces


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="TrainConfig.batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="TrainConfig.optimizer"):
        TrainConfig(optimizer="lion")
    with pytest.raises(ValueError, match="TrainConfig.model "):
        TrainConfig(model="nope")
    with pytest.raises(ValueError, match="TrainConfig.device"):
        TrainConfig(device="toaster")
    with pytest.raises(ValueError, match="TrainConfig.model_kwargs"):
        TrainConfig(model_kwargs={"sample_rate": 8000})
    with pytest.raises(ValueError, match="unknown TrainConfig field.*epoch_count"):
        TrainConfig.from_dict({"epoch_count": 3})
    config = tiny_config()
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_lr_schedule_warmup_then_cosine():
    kw = dict(base_lr=1.0, warmup_steps=4, total_steps=14)
    lrs = [lr_at(s, **kw) for s in range(14)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert lrs[4] == 1.0 and all(a > b for a, b in zip(lrs[4:], lrs[5:]))
    assert lr_at(14, **kw) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(14, **kw, min_lr_ratio=0.1) == pytest.approx(0.1)


def test_class_weights():
    assert class_weights([0, 1, 1, 1]).tolist() == pytest.approx([2.0, 2 / 3])
    with pytest.raises(ValueError, match="no items of class"):
        class_weights([1, 1])


# --------------------------------------------------------------------------- training


def test_training_learns_separable_task(corpus, trained):
    result, calls = trained
    (_, _), (test_paths, test_labels) = corpus
    assert result.steps == len(result.losses) == 60
    assert not result.model.training
    first, last = np.mean(result.losses[:10]), np.mean(result.losses[-10:])
    assert last < 0.5 * first
    assert [c[0] for c in calls] == [20, 40, 60] and all(c[1] == 60 for c in calls)

    scores = score(result.model, test_paths, sample_rate=SR, batch_size=8)
    labels = np.array(test_labels)
    eer, _ = compute_eer(scores[labels == 1], scores[labels == 0])
    assert eer < 0.2


def test_scores_follow_input_order_and_ignore_batching(corpus, trained):
    result, _ = trained
    _, (paths, _) = corpus
    paths = paths[:10]
    forward = score(result.model, paths, batch_size=4)
    assert forward.shape == (10,) and forward.dtype == np.float64
    backward = score(result.model, paths[::-1], batch_size=3)
    np.testing.assert_allclose(backward[::-1], forward, atol=1e-4)
    assert score(result.model, []).shape == (0,)


def test_same_seed_same_weights_and_caller_rng_untouched(corpus):
    (paths, labels), _ = corpus
    config = tiny_config(steps=4, class_weighting=True, sampler="balanced")
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    a = train(config, paths, labels).model.state_dict()
    assert torch.equal(torch.get_rng_state(), before)
    b = train(config, paths, labels).model.state_dict()
    c = train(tiny_config(steps=4, seed=1), paths, labels).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_loader_workers_do_not_change_the_result(corpus):
    (paths, labels), _ = corpus
    a = train(tiny_config(steps=3), paths, labels).model.state_dict()
    b = train(tiny_config(steps=3, num_workers=2), paths, labels).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_rejects_bad_labels(corpus):
    (paths, labels), _ = corpus
    with pytest.raises(ValueError, match="one label per path"):
        train(tiny_config(steps=1), paths, labels[:-1])
    with pytest.raises(ValueError, match="all bonafide"):
        train(tiny_config(steps=1), paths[:3], [1, 1, 1])


def test_checkpoint_round_trip_gives_identical_scores(corpus, trained, tmp_path):
    result, _ = trained
    _, (paths, _) = corpus
    path = save_checkpoint(tmp_path / "ckpt" / "last.pt", result.model, result.config, 60)
    model, config, step = load_checkpoint(path)
    assert step == 60 and config == result.config
    assert not model.training
    np.testing.assert_array_equal(score(model, paths[:8]), score(result.model, paths[:8]))
    assert read_checkpoint(path)["optimizer"] is None


def test_bad_checkpoint_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CurateError, match="junk.pt"):
        load_checkpoint(junk)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CurateError, match="not a curate checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


# --------------------------------------------------------------------------- regimes, samplers


def test_long_regime_keeps_short_clips_whole_and_crops_long_ones(tmp_path):
    from curate.train.data import CropDataset

    rng = np.random.default_rng(5)
    short = write_wav(tmp_path / "short.wav", rng.standard_normal(int(1.5 * SR)))
    long = write_wav(tmp_path / "long.wav", rng.standard_normal(int(4.0 * SR)))
    ds = CropDataset([short, long], [1, 0], seconds=None, regime="long",
                     long_seconds=(2.0, 3.0), seed=1)
    wave, length, _ = ds[0]
    assert length == int(1.5 * SR)
    assert torch.equal(wave, torch.from_numpy(sf.read(short, dtype="float32")[0]))
    lengths = {ds[(1, e)][1] for e in range(6)}
    assert all(2.0 * SR <= n <= 3.0 * SR for n in lengths) and len(lengths) > 1
    assert torch.equal(ds[(1, 4)][0], ds[(1, 4)][0])  # a function of (seed, epoch, index)


def test_packed_strings_and_train_data_from_a_selection_frame():
    import pandas as pd

    from curate.train.data import PackedStrings, TrainData

    strings = PackedStrings(["a", "ünïcode/päth.wav", "", "z" * 300])
    assert list(strings) == ["a", "ünïcode/päth.wav", "", "z" * 300] and strings[-1] == "z" * 300
    assert strings[1:3] == ["ünïcode/päth.wav", ""]
    with pytest.raises(IndexError):
        strings[4]
    frame = pd.DataFrame({"utt_id": ["c:1", "c:2", "d:3"], "abspath": ["/x/1", "/x/2", "/y/3"],
                          "label": ["bonafide", "spoof", "spoof"], "corpus": ["c", "c", "d"],
                          "language": ["eng", None, "deu"], "duration_s": [1.0, 2.5, 3.0],
                          "weight": [1.0, 0.5, 2.0]})
    data = TrainData.from_frame(frame)
    assert data.labels.tolist() == [1, 0, 0] and data.utt_ids[2] == "d:3"
    assert data.paths[0] == "/x/1" and data.seconds().tolist() == [1.0, 2.5, 3.0]
    codes, names = data.groups["language"]
    assert names == ["<none>", "deu", "eng"] and codes.tolist() == [2, 0, 1]
    assert data.weights.tolist() == [1.0, 0.5, 2.0]


def test_temperature_and_weighted_samplers():
    from curate.train.data import EpochPlan

    groups = [0] * 90 + [1] * 10
    labels = [0, 1] * 50
    natural = EpochPlan(labels, mode="temperature", groups=groups, temperature=1.0)
    counts = np.bincount([groups[i] for i in natural.indices(0).tolist()])
    assert counts.tolist() == [90, 10]
    flat = EpochPlan(labels, mode="temperature", groups=groups, temperature=1000.0)
    counts = np.bincount([groups[i] for i in flat.indices(0).tolist()])
    assert counts.tolist() == [50, 50]  # ~uniform over groups, small group cycled
    t2 = EpochPlan(labels, mode="temperature", groups=groups, temperature=2.0)
    expected = 100 * 3 / (3 + 1)  # sqrt(90) : sqrt(10) = 3 : 1
    assert np.bincount([groups[i] for i in t2.indices(0).tolist()])[0] == expected
    assert t2.indices(3).tolist() == t2.indices(3).tolist() != t2.indices(4).tolist()
    weights = [0.0] * 50 + [1.0] * 50
    drawn = EpochPlan(labels, mode="weighted", weights=weights).indices(0)
    assert len(drawn) == 100 and drawn.min() >= 50
    with pytest.raises(ValueError, match="one group per item"):
        EpochPlan(labels, mode="temperature")


def test_dynamic_batches_respect_the_budget_and_cover_each_epoch():
    from curate.train.data import DynamicBatchSampler, EpochPlan, ShardedBatchSampler

    rng = np.random.default_rng(0)
    seconds = rng.uniform(1.0, 13.0, 200)
    plan = EpochPlan([0, 1] * 100, seed=2)
    sampler = DynamicBatchSampler(plan, seconds, 40.0, buckets=5, seed=2, min_items=2)
    epoch = sampler.epoch_batches(0)
    assert sorted(i for b in epoch for i, _ in b) == list(range(200))
    for batch in epoch:
        longest = max(seconds[i] for i, _ in batch)
        assert len(batch) >= 2 and (longest * len(batch) <= 40.0 or len(batch) == 2)
    spread = np.mean([np.ptp([seconds[i] for i, _ in b]) for b in epoch])
    assert spread < 4.0  # length buckets keep padding low
    n0 = len(epoch)
    stream = list(DynamicBatchSampler(plan, seconds, 40.0, buckets=5, seed=2, min_items=2,
                                      num_batches=n0 + 3))
    assert stream[:n0] == epoch and {e for _, e in stream[n0]} == {1}
    resumed = list(DynamicBatchSampler(plan, seconds, 40.0, buckets=5, seed=2, min_items=2,
                                       num_batches=n0 + 3, start_batch=n0 - 1))
    assert resumed == stream[n0 - 1:]
    shards = [list(ShardedBatchSampler(iter([b]), r, 2)) for b in epoch[:3] for r in (0, 1)]
    assert sorted(shards[0][0] + shards[1][0]) == sorted(epoch[0])


def test_lr_schedules():
    kw = dict(base_lr=1.0, warmup_steps=2, total_steps=12, min_lr_ratio=0.1)
    linear = [lr_at(s, schedule="linear", **kw) for s in range(13)]
    assert linear[:3] == [0.5, 1.0, 1.0] and linear[12] == pytest.approx(0.1)
    assert linear[7] == pytest.approx(1.0 - 0.9 * 0.5)
    assert {lr_at(s, schedule="constant", **kw) for s in range(2, 12)} == {1.0}


class RecordingChain:
    """Duck-typed augmentation chain: CPU stage flips polarity at random and logs it;
    device stage scales each row."""

    has_cpu_steps = True
    has_device_steps = True

    def cpu_stage(self, x, sample_rate, rng):
        flip = bool(rng.random() < 0.5)
        return (-x if flip else x).astype(np.float32), ([{"step": "flip", "params": {}}]
                                                         if flip else [])

    def device_stage(self, x, lengths, generator):
        gains = 0.5 + torch.rand(x.shape[0], generator=generator, device=x.device)
        return x * gains[:, None], [[{"step": "gain", "params": {"g": float(g)}}]
                                    for g in gains]


def test_cpu_augmentation_stage_is_seeded_per_item_and_epoch(tmp_path):
    path = write_wav(tmp_path / "a.wav", np.random.default_rng(0).standard_normal(SR))
    ds = CropDataset([path] * 8, [1] * 8, seconds=0.5, seed=3, chain=RecordingChain(),
                     return_meta=True)
    plain = CropDataset([path] * 8, [1] * 8, seconds=0.5, seed=3)
    flips = []
    for i in range(8):
        wave, length, label, index, epoch, steps = ds[(i, 1)]
        assert (index, epoch, length) == (i, 1, 8000)
        crop = plain[(i, 1)][0]
        assert torch.equal(wave, -crop if steps else crop)  # same crop, then the chain
        flips.append(bool(steps))
        assert ds[(i, 1)][5] == steps
    assert 0 < sum(flips) < 8
    batch = collate([ds[(i, 0)] for i in range(3)])
    assert batch.index.tolist() == [0, 1, 2] and batch.epoch.tolist() == [0, 0, 0]
    assert len(batch.steps) == 3


def test_chain_file_is_loaded_in_each_worker(tmp_path):
    import pickle

    ds = CropDataset(["a.wav"], [1], chain=str(tmp_path / "chain.toml"))
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._chain is None and clone._chain_spec == str(tmp_path / "chain.toml")


def test_training_with_a_chain_logs_every_item_and_is_reproducible(corpus):
    (paths, labels), _ = corpus
    logs = []
    config = tiny_config(steps=3, log_augmentation=True, num_workers=0)
    a = train(config, paths, labels, chain=RecordingChain(),
              augment_log=lambda epoch, frame: logs.append((epoch, frame)))
    b = train(tiny_config(steps=3, num_workers=2), paths, labels, chain=RecordingChain())
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())
    frame = logs[0][1]
    assert logs[0][0] == 0 and len(frame) == 3 * 8 and set(frame.columns) == {"utt_id", "steps"}
    assert all(s[-1]["step"] == "gain" for s in frame.steps)
    assert set(frame.utt_id) <= set(paths)


def test_epochs_precision_and_temperature_sampling(corpus):
    from curate.train.data import TrainData
    from curate.train.loop import total_steps

    (paths, labels), _ = corpus
    data = TrainData.from_lists(paths, labels, groups={"corpus": ["a"] * 40 + ["b"] * 8})
    config = tiny_config(epochs=0.5, sampler="temperature", sampler_by="corpus",
                         temperature=3.0, precision="bf16")
    assert total_steps(config, data) == 3  # 48 items / 8 per batch * 0.5
    result = train(config, data)
    assert result.steps == 3 and np.isfinite(result.losses).all()
    with pytest.raises(ValueError, match="sampler_by 'language'"):
        train(tiny_config(sampler="temperature", sampler_by="language"), data)


def test_dynamic_batching_in_the_long_regime(corpus):
    (paths, labels), _ = corpus
    config = tiny_config(regime="long", long_min_seconds=0.5, long_max_seconds=0.8,
                         max_batch_seconds=4.0, steps=4)
    result = train(config, paths, labels)
    assert result.steps == 4 and np.isfinite(result.losses).all()


def test_scores_sorted_by_duration_are_the_same(corpus, trained):
    result, _ = trained
    _, (paths, _) = corpus
    durations = [sf.info(p).duration for p in paths[:9]]
    np.testing.assert_allclose(score(result.model, paths[:9], batch_size=4, durations=durations),
                               score(result.model, paths[:9], batch_size=4), atol=1e-5)


def test_loader_benchmark_reports_audio_seconds(tmp_path):
    from curate.train.bench import bench_loader

    result = bench_loader(files=4, seconds=1.0, crop_seconds=0.5, workers=0, batch_size=2,
                          epochs=2, workdir=tmp_path)
    assert result["name"] == "loader" and result["unit"] == "audio-s/s per worker"
    assert result["value"] > 0 and result["baseline"] > 0
    assert result["ratio"] == pytest.approx(result["value"] / result["baseline"])
