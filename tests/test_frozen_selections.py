"""A frozen selection resolves to the same utterances forever.

Re-preparing a corpus whose metadata lost lines keeps the rows that selections hold
(status 'removed', facts kept), says which selections are affected, and every command
that reads a selection's audio stops in one sentence until the selection is refrozen
or --skip-unavailable is given (then the count is recorded).
"""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import make_tone_selection, tiny_experiment
from curate.catalog.db import open_catalog
from curate.errors import UnavailableItemsError
from curate.select.freeze import selection_rows, unavailable_items

EXPERIMENT = tiny_experiment(steps=4)


@pytest.fixture
def tones(tmp_path):
    """A probed tone corpus (6 speakers x 4 files) and a frozen selection 'sel' of it."""
    return tmp_path, make_tone_selection(tmp_path)


def _drop_lines(root, names):
    meta = root / "meta.csv"
    lines = meta.read_text().splitlines()
    kept = [line for line in lines if line.split(",")[0] not in names]
    assert len(kept) == len(lines) - len(names)
    meta.write_text("\n".join(kept) + "\n")


def _reprepare(run_cli, tmp_path, root=None):
    return run_cli("prepare", tmp_path / "tones.toml", root or tmp_path / "tones", "--db",
                   tmp_path / "c.duckdb")


