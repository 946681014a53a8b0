"""``curate demo``: the embedded default, end to end, with nothing but the package.

1. synthesise a multilingual corpus offline (espeak-ng genuine speech, four
   artifact generators), laid out as an ASVspoof-2019-style folder and a
   table-recipe CSV;
2. read both through the same recipes a user would use, probe them;
3. freeze a selection whose test split holds a generator unseen in training;
4. train a small detector on the CPU through the training loop, from the shipped
   experiment file (``recipes/experiments/demo.toml``, copied to DIR/experiment.toml),
   score the dev and test splits, store EER/minDCF/actDCF/Cllr;
5. write ``DIR/report/report.md`` with a composition plot and DET curves.

Every file the demo reads (recipes, the selection spec) is written to DIR so
the steps can be repeated by hand with the CLI.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from curate.ablate.report import results_table, write_run_report
from curate.audio.runner import probe_corpus
from curate.catalog.db import open_catalog
from curate.demo.corpus import build_demo_corpus
from curate.recipes.engine import insert_corpus, read_corpus_data
from curate.recipes.spec import load_recipe
from curate.select.freeze import freeze
from curate.select.spec import load_selection
from curate.recipes.spec import builtin_recipes_dir
from curate.train.experiment import Experiment, load_experiment
from curate.train.loop import TrainConfig
from curate.train.run import run_experiment

# The multilingual part is read by the generic table recipe, configured here.
MULTI_RECIPE = """\
name = "demo_multi"
title = "curate demo: multilingual espeak-ng speech and artifacts"
base = "table"
languages = []
layout = "the multi/ folder of a curate demo: meta.csv and wav/<lang>/*.wav"

[options]
file = "meta.csv"
path = "{file}"
[options.map]
speaker = "speaker"
language = "language"
label_raw = "label"
generator = "generator"
source_utt = "source"
transcript = "transcript"
[options.labels]
"bona-fide" = "bonafide"
spoof = "spoof"
"""

UNSEEN = {"demo_la": "A02", "demo_multi": "lpc"}  # the LPC vocoder never seen in training

SELECTION = """\
name = "demo"
seed = {seed}

[filter]
status = "ok"

[holdout]
# unseen in training: the LPC vocoder (ASVspoof-style id A02 in demo_la)
generators = ["demo_la:A02", "demo_multi:lpc"]
policy = "drop"

[split]
by = "speaker"
fractions = {{ train = 0.6, dev = 0.1, test = 0.3 }}
"""


@dataclass(frozen=True)
class DemoOutcome:
    out: Path
    db: Path
    run_id: str
    results: pd.DataFrame
    report: Path


def _experiment(out: Path, quick: bool, seed: int) -> tuple[Experiment, list[str], Path]:
    """The shipped demo experiment, copied to ``out/experiment.toml``, with the demo's
    overrides (``--set`` arguments that repeat it by hand)."""
    source = builtin_recipes_dir() / "experiments" / "demo.toml"
    path = out / "experiment.toml"
    shutil.copyfile(source, path)
    sets = [f"seed={seed}"] + (["train.steps=120", "checkpoint.every=60"] if quick else [])
    return load_experiment(path, sets), sets, path


def _config(quick: bool, seed: int) -> TrainConfig:
    """The demo's training settings (those of ``recipes/experiments/demo.toml``)."""
    source = builtin_recipes_dir() / "experiments" / "demo.toml"
    sets = [f"seed={seed}"] + (["train.steps=120", "checkpoint.every=60"] if quick else [])
    return load_experiment(source, sets).train_config()


def run_demo(out: Path | str = "demo_out", *, quick: bool = False, seed: int = 0, jobs: int = 2,
             say: Callable[[str], None] = print,
             progress_factory=None) -> DemoOutcome:
    """Run the demo into ``out``; ``say`` prints one line per stage.

    ``progress_factory(description)`` returns a context manager yielding a
    ``progress(done, total)`` callback (the CLI passes a rich progress bar).
    """
    from contextlib import nullcontext

    bar = progress_factory or (lambda _d: nullcontext(None))
    start = time.monotonic()
    plain_say = say

    def say(message: str) -> None:  # noqa: F811 - stage lines carry the elapsed time
        plain_say(f"[{time.monotonic() - start:6.1f} s] {message}")

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    db = out / "catalog.duckdb"

    say(f"1/5 synthesising the demo corpus into {out / 'corpus'} "
        f"({'quick' if quick else 'full'})")
    with bar("synthesise") as progress:
        corpus = build_demo_corpus(out / "corpus", quick=quick, seed=seed, progress=progress)
    recipe_path = out / "demo_multi.toml"
    recipe_path.write_text(MULTI_RECIPE)

    say("2/5 reading the corpora through their recipes and probing the audio")
    with open_catalog(db) as catalog:
        for recipe, root, name in ((load_recipe("asvspoof2019_la"), corpus.la_root, "demo_la"),
                                   (load_recipe(str(recipe_path)), corpus.multi_root, None)):
            data = read_corpus_data(recipe, root, corpus=name)
            summary = insert_corpus(catalog, data.rows, recipe, root, corpus=name,
                                    segments=data.segments)
            with bar(f"probe {summary.corpus}") as progress:
                probed = probe_corpus(catalog, summary.corpus, jobs=jobs, progress=progress)
            say(f"    {summary.corpus}: {summary.rows} utterances, status "
                + ", ".join(f"{k} {v}" for k, v in probed.statuses.items()))

        say("3/5 freezing the selection (test holds the unseen LPC vocoder)")
        spec_path = out / "selection.toml"
        spec_path.write_text(SELECTION.format(seed=seed))
        frozen = freeze(catalog, load_selection(spec_path))
        for row in frozen.splits.itertuples(index=False):
            say(f"    {row.split}: {row.utterances} utterances ({row.bonafide} bonafide, "
                f"{row.spoof} spoof)")

        experiment, sets, exp_path = _experiment(out, quick, seed)
        spec = experiment.run_spec()
        config = spec.config
        say(f"4/5 training {config.model} for {config.steps} steps on the CPU "
            f"({exp_path.name}; by hand: curate train {exp_path} --db {db} --out {out} "
            + " ".join(f"--set {s}" for s in sets) + ")")
        with bar("train") as progress:
            callback = (lambda step, total, _loss: progress(step, total)) if progress else None
            outcome = run_experiment(catalog, spec, out, progress=callback)
        if outcome.skipped:
            say(f"    run {outcome.run_id} already finished: reusing its results")

        say(f"5/5 writing the report to {out / 'report'}")
        notes = (f"Demo corpus: espeak-ng speech in several languages; artifact generators "
                 f"{', '.join(f'{k}={v}' for k, v in corpus.attack_ids.items())} in demo_la "
                 f"(ASVspoof-style ids) and by name in demo_multi. The test split holds the "
                 f"LPC vocoder (demo_la:A02, demo_multi:lpc), never seen in training.")
        report = write_run_report(catalog, [outcome.run_id], out / "report",
                                  title="curate demo", selection="demo", notes=notes)
        results = results_table(catalog, outcome.run_id)
    return DemoOutcome(out, db, outcome.run_id, results, report)
