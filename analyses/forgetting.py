"""Thesis Fig. 4.8, forgetting and recovery: a LeNet trained on low-pass ∪ high-pass Fashion-MNIST
(each training image twice: its 14×14 lowest and its 14×14 highest DCT frequencies), then
fine-tuned on the low-pass images only, then on both again, each stage with the thesis' MNIST
recipe (triangular, peak 0.21, weight decay 5e-4; 30 epochs for the first stage, `--stage-epochs`
for the fine-tuning ones).  After every stage: the margins per diagonal 8×8 DCT band on low-pass
test images, and the accuracy on the low-pass and the high-pass test sets.  Expected: the
high-frequency boundaries (small margins in the high bands, high-pass accuracy) disappear after
the low-pass stage and come back after the last one.

    python -m analyses.forgetting --out DIR [--data fashion-mnist] [--epochs 30] [--stage-epochs 10] [--n 500]

Resumable (rerun the same command).  Writes in DIR: `STAGE.pt`, `STAGE.history.nc` and `STAGE.nc`
(margins, `probe='margins'`, `refine=True`) for the stages `both`, `low_pass`, `both_again`; the
figure `forgetting.pdf` (and `.png`; `figures.forgetting`) and `forgetting.nc`:

- `margin(stage, subspace, sample)`, `margin_refined(...)`, `converged(...)` (+inf: not converged),
  coordinate `band_start(subspace)`; `accuracy(stage, test_set)` in %, `test_set` ∈ {low_pass, high_pass}.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from analyses import thesis
from figures import common
from figures.forgetting import draw
from probe import results
from probe.margins import run
from probe.spectral import dct_diagonal_blocks
from probe.tables import format_table
from probe.train import test_accuracy

STAGES = ("both", "low_pass", "both_again")
TITLES = {"both": "trained on low ∪ high", "low_pass": "fine-tuned on low only",
          "both_again": "fine-tuned on low ∪ high"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/forgetting"))
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--band", type=int, default=14, help="B: the low / high-pass images keep a B×B DCT corner")
    parser.add_argument("--epochs", type=int, default=thesis.MNIST.epochs, help="epochs of the first stage")
    parser.add_argument("--stage-epochs", type=int, default=10, help="epochs of each fine-tuning stage")
    parser.add_argument("--n", type=int, default=500, help="low-pass test images per margin sweep")
    args = thesis.parse(parser)
    train_full, test_full = thesis.fashion_mnist(args.data)
    low, high = f"low-pass:{args.band}", f"high-pass:{args.band}"
    train = {"low_pass": thesis.variant(train_full, low), "high_pass": thesis.variant(train_full, high)}
    tests = {"low_pass": thesis.variant(test_full, low), "high_pass": thesis.variant(test_full, high)}
    both = thesis.Union(train["low_pass"], train["high_pass"])
    stage_data = {"both": both, "low_pass": train["low_pass"], "both_again": both}
    family = dct_diagonal_blocks((1, 28, 28))
    model = thesis.lenet(both, args.seed)
    sweeps, accuracy = [], []
    for number, stage in enumerate(STAGES):
        recipe = thesis.MNIST.scaled(epochs=args.epochs if number == 0 else args.stage_epochs)
        print(f"--- {stage}: {recipe}, {len(stage_data[stage])} training images", flush=True)
        thesis.train(model, stage_data[stage], tests["low_pass"], args.out / f"{stage}.pt", recipe,
                     seed=args.seed + number, log=lambda line, s=stage: print(f"{s}: {line}", flush=True))
        model.eval()
        accuracy.append([test_accuracy(model, tests[t], torch.device("cpu")) for t in tests])
        ds = run(model, tests["low_pass"], subspaces=family, n=args.n, seed=args.seed, max_iter=args.max_iter,
                 refine=True, out=args.out / f"{stage}.nc", resume=True)
        print(f"{stage}: accuracy low-pass {accuracy[-1][0]:.2f} %, high-pass {accuracy[-1][1]:.2f} %; median margin "
              f"per band", np.array2string(np.median(ds["margin"].values, axis=1), precision=3, max_line_width=200),
              flush=True)
        sweeps.append(ds[["margin", "margin_refined", "converged"]])
    table = xr.concat(sweeps, dim="stage").assign_coords(stage=[TITLES[s] for s in STAGES])
    table["accuracy"] = (("stage", "test_set"), np.array(accuracy), {"long_name": "test accuracy", "units": "%"})
    table = table.assign_coords(test_set=list(tests))
    table.attrs = results.provenance("forgetting", {k: str(v) for k, v in vars(args).items()},
                                     data_identity={"data": args.data, "split": "test"}, seed=args.seed)
    results.save(table, args.out / "forgetting.nc")
    medians = np.median(table["margin"].values, axis=2)
    high_bands = table["band_start"].values >= args.band
    rows = [[stage, *accuracy[i], float(np.median(medians[i, ~high_bands])), float(np.median(medians[i, high_bands])),
             float(100 * (1 - table["converged"].values[i][high_bands].mean()))] for i, stage in enumerate(STAGES)]
    print(format_table(["stage", "low-pass acc %", "high-pass acc %", "median margin, low bands",
                        f"median margin, bands ≥ {args.band}", "not conv. there %"], rows))
    print("expected (thesis Fig. 4.8): high-band margins grow and high-pass accuracy falls after the low-pass stage; "
          "both come back after the last stage")
    print("figure:", ", ".join(map(str, common.render(draw, args.out))))


if __name__ == "__main__":
    main()
