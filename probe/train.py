"""Training: `fit(...)` in Python and `python -m probe.train` on the command line.

SGD with momentum (optional Nesterov) and weight decay; triangular, cosine, step or
constant learning-rate schedules; gradient-norm clipping; the dataset's usual random
crop / horizontal flip; an `--augment` hook (`probe.augment`); frequency transforms of
the data (`--transform`).  A checkpoint is written every epoch, and `--resume` continues
from it with the same result as an uninterrupted run.
"""
from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import cli, models, results
from probe.augment import Augmentation, parse_augment, random_crop_flip
from probe.augment.adversarial import parse_adversarial
from probe.data import TransformedDataset, get_batch, image_shape, num_classes
from probe.data.transforms import parse_transform
from probe.errors import ParameterError
from probe.evaluate import accuracy

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
        quiet: bool = True, log: Callable[[str], None] | None = None) -> xr.Dataset:
    """Train `model` in place and return its history (`probe='train'`, dimension `epoch`).

    With `checkpoint`, the model (probe checkpoint format) and the optimiser state are
    written after every epoch; `resume=True` restarts from them.
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
    history: dict[str, list[float]] = {k: [] for k in ("train_loss", "train_accuracy", "test_accuracy", "lr", "seconds")}
    first_epoch = 0
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if resume and checkpoint is not None and _state_path(checkpoint).exists():
        state = torch.load(_state_path(checkpoint), map_location=device, weights_only=True)
        model.load_state_dict(models.load(checkpoint, map_location=device).state_dict())
        optimizer.load_state_dict(state["optimizer"])
        history = {k: list(v) for k, v in state["history"].items()}
        first_epoch = int(state["epoch"])
    generator_device = device if device.type == "cuda" else torch.device("cpu")
    meta = dict(meta or {})
    for epoch in range(first_epoch, epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).numpy()
        generator = torch.Generator(device=generator_device).manual_seed(seed * 100_003 + epoch + 7)
        loss_sum, correct, seen = 0.0, 0, 0
        bar = cli.progress_bar(len(train_set), f"epoch {epoch + 1}/{epochs}", quiet)
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
            bar.update(len(batch))
        bar.close()
        test_acc = accuracy(model, test_set, device=device) if test_set is not None else float("nan")
        for key, value in (("train_loss", loss_sum / seen), ("train_accuracy", 100.0 * correct / seen),
                           ("test_accuracy", test_acc), ("lr", optimizer.param_groups[0]["lr"]),
                           ("seconds", time.perf_counter() - start)):
            history[key].append(float(value))
        if checkpoint is not None:
            meta.update(epochs_done=epoch + 1, test_accuracy=test_acc)
            models.save(model, checkpoint, meta=meta)
            torch.save({"epoch": epoch + 1, "optimizer": optimizer.state_dict(), "history": history},
                       _state_path(checkpoint))
        if log:
            log(f"epoch {epoch + 1:3d}/{epochs}  loss {history['train_loss'][-1]:.4f}  "
                f"train {history['train_accuracy'][-1]:.2f}%  test {test_acc:.2f}%  "
                f"({history['seconds'][-1]:.1f}s)")
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


# ----------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser("python -m probe.train", "Train a classifier and save a probe checkpoint.",
                             checkpoint=False)
    parser.set_defaults(out=None)
    parser.add_argument("--arch", default="lenet", help="architecture (%(default)s); see probe.models.ARCHITECTURES")
    parser.add_argument("--arch-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="architecture keyword argument, e.g. depth=16 (repeatable)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.1, help="peak learning rate")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--nesterov", action="store_true")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--schedule", default="triangular", choices=SCHEDULES)
    parser.add_argument("--clip-grad", type=float, default=0.5, help="gradient-norm clipping (0: off)")
    parser.add_argument("--no-standard-augment", action="store_true", help="no random crop / flip")
    parser.add_argument("--augment", default="none", help="training augmentation, NAME[:ARGS] (see probe.augment)")
    parser.add_argument("--adversarial", help="PGD adversarial training wrapping --augment: l2:EPS[:STEPS] or linf:EPS[:STEPS]")
    parser.add_argument("--transform", help="data transform: dct-flip, low-pass:B, high-pass:B")
    parser.add_argument("--mean", type=float, nargs="+", help="per-channel input mean (default: from the data)")
    parser.add_argument("--std", type=float, nargs="+", help="per-channel input std (default: from the data)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint written each epoch")
    return parser


def _arch_kwargs(pairs: Sequence[str]) -> dict:
    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ParameterError(f"--arch-arg must be KEY=VALUE, got '{pair}'")
        for cast in (int, float):
            try:
                kwargs[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            kwargs[key] = {"true": True, "false": False}.get(value.lower(), value)
    return kwargs


def channel_statistics(dataset, limit: int = 10_000) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of (up to `limit`) images, for the input normalisation."""
    x, _ = get_batch(dataset, np.arange(min(limit, len(dataset))))
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()


def run(args: argparse.Namespace) -> None:
    if args.out is None:
        raise ParameterError("--out CHECKPOINT.pt is required")
    device = cli.resolve_device(args.device)
    train_set = cli.load_data(args, "train")
    test_set = cli.load_data(args, "test")
    if args.transform:
        transform = parse_transform(args.transform)
        train_set = TransformedDataset(train_set, transform, args.transform)
        test_set = TransformedDataset(test_set, transform, args.transform)
    if args.n is not None:
        from probe.data import subset_indices
        train_set = torch.utils.data.Subset(train_set, subset_indices(len(train_set), args.n, args.seed).tolist())
        train_set.info = dict(getattr(train_set.dataset, "info", {}))
    channels, height, width = image_shape(test_set)
    mean, std = (args.mean, args.std) if args.mean and args.std else channel_statistics(train_set)
    torch.manual_seed(args.seed)
    model = models.build(args.arch, in_channels=channels, num_classes=num_classes(test_set),
                         image_size=(height, width), mean=mean, std=std, **_arch_kwargs(args.arch_arg))
    augment = parse_augment(args.augment, dict(getattr(train_set, "info", {}), num_classes=num_classes(test_set)))
    if args.adversarial:
        augment = parse_adversarial(args.adversarial, inner=augment)
    meta = {"data": args.data, "transform": args.transform or "none", "augment": args.augment,
            "adversarial": args.adversarial or "none",
            "epochs": args.epochs, "lr": args.lr, "schedule": args.schedule, "seed": args.seed,
            "input_shape": [channels, height, width]}
    log = None if args.quiet else print
    history = fit(model, train_set, test_set, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                  momentum=args.momentum, nesterov=args.nesterov, weight_decay=args.weight_decay,
                  schedule=args.schedule, clip_grad=args.clip_grad or None,
                  standard_augment=not args.no_standard_augment, augment=augment, seed=args.seed,
                  device=device, checkpoint=args.out, meta=meta, resume=args.resume, quiet=args.quiet, log=log)
    history.attrs = results.provenance("train", dict(vars(args)), model=model, data=args.data, split="train",
                                       seed=args.seed, device=device, elapsed=float(history["seconds"].sum()))
    results.save(history, history_path(args.out))
    if not args.quiet:
        print(f"checkpoint: {args.out}\nhistory: {history_path(args.out)}")
        print(f"final test accuracy: {history['test_accuracy'].values[-1]:.2f}%")
    cli.save_outputs(history, args)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_command(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
