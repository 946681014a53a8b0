"""Offline augmentation (``curate augment``) and spectrogram previews.

:func:`augment_folder` runs a chain over every audio file under a folder,
:func:`augment_selection` over the utterances of a frozen selection; both write the
augmented audio under ``OUT`` at the same relative paths and one JSON line per file to
``OUT/augment_log.jsonl``: ``{"path", "out", "utt_id", "sample_rate", "steps":
[{"step", "params"}, ...], "status": "ok"}`` (or ``"status": "error"`` with the
reason in ``"error"``; a bad file never stops the run, and counts as failed). A file
fails when it cannot be decoded, has no samples, holds NaN or inf samples (never
replaced by zeros: the input is broken), or when the chain's output is not finite.

The chain runs through :meth:`curate.augment.chain.Chain.apply_offline`, the same two
stages training runs. Each file's randomness is a function of the seed and its
relative path, so the output does not depend on the order or on interruptions: a run
that is started again skips the files already in the log and continues.

Audio is decoded (mono: channels averaged), resampled to the chain's rate, augmented
and written as 16-bit FLAC (for ``.flac`` inputs) or 16-bit WAV (everything else;
lossy inputs are not re-encoded lossily).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
import soundfile as sf

from curate.augment.chain.pipeline import Chain
from curate.augment.chain.seeds import batch_generator, utterance_rng
from curate.errors import CurateError

__all__ = ["AugmentSummary", "augment_folder", "augment_selection", "augment_files",
           "spectrogram_png", "LOG_NAME"]

LOG_NAME = "augment_log.jsonl"
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".mp4", ".aac", ".webm",
                  ".aiff", ".aif", ".au", ".sph")

Progress = Optional[Callable[[int, int], None]]


@dataclass
class AugmentSummary:
    """What a run did: files written, skipped (already done), failed, and where."""

    out: Path
    written: int = 0
    skipped: int = 0
    failed: int = 0
    previews: list[Path] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    step_counts: dict[str, int] = field(default_factory=dict)
    unavailable: int = 0  # selection items left out (status not ok, --skip-unavailable)


def _out_path(rel: str) -> str:
    p = Path(rel)
    return str(p if p.suffix.lower() == ".flac" else p.with_suffix(".wav")).replace(os.sep, "/")


def _done(log_path: Path, out: Path) -> set[str]:
    done: set[str] = set()
    if not log_path.exists():
        return done
    for line in log_path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by an interruption
        if record.get("status") == "ok" and (out / record.get("out", "")).is_file():
            done.add(record["path"])
    return done


class AugmentFileError(ValueError):
    """One file cannot be augmented (0 samples, NaN/inf samples in or out); the run
    logs it as failed and goes on."""


def _load(path: str, sample_rate: int) -> tuple[np.ndarray, int]:
    """Decode ``path`` to mono float32 at ``sample_rate`` Hz; returns it and the file's
    own rate (Hz). Raises :class:`AugmentFileError` for 0 samples or non-finite samples."""
    from curate.audio.decode import read_audio
    from curate.augment.realcodec import resample

    samples, rate = read_audio(path)
    if samples.shape[0] == 0:
        raise AugmentFileError("the file has 0 samples")
    finite = np.isfinite(samples)
    if not finite.all():
        bad = int(samples.size - np.count_nonzero(finite))
        raise AugmentFileError(f"{bad} of {samples.size} samples are NaN or inf")
    x = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    x = np.asarray(x, dtype=np.float32)
    if rate != sample_rate:
        x = resample(x, rate, sample_rate)
    return x, rate


def _write(path: Path, y: np.ndarray, sample_rate: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    clipped = int(np.count_nonzero(np.abs(y) > 32767 / 32768))
    y = np.clip(y, -1.0, 32767 / 32768)
    tmp = path.with_name(path.name + ".part")
    fmt = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
    sf.write(str(tmp), y, sample_rate, subtype="PCM_16", format=fmt)
    os.replace(tmp, path)
    return clipped


def spectrogram_png(before: np.ndarray, after: np.ndarray, sample_rate: int, path: Path,
                    title: str = "", max_seconds: float = 4.0) -> Path:
    """Before/after log spectrograms (dB, 25 ms Hann, 10 ms hop) of the first
    ``max_seconds`` s, one above the other, as a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import stft

    n = int(max_seconds * sample_rate)
    fig, axes = plt.subplots(2, 1, figsize=(6.4, 3.6), sharex=True, sharey=True)
    win = int(0.025 * sample_rate)
    hop = int(0.010 * sample_rate)
    for ax, signal, label in zip(axes, (before[:n], after[:n]), ("before", "after")):
        if signal.size < win:
            signal = np.pad(signal, (0, win - signal.size))
        f, t, z = stft(signal, fs=sample_rate, window="hann", nperseg=win, noverlap=win - hop)
        db = 20 * np.log10(np.abs(z) + 1e-6)
        ax.pcolormesh(t, f / 1000, db, shading="auto", vmin=-100, vmax=-10, cmap="magma",
                      rasterized=True)
        ax.set_ylabel(f"{label}\nkHz", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[1].set_xlabel("s", fontsize=8)
    if title:
        axes[0].set_title(title, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100, format="png")
    plt.close(fig)
    from PIL import Image

    buffer.seek(0)
    # a 64-colour palette keeps a noisy spectrogram near 50-100 KB
    Image.open(buffer).convert("RGB").quantize(colors=64).save(path, optimize=True)
    return path


def _title(steps: Sequence[dict]) -> str:
    if not steps:
        return "no step applied"
    parts = []
    for s in steps:
        params = s.get("params", {})
        if s["step"] == "codec":
            br = params.get("bitrate")
            parts.append(f"{params.get('codec')}" + (f" {br // 1000} kbit/s" if br else ""))
        elif s["step"] == "preset":
            parts.append(f"{params.get('preset')} {params.get('condition')}")
        else:
            parts.append(s["step"])
    return " -> ".join(parts)


def augment_files(chain: Chain, items: Iterable[tuple[str, str, Optional[str]]], out: Path,
                  *, seed: Optional[int] = None, preview: Optional[int] = None,
                  overwrite: bool = False, progress: Progress = None) -> AugmentSummary:
    """Augment ``items`` = ``(source path, relative output path, utt_id)`` into ``out``.

    Args:
        chain: the chain.
        items: files to augment; the relative path keys resumption and randomness.
        out: output folder (created).
        seed: overrides the chain's seed.
        preview: only the first ``preview`` files, each with a before/after spectrogram
            PNG under ``out/preview/``.
        overwrite: start over (the log is cleared) instead of resuming.
        progress: ``callback(done, total)``.

    Returns:
        The summary; ``failed`` counts files that failed in this run (files that failed
        before are tried again), ``errors`` has ``(relative path, reason)`` of each.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / LOG_NAME
    if overwrite and log_path.exists():
        log_path.unlink()
    items = sorted(items, key=lambda item: item[1])
    if preview is not None:
        items = items[:preview]
    done = set() if overwrite else _done(log_path, out)
    seed = chain.seed if seed is None else int(seed)
    summary = AugmentSummary(out)
    total = len(items)
    if progress:
        progress(0, total)
    with open(log_path, "a") as log:
        for k, (source, rel, utt_id) in enumerate(items, start=1):
            rel = rel.replace(os.sep, "/")
            if rel in done:
                summary.skipped += 1
                if progress:
                    progress(k, total)
                continue
            target = _out_path(rel)
            record: dict[str, Any] = {"path": rel, "out": target, "utt_id": utt_id,
                                      "sample_rate": chain.sample_rate, "seed": seed}
            try:
                x, source_rate = _load(source, chain.sample_rate)
                y, steps = chain.apply_offline(x, chain.sample_rate,
                                               utterance_rng(seed, 0, rel),
                                               batch_generator(seed, 0, rel))
                if not np.isfinite(y).all():
                    raise AugmentFileError("the chain produced NaN or inf samples; nothing "
                                        "was written")
                clipped = _write(out / target, y, chain.sample_rate)
                record.update({"source_rate": source_rate, "steps": steps, "status": "ok"})
                if clipped:
                    record["clipped_samples"] = clipped
                for s in steps:
                    summary.step_counts[s["step"]] = summary.step_counts.get(s["step"], 0) + 1
                summary.written += 1
                if preview is not None:
                    png = out / "preview" / (target.rsplit(".", 1)[0] + ".png")
                    summary.previews.append(spectrogram_png(x, y, chain.sample_rate, png,
                                                            f"{rel}: {_title(steps)}"))
            except Exception as exc:  # noqa: BLE001 - a bad file never stops the run
                reason = str(exc) or type(exc).__name__
                record.update({"status": "error", "error": reason})
                summary.failed += 1
                summary.errors.append((rel, reason))
            log.write(json.dumps(record, separators=(",", ":")) + "\n")
            log.flush()
            if progress:
                progress(k, total)
    return summary


def augment_folder(chain: Chain, in_dir: Path, out: Path, **kwargs: Any) -> AugmentSummary:
    """Augment every audio file under ``in_dir`` (recursively) into ``out`` (see
    :func:`augment_files` for the options)."""
    in_dir = Path(in_dir)
    if not in_dir.is_dir():
        raise CurateError(f"input folder {in_dir} does not exist; give the folder of audio "
                          "files to augment")
    out = Path(out)
    if out.resolve() == in_dir.resolve() or in_dir.resolve() in out.resolve().parents:
        raise CurateError(f"output folder {out} is inside the input folder {in_dir}; give "
                          "an output folder elsewhere")
    items = [(str(p), p.relative_to(in_dir).as_posix(), None)
             for p in sorted(in_dir.rglob("*"))
             if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES]
    if not items:
        raise CurateError(f"no audio files under {in_dir} (looked for "
                          f"{', '.join(AUDIO_SUFFIXES)})")
    return augment_files(chain, items, out, **kwargs)


def augment_selection(chain: Chain, catalog: Any, selection: str, out: Path,
                      split: Optional[str] = None, skip_unavailable: bool = False,
                      **kwargs: Any) -> AugmentSummary:
    """Augment the utterances of a frozen selection into ``out/<corpus>/<path>`` (see
    :func:`augment_files` for the options); the log carries each ``utt_id``.

    ``catalog`` is an open catalog or a :class:`curate.catalog.db.CatalogRef` (then
    opened only to read the items). Items that are no longer ``ok`` stop it unless
    ``skip_unavailable`` (their count is in the summary's ``unavailable``)."""
    from curate.catalog import sql as catalog_sql
    from curate.catalog.db import CatalogRef, catalog_session
    from curate.select.freeze import selection_rows, unavailable_items

    with catalog_session(catalog, read_only=isinstance(catalog, CatalogRef)) as session:
        rows = selection_rows(session, selection, split, skip_unavailable=skip_unavailable)
        left_out = sum(unavailable_items(session, selection, split).values())
        roots = {name: str(root).rstrip("/") + "/"
                 for name, root in session.execute(catalog_sql.CORPUS_ROOTS).fetchall()}
    if rows.empty:
        raise CurateError(f"selection {selection!r} has no usable items"
                          + (f" in split {split!r}" if split else ""))
    items = []
    for row in rows.itertuples(index=False):
        abspath = str(row.abspath)
        root = roots.get(row.corpus, "")
        rel = abspath[len(root):] if root and abspath.startswith(root) else Path(abspath).name
        items.append((abspath, f"{row.corpus}/{rel}", str(row.utt_id)))
    summary = augment_files(chain, items, out, **kwargs)
    summary.unavailable = left_out
    return summary
