"""The ``curate`` command line: parse, call the library, print.

User errors (:class:`curate.errors.CurateError`) print one line and exit with the
error's code; nothing here holds logic the library does not expose.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curate.errors import CurateError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Curate, augment and train on corpora for speech deepfake detection.")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DbOption = typer.Option(None, "--db", help="Catalog file (default: $CURATE_DB, else "
                                            "manifests/catalog.duckdb).")


def _table(frame, title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        justify = "right" if frame[column].dtype.kind in "iuf" else "left"
        table.add_column(str(column), justify=justify, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*["" if v is None or v != v else
                        (f"{v:.4g}" if isinstance(v, float) else str(v)) for v in row])
    return table


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
    counts = ", ".join(f"{k} {v}" for k, v in summary.statuses.items())
    console.print(f"{summary.corpus}: probed {summary.probed}, unchanged {summary.skipped}; "
                  f"status: {counts}")


def _prepare_one(db, recipe_name: str, root: Path, name: Optional[str], jobs: int,
                 level: str, probe: bool, base_dir: Path | None = None,
                 restored_as: str = "spoof"):
    from curate.audio.runner import probe_corpus
    from curate.catalog.db import open_catalog
    from curate.progress import progress_bar
    from curate.recipes.engine import insert_corpus, read_corpus_data
    from curate.recipes.spec import load_recipe

    recipe = load_recipe(recipe_name, base_dir=base_dir)
    data = read_corpus_data(recipe, root, corpus=name, restored_label=restored_as)
    with open_catalog(db) as catalog:
        summary = insert_corpus(catalog, data.rows, recipe, root, corpus=name,
                                segments=data.segments, restored_label=restored_as)
        console.print(f"{summary.corpus}: {summary.rows} utterances ({summary.bonafide} "
                      f"bonafide, {summary.spoof} spoof), {summary.missing} missing files")
        if probe:
            with progress_bar(f"probe {summary.corpus}") as bar:
                result = probe_corpus(catalog, summary.corpus, level=level, jobs=jobs,
                                      progress=bar)
            _print_probe(result)
            return result
    return None


@app.command()
def prepare(
    corpus: str = typer.Argument(..., help="Built-in recipe name or a recipe .toml file."),
    root: Path = typer.Argument(..., help="The corpus folder as unpacked."),
    db: Optional[Path] = DbOption,
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Probe worker processes."),
    name: Optional[str] = typer.Option(None, help="Catalog name for this corpus "
                                                  "(default: the recipe's name)."),
    level: str = typer.Option("full", help="Probe level: header (fast) or full (decode)."),
    no_probe: bool = typer.Option(False, "--no-probe", help="Read the recipe only."),
    restored_as: str = typer.Option("spoof", help="Label policy for restored and "
                                                  "copy-synthesised speech: spoof or bonafide."),
) -> None:
    """Read one corpus into the catalog and probe its audio (safe to re-run)."""
    _prepare_one(db, corpus, root, name, jobs, level, not no_probe, restored_as=restored_as)


@app.command()
def build(
    recipe: Path = typer.Argument(..., help="A build file listing corpora and their roots."),
    db: Optional[Path] = DbOption,
    jobs: int = typer.Option(1, "--jobs", "-j", min=1),
    level: str = typer.Option("full", help="Probe level: header or full."),
    no_probe: bool = typer.Option(False, "--no-probe"),
) -> None:
    """Prepare several corpora listed in a build file ([[corpus]] recipe/root/name)."""
    from curate.recipes.build import load_build

    for entry in load_build(recipe):
        _prepare_one(db, entry.recipe, entry.root, entry.name, jobs, level, not no_probe,
                     base_dir=recipe.parent)


@app.command()
def probe(
    db: Optional[Path] = DbOption,
    corpus: Optional[List[str]] = typer.Option(None, "--corpus", "-c",
                                               help="Corpus to probe (repeatable; default all)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1),
    level: str = typer.Option("full", help="header (fast: soundfile header) or full (decode)."),
    force: bool = typer.Option(False, help="Probe files even when unchanged."),
    batch_size: int = typer.Option(256, min=1, help="Files per committed batch."),
    strict: bool = typer.Option(False, help="Exit 1 when any file is not ok."),
) -> None:
    """(Re)probe audio facts; resumable, only changed files are read again."""
    from curate.audio.runner import probe_catalog
    from curate.catalog.db import open_catalog
    from curate.progress import progress_bar

    bad = 0
    with open_catalog(db) as catalog:
        with progress_bar("probe") as bar:
            summaries = probe_catalog(catalog, corpus, level=level, jobs=jobs, force=force,
                                      batch_size=batch_size, progress=bar)
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
) -> None:
    """Counts and hours of the catalog (or of one selection), grouped."""
    from curate.catalog.db import open_catalog
    from curate.catalog.ops import catalog_stats
    from curate.select.freeze import selection_stats

    columns = tuple(c.strip() for c in by.split(",") if c.strip())
    with open_catalog(db, read_only=True) as catalog:
        if selection is not None:
            if by == "corpus,language,label":
                columns = ("corpus", "language", "label", "generator", "split")
            frame = selection_stats(catalog, selection, columns)
        else:
            frame = catalog_stats(catalog, columns, corpus=corpus)
    if as_json:
        print(frame.to_json(orient="records"))
    else:
        console.print(_table(frame, title="catalog"))


def _error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                      soft_wrap=True)


@app.command()
def select(
    spec: Path = typer.Argument(..., help="A selection spec TOML file."),
    db: Optional[Path] = DbOption,
    memory_limit: Optional[str] = typer.Option(
        None, envvar="CURATE_MEMORY_LIMIT",
        help="Cap DuckDB's memory, e.g. 3GB (it spills to disk beyond)."),
) -> None:
    """Freeze a selection (filter, dedup, quota, balance, holdout, split) into the catalog."""
    from curate.catalog.db import open_catalog
    from curate.select.freeze import freeze
    from curate.select.spec import load_selection

    parsed = load_selection(spec)
    with open_catalog(db) as catalog:
        catalog.set_memory_limit(memory_limit)
        frozen = freeze(catalog, parsed)
    console.print(_table(frozen.splits, title=f"selection {frozen.name} "
                                             f"({frozen.n_items} items, {frozen.spec_hash[:12]})"))


@app.command()
def selections(db: Optional[Path] = DbOption,
               as_json: bool = typer.Option(False, "--json")) -> None:
    """List frozen selections with counts and hours per split."""
    from curate.catalog.db import open_catalog
    from curate.select.freeze import list_selections

    with open_catalog(db, read_only=True) as catalog:
        frame = list_selections(catalog)
    if as_json:
        print(frame.to_json(orient="records", date_format="iso"))
    else:
        console.print(_table(frame, title="selections"))


@app.command()
def leakage(
    selection: str = typer.Argument(..., help="A frozen selection."),
    against: Optional[List[str]] = typer.Option(
        None, "--against", help="A selection or corpus to compare with (repeatable)."),
    db: Optional[Path] = DbOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Shared speakers, sources and audio across splits; exit 3 when leakage is found."""
    from curate.catalog.db import open_catalog
    from curate.select.leakage import leakage_report

    with open_catalog(db, read_only=True) as catalog:
        report = leakage_report(catalog, selection, against or [])
    if as_json:
        print(report.table.to_json(orient="records"))
    else:
        console.print(_table(report.table, title=f"leakage of {selection}"))
        console.print("clean" if report.clean else "leakage found")
    if not report.clean:
        raise typer.Exit(3)


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_out"), help="Output folder (corpus, catalog, report)."),
    quick: bool = typer.Option(False, help="Smaller corpus, fewer steps, one seed (minutes)."),
    seed: int = typer.Option(0, help="Seed of the corpus, selection and training."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Probe worker processes."),
) -> None:
    """The embedded default end to end: corpus, catalog, selection, ablation, report."""
    from curate.demo.run import run_demo
    from curate.progress import progress_bar

    outcome = run_demo(out, quick=quick, seed=seed, jobs=jobs, say=console.print,
                       progress_factory=progress_bar)
    console.print(_table(outcome.results, title=f"{outcome.ablation}: test split (mean over "
                                                "seeds)"))
    console.print(f"catalog:  {outcome.db}\nablation: {outcome.out / 'ablation.toml'}\n"
                  f"report:   {outcome.report} (and report.html)")


