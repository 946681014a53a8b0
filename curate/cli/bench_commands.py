"""`curate bench ...`: each benchmark prints curate's figure, its baseline and the ratio."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from curate.cli.common import app, console
from curate.errors import CurateError


bench_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="Benchmarks: each prints curate's figure, its baseline and the ratio.")
app.add_typer(bench_app, name="bench")


@bench_app.command("rawboost")
def bench_rawboost_command(
    algo: int = typer.Option(5, "--algo", help="RawBoost algorithm, 1-8."),
    batch: int = typer.Option(32, "--batch", min=1, help="Clips per batch."),
    seconds: float = typer.Option(4.0, "--seconds", help="Clip duration in seconds."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    repeats: int = typer.Option(10, "--repeats", min=1, help="Timed batched calls (median)."),
    threads: int = typer.Option(1, "--threads", min=1,
                                help="torch CPU threads (the reference uses one core)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Batched RawBoost vs the per-utterance numpy/scipy reference on the same input."""
    from curate.bench import bench_rawboost

    result = bench_rawboost(algo, batch, seconds, device, repeats=repeats, threads=threads)
    if as_json:
        print(json.dumps(result))
        return
    console.print(f"rawboost algo {result['algo']}, batch {result['batch']} x "
                  f"{result['seconds']:g} s at {result['sample_rate']} Hz, {result['device']} "
                  f"({result['device_name']}, {result['threads']} CPU thread(s))", highlight=False)
    console.print(f"batched:   {result['value']:10.1f} clips/s   RTF {result['rtf']:.5f}   "
                  f"({result['batch_ms']:.1f} ms per batch)", highlight=False)
    console.print(f"reference: {result['baseline']:10.1f} clips/s   RTF "
                  f"{result['rtf_reference']:.5f}   (numpy/scipy, one utterance at a time)",
                  highlight=False)
    console.print(f"ratio:     {result['ratio']:10.1f}x", highlight=False)


