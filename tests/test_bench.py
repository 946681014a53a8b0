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


def test_bench_train_tiny_reports_every_kind_of_step(run_cli):
    import json

    code, out, err = run_cli("bench", "train", "--tiny", "--batch", "2", "--seconds", "0.5",
                             "--steps", "1", "--warmup", "0", "--threads", "1", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert KEYS <= set(result) and result["name"] == "train_step"
    assert result["arch"] == "custom" and result["device"] == "cpu"
    assert_measured(result, "value", "baseline", "ratio")
    assert set(result["steps_ms"]) == {"fp32", "bf16"} == set(result["memory"])
    for precision in ("fp32", "bf16"):
        for kind in ("plain", "sam"):
            assert_measured(result["steps_ms"][precision][kind], "off", "on")
            assert_measured(result["median_ms"][precision][kind], "off", "on")
            for ckpt in ("off", "on"):  # the figure is the fastest step, the median beside
                fastest = result["steps_ms"][precision][kind][ckpt]
                assert fastest <= result["median_ms"][precision][kind][ckpt]
        for ckpt in ("off", "on"):
            memory = result["memory"][precision][ckpt]
            assert_measured(memory, "saved_activations_mb")
            assert memory["peak_step_mb"] is None  # CUDA only
        ratios = result["ratios"][precision]
        assert_measured(ratios, "sam_over_plain", "sam_over_plain_checkpointed",
                        "checkpointed_over_plain", "activation_memory_cut")
    assert_measured(result["ratios"]["bf16_over_fp32"], "plain", "sam")
    assert set(result["targets"]) == {"sam_over_plain_max", "checkpointed_time_max",
                                      "activation_memory_cut_min"}
    assert result["clock"] == "wall"
    code, out, err = run_cli("bench", "train", "--tiny", "--batch", "1", "--seconds", "0.25",
                             "--steps", "1", "--warmup", "0", "--precision", "fp32",
                             "--clock", "process")
    assert code == 0, err
    assert "SAM / plain" in out and "activation memory cut" in out and "bf16" not in out
    assert "process clock" in out
    code, _, err = run_cli("bench", "train", "--tiny", "--precision", "fp8")
    assert code == 2 and "precisions must be one or both of fp32, bf16" in err
    code, _, err = run_cli("bench", "train", "--tiny", "--clock", "cpu")
    assert code == 2 and "clock must be 'wall' or 'process'" in err


def test_bench_probe_cli_small(run_cli):
    import json

    code, out, err = run_cli("bench", "probe", "--files", "6", "--seconds", "0.5", "--jobs",
                             "2", "--repeats", "1", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "probe" and result["files"] == 6 and result["jobs"] == 2
    assert_measured(result, "value", "baseline", "ratio", "audio_hours_per_hour")
    sides = {"decode", "probe_file", "probe_file_blake2b", "probe_file_header", "catalog_1",
             "catalog_n", "catalog_header", "script", "lhotse"}
    assert set(result["sides"]) == sides  # lhotse is in the test extras
    for side in result["sides"].values():
        assert_measured(side, "files_per_s", "audio_hours_per_hour_per_core", "cores")
    assert result["sides"]["catalog_n"]["cores"] == 2
    assert set(result["ratios"]) == {"probe_over_decode_cost",
                                     "probe_blake2b_over_decode_cost",
                                     "catalog_n_over_catalog_1",
                                     "catalog_1_over_script", "catalog_n_over_script",
                                     "header_over_lhotse"}
    assert_measured(result["ratios"], *result["ratios"])
    assert result["targets"] == {"probe_over_decode_cost_max": 1.8,
                                 "header_files_per_s_per_core_min": 5000.0}


def test_bench_probe_human_output(run_cli):
    code, out, err = run_cli("bench", "probe", "--files", "3", "--seconds", "0.5", "--jobs",
                             "1", "--repeats", "1")
    assert code == 0, err
    for text in ("decode only (sf.read)", "script: sf + pyloudnorm + md5",
                 "lhotse Recording.from_file", "curate probe, 1 job",
                 "full probe / decode, cost:", "(target <= 1.8x)", "(target >= 5000)"):
        assert text in out, text


def test_bench_probe_argument_errors():
    from curate.audio.bench import bench_probe

    with pytest.raises(ValueError, match="repeats must be >= 1"):
        bench_probe(2, 0.5, repeats=0)


def test_bench_catalog_small(tmp_path, run_cli):
    import json

    from curate.bench_catalog import STEPS

    code, out, err = run_cli("bench", "catalog", "--rows", "3000", "--workdir", tmp_path,
                             "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "catalog" and result["rows"] == 3000
    assert result["unit"] == "rows/s" and result["memory_limit"] == "3GB"
    assert list(result["steps"]) == list(STEPS)
    for name, step in result["steps"].items():
        assert_measured(step, "rows", "peak_mb")
        assert math.isfinite(step["seconds"]) and step["seconds"] >= 0  # rounded to 1 ms
    steps = result["steps"]
    assert steps["insert"]["rows"] == steps["probe_merge"]["rows"] == 3000
    assert steps["stats"]["rows"] == 3000  # every row lands in one group
    assert 0 < steps["select"]["items"] < 3000  # the quota binds
    assert steps["export"]["rows"] == steps["select"]["items"]
    assert result["peak_mb"] == max(step["peak_mb"] for step in steps.values())
    assert not (tmp_path / "catalog_bench_3000_export").exists()  # the export is removed
    code, out, err = run_cli("bench", "catalog", "--rows", "3000", "--workdir", tmp_path)
    assert code == 0, err
    assert "insert" in out and "met: insert" in out and "items selected" in out
    code, _, err = run_cli("bench", "catalog", "--rows", "3000", "--workdir", tmp_path,
                           "--memory-limit", "lots")
    assert code == 2 and "--memory-limit: memory_limit must look like '3GB'" in err
