"""`python -m probe.masking CHECKPOINT --data SPEC [--norm l2|linf] [--radii R ...] [--steps S ...]
[--baseline OTHER.pt] [--max-iter N] ...`: the gradient-masking symptoms."""
from __future__ import annotations

import argparse

import torch
import xarray as xr

from probe import stats
from probe.attacks.pgd import NORMS
from probe.commands import common
from probe.masking import summary


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--norm", choices=NORMS, help="PGD ball (default %(default)s)")
    parser.add_argument("--radii", type=float, nargs="+", metavar="R",
                        help="PGD radii on the [0, 1] pixel scale (default %(default)s)")
    parser.add_argument("--steps", type=common.positive_int, nargs="+", metavar="S",
                        help="PGD step counts; 1 (the one-step attack) is always included (default %(default)s)")
    parser.add_argument("--baseline", metavar="CHECKPOINT",
                        help="second checkpoint (read with --factory, --trust-checkpoint) whose PGD perturbations "
                             "are transferred to the model")
    parser.add_argument("--max-iter", type=common.positive_int,
                        help="full-space DeepFool iterations (default %(default)s)")
    parser.add_argument("--candidates", type=int, help="DeepFool candidate classes (default %(default)s)")
    parser.add_argument("--overshoot", type=float, help="DeepFool overshoot η (default %(default)s)")


def prepare(args: argparse.Namespace, options: dict, device: torch.device) -> dict:
    """`--baseline PATH` becomes the model it names, loaded like the main checkpoint."""
    if options.get("baseline") is not None:
        options["baseline"] = common.load_model(args, device, path=options["baseline"])
    return options


def report(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """Per radius: accuracy after one step, after the most steps, under noise (and transfer);
    mean loss per step count; then the summary with intervals and n."""
    steps = [int(s) for s in ds["steps"].values]
    headers = ["radius", "one-step acc %", f"PGD-{steps[-1]} acc %", "noise acc %"]
    transfer = "transfer_accuracy" in ds
    if transfer:
        headers.append("transfer acc %")
    headers += [f"loss {s} steps" for s in steps]
    rows = []
    for i, radius in enumerate(ds["radius"].values):
        row = [float(radius), float(ds["accuracy"].values[i, 0]), float(ds["accuracy"].values[i, -1]),
               float(ds["noise_accuracy"].values[i])]
        if transfer:
            row.append(float(ds["transfer_accuracy"].values[i]))
        rows.append(row + [float(v) for v in ds["mean_loss"].values[i]])
    numbers = summary(ds, confidence)

    def text(key: str) -> str:
        return common.interval(common.estimate(numbers, key), ".1f", "%")

    lines = [common.format_table(headers, rows),
             f"clean accuracy {text('clean_accuracy')}   full-space DeepFool success {text('deepfool_success')}   "
             f"zero gradients {text('zero_gradients')}   non-finite gradients {text('non_finite_gradients')}   "
             f"(n = {numbers['samples']} samples, {common.ci(confidence)})"]
    if numbers["failed_steps"]:
        lines.append(f"{numbers['failed_steps']} PGD steps skipped for a non-finite gradient")
    return "\n".join(lines + common.non_finite_note(numbers, "excluded from the accuracies"))


def headline(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> str:
    """The result in one line (the demo's summary)."""
    numbers = summary(ds, confidence)

    def text(key: str) -> str:
        return common.interval(common.estimate(numbers, key), ".0f", "%")

    return (f"DeepFool success {text('deepfool_success')}, at radius {numbers['radius']:g}: one-step "
            f"{text('one_step_accuracy')} vs PGD {text('iterative_accuracy')} vs noise {text('noise_accuracy')} "
            f"accuracy; zero gradients {text('zero_gradients')}; n = {numbers['samples']}")
