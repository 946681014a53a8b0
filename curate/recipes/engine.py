"""The recipe engine: run a recipe over a corpus root, validate, insert.

``read_corpus`` runs the recipe (SQL in an in-memory DuckDB, or a Python function)
and returns a validated manifest DataFrame; ``insert_corpus`` replaces that
corpus's rows in the catalog in one transaction, carrying probe results over for
files whose path did not change (the probe then re-checks size and mtime).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import duckdb
import numpy as np
import pandas as pd

from curate.catalog import sql as catalog_sql
from curate.catalog.columns import LABELS, RECIPE_COLUMNS, REQUIRED_RECIPE_COLUMNS
from curate.catalog.db import Catalog
from curate.errors import CurateError
from curate.recipes.languages import to_iso639_3
from curate.recipes.readers import duckdb_error
from curate.recipes.spec import Recipe

_EXAMPLES = 5


# Artifact kinds whose label the label policy decides (see docs/recipes.md).
POLICY_ARTIFACTS: tuple[str, ...] = ("restored", "copy_synthesis")
LABEL_POLICIES: tuple[str, ...] = ("spoof", "bonafide")
SEGMENT_COLUMNS: tuple[str, ...] = ("utt_id", "start_s", "end_s", "label")


@dataclass(frozen=True)
class RecipeOutput:
    """What a Python recipe may return instead of a bare DataFrame of rows.

    ``segments`` (partially spoofed corpora): columns utt_id, start_s, end_s
    (seconds) and label (bonafide | spoof), with the same utt_ids as ``rows``.
    """

    rows: pd.DataFrame
    segments: pd.DataFrame | None = None


@dataclass(frozen=True)
class ReadSummary:
    """What a (re-)prepare did to one corpus's rows.

    Attributes:
        removed: rows the recipe no longer finds that frozen selections hold; they
            stay with status ``removed`` (facts kept) so the selections stay whole.
        deleted: rows the recipe no longer finds that no selection holds (gone).
        affected: selection name -> how many of its items this re-prepare removed.
        old_root: the corpus's previous root when this prepare moved it, else None.
    """

    corpus: str
    rows: int
    missing: int
    bonafide: int
    spoof: int
    removed: int = 0
    deleted: int = 0
    affected: tuple[tuple[str, int], ...] = ()
    old_root: str | None = None
    root: str | None = None  # the root the corpus has now


def _builtin_functions() -> dict[str, Callable]:
    from curate.recipes import generic

    return {"table": generic.table, "folder": generic.folder}


def resolve_function(spec: str, source: str) -> Callable:
    """A recipe's ``function``: a built-in name or ``package.module:function``."""
    builtins = _builtin_functions()
    if spec in builtins:
        return builtins[spec]
    if ":" not in spec:
        raise CurateError(
            f"{source}: function {spec!r} is not built in ({', '.join(builtins)}); "
            f"name another as 'package.module:function'"
        )
    module_name, func_name = spec.split(":", 1)
    try:
        module = importlib.import_module(module_name)
        return getattr(module, func_name)
    except (ImportError, AttributeError) as exc:
        raise CurateError(f"{source}: cannot import function {spec!r} ({exc})") from None


