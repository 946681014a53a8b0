"""The training loop, ``train(config, data)``: seeded sampler -> crops and CPU augmentation
-> device stage -> model -> loss -> optimizer (plain, SAM or ASAM).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from curate.errors import CurateError
from curate.threads import torch_threads
from curate.train import distributed as ddp
from curate.train.data import (Batch, CropDataset, CropStage, DynamicBatchSampler,
                               EpochBatchSampler, EpochPlan, PathType, ShardedBatchSampler,
                               ShardFeed, ShardSource, ShardStream, TrainData, check_finite,
                               collate, derive_seed, items_per_batch, stream_weights)
from curate.train.loop.checkpoint import (CheckpointFiles, average_checkpoints,
                                          check_resumable, no_improvement, read_checkpoint,
                                          save_training_state)
from curate.train.loop.config import AugmentLogFn, ProgressFn, TrainConfig, TrainResult
from curate.train.loop.optim import build_optimizer, class_weights, lr_at, resolve_device
from curate.train.loop.rng import local_rng, set_rng_state
from curate.train.loop.scoring import score_dev_eer
from curate.train.loop.step import Stepper
from curate.train.models import build_model, restore_kwargs

# The stream of derive_seed(seed, step, .) that keys a step's layer-drop draws.
LAYER_DROP_STREAM = 7919


class DivergedError(CurateError, FloatingPointError):
    """The training loss became NaN or inf although the input audio was finite (each
    batch is checked): the settings made training diverge."""


def _check_labels(labels: np.ndarray) -> None:
    if len(labels) == 0:
        raise ValueError("paths is empty; training needs labelled audio files")
    if len(set(labels.tolist())) < 2:
        only = "bonafide" if labels[0] == 1 else "spoof"
        raise ValueError(
            f"labels are all {only}; training a detector needs both bonafide (1) and "
            "spoof (0) items"
        )


def _as_data(paths: Any, labels: Sequence[Any] | None) -> TrainData:
    if isinstance(paths, TrainData):
        return paths
    if labels is None:
        raise ValueError("labels is missing; pass one label per path (or a TrainData)")
    if len(paths) != len(labels):
        raise ValueError(
            f"labels has {len(labels)} entries but paths has {len(paths)}; pass one label per path"
        )
    return TrainData.from_lists(paths, labels)


def _epoch_plan(config: TrainConfig, data: TrainData) -> EpochPlan:
    groups = None
    if config.sampler == "temperature":
        if config.sampler_by == "label":
            groups = data.labels
        elif config.sampler_by in data.groups:
            groups = data.groups[config.sampler_by][0]
        else:
            raise ValueError(f"TrainConfig.sampler_by {config.sampler_by!r} is not a column of "
                             f"the training data (it has {', '.join(sorted(data.groups)) or 'none'}"
                             "; label always works)")
    weights = None
    if config.sampler == "weighted":
        if data.weights is None:
            raise ValueError("TrainConfig.sampler 'weighted' needs item weights (a selection's "
                             "weight column)")
        weights = data.weights
    return EpochPlan(data.labels, seed=config.seed, mode=config.sampler, groups=groups,
                     temperature=config.temperature, weights=weights)


def _batch_sampler(config: TrainConfig, data: TrainData, plan: EpochPlan, world: int,
                   num_batches: int | None, start_batch: int = 0) -> Any:
    """The global micro-batch sampler (every rank builds the same one)."""
    if config.max_batch_seconds is None:
        if config.batch_size % world:
            raise ValueError(f"TrainConfig.batch_size {config.batch_size} must be divisible by "
                             f"the {world} DDP ranks (it is the global micro-batch)")
        return EpochBatchSampler(data.labels, config.batch_size, seed=config.seed,
                                 num_batches=num_batches, start_batch=start_batch, plan=plan)
    if config.regime == "long":
        seconds = np.minimum(data.seconds(), config.long_max_seconds)
    else:
        seconds = np.full(len(data), config.crop_seconds)
    return DynamicBatchSampler(plan, seconds, config.max_batch_seconds, buckets=config.buckets,
                               seed=config.seed, num_batches=num_batches,
                               start_batch=start_batch, min_items=world)


def total_steps(config: TrainConfig, data: TrainData | ShardSource, world: int = 1) -> int:
    """The run's optimizer steps: ``config.steps``, or from ``config.epochs`` (on shards:
    the expected items of an epoch of the sampler, in global batches; with dynamic
    batches, in batches of as many items of the expected crop length as the budget
    holds)."""
    if config.epochs is None:
        return config.steps
    if isinstance(data, ShardSource):
        items = stream_weights(data, config.sampler, config.sampler_by,
                               config.temperature).expected_items
        if config.max_batch_seconds is None:
            per_epoch = items / config.batch_size
        else:
            per_epoch = items / (world * items_per_batch(
                config.max_batch_seconds / world, _shard_item_seconds(config, data)))
        return max(1, math.ceil(config.epochs * per_epoch / config.grad_accum))
    plan = _epoch_plan(config, data)
    per_epoch = _batch_sampler(config, data, plan, world, None).batches_per_epoch()
    return max(1, math.ceil(config.epochs * per_epoch / config.grad_accum))


def _shard_item_seconds(config: TrainConfig, source: ShardSource) -> float:
    """The expected seconds of a cropped item from shards: the crop (fixed regime), or
    the mean clip length, cut to the middle of the long regime's crop range."""
    if config.regime == "fixed":
        return config.crop_seconds
    return min(source.mean_seconds, (config.long_min_seconds + config.long_max_seconds) / 2)


