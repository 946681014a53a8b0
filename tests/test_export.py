"""Exports: every format written, then read back with the library that consumes it."""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
import os
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from conftest import prepare_catalog, write_tone
from curate.errors import CurateError
from curate.export import FORMATS, export_selection
from curate.export.kaldi import kaldi_ids
from curate.select.freeze import freeze
from curate.select.spec import parse_selection

# file, utt_id (dots on purpose), speaker, label, generator, language, subset, text
ROWS = [
    ("a1.wav", "spk-1.utt.1", "spk-1", "bona-fide", "", "eng", "train", "hello there"),
    ("a2.wav", "spk-1.utt.2", "spk-1", "spoof", "g0", "eng", "train", "good day"),
    ("b1.flac", "spk2.utt.1", "spk2", "bona-fide", "", "deu", "train", "guten tag"),
    ("b2.wav", "spk2.utt.2", "spk2", "spoof", "g1", "deu", "test", "na so was"),
    ("c1.wav", "nospk.1", "", "bona-fide", "", "eng", "test", "one more"),
    ("c2.wav", "spk3 x.1", "spk 3", "spoof", "g 1", "eng", "test", "last one"),
]
RATES = {"a2.wav": 22050}
STEREO = {"b2.wav"}


def _write_corpus(root: Path) -> None:
    for i, (name, *_rest) in enumerate(ROWS):
        path = root / name
        rate = RATES.get(name, 16000)
        write_tone(path, seconds=0.4 + 0.05 * i, sample_rate=rate, freq=200 + 50 * i, seed=i)
        if name in STEREO:
            x, sr = sf.read(path)
            sf.write(path, np.stack([x, 0.5 * x], axis=1), sr)
    lines = ["file,uid,speaker,label,gen,lang,part,text"]
    lines += [",".join(row) for row in ROWS]
    (root / "meta.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """A probed catalog with a frozen selection ``sel`` (train/test by corpus subset)."""
    tmp = tmp_path_factory.mktemp("export")
    root = tmp / "corpus"
    _write_corpus(root)
    cat = prepare_catalog(
        tmp / "c.duckdb", tmp / "tiny.toml", root,
        'name = "tiny"\nbase = "table"\n[options]\nfile = "meta.csv"\npath = "{file}"\n'
        'utt_id = "{uid}"\n[options.map]\nspeaker = "speaker"\nlabel_raw = "label"\n'
        'generator = "gen"\nlanguage = "lang"\nsubset = "part"\ntranscript = "text"\n')
    freeze(cat, parse_selection({
        "name": "sel", "seed": 0,
        "split": {"by": "subset", "subsets": {"train": "train", "test": "test"}}}))
    yield cat
    cat.close()


def _expected(catalog, split=None):
    query = ("SELECT i.utt_id, i.split, u.* EXCLUDE (utt_id) FROM selection_items i "
             "JOIN utterances u USING (utt_id) WHERE i.selection = 'sel' ORDER BY i.utt_id")
    frame = catalog.df(query)
    frame = frame.astype(object).where(frame.notna(), None)
    return frame if split is None else frame[frame.split == split]


def test_catalog_fixture_has_both_splits(catalog):
    frame = _expected(catalog)
    assert (frame.status == "ok").all() and len(frame) == len(ROWS)
    assert set(frame.split) == {"train", "test"}
    assert set(frame.channels) == {1, 2} and set(frame.sample_rate) == {16000, 22050}


def test_lhotse_loads_and_validates(catalog, tmp_path):
    from lhotse import CutSet, load_manifest
    from lhotse.qa import validate_recordings_and_supervisions

    out = tmp_path / "lhotse"
    summary = export_selection(catalog, "sel", "lhotse", out)
    assert summary.counts == {"test": 3, "train": 3} and summary.skipped == {}
    for split in ("train", "test"):
        recs = load_manifest(out / f"sel_recordings_{split}.jsonl.gz")
        sups = load_manifest(out / f"sel_supervisions_{split}.jsonl.gz")
        validate_recordings_and_supervisions(recs, sups, read_data=True)
        expected = _expected(catalog, split).set_index("utt_id")
        assert sorted(recs.ids) == sorted(expected.index)
        for sup in sups:
            row = expected.loc[sup.id]
            assert sup.custom["label"] == row.label and sup.language == row.language
            assert sup.custom.get("generator") == (row.generator or None)
            assert sup.custom["corpus"] == "tiny" and sup.custom["split"] == split
        cuts = CutSet.from_manifests(recordings=recs, supervisions=sups)
        assert len(cuts) == len(expected)
        stereo = [r for r in recs if r.num_channels == 2]
        assert len(stereo) == (1 if split == "test" else 0)
    readme = (out / "README.md").read_text()
    spec_hash = catalog.execute("SELECT spec_hash FROM selections WHERE name = 'sel'").fetchone()[0]
    assert spec_hash in readme and "curate export sel --format lhotse" in readme
    assert "| train | 3 |" in readme


def test_nemo_manifest_keys(catalog, tmp_path):
    out = tmp_path / "nemo"
    export_selection(catalog, "sel", "nemo", out)
    lines = [json.loads(x) for x in (out / "train_manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 3
    for item in lines:
        assert list(item)[:5] == ["audio_filepath", "duration", "text", "lang", "label"]
        assert os.path.isabs(item["audio_filepath"]) and os.path.exists(item["audio_filepath"])
        assert item["label"] in ("bonafide", "spoof") and item["text"]
        assert item["utt_id"].startswith("tiny:") and item["corpus"] == "tiny"
        assert abs(sf.info(item["audio_filepath"]).duration - item["duration"]) < 1e-3


def test_hf_parquet_loads_with_datasets_and_decodes(catalog, tmp_path):
    import datasets

    out = tmp_path / "hf"
    export_selection(catalog, "sel", "hf", out, copy_audio=True, shard_size=2)
    assert sorted(os.listdir(out / "data")) == [
        "test-00000-of-00002.parquet", "test-00001-of-00002.parquet",
        "train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert set(ds) == {"train", "test"} and ds["train"].num_rows == 3
    feats = ds["train"].features
    assert isinstance(feats["audio"], datasets.Audio)
    assert feats["label"].names == ["spoof", "bonafide"]
    expected = _expected(catalog, "train").set_index("utt_id")
    first = ds["train"].cast_column("audio", datasets.Audio(decode=False))[0]
    row = expected.loc[first["utt_id"]]
    assert feats["label"].int2str(first["label"]) == row.label
    # Decode one item: with datasets' own decoder when its backend is installed.
    if datasets.config.TORCHCODEC_AVAILABLE:
        audio = ds["train"][0]["audio"]
        samples = audio.get_all_samples()
        assert samples.sample_rate == row.sample_rate
        assert samples.data.shape[-1] == row.num_samples
    else:
        x, rate = sf.read(io.BytesIO(first["audio"]["bytes"]))
        assert rate == row.sample_rate and len(x) == row.num_samples
    # Path-only variant: the audio column holds the file's path.
    out2 = tmp_path / "hf_paths"
    export_selection(catalog, "sel", "hf", out2)
    table = pq.read_table(out2 / "data" / "test-00000-of-00001.parquet")
    audio = table.column("audio").to_pylist()
    assert all(a["bytes"] is None and os.path.isfile(a["path"]) for a in audio)


def test_webdataset_reads_shards(catalog, tmp_path):
    import webdataset as wds

    out = tmp_path / "wds"
    summary = export_selection(catalog, "sel", "webdataset", out, shard_size=2)
    shards = sorted(glob.glob(str(out / "train" / "train-*.tar")))
    assert [Path(s).name for s in shards] == ["train-000000.tar", "train-000001.tar"]
    samples = list(wds.WebDataset(shards, shardshuffle=False, empty_check=False))
    assert len(samples) == summary.counts["train"] == 3
    expected = _expected(catalog, "train").set_index("utt_id")
    for sample in samples:
        assert "." not in sample["__key__"]
        meta = json.loads(sample["json"])
        assert unquote(sample["__key__"]) == meta["utt_id"] and meta["key"] == sample["__key__"]
        ext = meta["audio"].split(".", 1)[1]
        x, rate = sf.read(io.BytesIO(sample[ext]))
        assert rate == expected.loc[meta["utt_id"]].sample_rate
        assert meta["label"] == expected.loc[meta["utt_id"]].label
    # Same selection, same bytes: shards are reproducible.
    again = export_selection(catalog, "sel", "webdataset", tmp_path / "wds2", shard_size=2)
    assert again.files == summary.files
    for name in summary.files:
        if name.endswith(".tar"):
            assert (out / name).read_bytes() == (tmp_path / "wds2" / name).read_bytes()


def _kaldi_lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()]


def _check_kaldi_dir(data: Path) -> None:
    """The checks of Kaldi's utils/validate_data_dir.sh (without features)."""
    utt2spk = _kaldi_lines(data / "utt2spk")
    utts = [u for u, _ in utt2spk]
    assert all(len(x) == 2 for x in utt2spk)
    assert utts == sorted(set(utts)), "utt2spk is not sorted and unique"
    # "utt2spk is not in sorted order when sorted first on speaker-id"
    assert sorted(utt2spk, key=lambda x: (x[1], x[0])) == utt2spk
    spk2utt = defaultdict(list)
    for utt, spk in utt2spk:
        spk2utt[spk].append(utt)
    assert _kaldi_lines(data / "spk2utt") == [[s, *u] for s, u in sorted(spk2utt.items())]
    for name in ("wav.scp", "utt2lang", "utt2label", "utt2dur", "utt2id", "text"):
        lines = (data / name).read_text().splitlines()
        keys = [line.split(" ", 1)[0] for line in lines]
        assert keys == utts, f"{name}: not the utterances of utt2spk, in order"
        assert all(len(line.split(" ", 1)) == 2 and line.split(" ", 1)[1] for line in lines)
    for line in (data / "utt2dur").read_text().splitlines():
        assert float(line.split()[1]) > 0
    labels = {x[1] for x in _kaldi_lines(data / "utt2label")}
    assert labels <= {"bonafide", "spoof"}


def test_kaldi_dirs_are_consistent(catalog, tmp_path):
    out = tmp_path / "kaldi"
    export_selection(catalog, "sel", "kaldi", out)
    for split in ("train", "test"):
        _check_kaldi_dir(out / split)
    scp = dict(line.split(" ", 1) for line in (out / "train" / "wav.scp").read_text().splitlines())
    assert any(v.startswith("ffmpeg ") and v.endswith(" |") for v in scp.values())  # the flac
    ids = dict(line.split(" ", 1) for line in (out / "test" / "utt2id").read_text().splitlines())
    assert "tiny:spk3 x.1" in ids.values()  # the rest of the line: spaces kept
    spk = dict(_kaldi_lines(out / "test" / "utt2spk"))
    no_speaker = [k for k, v in ids.items() if v == "tiny:nospk.1"]
    assert no_speaker and spk[no_speaker[0]] == no_speaker[0]  # its own speaker


def test_kaldi_ids_sort_consistently_and_stay_unique():
    rows = [{"utt_id": f"c:{u}", "corpus": "c", "speaker": s} for u, s in [
        ("x", "a"), ("y", "a-b"), ("z", "ab"), ("w", None), ("v", "a b"), ("q:1", "a_b"),
        ("q-1", "a_b"), ("r", "A")]]
    utts, spks = kaldi_ids(rows)
    assert len(set(utts)) == len(utts)
    speakers = {r["speaker"] or r["utt_id"] for r in rows}  # 7: "a_b" has two utterances
    assert len(set(spks)) == len(speakers) == 7
    pairs = sorted(zip(utts, spks))
    assert sorted(pairs, key=lambda p: (p[1], p[0])) == pairs
    assert all(not any(ch.isspace() for ch in u) for u in utts + spks)


def test_asvspoof_and_antideepfake(catalog, tmp_path):
    out = tmp_path / "asv"
    export_selection(catalog, "sel", "asvspoof", out)
    expected = _expected(catalog).set_index("utt_id")
    for split in ("train", "test"):
        lines = (out / f"protocol_{split}.txt").read_text().splitlines()
        fields = [line.split(" ") for line in lines]
        assert all(len(f) == 5 and f[2] == "-" and f[4] in ("bonafide", "spoof") for f in fields)
        assert all((f[3] == "-") == (f[4] == "bonafide") for f in fields)
        assert len(fields) == len(_expected(catalog, split))
        listing = (out / f"paths_{split}.txt").read_text().splitlines()
        paths = dict(line.split(" ", 1) for line in listing)
        assert set(paths) == {f[1] for f in fields}
        assert all(os.path.isfile(p) for p in paths.values())
        for f in fields:
            row = expected.loc[f[1].replace("_", " ") if f[1] == "tiny:spk3_x.1" else f[1]]
            assert f[4] == row.label and f[0] == (row.speaker or "-").replace(" ", "_")
    lines = (out / "protocol_test.txt").read_text().splitlines()
    test = {f[1]: f for f in (line.split(" ") for line in lines)}
    assert test["tiny:spk3_x.1"] == ["spk_3", "tiny:spk3_x.1", "-", "tiny:g_1", "spoof"]

    out = tmp_path / "adf"
    export_selection(catalog, "sel", "antideepfake", out, path_root=tmp_path.parent)
    with open(out / "train.csv", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        body = list(reader)
    assert ",".join(header) == ("ID,Label,Duration,SampleRate,Path,Attack,Speaker,Proportion,"
                                "AudioChannel,AudioEncoding,AudioBitSample,Language")
    assert len(body) == 3 and all(len(r) == 12 for r in body)
    by_id = {r[0]: dict(zip(header, r)) for r in body}
    bona = by_id["tiny:spk-1.utt.1"]
    assert bona["Label"] == "real" and bona["Attack"] == "-" and bona["Language"] == "EN"
    assert bona["Path"].startswith("$ROOT/") and bona["Proportion"] == "train"
    real = bona["Path"].replace("$ROOT", str(tmp_path.parent.resolve()))
    assert os.path.isfile(real)
    spoof = by_id["tiny:spk-1.utt.2"]
    assert spoof["Label"] == "fake" and spoof["Attack"] == "tiny:g0"
    assert spoof["SampleRate"] == "22050" and spoof["AudioEncoding"] == "WAV"
    assert by_id["tiny:spk2.utt.1"]["Language"] == "DE"


def test_parquet_partitioned_by_split(catalog, tmp_path):
    out = tmp_path / "pq"
    export_selection(catalog, "sel", "parquet", out, splits=["test"])
    assert sorted(os.listdir(out)) == ["README.md", "data"]
    assert os.listdir(out / "data") == ["split=test"]
    table = pads.dataset(out / "data", format="parquet", partitioning="hive").to_table()
    rows = table.to_pylist()
    expected = _expected(catalog, "test").set_index("utt_id")
    assert sorted(r["utt_id"] for r in rows) == sorted(expected.index)
    assert {r["split"] for r in rows} == {"test"}
    for r in rows:
        assert r["num_samples"] == expected.loc[r["utt_id"]].num_samples
        assert r["content_hash"] == expected.loc[r["utt_id"]].content_hash


def test_copy_audio_resamples_to_8k(catalog, tmp_path):
    out = tmp_path / "resampled"
    summary = export_selection(catalog, "sel", "nemo", out, sample_rate=8000,
                               path_root=tmp_path)
    assert summary.audio_files == len(ROWS)
    expected = _expected(catalog).set_index("utt_id")
    for split in ("train", "test"):
        for line in (out / f"{split}_manifest.jsonl").read_text().splitlines():
            item = json.loads(line)
            path = item["audio_filepath"]
            assert not os.path.isabs(path) and path.startswith("resampled/audio/")
            info = sf.info(tmp_path / path)
            assert info.samplerate == 8000 and info.subtype == "PCM_16"
            assert info.channels == expected.loc[item["utt_id"]].channels
            original = expected.loc[item["utt_id"]].duration_s
            assert abs(info.duration - original) < 1 / 8000 + 1e-9
            assert abs(item["duration"] - info.duration) < 1e-9
    readme = (out / "README.md").read_text()
    assert "--sample-rate 8000" in readme and "8000 Hz" in readme


def test_path_root_relative_paths_and_outside_root(catalog, tmp_path):
    corpus_parent = Path(catalog.execute("SELECT root FROM corpora").fetchone()[0]).parent
    out = tmp_path / "rel"
    export_selection(catalog, "sel", "lhotse", out, path_root=corpus_parent)
    with gzip.open(out / "sel_recordings_train.jsonl.gz", "rt") as handle:
        sources = [json.loads(line)["sources"][0]["source"] for line in handle]
    assert all(s.startswith("corpus/") for s in sources)
    assert all((corpus_parent / s).is_file() for s in sources)
    with pytest.raises(CurateError, match="not under it"):
        export_selection(catalog, "sel", "lhotse", tmp_path / "bad", path_root=tmp_path)
    assert not (tmp_path / "bad").exists() and not (tmp_path / ".bad.partial").exists()


def test_errors_unknown_format_existing_out_unknown_split(catalog, tmp_path):
    with pytest.raises(CurateError, match="unknown export format 'csv'.*lhotse"):
        export_selection(catalog, "sel", "csv", tmp_path / "x")
    with pytest.raises(CurateError, match="no selection named 'nope'"):
        export_selection(catalog, "nope", "nemo", tmp_path / "x")
    with pytest.raises(CurateError, match="no split 'dev'"):
        export_selection(catalog, "sel", "nemo", tmp_path / "x", splits=["dev"])
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    with pytest.raises(CurateError, match="not empty"):
        export_selection(catalog, "sel", "nemo", busy)
    with pytest.raises(CurateError, match="holds no curate export"):
        export_selection(catalog, "sel", "nemo", busy, overwrite=True)
    assert (busy / "mine.txt").read_text() == "keep me"
    done = tmp_path / "done"
    export_selection(catalog, "sel", "nemo", done)
    export_selection(catalog, "sel", "asvspoof", done, overwrite=True)
    assert not (done / "train_manifest.jsonl").exists() and (done / "protocol_train.txt").exists()


def test_cli_export(catalog, tmp_path, run_cli):
    import shutil

    catalog.execute("CHECKPOINT")
    db = tmp_path / "copy.duckdb"  # the fixture holds its catalog open for writing
    shutil.copyfile(catalog.path, db)
    out = tmp_path / "cli"
    code, stdout, stderr = run_cli("export", "sel", "--format", "kaldi", "--out", out,
                                   "--db", db, "--split", "test")
    assert code == 0, stderr
    assert sorted(os.listdir(out)) == ["README.md", "test"]
    assert "test" in stdout and str(out) in stdout
    code, _, stderr = run_cli("export", "sel", "-f", "kaldi", "--out", out, "--db", db)
    assert code == 2 and "--overwrite" in stderr
    code, _, stderr = run_cli("export", "sel", "--format", "nope", "--out", tmp_path / "y",
                              "--db", db)
    assert code == 2 and "unknown export format" in stderr


def test_every_format_is_registered():
    assert list(FORMATS) == ["lhotse", "nemo", "hf", "webdataset", "kaldi", "asvspoof",
                             "antideepfake", "parquet"]
