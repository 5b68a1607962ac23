"""Thesis Fig. 4.13, a few samples move the boundary: take a trained LeNet, replace 100 training
images by their DeepFool adversarial versions x + (1+η) r (true labels kept) and fine-tune on the
modified set; measure, before and after, the margin of each clean image along its own original
adversarial direction r/‖r‖ (a 1-D subspace per sample, `probe.spectral.PerSampleBases`; DeepFool
margin and the exact bisection distance) for those 100 and for 1 000 untouched training images.
Expected: the margins of the replaced samples grow (the boundary moves past x + r), those of the
untouched ones stay.

    python -m analyses.few_samples --model runs/thesis/frequency/standard.pt --out DIR
        [--data fashion-mnist] [--replaced 100] [--untouched 1000] [--epochs 10] [--lr 0.05]

Resumable (rerun the same command).  Writes in DIR: `directions.nc` (the samples, whether
replaced, their DeepFool perturbation norms and unit directions), `before.nc` and `after.nc`
(margins, `probe='margins'`, `refine=True`), `after.pt`, `after.history.nc`, the figure
`few_samples.pdf` (and `.png`; `figures.few_samples`) and `few_samples.nc`:

- `margin(stage, sample)`, `margin_refined(stage, sample)`, `converged(stage, sample)`,
  `stage` ∈ {before, after} (+inf: not converged); `replaced(sample)`; `adversarial_norm(sample)`
  (‖(1+η) r‖ of the replacement); `test_accuracy(stage)` in %; `replaced_accuracy(stage)`: the
  share (%) of the 100 adversarial images classified as their true label.
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from analyses import thesis
from figures import common
from figures.few_samples import draw
from probe import models, results
from probe.attacks.deepfool import deepfool
from probe.data import get_batch
from probe.logits import classify
from probe.margins import run
from probe.spectral import PerSampleBases
from probe.tables import format_table
from probe.train import test_accuracy

BATCH = 128


def directions(model: torch.nn.Module, train_set, args: argparse.Namespace) -> xr.Dataset:
    """DeepFool (full space) on a seeded draw of training images until `replaced + untouched`
    converged ones are found; the first `replaced` of them (in the draw's order) are replaced."""
    wanted = args.replaced + args.untouched
    order = np.random.default_rng(args.seed).permutation(len(train_set))
    kept, norms, units = [], [], []
    for start in range(0, len(order), BATCH):
        chunk = order[start:start + BATCH]
        x, _ = get_batch(train_set, chunk)
        found = deepfool(model, x, overshoot=args.overshoot, max_iter=args.max_iter)
        ok = found.converged.numpy()
        kept.append(chunk[ok])
        norms.append(found.norm.numpy()[ok])
        units.append(torch.nn.functional.normalize(found.r.flatten(1), dim=1).numpy()[ok])
        if sum(len(k) for k in kept) >= wanted:
            break
    samples = np.concatenate(kept)[:wanted]
    return xr.Dataset({"replaced": ("sample", np.arange(wanted) < args.replaced),
                       "adversarial_norm": ("sample", np.concatenate(norms)[:wanted],
                                            {"long_name": "‖(1+η) r‖ of the DeepFool perturbation", "units": "L2"}),
                       "direction": (("sample", "pixel"), np.concatenate(units)[:wanted].astype(np.float32),
                                     {"long_name": "r / ‖r‖, the original adversarial direction"})},
                      coords={"sample": samples})


def replacements(train_set, chosen: xr.Dataset) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """The replaced samples' indices, adversarial images x + (1+η) r and true labels."""
    replaced = chosen.sel(sample=chosen["sample"].values[chosen["replaced"].values])
    x, y = get_batch(train_set, replaced["sample"].values)
    step = torch.as_tensor(replaced["direction"].values).view_as(x) * torch.as_tensor(
        replaced["adversarial_norm"].values, dtype=x.dtype).view(-1, 1, 1, 1)
    return replaced["sample"].values, x + step, y


@torch.no_grad()
def replaced_accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share (%) of the adversarial replacements that `model` gives their true label."""
    prediction, _ = classify(model.eval()(images))
    return float(100.0 * (prediction == labels).double().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("runs/thesis/frequency/standard.pt"),
                        help="a trained LeNet checkpoint (analyses.margins_frequency's standard model)")
    parser.add_argument("--out", type=Path, default=Path("runs/few_samples"))
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--replaced", type=int, default=100)
    parser.add_argument("--untouched", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10, help="fine-tuning epochs (triangular schedule)")
    parser.add_argument("--lr", type=float, default=0.05, help="peak learning rate of the fine-tuning")
    parser.add_argument("--overshoot", type=float, default=0.02)
    args = thesis.parse(parser)
    train_set, test_set = thesis.fashion_mnist(args.data)
    before = models.load(args.model)
    if not (args.out / "directions.nc").is_file():
        results.save(directions(before, train_set, args), args.out / "directions.nc")
    chosen = results.load(args.out / "directions.nc")
    samples = chosen["sample"].values
    shape = tuple(get_batch(train_set, samples[:1])[0].shape[1:])
    family = PerSampleBases(shape, torch.as_tensor(chosen["direction"].values)[:, :, None], samples)
    where, adversarial, labels = replacements(train_set, chosen)
    modified = thesis.Replaced(train_set, where, adversarial)
    after = copy.deepcopy(before)
    recipe = thesis.MNIST.scaled(epochs=args.epochs, lr=args.lr)
    print(f"--- fine-tuning with {args.replaced} adversarial replacements: {recipe}", flush=True)
    history = thesis.train(after, modified, test_set, args.out / "after.pt", recipe, seed=args.seed,
                           log=lambda line: print(f"fine-tuning: {line}", flush=True))
    sweeps, accuracy = [], []
    for stage, model in (("before", before), ("after", after)):
        ds = run(model.eval(), train_set, subspaces=family, max_iter=args.max_iter, overshoot=args.overshoot,
                 refine=True, out=args.out / f"{stage}.nc", resume=True)
        sweeps.append(ds[["margin", "margin_refined", "converged"]].isel(subspace=0, drop=True).sel(sample=samples))
        accuracy.append((test_accuracy(model, test_set, torch.device("cpu")),
                         replaced_accuracy(model, adversarial, labels)))
    table = xr.concat(sweeps, dim="stage").assign_coords(stage=["before", "after"])
    table["replaced"] = chosen["replaced"]
    table["adversarial_norm"] = chosen["adversarial_norm"]
    table["test_accuracy"] = ("stage", [a[0] for a in accuracy], {"long_name": "test accuracy", "units": "%"})
    table["replaced_accuracy"] = ("stage", [a[1] for a in accuracy],
                                  {"long_name": "adversarial replacements given their true label", "units": "%"})
    table.attrs = results.provenance("few_samples", {k: str(v) for k, v in vars(args).items()},
                                     data_identity={"data": args.data, "split": "train"}, seed=args.seed)
    table.attrs.update(final_fine_tuning_test_accuracy=thesis.final(history))
    results.save(table, args.out / "few_samples.nc")
    rows = []
    for group, mask in (("replaced", chosen["replaced"].values), ("untouched", ~chosen["replaced"].values)):
        for variable in ("margin", "margin_refined"):
            values = table[variable].values[:, mask]
            rows.append([group, variable, *np.median(values, axis=1), float(np.median(values[1] / values[0]))])
    print(format_table(["samples", "quantity", "median before", "median after", "median ratio after / before"], rows))
    replaced_norm = float(np.median(chosen['adversarial_norm'].values[chosen['replaced'].values]))
    print(f"median ‖(1+η) r‖ of the replacements {replaced_norm:.4g}; "
          f"test accuracy before {accuracy[0][0]:.2f} %, after {accuracy[1][0]:.2f} %; replacements given their "
          f"true label before {accuracy[0][1]:.0f} %, after {accuracy[1][1]:.0f} %")
    print("expected (thesis Fig. 4.13): the replaced samples' margins grow past ‖r‖, the untouched ones stay")
    print("figure:", ", ".join(map(str, common.render(draw, args.out))))


if __name__ == "__main__":
    main()