def _shard_feed(config: TrainConfig, source: ShardSource, ctx: ddp.DistContext,
                device: torch.device, chain: Any, state: dict | None, step: int,
                where: Any) -> ShardFeed:
    """The rank's shard stream, started where the checkpoint's ``state`` says. Fixed
    batches: ``batch_size / world`` items per rank; dynamic: ``max_batch_seconds /
    world`` padded seconds per rank (both the global micro-batch, as on files)."""
    dynamic = config.max_batch_seconds is not None
    if not dynamic and config.batch_size % ctx.world:
        raise ValueError(f"TrainConfig.batch_size {config.batch_size} must be divisible by "
                         f"the {ctx.world} DDP ranks (it is the global micro-batch)")
    start = ShardFeed.start_of(state, world=ctx.world, workers=config.num_workers,
                               batches=step * config.grad_accum, where=where)
    stage = CropStage(config.sample_rate, config.crop_seconds, True, config.regime,
                      (config.long_min_seconds, config.long_max_seconds))
    stream = ShardStream(source, stage, seed=config.seed, rank=ctx.rank, world=ctx.world,
                         workers=config.num_workers, buffer=config.shuffle_buffer,
                         weights=stream_weights(source, config.sampler, config.sampler_by,
                                                config.temperature),
                         chain=chain, start=start)
    if dynamic:
        return ShardFeed(stream, pin_memory=device.type == "cuda",
                         max_seconds=config.max_batch_seconds / ctx.world)
    return ShardFeed(stream, config.batch_size // ctx.world, pin_memory=device.type == "cuda")


def _load_chain(config: TrainConfig, chain: Any) -> Any:
    if chain is not None or config.augment is None:
        return chain
    from curate.augment.chain.parse import load_chain

    return load_chain(config.augment)


class _AugmentRecords:
    """Applied augmentation steps per epoch, flushed to a callback at checkpoints."""

    def __init__(self, sink: AugmentLogFn | None, data: TrainData) -> None:
        self.sink = sink
        self.data = data
        self.rows: dict[int, tuple[list[str], list[list[dict]]]] = {}

    def add(self, batch: Batch, device_rows: list[list[dict]] | None) -> None:
        if self.sink is None:
            return
        utt_ids = getattr(batch, "utt_ids", None)  # a shard stream's batch names its items
        for row, epoch in enumerate(batch.epoch.tolist()):
            steps = list(batch.steps[row]) + (list(device_rows[row]) if device_rows else [])
            ids, logged = self.rows.setdefault(epoch, ([], []))
            ids.append(utt_ids[row] if utt_ids is not None
                       else self.data.utt_ids[int(batch.index[row])])
            logged.append(steps)

    def flush(self, ctx: ddp.DistContext) -> None:
        if self.sink is None:
            return
        import pandas as pd

        gathered = ddp.gather_objects(self.rows, ctx)
        self.rows = {}
        if not ctx.is_main:
            return
        for epoch in sorted({e for part in gathered for e in part}):
            ids = [u for part in gathered for u in part.get(epoch, ([], []))[0]]
            steps = [s for part in gathered for s in part.get(epoch, ([], []))[1]]
            self.sink(int(epoch), pd.DataFrame({"utt_id": ids, "steps": steps}))


def _with_run_threads(fn: Callable[..., TrainResult]) -> Callable[..., TrainResult]:
    """Run ``fn(config, ...)`` with the config's torch intra-op threads (``threads``)."""
    @functools.wraps(fn)
    def wrapper(config: TrainConfig, *args: Any, **kwargs: Any) -> TrainResult:
        with torch_threads(config.threads or None):
            return fn(config, *args, **kwargs)

    return wrapper


@_with_run_threads
def train(
    config: TrainConfig,
    paths: Sequence[PathType] | TrainData | None,
    labels: Sequence[Any] | None = None,
    *,
    dev: TrainData | tuple[Sequence[PathType], Sequence[Any]] | None = None,
    out_dir: PathType | None = None,
    resume: bool = False,
    stop_at: int | None = None,
    progress: ProgressFn | None = None,
    augment_log: AugmentLogFn | None = None,
    chain: Any = None,
) -> TrainResult:
    """Train ``config.model`` on labelled audio files.

    Args:
        config: the run's settings.
        paths: audio files (any rate / channel count soundfile reads), or a
            :class:`TrainData` (paths, labels, ids, durations, groups, weights); None
            (ignored) when ``config.shards`` names shards to stream instead (see
            :mod:`curate.train.data.shards`; each rank's stream never ends, so ranks
            take the same steps also with dynamic batches of different sizes: the loss
            is normalised by the global batch).
        labels: one per path: 1 / "bonafide" or 0 / "spoof" (not with TrainData).
        dev: dev data for ``eval_every`` / best-k checkpoints: a TrainData or
            ``(paths, labels)``.
        out_dir: folder of ``checkpoints/`` (None: no checkpoints, no resume).
        resume: continue from ``out_dir/checkpoints/last.pt`` (a fresh start if absent).
        stop_at: stop after this step, with a checkpoint (a time-sliced or interrupted
            run; resuming later finishes it exactly as an uninterrupted run would).
        progress: ``progress(step, total, loss)``, called every ``config.log_every``
            steps and at the last step, with ``loss`` the mean over those steps (main
            process only).
        augment_log: ``augment_log(epoch, frame)`` receives the applied augmentation
            (``frame`` columns utt_id, steps) at each checkpoint and at the end, when
            ``config.log_augmentation`` (main process only).
        chain: an augmentation chain object to use instead of loading ``config.augment``
            (anything with ``cpu_stage`` / ``device_stage``, ``has_cpu_steps`` /
            ``has_device_steps``).

    Returns:
        :class:`TrainResult` with the model in eval mode.
    """
    source = ShardSource.open(config.shards, config.shards_split) if config.shards else None
    data = None if source is not None else _as_data(paths, labels)
    if source is not None:
        source.check_labels()
    else:
        _check_labels(data.labels)
    ctx = ddp.context()
    device = resolve_device(config.device, ctx)
    chain = _load_chain(config, chain)
    if dev is not None and not isinstance(dev, TrainData):
        dev = TrainData.from_lists(*dev)
    if config.select == "best" and dev is None:
        raise ValueError("TrainConfig.select = 'best' needs dev data; pass dev=... or set "
                         "select = 'last'")
    cpu_chain = chain if chain is not None and getattr(chain, "has_cpu_steps", True) else None
    dataset = None if source is not None else CropDataset(
        data.paths, data.labels, sample_rate=config.sample_rate, seconds=config.crop_seconds,
        train=True, seed=config.seed, regime=config.regime,
        long_seconds=(config.long_min_seconds, config.long_max_seconds),
        chain=cpu_chain, return_meta=True,
    )
    device_stage = chain is not None and getattr(chain, "has_device_steps", False)
    plan = _epoch_plan(config, data) if source is None else None
    steps_total = total_steps(config, source or data, ctx.world)
    weights = (source.class_weights() if source is not None else class_weights(data.labels)
               ).to(device) if config.class_weighting else None
    folder = Path(out_dir) / "checkpoints" if out_dir is not None else None
    ckpts = CheckpointFiles(folder, config.keep_last, config.keep_best)
    records = _AugmentRecords(augment_log if config.log_augmentation else None, data)

    losses: list[float] = []
    dev_eer: dict[int, float] = {}
    pending: list[torch.Tensor] = []
    window: list[float] = []
    step = 0
    resumed_from = 0
    stream_state = None  # a shard run's position in its stream (from the checkpoint)
    started = time.perf_counter()
    with local_rng(config.seed, device):
        model = build_model(config.model, sample_rate=config.sample_rate, **config.model_kwargs)
        model_kwargs = restore_kwargs(model, config.model_kwargs)
        model.to(device).train()
        optimizer = build_optimizer(model, config)
        if ctx.rank > 0:  # other dropout draws on each rank; rank 0 keeps the plain stream
            torch.manual_seed(derive_seed(config.seed, ctx.rank))
        if resume and ckpts.last is not None and ckpts.last.is_file():
            state = read_checkpoint(ckpts.last, map_location=device)
            check_resumable(state, config, ckpts.last)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            extra = state["extra"]
            step = resumed_from = int(state["step"])
            losses = list(extra["losses"])
            dev_eer = {int(k): float(v) for k, v in extra["dev_eer"].items()}
            ckpts.best = [(float(e), int(s)) for e, s in extra["best"]]
            per_rank = extra["rng"]
            set_rng_state(per_rank[ctx.rank] if ctx.rank < len(per_rank) else per_rank[0],
                           device)
            streams = extra.get("stream") or []
            stream_state = streams[ctx.rank] if ctx.rank < len(streams) else None
        net: nn.Module = model
        if ctx.active:
            net = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=bool(getattr(model, "may_skip_parameters", False)))
        if config.compile:
            net = torch.compile(net)
        stepper = Stepper(model, net, optimizer, config, ctx, weights, device)
        if resume and ckpts.last is not None and ckpts.last.is_file():
            stepper.scaler.load_state_dict(extra.get("scaler"))
        feed = None
        if source is not None:
            feed = _shard_feed(config, source, ctx, device, cpu_chain, stream_state, step,
                               ckpts.last)
            batches = iter(feed)
        else:
            sampler = ShardedBatchSampler(
                _batch_sampler(config, data, plan, ctx.world, steps_total * config.grad_accum,
                               start_batch=step * config.grad_accum),
                ctx.rank, ctx.world)
            loader = torch.utils.data.DataLoader(
                dataset,
                batch_sampler=sampler,
                collate_fn=collate,
                num_workers=config.num_workers,
                pin_memory=device.type == "cuda",
                generator=torch.Generator().manual_seed(config.seed),
            )
            batches = iter(loader)
        early_stopped = False

        while step < steps_total:
            lr = lr_at(step, base_lr=config.lr, warmup_steps=config.warmup_steps,
                       total_steps=steps_total, min_lr_ratio=config.min_lr_ratio,
                       schedule=config.schedule)
            for group in optimizer.param_groups:  # each part at its own multiple
                group["lr"] = lr * group.get("lr_scale", 1.0)
            if hasattr(model, "set_step_seed"):  # same layer drop in every pass and rank
                model.set_step_seed(derive_seed(config.seed, step, LAYER_DROP_STREAM))

            # A step's micro-batches: to the device, then the chain's device stage.
            micro = []
            weight_sum = torch.zeros((), device=device)
            for k in range(config.grad_accum):
                batch: Batch = next(batches)
                check_finite(batch.x, (lambda row, b=batch: feed.describe(b, row)) if feed
                             else lambda row, index=batch.index: _describe_item(
                                 data, int(index[row])))
                x = batch.x.to(device, non_blocking=True)
                lengths = batch.lengths.to(device, non_blocking=True)
                y = batch.labels.to(device, non_blocking=True)
                rows = None
                if device_stage:
                    g = torch.Generator(device=device).manual_seed(
                        derive_seed(config.seed, step, k, ctx.rank))
                    x, rows = chain.device_stage(x, lengths, g)
                records.add(batch, rows)
                weight_sum += weights[y].sum() if weights is not None else y.numel()
                micro.append((x, lengths, y))
            # Normalise by the global batch: the ranks' averaged gradients then equal the
            # gradient of the mean loss over the whole step, as in one process.
            scale = ctx.world / ddp.all_reduce_sum(weight_sum, ctx)

            step_loss = stepper.step(micro, scale, step)
            step += 1
            pending.append(step_loss)

            last = step == steps_total or step == stop_at
            checkpoint_due = ckpts.folder is not None and (
                last or (config.checkpoint_every and step % config.checkpoint_every == 0))
            if step % config.log_every == 0 or last or checkpoint_due:
                # the losses of the steps since the last time, summed over ranks (one
                # host-device sync per log interval, not per step)
                values = ddp.all_reduce_sum(torch.stack(pending), ctx).tolist()
                pending.clear()
                bad = [v for v in values if not math.isfinite(v)]
                if bad:  # the input audio was finite (every batch is checked): divergence
                    raise DivergedError(
                        f"training loss became {bad[0]} by step {step} although the input "
                        "audio is finite; lower the learning rate (optim.lr in an experiment, "
                        "TrainConfig.lr) or clip gradients (optim.grad_clip), and check the "
                        "augmentation chain's device steps"
                    )
                losses.extend(values)
                window.extend(values)
            if (step % config.log_every == 0 or last) and window:
                if progress is not None and ctx.is_main:
                    progress(step, steps_total, sum(window) / len(window))
                window.clear()
            if dev is not None and config.eval_every and (step % config.eval_every == 0
                                                          or step == steps_total):
                eer = score_dev_eer(model, dev, config, device, ctx)  # shared by the ranks
                dev_eer[step] = eer
                if ctx.is_main:
                    ckpts.add_best(eer, step, model, config, model_kwargs)
                model.train()
                early_stopped = step < steps_total and no_improvement(dev_eer, config.patience)
            if checkpoint_due:
                records.flush(ctx)
                save_training_state(ckpts, model, optimizer, config, model_kwargs, step,
                                     losses, dev_eer, device, ctx, weights,
                                     scaler=stepper.scaler.state_dict(),
                                     stream=feed.state() if feed else None)
            if early_stopped:
                records.flush(ctx)
                save_training_state(ckpts, model, optimizer, config, model_kwargs, step,
                                     losses, dev_eer, device, ctx, weights,
                                     scaler=stepper.scaler.state_dict(),
                                     stream=feed.state() if feed else None)
                break
            if stop_at is not None and step >= stop_at:
                break
        records.flush(ctx)
        del batches

    if ctx.active:  # dev evaluation ran on rank 0; every rank ends with the same model
        ckpts.best, dev_eer = ddp.broadcast_object((ckpts.best, dev_eer), ctx)
    finished = step == steps_total or early_stopped
    if config.select == "best" and ckpts.best and finished:
        best_step = ckpts.best[0][1]
        if best_step != step:
            state = read_checkpoint(ckpts.best_path(best_step), map_location=device)
            model.load_state_dict(state["model"])
    elif config.select == "average" and ckpts.best and finished:
        model.load_state_dict(average_checkpoints(
            [ckpts.best_path(s) for _, s in ckpts.best], map_location=device))
    model.eval()
    return TrainResult(
        model=model,
        losses=losses,
        steps=step,
        config=config,
        device=str(device),
        elapsed_s=time.perf_counter() - started,
        total_steps=steps_total,
        dev_eer=dev_eer,
        best=list(ckpts.best),
        checkpoint_dir=ckpts.folder,
        resumed_from=resumed_from,
        class_weights=None if weights is None else weights.cpu().tolist(),
        early_stopped=early_stopped,
    )


def _describe_item(data: TrainData, index: int) -> str:
    """An item as errors name it: ``utt_id 'c:x' (/path/x.wav)``."""
    utt_id, path = data.utt_ids[index], data.paths[index]
    return f"{path}" if utt_id == path else f"utt_id {utt_id!r} ({path})"
