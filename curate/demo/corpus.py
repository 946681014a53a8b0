"""Build the synthetic demo corpora, fully offline.

Two corpora are written under one output folder, each in a real on-disk layout
so that the corpus recipes read them exactly as they would read the originals:

``out/LA/`` - ASVspoof 2019 LA style, English only::

    ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
    ASVspoof2019_LA_{train,dev,eval}/flac/LA_{T,D,E}_NNNNNNN.flac   (16 kHz, 16-bit)

  Protocol lines are ``SPEAKER UTT_ID - ATTACK KEY`` (``- bonafide`` or
  ``A01..A04 spoof``); speakers are disjoint across subsets and every spoof is
  made from a bona fide utterance of the same speaker and subset.

``out/multi/`` - a multilingual table corpus::

    meta.csv                                 file,speaker,language,label,generator,source,transcript
    wav/<lang>/<lang>_spk<k>_<nnnn>.wav      (16 kHz PCM16 WAV)

  ``label`` is ``bona-fide`` or ``spoof``; ``generator`` and ``source`` (the
  ``file`` of the genuine utterance a spoof was made from) are empty for
  bona fide rows.

Genuine speech is espeak-ng (:mod:`curate.demo.espeak`) with one voice variant,
rate and pitch per speaker; artifacts come from :data:`curate.demo.artifacts.GENERATORS`.
Every random draw comes from a generator seeded by
``SeedSequence(seed, spawn_key=<position of the item in the plan>)``, so the
output depends only on ``seed`` and ``quick``, never on processing order.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import soundfile as sf
import torch

from curate.demo.artifacts import GENERATORS
from curate.demo.espeak import synthesize
from curate.demo.sentences import LANGUAGES

__all__ = ["DemoCorpus", "build_demo_corpus", "ATTACK_IDS", "SAMPLE_RATE"]

SAMPLE_RATE = 16000
"""Rate of every file in both corpora, Hz."""

ATTACK_IDS: dict[str, str] = {
    "A01": "griffinlim",
    "A02": "lpc",
    "A03": "codec",
    "A04": "pitchshift",
}
"""ASVspoof-style attack id -> artifact generator name (LA corpus)."""

_MARKER = ".curate-demo"
_LA_SUBSETS = (("train", "T", "trn"), ("dev", "D", "trl"), ("eval", "E", "trl"))
_EN_ACCENTS = (
    "en", "en-US", "en-GB-x-rp", "en-GB-scotland", "en-029", "en-US-nyc",
    "en-GB-x-gbclan", "en-GB-x-gbcwmd",
)
_MALE = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
_FEMALE = ("f1", "f2", "f3", "f4", "f5")
# spawn-key namespaces
_K_LA, _K_MULTI = 0, 1
_K_SPEAKERS, _K_IDS, _K_BONA, _K_SPOOF = 0, 1, 2, 3


@dataclass(frozen=True)
class DemoCorpus:
    """Where :func:`build_demo_corpus` wrote what.

    Attributes:
        root: the output folder.
        la_root: the ASVspoof 2019 LA style corpus (``root / "LA"``).
        multi_root: the multilingual table corpus (``root / "multi"``).
        attack_ids: LA attack id -> generator name, e.g. ``{"A01": "griffinlim", ...}``.
        n_files: audio files written, both corpora together.
    """

    root: Path
    la_root: Path
    multi_root: Path
    attack_ids: dict[str, str] = field(default_factory=lambda: dict(ATTACK_IDS))
    n_files: int = 0


@dataclass(frozen=True)
class _Sizes:
    la_speakers: tuple[int, int, int]  # train, dev, eval
    la_bona: int  # bona fide utterances per LA speaker
    la_spoof: int  # spoofs per LA speaker and attack
    multi_speakers: int  # per language
    multi_bona: int  # per multilingual speaker
    multi_spoof: int  # per multilingual speaker and generator


_QUICK = _Sizes((4, 2, 2), 6, 3, 2, 4, 2)
_FULL = _Sizes((10, 5, 5), 8, 4, 4, 6, 3)


@dataclass(frozen=True)
class _Speaker:
    speaker: str
    voice: str
    rate_wpm: int
    pitch: int


def _rng(seed: int, *key: int) -> np.random.Generator:
    """Generator for one item of the plan, independent of all others."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(key)))