@bench_app.command("probe")
def bench_probe_command(
    files: int = typer.Option(800, "--files", min=1, help="Synthetic FLAC files."),
    seconds: float = typer.Option(4.0, "--seconds", help="File duration in seconds."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Probe worker processes."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed runs per side (best)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """curate's probe (1 and N jobs, header level) vs decoding alone, a one-off script
    (soundfile + pyloudnorm + md5) and lhotse's Recording.from_file, on the same files."""
    from curate.audio.bench import bench_probe, describe

    result = bench_probe(files, seconds, jobs=jobs, repeats=repeats)
    print(json.dumps(result) if as_json else describe(result))


@bench_app.command("select")
def bench_select_command(
    rows: int = typer.Option(10_000_000, "--rows", min=100, help="Synthetic catalog rows."),
    workdir: Path = typer.Option(Path("manifests/bench"), help="Where the synthetic catalog "
                                                               "is built (and reused)."),
    memory_limit: Optional[str] = typer.Option("3GB", help="DuckDB memory limit."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the pandas run."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Freezing a selection in DuckDB vs plain pandas over a synthetic catalog."""
    from curate.select.bench import bench_select, describe

    result = bench_select(rows, workdir=workdir, baseline=not no_baseline,
                          memory_limit=memory_limit)
    print(json.dumps(result) if as_json else describe(result))


@bench_app.command("codec")
def bench_codec_command(
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    batch: int = typer.Option(32, "--batch", min=1, help="Clips per batch."),
    seconds: float = typer.Option(4.0, "--seconds", help="Clip duration in seconds."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch CPU threads."),
    quick: bool = typer.Option(False, "--quick", help="One timed repeat (a smoke test)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """G.711 and channel sims batched on the device vs per-clip PyAV; real-codec costs."""
    from curate.augment.bench_codec import bench_codec

    result = bench_codec(device, batch, seconds, threads=threads,
                         **({"repeats": 1, "warmup": 1, "cpu_clips": 2} if quick else {}))
    if as_json:
        print(json.dumps(result))
        return
    console.print(f"g711 batched: {result['value']:.1f} clips/s vs PyAV pcm_mulaw per clip "
                  f"{result['baseline']:.1f} clips/s: {result['ratio']:.1f}x", highlight=False)
    for step, figures in result["tensor"].items():
        console.print(f"  {step:12s} {figures['clips_per_s']:9.1f} clips/s batched, "
                      f"{figures['ratio']:.1f}x its per-clip CPU path", highlight=False)
    for codec, figures in result["codecs"].items():
        console.print(f"  codec {codec:7s} {figures['ms_per_clip']:7.1f} ms per clip on the "
                      f"CPU (RTF {figures['rtf']:.4f})", highlight=False)


@bench_app.command("loader")
def bench_loader_command(
    files: int = typer.Option(48, "--files", min=1, help="Synthetic audio files."),
    seconds: float = typer.Option(8.0, "--seconds", help="File duration in seconds."),
    crop_seconds: float = typer.Option(4.0, "--crop-seconds", help="Training crop, seconds."),
    workers: int = typer.Option(1, "--workers", min=0, help="DataLoader worker processes."),
    source_rate: int = typer.Option(16000, "--source-rate", help="Files' sample rate, Hz."),
    chain: Optional[Path] = typer.Option(None, "--chain", help="An augmentation chain whose "
                                                               "CPU steps run per item."),
    epochs: int = typer.Option(3, "--epochs", min=1),
    shards: bool = typer.Option(False, "--shards", help="Shard streaming vs random file "
                                                        "access on the same clips."),
    repeats: int = typer.Option(5, "--repeats", min=1, help="With --shards: timed passes "
                                                             "of each side, alternating."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Training loader throughput (decode + crop + CPU steps) vs a naive per-item loader;
    with --shards, reading shards vs one file per item."""
    from curate.train.bench import bench_loader

    if shards:
        from curate.train.bench_shards import bench_shard_loader

        result = bench_shard_loader(files, seconds, crop_seconds, workers=workers,
                                    epochs=epochs, source_rate=source_rate,
                                    chain=str(chain) if chain else None, repeats=repeats)
        if as_json:
            print(json.dumps(result, default=str))
            return
        console.print(
            f"shards: {result['shards_items_per_s']:.1f} items/s, "
            f"{result['shards_audio_s_per_s']:.0f} audio-s/s ({result['value']:.0f} per "
            f"worker); files: {result['files_items_per_s']:.1f} items/s, "
            f"{result['files_audio_s_per_s']:.0f} audio-s/s ({result['baseline']:.0f} per "
            f"worker); ratio {result['ratio']:.2f} (median of {result['repeats']} "
            f"alternating passes; {result['workers']} worker(s), "
            f"{result['crop_seconds']:g} s crops of {result['files']} FLAC clips)",
            highlight=False)
        return
    result = bench_loader(files, seconds, crop_seconds, source_rate=source_rate,
                          workers=workers, epochs=epochs, chain=str(chain) if chain else None)
    if as_json:
        print(json.dumps(result, default=str))
        return
    console.print(f"loader: {result['value']:.0f} audio-s/s per worker ({result['total']:.0f} "
                  f"in all, {result['workers']} worker(s)); naive loader "
                  f"{result['baseline']:.0f}; ratio {result['ratio']:.2f}", highlight=False)


@bench_app.command("sam")
def bench_sam_command(
    model: str = typer.Option("small_cnn", "--model", help="A registered model."),
    batch: int = typer.Option(16, "--batch", min=1),
    seconds: float = typer.Option(2.0, "--seconds"),
    steps: int = typer.Option(10, "--steps", min=1, help="Timed steps of each kind."),
    adaptive: bool = typer.Option(False, "--adaptive", help="ASAM instead of SAM."),
    device: str = typer.Option("cpu", "--device"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The cost of a SAM (or ASAM) step relative to a plain step (target <= 2.1x)."""
    from curate.train.bench import bench_sam_step

    result = bench_sam_step(model, batch=batch, seconds=seconds, steps=steps,
                            adaptive=adaptive, device=device)
    if as_json:
        print(json.dumps(result, default=str))
        return
    console.print(f"{'ASAM' if adaptive else 'SAM'} step {result['value']:.1f} ms vs plain "
                  f"{result['baseline']:.1f} ms: {result['ratio']:.2f}x (target <= "
                  f"{result['target_max_ratio']}x)", highlight=False)


@bench_app.command("train")
def bench_train_command(
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto."),
    batch: int = typer.Option(2, "--batch", min=1, help="Crops per batch."),
    seconds: float = typer.Option(4.0, "--seconds", help="Crop duration in seconds."),
    steps: int = typer.Option(3, "--steps", min=1, help="Timed rounds (each kind's fastest "
                                                        "step counts); a round runs each "
                                                        "of the 8 kinds of step once."),
    warmup: int = typer.Option(1, "--warmup", min=0, help="Untimed rounds first."),
    arch: str = typer.Option("wav2vec2_base", "--arch", help="The ssl model's size "
                                                             "(randomly initialised)."),
    tiny: bool = typer.Option(False, "--tiny", help="A tiny 2-layer model instead of "
                                                    "--arch (a smoke test)."),
    precision: str = typer.Option("fp32,bf16", "--precision",
                                  help="fp32, bf16 or both (comma-separated)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch CPU threads."),
    clock: str = typer.Option("wall", "--clock", help="wall, or process: this process's "
                                                      "CPU time (a shared CPU; with "
                                                      "--threads 1)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """SSL training step: fp32 vs bf16, plain vs SAM, with and without activation
    checkpointing; step-time ratios and activation memory measured in one run."""
    from curate.train.bench_train import TINY_ARCH, bench_train, describe

    precisions = [p.strip() for p in precision.split(",") if p.strip()]
    result = bench_train("custom" if tiny else arch, arch_config=TINY_ARCH if tiny else None,
                         batch=batch, seconds=seconds, steps=steps, warmup=warmup,
                         device=device, precisions=precisions, threads=threads,
                         clock=clock)
    print(json.dumps(result) if as_json else describe(result))


@bench_app.command("catalog")
def bench_catalog_command(
    rows: int = typer.Option(10_000_000, "--rows", min=1000, help="Synthetic catalog rows."),
    workdir: Path = typer.Option(Path("manifests/bench"), help="Where the synthetic catalog "
                                                               "is built (and reused)."),
    memory_limit: Optional[str] = typer.Option("3GB", help="DuckDB memory limit."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """prepare's insert, the probe merge, stats, select (quota + split) and a Parquet
    export over a synthetic catalog: time and peak memory of each."""
    from curate.bench_catalog import bench_catalog, describe

    try:
        result = bench_catalog(rows, workdir=workdir, memory_limit=memory_limit)
    except ValueError as exc:
        raise CurateError(f"--memory-limit: {exc}") from None
    print(json.dumps(result) if as_json else describe(result))