def test_reprepare_keeps_referenced_rows_as_removed(tones, run_cli):
    tmp_path, frozen = tones
    db = tmp_path / "c.duckdb"
    with open_catalog(db, read_only=True) as catalog:
        before = catalog.df("SELECT * FROM utterances WHERE utt_id IN ('tones:s0_0', "
                            "'tones:s1_1') ORDER BY utt_id")
    _drop_lines(tmp_path / "tones", ["s0_0.wav", "s1_1.wav"])
    code, out, err = _reprepare(run_cli, tmp_path)
    assert code == 0, err
    text = " ".join(err.split())
    assert "2 utterance(s) the recipe no longer finds are kept with status 'removed'" in text
    assert "sel (2)" in text and "--skip-unavailable" in text
    with open_catalog(db, read_only=True) as catalog:
        after = catalog.df("SELECT * FROM utterances WHERE utt_id IN ('tones:s0_0', "
                           "'tones:s1_1') ORDER BY utt_id")
        items = [r[0] for r in catalog.execute(
            "SELECT utt_id FROM selection_items WHERE selection = 'sel' ORDER BY utt_id")
            .fetchall()]
        assert unavailable_items(catalog, "sel") == {"removed": 2}
    assert items == frozen  # the frozen selection still names every utterance
    assert list(after["status"]) == ["removed", "removed"]
    assert after["error"].str.contains("not found by the recipe").all()
    for column in ("duration_s", "content_hash", "speaker", "label", "path"):  # facts kept
        assert list(after[column]) == list(before[column])

    # `curate selections` shows how many items are no longer ok
    code, out, err = run_cli("selections", "--db", db, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert sum(r["not_ok"] for r in rows) == 2 and {r["name"] for r in rows} == {"sel"}

    # a re-probe leaves removed rows alone (their files still exist here)
    code, out, err = run_cli("probe", "--db", db)
    assert code == 0, err
    with open_catalog(db, read_only=True) as catalog:
        assert catalog.execute("SELECT count(*) FROM utterances WHERE status = 'removed'"
                               ).fetchone()[0] == 2


def test_rows_no_selection_holds_are_deleted_and_refound_rows_come_back(tones, run_cli):
    tmp_path, _ = tones
    db = tmp_path / "c.duckdb"
    root = tmp_path / "tones"
    original = (root / "meta.csv").read_text()
    with open_catalog(db) as catalog:  # a selection of one speaker only
        catalog.execute("DELETE FROM selection_items WHERE utt_id NOT LIKE 'tones:s0_%'")
    _drop_lines(root, ["s0_0.wav", "s5_3.wav"])
    code, out, err = _reprepare(run_cli, tmp_path)
    assert code == 0, err
    text = " ".join(err.split())
    assert "1 utterance(s) the recipe no longer finds were deleted" in text
    assert "1 utterance(s) the recipe no longer finds are kept" in text
    with open_catalog(db, read_only=True) as catalog:
        statuses = dict(catalog.execute(
            "SELECT utt_id, status FROM utterances WHERE utt_id IN ('tones:s0_0', "
            "'tones:s5_3')").fetchall())
    assert statuses == {"tones:s0_0": "removed"}

    (root / "meta.csv").write_text(original)  # the line is back: the row is read again
    code, out, err = _reprepare(run_cli, tmp_path)
    assert code == 0, err
    with open_catalog(db, read_only=True) as catalog:
        assert catalog.execute("SELECT status FROM utterances WHERE utt_id = 'tones:s0_0'"
                               ).fetchone()[0] == "ok"
        assert unavailable_items(catalog, "sel") == {}


def test_moving_the_root_is_reported(tones, run_cli):
    tmp_path, _ = tones
    moved = tmp_path / "moved_tones"
    shutil.copytree(tmp_path / "tones", moved)
    code, out, err = _reprepare(run_cli, tmp_path, moved)
    assert code == 0, err
    text = " ".join(err.split())
    assert f"root moved from {tmp_path / 'tones'} to {moved}" in text


def test_every_audio_command_stops_then_skips(tones, run_cli):
    tmp_path, _ = tones
    db = tmp_path / "c.duckdb"
    _drop_lines(tmp_path / "tones", ["s0_0.wav", "s0_1.wav", "s2_2.wav"])
    assert _reprepare(run_cli, tmp_path)[0] == 0
    exp = tmp_path / "tiny.toml"
    exp.write_text(EXPERIMENT)
    chain = tmp_path / "chain.toml"
    chain.write_text('sample_rate = 16000\nseed = 0\n[[step]]\nname = "rawboost"\n'
                     'p = 1.0\nalgo = 5\n')

    commands = {
        "train": ("train", exp, "--db", db, "--out", tmp_path / "out"),
        "export": ("export", "sel", "--format", "kaldi", "--out", tmp_path / "kaldi",
                   "--db", db),
        "augment": ("augment", chain, tmp_path / "aug", "--selection", "sel", "--db", db),
    }
    for name, args in commands.items():
        code, out, err = run_cli(*args)
        text = " ".join(err.split())
        assert code == 2, (name, out, err)
        assert "Traceback" not in err
        assert "selection 'sel'" in text and "3 items that are no longer ok (3 removed)" in text
        assert "curate select" in text and "--skip-unavailable" in text, text

    code, out, err = run_cli(*commands["train"], "--skip-unavailable")
    assert code == 0, err
    with open_catalog(db, read_only=True) as catalog:
        (run_id, config), = catalog.execute("SELECT run_id, config FROM runs").fetchall()
        scored = catalog.execute("SELECT count(*) FROM scores WHERE run_id = ?", [run_id]
                                 ).fetchone()[0]
        test_ok = len(selection_rows(catalog, "sel", "test", skip_unavailable=True))
    skipped = json.loads(config)["unavailable_skipped"]
    assert sum(skipped.values()) == 3 and set(skipped) <= {"train", "eval:test"}
    assert scored == test_ok

    for name in ("eval", "sharpness"):
        args = (name, run_id, "--on", "sel", "--split", "all", "--db", db)
        if name == "sharpness":
            args += ("--m", "4", "--batches", "1")
        code, out, err = run_cli(*args)
        assert code == 2 and "no longer ok" in " ".join(err.split()), (name, err)
        code, out, err = run_cli(*args, "--skip-unavailable")
        assert code == 0, (name, err)

    code, out, err = run_cli(*commands["export"], "--skip-unavailable")
    assert code == 0, err
    assert "skipped: status removed 3" in " ".join(out.split())
    code, out, err = run_cli(*commands["augment"], "--skip-unavailable")
    assert code == 0, err
    assert "left out 3 item(s) of sel" in " ".join(err.split())


def test_selection_rows_never_shrink_silently(tones):
    tmp_path, frozen = tones
    with open_catalog(tmp_path / "c.duckdb") as catalog:
        catalog.execute("UPDATE utterances SET status = 'missing' WHERE utt_id = ?", [frozen[0]])
        with pytest.raises(UnavailableItemsError, match="1 item that is no longer ok "
                                                        r"\(1 missing\)"):
            selection_rows(catalog, "sel")
        rows = selection_rows(catalog, "sel", skip_unavailable=True)
        assert len(rows) == len(frozen) - 1 and frozen[0] not in set(rows["utt_id"])
        # an item whose row is gone entirely (a catalog from before 'removed') counts too
        catalog.execute("DELETE FROM utterances WHERE utt_id = ?", [frozen[1]])
        assert unavailable_items(catalog, "sel") == {"absent": 1, "missing": 1}
