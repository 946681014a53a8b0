"""espeak-ng synthesis and the two demo corpora written by build_demo_corpus."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from curate.demo.artifacts import GENERATORS
from curate.demo.corpus import ATTACK_IDS, DemoCorpus, build_demo_corpus
from curate.demo.espeak import synthesize
from curate.demo.sentences import LANGUAGES

PROTOCOLS = {
    "train": "ASVspoof2019.LA.cm.train.trn.txt",
    "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
    "eval": "ASVspoof2019.LA.cm.eval.trl.txt",
}
META_COLUMNS = ["file", "speaker", "language", "label", "generator", "source", "transcript"]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(one_torch_thread_module):
    """Short clips: one intra-op thread is faster, and immune to a busy machine."""


# --------------------------------------------------------------------------- espeak


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_espeak_speaks_every_language(code):
    lang = LANGUAGES[code]
    x = synthesize(lang.sentences[0], lang.voice, sample_rate=16000)
    assert x.dtype == np.float32 and x.ndim == 1
    assert 0.8 < x.size / 16000 < 5.0
    assert np.all(np.abs(x) <= 1.0)
    assert np.sqrt(np.mean(x**2)) > 0.01


def test_sentences_table_is_complete():
    assert len(LANGUAGES) >= 8
    for code, lang in LANGUAGES.items():
        assert lang.iso639_1 == code and len(lang.iso639_3) == 3
        assert len(lang.sentences) >= 6
        for s in lang.sentences:
            assert 4 <= len(s.split()) <= 10, s


def test_espeak_rate_and_sample_rate():
    slow = synthesize("The kettle clicked off just before seven.", "en", rate_wpm=120)
    fast = synthesize("The kettle clicked off just before seven.", "en", rate_wpm=240)
    assert slow.size > 1.4 * fast.size
    at8k = synthesize("The kettle clicked off just before seven.", "en", sample_rate=8000)
    at16k = synthesize("The kettle clicked off just before seven.", "en", sample_rate=16000)
    assert abs(2 * at8k.size - at16k.size) <= 4


def test_espeak_rejects_unknown_voice_and_bad_args():
    with pytest.raises(ValueError, match="voice"):
        synthesize("hello there", "xx-not-a-voice")
    with pytest.raises(ValueError, match="text"):
        synthesize("  ", "en")
    with pytest.raises(ValueError, match="rate_wpm"):
        synthesize("hello there", "en", rate_wpm=5)


def test_espeak_works_in_a_fresh_subprocess():
    code = (
        "from curate.demo.espeak import synthesize;"
        "x = synthesize('Turn left after the old stone bridge.', 'en+f2');"
        "print(x.size)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 16000


# --------------------------------------------------------------------------- corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> DemoCorpus:
    calls = []
    c = build_demo_corpus(
        tmp_path_factory.mktemp("demo_a"), quick=True, seed=0,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls and calls[-1][0] == calls[-1][1] == c.n_files
    return c


@pytest.fixture(scope="module")
def corpus_again(tmp_path_factory) -> DemoCorpus:
    return build_demo_corpus(tmp_path_factory.mktemp("demo_b"), quick=True, seed=0)


def _read_protocol(path: Path) -> list[list[str]]:
    return [line.split(" ") for line in path.read_text(encoding="utf-8").splitlines()]


def _read_meta(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_la_protocols_and_files(corpus):
    assert corpus.attack_ids == {"A01": "griffinlim", "A02": "lpc", "A03": "codec", "A04": "pitchshift"}
    proto_dir = corpus.la_root / "ASVspoof2019_LA_cm_protocols"
    speakers_by_subset = {}
    letters = {"train": "T", "dev": "D", "eval": "E"}
    for subset, name in PROTOCOLS.items():
        rows = _read_protocol(proto_dir / name)
        assert rows
        bona_by_spk = defaultdict(int)
        attacks = set()
        for row in rows:
            assert len(row) == 5, row
            spk, utt, dash, attack, key = row
            assert spk.startswith("LA_") and len(spk) == 7
            assert utt.startswith(f"LA_{letters[subset]}_") and len(utt) == 12
            assert dash == "-"
            if key == "bonafide":
                assert attack == "-"
                bona_by_spk[spk] += 1
            else:
                assert key == "spoof" and attack in ATTACK_IDS
                attacks.add(attack)
            flac = corpus.la_root / f"ASVspoof2019_LA_{subset}" / "flac" / f"{utt}.flac"
            assert flac.is_file(), flac
        assert attacks == set(ATTACK_IDS)
        spks = {r[0] for r in rows}
        assert spks == set(bona_by_spk)  # every spoofed speaker has genuine speech
        speakers_by_subset[subset] = spks
    s = speakers_by_subset
    assert not (s["train"] & s["dev"]) and not (s["train"] & s["eval"]) and not (s["dev"] & s["eval"])


def test_la_audio_format(corpus):
    flacs = sorted((corpus.la_root / "ASVspoof2019_LA_train" / "flac").glob("*.flac"))[:5]
    for f in flacs:
        info = sf.info(f)
        assert info.samplerate == 16000 and info.channels == 1
        assert info.subtype == "PCM_16" and 1.0 < info.duration < 4.0


def test_multi_meta(corpus):
    meta_path = corpus.multi_root / "meta.csv"
    with open(meta_path, newline="", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == META_COLUMNS
    rows = _read_meta(meta_path)
    files = {r["file"] for r in rows}
    labels = defaultdict(set)
    speakers = defaultdict(set)
    generators = set()
    for r in rows:
        path = corpus.multi_root / r["file"]
        assert path.is_file(), path
        assert r["language"] in LANGUAGES
        assert r["transcript"]
        labels[r["language"]].add(r["label"])
        speakers[r["language"]].add(r["speaker"])
        if r["label"] == "bona-fide":
            assert r["generator"] == "" and r["source"] == ""
        else:
            assert r["label"] == "spoof"
            assert r["generator"] in GENERATORS
            assert r["source"] in files and r["source"] != r["file"]
            generators.add(r["generator"])
    assert len(labels) >= 8
    assert all(v == {"bona-fide", "spoof"} for v in labels.values())
    assert all(len(v) >= 2 for v in speakers.values())
    assert generators == set(GENERATORS)
    info = sf.info(corpus.multi_root / rows[0]["file"])
    assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.format == "WAV"


def test_multi_spoof_source_is_same_speaker_and_text(corpus):
    rows = {r["file"]: r for r in _read_meta(corpus.multi_root / "meta.csv")}
    for r in rows.values():
        if r["label"] == "spoof":
            src = rows[r["source"]]
            assert src["label"] == "bona-fide"
            assert src["speaker"] == r["speaker"] and src["transcript"] == r["transcript"]


def test_corpus_sizes(corpus):
    n_audio = sum(1 for _ in corpus.root.rglob("*.flac")) + sum(1 for _ in corpus.root.rglob("*.wav"))
    assert n_audio == corpus.n_files
    rows = _read_meta(corpus.multi_root / "meta.csv")
    la_rows = [
        row for name in PROTOCOLS.values()
        for row in _read_protocol(corpus.la_root / "ASVspoof2019_LA_cm_protocols" / name)
    ]
    assert len(rows) + len(la_rows) == corpus.n_files
    n_bona = sum(r["label"] == "bona-fide" for r in rows) + sum(r[4] == "bonafide" for r in la_rows)
    n_spoof = corpus.n_files - n_bona
    assert 100 <= n_bona <= 150 and 250 <= n_spoof <= 350


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_identical_output(corpus, corpus_again):
    for name in PROTOCOLS.values():
        a = (corpus.la_root / "ASVspoof2019_LA_cm_protocols" / name).read_bytes()
        b = (corpus_again.la_root / "ASVspoof2019_LA_cm_protocols" / name).read_bytes()
        assert a == b
    assert (corpus.multi_root / "meta.csv").read_bytes() == (
        corpus_again.multi_root / "meta.csv"
    ).read_bytes()
    assert _digest(corpus.root) == _digest(corpus_again.root)


def test_rebuild_refuses_foreign_folder(tmp_path):
    (tmp_path / "LA").mkdir()
    (tmp_path / "LA" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="out"):
        build_demo_corpus(tmp_path, quick=True)
    assert (tmp_path / "LA" / "notes.txt").read_text() == "mine"
