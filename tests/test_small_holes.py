"""Issue 12's smaller holes: failed augment inputs, corpus names, options checked before
any work, build errors that name their entry, per-file probe progress, silent and
heavily clipped files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import write_tone
from curate.audio.probe import (HEAVY_CLIP_RATIO, SILENT_PEAK_DBFS, is_heavily_clipped,
                                probe_file)
from curate.audio.runner import probe_corpus
from curate.catalog.columns import STATUSES
from curate.catalog.db import open_catalog
from curate.errors import CurateError
from curate.names import check_corpus_name
from curate.recipes.build import load_build

SR = 16000
RECIPE = ('name = "tiny"\nbase = "table"\n[options]\nfile = "meta.csv"\npath = "{file}"\n'
          'utt_id = "{uid}"\n[options.map]\nlabel_raw = "label"\n')


def _corpus(folder: Path, files: dict[str, np.ndarray | None]) -> Path:
    """A table-recipe corpus: ``name -> float samples`` (None: a 0.5 s tone)."""
    lines = ["file,uid,label"]
    for i, (name, x) in enumerate(files.items()):
        path = folder / "wavs" / name
        if x is None:
            write_tone(path, 0.5, seed=i)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, x, SR, subtype="FLOAT")
        lines.append(f"wavs/{name},u{i},{'bonafide' if i % 2 else 'spoof'}")
    (folder / "meta.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def tiny(tmp_path):
    """(recipe file, corpus root, catalog path) of a 3-file corpus; nothing prepared."""
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(RECIPE)
    root = _corpus(tmp_path / "corpus", {"a.wav": None, "b.wav": None, "c.wav": None})
    return recipe, root, tmp_path / "c.duckdb"


# ------------------------------------------------------------------- 1. curate augment


def test_augment_fails_empty_and_nan_inputs_and_exits_1(tmp_path, run_cli):
    root = tmp_path / "in"
    write_tone(root / "good.wav", 0.3, seed=1)
    sf.write(root / "empty.wav", np.zeros((0, 1), np.float32), SR)   # a header, 0 frames
    nan = 0.1 * np.sin(np.arange(SR // 4) / 5).astype(np.float32)
    nan[100:110] = np.nan
    sf.write(root / "nan.wav", nan, SR, subtype="FLOAT")
    chain = tmp_path / "chain.toml"
    chain.write_text('sample_rate = 16000\nseed = 1\n[[step]]\nname = "g711"\np = 1.0\n')
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("augment", chain, root, out)
    assert code == 1, stderr
    assert "1 written, 0 already done, 2 failed" in stdout        # the summary still printed
    assert "2 file(s) failed" in stderr and "Traceback" not in stderr
    records = {r["path"]: r for r in map(json.loads,
                                         (out / "augment_log.jsonl").read_text().splitlines())}
    assert records["good.wav"]["status"] == "ok" and (out / "good.wav").is_file()
    assert records["empty.wav"]["status"] == "error"
    assert records["empty.wav"]["error"] == "the file has 0 samples"
    assert records["nan.wav"]["status"] == "error"
    assert records["nan.wav"]["error"] == "10 of 4000 samples are NaN or inf"
    assert not (out / "empty.wav").exists() and not (out / "nan.wav").exists()
    # all inputs good: exit 0
    (root / "empty.wav").unlink()
    (root / "nan.wav").unlink()
    code, stdout, stderr = run_cli("augment", chain, root, tmp_path / "out2")
    assert code == 0 and "1 written, 0 already done, 0 failed" in stdout, stderr


# ---------------------------------------------------------------------- 2. corpus names


def test_corpus_names_are_lowercase_identifiers():
    assert check_corpus_name("asvspoof2019_la", "--name") == "asvspoof2019_la"
    for bad in ("Tiny", "a:b", "1abc", "my-corpus", "", "a.b", None, 3):
        with pytest.raises(CurateError, match=r"--name is .* lowercase identifier"):
            check_corpus_name(bad, "--name")


def test_prepare_name_is_checked_before_any_work(tiny, run_cli):
    recipe, root, db = tiny
    for bad in ("tiny:copy", "Tiny", "tiny-copy"):
        code, _out, err = run_cli("prepare", recipe, root, "--db", db, "--name", bad)
        assert code == 2 and "--name is" in err and "lowercase identifier" in err, err
        assert not db.exists()                                    # nothing opened or written
    code, out, err = run_cli("prepare", recipe, root, "--db", db, "--name", "tiny_copy",
                             "--no-probe")
    assert code == 0 and "tiny_copy: 3 utterances" in out, err


def test_build_file_names_are_checked(tmp_path):
    build = tmp_path / "b.toml"
    build.write_text('[[corpus]]\nrecipe = "x"\nroot = "."\n[[corpus]]\nrecipe = "x"\n'
                     'root = "."\nname = "X:y"\n')
    with pytest.raises(CurateError, match=r"\[\[corpus\]\] #2: name is 'X:y'"):
        load_build(build)


# ------------------------------------------------------- 3. options before any work


def test_prepare_options_are_checked_before_rows_are_rewritten(tiny, run_cli):
    recipe, root, db = tiny
    assert run_cli("prepare", recipe, root, "--db", db, "--no-probe")[0] == 0
    with open_catalog(db, read_only=True) as catalog:
        before = catalog.execute("SELECT name, built_at FROM corpora").fetchall()
    (root / "meta.csv").write_text("file,uid,label\nwavs/a.wav,u0,spoof\n")   # would change
    code, _out, err = run_cli("prepare", recipe, root, "--db", db, "--level", "medium")
    assert code == 2 and "--level is 'medium'; use header" in err, err
    code, _out, err = run_cli("prepare", recipe, root, "--db", db, "--restored-as", "maybe")
    assert code == 2 and "--restored-as is 'maybe'; use spoof" in err, err
    assert "restored_label" not in err
    code, _out, err = run_cli("probe", "--db", db, "--level", "medium")
    assert code == 2 and "--level is 'medium'" in err
    with open_catalog(db, read_only=True) as catalog:
        assert catalog.execute("SELECT name, built_at FROM corpora").fetchall() == before
        assert catalog.execute("SELECT count(*) FROM utterances").fetchone()[0] == 3


def test_build_checks_every_entry_first_and_names_the_one_that_failed(tiny, tmp_path,
                                                                      run_cli):
    recipe, root, db = tiny
    build = tmp_path / "corpora.toml"
    build.write_text(f'[[corpus]]\nrecipe = "tiny.toml"\nroot = "corpus"\n'
                     f'[[corpus]]\nrecipe = "tiny.toml"\nroot = "nowhere"\nname = "tiny_b"\n')
    code, _out, err = run_cli("build", build, "--db", db, "--no-probe")
    assert code == 2, err
    assert f"{build}: [[corpus]] #2 (recipe 'tiny.toml', root {tmp_path / 'nowhere'})" in err
    assert "its root is not a folder" in err
    assert not db.exists()                                        # entry #1 not prepared
    # the same corpus name twice
    build.write_text('[[corpus]]\nrecipe = "tiny.toml"\nroot = "corpus"\n'
                     '[[corpus]]\nrecipe = "tiny.toml"\nroot = "corpus"\n')
    code, _out, err = run_cli("build", build, "--db", db, "--no-probe")
    assert code == 2 and "[[corpus]] #2" in err and "already used by [[corpus]] #1" in err
    # an unknown recipe
    build.write_text('[[corpus]]\nrecipe = "no_such_recipe"\nroot = "corpus"\n')
    code, _out, err = run_cli("build", build, "--db", db)
    assert code == 2 and "[[corpus]] #1 (recipe 'no_such_recipe'" in err, err
    # a failure while preparing (the recipe finds no rows) names its entry too
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "meta.csv").write_text("file,uid,label\n")
    build.write_text('[[corpus]]\nrecipe = "tiny.toml"\nroot = "corpus"\n'
                     '[[corpus]]\nrecipe = "tiny.toml"\nroot = "empty"\nname = "tiny_b"\n')
    code, out, err = run_cli("build", build, "--db", db, "--no-probe")
    assert code == 2 and "tiny: 3 utterances" in out
    assert "[[corpus]] #2 (recipe 'tiny.toml'" in err and "no utterances" in err, err
    assert "Traceback" not in err
    code, _out, err = run_cli("build", build, "--db", db, "--level", "medium")
    assert code == 2 and "--level is 'medium'" in err


# ------------------------------------------------------------------------- 4. the probe


def test_probe_progress_moves_per_file(tmp_path):
    root = _corpus(tmp_path / "corpus", {f"f{i}.wav": None for i in range(7)})
    (root / "wavs" / "f3.wav").unlink()                           # one missing
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(RECIPE)
    from curate.recipes.engine import insert_corpus, read_corpus
    from curate.recipes.spec import load_recipe

    spec = load_recipe(str(recipe))
    calls: list[tuple[int, int]] = []
    with open_catalog(tmp_path / "c.duckdb") as catalog:
        insert_corpus(catalog, read_corpus(spec, root), spec, root)
        summary = probe_corpus(catalog, "tiny", batch_size=4,
                               progress=lambda done, total: calls.append((done, total)))
    assert summary.statuses == {"ok": 6, "missing": 1}
    assert calls == [(k, 7) for k in range(1, 8)]                # missing first, then each


def test_silent_files_get_their_status(tmp_path):
    t = np.arange(SR // 2) / SR
    tone = np.sin(2 * np.pi * 220 * t)
    cases = {"zeros": np.zeros(SR // 2), "minus80": 10 ** (-80 / 20) * tone,
             "minus60": 10 ** (-60 / 20) * tone}
    rows = {}
    for name, x in cases.items():
        path = tmp_path / f"{name}.wav"
        sf.write(path, x.astype(np.float32), SR, subtype="FLOAT")
        rows[name] = probe_file(path)
    assert SILENT_PEAK_DBFS == -70.0 and "silent" in STATUSES
    assert rows["zeros"]["status"] == "silent"
    assert rows["zeros"]["error"] == "all samples are zero" and rows["zeros"]["peak_dbfs"] is None
    assert rows["minus80"]["status"] == "silent"
    assert rows["minus80"]["error"] == "peak -80.0 dBFS is below -70 dBFS"
    assert rows["minus80"]["duration_s"] == 0.5 and rows["minus80"]["content_hash"]
    assert rows["minus60"]["status"] == "ok" and rows["minus60"]["error"] is None
    # the header alone cannot tell silence; too short wins over silent
    assert probe_file(tmp_path / "zeros.wav", level="header")["status"] == "ok"
    sf.write(tmp_path / "short.wav", np.zeros(800, np.float32), SR)
    assert probe_file(tmp_path / "short.wav")["status"] == "too_short"


def test_probe_counts_heavily_clipped_files(tmp_path, run_cli):
    assert HEAVY_CLIP_RATIO == 0.01
    assert is_heavily_clipped(0.01) and not is_heavily_clipped(0.0099)
    assert not is_heavily_clipped(None)
    t = np.arange(SR // 2) / SR
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    heavy, light = tone.copy(), tone.copy()
    heavy[: len(t) // 50] = 1.0                                   # 2 % at full scale
    light[: len(t) // 200] = -1.0                                 # 0.5 %
    root = _corpus(tmp_path / "corpus", {"heavy.wav": heavy, "light.wav": light,
                                         "zero.wav": np.zeros(SR // 2), "plain.wav": None})
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(RECIPE)
    db = tmp_path / "c.duckdb"
    code, out, err = run_cli("prepare", recipe, root, "--db", db)
    assert code == 0, err
    assert "status: ok 3, silent 1" in out
    assert "heavily clipped (>= 1 % of samples at full scale): 1" in out
    with open_catalog(db) as catalog:
        summary = probe_corpus(catalog, "tiny", force=True)
        ratios = dict(catalog.execute("SELECT path, clip_ratio FROM utterances").fetchall())
    assert summary.clipped == 1 and summary.statuses == {"ok": 3, "silent": 1}
    assert ratios["wavs/heavy.wav"] == pytest.approx(0.02)
    assert ratios["wavs/light.wav"] == pytest.approx(0.005)


def test_tables_print_brackets_as_text_not_markup():
    import pandas as pd
    from rich.console import Console

    from curate.cli.common import table_of

    frame = pd.DataFrame({"label": ["demo [train.sam=True]", "[bold]x[/bold]"],
                          "eer": [0.1, float("nan")]})
    console = Console(record=True, width=200)
    console.print(table_of(frame, title="runs [seed groups]"))
    text = console.export_text()
    assert "demo [train.sam=True]" in text and "[bold]x[/bold]" in text
    assert "runs [seed groups]" in text
