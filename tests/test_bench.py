"""``curate bench ...``: tiny runs, their JSON and their errors.

Structure only: a benchmark's figures are measured times, so these tests check that
the keys are there and the figures finite and positive, never how fast anything was.
"""

from __future__ import annotations

import json
import math

import pytest

from curate.bench import bench_rawboost

KEYS = {"name", "value", "unit", "baseline", "ratio"}


def assert_measured(result: dict, *keys: str) -> None:
    """Each of ``keys`` is a finite positive number (a measurement, not a target)."""
    for key in keys:
        value = result[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), key
        assert math.isfinite(value) and value > 0, (key, value)


def test_bench_rawboost_returns_the_figures():
    result = bench_rawboost(5, 2, 0.5, "cpu", repeats=2, warmup=1)
    assert KEYS <= set(result)
    assert result["name"] == "rawboost_algo5_cpu" and result["unit"] == "clips/s"
    assert_measured(result, "value", "baseline", "ratio", "rtf")
    assert result["ratio"] == pytest.approx(result["value"] / result["baseline"])
    assert result["batch"] == 2 and result["threads"] == 1


def test_bench_rawboost_cli_prints_one_json_object(run_cli):
    code, out, err = run_cli("bench", "rawboost", "--algo", "3", "--batch", "2",
                             "--seconds", "0.5", "--repeats", "2", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert KEYS <= set(result) and result["algo"] == 3
    assert_measured(result, "value", "baseline", "ratio")


def test_bench_rawboost_cli_human_output(run_cli):
    code, out, err = run_cli("bench", "rawboost", "--batch", "2", "--seconds", "0.25",
                             "--repeats", "1")
    assert code == 0, err
    assert "batched:" in out and "reference:" in out and "ratio:" in out


def test_bench_rawboost_names_an_unavailable_device(run_cli, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _out, err = run_cli("bench", "rawboost", "--device", "cuda", "--batch", "2",
                              "--seconds", "0.25")
    assert code == 2 and "use device 'cpu'" in err
    code, _out, err = run_cli("bench", "rawboost", "--algo", "9", "--batch", "2")
    assert code == 2 and "algo must be one of 1-8" in err


def test_bench_select_small(tmp_path, run_cli):
    import json

    code, out, err = run_cli("bench", "select", "--rows", "3000", "--workdir", tmp_path,
                             "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "select" and result["rows"] == 3000
    assert result["items"] > 0 and result["unit"] == "s"
    assert math.isfinite(result["value"]) and result["value"] >= 0  # rounded to 1 ms
    assert_measured(result, "baseline", "ratio", "memory_ratio")


def test_bench_codec_cli_small(run_cli):
    code, out, err = run_cli("bench", "codec", "--batch", "2", "--seconds", "0.5", "--quick")
    assert code == 0, err
    assert "g711 batched:" in out and "codec mp3" in out


def test_bench_loader_and_sam_cli_small(run_cli):
    import json

    code, out, err = run_cli("bench", "loader", "--files", "3", "--seconds", "1",
                             "--crop-seconds", "0.5", "--epochs", "1", "--workers", "0",
                             "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "loader"
    assert_measured(result, "value", "baseline", "ratio")
    code, out, err = run_cli("bench", "sam", "--batch", "2", "--seconds", "0.5", "--steps", "2")
    assert code == 0, err
    assert "SAM step" in out and "target <= 2.1x" in out


def test_bench_probe_cli_small(run_cli):
    import json

    code, out, err = run_cli("bench", "probe", "--files", "6", "--seconds", "0.5", "--jobs",
                             "2", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "probe" and result["files"] == 6
    assert_measured(result, "value", "baseline", "ratio")
