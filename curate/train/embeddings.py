"""Embeddings of a run on an eval set: the pooled backbone output (the vector the head
sees, ``model.embed``) per utterance, to Parquet, and a 2-D projection of them coloured
by label, corpus or generator (:mod:`curate.train.projection`).

Parquet layout: one row per ``utt_id`` (selection order) with ``split``, ``label``,
``corpus``, ``generator``, ``language``, ``speaker`` and ``embedding``, a fixed-size list
of ``embedding_dim`` float32 values; the file's metadata holds ``curate.run_id``,
``curate.eval_set`` and ``curate.embedding_dim``. The clips are read as the run scores
them (``eval_max_seconds`` from the start, resampled), with no augmentation, in eval
mode: the same run and items give the same embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curate.catalog.db import Catalog, CatalogRef
from curate.errors import CurateError
from curate.train.data import CropDataset
from curate.train.eval_run import eval_inputs
from curate.train.projection import project
from curate.train.waveform_outputs import embed_fn, embedding_dim, model_outputs

__all__ = ["COLOR_BY", "INFO_COLUMNS", "embed_run", "write_embeddings", "read_embeddings",
           "embedding_matrix", "colour_values", "plot_embeddings"]

COLOR_BY = ("label", "corpus", "generator")
INFO_COLUMNS = ("utt_id", "split", "label", "corpus", "generator", "language", "speaker")


def embed_run(catalog: Catalog | CatalogRef, run_id: str, selection: str,
              split: str | None = "test", *, run_dir: Path | str | None = None,
              device: str | None = None, batch_size: int | None = None,
              skip_unavailable: bool = False,
              progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Pooled embeddings of a selection (split) under a run's model.

    Returns:
        One row per utterance with :data:`INFO_COLUMNS` and ``embedding`` (float32
        array ``(embedding_dim,)``); ``attrs`` holds ``run_id``, ``eval_set`` and
        ``embedding_dim``.
    """
    inputs = eval_inputs(catalog, run_id, selection, split, run_dir=run_dir, device=device,
                         batch_size=batch_size, skip_unavailable=skip_unavailable)
    model, config, rows = inputs.run.model, inputs.config, inputs.rows
    dim = embedding_dim(model)
    dataset = CropDataset(rows["abspath"].astype(str).tolist(), None,
                          sample_rate=config.sample_rate, seconds=config.eval_max_seconds,
                          train=False)
    ids = rows["utt_id"].astype(str).tolist()
    durations = rows["duration_s"].to_numpy(dtype=np.float64) \
        if "duration_s" in rows else None
    vectors = model_outputs(model, dataset, embed_fn, config, inputs.device, durations,
                            describe=lambda i: ids[i], progress=progress)
    frame = rows.reindex(columns=list(INFO_COLUMNS)).reset_index(drop=True)
    frame["embedding"] = list(vectors.astype(np.float32).reshape(len(rows), dim))
    frame.attrs.update(run_id=run_id, eval_set=inputs.name, embedding_dim=dim)
    return frame


def embedding_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The ``embedding`` column as float64 ``(n, dim)``."""
    if "embedding" not in frame.columns or frame.empty:
        raise ValueError("no embeddings: the table needs rows with an 'embedding' column "
                         "(from `curate embed`)")
    return np.stack([np.asarray(v, dtype=np.float64) for v in frame["embedding"]])


def write_embeddings(frame: pd.DataFrame, out: Path | str) -> Path:
    """Write :func:`embed_run`'s table as Parquet (see the module doc); atomic."""
    out = Path(out)
    matrix = embedding_matrix(frame).astype(np.float32)
    dim = matrix.shape[1]
    columns = {c: pa.array([None if pd.isna(v) else str(v) for v in frame[c]], pa.string())
               for c in INFO_COLUMNS if c in frame.columns}
    values = pa.array(matrix.reshape(-1), pa.float32())
    columns["embedding"] = pa.FixedSizeListArray.from_arrays(values, dim)
    meta = {"curate.embedding_dim": str(dim)}
    for key in ("run_id", "eval_set"):
        if key in frame.attrs:
            meta[f"curate.{key}"] = str(frame.attrs[key])
    table = pa.table(columns).replace_schema_metadata(meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(out)
    return out


def read_embeddings(path: Path | str) -> pd.DataFrame:
    """A Parquet file of :func:`write_embeddings` as a table with the same columns and
    ``attrs`` (``embedding`` as float32 arrays)."""
    path = Path(path)
    if not path.is_file():
        raise CurateError(f"embeddings file {path} does not exist; write it with "
                          "`curate embed RUN --on SELECTION --out FILE.parquet`")
    table = pq.read_table(path)
    if "embedding" not in table.column_names:
        raise CurateError(f"{path} has no 'embedding' column; write it with `curate embed`")
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    frame = table.drop(["embedding"]).to_pandas()
    dim = int(meta.get("curate.embedding_dim", 0)) or len(table["embedding"][0])
    flat = table["embedding"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    frame["embedding"] = list(np.asarray(flat, np.float32).reshape(len(frame), dim))
    frame.attrs.update({k.removeprefix("curate."): v for k, v in meta.items()
                        if k.startswith("curate.")})
    frame.attrs["embedding_dim"] = dim
    return frame


def colour_values(frame: pd.DataFrame, color_by: str) -> pd.Series:
    """The value each row is coloured by: the ``color_by`` column as strings; by
    generator, bonafide rows (which have none) are ``bonafide``."""
    if color_by not in COLOR_BY:
        raise ValueError(f"--color-by must be one of {', '.join(COLOR_BY)}, got {color_by!r}")
    colour = frame[color_by].astype("string")
    if color_by == "generator" and "label" in frame.columns:
        colour = colour.mask(colour.isna() & (frame["label"] == "bonafide"), "bonafide")
    return colour


def plot_embeddings(frame: pd.DataFrame, out: Path | str, *, color_by: str = "label",
                    method: str = "pca", seed: int = 0) -> Path:
    """A 2-D projection (``method`` pca or tsne, seeded by ``seed``) of the embeddings,
    coloured by the ``color_by`` column (by generator, bonafide rows are ``bonafide``),
    written to the PNG ``out``."""
    from curate.train.score_plots import write_projection

    colour = colour_values(frame, color_by)
    points, labels = project(embedding_matrix(frame), method, seed=seed)
    title = "embeddings"
    if frame.attrs.get("run_id"):
        title = f"run {frame.attrs['run_id']} on {frame.attrs.get('eval_set', '?')}"
    return write_projection(points, colour, out, axis_labels=labels,
                            title=f"{title} ({method}, by {color_by})")
