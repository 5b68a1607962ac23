"""Training: `fit(...)` in Python (`python -m probe.train` is its command, `probe.commands.train`).

SGD with momentum (optional Nesterov) and weight decay; triangular, cosine, step or
constant learning-rate schedules; gradient-norm clipping; the dataset's usual random
crop / horizontal flip; an `--augment` hook (`probe.augment`); frequency transforms of
the data (`--transform`).  A checkpoint is written every epoch, and `--resume` continues
from it with the same result as an uninterrupted run.
"""
from __future__ import annotations

import hashlib
import math
import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import xarray as xr
from torch import nn
from torch.utils.data import Dataset

from probe import distributed, models, ranges, results
from probe.augment import Augmentation, random_crop_flip
from probe.data import dataset_size, fingerprint, get_batch
from probe.errors import ParameterError, ResumeError
from probe.logits import BATCH_SIZE, accuracy_over_finite, classify
from probe.params import eval_mode
from probe.seeding import generator_device
from probe.train.loader import loader

SCHEDULES = ("triangular", "cosine", "step", "constant", "linear")
AMP = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}
LR_SCALINGS = (None, "linear")
RANK_STREAM = 1_000_003   # offsets the main-process generator of each rank (rank 0: the single-process stream)


def learning_rate(schedule: str, peak: float, progress: float) -> float:
    """Learning rate at `progress` ∈ [0, 1] of training.

    triangular: 0 → peak at 2/5, then → 0; cosine: peak → 0; step: ×0.1 at 1/2 and 3/4;
    linear: peak → 0 linearly (the thesis' synthetic experiments).
    """
    if schedule == "triangular":
        return float(np.interp(progress, [0.0, 0.4, 1.0], [0.0, peak, 0.0]))
    if schedule == "cosine":
        return peak * 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "step":
        return peak * (0.1 ** ((progress >= 0.5) + (progress >= 0.75)))
    if schedule == "constant":
        return peak
    if schedule == "linear":
        return peak * (1.0 - progress)
    raise ParameterError(f"unknown schedule '{schedule}' (expected one of {', '.join(SCHEDULES)})")


def _state_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".state")


def run_identity(model: nn.Module, train_set: Dataset, augment: Augmentation, world: int,
                 **options: object) -> dict[str, str]:
    """What makes two training runs the same run: every option that changes the result, the
    augmentation(s), the number of processes, the architecture (parameter names and shapes) and
    the training data (size and SHA-256 of its first 64 items)."""
    stages = getattr(augment, "stages", [augment])
    size = dataset_size(train_set)
    x, y = get_batch(train_set, np.arange(min(64, size)))
    shapes = ";".join(f"{name}{tuple(value.shape)}" for name, value in model.state_dict().items())
    return {**{key: str(value) for key, value in options.items()},
            "augment": "+".join(stage.name for stage in stages), "world": str(world),
            "architecture": hashlib.sha256(shapes.encode()).hexdigest(),
            "data_size": str(size), "data_fingerprint": fingerprint(x, y)}


def check_same_run(saved: dict | None, identity: dict[str, str], where: Path) -> None:
    """Refuse to continue a training run from the state of another one (or of an older version
    that recorded no identity)."""
    if saved is None:
        raise ResumeError(f"cannot resume: {where} records no run identity (written by an older version); "
                          "remove it to start again")
    differ = sorted(key for key in identity.keys() | saved.keys() if saved.get(key) != identity.get(key))
    if differ:
        raise ResumeError(f"cannot resume: {where} belongs to another training run ({', '.join(differ)} differ); "
                          "remove it or train without resume")


