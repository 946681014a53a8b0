"""The recipe engine, the asvspoof2019_la recipe and the generic table/folder recipes."""

from __future__ import annotations

import shutil
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from conftest import make_asvspoof2019, write_tone
from curate.catalog.db import open_catalog
from curate.errors import CurateError
from curate.recipes import engine
from curate.recipes.languages import to_iso639_3
from curate.recipes.spec import builtin_corpus_recipes, builtin_recipes_dir, load_recipe, parse_recipe

LA_LINES = {
    "train": ["LA_0079 LA_T_1000001 - - bonafide", "LA_0079 LA_T_1000002 - A01 spoof",
              "LA_0080 LA_T_1000003 - A02 spoof", "LA_0080 LA_T_1000004 - - bonafide"],
    "dev": ["LA_0069 LA_D_1000001 - A05 spoof", "LA_0069 LA_D_1000002 - - bonafide"],
    "eval": ["LA_0039 LA_E_1000001 - A07 spoof", "LA_0039 LA_E_1000002 - - bonafide",
             "LA_0040 LA_E_1000003 - A19 spoof"],
}


def utterances(db: Path) -> pd.DataFrame:
    with open_catalog(db, read_only=True) as catalog:
        return catalog.df("SELECT * FROM utterances ORDER BY utt_id")


def test_asvspoof2019_la_miniature(tmp_path, run_cli):
    root = make_asvspoof2019(tmp_path / "LA", LA_LINES, skip={"LA_T_1000003"},
                             corrupt={"LA_E_1000003"})
    db = tmp_path / "c.duckdb"
    code, out, err = run_cli("prepare", "asvspoof2019_la", root, "--db", db)
    assert code == 0, err
    rows = utterances(db).set_index("utt_id")
    assert len(rows) == 9
    assert Counter(rows["label"]) == {"bonafide": 4, "spoof": 5}
    assert Counter(rows["subset"]) == {"train": 4, "dev": 2, "eval": 3}
    spoof = rows[rows.label == "spoof"]
    assert set(spoof["generator"]) == {f"asvspoof2019_la:{a}" for a in
                                       ("A01", "A02", "A05", "A07", "A19")}
    assert rows[rows.label == "bonafide"]["generator"].isna().all()
    assert rows.loc["asvspoof2019_la:LA_D_1000001", "artifact"] == "vc"
    assert rows.loc["asvspoof2019_la:LA_T_1000002", "artifact"] == "tts"
    assert (rows["language"] == "eng").all()
    assert rows.loc["asvspoof2019_la:LA_T_1000001", "path"] == \
        "ASVspoof2019_LA_train/flac/LA_T_1000001.flac"
    assert rows.loc["asvspoof2019_la:LA_T_1000003", "status"] == "missing"
    assert rows.loc["asvspoof2019_la:LA_E_1000003", "status"] == "unreadable"
    assert rows.loc["asvspoof2019_la:LA_E_1000003", "error"]
    ok = rows[rows.status == "ok"]
    assert len(ok) == 7
    assert ok["duration_s"].between(0.29, 0.31).all()
    assert ok["content_hash"].nunique() == 7
    assert "ok 7" in out and "missing 1" in out and "unreadable 1" in out

    # A second prepare leaves the same rows and probes nothing again.
    code, out, _ = run_cli("prepare", "asvspoof2019_la", root, "--db", db)
    assert code == 0 and "probed 0" in out
    again = utterances(db).set_index("utt_id")
    pd.testing.assert_frame_equal(
        again.drop(columns=["probed_at"]), rows.drop(columns=["probed_at"]))
    with open_catalog(db, read_only=True) as catalog:
        corpus = catalog.execute("SELECT name, root, recipe, recipe_hash FROM corpora").fetchall()
    assert corpus == [("asvspoof2019_la", str(root.resolve()), "asvspoof2019_la",
                       load_recipe("asvspoof2019_la").recipe_hash)]


