"""What every export writer shares.

An :class:`ExportJob` reads the selection once from the catalog (one query in
:mod:`curate.export.sql`), holds it as an Arrow table, and hands writers plain row
dicts split by split:

- ``job.rows(split)`` for writers that reference audio by path;
- ``job.samples(split)`` for writers that embed the audio bytes (webdataset, hf with
  ``copy_audio``): each row comes with its bytes and file extension.

Paths are absolute, or relative to ``path_root`` when one is given (a file outside
``path_root`` is an error naming it). With ``copy_audio`` the audio of path-based
formats is copied under ``OUT/audio/SPLIT/CORPUS/ID.EXT`` first; with ``sample_rate``
it is decoded, resampled (``torchaudio.functional.resample``, as training does) and
written as 16-bit PCM WAV. Rows whose status is not ``ok``, whose utterance left the
catalog, or whose audio cannot be read while copying are skipped and counted; the
counts go to the summary and the README, never silently away.

Everything is written to a staging folder next to ``OUT`` and renamed into place at
the end, so an interrupted export leaves no half-written ``OUT``.
"""

from __future__ import annotations

import io
import json
import math
import os
import shlex
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import soundfile as sf

from curate.errors import CurateError
from curate.export import sql

Progress = Callable[[int, int], None]

#: First line of every export's README.md after the title: marks a folder that a later
#: ``--overwrite`` may replace.
README_MARKER = "<!-- written by curate export -->"

#: The metadata of a row as written to JSON-like outputs (webdataset JSON, nemo extra
#: keys, hf and parquet columns), in this order; ``path`` is the path as written.
ROW_COLUMNS: tuple[str, ...] = ("utt_id", "split", "weight") + sql.UTTERANCE_COLUMNS[:-2] + (
    "status", "path")

#: Columns that hold numbers (the rest are strings).
FLOAT_COLUMNS = ("weight", "duration_s", "loudness_lufs", "peak_dbfs", "clip_ratio",
                 "silence_ratio")
INT_COLUMNS = ("sample_rate", "channels", "num_samples")

_ROWS_PER_BATCH = 1024
_PCM16_MAX = 32767 / 32768


@dataclass(frozen=True)
class ExportOptions:
    """How paths and audio are written (see :func:`curate.export.export_selection`)."""

    path_root: Path | None = None
    copy_audio: bool = False
    sample_rate: int | None = None
    shard_size: int = 1000

    @property
    def transcode(self) -> bool:
        return self.sample_rate is not None