def _read_state(path: Path, device: torch.device) -> dict:
    """The training state beside a checkpoint; a truncated or foreign file is a `ResumeError`."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:   # a damaged file
        raise ResumeError(f"cannot resume: the training state {path} is truncated or unreadable "
                          f"({type(exc).__name__}); remove it to start again") from None
    if not isinstance(state, dict) or not {"epoch", "optimizer", "history"} <= state.keys():
        raise ResumeError(f"cannot resume: {path} is not a training state; remove it to start again")
    return state


def history_path(checkpoint: Path) -> Path:
    """Where the per-epoch history of a training run is saved (a `probe='train'` result):
    `NAME.pt` → `NAME.history.nc`; a name without a checkpoint suffix keeps all of it
    (`eps_0.3` → `eps_0.3.history.nc`, never `eps_0.history.nc`)."""
    checkpoint = Path(checkpoint)
    stem = checkpoint.stem if checkpoint.suffix in (".pt", ".pth") else checkpoint.name
    return checkpoint.with_name(stem + ".history.nc")


def fit(model: nn.Module, train_set: Dataset, test_set: Dataset | None = None, *, epochs: int = 10,
        batch_size: int = 128, lr: float = 0.1, momentum: float = 0.9, nesterov: bool = False,
        weight_decay: float = 5e-4, schedule: str = "triangular", clip_grad: float | None = 0.5,
        standard_augment: bool = True, augment: Augmentation | None = None, seed: int = 0,
        device: torch.device | str = "cpu",
        checkpoint: str | os.PathLike | None = None, meta: dict | None = None, resume: bool = False,
        progress: Callable[[int], None] | None = None, log: Callable[[str], None] | None = None,
        workers: int = 0, amp: str | None = None, warmup_epochs: float = 0.0, lr_scaling: str | None = None,
        sync_bn: bool = False) -> xr.Dataset:
    """Train `model` in place and return its history (dimension `epoch`).

    With `checkpoint`, the model (probe checkpoint format) and the optimiser state are written
    after every epoch; `resume=True` restarts from them.  `progress(k)` is called with the number
    of training images of every step, `log(line)` once per epoch.  `workers` decode batches in
    `DataLoader` worker processes (see `probe.train.loader`).  On CUDA, `amp` 'bf16' (autocast)
    or 'fp16' (autocast and a gradient scaler) and channels-last memory.  `warmup_epochs` ramps
    the learning rate up linearly before the schedule starts; `lr_scaling='linear'` multiplies
    `lr` by the global batch / 256 (off by default: `lr` is the peak of the run as given).
    Under torchrun the model is wrapped in DistributedDataParallel (`sync_bn`: SyncBatchNorm),
    each rank trains on its share of every epoch, and only rank 0 writes files.
    """
    ranges.check(epochs=(epochs, ranges.integer(1)), batch_size=(batch_size, ranges.integer(1)),
                 lr=(lr, ranges.POSITIVE), momentum=(momentum, ranges.in_range(0.0, 1.0, high_open=True)),
                 weight_decay=(weight_decay, ranges.NON_NEGATIVE), clip_grad=(clip_grad, ranges.NON_NEGATIVE),
                 seed=(seed, ranges.SEED), workers=(workers, ranges.integer(0)),
                 warmup_epochs=(warmup_epochs, ranges.in_range(0.0, epochs, high_open=True)))
    if nesterov and momentum == 0:
        raise ParameterError("nesterov momentum needs momentum > 0")
    if amp not in AMP or lr_scaling not in LR_SCALINGS:
        raise ParameterError(f"amp must be one of {AMP}, lr_scaling one of {LR_SCALINGS}")
    device = torch.device(device)
    if amp is not None and device.type != "cuda":
        raise ParameterError(f"mixed precision (amp={amp}) needs a CUDA device")
    rank, world = distributed.world()
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)   # type: ignore[call-overload]  # torch's stubs omit it
    net = _distributed(model, device, sync_bn) if world > 1 else model
    augment = augment or Augmentation()
    info = dict(getattr(train_set, "info", {}))
    padding = int(info.get("crop_padding", 0)) if standard_augment else 0
    flip = bool(info.get("hflip", False)) and standard_augment
    peak = lr * batch_size * world / 256 if lr_scaling == "linear" else lr
    optimizer = torch.optim.SGD(model.parameters(), lr=peak, momentum=momentum, nesterov=nesterov,
                                weight_decay=weight_decay)
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
    batches, sampler = loader(train_set, batch_size, seed, workers=workers, rank=rank, world=world,
                              pin_memory=device.type == "cuda")
    steps_per_epoch = len(sampler)
    total_steps = epochs * steps_per_epoch
    keys = ("train_loss", "train_accuracy") + (("test_accuracy",) if test_set is not None else ()) + ("lr", "seconds")
    history: dict[str, list[float]] = {k: [] for k in keys}
    first_epoch = 0
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    identity = run_identity(model, train_set, augment, world, epochs=epochs, batch_size=batch_size, lr=lr,
                            momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, schedule=schedule,
                            clip_grad=clip_grad, standard_augment=standard_augment, seed=seed, amp=amp,
                            warmup_epochs=warmup_epochs, lr_scaling=lr_scaling, sync_bn=sync_bn)
    if resume and checkpoint is not None and _state_path(checkpoint).exists():
        state = _read_state(_state_path(checkpoint), device)
        check_same_run(state.get("identity"), identity, _state_path(checkpoint))
        saved = models.load(checkpoint, map_location=device)
        done = cast(dict[str, Any], saved.probe_info)["meta"].get("epochs_done")
        if done != state["epoch"]:
            raise ResumeError(f"cannot resume: {checkpoint} holds epoch {done} but its training state "
                              f"{_state_path(checkpoint)} epoch {state['epoch']}; remove both to start again")
        model.load_state_dict(saved.state_dict())
        optimizer.load_state_dict(state["optimizer"])
        history = {k: list(v) for k, v in state["history"].items()}
        first_epoch = int(state["epoch"])
    elif resume and checkpoint is not None and checkpoint.exists():
        finished_info = cast(dict[str, Any], models.load(checkpoint, map_location="cpu").probe_info)
        finished = finished_info["meta"].get("run_identity")
        if finished != identity:
            raise ResumeError(f"cannot resume: {checkpoint} is a finished training run"
                              f"{'' if finished is None else ' of another recipe'} and has no training state; "
                              "choose another --out, or remove it to train again")
    meta = dict(meta or {}, run_identity=identity)
    last_loss = math.nan
    for epoch in range(first_epoch, epochs):
        start = time.perf_counter()
        net.train()
        sampler.epoch = epoch
        generator = torch.Generator(device=generator_device(device)).manual_seed(
            seed * 100_003 + epoch + 7 + RANK_STREAM * rank)
        totals = torch.zeros(3, dtype=torch.float64)   # loss sum, correct, images
        for step, (x, y) in enumerate(batches):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            if padding or flip:
                x = random_crop_flip(x, padding, flip, generator)
            for group in optimizer.param_groups:
                group["lr"] = scheduled_rate(schedule, peak, (epoch * steps_per_epoch + step) / total_steps,
                                             warmup_epochs / epochs)
            with torch.autocast(device.type, dtype=AMP[amp], enabled=amp is not None):
                loss, logits = augment.loss(net, x, y, generator)
            if not torch.isfinite(loss):
                raise _diverged(f"the loss became {loss.item()}", epoch, step, last_loss, checkpoint)
            last_loss = float(loss.detach())
            optimizer.zero_grad(set_to_none=True)
            _step(loss, model, optimizer, scaler, clip_grad)
            totals += torch.tensor([float(loss.detach()) * len(y), int((logits.argmax(1)[: len(y)] == y).sum()),
                                    len(y)], dtype=torch.float64)
            if progress is not None:
                progress(len(y) * world)
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            raise _diverged("the weights became non-finite", epoch, step, last_loss, checkpoint)
        if world > 1:
            torch.distributed.all_reduce(totals)
        measured = {"train_loss": float(totals[0] / totals[2]), "train_accuracy": float(100.0 * totals[1] / totals[2]),
                    "lr": optimizer.param_groups[0]["lr"]}
        if test_set is not None and rank == 0:
            measured["test_accuracy"] = test_accuracy(model, test_set, device, workers)
        measured["seconds"] = time.perf_counter() - start
        if rank == 0:
            for key, value in measured.items():
                history[key].append(float(value))
            if checkpoint is not None:
                meta.update(epochs_done=epoch + 1, **({"test_accuracy": measured["test_accuracy"]}
                                                      if test_set is not None else {}))
                models.save(model, checkpoint, meta=meta)
                state = {"epoch": epoch + 1, "optimizer": optimizer.state_dict(), "history": history,
                         "identity": identity}
                results.write_atomically(_state_path(checkpoint),
                                         lambda tmp: torch.save(state, tmp))  # noqa: B023 (called at once)
            if log:
                test = f"  test {measured['test_accuracy']:.2f}%" if test_set is not None else ""
                log(f"epoch {epoch + 1:3d}/{epochs}  loss {measured['train_loss']:.4f}  "
                    f"train {measured['train_accuracy']:.2f}%{test}  ({measured['seconds']:.1f}s)")
        distributed.barrier()
    model.eval()
    if rank == 0 and checkpoint is not None and _state_path(checkpoint).exists():
        _state_path(checkpoint).unlink()
    return _history_dataset(history)


def _diverged(what: str, epoch: int, step: int, last_loss: float, checkpoint: Path | None) -> ParameterError:
    """The one-line error of a training run that diverged at (0-based) `epoch` and `step`; the
    checkpoint of the last finished epoch, if any, stays as it is."""
    kept = (f"the checkpoint of epoch {epoch} is kept in {checkpoint}" if checkpoint is not None and epoch
            else "no checkpoint was written")
    return ParameterError(f"training diverged at epoch {epoch + 1}, step {step + 1}: {what} (last finite loss "
                          f"{last_loss:.4g}); {kept}; lower the learning rate or clip gradients")


def scheduled_rate(schedule: str, peak: float, progress: float, warmup: float = 0.0) -> float:
    """The learning rate at `progress` ∈ [0, 1] of training: a linear ramp to `peak` over the
    first `warmup` fraction, then `learning_rate(schedule, ...)` over the rest."""
    if progress < warmup:
        return peak * progress / warmup
    return learning_rate(schedule, peak, (progress - warmup) / (1.0 - warmup))


def _distributed(model: nn.Module, device: torch.device, sync_bn: bool) -> nn.Module:
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _step(loss: torch.Tensor, model: nn.Module, optimizer: torch.optim.Optimizer,
          scaler: torch.amp.GradScaler | None, clip_grad: float | None) -> None:
    """Backward, optional gradient-norm clipping (on unscaled gradients), optimiser step."""
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if clip_grad:
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


@torch.no_grad()
def test_accuracy(model: nn.Module, test_set: Dataset, device: torch.device, workers: int = 0,
                  batch_size: int = BATCH_SIZE) -> float:
    """Accuracy (%) on the test set in eval mode, batches decoded by `workers` processes."""
    batches, _ = loader(test_set, batch_size, 0, workers=workers, shuffle=False, pin_memory=device.type == "cuda")
    correct, finite = [], []
    with eval_mode(model):
        for x, y in batches:
            prediction, ok = classify(model(x.to(device)))
            correct.append((prediction.cpu() == y).numpy())
            finite.append(ok.cpu().numpy())
    return accuracy_over_finite(np.concatenate(correct), np.concatenate(finite))


def _history_dataset(history: dict[str, list[float]]) -> xr.Dataset:
    units = {"train_loss": ("training loss", "nats"), "train_accuracy": ("training accuracy", "%"),
             "test_accuracy": ("test accuracy", "%"), "lr": ("learning rate at epoch end", "1"),
             "seconds": ("epoch wall time", "s")}
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    return xr.Dataset({key: ("epoch", np.asarray(values, dtype=np.float64),
                             {"long_name": units[key][0], "units": units[key][1]})
                       for key, values in history.items()}, coords={"epoch": epochs})


def channel_statistics(dataset: Dataset, limit: int = 10_000) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of (up to `limit`) images, for the input normalisation."""
    x, _ = get_batch(dataset, np.arange(min(limit, dataset_size(dataset))))
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