def test_asvspoof2019_la_real_protocol(realdata, tmp_path):
    source = realdata / "asvspoof2019_la" / "ASVspoof2019.LA.cm.train.trn.txt"
    all_lines = source.read_text().splitlines()
    lines = all_lines[::56][:450]
    assert len(lines) == 450
    root = tmp_path / "LA"
    (root / "ASVspoof2019_LA_cm_protocols").mkdir(parents=True)
    (root / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.train.trn.txt").write_text(
        "\n".join(lines) + "\n")
    rows = engine.read_corpus(load_recipe("asvspoof2019_la"), root)
    fields = [line.split() for line in lines]
    assert len(rows) == 450
    assert Counter(rows["label"]) == Counter(f[4] for f in fields)
    expected_generators = {f"asvspoof2019_la:{f[3]}" for f in fields if f[4] == "spoof"}
    assert set(rows["generator"].dropna()) == expected_generators == \
        {f"asvspoof2019_la:A0{i}" for i in range(1, 7)}
    assert Counter(rows["generator"].dropna()) == Counter(
        f"asvspoof2019_la:{f[3]}" for f in fields if f[4] == "spoof")
    assert set(rows["speaker"]) == {f[0] for f in fields}
    assert (rows["language"] == "eng").all()
    assert (rows["status"] == "missing").all()  # no audio here: nothing dropped

    # the full protocol: the official counts
    shutil.copy(source, root / "ASVspoof2019_LA_cm_protocols")
    full = engine.read_corpus(load_recipe("asvspoof2019_la"), root)
    assert Counter(full["label"]) == {"bonafide": 2580, "spoof": 22800}
    assert set(Counter(full["generator"].dropna()).values()) == {3800}
    assert full["speaker"].nunique() == 20


def test_wrong_root_is_one_clear_error(tmp_path, run_cli):
    code, _out, err = run_cli("prepare", "asvspoof2019_la", tmp_path, "--db",
                              tmp_path / "c.duckdb")
    assert code == 2
    assert "no file matches" in err and "ROOT should be" in err and "Traceback" not in err
    code, _out, err = run_cli("prepare", "no_such_corpus", tmp_path)
    assert code == 2 and "unknown corpus recipe 'no_such_corpus'" in err


def test_malformed_protocol_line_is_reported(tmp_path):
    root = make_asvspoof2019(tmp_path / "LA", {"train": ["LA_0079 LA_T_1 - - bonafide",
                                                          "LA_0079 LA_T_2 - A01"]})
    with pytest.raises(CurateError, match=r"ASVspoof2019.LA.cm.train.trn.txt:2: expected 5 "
                                          r"columns, found 4: 'LA_0079 LA_T_2 - A01'"):
        engine.read_corpus(load_recipe("asvspoof2019_la"), root)


def _recipe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


def test_table_recipe_with_mapping_templates_and_quoting(tmp_path):
    root = tmp_path / "corpus"
    for i, name in enumerate(["a.wav", "b.wav", "c.wav"]):
        write_tone(root / "clips" / name, seed=i)
    (root / "meta.tsv").write_text(
        "file\twho\tkind\tlang\ttext\n"
        'a.wav\ts1\treal\tde_DE\t"Quoted" start\n'
        "b.wav\ts2\tfake\tpl\tplain\n"
        "c.wav\ts2\tFAKE\tzh-CN\tmore\n")
    recipe = load_recipe(str(_recipe(tmp_path, """
name = "mytable"
base = "table"
[options]
file = "meta.tsv"
delimiter = "\\t"
quote = ""
path = "clips/{file}"
utt_id = "{who}-{file}"
[options.map]
speaker = "who"
label_raw = "kind"
language = "lang"
transcript = "text"
[options.constants]
generator = "tts1"
""")))
    rows = engine.read_corpus(recipe, root).set_index("utt_id")
    assert list(rows.index) == ["mytable:s1-a.wav", "mytable:s2-b.wav", "mytable:s2-c.wav"]
    assert list(rows["label"]) == ["bonafide", "spoof", "spoof"]
    assert list(rows["label_raw"]) == ["real", "fake", "FAKE"]
    assert list(rows["language"]) == ["deu", "pol", "cmn"]
    assert rows.loc["mytable:s1-a.wav", "transcript"] == '"Quoted" start'
    assert rows.loc["mytable:s1-a.wav", "path"] == "clips/a.wav"
    assert (rows["generator"] == "mytable:tts1").all()
    assert (rows["status"] == "pending").all()


