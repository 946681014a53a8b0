"""Figures of an evaluation (curate.train.score_plots) and `curate plot scores`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from curate.catalog.db import open_catalog
from curate.train.score_plots import (draw_condition_plot, draw_projection,
                                      draw_score_histograms, write_score_histograms)


def _scored(n_per: int = 60, generators=("c:A01", "c:A02", "c:A03"), seed: int = 0):
    rng = np.random.default_rng(seed)
    parts = [pd.DataFrame({"score": rng.normal(2.0, 1.0, n_per), "label": "bonafide",
                           "generator": None})]
    for k, gen in enumerate(generators):
        parts.append(pd.DataFrame({"score": rng.normal(1.0 - 2 * k, 1.0, n_per),
                                   "label": "spoof", "generator": gen}))
    return pd.concat(parts, ignore_index=True)


def _bars(ax) -> int:
    return len(ax.patches)


def test_histograms_have_one_panel_per_generator_plus_classes():
    fig = draw_score_histograms(_scored(), bins=20)
    try:
        assert len(fig.axes) == 4  # bonafide vs spoof, then A01, A02, A03
        titles = [ax.get_title() for ax in fig.axes]
        assert titles[0].startswith("bonafide vs spoof")
        assert [t.split()[0] for t in titles[1:]] == ["c:A01", "c:A02", "c:A03"]
        assert all("EER" in t for t in titles)
        for ax in fig.axes:  # two histograms of 20 bins: bonafide and the panel's spoofs
            assert _bars(ax) == 40
            assert len(ax.get_legend().get_texts()) == 2
        # the generator panels hold that generator's spoofs only
        spoof_counts = [sum(p.get_height() for p in ax.patches[20:]) for ax in fig.axes]
        assert spoof_counts == [180, 60, 60, 60]
        # EER in a generator's title follows its separation from bonafide (mean 2):
        # A01 (mean 1) is the hardest, A03 (mean -3) the easiest
        eers = [float(t.split("EER ")[1].rstrip("%")) for t in titles[1:]]
        assert eers[0] > eers[1] >= eers[2]
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_many_generators_wrap_and_drop_empty_axes():
    fig = draw_score_histograms(_scored(10, tuple(f"g{k}" for k in range(6))), bins=5)
    try:
        assert len(fig.axes) == 7  # a 2 x 4 grid, the eighth axes removed
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_histogram_errors_name_the_missing_column(tmp_path):
    with pytest.raises(ValueError, match="'generator' is missing"):
        draw_score_histograms(pd.DataFrame({"score": [1.0], "label": ["spoof"]}))
    path = write_score_histograms(_scored(), tmp_path / "h" / "x.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_condition_plot_has_one_bar_per_condition():
    table = pd.DataFrame({"condition": ["clean", "mp3_16k", "noise_5db"],
                          "eer": [0.01, 0.05, 0.2]})
    fig = draw_condition_plot(table)
    try:
        ax = fig.axes[0]
        assert [round(p.get_height(), 6) for p in ax.patches] == [1.0, 5.0, 20.0]
        assert [t.get_text() for t in ax.get_xticklabels()] == table["condition"].tolist()
        assert ax.lines[0].get_ydata()[0] == pytest.approx(1.0)  # the clean EER line
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_projection_plot_has_one_legend_entry_per_value():
    points = np.random.default_rng(0).normal(size=(9, 2))
    fig = draw_projection(points, pd.Series(["a", "b", None] * 3))
    try:
        texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert texts == ["<none> (3)", "a (3)", "b (3)"]
        assert len(fig.axes[0].collections) == 3
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    with pytest.raises(ValueError, match="one colour value per row"):
        draw_projection(points, pd.Series(["a"]))


@pytest.fixture
def scored_db(tmp_path):
    db = tmp_path / "cat.duckdb"
    frame = _scored(30)
    frame["utt_id"] = [f"c:u{i:04d}" for i in range(len(frame))]
    with open_catalog(db) as catalog:
        catalog.con.register("_u", frame.assign(corpus="c", path=frame["utt_id"]))
        catalog.con.execute("INSERT INTO utterances (utt_id, corpus, path, label, generator) "
                            "SELECT utt_id, corpus, path, label, generator FROM _u")
        catalog.con.register("_s", frame.assign(run_id="r1", eval_set="test"))
        catalog.con.execute("INSERT INTO scores SELECT run_id, eval_set, utt_id, score "
                            "FROM _s")
        catalog.con.execute("INSERT INTO runs (run_id, name, config, status) VALUES "
                            "('r1', 'r', ?, 'finished')",
                            [json.dumps({"run_dir": str(tmp_path / "runs" / "r1")})])
    return db, tmp_path


def test_plot_scores_command(scored_db, run_cli):
    db, tmp = scored_db
    code, out, err = run_cli("plot", "scores", "r1", "--on", "test", "--db", db)
    assert code == 0, err
    assert (tmp / "runs" / "r1" / "scores" / "test.histograms.png").is_file()
    assert "120 trials, 3 generator(s)" in out
    code, _, err = run_cli("plot", "scores", "r1", "--on", "test", "--db", db,
                           "--out", tmp / "pics")
    assert code == 0 and (tmp / "pics" / "test.histograms.png").is_file()
    code, _, err = run_cli("plot", "scores", "r1", "--on", "dev", "--db", db)
    assert code != 0 and "eval sets are test" in err
    code, _, err = run_cli("plot", "scores", "nope", "--on", "test", "--db", db)
    assert code != 0 and "no run 'nope'" in err
