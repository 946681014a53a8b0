"""Shared fixtures: miniature corpora in real on-disk layouts, a CLI runner."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def write_tone(path: Path, seconds: float = 0.5, sample_rate: int = 16000, freq: float = 220.0,
               amplitude: float = 0.3, seed: int = 0) -> None:
    """A short tone plus a little seeded noise, so every file has distinct content."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    x = amplitude * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.astype(np.float32), sample_rate)


def make_asvspoof2019(root: Path, lines: dict[str, list[str]], *, seconds: float = 0.3,
                      skip: set[str] = frozenset(), corrupt: set[str] = frozenset()) -> Path:
    """An ASVspoof 2019 LA folder: protocols per subset and flac files.

    ``lines`` maps subset (train/dev/eval) to protocol lines. Utterances in
    ``skip`` get no file; those in ``corrupt`` get a file of garbage bytes.
    """
    names = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}
    proto = root / "ASVspoof2019_LA_cm_protocols"
    proto.mkdir(parents=True, exist_ok=True)
    for i, (subset, rows) in enumerate(lines.items()):
        (proto / f"ASVspoof2019.LA.cm.{names[subset]}.txt").write_text("\n".join(rows) + "\n")
        for j, row in enumerate(rows):
            utt = row.split()[1]
            path = root / f"ASVspoof2019_LA_{subset}" / "flac" / f"{utt}.flac"
            if utt in skip:
                continue
            if utt in corrupt:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"not audio at all")
                continue
            write_tone(path, seconds, freq=150 + 10 * j, seed=1000 * i + j)
    return root


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run ``curate ARGS...`` in-process; returns (exit_code, stdout, stderr)."""
    from curate import cli

    def run(*args: str):
        monkeypatch.setattr(sys, "argv", ["curate", *map(str, args)])
        code = 0
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present on this machine")
    return REALDATA


@pytest.fixture(scope="module")
def one_torch_thread_module():
    """Run a test module with one torch intra-op thread, then restore the setting."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def make_tone_catalog(tmp_path: Path, *, speakers: int, per_speaker: int, seconds: float):
    """A prepared, probed catalog of tones: bonafide = low tones, spoof (the second half
    of each speaker's files) = high tones, generators ``tones:g0``/``tones:g1``.

    Returns the open catalog (the caller closes it) at ``tmp_path / "c.duckdb"``.
    """
    root = tmp_path / "tones"
    rows = []
    for spk in range(speakers):
        for k in range(per_speaker):
            spoof = k >= per_speaker // 2
            name = f"s{spk}_{k}.wav"
            write_tone(root / name, seconds=seconds,
                       freq=(2500 + 300 * k) if spoof else 200 + 20 * k, amplitude=0.3,
                       seed=spk * 10 + k)
            rows.append(f"{name},s{spk},{'spoof' if spoof else 'bona-fide'},"
                        f"{('g' + str(k % 2)) if spoof else ''}")
    (root / "meta.csv").write_text("file,speaker,label,gen\n" + "\n".join(rows) + "\n")
    return prepare_catalog(tmp_path / "c.duckdb", tmp_path / "tones.toml", root,
                           'name = "tones"\nbase = "table"\n[options]\nfile = "meta.csv"\n'
                           'path = "{file}"\n[options.map]\nspeaker = "speaker"\n'
                           'label_raw = "label"\ngenerator = "gen"\n[options.constants]\n'
                           'language = "eng"\n')


def prepare_catalog(db: Path, recipe_file: Path, root: Path, recipe_text: str):
    """Write ``recipe_text`` to ``recipe_file``, read ``root`` with it into the catalog at
    ``db`` and probe it; returns the open catalog (the caller closes it)."""
    from curate.audio.runner import probe_corpus
    from curate.catalog.db import open_catalog
    from curate.recipes.engine import insert_corpus, read_corpus
    from curate.recipes.spec import load_recipe

    recipe_file.write_text(recipe_text)
    recipe = load_recipe(str(recipe_file))
    catalog = open_catalog(db)
    insert_corpus(catalog, read_corpus(recipe, root), recipe, root)
    probe_corpus(catalog, recipe.name)
    return catalog


def tiny_experiment(steps: int, *, test: str = '["test"]', log_every: int = 2) -> str:
    """An experiment file's text: a small CNN on selection 'sel' (CPU, seconds to train)."""
    return (f'name = "tiny"\nseed = 0\ndevice = "cpu"\n[data]\nselection = "sel"\n'
            f'test = {test}\n[batching]\ncrop_seconds = 0.4\nbatch_size = 8\n[model]\n'
            f'name = "small_cnn"\nchannels = [8, 16]\nn_mels = 32\n[train]\n'
            f'steps = {steps}\nlog_every = {log_every}\n')


def make_tone_selection(tmp_path: Path) -> list[str]:
    """A probed tone catalog at ``tmp_path / "c.duckdb"`` (6 speakers x 4 files) with a
    speaker-disjoint selection 'sel' (train/test); returns its frozen utt_ids."""
    from curate.select.freeze import freeze
    from curate.select.spec import parse_selection

    with make_tone_catalog(tmp_path, speakers=6, per_speaker=4, seconds=0.5) as catalog:
        freeze(catalog, parse_selection({
            "name": "sel", "seed": 1, "split": {"by": "speaker", "fractions": {
                "train": 0.67, "test": 0.33}}}))
        return [r[0] for r in catalog.execute(
            "SELECT utt_id FROM selection_items WHERE selection = 'sel' ORDER BY utt_id")
            .fetchall()]


def train_tiny_run(tmp: Path, steps: int = 2) -> tuple[Path, str, Path]:
    """A tiny CNN run of ``steps`` steps on the tone selection of :func:`make_tone_selection`
    in ``tmp``: (catalog path, run_id, run folder)."""
    from curate.catalog.db import CatalogRef
    from curate.train.experiment import load_experiment
    from curate.train.run import run_experiment

    make_tone_selection(tmp)
    exp = tmp / "tiny.toml"
    exp.write_text(tiny_experiment(steps))
    outcome = run_experiment(CatalogRef(tmp / "c.duckdb"), load_experiment(exp).run_spec(),
                             tmp / "out")
    return tmp / "c.duckdb", outcome.run_id, outcome.run_dir


def ddp_resume_worker(rank: int, world: int, init_file: str, cfg: dict, out: str) -> None:
    """One gloo rank of a resume check (``torch.multiprocessing.spawn`` target): trains
    ``cfg`` whole, then to step 2 and resumed, and saves both models, the losses and the
    steps to ``out/rank{rank}.pt``."""
    import torch
    import torch.distributed as dist

    from curate.train.loop import TrainConfig, train

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        config = TrainConfig.from_dict(cfg)
        whole = train(config, None, out_dir=Path(out) / "whole")
        train(config, None, out_dir=Path(out) / "split", stop_at=2)
        again = train(config, None, out_dir=Path(out) / "split", resume=True)
        torch.save({"whole": whole.model.state_dict(), "again": again.model.state_dict(),
                    "losses": (whole.losses, again.losses), "steps": again.steps},
                   Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
