"""Training from shards: rank- and worker-disjoint streams, the map-style CPU stage, exact
resumption (2N steps == N + resume + N, bit for bit), webdataset URLs, and a run that
records which shards it trained on."""

from __future__ import annotations

import collections
import functools
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ddp_resume_worker, make_tone_selection, tiny_experiment
from curate.catalog.db import CatalogRef, open_catalog
from curate.errors import CurateError
from curate.select.freeze import freeze
from curate.select.spec import parse_selection
from curate.shard import shard_selection
from curate.train.data import (CropStage, EpochPlan, ShardSource, ShardStream, read_window,
                               stream_weights)
from curate.train.data.shards import StreamStart, epoch_shards, item_rng, shard_samples
from curate.train.loop import TrainConfig, read_checkpoint, train


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread_module):
    yield


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """A tone catalog with selection 'sel' (16 train items, 8 test) and its shards of 3
    items (6 train shards, 3 test shards)."""
    tmp = tmp_path_factory.mktemp("shard_training")
    make_tone_selection(tmp)
    shard_selection(CatalogRef(tmp / "c.duckdb"), "sel", tmp / "shards", shard_size="3")
    return tmp


class NoiseChain:
    """A stand-in chain: a seeded gain on the CPU, seeded noise on the device; both logged."""

    has_cpu_steps = True
    has_device_steps = True

    def cpu_stage(self, x, sample_rate, rng):
        gain = float(rng.uniform(0.5, 1.5))
        return (x * gain).astype(np.float32), [{"step": "gain", "params": {"gain": gain}}]

    def device_stage(self, x, lengths, generator):
        noise = torch.randn(x.shape, generator=generator, device=x.device)
        scale = torch.rand(x.shape[0], generator=generator, device=x.device) * 0.01
        return x + scale[:, None] * noise, [[{"step": "noise", "params": {"scale": float(s)}}]
                                            for s in scale]


def _stage(seconds: float = 0.3) -> CropStage:
    return CropStage(16000, seconds, True, "fixed", (10.0, 13.0))


def test_ranks_and_workers_read_disjoint_shards_covering_the_split(tones):
    source = ShardSource.open(str(tones / "shards"), "train")
    assert source.items == 16 and len(source.entries) == 6
    for epoch in (0, 1):
        seen = []
        for rank in range(2):
            stream = ShardStream(source, _stage(), seed=3, rank=rank, world=2, workers=3,
                                 buffer=4)
            shards = [stream.slot_shards(epoch, w) for w in range(3)]
            assert all(len(s) == 1 for s in shards)
            for worker in range(3):
                items = itertools.takewhile(lambda it: it[4] == epoch,
                                            _from_epoch(stream, worker, epoch))
                seen += [it[3] for it in items]
        assert sorted(seen) == sorted(set(seen)) and len(seen) == 16  # each item once
    assert list(epoch_shards(6, 3, 0)) != list(epoch_shards(6, 3, 1))  # reshuffled
    with pytest.raises(CurateError, match=r"6 shard\(s\), fewer than the 8 readers \(2 "
                                          r"rank\(s\) x 4 loader worker\(s\)\)"):
        ShardStream(source, _stage(), world=2, workers=4)


def _from_epoch(stream, worker, epoch):
    items = stream.worker_items(worker)
    return itertools.dropwhile(lambda it: it[4] < epoch, items)


def test_items_go_through_the_map_style_cpu_stage(tones):
    source = ShardSource.open(str(tones / "shards"), "train")
    chain = NoiseChain()
    stream = ShardStream(source, _stage(0.7), seed=5, buffer=3, chain=chain)
    with open_catalog(tones / "c.duckdb", read_only=True) as catalog:
        paths = dict(catalog.execute("SELECT u.utt_id, c.root || '/' || u.path FROM "
                                     "utterances u JOIN corpora c ON c.name = u.corpus"
                                     ).fetchall())
    def read_order(epoch):  # the slot's raw items in epoch (natural: each sample once)
        return [json.loads(sample["json"])["utt_id"] for k in stream.slot_shards(epoch, 0)
                for sample in shard_samples(source.url(source.entries[k]))]

    orders = {e: read_order(e) for e in (0, 1)}
    for position, item in enumerate(itertools.islice(stream.worker_items(0), 20)):
        wave, length, label, utt_id, epoch, steps, worker, token, shard = item
        assert token.position == position - 16 * epoch + 1
        keys = (5, epoch, 0, 0, orders[epoch].index(utt_id))  # drawn by the raw index
        rng, augment = item_rng(*keys, 0), item_rng(*keys, 1)
        # the same crop (tiled: 0.5 s clips, 0.7 s crops) and gain from the source file
        expected, expected_steps = _stage(0.7)(functools.partial(read_window,
                                                                 paths[utt_id]),
                                               rng, chain, augment)
        assert torch.equal(wave, torch.from_numpy(expected)) and steps == expected_steps
        assert length == 11200 and label == {"spoof": 0, "bonafide": 1}[_label(tones, utt_id)]
        assert shard.endswith(".tar") and token.epoch == epoch


