"""`curate augment`: folder and selection augmentation, the JSONL log, resume, previews."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import write_tone
from curate.audio.runner import probe_corpus
from curate.catalog.db import open_catalog
from curate.recipes.engine import insert_corpus, read_corpus
from curate.recipes.spec import load_recipe
from curate.select.freeze import freeze
from curate.select.spec import parse_selection

CHAIN = """
sample_rate = 16000
seed = 5
[[step]]
name = "codec"
p = 0.5
codecs = ["mp3", "g711_a"]
[[step]]
name = "gain"
p = 0.5
[[step]]
name = "g711"
p = 1.0
"""


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "in"
    write_tone(root / "a.wav", 0.5, seed=1)
    write_tone(root / "sub" / "b.flac", 0.4, sample_rate=22050, seed=2)
    x, sr = sf.read(root / "sub" / "b.flac")
    sf.write(root / "sub" / "b.flac", np.stack([x, 0.5 * x], axis=1), sr)      # stereo
    write_tone(root / "c.wav", 0.3, sample_rate=8000, seed=3)
    (root / "broken.wav").write_bytes(b"RIFF not really audio")
    (root / "notes.txt").write_text("not audio")
    chain = tmp_path / "chain.toml"
    chain.write_text(CHAIN)
    return chain, root


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "augment_log.jsonl").read_text().splitlines()]


def test_folder_mirrors_paths_logs_every_file_and_resumes(folder, tmp_path, run_cli):
    chain, root = folder
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("augment", chain, root, out)
    assert code == 1, stderr                      # a failed file: exit 1, the rest done
    assert "3 written, 0 already done, 1 failed" in stdout
    assert "broken.wav" in stderr and "1 file(s) failed" in stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")
                  if p.name != "augment_log.jsonl") == ["a.wav", "c.wav", "sub/b.flac"]
    records = {r["path"]: r for r in _log(out)}
    assert set(records) == {"a.wav", "broken.wav", "c.wav", "sub/b.flac"}
    assert records["broken.wav"]["status"] == "error" and records["broken.wav"]["error"]
    for rel in ("a.wav", "c.wav", "sub/b.flac"):
        record = records[rel]
        assert record["status"] == "ok" and record["sample_rate"] == 16000
        assert record["steps"][-1]["step"] == "g711"
        info = sf.info(out / record["out"])
        assert info.samplerate == 16000 and info.channels == 1
    assert records["sub/b.flac"]["source_rate"] == 22050
    assert sf.info(out / "c.wav").frames == 4800                 # 0.3 s at 16 kHz
    # a second run skips what is done and retries the failure only
    code, stdout, _ = run_cli("augment", chain, root, out)
    assert code == 1 and "0 written, 3 already done, 1 failed" in stdout
    # the output depends on the seed and the path only
    again = tmp_path / "again"
    run_cli("augment", chain, root, again)
    assert np.array_equal(sf.read(again / "a.wav")[0], sf.read(out / "a.wav")[0])
    other = tmp_path / "other"
    run_cli("augment", chain, root, other, "--seed", "6")
    steps = [r["steps"] for r in _log(other) if r["status"] == "ok"]
    assert steps != [r["steps"] for r in _log(out) if r["status"] == "ok"]


def test_preview_writes_spectrogram_pngs(folder, tmp_path, run_cli):
    chain, root = folder
    out = tmp_path / "preview_out"
    code, stdout, stderr = run_cli("augment", chain, root, out, "--preview", "2")
    assert code == 1, stderr                      # broken.wav is among the first two
    pngs = sorted(p.relative_to(out).as_posix() for p in (out / "preview").rglob("*.png"))
    assert pngs == ["preview/a.png"]                  # broken.wav failed: no preview
    assert len(_log(out)) == 2
    png = out / "preview" / "a.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 150_000


def test_selection_input(tmp_path, run_cli):
    root = tmp_path / "corpus"
    for i, name in enumerate(("x1.wav", "x2.wav", "x3.wav")):
        write_tone(root / "wavs" / name, 0.3, seed=10 + i)
    (root / "meta.csv").write_text("file,uid,label\nwavs/x1.wav,u1,bonafide\n"
                                   "wavs/x2.wav,u2,spoof\nwavs/x3.wav,u3,bonafide\n")
    recipe_file = tmp_path / "tiny.toml"
    recipe_file.write_text('name = "tiny"\nbase = "table"\n[options]\nfile = "meta.csv"\n'
                           'path = "{file}"\nutt_id = "{uid}"\n[options.map]\n'
                           'label_raw = "label"\n')
    db = tmp_path / "c.duckdb"
    recipe = load_recipe(str(recipe_file))
    with open_catalog(db) as catalog:
        insert_corpus(catalog, read_corpus(recipe, root), recipe, root)
        probe_corpus(catalog, "tiny")
        freeze(catalog, parse_selection({"name": "sel", "seed": 0}))
    chain = tmp_path / "chain.toml"
    chain.write_text(CHAIN)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("augment", chain, out, "--selection", "sel", "--db", db)
    assert code == 0, stderr
    records = _log(out)
    assert sorted(r["utt_id"] for r in records) == ["tiny:u1", "tiny:u2", "tiny:u3"]
    assert sorted(r["out"] for r in records) == ["tiny/wavs/x1.wav", "tiny/wavs/x2.wav",
                                                 "tiny/wavs/x3.wav"]
    assert all((out / r["out"]).is_file() for r in records)


def test_user_errors_are_one_line(folder, tmp_path, run_cli):
    chain, root = folder
    bad = tmp_path / "bad.toml"
    bad.write_text('[[step]]\nname = "gain"\nmax_gain = 3\n')
    code, _, stderr = run_cli("augment", bad, root, tmp_path / "o1")
    assert code == 2 and "step 1 (gain): unknown parameter 'max_gain'" in stderr
    assert "Traceback" not in stderr
    code, _, stderr = run_cli("augment", chain, tmp_path / "missing", tmp_path / "o2")
    assert code == 2 and "does not exist" in stderr
    code, _, stderr = run_cli("augment", chain, tmp_path / "o3")
    assert code == 2 and "--selection" in stderr
    code, _, stderr = run_cli("augment", chain, root, root / "inside")
    assert code == 2 and "inside the input folder" in stderr
