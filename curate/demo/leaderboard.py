"""The demo's leaderboard: every run of its ablation on a small benchmark suite.

The suite (:data:`SUITE`, written to ``DIR/benchmark.toml`` so the step can be repeated
with ``curate benchmark RUN... --suite DIR/benchmark.toml``) has three sets:

- ``test``: the selection's test split (speakers unseen in training, the LPC vocoder
  held out): the runs' stored test scores are reused, nothing is scored again;
- ``la_eval``: the ASVspoof-style corpus's own ``eval`` partition, a catalog query;
- ``multi_all``: every utterance of the multilingual corpus, most of which the runs
  trained on; its overlap column says so, which is why a leaderboard carries it.

The leaderboard files go to ``DIR/benchmark/`` and the demo report gains a
"Leaderboard" section with the same tables.
"""

from __future__ import annotations

from pathlib import Path

from curate.benchmark.board import build_board
from curate.benchmark.leaderboard import to_markdown, write_leaderboard
from curate.benchmark.runner import load_suite_for, run_benchmark
from curate.catalog.db import Catalog
from curate.demo import sql

__all__ = ["SUITE", "demo_leaderboard"]

SUITE = """\
# The demo's benchmark suite. Repeat it with
#   curate benchmark RUN... --suite {dir}/benchmark.toml --db {dir}/catalog.duckdb
name = "demo"
title = "curate demo: held-out test split, the LA-style eval partition, all of demo_multi"

[[set]]
name = "test"
selection = "demo:test"

[[set]]
name = "la_eval"
corpus = "demo_la"
subsets = ["eval"]

[[set]]
name = "multi_all"
corpus = "demo_multi"
"""


def demo_leaderboard(catalog: Catalog, ablation: str, out: Path | str) -> list[str]:
    """Benchmark every finished run of ``ablation`` on :data:`SUITE`.

    Writes ``out/benchmark.toml`` and ``out/benchmark/leaderboard.{md,html,json}`` (plus
    the trial files) and returns the report section (markdown lines; empty when the
    ablation has no finished run).
    """
    out = Path(out)
    run_ids = [row[0] for row in catalog.execute(sql.FINISHED_ABLATION_RUNS,
                                                 [ablation]).fetchall()]
    if not run_ids:
        return []
    suite_path = out / "benchmark.toml"
    suite_path.write_text(SUITE.format(dir=out))
    suite = load_suite_for(catalog, suite_path)
    outcome = run_benchmark(catalog, run_ids, suite, out / "benchmark")
    board = build_board(outcome)
    write_leaderboard(board, out / "benchmark")
    return to_markdown(board, level=2).splitlines()
