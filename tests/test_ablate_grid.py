"""Ablation files: parsing, grid expansion, overrides, clear errors."""

from __future__ import annotations

import pytest

from curate.ablate.grid import apply_overrides, expand
from curate.ablate.spec import load_ablation, parse_ablation
from curate.errors import CurateError

BASE = {"name": "exp", "seed": 3, "sam": {"enabled": False, "rho": 0.05}, "augment": ""}
FACTORS = [
    {"name": "rawboost", "levels": [{"label": "off", "set": {"augment": ""}},
                                    {"label": "algo5", "set": {"augment": "rawboost5.toml"}}]},
    {"name": "sam", "levels": [{"label": "off", "set": {"sam.enabled": False}},
                               {"label": "on", "set": {"sam": {"enabled": True,
                                                               "rho": 0.01}}}]},
]


def _spec(tmp_path, **extra):
    return parse_ablation({"name": "ab", "base": BASE, "factor": FACTORS, **extra}, "ab.toml",
                          tmp_path)


def test_full_factorial_with_repeats(tmp_path):
    runs = expand(_spec(tmp_path, repeats=2))
    assert len(runs) == 8
    assert [r.cell for r in runs[::2]] == ["rawboost=off,sam=off", "rawboost=off,sam=on",
                                           "rawboost=algo5,sam=off", "rawboost=algo5,sam=on"]
    assert [r.seed for r in runs[:2]] == [3, 4]
    last = dict(runs[-1].overrides)
    assert last == {"augment": "rawboost5.toml", "sam.enabled": True, "sam.rho": 0.01,
                    "seed": 4}
    config = apply_overrides(BASE, runs[-1].overrides)
    assert config["sam"] == {"enabled": True, "rho": 0.01} and config["seed"] == 4
    assert BASE["sam"]["enabled"] is False  # the base is not modified
    assert len({r.run_name for r in runs}) == 8


def test_explicit_runs_and_seeds(tmp_path):
    spec = _spec(tmp_path, mode="list", seeds=[10, 20],
                 run=[{"levels": {"rawboost": "algo5", "sam": "off"}}])
    runs = expand(spec)
    assert [(r.cell, r.seed) for r in runs] == [("rawboost=algo5,sam=off", 10),
                                                ("rawboost=algo5,sam=off", 20)]


def test_base_from_a_file(tmp_path):
    (tmp_path / "exp.toml").write_text('name = "e"\nseed = 5\n[sam]\nenabled = false\n')
    (tmp_path / "ab.toml").write_text(
        'name = "ab"\nbase = "exp.toml"\n[[factor]]\nname = "sam"\nlevels = [\n'
        '  { label = "off", set = { "sam.enabled" = false } },\n'
        '  { label = "on", set = { "sam.enabled" = true } },\n]\n')
    spec = load_ablation(tmp_path / "ab.toml")
    assert spec.base["seed"] == 5 and [r.seed for r in expand(spec)] == [5, 5]
    assert spec.base_dir == tmp_path.resolve()


@pytest.mark.parametrize("extra, message", [
    ({"colour": 1}, r"unknown key\(s\) colour"),
    ({"repeats": 0}, "repeats must be an integer >= 1"),
    ({"repeats": 2, "seeds": [1]}, "not both"),
    ({"mode": "list"}, r"needs \[\[run\]\] tables"),
    ({"mode": "list", "run": [{"levels": {"rawboost": "algo9", "sam": "off"}}]},
     "has no level 'algo9'"),
    ({"run": [{"levels": {}}]}, "need mode = 'list'"),
])
def test_bad_ablation_files_are_named(tmp_path, extra, message):
    with pytest.raises(CurateError, match=message):
        _spec(tmp_path, **extra)


def test_two_factors_setting_one_key_is_an_error(tmp_path):
    factors = FACTORS + [{"name": "other", "levels": [{"label": "x", "set": {"augment": "y"}}]}]
    spec = parse_ablation({"name": "ab", "base": BASE, "factor": factors}, "ab.toml", tmp_path)
    with pytest.raises(CurateError, match="both set 'augment'"):
        expand(spec)
