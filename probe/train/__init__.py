"""Training: `fit(...)` in Python (`python -m probe.train` is its command, `probe.commands.train`).

SGD with momentum (optional Nesterov) and weight decay; triangular, cosine, step or
constant learning-rate schedules; gradient-norm clipping; the dataset's usual random
crop / horizontal flip; an `--augment` hook (`probe.augment`); frequency transforms of
the data (`--transform`).  A checkpoint is written every epoch, and `--resume` continues
from it with the same result as an uninterrupted run.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import models
from probe.augment import Augmentation, random_crop_flip
from probe.data import get_batch
from probe.errors import ParameterError
from probe.evaluate import accuracy
from probe.seeding import generator_device

SCHEDULES = ("triangular", "cosine", "step", "constant")


def learning_rate(schedule: str, peak: float, progress: float) -> float:
    """Learning rate at `progress` ∈ [0, 1] of training.

    triangular: 0 → peak at 2/5, then → 0; cosine: peak → 0; step: ×0.1 at 1/2 and 3/4.
    """
    if schedule == "triangular":
        return float(np.interp(progress, [0.0, 0.4, 1.0], [0.0, peak, 0.0]))
    if schedule == "cosine":
        return peak * 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "step":
        return peak * (0.1 ** ((progress >= 0.5) + (progress >= 0.75)))
    if schedule == "constant":
        return peak
    raise ParameterError(f"unknown schedule '{schedule}' (expected one of {', '.join(SCHEDULES)})")


def _state_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".state")


def history_path(checkpoint: Path) -> Path:
    """Where the per-epoch history of a training run is saved (a `probe='train'` result)."""
    return checkpoint.with_suffix(".history.nc")


def fit(model: nn.Module, train_set, test_set=None, *, epochs: int = 10, batch_size: int = 128,
        lr: float = 0.1, momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 5e-4,
        schedule: str = "triangular", clip_grad: float | None = 0.5, standard_augment: bool = True,
        augment: Augmentation | None = None, seed: int = 0, device: torch.device | str = "cpu",
        checkpoint: str | os.PathLike | None = None, meta: dict | None = None, resume: bool = False,
        progress: Callable[[int], None] | None = None, log: Callable[[str], None] | None = None) -> xr.Dataset:
    """Train `model` in place and return its history (dimension `epoch`).

    With `checkpoint`, the model (probe checkpoint format) and the optimiser state are
    written after every epoch; `resume=True` restarts from them.  `progress(k)` is called with
    the number of training images of every step, `log(line)` once per epoch.
    """
    if epochs <= 0 or batch_size <= 0 or lr <= 0:
        raise ParameterError("epochs, batch size and learning rate must be positive")
    device = torch.device(device)
    model.to(device)
    augment = augment or Augmentation()
    info = dict(getattr(train_set, "info", {}))
    padding = int(info.get("crop_padding", 0)) if standard_augment else 0
    flip = bool(info.get("hflip", False)) and standard_augment
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=nesterov,
                                weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    total_steps = epochs * steps_per_epoch
    keys = ("train_loss", "train_accuracy") + (("test_accuracy",) if test_set is not None else ()) + ("lr", "seconds")
    history: dict[str, list[float]] = {k: [] for k in keys}
    first_epoch = 0
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if resume and checkpoint is not None and _state_path(checkpoint).exists():
        state = torch.load(_state_path(checkpoint), map_location=device, weights_only=True)
        model.load_state_dict(models.load(checkpoint, map_location=device).state_dict())
        optimizer.load_state_dict(state["optimizer"])
        history = {k: list(v) for k, v in state["history"].items()}
        first_epoch = int(state["epoch"])
    meta = dict(meta or {})
    for epoch in range(first_epoch, epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).numpy()
        generator = torch.Generator(device=generator_device(device)).manual_seed(seed * 100_003 + epoch + 7)
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(steps_per_epoch):
            batch = order[step * batch_size:(step + 1) * batch_size]
            x, y = get_batch(train_set, batch)
            x, y = x.to(device), y.to(device)
            if padding or flip:
                x = random_crop_flip(x, padding, flip, generator)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(schedule, lr, (epoch * steps_per_epoch + step) / total_steps)
            loss, logits = augment.loss(model, x, y, generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss.item()} at epoch {epoch + 1}, step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            optimizer.step()
            loss_sum += float(loss.detach()) * len(batch)
            correct += int((logits.argmax(1)[: len(y)] == y).sum())
            seen += len(batch)
            if progress is not None:
                progress(len(batch))
        measured = {"train_loss": loss_sum / seen, "train_accuracy": 100.0 * correct / seen,
                    "lr": optimizer.param_groups[0]["lr"]}
        if test_set is not None:
            measured["test_accuracy"] = accuracy(model, test_set, device=device)
        measured["seconds"] = time.perf_counter() - start
        for key, value in measured.items():
            history[key].append(float(value))
        if checkpoint is not None:
            meta.update(epochs_done=epoch + 1, **({"test_accuracy": measured["test_accuracy"]} if test_set else {}))
            models.save(model, checkpoint, meta=meta)
            torch.save({"epoch": epoch + 1, "optimizer": optimizer.state_dict(), "history": history},
                       _state_path(checkpoint))
        if log:
            test = f"  test {measured['test_accuracy']:.2f}%" if test_set is not None else ""
            log(f"epoch {epoch + 1:3d}/{epochs}  loss {measured['train_loss']:.4f}  "
                f"train {measured['train_accuracy']:.2f}%{test}  ({measured['seconds']:.1f}s)")
    model.eval()
    if checkpoint is not None and _state_path(checkpoint).exists():
        _state_path(checkpoint).unlink()
    return _history_dataset(history)


def _history_dataset(history: dict[str, list[float]]) -> xr.Dataset:
    units = {"train_loss": ("training loss", "nats"), "train_accuracy": ("training accuracy", "%"),
             "test_accuracy": ("test accuracy", "%"), "lr": ("learning rate at epoch end", "1"),
             "seconds": ("epoch wall time", "s")}
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    return xr.Dataset({key: ("epoch", np.asarray(values, dtype=np.float64),
                             {"long_name": units[key][0], "units": units[key][1]})
                       for key, values in history.items()}, coords={"epoch": epochs})


def channel_statistics(dataset, limit: int = 10_000) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of (up to `limit`) images, for the input normalisation."""
    x, _ = get_batch(dataset, np.arange(min(limit, len(dataset))))
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