@dataclass
class ExportSummary:
    """What an export wrote: items per split, skipped rows by reason, files under ``out``."""

    selection: str
    spec_hash: str
    format: str
    out: Path
    counts: dict[str, int]
    skipped: dict[str, int]
    files: list[str]
    audio_files: int
    readme: Path

    @property
    def n_items(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Writer:
    """One target format: ``write(job)`` writes its files through the job.

    ``audio`` says how the format holds audio: ``paths`` (references files),
    ``embedded`` (always carries the bytes) or ``embedded_with_copy`` (carries the
    bytes when ``copy_audio`` is set, else paths). ``usage`` is a snippet for the
    README, formatted with ``out``, ``selection`` and ``split``.
    """

    name: str
    write: Callable[["ExportJob"], None]
    audio: str
    description: str
    usage: str

    def __call__(self, job: "ExportJob") -> None:
        self.write(job)

    def embeds(self, options: ExportOptions) -> bool:
        return self.audio == "embedded" or (self.audio == "embedded_with_copy"
                                            and (options.copy_audio or options.transcode))


# ------------------------------------------------------------------------ names and ids


def escape(text: str, keep: str = "-_") -> str:
    """Percent-encode every byte of ``text`` except ASCII letters, digits and ``keep``.

    Injective (``urllib.parse.unquote`` reverses it), so distinct ids stay distinct.
    """
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if (char.isascii() and char.isalnum()) or char in keep:
            out.append(char)
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def local_id(utt_id: str, corpus: str | None) -> str:
    """``utt_id`` without its ``corpus:`` namespace (unchanged when it has another)."""
    prefix = f"{corpus}:"
    return utt_id[len(prefix):] if corpus and utt_id.startswith(prefix) else utt_id


def audio_extension(path: str | None, fmt: str | None) -> str:
    suffix = Path(path or "").suffix.lower().lstrip(".")
    if suffix and suffix.isalnum():
        return suffix
    return (fmt or "bin").lower()


def no_space(value, empty: str = "-") -> str:
    """A field for space-separated files: whitespace runs become ``_``; None -> ``empty``."""
    if value is None or value == "":
        return empty
    return "_".join(str(value).split()) or empty


# ------------------------------------------------------------------------------- audio


def resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample ``(time, channels)`` float samples with ``torchaudio.functional.resample``."""
    if src_rate == dst_rate:
        return x
    import torch
    import torchaudio.functional as AF

    y = AF.resample(torch.from_numpy(np.ascontiguousarray(x.T, dtype=np.float32)),
                    src_rate, dst_rate)
    return y.numpy().T


def transcode(path: str, sample_rate: int) -> tuple[bytes, dict]:
    """Decode ``path``, resample to ``sample_rate``, encode 16-bit PCM WAV.

    Returns the WAV bytes and the facts of the new audio (sample_rate, num_samples,
    channels, duration_s, format).
    """
    from curate.audio.decode import read_audio

    x, rate = read_audio(path)
    y = np.clip(resample(x, rate, sample_rate), -1.0, _PCM16_MAX)
    buffer = io.BytesIO()
    sf.write(buffer, y, sample_rate, format="WAV", subtype="PCM_16")
    facts = {"sample_rate": int(sample_rate), "num_samples": int(y.shape[0]),
             "channels": int(y.shape[1]), "duration_s": y.shape[0] / sample_rate,
             "format": "wav"}
    return buffer.getvalue(), facts


# ---------------------------------------------------------------------------------- job


def _arrow_table(relation) -> pa.Table:
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()


class ExportJob:
    """The state of one export: the selection's rows, the options, what was written."""

    def __init__(self, catalog, selection: str, writer: Writer, out: Path, stage: Path,
                 options: ExportOptions, splits: tuple[str, ...] = (),
                 progress: Progress | None = None):
        self.catalog_path = Path(catalog.path)
        self.selection = selection
        self.writer = writer
        self.format = writer.name
        self.out = out
        self.stage = stage
        self.options = options
        self.progress = progress
        self.spec_hash = self._read_info(catalog, splits)
        self.table = _arrow_table(catalog.con.sql(
            sql.SELECTION_EXPORT_ROWS, params={"selection": selection, "splits": list(splits)}))
        self.splits: list[str] = sorted(set(self.table.column("split").to_pylist()))
        self.requested_splits = tuple(splits)
        self.embeds = writer.embeds(options)
        self.copies = not self.embeds and (options.copy_audio or options.transcode)
        self.counts: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.labels: Counter[tuple[str, str]] = Counter()
        self.skipped: Counter[str] = Counter()
        self.audio_files = 0
        self.errors: list[tuple[str, str]] = []  # first unreadable files: (utt_id, reason)
        self._failed: set[str] = set()
        self._copied: dict[str, dict] = {}
        self._done = 0
        self._total = self.table.num_rows * (2 if self.copies else 1)
        self._check_path_root()

    # -- reading ------------------------------------------------------------------
    def _read_info(self, catalog, splits: tuple[str, ...]) -> str:
        info = catalog.con.execute(sql.SELECTION_INFO, {"selection": self.selection}).fetchone()
        if info is None:
            raise CurateError(f"no selection named {self.selection!r} in {catalog.path}; "
                              f"freeze it with `curate select SPEC.toml`")
        known = [r[0] for r in catalog.con.execute(
            sql.SELECTION_SPLIT_NAMES, {"selection": self.selection}).fetchall()]
        unknown = [s for s in splits if s not in known]
        if unknown:
            raise CurateError(f"--split: selection {self.selection!r} has no split "
                              f"{', '.join(map(repr, unknown))}; its splits are "
                              f"{', '.join(known)}")
        return info[1]

    def _tick(self) -> None:
        self._done += 1
        if self.progress and (self._done % 256 == 0 or self._done == self._total):
            self.progress(self._done, self._total)

    def _raw_rows(self, split: str) -> Iterator[dict]:
        part = self.table.filter(pc.equal(self.table.column("split"), split))
        for batch in part.to_batches(max_chunksize=_ROWS_PER_BATCH):
            yield from batch.to_pylist()

    def _usable(self, row: dict) -> bool:
        """False (and counted) for rows that cannot be exported."""
        if row["utt_id"] in self._failed:
            return False
        if not row["in_catalog"]:
            reason = "not in the catalog any more"
        elif row["status"] != "ok":
            reason = f"status {row['status']}"
        elif not row["sample_rate"] or not row["num_samples"] or row["duration_s"] is None:
            reason = "no probe facts"
        else:
            return True
        self.skipped[reason] += 1
        self._failed.add(row["utt_id"])
        return False

    def _finish_row(self, row: dict) -> dict:
        copied = self._copied.get(row["utt_id"])
        if copied:
            row.update(copied)
        row["path"] = self.manifest_path(row["abspath"])
        return row

    def _count(self, row: dict) -> None:
        self.counts[row["split"]] += 1
        self.seconds[row["split"]] += float(row["duration_s"] or 0.0)
        self.labels[(row["split"], row["label"])] += 1

    def rows(self, split: str) -> Iterator[dict]:
        """Rows of ``split`` to write, with ``path`` (as written) and ``abspath``."""
        for row in self._raw_rows(split):
            self._tick()
            if not self._usable(row):
                continue
            row = self._finish_row(row)
            self._count(row)
            yield row

    def samples(self, split: str) -> Iterator[tuple[dict, bytes, str]]:
        """``(row, audio bytes, extension)`` of ``split``; transcoded with ``sample_rate``."""
        for row in self._raw_rows(split):
            self._tick()
            if not self._usable(row):
                continue
            try:
                if self.options.transcode:
                    data, facts = transcode(row["abspath"], self.options.sample_rate)
                    row.update(facts)
                    ext = "wav"
                else:
                    data = Path(row["abspath"]).read_bytes()
                    ext = audio_extension(row["rel_path"], row["format"])
            except Exception as exc:  # noqa: BLE001 - any unreadable file is skipped, counted
                self._unreadable(row, exc)
                continue
            row = self._finish_row(row)
            self._count(row)
            self.audio_files += 1
            yield row, data, ext

    def _unreadable(self, row: dict, exc: Exception) -> None:
        self.skipped["audio unreadable"] += 1
        self._failed.add(row["utt_id"])
        if len(self.errors) < 10:
            self.errors.append((row["utt_id"], str(exc).splitlines()[0] if str(exc) else
                                type(exc).__name__))

    def record(self, row: dict) -> dict:
        """The row's metadata as plain JSON-able values, in :data:`ROW_COLUMNS` order."""
        return {c: row.get(c) for c in ROW_COLUMNS}

    # -- paths --------------------------------------------------------------------
    def manifest_path(self, abspath: str) -> str:
        """``abspath`` as written: absolute, or relative to ``path_root``."""
        path = os.path.normpath(abspath)
        root = self.options.path_root
        if root is None:
            return path
        root_s = os.path.normpath(str(root))
        if os.path.commonpath([root_s, path]) != root_s:
            raise CurateError(f"--path-root {root_s}: {path} is not under it; "
                              f"pass a folder that holds every corpus (or the output "
                              f"folder with --copy-audio)")
        return os.path.relpath(path, root_s)

    def _check_path_root(self) -> None:
        """Fail before writing anything when the audio cannot be under ``path_root``."""
        if self.options.path_root is None:
            return
        if self.copies:
            self.manifest_path(str(self.out / "audio"))
            return
        roots = self.table.column("corpus_root").drop_null().unique().to_pylist()
        for root in roots:
            self.manifest_path(root)

    def file(self, relative: str) -> Path:
        """A path under the staging folder for the output file ``relative``."""
        path = self.stage / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def copy_audio(self) -> None:
        """Copy (or transcode) the audio of every usable row under ``OUT/audio``."""
        for split in self.splits:
            for row in self._raw_rows(split):
                self._tick()
                if not self._usable(row):
                    continue
                corpus = row["corpus"] or "unknown"
                stem = escape(local_id(row["utt_id"], corpus), keep="-_.")
                if stem.startswith("."):
                    stem = "%2E" + stem[1:]
                ext = "wav" if self.options.transcode else audio_extension(row["rel_path"],
                                                                           row["format"])
                relative = f"audio/{split}/{escape(corpus, keep='-_.')}/{stem}.{ext}"
                target = self.file(relative)
                try:
                    if self.options.transcode:
                        data, facts = transcode(row["abspath"], self.options.sample_rate)
                        target.write_bytes(data)
                    else:
                        shutil.copyfile(row["abspath"], target)
                        facts = {}
                except Exception as exc:  # noqa: BLE001 - any unreadable file is skipped
                    target.unlink(missing_ok=True)
                    self._unreadable(row, exc)
                    continue
                facts["abspath"] = str(self.out / relative)
                self._copied[row["utt_id"]] = facts
                self.audio_files += 1

    # -- README -------------------------------------------------------------------
    def command(self) -> str:
        parts = ["curate", "export", self.selection, "--format", self.format,
                 "--out", str(self.out), "--db", str(self.catalog_path)]
        if self.options.path_root is not None:
            parts += ["--path-root", str(self.options.path_root)]
        if self.options.copy_audio:
            parts.append("--copy-audio")
        if self.options.sample_rate is not None:
            parts += ["--sample-rate", str(self.options.sample_rate)]
        if self.format in ("webdataset", "hf"):
            parts += ["--shard-size", str(self.options.shard_size)]
        for split in self.requested_splits:
            parts += ["--split", split]
        return shlex.join(parts)

    def write_readme(self, files: list[str]) -> None:
        from curate import __version__

        opts = self.options
        if opts.transcode:
            audio = f"transcoded to {opts.sample_rate} Hz 16-bit PCM WAV"
        elif self.embeds or opts.copy_audio:
            audio = "copied as stored"
        else:
            audio = "referenced in place"
        if self.embeds:
            audio += ", embedded in the output"
        elif self.copies:
            audio += ", under audio/"
        paths = ("absolute" if opts.path_root is None
                 else f"relative to {opts.path_root}")
        lines = [
            f"# Selection `{self.selection}`, exported as {self.format}", "",
            README_MARKER, "",
            f"{self.writer.description}", "",
            "| key | value |", "| --- | --- |",
            f"| selection | `{self.selection}` |",
            f"| spec hash | `{self.spec_hash}` |",
            f"| format | {self.format} |",
            f"| catalog | `{self.catalog_path}` |",
            f"| paths | {paths} |",
            f"| audio | {audio} |",
            f"| curate | {__version__} |", "",
            "## Items per split", "",
            "| split | items | hours | bonafide | spoof |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for split in self.splits:
            lines.append(f"| {split} | {self.counts[split]} | "
                         f"{self.seconds[split] / 3600:.4f} | "
                         f"{self.labels[(split, 'bonafide')]} | {self.labels[(split, 'spoof')]} |")
        lines += ["", "## Skipped", ""]
        if self.skipped:
            lines += [f"- {reason}: {n}" for reason, n in sorted(self.skipped.items())]
            lines += [f"  - `{utt}`: {reason}" for utt, reason in self.errors]
        else:
            lines.append("none")
        shown = [f for f in files if not f.startswith("audio/")]
        n_audio = len(files) - len(shown)
        lines += ["", "## Files", ""]
        lines += [f"- `{f}`" for f in shown[:50]]
        if len(shown) > 50:
            lines.append(f"- ... and {len(shown) - 50} more")
        if n_audio:
            lines.append(f"- `audio/`: {n_audio} audio files")
        first = self.splits[0] if self.splits else "train"
        usage = self.writer.usage.format(out=self.out, selection=self.selection, split=first)
        lines += ["", "## Reproduce", "", "```sh", self.command(), "```", "",
                  "## Load", "", usage.strip(), ""]
        (self.stage / "README.md").write_text("\n".join(lines))

    def summary(self, files: list[str]) -> ExportSummary:
        return ExportSummary(
            selection=self.selection, spec_hash=self.spec_hash, format=self.format,
            out=self.out, counts={s: self.counts[s] for s in self.splits},
            skipped=dict(sorted(self.skipped.items())), files=files,
            audio_files=self.audio_files, readme=self.out / "README.md")


# ------------------------------------------------------------------------------ helpers


def json_line(record: dict) -> str:
    """One JSON line; NaN (not valid JSON) becomes null."""
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v)
             for k, v in record.items()}
    return json.dumps(clean, ensure_ascii=False, separators=(",", ":"))


def listed_files(stage: Path) -> list[str]:
    return sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())


def arrow_type(column: str) -> pa.DataType:
    """The Arrow type of a :data:`ROW_COLUMNS` column."""
    if column in FLOAT_COLUMNS:
        return pa.float64()
    if column in INT_COLUMNS:
        return pa.int64()
    return pa.string()


def batched(items: Iterator, size: int) -> Iterator[list]:
    """Lists of up to ``size`` consecutive items."""
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
