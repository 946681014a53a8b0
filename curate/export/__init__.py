"""curate.export: write a frozen selection in the format a toolkit reads.

``export_selection(catalog, "sel", "lhotse", "out/")`` reads the selection once from
the catalog and writes it with the writer of that format (one module per format;
:data:`FORMATS` lists them). Every export also writes ``README.md`` with the
selection's spec hash, the counts per split and the command that reproduces it.
None of the consuming libraries (lhotse, datasets, webdataset) is needed to write.
See docs/exports.md.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from curate.errors import CurateError
from curate.select.freeze import check_available
from curate.export import (antideepfake, asvspoof, hf, kaldi, lhotse, nemo, parquet,
                           webdataset)
from curate.export.common import (README_MARKER, ExportJob, ExportOptions, ExportSummary,
                                  Progress, Writer, listed_files)

__all__ = ["FORMATS", "ExportSummary", "Writer", "export_selection"]

#: name -> writer of every target format.
FORMATS: dict[str, Writer] = {m.WRITER.name: m.WRITER for m in (
    lhotse, nemo, hf, webdataset, kaldi, asvspoof, antideepfake, parquet)}


def _check_out(out: Path, overwrite: bool) -> None:
    """``out`` must be new or empty, or (with ``overwrite``) a previous export."""
    if out.exists() and not out.is_dir():
        raise CurateError(f"--out {out} is a file; pass a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    if not overwrite:
        raise CurateError(f"--out {out} is not empty; pass --overwrite to replace a previous "
                          f"export there, or choose a new folder")
    readme = out / "README.md"
    if not (readme.is_file() and README_MARKER in readme.read_text(errors="replace")):
        raise CurateError(f"--out {out} is not empty and holds no curate export (no README.md "
                          f"written by `curate export`); --overwrite only replaces exports: "
                          f"choose a new or empty folder")


def export_selection(catalog, selection: str, fmt: str, out: Path | str, *,
                     path_root: Path | str | None = None, copy_audio: bool = False,
                     sample_rate: int | None = None, shard_size: int = 1000,
                     splits: tuple[str, ...] | list[str] | None = None,
                     overwrite: bool = False, progress: Progress | None = None,
                     skip_unavailable: bool = False) -> ExportSummary:
    """Write the frozen ``selection`` of ``catalog`` in format ``fmt`` to folder ``out``.

    Args:
        catalog: an open :class:`curate.catalog.db.Catalog` (read-only is enough).
        selection: name of a frozen selection.
        fmt: one of :data:`FORMATS`.
        out: output folder; must be new or empty, or a previous export with ``overwrite``.
        path_root: write paths relative to this folder (every audio file must be under
            it); default absolute paths.
        copy_audio: copy the audio under ``out/audio`` (path formats) or embed its bytes
            (``hf``; ``webdataset`` always embeds).
        sample_rate: transcode the audio to this rate as 16-bit PCM WAV (implies
            ``copy_audio``).
        shard_size: samples per tar shard (``webdataset``) and rows per Parquet file
            (``hf``).
        splits: only these splits (default all).
        overwrite: replace a previous export in ``out``.
        progress: ``callback(done, total)``.
        skip_unavailable: export without items that are no longer ``ok`` (counted
            under ``skipped``); without it such items stop the export before anything
            is written (a frozen selection is never shrunk silently).

    Returns:
        :class:`ExportSummary` with the items per split, skipped rows by reason and the
        files written (relative to ``out``).
    """
    writer = FORMATS.get(fmt)
    if writer is None:
        raise CurateError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if shard_size < 1:
        raise CurateError(f"--shard-size must be at least 1, got {shard_size}")
    if sample_rate is not None and not 1000 <= sample_rate <= 384_000:
        raise CurateError(f"--sample-rate {sample_rate} is not a plausible rate in Hz; use "
                          f"e.g. 16000")
    for split in (splits or (None,)):
        check_available(catalog, selection, split, skip_unavailable=skip_unavailable)
    out = Path(out).expanduser().resolve()
    root = Path(path_root).expanduser().resolve() if path_root is not None else None
    options = ExportOptions(path_root=root, copy_audio=copy_audio or sample_rate is not None,
                            sample_rate=sample_rate, shard_size=shard_size)
    _check_out(out, overwrite)
    stage = out.parent / f".{out.name}.partial"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    try:
        job = ExportJob(catalog, selection, writer, out, stage, options,
                        splits=tuple(splits or ()), progress=progress)
        if job.copies:
            job.copy_audio()
        writer(job)
        files = sorted(listed_files(stage) + ["README.md"])
        job.write_readme(files)
        if out.exists():
            shutil.rmtree(out)
        os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return job.summary(files)