@functools.lru_cache(maxsize=None)
def _labels(db: str) -> dict:
    with open_catalog(Path(db), read_only=True) as catalog:
        return dict(catalog.execute("SELECT utt_id, label FROM utterances").fetchall())


def _label(tones, utt_id):
    return _labels(str(tones / "c.duckdb"))[utt_id]


@pytest.mark.parametrize("sampler, buffer", [("natural", 1), ("natural", 5),
                                             ("temperature", 2), ("balanced", 40)])
def test_a_stream_restarted_from_any_token_continues_exactly(tones, sampler, buffer):
    source = ShardSource.open(str(tones / "shards"), "train")
    weights = stream_weights(source, sampler, "generator", temperature=4.0)
    stream = ShardStream(source, _stage(), seed=1, workers=2, buffer=buffer,
                         weights=weights)
    ref = list(itertools.islice(stream.worker_items(1), 40))  # several epochs
    assert len({it[4] for it in ref}) >= 3
    for k in range(39):
        again = ShardStream(source, _stage(), seed=1, workers=2, buffer=buffer,
                            weights=weights, start=StreamStart(0, {1: ref[k][7]}))
        got = list(itertools.islice(again.worker_items(1), 39 - k))
        assert [g[3] for g in got] == [r[3] for r in ref[k + 1:]], k
        assert all(torch.equal(g[0], r[0]) and g[7] == r[7] for g, r in zip(got, ref[k + 1:]))


def test_stream_weights_target_the_map_style_samplers_counts(tones):
    source = ShardSource.open(str(tones / "shards"), "train")
    generators = source.counts("generator")
    assert generators == {"<none>": 8, "tones:g0": 4, "tones:g1": 4}
    codes = {"<none>": 0, "tones:g0": 1, "tones:g1": 2}
    groups = [codes[g] for g, n in generators.items() for _ in range(n)]
    plan = EpochPlan([0] * 16, mode="temperature", groups=groups, temperature=4.0)
    weights = stream_weights(source, "temperature", "generator", temperature=4.0)
    targets = {g: weights.weights[g] * n for g, n in generators.items()}
    assert [targets[g] for g in codes] == pytest.approx(plan._counts)
    assert weights.expected_items == 16 and 0 < weights.weights["<none>"] < 1
    balanced = stream_weights(source, "balanced")
    assert balanced.weights == {"bonafide": 1.0, "spoof": 1.0} and balanced.expected_items == 16
    # over many epochs each group is delivered about its target share
    stream = ShardStream(source, _stage(0.05), seed=2, buffer=3, weights=weights)
    items = list(itertools.takewhile(lambda it: it[4] < 60, stream.worker_items(0)))
    counts = collections.Counter(_generator(tones, it[3]) for it in items)
    for group, target in targets.items():
        assert counts[group] / 60 == pytest.approx(target, rel=0.15)
    with pytest.raises(ValueError, match="sampler_by 'speaker' cannot weight a shard stream"):
        stream_weights(source, "temperature", "speaker")


@functools.lru_cache(maxsize=None)
def _generators(db: str) -> dict:
    with open_catalog(Path(db), read_only=True) as catalog:
        return {u: g or "<none>" for u, g in catalog.execute(
            "SELECT utt_id, generator FROM utterances").fetchall()}


def _generator(tones, utt_id):
    return _generators(str(tones / "c.duckdb"))[utt_id]


