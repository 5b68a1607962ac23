"""Why a LeNet trained on low-passed Fashion-MNIST is not invariant in the removed frequencies
(issue 27): controlled runs that test where the invariance the thesis reports comes from.

Ortiz-Jiménez et al. (2020, "Hold me tight!", §3–4) train on images keeping only the B×B lowest DCT
frequencies and find margins that do not converge (+inf) in the removed bands.  Our low-pass LeNet
(`analyses.margins_frequency`) has large but finite margins there.  Hypothesis: every layer after
the first sees the input only through the first linear stage (input normalisation, conv1 and its
batch norm, up to the first ReLU), so the network is invariant to a removed-band perturbation
exactly when that stage does not respond to it.  A gradient step on low-passed images moves conv1
by sums of low-passed image patches, so the high-frequency response conv1 starts with is never
trained away; weight decay shrinks it only slowly.  The variants, trained with the thesis' MNIST
recipe on the same low-passed data (the low-pass of `analyses.margins_frequency`), seed for seed:

- `baseline`: the low-pass model as published;
- `low_init`: conv1's initial 5×5 kernels low-passed (their k × k lowest kernel-DCT coefficients
  kept, k = ⌈5·B/28⌉, the same cut-off in cycles per pixel), each rescaled to its initial norm;
- `weight_decay`: weight decay `--decay-factor` (10) times the recipe's;
- `low_pass_input`: the fixed DCT low-pass in front of the baseline LeNet (the known answer: the
  removed bands cannot reach conv1, so margins there must be +inf).  The low-pass is a
  projection and the training images are low-passed already, so training this model is training
  the baseline: it is the baseline's weights behind the fixed front, not a separate run.

For each: clean accuracy on the low-passed test set; margins per diagonal 8×8 DCT band on `--n`
low-passed test images (`probe.margins`, refined), with the median's order-statistic interval and
the share not converged per band; the energy ‖L φ‖² of the first linear stage L on every
orthonormal DCT basis image φ, at initialisation and after training (its share in the removed
coefficients is the direct measure of the hypothesis); and, per band, the median over the test
images of ‖P ∇(f₁ − f₂)‖ / ‖∇(f₁ − f₂)‖ (top two logits), which DeepFool reads as no gradient
(the sample stops, not converged) below `probe.attacks.deepfool.ZERO_GRADIENT`.  The report also
gives the least removed share any single first-layer kernel can have (`least_removed_share`):
a 5×5 kernel cannot be band-limited, so only a front that removes the frequencies is invariant.

    python -m analyses.low_pass_invariance --out DIR [--variants ...] [--data fashion-mnist]
        [--epochs 30] [--n 200] [--low-pass 14] [--decay-factor 10]

Resumable (training checkpoints every epoch, margins in chunks).  Writes in DIR: `VARIANT.pt` and
`VARIANT.history.nc` (trained variants), `VARIANT.nc` (margins, attributes `variant`,
`model_label`, `test_accuracy`), `VARIANT.first_layer.nc` (`energy(stage, dct_row, dct_col)`,
`gradient_share(subspace, sample)`), `summary.nc` (every measured variant) and the figure
`low_pass_invariance.pdf` and `.png` (`figures.low_pass_invariance`).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import nn

from analyses import thesis
from analyses.margins_frequency import transforms
from figures.low_pass_invariance import render
from probe import margins, results, stats
from probe.attacks.deepfool import ZERO_GRADIENT
from probe.data import get_batch
from probe.errors import ModelError
from probe.margins import precise_twin
from probe.params import eval_mode
from probe.spectral import DCTMasks, corner_mask, dct_diagonal_blocks, idct2, low_pass
from probe.tables import format_table, interval
from probe.train import test_accuracy

VARIANTS = ("baseline", "low_init", "weight_decay", "low_pass_input")
STAGES = ("init", "trained")
KERNEL = 5          # LeNet's first-layer kernel size


class LowPassInput(nn.Module):
    """`model(low_pass(x, band))`: a fixed DCT low-pass in front of `model`, which then cannot see
    the removed frequencies at all (the positive control)."""

    def __init__(self, model: nn.Module, band: int) -> None:
        super().__init__()
        self.model, self.band = model, band

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(low_pass(x, self.band))


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The model's first convolution."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise ModelError("the model has no convolution")
    return conv


@torch.no_grad()
def low_pass_kernels(model: nn.Module, keep: int) -> None:
    """Keep only the `keep` × `keep` lowest DCT coefficients of every first-layer kernel, each
    rescaled to its former norm (the initialisation's scale stays)."""
    weight = first_conv(model).weight
    kept = low_pass(weight, keep)
    scale = weight.flatten(1).norm(dim=1) / kept.flatten(1).norm(dim=1).clamp_min(1e-12)
    weight.copy_(kept * scale.view(-1, 1, 1, 1))


def kernel_band(low_pass_band: int, image_size: int) -> int:
    """The kernel-DCT cut-off with the image low-pass's frequency in cycles per pixel: a DCT index
    k of an n-point signal is k / (2n) cycles per pixel, so k < KERNEL · B / N."""
    return math.ceil(KERNEL * low_pass_band / image_size)


@torch.no_grad()
def first_layer_energy(model: nn.Module, shape: tuple[int, int, int]) -> np.ndarray:
    """(H, W): ‖L φ_kl‖² for every orthonormal DCT basis image φ_kl (summed over channels), with L
    the linear part of the model up to its first ReLU (normalisation, any fixed front, conv1 and
    batch norm in eval mode), in float64."""
    twin = precise_twin(model)
    relu = next((m for m in twin.modules() if isinstance(m, nn.ReLU)), None)
    if relu is None:
        raise ModelError("the model has no ReLU: its first linear stage is not defined")
    channels, height, width = shape
    basis = idct2(torch.eye(height * width, dtype=torch.float64).reshape(-1, 1, height, width))
    images = torch.cat([torch.zeros(1, 1, height, width, dtype=torch.float64), basis]).expand(-1, channels, -1, -1)
    captured = []
    handle = relu.register_forward_hook(lambda module, args, output: captured.append(args[0]))
    try:
        with eval_mode(twin):
            twin(images)
    finally:
        handle.remove()
    response = captured[0].flatten(1)
    return (response[1:] - response[:1]).square().sum(1).reshape(height, width).cpu().numpy()


@torch.no_grad()
def least_removed_share(conv: nn.Conv2d, shape: tuple[int, int, int], band: int) -> float:
    """The smallest share of its response energy that any single kernel of `conv`'s size and
    padding has in the DCT coefficients outside the `band` × `band` low corner: the least
    generalised eigenvalue of (energy in the removed coefficients, energy in all).  A finite
    kernel's frequency response is a trigonometric polynomial, which cannot vanish on a band, so
    this is above zero: no such first layer is invariant to the removed frequencies."""
    _, height, width = shape
    size = conv.kernel_size
    deltas = torch.eye(size[0] * size[1], dtype=torch.float64).reshape(-1, 1, *size)
    basis = idct2(torch.eye(height * width, dtype=torch.float64).reshape(-1, 1, height, width))
    response = nn.functional.conv2d(basis, deltas, padding=conv.padding).transpose(0, 1).flatten(2)  # (taps, coef, pos)
    removed = ~corner_mask(height, width, band, "low").bool().flatten()
    every = torch.einsum("icp,jcp->ij", response, response)
    outside = torch.einsum("icp,jcp->ij", response[:, removed], response[:, removed])
    whiten = torch.linalg.inv(torch.linalg.cholesky(every))
    return float(torch.linalg.eigvalsh(whiten @ outside @ whiten.T)[0])


def gradient_share(model: nn.Module, x: torch.Tensor, family: DCTMasks) -> np.ndarray:
    """(subspace, sample): ‖P_S ∇(f₁ − f₂)‖ / ‖∇(f₁ − f₂)‖ at each image, f₁, f₂ its two largest
    logits: the share of the first DeepFool step's gradient inside each band."""
    x = x.detach().requires_grad_(True)
    with eval_mode(model), torch.enable_grad():
        top = model(x).topk(2, dim=1).values
        (gradient,) = torch.autograd.grad((top[:, 0] - top[:, 1]).sum(), x)
    inside = family.squared_norms(gradient.detach())                 # (N, S)
    return (inside / gradient.flatten(1).square().sum(1, keepdim=True)).sqrt().T.numpy()


def removed_bands(family: DCTMasks, band: int) -> np.ndarray:
    """The diagonal bands lying wholly in the frequencies the low-pass removes."""
    return family.starts[:, 0] >= band


@dataclasses.dataclass
class Setting:
    """What every variant shares: the data, the band family and the command-line options."""

    args: argparse.Namespace
    train_set: object
    test_set: object
    family: DCTMasks

    @property
    def transform(self) -> str:
        return transforms(self.args.low_pass)["low_pass"]

    def recipe(self, variant: str) -> thesis.Recipe:
        recipe = thesis.MNIST.scaled(epochs=self.args.epochs)
        if variant == "weight_decay":
            recipe = dataclasses.replace(recipe, weight_decay=recipe.weight_decay * self.args.decay_factor)
        return recipe

    def initial(self, variant: str) -> nn.Module:
        """The variant's LeNet as initialised (seeded: the same for every variant but `low_init`)."""
        model = thesis.lenet(self.train_set, self.args.seed)
        if variant == "low_init":
            low_pass_kernels(model, kernel_band(self.args.low_pass, self.family.shape[-1]))
        return model

    def label(self, variant: str) -> str:
        return {"baseline": "baseline",
                "low_init": f"conv1 init low-passed ({self.low_kernel}×{self.low_kernel} of 5×5)",
                "weight_decay": f"weight decay ×{self.args.decay_factor:g} ({self.recipe(variant).weight_decay:g})",
                "low_pass_input": "fixed low-pass input layer (control)"}[variant]

    @property
    def low_kernel(self) -> int:
        return kernel_band(self.args.low_pass, self.family.shape[-1])


def trained(variant: str, setting: Setting) -> tuple[nn.Module, nn.Module, str]:
    """(initial model, trained model, recipe) of a variant; `low_pass_input` puts the fixed front
    on the baseline (training it would repeat the baseline's run, see the module docstring)."""
    args = setting.args
    base = "baseline" if variant == "low_pass_input" else variant
    model, recipe = setting.initial(base), setting.recipe(base)
    print(f"--- {variant}: {recipe}, {len(setting.train_set)} training images", flush=True)
    thesis.train(model, setting.train_set, setting.test_set, args.out / f"{base}.pt", recipe, seed=args.seed,
                 log=lambda line: print(f"{base}: {line}", flush=True))
    initial = setting.initial(base)
    if variant == "low_pass_input":
        return LowPassInput(initial, args.low_pass), LowPassInput(model, args.low_pass), str(recipe)
    return initial, model, str(recipe)


def measure(variant: str, setting: Setting) -> tuple[xr.Dataset, xr.Dataset]:
    """Train (or reuse) and measure one variant: its margins result and its first-layer result,
    both saved in DIR."""
    args, family = setting.args, setting.family
    initial, model, recipe = trained(variant, setting)
    model.eval()
    path = args.out / f"{variant}.nc"
    ds = margins.run(model, setting.test_set, subspaces=family, n=args.n, seed=args.seed, max_iter=args.max_iter,
                     refine=True, out=path, resume=True)
    ds.attrs.update(variant=variant, model_label=setting.label(variant), transform=setting.transform, recipe=recipe,
                    test_accuracy=test_accuracy(model, setting.test_set, torch.device("cpu")),
                    training_images=len(setting.train_set))
    results.save(ds, path)
    x, _ = get_batch(setting.test_set, ds["sample"].values)
    shape = tuple(family.shape)
    layer = xr.Dataset(
        {"energy": results.variable(("stage", "dct_row", "dct_col"),
                                    np.stack([first_layer_energy(initial, shape), first_layer_energy(model, shape)]),
                                    "energy of the first linear stage's response to each DCT basis image", "1"),
         "gradient_share": results.variable(("subspace", "sample"), gradient_share(model, x, family),
                                            "‖P ∇(f1 − f2)‖ / ‖∇(f1 − f2)‖ at the image", "1")},
        coords={"stage": list(STAGES), "subspace": ds["subspace"].values,
                "band_start": ("subspace", family.starts[:, 0]), "sample": ds["sample"].values})
    layer.attrs = results.provenance("first_layer_response", {k: str(v) for k, v in vars(args).items()},
                                     data_identity={"data": args.data, "split": "test"}, seed=args.seed)
    layer.attrs.update(variant=variant, model_label=setting.label(variant), low_pass=args.low_pass)
    results.save(layer, args.out / f"{variant}.first_layer.nc")
    return ds, layer


def removed_share(energy: np.ndarray, band: int) -> np.ndarray:
    """The share of the energy (..., H, W) in the DCT coefficients the low-pass removes."""
    kept = corner_mask(energy.shape[-2], energy.shape[-1], band, "low").numpy().astype(bool)
    return energy[..., ~kept].sum(-1) / energy.reshape(*energy.shape[:-2], -1).sum(-1)


def collect(folder: Path) -> dict[str, tuple[xr.Dataset, xr.Dataset]]:
    """{variant: (margins, first layer)} for the variants measured in `folder`, in `VARIANTS` order."""
    found = {}
    for variant in VARIANTS:
        path, layer = folder / f"{variant}.nc", folder / f"{variant}.first_layer.nc"
        if path.is_file() and layer.is_file():
            ds = results.load(path)
            if "test_accuracy" in ds.attrs:
                found[variant] = (ds, results.load(layer))
    return found


def summary(found: dict[str, tuple[xr.Dataset, xr.Dataset]], band: int, least: float) -> xr.Dataset:
    """Per variant and band: median margin with its interval, share not converged, median gradient
    share and the first layer's energy share per band at init and trained; per variant: accuracy
    and the first layer's energy share in the removed coefficients; `least`: the smallest such
    share a single first-layer kernel can have (`least_removed_share`)."""
    names = list(found)
    first, first_layer = next(iter(found.values()))
    masks = dct_diagonal_blocks((1, *first_layer["energy"].shape[-2:])).masks.numpy()
    rows = {key: [] for key in ("median", "median_low", "median_high", "not_converged", "gradient_share",
                                "band_energy_share", "removed_energy_share", "test_accuracy")}
    for variant in names:
        ds, layer = found[variant]
        medians = margins.band_medians(ds)
        rows["median"].append([m.value for m in medians])
        rows["median_low"].append([m.low for m in medians])
        rows["median_high"].append([m.high for m in medians])
        rows["not_converged"].append(1.0 - ds["converged"].values.mean(axis=1))
        rows["gradient_share"].append(np.median(layer["gradient_share"].values, axis=1))
        energy = layer["energy"].values
        rows["band_energy_share"].append(np.einsum("thw,shw->ts", energy, masks) / energy.sum((-2, -1))[:, None])
        rows["removed_energy_share"].append(removed_share(energy, band))
        rows["test_accuracy"].append(float(ds.attrs["test_accuracy"]))
    out = xr.Dataset(
        {"median": results.variable(("variant", "subspace"), np.array(rows["median"]), "median margin", "pixel"),
         "median_low": results.variable(("variant", "subspace"), np.array(rows["median_low"]),
                                        "lower end of the median's 95 % order-statistic interval", "pixel"),
         "median_high": results.variable(("variant", "subspace"), np.array(rows["median_high"]),
                                         "upper end of the median's 95 % order-statistic interval", "pixel"),
         "not_converged": results.variable(("variant", "subspace"), np.array(rows["not_converged"]),
                                           "share of images not converged", "1"),
         "gradient_share": results.variable(("variant", "subspace"), np.array(rows["gradient_share"]),
                                            "median ‖P ∇(f1 − f2)‖ / ‖∇(f1 − f2)‖", "1"),
         "band_energy_share": results.variable(("variant", "stage", "subspace"), np.array(rows["band_energy_share"]),
                                               "share of the first linear stage's energy in the band", "1"),
         "removed_energy_share": results.variable(
             ("variant", "stage"), np.array(rows["removed_energy_share"]),
             "share of the first linear stage's energy in the removed coefficients", "1"),
         "test_accuracy": results.variable("variant", np.array(rows["test_accuracy"]),
                                           "accuracy on the low-passed test set", "%")},
        coords={"variant": names, "stage": list(STAGES), "subspace": first["subspace"].values,
                "band_start": ("subspace", first["band_start"].values),
                "model_label": ("variant", [found[v][0].attrs["model_label"] for v in names])})
    out.attrs.update(low_pass=band, samples=int(first.sizes["sample"]), zero_gradient=ZERO_GRADIENT,
                     least_removed_share=least)
    return out


def reproduces(table: xr.Dataset, band: int) -> list[str]:
    """The variants whose median margin is +inf (most images not converged) in every removed band."""
    removed = table["band_start"].values >= band
    return [str(v) for v in table["variant"].values
            if np.isinf(table["median"].sel(variant=v).values[removed]).all()]


def report(table: xr.Dataset, found: dict[str, tuple[xr.Dataset, xr.Dataset]]) -> str:
    """The printed tables: per variant, then per band, then which variant reproduces the thesis."""
    band = int(table.attrs["low_pass"])
    removed = table["band_start"].values >= band
    rows = []
    for variant in table["variant"].values:
        row = table.sel(variant=variant)
        ds = found[str(variant)][0]
        inside = stats.median(ds["margin"].values[~removed].ravel())
        outside = stats.median(ds["margin"].values[removed].ravel())
        not_converged = stats.percent(~ds["converged"].values[removed].astype(bool))
        rows.append([str(variant), float(row["test_accuracy"]),
                     *(f"{float(s):.2e}" for s in row["removed_energy_share"].values),
                     interval(inside), interval(outside), interval(not_converged, ".1f"),
                     f"{float(np.median(row['gradient_share'].values[removed])):.2e}"])
    lines = [f"low-pass {band}×{band}; bands from {band} on are removed; "
             f"{table.attrs['samples']} low-passed test images",
             format_table(["variant", "test acc %", "1st-layer removed share, init", "trained",
                           "median margin kept bands", "median margin removed bands", "% not conv. removed",
                           "grad. share removed"], rows),
             "", "median margin per band [95 % interval] (% not converged):"]
    per_band = []
    for s, start in enumerate(table["band_start"].values):
        cells = []
        for variant in table["variant"].values:
            row = table.sel(variant=variant, subspace=table["subspace"].values[s])
            value = stats.Estimate(float(row["median"]), float(row["median_low"]), float(row["median_high"]), 0)
            cells.append(f"{interval(value)} ({100 * float(row['not_converged']):.0f})")
        per_band.append([f"{int(start)}{' removed' if start >= band else ''}", *cells])
    lines.append(format_table(["band", *map(str, table["variant"].values)], per_band))
    winners = reproduces(table, band)
    least = float(table.attrs["least_removed_share"])
    lines += ["", (f"the least share of its response any single first-layer kernel can have in the removed "
                   f"coefficients: {least:.2e} (a finite kernel cannot be band-limited)"),
              f"DeepFool stops (not converged) where the gradient share in the band is ≤ {ZERO_GRADIENT:g}.",
              "reproduces non-converged margins in every removed band: " + (", ".join(winners) if winners else "none")]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/low_pass_invariance"))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    thesis.image_options(parser, n=200)
    parser.add_argument("--decay-factor", type=float, default=10.0,
                        help="weight decay of `weight_decay` / the recipe's")
    args = thesis.parse(parser, argv=argv)
    train_full, test_full = thesis.fashion_mnist(args.data)
    transform = transforms(args.low_pass)["low_pass"]
    setting = Setting(args, thesis.subset(thesis.variant(train_full, transform), args.train_n, args.seed),
                      thesis.variant(test_full, transform), dct_diagonal_blocks((1, 28, 28)))
    for variant in args.variants:
        ds, _ = measure(variant, setting)
        print(f"{variant}: median margin per band", np.array2string(np.median(ds["margin"].values, axis=1), precision=3,
                                                                    max_line_width=200), flush=True)
    found = collect(args.out)
    least = least_removed_share(first_conv(setting.initial("baseline")), tuple(setting.family.shape), args.low_pass)
    table = summary(found, args.low_pass, least)
    results.save(table, args.out / "summary.nc")
    print(report(table, found))
    print("figures:", ", ".join(map(str, render(args.out))))


if __name__ == "__main__":
    main()