def test_table_recipe_errors_name_the_problem(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "meta.csv").write_text("file,label\nx.wav,weird\n")
    base = 'name = "t"\nbase = "table"\n[options]\nfile = "meta.csv"\npath = "{file}"\n'
    recipe = load_recipe(str(_recipe(tmp_path, base + '[options.map]\nlabel_raw = "label"\n')))
    with pytest.raises(CurateError, match=r"label value\(s\) 'weird' are not mapped"):
        engine.read_corpus(recipe, root)
    recipe = load_recipe(str(_recipe(tmp_path, base + '[options.map]\nlabel_raw = "nope"\n')))
    with pytest.raises(CurateError, match=r"label_raw = 'nope', but meta.csv has columns"):
        engine.read_corpus(recipe, root)
    recipe = load_recipe(str(_recipe(tmp_path, base + 'colour = 1\n')))
    with pytest.raises(CurateError, match=r"unknown option\(s\) colour"):
        engine.read_corpus(recipe, root)
    with pytest.raises(CurateError, match=r"unknown key\(s\) bogus"):
        parse_recipe('name = "x"\nsql = "select 1"\nbogus = 2\n', "x.toml")
    with pytest.raises(CurateError, match=r"x.toml: invalid TOML"):
        parse_recipe('name = "x\n', "x.toml")


def test_engine_validation(tmp_path):
    recipe = parse_recipe('name = "v"\nsql = "select 1"\n', "v.toml")
    root = tmp_path
    good = pd.DataFrame({"utt_id": ["a", "b"], "path": ["a.wav", "b.wav"],
                         "label": ["bonafide", "spoof"], "language": ["en", "xx-YY"]})
    with pytest.raises(CurateError, match="unknown language value"):
        engine.validate_rows(good, recipe, "v", root)
    dup = good.assign(utt_id=["a", "a"], language="en")
    with pytest.raises(CurateError, match="share an utt_id: 'v:a'"):
        engine.validate_rows(dup, recipe, "v", root)
    bad = good.assign(label=["bonafide", "fake"], language="en")
    with pytest.raises(CurateError, match="label must be 'bonafide' or 'spoof'; found 'fake"):
        engine.validate_rows(bad, recipe, "v", root)
    extra = good.assign(colour="red", language="en")
    with pytest.raises(CurateError, match="unknown column"):
        engine.validate_rows(extra, recipe, "v", root)
    outside = good.assign(path=["/elsewhere/a.wav", "b.wav"], language="en")
    with pytest.raises(CurateError, match="must lie under ROOT"):
        engine.validate_rows(outside, recipe, "v", root)
    write_tone(root / "a.wav")
    rows = engine.validate_rows(good.assign(language=["en", None]), recipe, "v", root)
    assert list(rows["status"]) == ["pending", "missing"]
    assert list(rows["language"]) == ["eng", "und"]


def test_folder_recipe(tmp_path):
    root = tmp_path / "for"
    for i, rel in enumerate(["training/real/f1.wav", "training/fake/f2.wav",
                             "testing/fake/f3.wav", "testing/real/notes.txt"]):
        if rel.endswith(".wav"):
            write_tone(root / rel, seed=i)
        else:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("x")
    recipe = load_recipe(str(_recipe(tmp_path, """
name = "fld"
base = "folder"
[options]
pattern = "{subset}/{label_raw}/*.wav"
[options.constants]
language = "eng"
""")))
    rows = engine.read_corpus(recipe, root).set_index("utt_id")
    assert sorted(rows.index) == ["fld:testing/fake/f3", "fld:training/fake/f2",
                                  "fld:training/real/f1"]
    assert rows.loc["fld:training/real/f1", "label"] == "bonafide"
    assert rows.loc["fld:testing/fake/f3", "subset"] == "testing"
    assert (rows["status"] == "pending").all()