def _config(shards: str, **overrides) -> TrainConfig:
    base = dict(model_kwargs={"channels": (8, 16), "n_mels": 32, "dropout": 0.2},
                crop_seconds=0.4, batch_size=4, grad_accum=2, steps=6, lr=3e-3,
                warmup_steps=2, device="cpu", log_every=2, sam=True, sampler="temperature",
                sampler_by="generator", temperature=3.0, class_weighting=True,
                checkpoint_every=3, log_augmentation=True, shards=shards, shuffle_buffer=3)
    base.update(overrides)
    return TrainConfig(**base)


def _run(cfg: TrainConfig, out: Path, **kwargs):
    logs = []
    result = train(cfg, None, out_dir=out, chain=NoiseChain(),
                   augment_log=lambda epoch, frame: logs.append((epoch, frame)), **kwargs)
    return result, [(e, u, str(s)) for e, f in logs for u, s in zip(f.utt_id, f.steps)]


@pytest.mark.parametrize("workers, grad_accum", [(0, 2), (2, 1)])
def test_two_n_steps_equal_n_plus_resumed_n_bit_for_bit_on_shards(tones, tmp_path, workers,
                                                                  grad_accum):
    cfg = _config(str(tones / "shards"), num_workers=workers, grad_accum=grad_accum)
    whole, whole_logs = _run(cfg, tmp_path / "whole")
    first, first_logs = _run(cfg, tmp_path / "split", stop_at=3)
    state = read_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    (stream,) = state["extra"]["stream"]
    assert stream["batches"] == 3 * grad_accum and stream["loader_workers"] == workers
    assert len(stream["tokens"]) == max(1, workers)
    torch.manual_seed(999)  # the caller's RNG does not matter
    second, second_logs = _run(cfg, tmp_path / "split", resume=True)
    assert second.resumed_from == 3 and second.steps == 6
    a, b = whole.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "weights differ after resuming"
    assert second.losses == whole.losses
    assert first_logs + second_logs == whole_logs  # the same items, crops, gains, noise
    assert len(whole_logs) == 6 * 4 * grad_accum

    if workers:  # other loader workers read other parts of the shards: refused
        other = _config(str(tones / "shards"), num_workers=1, grad_accum=grad_accum)
        with pytest.raises(CurateError, match=r"with 1 rank\(s\) x 2 loader worker\(s\); "
                                              r"resume with the same \(data.num_workers = 2"):
            _run(other, tmp_path / "split", resume=True)


def test_pipe_and_file_urls_read_the_same_stream(tones):
    folder = tones / "shards"
    local = ShardSource.open(str(folder), "train")
    expected = [it[3] for it in itertools.islice(
        ShardStream(local, _stage(), seed=4, buffer=5).worker_items(0), 20)]
    for location in (f"file:{folder}", f"pipe:cat {folder}/{{name}}"):
        source = ShardSource.open(location, "train")
        assert source.url(source.entries[0]).startswith(location.split("{")[0])
        got = [it[3] for it in itertools.islice(
            ShardStream(source, _stage(), seed=4, buffer=5).worker_items(0), 20)]
        assert got == expected, location
    with pytest.raises(CurateError, match="a pipe: command without {name}"):
        ShardSource.open(f"pipe:cat {folder}", "train")
    with pytest.raises(CurateError, match=r"hold no split 'dev' \(they hold test, train\)"):
        ShardSource.open(str(folder), "dev")