@app.command()
def export(
    selection: str = typer.Argument(..., help="A frozen selection."),
    fmt: str = typer.Option(..., "--format", "-f", help="lhotse, nemo, hf, webdataset, kaldi, "
                                                        "asvspoof, antideepfake or parquet."),
    out: Path = typer.Option(..., "--out", help="Output folder (new or empty)."),
    path_root: Optional[Path] = typer.Option(None, "--path-root",
                                             help="Write paths relative to this folder."),
    copy_audio: bool = typer.Option(False, "--copy-audio",
                                    help="Copy the audio into OUT (hf: embed its bytes)."),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate",
                                              help="Transcode to this rate, 16-bit WAV "
                                                   "(implies --copy-audio)."),
    shard_size: int = typer.Option(1000, "--shard-size", min=1,
                                   help="Samples per webdataset shard / rows per hf file."),
    split: Optional[List[str]] = typer.Option(None, "--split",
                                              help="Only this split (repeatable; default all)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a previous export."),
    db: Optional[Path] = DbOption,
) -> None:
    """Write a frozen selection in a toolkit's format (see docs/exports.md)."""
    from curate.catalog.db import open_catalog
    from curate.export import export_selection
    from curate.progress import progress_bar

    with open_catalog(db, read_only=True) as catalog:
        with progress_bar(f"export {selection} ({fmt})") as bar:
            summary = export_selection(catalog, selection, fmt, out, path_root=path_root,
                                       copy_audio=copy_audio, sample_rate=sample_rate,
                                       shard_size=shard_size, splits=split or (),
                                       overwrite=overwrite, progress=bar)
    counts = ", ".join(f"{name} {n}" for name, n in summary.counts.items())
    skipped = ", ".join(f"{reason} {n}" for reason, n in summary.skipped.items())
    console.print(f"{summary.selection} -> {summary.out} ({summary.format}, "
                  f"{summary.spec_hash[:12]}): {counts}"
                  + (f"; skipped: {skipped}" if skipped else ""), highlight=False)


