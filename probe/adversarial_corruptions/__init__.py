"""Adversarial corruptions: accuracy under AdA's worst-case corruptions through a corruption network.

    ds = probe.adversarial_corruptions.run(model, data, corruption_net="net.pt", radius=[0, 0.015], n=256)
    probe.adversarial_corruptions.summary(ds)     # robust accuracy and median SSIM per ν, ...

For every sample and every relative radius ν (the `radius` option; dimension `nu`), AdA
(`probe.attacks.ada`) searches per-image offsets of the corruption network's
weights inside `‖β_b‖₂ ≤ ν ‖φ_b‖₂` that maximise the classifier's cross-entropy, and the SSIM
guard pulls over-strong corruptions back.  Over `(nu, sample)`: worst-case correctness on the
guarded corruption, its prediction, the cross-entropy reached (`+inf` with `finite = False` where
the logits are not finite), the SSIM to the clean image before and after the guard, whether
the guard fired and its blend weight.  Over `sample`: the label, and prediction and
correctness on the clean image and on the unperturbed reconstruction `c_φ(x)`, with its SSIM.
Summaries per ν (`finalize`): robust accuracy (over cells with finite logits), SSIM quantiles
before and after the guard, the guard rate; and the run's first samples' clean and corrupted
images (`example_*`, kept by the first chunk) for the figure.

Random starts are seeded per sample (the same random direction at every ν, scaled by the
radius), so results do not depend on batch size, chunking or resumption; at ν = 0 the worst
case is the prediction on `c_φ(x)`, exactly.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import memory, ranges, runner, seeding, stats
from probe.attacks.ada import AdAResult, ada_attack, corrupt, zero_offsets
from probe.errors import ParameterError
from probe.execution import Execution, Unpack, check
from probe.logits import accuracy_over_finite, classify
from probe.models import model_name, weights_sha256
from probe.models.corruption_nets import check_corruption_net, corruption_network
from probe.params import model_device, parameter_blocks
from probe.results import variable
from probe.ssim import GUARD_THRESHOLD, ssim

PROBE = "adversarial_corruptions"
CHUNK_SIZE = 64
BATCH_SIZE = 64        # images attacked at once
RADII = (0.0, 0.0075, 0.015, 0.03)
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def radius_tag(nu: float) -> str:
    """ν as a snake_case key fragment: 0.015 → '0_015'."""
    return f"{float(nu):g}".replace(".", "_")


class AdversarialCorruptionProbe:
    """The per-chunk computation: clean, reconstruction and worst case at every ν, working batch by batch."""

    def __init__(self, model: nn.Module, net: nn.Module, radii: Sequence[float], steps: int, threshold: float,
                 seed: int, examples: int) -> None:
        self.model, self.net = model, net
        self.radii, self.steps, self.threshold = [float(r) for r in radii], int(steps), float(threshold)
        self.seed, self.examples = int(seed), int(examples)

    def attack(self, x: torch.Tensor, y: torch.Tensor, indices: np.ndarray, nu: float) -> AdAResult:
        """AdA at relative radius `nu`, every image's random start drawn from its own generator."""
        generators = [seeding.generator(self.seed, int(i), PROBE, device=x.device) for i in indices]
        return ada_attack(self.model, self.net, x, y, nu=nu, steps=self.steps, generators=generators,
                          threshold=self.threshold)

    def _batch(self, x: torch.Tensor, y: torch.Tensor, indices: np.ndarray, keep: int) -> dict[str, np.ndarray]:
        """Every variable of the working batch `x`; "images": the corruptions of the first `keep` images."""
        with torch.no_grad():
            clean, clean_finite = classify(self.model(x).float())
            phi = parameter_blocks(self.net)
            reconstruction = corrupt(self.net, phi, zero_offsets(phi, len(x)), x)
            rebuilt, rebuilt_finite = classify(self.model(reconstruction).float())
            values = {"clean_prediction": clean, "clean_finite": clean_finite, "reconstruction_prediction": rebuilt,
                      "reconstruction_finite": rebuilt_finite, "reconstruction_ssim": ssim(x, reconstruction)}
        cells = [self.attack(x, y, indices, nu) for nu in self.radii]
        classified = [classify(cell.logits) for cell in cells]
        values.update({
            "prediction": torch.stack([c[0] for c in classified]), "finite": torch.stack([c[1] for c in classified]),
            "loss": torch.stack([c.loss for c in cells]), "ssim": torch.stack([c.ssim_before for c in cells]),
            "ssim_guarded": torch.stack([c.ssim_after for c in cells]),
            "guard_fired": torch.stack([c.guard_fired for c in cells]),
            "guard_gamma": torch.stack([c.gamma for c in cells]),
            "failed_steps": torch.stack([c.failed_steps for c in cells]),
            "images": torch.stack([c.images[:keep] for c in cells], 1)})
        return {key: value.detach().cpu().numpy() for key, value in values.items()}

    def __call__(self, chunk: runner.Chunk) -> xr.Dataset:
        keep = self.examples if chunk.number == 0 else 0     # the run's first samples, for the figure
        parts = [self._batch(chunk.x[i:i + chunk.batch_size], chunk.y[i:i + chunk.batch_size],
                             chunk.indices[i:i + chunk.batch_size], max(0, keep - i))
                 for i in range(0, len(chunk.indices), chunk.batch_size)]
        values = {key: np.concatenate([p[key] for p in parts], axis=-1) for key in parts[0] if key != "images"}
        y = chunk.y.cpu().numpy()
        cells = ("nu", "sample")
        result = xr.Dataset({
            "correct": variable(cells, values["prediction"] == y, "classified correctly on the adversarial corruption "
                                                                  "(after the SSIM guard)"),
            "prediction": variable(cells, values["prediction"], "prediction on the adversarial corruption "
                                                                "(-1: logits not finite)"),
            "finite": variable(cells, values["finite"], "logits finite on the adversarial corruption"),
            "loss": variable(cells, values["loss"].astype(np.float64),
                             "cross-entropy reached (+inf: logits not finite)", "nats"),
            "ssim": variable(cells, values["ssim"].astype(np.float64),
                             "SSIM of the adversarial corruption to the clean image, before the guard", "1"),
            "ssim_guarded": variable(cells, values["ssim_guarded"].astype(np.float64),
                                     "SSIM of the adversarial corruption to the clean image, after the guard", "1"),
            "guard_fired": variable(cells, values["guard_fired"], "the SSIM guard pulled the corruption back"),
            "guard_gamma": variable(cells, values["guard_gamma"].astype(np.float64),
                                    "blend weight of the corruption after the guard (1: untouched)", "1"),
            "failed_steps": variable(cells, values["failed_steps"],
                                     "attack steps skipped because the logits or gradient were not finite", "1"),
            "label": variable("sample", y, "true class"),
            "clean_prediction": variable("sample", values["clean_prediction"], "prediction on the clean image"),
            "clean_correct": variable("sample", values["clean_prediction"] == y,
                                      "classified correctly on the clean image"),
            "clean_finite": variable("sample", values["clean_finite"], "logits finite on the clean image"),
            "reconstruction_prediction": variable("sample", values["reconstruction_prediction"],
                                                  "prediction on the reconstruction c_φ(x)"),
            "reconstruction_correct": variable("sample", values["reconstruction_prediction"] == y,
                                               "classified correctly on the reconstruction c_φ(x)"),
            "reconstruction_finite": variable("sample", values["reconstruction_finite"],
                                              "logits finite on the reconstruction c_φ(x)"),
            "reconstruction_ssim": variable("sample", values["reconstruction_ssim"].astype(np.float64),
                                            "SSIM of the reconstruction c_φ(x) to the clean image", "1"),
        }, coords={"nu": self.radii, "sample": chunk.indices})
        if keep:
            dims = ("channel", "row", "col")
            result = result.assign({
                "example_clean": variable(("example",) + dims, chunk.x[:keep].cpu().numpy(), "clean example images",
                                          "1"),
                "example_corrupted": variable(("example", "nu") + dims,
                                              np.concatenate([p["images"] for p in parts])[:keep],
                                              "adversarial corruptions of the example images (after the guard)", "1"),
            }).assign_coords(example=np.asarray(chunk.indices[:keep], dtype=np.int64))
        return result


