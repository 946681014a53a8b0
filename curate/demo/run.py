"""``curate demo``: the embedded default, end to end, with nothing but the package.

1. synthesise a multilingual corpus offline (espeak-ng genuine speech, four
   artifact generators), laid out as an ASVspoof-2019-style folder and a
   table-recipe CSV;
2. read both through the same recipes a user would use, probe them;
3. freeze a selection whose test split holds a generator unseen in training;
4. run a 2 x 2 ablation, RawBoost (algorithm 5) on/off x SAM on/off, of a small
   detector trained on the CPU from the shipped experiment file
   (``recipes/experiments/demo.toml``, copied to DIR/experiment.toml; the ablation to
   DIR/ablation.toml); every run is scored on dev and test (EER, minDCF, actDCF,
   Cllr per generator, language, corpus) and its m-sharpness measured;
5. evaluate every run further from its stored scores (:mod:`curate.demo.evaluation`):
   the unseen-vocoder set ``test_unseen`` with its training-overlap restriction,
   bootstrap 95 % intervals of EER and minDCF on test and test_unseen, a calibration
   fitted on dev (actDCF and Cllr before and after, minCllr); nothing is retrained;
6. benchmark every run on a three-set suite (:mod:`curate.demo.leaderboard`,
   ``DIR/benchmark.toml``): the leaderboard in ``DIR/benchmark/`` (markdown, HTML, JSON);
7. write ``DIR/report/report.md`` and ``report.html`` (:mod:`curate.demo.report`): the
   grid, EER per cell, the effect of each factor, per-generator tables, intervals,
   calibration, training overlap, DET curves, training data, sharpness vs EER, the
   unseen vocoder and the leaderboard.

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

from curate.ablate.grid import expand
from curate.ablate.runner import run_ablation
from curate.ablate.spec import load_ablation
from curate.audio.runner import probe_corpus
from curate.catalog.db import open_catalog
from curate.demo.corpus import build_demo_corpus
from curate.demo.evaluation import RESAMPLES, UNSEEN, evaluate_demo_runs
from curate.demo.leaderboard import demo_leaderboard
from curate.demo.report import write_demo_report
from curate.demo.sql import DEMO_RESULTS
from curate.errors import CurateError
from curate.recipes.engine import insert_corpus, read_corpus_data
from curate.recipes.spec import builtin_recipes_dir, load_recipe
from curate.select.freeze import freeze
from curate.select.spec import load_selection

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


ABLATION = """\
# The demo's ablation: RawBoost (algorithm 5) on/off x SAM on/off, on a selection
# whose test split holds the LPC vocoder, never seen in training. Re-run it with
#   curate ablate {dir}/ablation.toml --db {dir}/catalog.duckdb
# (finished runs are skipped; the ablation report is rewritten to {dir}/report/,
# without the unseen-vocoder section that `curate demo` adds).
name = "demo_ablation"
base = "experiment.toml"
repeats = {repeats}
set = {{ seed = {seed}, "train.steps" = {steps}, "checkpoint.every" = {every} }}

[sharpness]
rho = 0.05
m = 16
batches = {batches}

[[factor]]
name = "rawboost"
levels = [
  {{ label = "off", set = {{ augment = "" }} }},
  {{ label = "algo5", set = {{ augment = "rawboost5.toml" }} }},
]

[[factor]]
name = "sam"
levels = [
  {{ label = "off", set = {{ "sam.enabled" = false }} }},
  {{ label = "rho0.05", set = {{ "sam.enabled" = true, "sam.rho" = 0.05 }} }},
]
"""


@dataclass(frozen=True)
class DemoOutcome:
    out: Path
    db: Path
    ablation: str
    results: pd.DataFrame  # one row per cell: EER on test, on the unseen generator, ...
    report: Path


def demo_table(catalog, ablation: str) -> pd.DataFrame:
    """Per cell (mean over seeds): test EER, EER on the unseen LPC vocoder, minDCF and
    sharpness on test, all from the catalog."""
    frame = catalog.df(DEMO_RESULTS, [ablation])
    unseen = frame["eval_group"].isin([f"generator={c}:{g}" for c, g in UNSEEN.items()])
    picks = {
        "eer_test_%": (frame["eval_group"] == "all") & (frame["metric"] == "eer"),
        "eer_unseen_%": unseen & (frame["metric"] == "eer"),
        "min_dcf_test": (frame["eval_group"] == "all") & (frame["metric"] == "min_dcf"),
        "sharpness_test": (frame["eval_group"] == "all") & (frame["metric"] == "sharpness"),
    }
    columns = {}
    for name, mask in picks.items():
        values = frame[mask].groupby("cell")["value"].mean()
        columns[name] = (100 * values).round(2) if name.endswith("%") else values.round(4)
    table = pd.DataFrame(columns)
    levels = [dict(part.split("=", 1) for part in cell.split(",")) for cell in table.index]
    factors = pd.DataFrame(levels, index=table.index)
    return pd.concat([factors, table], axis=1).reset_index(drop=True)


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

    say(f"1/7 synthesising the demo corpus into {out / 'corpus'} "
        f"({'quick' if quick else 'full'})")
    with bar("synthesise") as progress:
        corpus = build_demo_corpus(out / "corpus", quick=quick, seed=seed, progress=progress)
    recipe_path = out / "demo_multi.toml"
    recipe_path.write_text(MULTI_RECIPE)

    say("2/7 reading the corpora through their recipes and probing the audio")
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

        say("3/7 freezing the selection (test holds the unseen LPC vocoder)")
        spec_path = out / "selection.toml"
        spec_path.write_text(SELECTION.format(seed=seed))
        frozen = freeze(catalog, load_selection(spec_path))
        for row in frozen.splits.itertuples(index=False):
            say(f"    {row.split}: {row.utterances} utterances ({row.bonafide} bonafide, "
                f"{row.spoof} spoof)")

        exp_path = out / "experiment.toml"
        shutil.copyfile(builtin_recipes_dir() / "experiments" / "demo.toml", exp_path)
        ablation_path = out / "ablation.toml"
        ablation_path.write_text(ABLATION.format(
            dir=out, repeats=1 if quick else 2, seed=seed, steps=120 if quick else 400,
            every=60 if quick else 200, batches=4 if quick else 8))
        spec = load_ablation(ablation_path)
        n_runs = len(expand(spec))
        say(f"4/7 ablation {spec.name}: RawBoost x SAM, {n_runs} runs of the small CNN on "
            f"the CPU ({ablation_path})")
        outcome = run_ablation(catalog, spec, out, say=say)
        if outcome.failed:
            raise CurateError(f"{len(outcome.failed)} demo run(s) failed: "
                              + "; ".join(f"{r}: {why}" for r, why in outcome.failed))

        say(f"5/7 evaluating every run from its scores: the unseen-vocoder set, "
            f"{RESAMPLES}-resample bootstrap intervals, calibration fitted on dev")
        evaluate_demo_runs(catalog, spec.name, seed=seed)

        say(f"6/7 benchmarking every run on the demo suite ({out / 'benchmark.toml'}): "
            f"leaderboard in {out / 'benchmark'}")
        board = demo_leaderboard(catalog, spec.name, out)

        say(f"7/7 writing the report to {out / 'report'}")
        report = write_demo_report(catalog, spec.name, out / "report", sections=[board])
        results = demo_table(catalog, spec.name)
    return DemoOutcome(out, db, spec.name, results, report)
