"""Commands over corpora and the catalog: corpora, prepare, build, probe, relocate, stats."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from curate.cli.common import DbOption, app, console, err_console, table_of
from curate.errors import CurateError


@app.command()
def corpora(
    markdown: bool = typer.Option(False, "--markdown", help="Print the docs/corpora.md table."),
) -> None:
    """List the built-in corpus recipes."""
    from curate.recipes.listing import corpora_markdown
    from curate.recipes.spec import builtin_corpus_recipes, load_recipe

    if markdown:
        print(corpora_markdown(), end="")
        return

    table = Table(title="corpus recipes")
    for column in ("name", "kind", "languages", "title"):
        table.add_column(column)
    for name in builtin_corpus_recipes():
        recipe = load_recipe(name)
        table.add_row(name, recipe.kind, ",".join(recipe.languages), recipe.title)
    console.print(table)


def _print_probe(summary) -> None:
    from curate.audio.probe import HEAVY_CLIP_RATIO

    counts = ", ".join(f"{k} {v}" for k, v in summary.statuses.items())
    console.print(f"{summary.corpus}: probed {summary.probed}, unchanged {summary.skipped}; "
                  f"status: {counts}; heavily clipped (>= {HEAVY_CLIP_RATIO * 100:g} % of "
                  f"samples at full scale): {summary.clipped}")


def _check_level(level: str) -> None:
    """``--level`` is a probe level (checked before any work)."""
    from curate.audio.runner import LEVELS

    if level not in LEVELS:
        raise CurateError(f"--level is {level!r}; use header (read the header only) or full "
                          "(decode every file)")


def _check_engine(engine: str, address: Optional[str], results: Optional[str] = None) -> None:
    """``--engine`` (and the Ray-only options) checked before any work; for ``ray``, Ray
    must be importable."""
    from curate.scale.ray_engine import ENGINES, check_reachable, require_ray

    if engine not in ENGINES:
        raise CurateError(f"--engine is {engine!r}; use pool (worker processes on this "
                          f"machine) or ray (Ray Data, local or a cluster)")
    if engine != "ray":
        for option, value in (("--address", address), ("--results", results)):
            if value is not None:
                raise CurateError(f"{option} only applies to --engine ray; add --engine ray "
                                  f"or leave {option} out")
        return
    require_ray()
    if address:
        check_reachable(address)


EngineOption = typer.Option("pool", "--engine", help="pool (processes on this machine) or "
                                                     "ray (Ray Data; see docs/scale.md).")
AddressOption = typer.Option(None, "--address", help="Ray cluster address (auto, HOST:PORT "
                                                     "or ray://HOST:PORT); default a local "
                                                     "Ray instance.")


def _check_prepare_options(level: str, restored_as: str, name: Optional[str]) -> None:
    """The options of prepare/build, checked before any work (nothing read or written)."""
    from curate.names import check_corpus_name
    from curate.recipes.engine import LABEL_POLICIES

    _check_level(level)
    if restored_as not in LABEL_POLICIES:
        raise CurateError(f"--restored-as is {restored_as!r}; use spoof (the default) or "
                          "bonafide")
    if name is not None:
        check_corpus_name(name, "--name")


def reprepare_notes(summary) -> list[str]:
    """What a re-prepare changed beyond the rows it read: a moved root, rows it no
    longer finds (kept as 'removed' when selections hold them) and those selections."""
    notes = []
    if summary.old_root is not None:
        notes.append(f"{summary.corpus}: root moved from {summary.old_root} to "
                     f"{summary.root}")
    if summary.deleted:
        notes.append(f"{summary.corpus}: {summary.deleted} utterance(s) the recipe no longer "
                     f"finds were deleted (no selection holds them)")
    if summary.removed:
        held = ", ".join(f"{name} ({n})" for name, n in summary.affected)
        notes.append(f"{summary.corpus}: {summary.removed} utterance(s) the recipe no longer "
                     f"finds are kept with status 'removed' because selections hold them: "
                     f"{held}; commands reading those selections stop until you refreeze "
                     f"them or pass --skip-unavailable")
    return notes


def _prepare_one(db, recipe_name: str, root: Path, name: Optional[str], jobs: int,
                 level: str, probe: bool, base_dir: Path | None = None,
                 restored_as: str = "spoof", engine: str = "pool",
                 address: Optional[str] = None):
    from curate.audio.runner import probe_corpus
    from curate.catalog.db import open_catalog
    from curate.progress import progress_bar
    from curate.recipes.engine import insert_corpus, read_corpus_data
    from curate.recipes.spec import load_recipe

    _check_prepare_options(level, restored_as, name)
    if probe:
        _check_engine(engine, address)
    recipe = load_recipe(recipe_name, base_dir=base_dir)
    data = read_corpus_data(recipe, root, corpus=name, restored_label=restored_as)
    with open_catalog(db) as catalog:
        summary = insert_corpus(catalog, data.rows, recipe, root, corpus=name,
                                segments=data.segments, restored_label=restored_as)
        console.print(f"{summary.corpus}: {summary.rows} utterances ({summary.bonafide} "
                      f"bonafide, {summary.spoof} spoof), {summary.missing} missing files")
        for note in reprepare_notes(summary):
            err_console.print(f"note: {note}", highlight=False)
        if probe:
            with progress_bar(f"probe {summary.corpus}") as bar:
                result = probe_corpus(catalog, summary.corpus, level=level, jobs=jobs,
                                      progress=bar, engine=engine, address=address)
            _print_probe(result)
            return result
    return None


@app.command()
def prepare(
    corpus: str = typer.Argument(..., help="Built-in recipe name or a recipe .toml file."),
    root: Path = typer.Argument(..., help="The corpus folder as unpacked."),
    db: Optional[Path] = DbOption,
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Probe worker processes."),
    name: Optional[str] = typer.Option(None, help="Catalog name for this corpus, a lowercase "
                                                  "identifier (default: the recipe's name)."),
    level: str = typer.Option("full", help="Probe level: header (fast) or full (decode)."),
    no_probe: bool = typer.Option(False, "--no-probe", help="Read the recipe only."),
    restored_as: str = typer.Option("spoof", help="Label policy for restored and "
                                                  "copy-synthesised speech: spoof or bonafide."),
    engine: str = EngineOption,
    address: Optional[str] = AddressOption,
) -> None:
    """Read one corpus into the catalog and probe its audio (safe to re-run)."""
    _prepare_one(db, corpus, root, name, jobs, level, not no_probe, restored_as=restored_as,
                 engine=engine, address=address)


@app.command()
def build(
    recipe: Path = typer.Argument(..., help="A build file listing corpora and their roots, "
                                            "or the name of a shipped one (antideepfake)."),
    db: Optional[Path] = DbOption,
    jobs: int = typer.Option(1, "--jobs", "-j", min=1),
    level: str = typer.Option("full", help="Probe level: header or full."),
    no_probe: bool = typer.Option(False, "--no-probe"),
    engine: str = EngineOption,
    address: Optional[str] = AddressOption,
    strict: bool = typer.Option(False, "--strict", help="A missing root of an optional entry "
                                                        "is an error too."),
    data_root: Optional[Path] = typer.Option(None, "--data-root",
                                             help="Where the file's relative roots start "
                                                  "(default: its data_root key, else its "
                                                  "folder)."),
) -> None:
    """Prepare several corpora listed in a build file ([[corpus]] recipe/root/name).

    Every entry is checked (recipe, root, name) before the first one is prepared; an
    error names the [[corpus]] entry it comes from. Entries marked optional whose root
    does not exist are listed and skipped (an error with --strict).
    """
    from curate.recipes.build import find_build, load_build, missing_roots

    _check_level(level)
    if not no_probe:
        _check_engine(engine, address)
    recipe = find_build(recipe)
    entries = load_build(recipe, data_root=data_root)
    present, missing = missing_roots(entries, strict=strict)
    _check_build_entries(entries, recipe.parent, skip=missing)
    for entry in present:
        try:
            _prepare_one(db, entry.recipe, entry.root, entry.name, jobs, level, not no_probe,
                         base_dir=recipe.parent, engine=engine, address=address)
        except CurateError as exc:
            raise _entry_error(entry, exc) from exc
    if missing:
        err_console.print(f"{recipe}: prepared {len(present)} of {len(entries)} corpora; "
                          f"{len(missing)} optional root(s) do not exist (not prepared; "
                          f"--strict makes this an error):", highlight=False, markup=False)
        for entry in missing:
            err_console.print(f"  missing: [[corpus]] #{entry.index} {entry.recipe}: "
                              f"{entry.root}", highlight=False, markup=False)


def _entry_error(entry, exc: CurateError) -> CurateError:
    """``exc`` with the build entry it comes from in front (same exit code)."""
    error = CurateError(f"{entry.describe()}: {exc}")
    error.exit_code = exc.exit_code
    return error


def _check_build_entries(entries, base_dir: Path, skip=()) -> None:
    """Load every entry's recipe and check its root (except for the ``skip`` entries,
    whose roots are missing) and catalog name before any work."""
    from curate.recipes.spec import load_recipe

    seen: dict[str, int] = {}  # corpus name -> index of the entry that uses it
    for entry in entries:
        try:
            recipe_name = load_recipe(entry.recipe, base_dir=base_dir).name
            if entry not in skip and not Path(entry.root).expanduser().is_dir():
                raise CurateError("its root is not a folder; give the corpus folder as "
                                  "unpacked (a relative root is relative to the build file, "
                                  "or to its data_root / --data-root)")
        except CurateError as exc:
            raise _entry_error(entry, exc) from exc
        corpus = entry.name or recipe_name
        if corpus in seen:
            raise CurateError(f"{entry.describe()}: corpus name {corpus!r} is already used by "
                              f"[[corpus]] #{seen[corpus]}; give one of them another 'name'")
        seen[corpus] = entry.index


@app.command()
def probe(
    db: Optional[Path] = DbOption,
    corpus: Optional[List[str]] = typer.Option(None, "--corpus", "-c",
                                               help="Corpus to probe (repeatable; default all)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1,
                             help="Worker processes (with --engine ray and no --address: "
                                  "CPUs of the local Ray instance)."),
    level: str = typer.Option("full", help="header (fast: soundfile header) or full (decode)."),
    force: bool = typer.Option(False, help="Probe files even when unchanged."),
    batch_size: int = typer.Option(256, min=1, help="Files per committed batch (pool) or per "
                                                    "Ray task (ray)."),
    strict: bool = typer.Option(False, help="Exit 1 when any file is not ok."),
    engine: str = EngineOption,
    address: Optional[str] = AddressOption,
    results: Optional[str] = typer.Option(
        None, "--results", help="--engine ray: where workers write their Parquet parts (a "
                                "shared folder or s3:// URI; default next to the catalog)."),
) -> None:
    """(Re)probe audio facts; resumable, only changed files are read again."""
    from curate.audio.runner import probe_catalog
    from curate.catalog.db import open_catalog
    from curate.progress import progress_bar

    _check_level(level)
    _check_engine(engine, address, results)
    bad = 0
    with open_catalog(db) as catalog:
        with progress_bar("probe") as bar:
            summaries = probe_catalog(catalog, corpus, level=level, jobs=jobs, force=force,
                                      batch_size=batch_size, progress=bar, engine=engine,
                                      address=address, results=results)
    for summary in summaries:
        _print_probe(summary)
        bad += sum(v for k, v in summary.statuses.items() if k != "ok")
    if strict and bad:
        err_console.print(f"--strict: {bad} file(s) are not ok")
        raise typer.Exit(1)


@app.command()
def relocate(
    corpus: str = typer.Argument(..., help="Corpus name in the catalog."),
    root: Path = typer.Argument(..., help="Its new root folder."),
    db: Optional[Path] = DbOption,
) -> None:
    """Point a corpus at a new root (paths in the catalog are relative to it)."""
    from curate.catalog.db import open_catalog
    from curate.catalog.ops import set_root

    with open_catalog(db) as catalog:
        set_root(catalog, corpus, root)
    console.print(f"{corpus}: root is now {root.resolve()}")


@app.command()
def stats(
    db: Optional[Path] = DbOption,
    by: str = typer.Option("corpus,language,label", help="Comma-separated columns."),
    corpus: Optional[str] = typer.Option(None, help="Only this corpus."),
    selection: Optional[str] = typer.Option(
        None, help="Break one selection down instead (default --by "
                   "corpus,language,label,generator,split)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records."),
    hours: bool = typer.Option(False, "--hours", help="Hours genuine / artifact per group "
                                                      "and its languages (label becomes "
                                                      "columns), with a total row."),
) -> None:
    """Counts and hours of the catalog (or of one selection), grouped."""
    from curate.catalog.db import open_catalog
    from curate.catalog.ops import catalog_stats, hours_table
    from curate.select.freeze import selection_stats

    columns = tuple(c.strip() for c in by.split(",") if c.strip())
    if hours and selection is not None:
        raise CurateError("--hours tabulates the catalog; leave out --selection (or drop "
                          "--hours to break the selection down)")
    with open_catalog(db, read_only=True) as catalog:
        if hours:
            frame = hours_table(catalog, columns, corpus=corpus)
        elif selection is not None:
            if by == "corpus,language,label":
                columns = ("corpus", "language", "label", "generator", "split")
            frame = selection_stats(catalog, selection, columns)
        else:
            frame = catalog_stats(catalog, columns, corpus=corpus)
    if as_json:
        print(frame.to_json(orient="records"))
    elif hours:
        shown = frame.copy()
        if "languages" in shown.columns:  # long lists (FLEURS: 102) shortened on screen
            shown["languages"] = [_short_list(v) for v in shown["languages"]]
        console.print(table_of(shown, title="hours (genuine = bonafide, artifact = spoof)"))
    else:
        console.print(table_of(frame, title="catalog"))


def _short_list(text: str, keep: int = 6) -> str:
    """``a, b, c, ...`` -> the first ``keep`` items and ``(+N)``."""
    items = [t for t in str(text).split(", ") if t]
    return ", ".join(items[:keep]) + (f" (+{len(items) - keep})" if len(items) > keep else "")