def test_build_file_prepares_several_corpora(tmp_path, run_cli):
    make_asvspoof2019(tmp_path / "LA", {"train": LA_LINES["train"]})
    root = tmp_path / "tbl"
    write_tone(root / "x.wav")
    (root / "m.csv").write_text("f,l\nx.wav,bona-fide\n")
    (tmp_path / "tbl.toml").write_text(
        'name = "tbl"\nbase = "table"\n[options]\nfile = "m.csv"\npath = "{f}"\n'
        '[options.map]\nlabel_raw = "l"\n')
    (tmp_path / "build.toml").write_text(
        '[[corpus]]\nrecipe = "asvspoof2019_la"\nroot = "LA"\nname = "la_copy"\n'
        '[[corpus]]\nrecipe = "tbl.toml"\nroot = "tbl"\n')
    db = tmp_path / "c.duckdb"
    code, _out, err = run_cli("build", tmp_path / "build.toml", "--db", db)
    assert code == 0, err
    rows = utterances(db)
    assert Counter(rows["corpus"]) == {"la_copy": 4, "tbl": 1}
    assert rows[rows.corpus == "la_copy"]["generator"].dropna().str.startswith("la_copy:").all()
    code, out, _ = run_cli("stats", "--db", db, "--by", "corpus,label", "--json")
    stats = pd.read_json(__import__("io").StringIO(out))
    assert stats.set_index(["corpus", "label"])["utterances"].to_dict() == {
        ("la_copy", "bonafide"): 2, ("la_copy", "spoof"): 2, ("tbl", "bonafide"): 1}
    assert (stats["hours"] > 0).all()


def test_relocating_a_corpus_keeps_probes(tmp_path, run_cli):
    root = make_asvspoof2019(tmp_path / "LA", {"train": LA_LINES["train"]})
    db = tmp_path / "c.duckdb"
    assert run_cli("prepare", "asvspoof2019_la", root, "--db", db)[0] == 0
    moved = tmp_path / "moved"
    shutil.copytree(root, moved, copy_function=shutil.copy2)
    shutil.rmtree(root)
    assert run_cli("relocate", "asvspoof2019_la", moved, "--db", db)[0] == 0
    code, out, _ = run_cli("probe", "--db", db)
    assert code == 0 and "probed 0" in out and "ok 4" in out


def test_language_mapping_table():
    cases = {"en": "eng", "en_US": "eng", "en-GB": "eng", "de": "deu", "pl": "pol",
             "zh-CN": "cmn", "zh": "cmn", "zh-HK": "yue", "ja": "jpn", "jpn": "jpn",
             "German": "deu", "pt-BR": "por", "sv-SE": "swe", "": "und", None: "und",
             "und": "und", "fr": "fra", "it": "ita", "es": "spa", "uk": "ukr"}
    for value, expected in cases.items():
        assert to_iso639_3(value) == expected, value
    assert to_iso639_3("klingon-ish", strict=True) is None
    assert to_iso639_3("klingon-ish") == "und"


def test_builtin_recipes_listed_and_parse(run_cli):
    names = builtin_corpus_recipes()
    assert {"asvspoof2019_la", "table", "folder"} <= set(names)
    for name in names:
        assert load_recipe(name).name == name
    code, out, _ = run_cli("corpora")
    assert code == 0 and "asvspoof2019_la" in out and "generic" in out