def _expand_inputs(recipe: Recipe, root: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for spec in recipe.inputs:
        matches = sorted(str(p) for p in root.glob(spec.glob) if p.is_file())
        if not matches:
            hint = f" ROOT should be: {recipe.layout}" if recipe.layout else ""
            raise CurateError(
                f"{recipe.source}: no file matches {spec.glob!r} under {root}; check "
                f"ROOT.{hint}"
            )
        found[spec.name] = matches
    return found


def recipe_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the helpers recipes may call: ``iso639_3(x)`` and the
    table macros of ``curate/recipes/macros.sql`` (``blank_fields(files, n)``)."""
    con = duckdb.connect(":memory:")
    con.execute(resources.files("curate.recipes").joinpath("macros.sql").read_text())
    con.create_function(
        "iso639_3", lambda v: to_iso639_3(v), [duckdb.sqltypes.VARCHAR],
        duckdb.sqltypes.VARCHAR, null_handling="special", side_effects=False,
    )
    return con


def _run_sql(recipe: Recipe, root: Path) -> pd.DataFrame:
    available: dict[str, object] = {"root": str(root)}
    available.update(_expand_inputs(recipe, root))
    used = set(re.findall(r"\$([A-Za-z_]\w*)", recipe.sql))
    unknown = sorted(used - set(available))
    if unknown:
        raise CurateError(f"{recipe.source}: the SQL uses ${', $'.join(unknown)}; declare "
                          f"them as [inputs.NAME] globs (or use $root)")
    params = {k: v for k, v in available.items() if k in used}
    con = recipe_connection()
    try:
        return con.execute(recipe.sql, params).df()
    except duckdb.Error as exc:
        raise CurateError(f"{recipe.source}: reading {root} failed: {duckdb_error(exc)}"
                          ) from None
    finally:
        con.close()


def run_recipe(recipe: Recipe, root: Path) -> RecipeOutput:
    """Run ``recipe`` over ``root`` and return its raw output (not yet validated)."""
    if recipe.kind == "generic" and not recipe.options:
        raise CurateError(
            f"{recipe.source} is a generic recipe and needs options: write a TOML with "
            f"base = {recipe.name!r} and an [options] table (docs/recipes.md)"
        )
    if recipe.sql is not None:
        return RecipeOutput(_run_sql(recipe, root))
    function = resolve_function(recipe.function, recipe.source)
    output = function(root, dict(recipe.options), recipe)
    if isinstance(output, pd.DataFrame):
        return RecipeOutput(output)
    if not isinstance(output, RecipeOutput):
        raise CurateError(f"{recipe.source}: function {recipe.function!r} must return a "
                          f"pandas DataFrame or RecipeOutput, got {type(output).__name__}")
    return output


def _examples(values) -> str:
    values = list(values)
    more = f" (+{len(values) - _EXAMPLES} more)" if len(values) > _EXAMPLES else ""
    return ", ".join(repr(v) for v in values[:_EXAMPLES]) + more


def _namespace(series: pd.Series, corpus: str) -> pd.Series:
    text = series.astype("string")
    prefix = corpus + ":"
    return text.where(text.isna() | text.str.contains(":", regex=False), prefix + text)


def validate_rows(frame: pd.DataFrame, recipe: Recipe, corpus: str, root: Path, *,
                  restored_label: str = "spoof") -> pd.DataFrame:
    """Check and normalise recipe rows into the manifest contract.

    Checks: required columns, no unknown columns, label vocabulary, non-empty and
    relative paths, unique ids, language codes. Normalises: ``utt_id`` and
    ``generator`` get the ``corpus:`` namespace when they have none, languages
    map to ISO 639-3, and files that do not exist get ``status = 'missing'``.
    """
    src = recipe.source
    missing_cols = [c for c in REQUIRED_RECIPE_COLUMNS if c not in frame.columns]
    if missing_cols:
        raise CurateError(f"{src}: the recipe returned no column(s) {', '.join(missing_cols)}")
    unknown = sorted(set(frame.columns) - set(RECIPE_COLUMNS))
    if unknown:
        raise CurateError(f"{src}: the recipe returned unknown column(s) "
                          f"{', '.join(unknown)}; allowed: {', '.join(RECIPE_COLUMNS)}")
    out = pd.DataFrame(index=frame.index)
    for column in RECIPE_COLUMNS:
        out[column] = frame[column].astype("string") if column in frame.columns else pd.NA
    out = out.astype("string")
    out["corpus"] = corpus
    if len(out) == 0:
        raise CurateError(f"{src}: the recipe found no utterances under {root}; check ROOT"
                          + (f" ({recipe.layout})" if recipe.layout else ""))

    if restored_label not in LABEL_POLICIES:
        raise ValueError(f"restored_label must be one of {LABEL_POLICIES}, got "
                         f"{restored_label!r}")
    policy = out["artifact"].isin(POLICY_ARTIFACTS).fillna(False).astype(bool)
    out.loc[policy, "label"] = restored_label
    bad_label = ~out["label"].isin(LABELS)
    if bad_label.any():
        from curate.recipes.label_errors import bad_label_message

        bad = out.loc[bad_label]
        raise CurateError(bad_label_message(src, bad["label"], bad["label_raw"],
                                            bad["utt_id"]))
    empty_path = out["path"].isna() | (out["path"].str.strip() == "")
    if empty_path.any():
        raise CurateError(f"{src}: {int(empty_path.sum())} row(s) have no path "
                          f"(e.g. utt_id {_examples(out.loc[empty_path, 'utt_id'])})")
    root_text = str(root).rstrip("/") + "/"
    absolute = out["path"].str.startswith("/")
    if absolute.any():
        inside = out.loc[absolute, "path"].str.startswith(root_text)
        if not inside.all():
            outside = out.loc[absolute, "path"][~inside]
            raise CurateError(f"{src}: paths must lie under ROOT {root}; found "
                              f"{_examples(outside)}; list only files under ROOT, or pass "
                              f"the folder that holds them all as ROOT")
        out.loc[absolute, "path"] = out.loc[absolute, "path"].str.slice(len(root_text))
    dotted = out["path"].str.contains(r"(?:^|/)\.\.(?:/|$)", regex=True).fillna(False)
    if dotted.any():  # 'x/../../y' leaves ROOT as surely as an absolute path elsewhere
        normal = out.loc[dotted, "path"].map(os.path.normpath)
        leaves = (normal == "..") | normal.str.startswith("../")
        if leaves.any():
            rows = out.loc[leaves[leaves].index]
            raise CurateError(
                f"{src}: paths must lie under ROOT {root}; {int(leaves.sum())} row(s) leave "
                f"it through '..' (utt_id {_examples(rows['utt_id'])}: path "
                f"{_examples(rows['path'])}); list only files under ROOT, or pass the folder "
                f"that holds them all as ROOT")
    empty_id = out["utt_id"].isna() | (out["utt_id"].str.strip() == "")
    if empty_id.any():
        raise CurateError(f"{src}: {int(empty_id.sum())} row(s) have no utt_id "
                          f"(e.g. path {_examples(out.loc[empty_id, 'path'])})")
    out["utt_id"] = _namespace(out["utt_id"], corpus)
    out["generator"] = _namespace(out["generator"], corpus)
    dup = out["utt_id"].duplicated(keep=False)
    if dup.any():
        raise CurateError(f"{src}: {int(dup.sum())} rows share an utt_id: "
                          f"{_examples(out.loc[dup, 'utt_id'].unique())}; make ids unique")

    languages = out["language"].fillna("und")
    mapped = {v: to_iso639_3(v, strict=True) for v in languages.unique()}
    unmapped = sorted(str(k) for k, v in mapped.items() if v is None)
    if unmapped:
        raise CurateError(
            f"{src}: unknown language value(s) {_examples(unmapped)}; use ISO 639-1/3 "
            f"codes or locales, or map them in the recipe"
        )
    out["language"] = languages.map(mapped).astype("string")

    exists = np.fromiter((os.path.exists(os.path.join(root, p)) for p in out["path"]),
                         dtype=bool, count=len(out))
    out["status"] = np.where(exists, "pending", "missing")
    out["error"] = np.where(exists, None, "file not found: " + out["path"].to_numpy(dtype=object))
    return out.reset_index(drop=True)


def validate_segments(segments: pd.DataFrame, rows: pd.DataFrame, recipe: Recipe,
                      corpus: str) -> pd.DataFrame:
    """Check segment labels against their utterances; namespace their utt_ids."""
    src = recipe.source
    missing = [c for c in SEGMENT_COLUMNS if c not in segments.columns]
    if missing:
        raise CurateError(f"{src}: segments lack column(s) {', '.join(missing)}")
    out = segments[list(SEGMENT_COLUMNS)].copy()
    out["utt_id"] = _namespace(out["utt_id"].astype("string"), corpus)
    out["start_s"] = pd.to_numeric(out["start_s"], errors="coerce")
    out["end_s"] = pd.to_numeric(out["end_s"], errors="coerce")
    bad = out["start_s"].isna() | out["end_s"].isna() | (out["start_s"] < 0) | \
        (out["end_s"] <= out["start_s"])
    if bad.any():
        raise CurateError(f"{src}: {int(bad.sum())} segment(s) have no valid start_s < end_s "
                          f"(e.g. {_examples(out.loc[bad, 'utt_id'])})")
    if not out["label"].isin(LABELS).all():
        raise CurateError(f"{src}: segment labels must be 'bonafide' or 'spoof'; found "
                          f"{_examples(out.loc[~out['label'].isin(LABELS), 'label'].unique())}")
    unknown = ~out["utt_id"].isin(rows["utt_id"])
    if unknown.any():
        raise CurateError(f"{src}: segments name utterances the recipe did not return: "
                          f"{_examples(out.loc[unknown, 'utt_id'].unique())}")
    return out.sort_values(["utt_id", "start_s"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class CorpusData:
    """Validated rows (and segment labels, where the corpus has them) of one corpus."""

    rows: pd.DataFrame
    segments: pd.DataFrame | None = None


def read_corpus_data(recipe: Recipe, root: Path | str, *, corpus: str | None = None,
                     restored_label: str = "spoof") -> CorpusData:
    """Run and validate ``recipe`` over ``root``: rows and segments.

    ``restored_label`` is the label policy for restored and copy-synthesised speech
    (artifact ``restored`` / ``copy_synthesis``): ``spoof`` (default) or ``bonafide``.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        hint = f" ({recipe.layout})" if recipe.layout else ""
        raise CurateError(f"ROOT {root} is not a folder; pass the corpus folder{hint}")
    name = corpus or recipe.name
    output = run_recipe(recipe, root)
    rows = validate_rows(output.rows, recipe, name, root, restored_label=restored_label)
    segments = None
    if output.segments is not None:
        segments = validate_segments(output.segments, rows, recipe, name)
    return CorpusData(rows, segments)


def read_corpus(recipe: Recipe, root: Path | str, *, corpus: str | None = None,
                restored_label: str = "spoof") -> pd.DataFrame:
    """Run and validate ``recipe`` over ``root``; returns the manifest rows."""
    return read_corpus_data(recipe, root, corpus=corpus, restored_label=restored_label).rows


def insert_corpus(catalog: Catalog, rows: pd.DataFrame, recipe: Recipe, root: Path | str,
                  *, corpus: str | None = None, segments: pd.DataFrame | None = None,
                  restored_label: str = "spoof") -> ReadSummary:
    """Replace ``corpus``'s rows (and segments) with the validated ones, atomically.

    Rows the recipe no longer returns are deleted, except those a frozen selection
    references: they stay with ``status = 'removed'`` and their facts, so a frozen
    selection resolves to the same utterances forever (commands that read its audio
    then stop and say so). ``corpora.recipe_hash`` covers the label policy too when
    it is not the default.
    """
    name = corpus or recipe.name
    root = str(Path(root).expanduser().resolve())
    new = rows.copy()
    new["status"] = new["status"].astype("string")
    new["error"] = new["error"].astype("string")
    with catalog.transaction() as con:
        con.register("_new_rows", new)
        try:
            previous = con.execute(catalog_sql.CORPUS_ROOT, [name]).fetchone()
            con.execute(catalog_sql.CARRY_PROBES, [name])
            con.execute(catalog_sql.FIND_GONE, [name])
            removed, _, deleted = con.execute(catalog_sql.GONE_COUNTS).fetchone()
            affected = tuple((s, int(n)) for s, n in
                             con.execute(catalog_sql.AFFECTED_SELECTIONS).fetchall())
            con.execute(catalog_sql.MARK_REMOVED)
            con.execute(catalog_sql.DELETE_CORPUS_SEGMENTS, [name])
            con.execute(catalog_sql.DELETE_CORPUS_ROWS, [name])
            con.execute(catalog_sql.INSERT_CORPUS_ROWS)
            if segments is not None and len(segments):
                con.register("_new_segments", segments)
                con.execute(catalog_sql.INSERT_SEGMENTS)
                con.unregister("_new_segments")
            recipe_hash = recipe.recipe_hash
            if restored_label != "spoof":
                recipe_hash = hashlib.blake2b(f"{recipe_hash}:restored={restored_label}"
                                              .encode(), digest_size=16).hexdigest()
            con.execute(catalog_sql.UPSERT_CORPUS, [name, root, recipe.source,
                                                    recipe_hash, recipe.title,
                                                    recipe.kind, len(new), recipe.name,
                                                    list(recipe.sources)])
        finally:
            con.unregister("_new_rows")
            con.execute("DROP TABLE IF EXISTS _carry")
            con.execute("DROP TABLE IF EXISTS _gone")
    counts = new["label"].value_counts()
    old_root = previous[0] if previous is not None and previous[0] != root else None
    return ReadSummary(name, len(new), int((new["status"] == "missing").sum()),
                       int(counts.get("bonafide", 0)), int(counts.get("spoof", 0)),
                       removed=int(removed), deleted=int(deleted), affected=affected,
                       old_root=old_root, root=root)