def test_a_run_on_shards_records_them_and_checks_their_selection(tones, tmp_path, run_cli,
                                                                 monkeypatch):
    from curate.train import run as run_module
    from curate.train.eval_run import load_run

    files_scores = run_module.scores_of

    def no_files(*args, **kwargs):
        raise AssertionError("the eval set the shards hold was scored from files")

    monkeypatch.setattr(run_module, "scores_of", no_files)
    db = tmp_path / "c.duckdb"
    shutil.copyfile(tones / "c.duckdb", db)
    exp = tmp_path / "tiny.toml"
    exp.write_text(tiny_experiment(steps=2).replace(
        "[batching]", f'shards = "{tones / "shards"}"\nshuffle_buffer = 4\n[batching]'))
    code, out, err = run_cli("train", exp, "--db", db, "--out", tmp_path / "out")
    assert code == 0, err
    with open_catalog(db, read_only=True) as catalog:
        (run_id, stored), = catalog.execute("SELECT run_id, config FROM runs").fetchall()
        spec_hash = catalog.execute("SELECT spec_hash FROM selections WHERE name = 'sel'"
                                    ).fetchone()[0]
        scored = catalog.execute("SELECT count(*) FROM scores WHERE run_id = ?", [run_id]
                                 ).fetchone()[0]
    stored = json.loads(stored)
    assert stored["shards"] == {
        "location": str(tones / "shards"), "selection": "sel", "spec_hash": spec_hash,
        "shards": 9, "splits": {"test": {"shards": 3, "written": 8, "unreadable": 0},
                                "train": {"shards": 6, "written": 16, "unreadable": 0}}}
    assert stored["train"]["shards"] == str(tones / "shards")
    assert scored == 8  # the test split, scored from the shards
    # ... as from the files (16-bit audio in, lossless FLAC shards: the same clips)
    from curate.train.distributed import DistContext
    from curate.train.snapshot import read_set

    with open_catalog(db, read_only=True) as catalog:
        run = load_run(catalog, run_id)
        stored_scores = dict(catalog.execute("SELECT utt_id, score FROM scores WHERE "
                                             "run_id = ?", [run_id]).fetchall())
    rows = read_set(run.run_dir / "data", "eval:test")
    from_files = files_scores(run.model, rows, run.config, "cpu", DistContext())
    np.testing.assert_allclose([stored_scores[u] for u in rows["utt_id"]], from_files,
                               rtol=1e-5, atol=1e-6)

    with open_catalog(db) as catalog:  # shards of another selection are refused
        freeze(catalog, parse_selection({"name": "sel2", "seed": 2, "split": {
            "by": "speaker", "fractions": {"train": 0.5, "test": 0.5}}}))
    shard_selection(CatalogRef(db), "sel2", tmp_path / "s2", shard_size="3")
    exp.write_text(exp.read_text().replace(str(tones / "shards"), str(tmp_path / "s2")))
    code, out, err = run_cli("train", exp, "--db", db, "--out", tmp_path / "out")
    assert code == 2 and "Traceback" not in err
    assert "holds selection 'sel2', not the train selection 'sel'" in " ".join(err.split())


def test_settings_that_shards_do_not_support_are_refused(tones):
    assert _config(str(tones / "shards"), max_batch_seconds=4.0).max_batch_seconds == 4.0
    with pytest.raises(ValueError, match="sampler_by cannot weight a shard stream"):
        _config(str(tones / "shards"), sampler_by="speaker")
    base = TrainConfig()
    assert "shards" not in base.identity() and "shuffle_buffer" not in base.identity()
    assert _config("x").identity()["shards"] == "x"


def test_two_gloo_ranks_read_their_own_shards_and_resume_exactly(tones, tmp_path):
    import torch.multiprocessing as mp

    cfg = _config(str(tones / "shards"), steps=4, checkpoint_every=2, grad_accum=1,
                  log_augmentation=False, sampler="balanced")
    mp.spawn(ddp_resume_worker, args=(2, str(tmp_path / "init"), cfg.to_dict(),
                                     str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for rank in ranks:
        assert all(torch.equal(rank["whole"][k], rank["again"][k]) for k in rank["whole"])
        assert rank["losses"][0] == rank["losses"][1]
    weights = [k for k in ranks[0]["whole"] if "running_" not in k and "num_batches" not in k]
    assert all(torch.equal(ranks[0]["whole"][k], ranks[1]["whole"][k])
               for k in weights)  # the ranks stay in step (batch norm: per-rank statistics)
    streams = read_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")["extra"][
        "stream"]
    assert [s["world"] for s in streams] == [2, 2] and streams[0]["tokens"] != \
        streams[1]["tokens"]


def test_bench_loader_shards_prints_both_sides(run_cli):
    code, out, err = run_cli("bench", "loader", "--shards", "--files", "4", "--seconds", "1",
                             "--crop-seconds", "0.5", "--epochs", "8", "--workers", "0",
                             "--repeats", "3", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "loader_shards" and result["shards"] == 4
    assert result["repeats"] == 3 and result["ratio"] == sorted(result["ratios"])[1]
    for key in ("value", "baseline", "ratio", "shards_items_per_s", "files_items_per_s"):
        assert np.isfinite(result[key]) and result[key] > 0, key
    code, out, err = run_cli("bench", "loader", "--shards", "--files", "4", "--seconds", "1",
                             "--crop-seconds", "0.5", "--epochs", "8", "--workers", "0")
    assert code == 0 and "items/s" in out and "ratio" in out, err
