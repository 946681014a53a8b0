"""`curate shard`: WebDataset-layout shards of a frozen selection, an index and a
manifest that account for every item, resumable without rewriting finished shards."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import make_tone_selection
from curate.catalog.db import CatalogRef, open_catalog
from curate.errors import CurateError
from curate.export.webdataset import sample_key
from curate.shard import ShardSize, load_folder, parse_shard_size, plan_shards, shard_selection

JSON_KEYS = {"utt_id", "label", "corpus", "language", "generator", "speaker", "duration",
             "split", "weight", "sample_rate", "channels", "num_samples", "key", "audio"}


@pytest.fixture
def tones(tmp_path):
    """A probed tone catalog (6 speakers x 4 files) with a frozen selection 'sel'."""
    return tmp_path, make_tone_selection(tmp_path)


def _selected(db: Path) -> dict[str, list[str]]:
    with open_catalog(db, read_only=True) as catalog:
        rows = catalog.execute("SELECT split, utt_id FROM selection_items WHERE selection = "
                               "'sel' ORDER BY utt_id").fetchall()
    out: dict[str, list[str]] = {}
    for split, utt in rows:
        out.setdefault(split, []).append(utt)
    return out


def _read_all(folder: Path) -> dict[str, list[dict]]:
    """Every sample of every shard, read with webdataset, by split."""
    import webdataset as wds

    out: dict[str, list[dict]] = {}
    for tar in sorted(folder.rglob("*.tar")):
        for sample in wds.WebDataset(str(tar), shardshuffle=False):
            meta = json.loads(sample["json"])
            out.setdefault(meta["split"], []).append(dict(sample, meta=meta))
    return out


def test_shards_hold_every_item_in_the_webdataset_layout(tones, run_cli):
    tmp_path, _ = tones
    db, out = tmp_path / "c.duckdb", tmp_path / "shards"
    code, stdout, err = run_cli("shard", "sel", "--out", out, "--shard-size", "3", "--db", db)
    assert code == 0, err
    selected = _selected(db)
    manifest = json.loads((out / "manifest.json").read_text())
    index = json.loads((out / "index.json").read_text())
    assert manifest["selection"] == "sel" and manifest["complete"]
    with open_catalog(db, read_only=True) as catalog:
        spec_hash = catalog.execute("SELECT spec_hash FROM selections WHERE name = 'sel'"
                                    ).fetchone()[0]
    assert manifest["spec_hash"] == spec_hash == index["spec_hash"]
    samples = _read_all(out)
    for split, ids in selected.items():
        entries = [e for e in index["shards"] if e["split"] == split]
        # the index total equals the selection's count; shards of 3 items
        assert sum(e["items"] for e in entries) == len(ids) == manifest["splits"][split][
            "written"] == manifest["splits"][split]["selected"]
        assert [e["items"] for e in entries][:-1] == [3] * (len(entries) - 1)
        assert manifest["splits"][split]["shards"] == len(entries) == len(
            list((out / split).glob(f"{split}-*.tar")))
        assert sorted(s["meta"]["utt_id"] for s in samples[split]) == ids
        assert sum(e["seconds"] for e in entries) == pytest.approx(0.5 * len(ids))
        labels = {k: v for e in entries for k, v in e["groups"]["label"].items()}
        assert set(labels) == {"bonafide", "spoof"}
    with open_catalog(db, read_only=True) as catalog:
        facts = {r[0]: r[1:] for r in catalog.execute(
            "SELECT u.utt_id, u.label, u.speaker, u.generator, u.corpus, u.language, "
            "c.root || '/' || u.path FROM utterances u JOIN corpora c ON c.name = u.corpus"
            ).fetchall()}
    sample = samples["train"][0]
    meta = sample["meta"]
    assert set(meta) == JSON_KEYS
    label, speaker, generator, corpus, language, path = facts[meta["utt_id"]]
    assert (meta["label"], meta["speaker"], meta["generator"], meta["corpus"],
            meta["language"]) == (label, speaker, generator, corpus, language)
    assert sample["__key__"] == meta["key"] == sample_key(meta["utt_id"])
    assert meta["audio"] == f"{meta['key']}.flac"
    audio, rate = sf.read(io.BytesIO(sample["flac"]), dtype="float32")
    original, original_rate = sf.read(path, dtype="float32")
    assert rate == original_rate == meta["sample_rate"] and meta["duration"] == 0.5
    np.testing.assert_array_equal(audio, original)  # 16-bit in, 16-bit FLAC: lossless
    assert "test 8 items in 3 shards" in " ".join(stdout.split())


def test_an_interrupted_run_resumes_without_rewriting_finished_shards(tones):
    tmp_path, _ = tones
    source, out, fresh = CatalogRef(tmp_path / "c.duckdb"), tmp_path / "s", tmp_path / "f"

    def stop_after_two_shards(done: int, total: int) -> None:
        if done >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        shard_selection(source, "sel", out, shard_size="3", progress=stop_after_two_shards)
    assert not (out / "manifest.json").exists()
    index = json.loads((out / "index.json").read_text())  # the plan; shards in the journal
    journal = (out / ".index.jsonl").read_text().splitlines()
    finished = [json.loads(line)["name"] for line in journal]
    assert index["shards"] == [] and index["planned"]["train"]["shards"] == 6
    assert len(finished) == 2
    with open(out / ".index.jsonl", "a") as f:
        f.write('{"name": "test/te')  # a line cut short by the kill: ignored
    with pytest.raises(CurateError, match=r"incomplete \(2 of 9 written\); finish them"):
        load_folder(str(out))
    before = {n: (out / n).stat() for n in finished}
    stale = out / "test" / "test-000002.tar.tmp"  # a killed job's half-written shard
    stale.write_bytes(b"half a shard")

    summary = shard_selection(source, "sel", out, shard_size="3")
    assert (summary.reused, summary.written, summary.shards) == (2, 7, 9)
    assert not stale.exists() and not (out / ".index.jsonl").exists()
    assert len(json.loads((out / "index.json").read_text())["shards"]) == 9
    for name, stat in before.items():  # finished shards are not rewritten
        after = (out / name).stat()
        assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    shard_selection(source, "sel", fresh, shard_size="3", jobs=2)  # in parallel
    tars = sorted(p.relative_to(fresh) for p in fresh.rglob("*.tar"))
    assert tars == sorted(p.relative_to(out) for p in out.rglob("*.tar"))
    for tar in tars:  # the same plan gives byte-identical shards
        assert (out / tar).read_bytes() == (fresh / tar).read_bytes()
    again = shard_selection(source, "sel", out, shard_size="3")  # complete: nothing to do
    assert (again.reused, again.written) == (9, 0)


def test_unreadable_and_unavailable_items_are_accounted_for(tones, run_cli):
    tmp_path, frozen = tones
    db = tmp_path / "c.duckdb"
    selected = _selected(db)
    broken, gone = selected["train"][0], selected["train"][1]
    (tmp_path / "tones" / f"{broken.split(':')[1]}.wav").write_bytes(b"not audio any more")
    with open_catalog(db) as catalog:
        catalog.execute("UPDATE utterances SET status = 'missing' WHERE utt_id = ?", [gone])
    code, out, err = run_cli("shard", "sel", "--out", tmp_path / "s", "--db", db)
    text = " ".join(err.split())
    assert code == 2 and "Traceback" not in err
    assert "1 item that is no longer ok (1 missing)" in text and "--skip-unavailable" in text
    assert not (tmp_path / "s").exists()

    code, out, err = run_cli("shard", "sel", "--out", tmp_path / "s", "--db", db,
                             "--shard-size", "5", "--skip-unavailable")
    assert code == 0, err
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    train = manifest["splits"]["train"]
    assert (train["selected"], train["unavailable"], train["unreadable"]) == (16, 1, 1)
    assert train["written"] + train["unreadable"] + train["unavailable"] == train["selected"]
    assert manifest["unavailable"] == {"missing": 1}
    (item,) = manifest["unreadable"]
    assert item["utt_id"] == broken and item["split"] == "train" and item["reason"]
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    entry = next(e for e in index["shards"] if e["name"] == item["shard"])
    assert entry["unreadable"][0]["utt_id"] == broken and entry["planned"] == entry["items"] + 1
    written = {s["meta"]["utt_id"] for s in _read_all(tmp_path / "s")["train"]}
    assert written == set(selected["train"]) - {broken, gone}
    assert f"unreadable: {broken}" in out


def test_a_folder_of_other_shards_or_other_files_is_refused(tones):
    tmp_path, _ = tones
    source = CatalogRef(tmp_path / "c.duckdb")
    shard_selection(source, "sel", tmp_path / "s", shard_size="3", splits=["test"])
    with pytest.raises(CurateError, match=r"planned otherwise \(differs in options, "
                                          r"plan_hash\); finish them"):
        shard_selection(source, "sel", tmp_path / "s", shard_size="4", splits=["test"])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(CurateError, match="is not empty and holds no curate shards"):
        shard_selection(source, "sel", tmp_path / "other")
    with pytest.raises(CurateError, match=r"has no split 'tran'; its splits are \(closest "
                                          r"first\) train, test"):
        shard_selection(source, "sel", tmp_path / "x", splits=["tran"])
    with pytest.raises(CurateError, match="--format 'mp3' is not a shard audio format"):
        shard_selection(source, "sel", tmp_path / "x", fmt="mp3")


def test_wav_at_another_rate(tones):
    tmp_path, _ = tones
    summary = shard_selection(CatalogRef(tmp_path / "c.duckdb"), "sel", tmp_path / "s",
                              splits=["test"], fmt="wav", sample_rate=8000, shard_size="1MB")
    assert summary.shards == 1  # 8 items of 0.5 s fit in one shard of 1 MB
    (sample, *_), = _read_all(tmp_path / "s").values()
    audio, rate = sf.read(io.BytesIO(sample["wav"]))
    assert rate == sample["meta"]["sample_rate"] == 8000 and audio.shape == (4000,)


@pytest.mark.parametrize("text, expected", [
    ("1000", ShardSize(items=1000)), ("7 items", ShardSize(items=7)),
    ("1GB", ShardSize(bytes=10**9)), ("500MB", ShardSize(bytes=500 * 10**6)),
    ("2GiB", ShardSize(bytes=2 * 2**30)), ("1.5kb", ShardSize(bytes=1500))])
def test_shard_sizes(text, expected):
    assert parse_shard_size(text) == expected


@pytest.mark.parametrize("text", ["0", "big", "1 GBs", "10B", "-3"])
def test_bad_shard_sizes_say_how(text):
    with pytest.raises(CurateError, match="--shard-size"):
        parse_shard_size(text)


def test_byte_sized_shards_follow_the_estimate():
    rows = [{"utt_id": f"c:{i:03d}", "split": "train", "duration_s": 1.0,
             "sample_rate": 16000, "channels": 1} for i in range(50)]
    shards = plan_shards(rows, ShardSize(bytes=100_000), fmt="wav")
    # 32 kB + overhead per second of 16 kHz 16-bit WAV: 2 items per 100 kB shard
    assert [len(s.rows) for s in shards] == [2] * 25
    assert shards[0].name == "train/train-000000.tar"
    shuffled = [r["utt_id"] for s in shards for r in s.rows]
    assert sorted(shuffled) == [r["utt_id"] for r in rows] and shuffled != sorted(shuffled)
    assert [r["utt_id"] for s in plan_shards(list(reversed(rows)), ShardSize(bytes=100_000),
                                             fmt="wav") for r in s.rows] == shuffled
    flac = plan_shards(rows, ShardSize(bytes=100_000), fmt="flac")
    assert [len(s.rows) for s in flac][:-1] == [4] * (len(flac) - 1)  # 0.6 of PCM