def _speakers(
    rng: np.random.Generator, n: int, accents: tuple[str, ...], names: list[str]
) -> list[_Speaker]:
    """``n`` distinct voices: accent x variant without repeats, alternating gender.

    Rates (145-185 wpm) and pitches are drawn from shuffled grids, so no two
    speakers share either.
    """
    males = [(a, v) for a in accents for v in _MALE]
    females = [(a, v) for a in accents for v in _FEMALE]
    males = [males[i] for i in rng.permutation(len(males))]
    females = [females[i] for i in rng.permutation(len(females))]
    rates = rng.permutation(np.arange(145, 186, 2))
    low = rng.permutation(np.arange(25, 56, 2))
    high = rng.permutation(np.arange(55, 86, 2))
    out = []
    for i in range(n):
        pool, pitches = (males, low) if i % 2 == 0 else (females, high)
        accent, variant = pool[i // 2]
        out.append(_Speaker(names[i], f"{accent}+{variant}", int(rates[i]), int(pitches[i // 2])))
    return out


def _genuine(spk: _Speaker, text: str, rng: np.random.Generator) -> np.ndarray:
    """One bona fide utterance: synthesis, random level, faint noise floor."""
    rate = int(np.clip(spk.rate_wpm + rng.integers(-8, 9), 80, 450))
    pitch = int(np.clip(spk.pitch + rng.integers(-4, 5), 0, 100))
    x = synthesize(
        text, spk.voice, rate_wpm=rate, pitch=pitch, sample_rate=SAMPLE_RATE,
        seed=int(rng.integers(2**31)),
    )
    x = x.astype(np.float64)
    peak = float(np.max(np.abs(x))) or 1.0
    x = x / peak * rng.uniform(0.35, 0.9)
    x = x + rng.standard_normal(x.size) * 10 ** (rng.uniform(-66.0, -54.0) / 20.0)
    return np.clip(x, -0.95, 0.95).astype(np.float32)


def _spoof_plan(n_bona: int, per_generator: int, generators: list[str]) -> list[tuple[str, int]]:
    """``(generator, source index)`` per spoof; sources cycle over the bona fide items."""
    plan = []
    for g, name in enumerate(generators):
        for j in range(per_generator):
            plan.append((name, (g * per_generator + j) % n_bona))
    return plan


def _check_writable(folder: Path) -> None:
    """Refuse ``folder`` if it holds files that no earlier demo build wrote."""
    if folder.exists() and not (folder / _MARKER).exists() and any(folder.iterdir()):
        raise ValueError(
            f"out folder {folder} already holds files not written by the demo builder; "
            "pass an empty or new folder as out."
        )


def _prepare(folder: Path) -> None:
    """Empty ``folder`` (an earlier demo build wrote it, or it is new) and mark it."""
    if (folder / _MARKER).exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _MARKER).write_text("written by curate.demo.corpus.build_demo_corpus\n")


@contextlib.contextmanager
def _torch_single_thread() -> Iterator[None]:
    """Run torch ops on one thread, restoring the previous setting afterwards.

    The signals here are a few seconds long: intra-op threads buy nothing and,
    on a busy machine, oversubscription made the build ten times slower.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _Progress:
    def __init__(self, total: int, callback: Callable[[int, int], None] | None):
        self.done, self.total, self.callback = 0, total, callback

    def step(self) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, self.total)


def _build_la(la: Path, sizes: _Sizes, seed: int, progress: _Progress) -> int:
    gens = list(ATTACK_IDS)
    n_spk = sum(sizes.la_speakers)
    names = [f"LA_{79 + 7 * i:04d}" for i in range(n_spk)]
    speakers = _speakers(_rng(seed, _K_LA, _K_SPEAKERS), n_spk, _EN_ACCENTS, names)
    sentences = LANGUAGES["en"].sentences
    proto_dir = la / "ASVspoof2019_LA_cm_protocols"
    proto_dir.mkdir(parents=True, exist_ok=True)
    n_files, first = 0, 0
    for s_idx, ((subset, letter, suffix), n_sub) in enumerate(zip(_LA_SUBSETS, sizes.la_speakers)):
        flac = la / f"ASVspoof2019_LA_{subset}" / "flac"
        flac.mkdir(parents=True, exist_ok=True)
        per_spk = sizes.la_bona + sizes.la_spoof * len(gens)
        ids = 1000000 + _rng(seed, _K_LA, _K_IDS, s_idx).choice(
            9000000, size=n_sub * per_spk, replace=False
        )
        rows = []
        for k in range(n_sub):
            spk_i = first + k
            spk = speakers[spk_i]
            utt = iter(f"LA_{letter}_{int(i)}" for i in ids[k * per_spk : (k + 1) * per_spk])
            bona = []
            for b in range(sizes.la_bona):
                text = sentences[(b + spk_i) % len(sentences)]
                x = _genuine(spk, text, _rng(seed, _K_LA, _K_BONA, spk_i, b))
                uid = next(utt)
                sf.write(flac / f"{uid}.flac", x, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
                rows.append((spk.speaker, uid, "-", "-", "bonafide"))
                bona.append(x)
                n_files += 1
                progress.step()
            for j, (attack, src) in enumerate(_spoof_plan(len(bona), sizes.la_spoof, gens)):
                y = GENERATORS[ATTACK_IDS[attack]](
                    bona[src], SAMPLE_RATE, _rng(seed, _K_LA, _K_SPOOF, spk_i, j)
                )
                uid = next(utt)
                sf.write(flac / f"{uid}.flac", y, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
                rows.append((spk.speaker, uid, "-", attack, "spoof"))
                n_files += 1
                progress.step()
        first += n_sub
        rows.sort(key=lambda r: r[1])
        proto = proto_dir / f"ASVspoof2019.LA.cm.{subset}.{suffix}.txt"
        proto.write_text("".join(" ".join(r) + "\n" for r in rows), encoding="utf-8")
    return n_files


def _build_multi(multi: Path, sizes: _Sizes, seed: int, progress: _Progress) -> int:
    gens = list(GENERATORS)
    per_spk = sizes.multi_bona + sizes.multi_spoof * len(gens)
    rows = []
    n_files = 0
    for l_idx, (code, lang) in enumerate(LANGUAGES.items()):
        folder = multi / "wav" / code
        folder.mkdir(parents=True, exist_ok=True)
        names = [f"{code}_spk{k + 1}" for k in range(sizes.multi_speakers)]
        speakers = _speakers(
            _rng(seed, _K_MULTI, _K_SPEAKERS, l_idx), sizes.multi_speakers, (lang.voice,), names
        )
        for k, spk in enumerate(speakers):
            numbers = 1 + _rng(seed, _K_MULTI, _K_IDS, l_idx, k).permutation(per_spk)
            files = iter(f"wav/{code}/{spk.speaker}_{int(i):04d}.wav" for i in numbers)
            bona: list[tuple[str, str, np.ndarray]] = []
            for b in range(sizes.multi_bona):
                text = lang.sentences[(b + k * sizes.multi_bona) % len(lang.sentences)]
                x = _genuine(spk, text, _rng(seed, _K_MULTI, _K_BONA, l_idx, k, b))
                rel = next(files)
                sf.write(multi / rel, x, SAMPLE_RATE, format="WAV", subtype="PCM_16")
                rows.append((rel, spk.speaker, code, "bona-fide", "", "", text))
                bona.append((rel, text, x))
                n_files += 1
                progress.step()
            for j, (gen, src) in enumerate(_spoof_plan(len(bona), sizes.multi_spoof, gens)):
                src_rel, text, x = bona[src]
                y = GENERATORS[gen](x, SAMPLE_RATE, _rng(seed, _K_MULTI, _K_SPOOF, l_idx, k, j))
                rel = next(files)
                sf.write(multi / rel, y, SAMPLE_RATE, format="WAV", subtype="PCM_16")
                rows.append((rel, spk.speaker, code, "spoof", gen, src_rel, text))
                n_files += 1
                progress.step()
    rows.sort(key=lambda r: r[0])
    with open(multi / "meta.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["file", "speaker", "language", "label", "generator", "source", "transcript"])
        writer.writerows(rows)
    return n_files


def build_demo_corpus(
    out: Path,
    *,
    quick: bool = True,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> DemoCorpus:
    """Synthesise both demo corpora under ``out`` (see the module docstring).

    Sizes (both corpora, files of 1.5-3 s): ``quick=True`` writes 128 bona
    fide and 256 spoof files (384, about 13 min of audio); ``quick=False``
    writes 400 bona fide and 800 spoof files (1200, about 40 min). Every
    generator appears in both corpora, every language has both labels.

    Args:
        out: output folder; ``out / "LA"`` and ``out / "multi"`` are replaced
            if an earlier build wrote them.
        quick: the small size (seconds) or the larger one (about 3x).
        seed: the whole output is a function of ``seed`` and ``quick``.
        progress: optional ``callback(done, total)`` called after each file.

    Returns:
        A :class:`DemoCorpus` describing what was written.

    Raises:
        ValueError: ``out/LA`` or ``out/multi`` holds files from elsewhere, or
            ``seed`` is negative.
        RuntimeError: espeak-ng cannot be loaded.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    if progress is not None and not callable(progress):
        raise ValueError("progress must be a callable(done, total) or None.")
    out = Path(out)
    sizes = _QUICK if quick else _FULL
    n_la = sum(sizes.la_speakers) * (sizes.la_bona + sizes.la_spoof * len(ATTACK_IDS))
    n_multi = (
        len(LANGUAGES)
        * sizes.multi_speakers
        * (sizes.multi_bona + sizes.multi_spoof * len(GENERATORS))
    )
    tracker = _Progress(n_la + n_multi, progress)

    la, multi = out / "LA", out / "multi"
    _check_writable(la)
    _check_writable(multi)
    _prepare(la)
    _prepare(multi)
    with _torch_single_thread():
        n_files = _build_la(la, sizes, int(seed), tracker)
        n_files += _build_multi(multi, sizes, int(seed), tracker)
    return DemoCorpus(
        root=out, la_root=la, multi_root=multi, attack_ids=dict(ATTACK_IDS), n_files=n_files
    )