def test_wheel_carries_the_recipes(tmp_path):
    hatchling = pytest.importorskip("hatchling.builders.wheel")
    project = Path(__file__).resolve().parents[1]
    builder = hatchling.WheelBuilder(str(project))
    wheel = Path(next(iter(builder.build(directory=str(tmp_path), versions=["standard"]))))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "curate/_recipes/corpora/asvspoof2019_la.toml" in names
        assert "curate/catalog/schema.sql" in names
        zf.extractall(tmp_path / "site")
    # The lookup finds the packaged copy when the package is imported from the wheel.
    import subprocess
    import sys

    code = ("import curate.recipes.spec as s; print(s.builtin_recipes_dir())")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, text=True,
                         capture_output=True, env={"PYTHONPATH": str(tmp_path / "site"),
                                                   "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "site" / "curate" / "_recipes")
    assert builtin_recipes_dir().is_dir()


def _segment_recipe(root, options, recipe):
    rows = pd.DataFrame({"utt_id": ["p1", "p2"], "path": ["p1.wav", "p2.wav"],
                         "label": ["spoof", "bonafide"], "artifact": ["partial", None]})
    segments = pd.DataFrame({"utt_id": ["p1", "p1", "p2"], "start_s": [0.0, 0.2, 0.0],
                             "end_s": [0.2, 0.5, 0.5], "label": ["bonafide", "spoof",
                                                                 "bonafide"]})
    return engine.RecipeOutput(rows, segments)


def _restored_recipe(root, options, recipe):
    return pd.DataFrame({"utt_id": ["r1", "r2", "r3"], "path": ["a.wav", "b.wav", "c.wav"],
                         "label": ["spoof", "spoof", "spoof"],
                         "artifact": ["restored", "copy_synthesis", "tts"]})


def test_python_recipe_with_segments_replaces_them_on_reprepare(tmp_path):
    recipe = parse_recipe(f'name = "ps"\nfunction = "{__name__}:_segment_recipe"\n', "ps.toml")
    data = engine.read_corpus_data(recipe, tmp_path)
    assert list(data.segments["utt_id"]) == ["ps:p1", "ps:p1", "ps:p2"]
    with open_catalog(tmp_path / "c.duckdb") as catalog:
        for _ in range(2):
            engine.insert_corpus(catalog, data.rows, recipe, tmp_path, segments=data.segments)
        assert catalog.execute("SELECT count(*) FROM segments").fetchone()[0] == 3
    bad = data.segments.assign(end_s=[0.1, 0.1, 0.5])
    with pytest.raises(CurateError, match="no valid start_s < end_s"):
        engine.validate_segments(bad, data.rows, recipe, "ps")


def test_label_policy_for_restored_and_copy_synthesis(tmp_path):
    recipe = parse_recipe(f'name = "rs"\nfunction = "{__name__}:_restored_recipe"\n', "rs.toml")
    rows = engine.read_corpus(recipe, tmp_path)
    assert list(rows["label"]) == ["spoof", "spoof", "spoof"]
    rows = engine.read_corpus(recipe, tmp_path, restored_label="bonafide")
    assert list(rows["label"]) == ["bonafide", "bonafide", "spoof"]
    with pytest.raises(ValueError, match="restored_label must be one of"):
        engine.read_corpus(recipe, tmp_path, restored_label="maybe")


def test_docs_corpora_table_is_in_sync_with_the_recipes():
    from curate.recipes.listing import corpora_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "corpora.md"
    assert doc.read_text() == corpora_markdown(), \
        "regenerate with: curate corpora --markdown > docs/corpora.md"


# --------------------------------------------------------- the AntiDeepfake build file


def _ljspeech(root: Path) -> Path:
    (root / "wavs").mkdir(parents=True)
    (root / "metadata.csv").write_text("LJ001-0001|Printing, in the only sense|Printing, in "
                                       "the only sense\nLJ001-0002|in being modern.|in being "
                                       "modern.\n")
    for i, utt in enumerate(("LJ001-0001", "LJ001-0002")):
        write_tone(root / "wavs" / f"{utt}.wav", 0.3, sample_rate=22050, seed=i)
    return root


def test_shipped_antideepfake_build_names_every_corpus_of_the_mix():
    from curate.recipes.build import builtin_builds, find_build, load_build

    path = find_build("antideepfake")
    assert path == builtin_builds()["antideepfake"]
    entries = load_build(path)
    users = {n for n in builtin_corpus_recipes() if load_recipe(n).usage("antideepfake")}
    assert len(entries) == 29 and {e.recipe for e in entries} == users
    assert all(e.optional and e.name is None for e in entries)
    assert all(str(e.root).startswith("/path/to/your/data/") for e in entries)
    moved = load_build(path, data_root="/data")
    assert {str(e.root) for e in moved} == {str(e.root).replace("/path/to/your/data", "/data")
                                            for e in entries}
    with pytest.raises(CurateError, match=r"build file nope does not exist; .*antideepfake"):
        find_build("nope")


def test_build_prepares_present_roots_and_lists_missing_ones(tmp_path, run_cli):
    data = tmp_path / "data"
    make_asvspoof2019(data / "ASVspoof2019-LA" / "LA", LA_LINES)
    _ljspeech(data / "LJSpeech" / "LJSpeech-1.1")
    db = tmp_path / "c.duckdb"
    code, _out, err = run_cli("build", "antideepfake", "--data-root", data, "--db", db,
                              "--strict", "--no-probe")
    assert code == 2 and "[[corpus]] #1 (recipe 'aishell3'" in err and "not a folder" in err
    assert not db.exists()  # checked before anything is prepared
    code, out, err = run_cli("build", "antideepfake", "--data-root", data, "--db", db)
    assert code == 0, err
    assert "asvspoof2019_la: 9 utterances" in out and "ljspeech: 2 utterances" in out
    assert "prepared 2 of 29 corpora; 27 optional root(s) do not exist" in err
    assert f"missing: [[corpus]] #1 aishell3: {data / 'AIShell3'}" in err
    assert err.count("missing: [[corpus]]") == 27
    with open_catalog(db, read_only=True) as catalog:
        assert {r[0] for r in catalog.execute("SELECT name FROM corpora").fetchall()} == \
            {"asvspoof2019_la", "ljspeech"}
    # the paper's data table: hours genuine / artifact and languages per corpus
    code, out, err = run_cli("stats", "--db", db, "--by", "corpus,label", "--hours", "--json")
    assert code == 0, err
    table = pd.read_json(__import__("io").StringIO(out)).set_index("corpus")
    assert list(table.index) == ["asvspoof2019_la", "ljspeech", "total"]
    assert table.loc["asvspoof2019_la", ["utterances_genuine", "utterances_artifact"]].tolist() \
        == [4, 5]
    assert table.loc["ljspeech", ["utterances_genuine", "utterances_artifact"]].tolist() == [2, 0]
    assert table.loc["asvspoof2019_la", "hours_genuine"] == pytest.approx(4 * 0.3 / 3600,
                                                                            abs=2e-4)
    assert table.loc["asvspoof2019_la", "hours_artifact"] == pytest.approx(5 * 0.3 / 3600,
                                                                         abs=2e-4)
    assert table.loc["total", "hours"] == pytest.approx(11 * 0.3 / 3600, abs=5e-4)
    assert table.loc["total", "languages"] == "eng" and table["n_languages"].tolist() == [1] * 3
    code, out, err = run_cli("stats", "--db", db, "--by", "corpus,label", "--hours")
    assert code == 0 and "genuine = bonafide" in out and "total" in out and "0.0009" in out
    code, _out, err = run_cli("stats", "--db", db, "--hours", "--selection", "x")
    assert code == 2 and "--hours tabulates the catalog" in err
    code, _out, err = run_cli("stats", "--db", db, "--by", "label", "--hours")
    assert code == 2 and "--hours needs at least one --by column" in err
    # a required entry (no optional key) with a missing root stays an error
    build = tmp_path / "mine.toml"
    build.write_text(f'data_root = "{data}"\n[[corpus]]\nrecipe = "ljspeech"\n'
                     f'root = "LJSpeech/LJSpeech-1.1"\n[[corpus]]\nrecipe = "vctk"\n'
                     f'root = "VCTK"\n')
    code, _out, err = run_cli("build", build, "--db", db, "--no-probe")
    assert code == 2 and "[[corpus]] #2 (recipe 'vctk'" in err and "not a folder" in err
    build.write_text(build.read_text().replace('root = "VCTK"', 'root = "VCTK"\noptional = 1'))
    code, _out, err = run_cli("build", build, "--db", db, "--no-probe")
    assert code == 2 and "[[corpus]] #2: optional must be true or false" in err

    # The two shipped selections: generated from the recipes, disjoint, as the table says.
    from curate.recipes.build import usage_condition
    from curate.select.spec import load_selection

    specs = builtin_recipes_dir() / "selections"
    for split, name in (("train", "antideepfake"), ("valid", "antideepfake_valid")):
        spec = load_selection(specs / f"{name}.toml")
        assert spec.filter.where.strip() == usage_condition("antideepfake", split)
        code, _out, err = run_cli("select", specs / f"{name}.toml", "--db", db)
        assert code == 0, err
    with open_catalog(db, read_only=True) as catalog:
        items = catalog.df("SELECT i.selection, i.split, u.corpus, u.subset FROM "
                           "selection_items i JOIN utterances u USING (utt_id)")
    got = Counter(zip(items["selection"], items["split"], items["corpus"],
                      items["subset"].fillna("-")))
    assert got == {("antideepfake", "train", "asvspoof2019_la", "train"): 4,
                   ("antideepfake", "train", "asvspoof2019_la", "eval"): 3,
                   ("antideepfake", "train", "ljspeech", "-"): 2,
                   ("antideepfake_valid", "valid", "asvspoof2019_la", "dev"): 2}