bench_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="Benchmarks: each prints curate's figure, its baseline and the ratio.")
app.add_typer(bench_app, name="bench")


@bench_app.command("rawboost")
def bench_rawboost_command(
    algo: int = typer.Option(5, "--algo", help="RawBoost algorithm, 1-8."),
    batch: int = typer.Option(32, "--batch", min=1, help="Clips per batch."),
    seconds: float = typer.Option(4.0, "--seconds", help="Clip duration in seconds."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    repeats: int = typer.Option(10, "--repeats", min=1, help="Timed batched calls (median)."),
    threads: int = typer.Option(1, "--threads", min=1,
                                help="torch CPU threads (the reference uses one core)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Batched RawBoost vs the per-utterance numpy/scipy reference on the same input."""
    from curate.bench import bench_rawboost

    result = bench_rawboost(algo, batch, seconds, device, repeats=repeats, threads=threads)
    if as_json:
        print(json.dumps(result))
        return
    console.print(f"rawboost algo {result['algo']}, batch {result['batch']} x "
                  f"{result['seconds']:g} s at {result['sample_rate']} Hz, {result['device']} "
                  f"({result['device_name']}, {result['threads']} CPU thread(s))", highlight=False)
    console.print(f"batched:   {result['value']:10.1f} clips/s   RTF {result['rtf']:.5f}   "
                  f"({result['batch_ms']:.1f} ms per batch)", highlight=False)
    console.print(f"reference: {result['baseline']:10.1f} clips/s   RTF "
                  f"{result['rtf_reference']:.5f}   (numpy/scipy, one utterance at a time)",
                  highlight=False)
    console.print(f"ratio:     {result['ratio']:10.1f}x", highlight=False)


@bench_app.command("probe")
def bench_probe_command(
    files: int = typer.Option(400, "--files", min=1, help="Synthetic FLAC files."),
    seconds: float = typer.Option(4.0, "--seconds", help="File duration in seconds."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Probe worker processes."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """`curate probe` (parallel, committed to the catalog) vs a plain per-file loop."""
    from curate.audio.bench import bench_probe

    result = bench_probe(files, seconds, jobs=jobs)
    if as_json:
        print(json.dumps(result))
        return
    console.print(f"probe: {result['value']:.1f} files/s with {jobs} job(s) "
                  f"({result['audio_hours_per_hour']:.0f} h of audio per hour); plain loop "
                  f"{result['baseline']:.1f} files/s; ratio {result['ratio']:.2f}x",
                  highlight=False)


@bench_app.command("select")
def bench_select_command(
    rows: int = typer.Option(10_000_000, "--rows", min=100, help="Synthetic catalog rows."),
    workdir: Path = typer.Option(Path("manifests/bench"), help="Where the synthetic catalog "
                                                               "is built (and reused)."),
    memory_limit: Optional[str] = typer.Option("3GB", help="DuckDB memory limit."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the pandas run."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Freezing a selection in DuckDB vs plain pandas over a synthetic catalog."""
    from curate.select.bench import bench_select, describe

    result = bench_select(rows, workdir=workdir, baseline=not no_baseline,
                          memory_limit=memory_limit)
    print(json.dumps(result) if as_json else describe(result))


@bench_app.command("codec")
def bench_codec_command(
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    batch: int = typer.Option(32, "--batch", min=1, help="Clips per batch."),
    seconds: float = typer.Option(4.0, "--seconds", help="Clip duration in seconds."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch CPU threads."),
    quick: bool = typer.Option(False, "--quick", help="One timed repeat (a smoke test)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """G.711 and channel sims batched on the device vs per-clip PyAV; real-codec costs."""
    from curate.augment.bench_codec import bench_codec

    result = bench_codec(device, batch, seconds, threads=threads,
                         **({"repeats": 1, "warmup": 1, "cpu_clips": 2} if quick else {}))
    if as_json:
        print(json.dumps(result))
        return
    console.print(f"g711 batched: {result['value']:.1f} clips/s vs PyAV pcm_mulaw per clip "
                  f"{result['baseline']:.1f} clips/s: {result['ratio']:.1f}x", highlight=False)
    for step, figures in result["tensor"].items():
        console.print(f"  {step:12s} {figures['clips_per_s']:9.1f} clips/s batched, "
                      f"{figures['ratio']:.1f}x its per-clip CPU path", highlight=False)
    for codec, figures in result["codecs"].items():
        console.print(f"  codec {codec:7s} {figures['ms_per_clip']:7.1f} ms per clip on the "
                      f"CPU (RTF {figures['rtf']:.4f})", highlight=False)


@bench_app.command("loader")
def bench_loader_command(
    files: int = typer.Option(48, "--files", min=1, help="Synthetic audio files."),
    seconds: float = typer.Option(8.0, "--seconds", help="File duration in seconds."),
    crop_seconds: float = typer.Option(4.0, "--crop-seconds", help="Training crop, seconds."),
    workers: int = typer.Option(1, "--workers", min=0, help="DataLoader worker processes."),
    source_rate: int = typer.Option(16000, "--source-rate", help="Files' sample rate, Hz."),
    chain: Optional[Path] = typer.Option(None, "--chain", help="An augmentation chain whose "
                                                               "CPU steps run per item."),
    epochs: int = typer.Option(3, "--epochs", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Training loader throughput (decode + crop + CPU steps) vs a naive per-item loader."""
    from curate.train.bench import bench_loader

    result = bench_loader(files, seconds, crop_seconds, source_rate=source_rate,
                          workers=workers, epochs=epochs, chain=str(chain) if chain else None)
    if as_json:
        print(json.dumps(result, default=str))
        return
    console.print(f"loader: {result['value']:.0f} audio-s/s per worker ({result['total']:.0f} "
                  f"in all, {result['workers']} worker(s)); naive loader "
                  f"{result['baseline']:.0f}; ratio {result['ratio']:.2f}", highlight=False)


@bench_app.command("sam")
def bench_sam_command(
    model: str = typer.Option("small_cnn", "--model", help="A registered model."),
    batch: int = typer.Option(16, "--batch", min=1),
    seconds: float = typer.Option(2.0, "--seconds"),
    steps: int = typer.Option(10, "--steps", min=1, help="Timed steps of each kind."),
    adaptive: bool = typer.Option(False, "--adaptive", help="ASAM instead of SAM."),
    device: str = typer.Option("cpu", "--device"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The cost of a SAM (or ASAM) step relative to a plain step (target <= 2.1x)."""
    from curate.train.bench import bench_sam_step

    result = bench_sam_step(model, batch=batch, seconds=seconds, steps=steps,
                            adaptive=adaptive, device=device)
    if as_json:
        print(json.dumps(result, default=str))
        return
    console.print(f"{'ASAM' if adaptive else 'SAM'} step {result['value']:.1f} ms vs plain "
                  f"{result['baseline']:.1f} ms: {result['ratio']:.2f}x (target <= "
                  f"{result['target_max_ratio']}x)", highlight=False)


@app.command()
def augment(
    chain: Path = typer.Argument(..., metavar="CHAIN.toml",
                                 help="An augmentation chain TOML file."),
    paths: List[Path] = typer.Argument(..., metavar="[IN] OUT",
                                       help="IN OUT (a folder of audio and the output "
                                            "folder), or only OUT with --selection."),
    selection: Optional[str] = typer.Option(None, "--selection",
                                            help="Augment this frozen selection instead of IN."),
    split: Optional[str] = typer.Option(None, "--split", help="Only this split of --selection."),
    db: Optional[Path] = DbOption,
    preview: Optional[int] = typer.Option(None, "--preview", min=1,
                                          help="Only the first N files, with before/after "
                                               "spectrogram PNGs in OUT/preview."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override the chain's seed."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Start over instead of resuming OUT/augment_log.jsonl."),
) -> None:
    """Augment a folder (or a selection) offline: mirrored paths, OUT/augment_log.jsonl."""
    from curate.augment.chain import load_chain
    from curate.augment.offline import augment_folder, augment_selection
    from curate.progress import progress_bar

    parsed = load_chain(chain)
    if len(paths) != (1 if selection else 2):
        raise CurateError("give IN OUT, or OUT with --selection NAME (usage: curate augment "
                          "CHAIN.toml IN OUT | CHAIN.toml OUT --selection NAME)")
    for note in parsed.notes:
        err_console.print(f"note: {escape(note)}", highlight=False)
    options = dict(seed=seed, preview=preview, overwrite=overwrite)
    with progress_bar(f"augment ({chain.name})") as bar:
        if selection:
            from curate.catalog.db import open_catalog

            with open_catalog(db, read_only=True) as catalog:
                summary = augment_selection(parsed, catalog, selection, paths[0], split=split,
                                            progress=bar, **options)
        else:
            summary = augment_folder(parsed, paths[0], paths[1], progress=bar, **options)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.step_counts.items())) or "none"
    console.print(f"{summary.out}: {summary.written} written, {summary.skipped} already done, "
                  f"{summary.failed} failed; steps applied: {counts}", highlight=False)
    for rel, reason in summary.errors[:10]:
        err_console.print(f"failed: {escape(rel)}: {escape(reason)}", highlight=False)
    if summary.previews:
        console.print(f"previews: {summary.out / 'preview'}", highlight=False)


@app.command("train")
def train(
    experiment: Path = typer.Argument(..., metavar="EXPERIMENT.toml",
                                      help="An experiment file (recipes/experiments/*.toml)."),
    resume: bool = typer.Option(False, "--resume",
                                help="Continue an unfinished run from its last checkpoint."),
    set_: Optional[List[str]] = typer.Option(None, "--set", metavar="KEY=VALUE",
                                             help="Override a key, e.g. --set sam.enabled=true "
                                                  "(repeatable)."),
    db: Optional[Path] = DbOption,
    out: Optional[Path] = typer.Option(None, "--out", help="Run folders go to OUT/runs/RUN_ID "
                                                           "(default: the file's out key)."),
    force: bool = typer.Option(False, "--force", help="Train again even if the run finished."),
    stop_at: Optional[int] = typer.Option(None, "--stop-at", min=1,
                                          help="Stop after this step with a checkpoint "
                                               "(continue later with --resume)."),
) -> None:
    """Train and evaluate an experiment; records the run, scores and results in the catalog.

    Under torchrun every rank runs this command; rank 0 owns the catalog.
    """
    from curate.catalog.db import open_catalog
    from curate.progress import progress_bar
    from curate.train import distributed
    from curate.train.experiment import load_experiment
    from curate.train.run import run_experiment

    parsed = load_experiment(experiment, set_ or [])
    spec = parsed.run_spec()
    target = out if out is not None else Path(parsed.out)
    ctx = distributed.init_from_env(parsed.device)
    if not ctx.is_main:
        run_experiment(None, spec, target, resume=resume, force=force, stop_at=stop_at)
        return
    with open_catalog(db) as catalog:
        with progress_bar(f"train {spec.name}") as bar:
            callback = (lambda step, total, _loss: bar(step, total)) if bar else None
            outcome = run_experiment(catalog, spec, target, progress=callback, resume=resume,
                                     force=force, stop_at=stop_at)
        if outcome.skipped:
            console.print(f"run {outcome.run_id} already finished: its results "
                          "(use --force to train again)", highlight=False)
        if outcome.status == "stopped":
            console.print(f"run {outcome.run_id} stopped at step {outcome.steps}; continue with "
                          f"`curate train {experiment} --resume`", highlight=False)
            return
        from curate.ablate.report import results_table

        console.print(_table(results_table(catalog, outcome.run_id),
                             title=f"results of run {outcome.run_id}"))
    console.print(f"run folder: {outcome.run_dir}", highlight=False)


@app.command("eval")
def eval_(
    run: str = typer.Argument(..., metavar="RUN", help="A run id (runs.run_id)."),
    on: str = typer.Option(..., "--on", metavar="SELECTION", help="The selection to score."),
    split: str = typer.Option("test", "--split", help="Its split ('all': every split)."),
    db: Optional[Path] = DbOption,
    run_dir: Optional[Path] = typer.Option(None, "--run-dir",
                                           help="The run's folder, if it moved."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, ... (default: "
                                                                "the run's)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
) -> None:
    """Score a selection with a run's model: scores, results per group, a score file."""
    from curate.catalog.db import open_catalog
    from curate.train.run import evaluate_run

    with open_catalog(db) as catalog:
        results = evaluate_run(catalog, run, on, split, run_dir=run_dir, device=device,
                               batch_size=batch_size)
    wide = results.pivot_table(index=["eval_set", "eval_group"], columns="metric",
                               values="value", sort=False).reset_index()
    console.print(_table(wide, title=f"run {run} on {on}"))


@app.command("sharpness")
def sharpness(
    run: Optional[str] = typer.Argument(None, metavar="[RUN]", help="A run id."),
    on: Optional[str] = typer.Option(None, "--on", metavar="SELECTION",
                                     help="The selection to measure on."),
    split: str = typer.Option("test", "--split", help="Its split ('all': every split)."),
    rho: float = typer.Option(0.05, "--rho", help="Perturbation radius."),
    m: int = typer.Option(32, "--m", min=1, help="Utterances per mini-batch."),
    batches: int = typer.Option(20, "--batches", min=0, help="Mini-batches (0: all)."),
    adaptive: bool = typer.Option(False, "--adaptive", help="ASAM perturbation |w|-scaled."),
    seed: int = typer.Option(0, "--seed", help="Seed of the batches."),
    correlate_: bool = typer.Option(False, "--correlate",
                                    help="Correlate stored sharpness with EER across runs "
                                         "and eval sets instead."),
    group: str = typer.Option("all", "--group", help="With --correlate: the eval group "
                                                     "('any': every group)."),
    db: Optional[Path] = DbOption,
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="The run's folder, if it "
                                                                   "moved."),
    device: Optional[str] = typer.Option(None, "--device"),
) -> None:
    """m-sharpness of a run's model per eval group, or its correlation with EER."""
    from curate.catalog.db import open_catalog
    from curate.train.sharpness import correlate, sharpness_run

    if correlate_:
        with open_catalog(db, read_only=True) as catalog:
            frame = correlate(catalog, group=None if group == "any" else group, by_set=True)
        console.print(_table(frame, title=f"sharpness vs EER (group {group})"))
        return
    if run is None or on is None:
        raise CurateError("give RUN --on SELECTION, or --correlate (usage: curate sharpness "
                          "RUN --on SELECTION [--split test] [--rho 0.05] [--m 32])")
    with open_catalog(db) as catalog:
        table = sharpness_run(catalog, run, on, split, rho=rho, m=m, batches=batches or None,
                              adaptive=adaptive, seed=seed, run_dir=run_dir, device=device)
    wide = table.pivot_table(index=["eval_set", "eval_group"], columns="metric",
                             values="value", sort=False).reset_index()
    console.print(_table(wide, title=f"m-sharpness of run {run} on {on}"))


@app.command()
def ablate(
    ablation: Path = typer.Argument(..., metavar="ABLATION.toml", help="An ablation file."),
    db: Optional[Path] = DbOption,
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Runs in parallel processes."),
    out: Optional[Path] = typer.Option(None, "--out", help="Runs go to OUT/runs, the report "
                                                           "to OUT/report (default: the "
                                                           "ablation file's folder)."),
    report_only: bool = typer.Option(False, "--report-only",
                                      help="Only (re)write the report from the catalog."),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="List the runs and the data each sees; train nothing."),
) -> None:
    """Run an ablation grid (skipping finished runs) and write its report."""
    from curate.ablate.ablation_report import write_ablation_report
    from curate.ablate.runner import data_summary, plan_ablation, run_ablation
    from curate.ablate.spec import load_ablation
    from curate.catalog.db import open_catalog

    spec = load_ablation(ablation)
    out_dir = out or ablation.resolve().parent
    if dry_run:
        with open_catalog(db, read_only=True) as catalog:
            planned = plan_ablation(catalog, spec)
            data = data_summary(catalog, planned)
        import pandas as pd

        runs = pd.DataFrame([{**dict(p.run.levels), "repeat": p.run.repeat,
                              "seed": p.run.seed, "run_id": p.run_id,
                              "status": p.status or "new"} for p in planned])
        console.print(_table(runs, title=f"ablation {spec.name}: {len(runs)} runs"))
        console.print(_table(data, title="data the runs read"))
        return
    failed = []
    with open_catalog(db) as catalog:
        if not report_only:
            outcome = run_ablation(catalog, spec, out_dir, jobs=jobs,
                                   say=lambda m: console.print(m, highlight=False))
            console.print(f"{spec.name}: {outcome.planned} runs, {outcome.skipped} finished "
                          f"earlier, {outcome.finished} finished now, {len(outcome.failed)} "
                          f"failed", highlight=False)
            failed = outcome.failed
        report = write_ablation_report(catalog, spec.name, out_dir / "report")
    console.print(f"report: {report} (and report.html)", highlight=False)
    for run_id, reason in failed:
        err_console.print(f"failed: {run_id}: {escape(reason)}", highlight=False)
    if failed:
        raise typer.Exit(1)


def main() -> None:
    """Console entry point: user errors become one line and an exit code."""
    try:
        code = app(standalone_mode=False)
    except CurateError as exc:
        _error(str(exc))
        sys.exit(exc.exit_code)
    except ValueError as exc:
        _error(str(exc))
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # usage errors of the command-line parser
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
