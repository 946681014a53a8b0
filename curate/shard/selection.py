"""``curate shard``: a frozen selection's rows from the catalog, then the shard writer.

The catalog is opened once, read-only, for a short session: the selection's rows
(:func:`curate.select.freeze.selection_rows`, so items no longer ``ok`` stop it unless
``skip_unavailable``, as ``curate export`` does), the files' rates and channels (for
the size estimate) and the counts every item's accounting needs. Then it is closed and
the shards are written (:func:`curate.shard.writer.write_folder`) while other commands
use the catalog.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pandas as pd

from curate.catalog.db import Catalog, CatalogRef, catalog_session
from curate.errors import CurateError
from curate.select.check import closest_first
from curate.select.freeze import check_available, selection_rows, unavailable_items
from curate.shard import sql
from curate.shard.plan import parse_shard_size
from curate.shard.writer import Progress, RunShards, ShardSummary, write_folder

def _read(catalog: Catalog, selection: str, splits: tuple[str, ...],
          skip_unavailable: bool) -> tuple[str, list[dict], dict, dict]:
    row = catalog.execute(sql.SPEC_HASH, [selection]).fetchone()
    if row is None:
        raise CurateError(f"no selection named {selection!r} in {catalog.path}; freeze it "
                          f"with `curate select SPEC.toml`")
    selected = {s: int(n) for s, n in catalog.execute(sql.SELECTED_PER_SPLIT,
                                                      [selection]).fetchall()}
    unknown = [s for s in splits if s not in selected]
    if unknown:
        shown, _ = closest_first(unknown[:1], sorted(selected))
        raise CurateError(f"--split: selection {selection!r} has no split {unknown[0]!r}; "
                          f"its splits are (closest first) {', '.join(shown)}")
    wanted = list(splits) or sorted(selected)
    for split in wanted:
        check_available(catalog, selection, split, skip_unavailable=skip_unavailable)
    frames = [selection_rows(catalog, selection, split, skip_unavailable=skip_unavailable)
              for split in wanted]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    facts = catalog.df(sql.ITEM_FACTS, [selection])
    if not rows.empty:
        rows = rows.merge(facts, on="utt_id", how="left")
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    unavailable = {s: unavailable_items(catalog, selection, s) for s in wanted}
    return row[0], records, {s: selected[s] for s in wanted}, unavailable


def shard_selection(source: Catalog | CatalogRef, selection: str, out: Path | str, *,
                    splits: tuple[str, ...] | list[str] = (), shard_size: str = "1GB",
                    fmt: str = "flac", sample_rate: int | None = None, jobs: int = 1,
                    seed: int = 0, skip_unavailable: bool = False,
                    progress: Progress | None = None,
                    run: RunShards | None = None) -> ShardSummary:
    """Write the frozen ``selection`` as WebDataset-layout shards in ``out``.

    Args:
        source: the catalog (a :class:`CatalogRef` is opened read-only for one short
            session; an open :class:`Catalog` is used as it is).
        selection: a frozen selection.
        out: the shard folder: new, empty, or an interrupted run of the same shards
            (it resumes: finished shards are kept, not rewritten).
        splits: only these splits (default all).
        shard_size: ``"1GB"``-like bytes per shard, or ``"1000"`` items per shard.
        fmt: ``flac`` or ``wav``.
        sample_rate: resample to this rate in Hz (None: keep each file's).
        jobs: worker processes.
        seed: the seed of the order of items across shards.
        skip_unavailable: shard without the items that are no longer ``ok`` (counted in
            the manifest) instead of stopping.
        progress: ``callback(items done, items planned)``.
        run: how the shards are written (default: ``jobs`` processes on this machine;
            :func:`curate.shard.ray_writer.ray_runner` for Ray Data: the same shards).

    Raises:
        CurateError: an unknown selection or split, items no longer ``ok`` without
            ``skip_unavailable``, a bad option, or an ``out`` holding something else.
    """
    size = parse_shard_size(shard_size)
    splits = tuple(splits or ())
    with catalog_session(source, read_only=isinstance(source, CatalogRef)) as catalog:
        spec_hash, rows, selected, unavailable = _read(catalog, selection, splits,
                                                       skip_unavailable)
        catalog_path = str(catalog.path)
    command = ["curate", "shard", selection, "--out", str(Path(out).expanduser().resolve()),
               "--shard-size", str(shard_size), "--format", fmt, "--db", catalog_path]
    if sample_rate is not None:
        command += ["--sample-rate", str(sample_rate)]
    for split in splits:
        command += ["--split", split]
    if skip_unavailable:
        command.append("--skip-unavailable")
    return write_folder(rows, out, selection=selection, spec_hash=spec_hash, size=size,
                        fmt=fmt, sample_rate=sample_rate, jobs=jobs, seed=seed,
                        selected=selected, unavailable=unavailable, catalog=catalog_path,
                        command=shlex.join(command), progress=progress, run=run)
