"""`curate shard`: a frozen selection as WebDataset-layout tar shards for streaming."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from curate.cli.catalog_commands import AddressOption, EngineOption, _check_engine
from curate.cli.common import DbOption, SkipUnavailableOption, app, catalog_ref, console


@app.command()
def shard(
    selection: str = typer.Argument(..., help="A frozen selection."),
    out: Path = typer.Option(..., "--out", help="The shard folder: new, empty, or an "
                                                "interrupted run of the same shards "
                                                "(it resumes)."),
    split: Optional[List[str]] = typer.Option(None, "--split",
                                              help="Only this split (repeatable; default "
                                                   "all)."),
    shard_size: str = typer.Option("1GB", "--shard-size",
                                   help="About this many bytes per shard (1GB, 500MB, "
                                        "2GiB), or a number of items (1000)."),
    fmt: str = typer.Option("flac", "--format", "-f", help="Audio in the shards: flac or "
                                                           "wav (16-bit PCM)."),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate",
                                              help="Resample to this rate, Hz (default: "
                                                   "each file's own)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes (with "
                                                            "--engine ray and no --address: "
                                                            "the local Ray instance's CPUs)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the order of items across "
                                                      "shards."),
    db: Optional[Path] = DbOption,
    skip_unavailable: bool = SkipUnavailableOption,
    engine: str = EngineOption,
    address: Optional[str] = AddressOption,
) -> None:
    """Write a frozen selection's audio and labels as tar shards (see docs/exports.md;
    --engine ray: docs/scale.md)."""
    from curate.progress import progress_bar
    from curate.shard import shard_selection

    _check_engine(engine, address)
    run = None
    if engine == "ray":
        from curate.shard.ray_writer import ray_runner

        run = ray_runner(address)
    with progress_bar(f"shard {selection}") as bar:
        summary = shard_selection(catalog_ref(db), selection, out, splits=split or (),
                                  shard_size=shard_size, fmt=fmt, sample_rate=sample_rate,
                                  jobs=jobs, seed=seed, skip_unavailable=skip_unavailable,
                                  progress=bar, run=run)
    manifest = summary.manifest
    parts = []
    for name, facts in manifest["splits"].items():
        text = f"{name} {facts['written']} items in {facts['shards']} shards"
        extra = [f"{facts[k]} {k}" for k in ("unreadable", "unavailable") if facts[k]]
        parts.append(text + (f" ({', '.join(extra)})" if extra else ""))
    console.print(f"{manifest['selection']} -> {summary.out} ({manifest['spec_hash'][:12]}): "
                  f"{'; '.join(parts)}; {summary.written} shards written, "
                  f"{summary.reused} kept from an earlier run", highlight=False)
    for item in manifest["unreadable"][:10]:
        console.print(f"  unreadable: {item['utt_id']}: {item['reason']}", highlight=False)
    if len(manifest["unreadable"]) > 10:
        console.print(f"  ... and {len(manifest['unreadable']) - 10} more (in "
                      f"{summary.out / 'manifest.json'})", highlight=False)