def finalize(ds: xr.Dataset) -> xr.Dataset:
    """Clean and reconstruction accuracy; per ν robust accuracy, guard rate and SSIM quantiles (before and after
    the guard): a pure function of the result, so that `probe.merge` can apply it to shards."""
    correct, finite = ds["correct"].values, ds["finite"].values
    ds["clean_accuracy"] = variable((), accuracy_over_finite(ds["clean_correct"].values, ds["clean_finite"].values),
                                    "accuracy on the clean images", "%")
    ds["reconstruction_accuracy"] = variable((), accuracy_over_finite(ds["reconstruction_correct"].values,
                                                                      ds["reconstruction_finite"].values),
                                             "accuracy on the reconstructions c_φ(x)", "%")
    ds["robust_accuracy"] = variable("nu", [accuracy_over_finite(c, f) for c, f in zip(correct, finite)],
                                     "accuracy under the adversarial corruptions (over finite logits)", "%")
    ds["guard_rate"] = variable("nu", ds["guard_fired"].values.mean(axis=1),
                                "fraction of samples the guard pulled back", "1")
    ds = ds.assign_coords(quantile=list(QUANTILES))
    for name in ("ssim", "ssim_guarded"):
        ds[f"{name}_quantile"] = variable(("nu", "quantile"), np.quantile(ds[name].values, QUANTILES, axis=1).T,
                                          f"quantiles over samples of {ds[name].attrs['long_name']}", "1")
    return ds


