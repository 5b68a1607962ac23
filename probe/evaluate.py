"""Accuracy of a model on a dataset: batched predictions, and `python -m probe.evaluate`.

The command is the first sanity check of a new checkpoint: per-sample predictions and
confidences as a result (`probe='evaluate'`), with overall and per-class accuracy.
"""
from __future__ import annotations

import argparse
from typing import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import cli, results, runner
from probe.data import get_batch


@torch.no_grad()
def predict(model: nn.Module, dataset, indices=None, batch_size: int = 256,
            device: torch.device | str = "cpu", transform=None) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and true labels for `indices` (default: all) in eval mode.

    `transform` (tensor → tensor) is applied to each batch of images on `device` first.
    """
    probabilities, labels = predict_proba(model, dataset, indices, batch_size, device, transform)
    return probabilities.argmax(1), labels


@torch.no_grad()
def predict_proba(model: nn.Module, dataset, indices=None, batch_size: int = 256,
                  device: torch.device | str = "cpu", transform=None) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (N, K) and true labels, in eval mode (the mode is restored)."""
    was_training = model.training
    model.eval()
    indices = np.arange(len(dataset)) if indices is None else np.asarray(indices)
    probabilities, labels = [], []
    try:
        for start in range(0, len(indices), batch_size):
            x, y = get_batch(dataset, indices[start:start + batch_size])
            x = x.to(device)
            if transform is not None:
                x = transform(x)
            probabilities.append(torch.softmax(model(x).float(), dim=1).cpu().numpy())
            labels.append(y.numpy())
    finally:
        model.train(was_training)
    return np.concatenate(probabilities), np.concatenate(labels)


def accuracy(model: nn.Module, dataset, indices=None, batch_size: int = 256,
             device: torch.device | str = "cpu", transform=None) -> float:
    """Top-1 accuracy in percent."""
    predictions, labels = predict(model, dataset, indices, batch_size, device, transform)
    return float(100.0 * np.mean(predictions == labels))


def evaluate(model: nn.Module, dataset, indices, batch_size: int = 256,
             device: torch.device | str = "cpu") -> xr.Dataset:
    """Per-sample label, prediction, correctness and confidence over `sample` (dataset indices)."""
    probabilities, labels = predict_proba(model, dataset, indices, batch_size, device)
    predictions = probabilities.argmax(1)
    return xr.Dataset(
        {"label": ("sample", labels, {"long_name": "true class"}),
         "prediction": ("sample", predictions, {"long_name": "predicted class"}),
         "correct": ("sample", predictions == labels, {"long_name": "prediction is correct"}),
         "confidence": ("sample", probabilities.max(1), {"long_name": "softmax probability of the prediction",
                                                         "units": "1"})},
        coords={"sample": np.asarray(indices)})


# ----------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    return cli.make_parser("python -m probe.evaluate", "Accuracy of a checkpoint on a dataset (per class too).")


def run(args: argparse.Namespace) -> None:
    device, model, dataset, indices = cli.setup(args)
    attrs = results.provenance("evaluate", {"n": args.n}, model=model, data=args.data, split=args.split,
                               seed=args.seed, device=device)
    bar = cli.progress_bar(len(indices), "evaluate", args.quiet)
    ds = runner.run_chunked(lambda chunk: evaluate(model, dataset, chunk, args.batch_size, device), indices, attrs,
                            chunk_size=max(args.batch_size, 1024), out=args.out, progress=bar.update)
    bar.close()
    if not args.quiet:
        per_class = ds["correct"].groupby(ds["label"]).mean() * 100
        rows = [(int(c), int((ds["label"] == c).sum()), float(a)) for c, a in zip(per_class["label"].values, per_class.values)]
        print(cli.format_table(["class", "samples", "accuracy %"], rows))
        print(f"accuracy: {100 * float(ds['correct'].mean()):.2f}% on {ds.sizes['sample']} samples")
    cli.save_outputs(ds, args)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_command(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