def _check(radius: Sequence[float], steps: int, ssim_threshold: float, examples: int) -> list[float]:
    radii = [float(r) for r in np.atleast_1d(np.asarray(radius, dtype=np.float64))]
    ranges.check(radius=(radii, ranges.NON_NEGATIVE), steps=(steps, ranges.integer(0)),
                 examples=(examples, ranges.integer(0, CHUNK_SIZE)),
                 ssim_threshold=(ssim_threshold, ranges.in_range(-1.0, 1.0, low_open=True)))
    if len(set(radii)) != len(radii):
        raise ParameterError(f"radius must hold distinct relative radii ν, got {radius}")
    return radii


def row_cost(classifier_bytes: int, net: nn.Module, x: torch.Tensor) -> float:
    """Memory of one attacked image in units of the classifier's activations of one image
    (`classifier_bytes`, `probe.memory`): the classifier's forward and backward, the corruption
    network's under vmap on the images `x`, and the image's own copies of the network's weights
    (offsets, weights, gradients, step)."""
    own_weights = 4 * sum(p.numel() * p.element_size() for p in net.parameters())
    return 3.0 + (3.0 * memory.activation_bytes(net, x.to(model_device(net))) + own_weights) / max(classifier_bytes, 1)


def run(model: nn.Module, data: Any, *, corruption_net: nn.Module | str | os.PathLike | None = None,
        radius: Sequence[float] = RADII, steps: int = 10, ssim_threshold: float = GUARD_THRESHOLD,
        examples: int = 4, **execution: Unpack[Execution]) -> xr.Dataset:
    """Worst-case corruptions through `corruption_net` (a module or a checkpoint path) at every relative
    radius ν in `radius`, with `steps` FGSM steps: a `(nu, sample)` result.

    `ssim_threshold` is the guard's threshold; the first `examples` samples' clean and corrupted
    images are kept for the figure; `batch_size` caps the images attacked at once.  The shared
    options (`n`, `seed`, `device`, `out`, ...) are documented in `probe.execution.Execution`.
    """
    execution = check(run, execution)
    model = runner.classifier(model)
    if corruption_net is None:
        raise ParameterError("adversarial corruptions need a corruption network (corruption_net=, "
                             "--corruption-net NET.pt; see python -m probe.corruption_net)")
    radii = _check(radius, steps, ssim_threshold, examples)
    net = corruption_network(corruption_net)

    def prepare(context: runner.Context) -> runner.Plan:
        net.to(context.device)
        first = context.head[0][:1]
        check_corruption_net(net, first.to(context.device))
        probe = AdversarialCorruptionProbe(model, net, radii, steps, ssim_threshold, context.seed, examples)
        options = {"corruption_net": model_name(net), "corruption_net_sha256": weights_sha256(net), "radius": radii,
                   "steps": int(steps), "ssim_threshold": float(ssim_threshold), "examples": int(examples)}
        return runner.Plan(probe, options, finalize=finalize, row_cost=row_cost(context.activation_bytes, net, first),
                           chunk_size=CHUNK_SIZE, batch_size=BATCH_SIZE)

    return runner.run(PROBE, model, data, prepare, **execution)


def summary(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> dict[str, float | int]:
    """Clean, reconstruction and per-ν robust accuracy (%), per-ν median SSIM before the guard, the
    overall guard rate, the samples with non-finite clean logits and the non-finite cells.  Each
    number has `_low` and `_high` at `confidence`: Wilson for accuracies, the order-statistic
    interval for medians, a percentile bootstrap over samples for the guard rate (over all ν)."""
    samples = int(ds.sizes["sample"])
    numbers: dict[str, float | int] = {
        "samples": samples,
        **stats.entries("clean_accuracy", stats.percent(ds["clean_correct"].values, ds["clean_finite"].values,
                                                        confidence)),
        **stats.entries("reconstruction_accuracy", stats.percent(ds["reconstruction_correct"].values,
                                                                 ds["reconstruction_finite"].values, confidence))}
    correct, finite, ssim = ds["correct"].values, ds["finite"].values, ds["ssim"].values
    for i, nu in enumerate(ds["nu"].values):
        numbers.update(stats.entries(f"robust_accuracy_nu_{radius_tag(nu)}",
                                     stats.percent(correct[i], finite[i], confidence)))
    for i, nu in enumerate(ds["nu"].values):
        numbers.update(stats.entries(f"median_ssim_nu_{radius_tag(nu)}", stats.median(ssim[i], confidence)))
    guard = ds["guard_fired"].values.astype(bool)
    low, high = stats.bootstrap(lambda counts: stats.weighted_share(counts, guard.T).mean(axis=1), samples, confidence)
    numbers.update(stats.entries("guard_rate", stats.Estimate(float(guard.mean()), float(low), float(high), samples)))
    numbers["non_finite"] = int((~ds["clean_finite"].values).sum())
    numbers["non_finite_cells"] = int((~ds["finite"].values).sum())
    return numbers
