"""Gradient masking: the symptoms that make a gradient attack's robustness number untrustworthy.

Carlini et al. 2019 ("On evaluating adversarial robustness") and Athalye et al. 2018
("Obfuscated gradients") list what a model with masked or obfuscated gradients shows
(the published method).  For every selected sample this probe measures:

- the input gradient of the top-two logit margin `f_1 − f_2` at the clean image: exactly zero
  (a locally constant model, e.g. quantised input) or not finite (also where the logits are not);
- full-space DeepFool without box or radius bound (`max_iter`, `candidates`, `overshoot`):
  an unbounded gradient attack must reach ~100 % success;
- PGD in the `norm` ball of every radius in `radii` with every step count in `steps`
  (always including 1: the one-step, FGSM-style attack), started at the clean image (no
  random start, so the attack is deterministic): cross-entropy, correctness and finiteness
  at `x + δ`, and the steps skipped for a non-finite gradient.  The loss must rise with the
  steps and with the radius, and the iterative attack must beat the one-step one;
- random noise with the L2 norm of the strongest PGD perturbation at each radius (one
  Gaussian direction per sample and radius, seeded by the run seed and the dataset index):
  it must flip fewer predictions than the attack;
- with a `baseline` model: PGD crafted on the baseline (most steps) and evaluated on the
  model (a transfer attack), which must not beat the white-box attack.

    ds = probe.masking.run(model, data, n=64, radii=[0.25, 0.5, 1, 2], steps=[1, 5, 20])
    probe.masking.summary(ds)   # deepfool_success, one_step_accuracy, iterative_accuracy, ...

A value at a point whose logits are not finite is `+inf` (losses) or `False` (correct) with a
`finite = False` flag beside it, and is left out of the accuracies and mean losses.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from torch import nn

from probe import ranges, runner, seeding, stats
from probe.attacks.deepfool import deepfool
from probe.attacks.pgd import NORMS, pgd_attack
from probe.errors import ModelError, ParameterError
from probe.execution import Execution, Unpack, check
from probe.logits import accuracy, batched_logits, classify
from probe.models import weights_sha256
from probe.params import eval_mode
from probe.results import variable

PROBE = "masking"
CHUNK_SIZE = 64      # samples per stored chunk
BATCH_SIZE = 128     # images per attack call / forward pass
NOISE_KEY = 0x4D41   # "MA": the noise of sample i comes from seeding.generator(seed, i, NOISE_KEY)
DEFAULT_RADII = (0.25, 0.5, 1.0, 2.0)
DEFAULT_STEPS = (1, 5, 20)
UNITS = "pixel L2 ([0,1] scale)"

_Outcome = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(loss, correct, finite) of one kind of image, per sample."""


# ----------------------------------------------------------------------------- options

def resolve_radii(radii: Sequence[float]) -> list[float]:
    """Distinct positive finite radii, ascending."""
    ranges.check(radii=(list(radii), ranges.POSITIVE))
    return sorted({float(r) for r in radii})


def resolve_steps(steps: Sequence[int]) -> list[int]:
    """Distinct positive step counts, ascending, always including 1 (the one-step attack)."""
    ranges.check(steps=(list(steps), ranges.integer(1)))
    return sorted({int(s) for s in steps} | {1})


# ----------------------------------------------------------------------------- measurements

def margin_gradient(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """∇ₓ(f_1 − f_2) per image: the input gradient of the margin between the two largest logits
    (the quantity DeepFool linearises; unlike the cross-entropy it never saturates)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        top = logits.nan_to_num().topk(2, dim=1).indices
        chosen = logits.gather(1, top)
        (grad,) = torch.autograd.grad((chosen[:, 0] - chosen[:, 1]).sum(), x)
    return grad.detach()


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> _Outcome:
    """(loss, correct, finite) at the images `x`: cross-entropy per image (+inf where the logits
    are not finite), correctness, finiteness; as numpy arrays."""
    logits = batched_logits(model, x, batch_size)
    prediction, finite = classify(logits)
    loss = F.cross_entropy(logits.nan_to_num(), y, reduction="none").double()
    loss = torch.where(finite, loss, torch.full_like(loss, math.inf))
    return loss.cpu().numpy(), (prediction == y).cpu().numpy(), finite.cpu().numpy()


def _pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, norm: str, epsilon: float,
         steps: int) -> tuple[torch.Tensor, np.ndarray]:
    """PGD perturbations and skipped steps, `batch_size` images per call."""
    parts = [pgd_attack(model, x[i:i + batch_size], y[i:i + batch_size], random_start=False, norm=norm,
                        epsilon=epsilon, steps=steps)
             for i in range(0, len(x), batch_size)]
    return torch.cat([p.perturbation for p in parts]), torch.cat([p.failed_steps for p in parts]).cpu().numpy()


def _noise(indices: np.ndarray, count: int, shape: tuple[int, ...], seed: int, device: torch.device) -> torch.Tensor:
    """(count, n, *shape) unit-L2 Gaussian directions, sample i's from its own generator."""
    dim = int(np.prod(shape))
    draws = [torch.randn((count, dim), generator=seeding.generator(seed, int(i), NOISE_KEY, device=device),
                         device=seeding.generator_device(device)) for i in indices]
    noise = torch.stack(draws, dim=1).to(device)
    return (noise / noise.norm(dim=2, keepdim=True)).view(count, len(indices), *shape)


def _outcome_variables(prefix: str, dims: tuple[str, ...], where: str, values: _Outcome) -> dict[str, tuple]:
    """`<prefix>loss`, `<prefix>correct`, `<prefix>finite` variables of one kind of image (`where`)."""
    loss, correct, finite = values
    return {f"{prefix}loss": variable(dims, loss, f"cross-entropy {where} (+inf: logits not finite)", "nats"),
            f"{prefix}correct": variable(dims, correct, f"classified correctly {where}"),
            f"{prefix}finite": variable(dims, finite, f"logits finite {where}")}


def _empty(shape: tuple[int, ...]) -> _Outcome:
    """Room for (loss, correct, finite) over `shape`."""
    return np.zeros(shape), np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)


class MaskingProbe:
    """The per-chunk computation (see the module docstring)."""

    def __init__(self, model: nn.Module, norm: str, radii: list[float], steps: list[int],
                 baseline: nn.Module | None, deepfool_options: dict, seed: int) -> None:
        self.model, self.norm, self.radii, self.steps = model, norm, radii, steps
        self.baseline, self.deepfool_options, self.seed = baseline, deepfool_options, seed

    def _gradients(self, x: torch.Tensor, batch_size: int, clean_finite: np.ndarray) -> dict:
        """Norm, zero flag and finite flag of the margin gradient at the clean images."""
        grad = torch.cat([margin_gradient(self.model, x[i:i + batch_size])
                          for i in range(0, len(x), batch_size)]).flatten(1)
        finite = torch.isfinite(grad).all(dim=1) & torch.as_tensor(clean_finite, device=grad.device)
        norm = torch.where(finite, grad.norm(dim=1), torch.full((len(x),), math.inf, device=grad.device))
        return {
            "gradient_norm": variable("sample", norm.double().cpu().numpy(), "L2 norm of the input gradient of "
                                      "the top-two logit margin (+inf: not finite)"),
            "gradient_zero": variable("sample", ((grad == 0).all(dim=1) & finite).cpu().numpy(),
                                      "the input gradient is exactly zero"),
            "gradient_finite": variable("sample", finite.cpu().numpy(), "the input gradient is finite"),
        }

    def _deepfool(self, x: torch.Tensor, batch_size: int) -> dict:
        """Full-space DeepFool without box or radius bound."""
        parts = [deepfool(self.model, x[i:i + batch_size], **self.deepfool_options)
                 for i in range(0, len(x), batch_size)]
        return {
            "deepfool_converged": variable("sample", torch.cat([p.converged for p in parts]).cpu().numpy(),
                                           "full-space DeepFool (no box, no radius bound) changed the prediction"),
            "deepfool_l2": variable("sample", torch.cat([p.norm for p in parts]).double().cpu().numpy(),
                                    "L2 norm of the DeepFool perturbation (+inf: not converged)", UNITS),
            "deepfool_stuck": variable("sample", torch.cat([p.stuck for p in parts]).cpu().numpy(),
                                       "DeepFool stopped: no usable gradient"),
        }

    def _attacks(self, chunk: runner.Chunk) -> dict:
        """PGD at every (radius, steps); noise of the strongest attack's norm and transfer per radius."""
        x, y, cap = chunk.x, chunk.y, chunk.batch_size
        n, shape = len(x), tuple(x.shape[1:])
        cells, rows = (len(self.radii), len(self.steps), n), (len(self.radii), n)
        attack, noise, transfer = _empty(cells), _empty(rows), _empty(rows)
        failed, attack_l2, noise_l2 = np.zeros(cells, dtype=np.int64), np.zeros(rows), np.zeros(rows)
        directions = _noise(chunk.indices, len(self.radii), shape, self.seed, chunk.device)
        for i, radius in enumerate(self.radii):
            for j, count in enumerate(self.steps):
                delta, failed[i, j] = _pgd(self.model, x, y, cap, norm=self.norm, epsilon=radius, steps=count)
                for target, values in zip(attack, _evaluate(self.model, x + delta, y, cap)):
                    target[i, j] = values
            size = delta.flatten(1).norm(dim=1)
            attack_l2[i] = size.double().cpu().numpy()
            noisy = (x + directions[i] * size.view(-1, *([1] * len(shape)))).clamp(0.0, 1.0)
            noise_l2[i] = (noisy - x).flatten(1).norm(dim=1).double().cpu().numpy()
            for target, values in zip(noise, _evaluate(self.model, noisy, y, cap)):
                target[i] = values
            if self.baseline is not None:
                crafted, _ = _pgd(self.baseline, x, y, cap, norm=self.norm, epsilon=radius, steps=self.steps[-1])
                for target, values in zip(transfer, _evaluate(self.model, x + crafted, y, cap)):
                    target[i] = values
        cell, row = ("radius", "steps", "sample"), ("radius", "sample")
        variables = {
            **_outcome_variables("", cell, "after PGD", attack),
            "failed_steps": variable(cell, failed, "PGD steps skipped because the input gradient was not finite",
                                     "steps"),
            "attack_l2": variable(row, attack_l2, "L2 norm of the PGD perturbation with the most steps", UNITS),
            "noise_l2": variable(row, noise_l2, "L2 norm of the random noise after clipping to [0, 1]", UNITS),
            **_outcome_variables("noise_", row, "under random noise of the attack's L2 norm", noise),
        }
        if self.baseline is not None:
            variables.update(_outcome_variables("transfer_", row, "under PGD crafted on the baseline", transfer))
        return variables

    def __call__(self, chunk: runner.Chunk) -> xr.Dataset:
        clean = _evaluate(self.model, chunk.x, chunk.y, chunk.batch_size)
        variables = {
            "label": variable("sample", chunk.y.cpu().numpy(), "true class"),
            **_outcome_variables("clean_", ("sample",), "at the clean image", clean),
            **self._gradients(chunk.x, chunk.batch_size, clean[2]),
            **self._deepfool(chunk.x, chunk.batch_size),
            **self._attacks(chunk),
        }
        radius_units = UNITS if self.norm == "l2" else "pixel value"
        return xr.Dataset(variables, coords={"radius": variable("radius", self.radii, f"{self.norm} radius of PGD",
                                                                 radius_units),
                                             "steps": variable("steps", self.steps, "PGD steps", "steps"),
                                             "sample": chunk.indices})


# ----------------------------------------------------------------------------- summaries

def mean_finite(values: np.ndarray, finite: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean of `values` over the `finite` entries along `axis` (0 where none is finite)."""
    count = finite.sum(axis)
    total = np.where(finite, values, 0.0).sum(axis)
    return np.divide(total, count, out=np.zeros(np.shape(count)), where=count > 0)


def finalize(ds: xr.Dataset) -> xr.Dataset:
    """Accuracies (%) and mean losses over the finite entries: per (radius, steps) for PGD, per
    radius for noise and transfer; clean accuracy and loss; DeepFool success over the samples
    with finite clean logits (a pure function of the result)."""
    clean = ds["clean_finite"].values
    ds["accuracy"] = variable(("radius", "steps"), accuracy(ds["correct"].values, ds["finite"].values, -1),
                              "accuracy under PGD", "%")
    ds["mean_loss"] = variable(("radius", "steps"), mean_finite(ds["loss"].values, ds["finite"].values),
                               "mean cross-entropy under PGD", "nats")
    ds["noise_accuracy"] = variable("radius", accuracy(ds["noise_correct"].values, ds["noise_finite"].values, -1),
                                    "accuracy under random noise of the attack's L2 norm", "%")
    ds["noise_mean_loss"] = variable("radius", mean_finite(ds["noise_loss"].values, ds["noise_finite"].values),
                                     "mean cross-entropy under random noise", "nats")
    if "transfer_correct" in ds:
        ds["transfer_accuracy"] = variable("radius", accuracy(ds["transfer_correct"].values,
                                                              ds["transfer_finite"].values, -1),
                                           "accuracy under PGD crafted on the baseline", "%")
    ds["clean_accuracy"] = variable((), float(accuracy(ds["clean_correct"].values, clean)), "clean accuracy", "%")
    ds["clean_mean_loss"] = variable((), float(mean_finite(ds["clean_loss"].values, clean)),
                                     "mean clean cross-entropy", "nats")
    ds["deepfool_success"] = variable((), float(accuracy(ds["deepfool_converged"].values, clean)),
                                      "full-space DeepFool success (samples with finite logits)", "%")
    return ds


def loss_rises(ds: xr.Dataset, counts: np.ndarray) -> np.ndarray:
    """Per bootstrap replicate (rows of resampling `counts`, see `probe.stats.bootstrap`): the
    smallest rise of the mean PGD loss from one step to the most steps, and from one radius to
    the next (most steps; 0 with one radius), as in `summary`; shape (replicates, 2)."""
    finite = np.moveaxis(ds["finite"].values, -1, 0)
    values = np.where(finite, np.moveaxis(ds["loss"].values, -1, 0), 0.0)
    total = np.einsum("rs,s...->r...", counts, values)
    count = np.einsum("rs,s...->r...", counts, finite.astype(np.float64))
    loss = np.divide(total, count, out=np.zeros_like(total), where=count > 0)      # (replicates, radius, steps)
    steps = (loss[:, :, -1] - loss[:, :, 0]).min(axis=1)
    radius = np.diff(loss[:, :, -1], axis=1).min(axis=1) if loss.shape[1] > 1 else np.zeros(len(counts))
    return np.stack([steps, radius], axis=1)


def summary(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> dict[str, float | int]:
    """At the largest radius: one-step, iterative (most steps), noise and (with a baseline)
    transfer accuracy (%); full-space DeepFool success (%) and median L2; the share of samples
    with a zero or a non-finite input gradient (%); the smallest rise of the mean PGD loss from
    one step to the most steps over the radii, and from one radius to the next (most steps),
    in nats; skipped PGD steps and samples with non-finite clean logits.  Each number has
    `_low` and `_high` at `confidence`: Wilson for shares, the order-statistic interval for the
    median, a paired percentile bootstrap over samples for the loss rises."""
    correct, finite = ds["correct"].values, ds["finite"].values
    clean = ds["clean_finite"].values.astype(bool)
    converged = ds["deepfool_converged"].values & clean
    samples = int(ds.sizes["sample"])
    loss = ds["mean_loss"].values
    low, high = stats.bootstrap(lambda counts: loss_rises(ds, counts), samples, confidence)
    rises = ((loss[:, -1] - loss[:, 0]).min(), np.diff(loss[:, -1]).min() if loss.shape[0] > 1 else 0.0)

    def share(name: str, among: np.ndarray | None = None, cell: int | None = None) -> stats.Estimate:
        flags, where = ds[name].values, among
        if cell is not None:
            flags, where = flags[cell], None if among is None else among[cell]
        return stats.percent(flags, where, confidence)

    numbers: dict[str, float | int] = {
        "samples": samples,
        "radius": float(ds["radius"].values[-1]),
        **stats.entries("clean_accuracy", share("clean_correct", clean)),
        **stats.entries("one_step_accuracy", stats.percent(correct[-1, 0], finite[-1, 0], confidence)),
        **stats.entries("iterative_accuracy", stats.percent(correct[-1, -1], finite[-1, -1], confidence)),
        **stats.entries("noise_accuracy", share("noise_correct", ds["noise_finite"].values, -1)),
        **stats.entries("deepfool_success", share("deepfool_converged", clean)),
        **stats.entries("median_deepfool_l2", stats.median(ds["deepfool_l2"].values[converged], confidence)),
        **stats.entries("zero_gradients", share("gradient_zero")),
        **stats.entries("non_finite_gradients", stats.percent(~ds["gradient_finite"].values.astype(bool),
                                                              confidence=confidence)),
    }
    for i, name in enumerate(("loss_rise_steps", "loss_rise_radius")):
        numbers.update(stats.entries(name, stats.Estimate(float(rises[i]), float(low[i]), float(high[i]), samples)))
    numbers["failed_steps"] = int(ds["failed_steps"].values.sum())
    numbers["non_finite"] = int((~clean).sum())
    if "transfer_accuracy" in ds:
        numbers.update(stats.entries("transfer_accuracy", share("transfer_correct", ds["transfer_finite"].values, -1)))
    return numbers


# ----------------------------------------------------------------------------- the probe

def _check_baseline(baseline: nn.Module, context: runner.Context) -> None:
    """The baseline must be a model that passes the same contract checks as the model (on the
    run's first images, on its device)."""
    x, y = context.head
    baseline.to(context.device)
    with eval_mode(baseline):
        try:
            runner.check_model(baseline, x[:runner.CHECK_IMAGES].to(context.device), y[:runner.CHECK_IMAGES].numpy(),
                               context.indices)
        except ModelError as exc:
            raise ModelError(f"baseline: {exc}") from None


def run(model: nn.Module, data: Any, *, norm: str = "l2", radii: Sequence[float] = DEFAULT_RADII,
        steps: Sequence[int] = DEFAULT_STEPS, baseline: nn.Module | None = None, max_iter: int = 50,
        candidates: int = 10, overshoot: float = 0.02, **execution: Unpack[Execution]) -> xr.Dataset:
    """The gradient-masking measurements of the selected samples: a (radius, steps, sample) result.

    `norm` 'l2' or 'linf' and `radii` (pixel units, [0,1] scale) of the PGD balls; `steps` the
    PGD step counts (1, the one-step attack, is always included; step size 2.5·radius/steps);
    `baseline` a second model whose PGD perturbations are transferred (recorded by its
    SHA-256); `max_iter`, `candidates`, `overshoot` of the full-space DeepFool.  `batch_size`
    caps the images per attack call; the shared options (`n`, `seed`, `device`, `out`, ...) are
    documented in `probe.execution.Execution`.
    """
    execution = check(run, execution)
    model, baseline = runner.classifier(model), runner.classifier(baseline)
    if baseline is not None and not isinstance(baseline, nn.Module):
        raise ParameterError(f"baseline must be a model (nn.Module), got {type(baseline).__name__}")
    if norm not in NORMS:
        raise ParameterError(f"unknown norm '{norm}' (expected one of {', '.join(NORMS)})")
    ranges.check(max_iter=(max_iter, ranges.integer(1)), candidates=(candidates, ranges.integer(2)),
                 overshoot=(overshoot, ranges.NON_NEGATIVE))
    chosen_radii, chosen_steps = resolve_radii(radii), resolve_steps(steps)
    options = {"norm": norm, "radii": chosen_radii, "steps": chosen_steps,
               "baseline": weights_sha256(baseline) if baseline is not None else None,
               "max_iter": max_iter, "candidates": candidates, "overshoot": overshoot}
    deepfool_options = {"max_iter": max_iter, "candidates": candidates, "overshoot": overshoot}

    def prepare(context: runner.Context) -> runner.Plan:
        if baseline is not None:
            _check_baseline(baseline, context)
        compute = MaskingProbe(model, norm, chosen_radii, chosen_steps, baseline, deepfool_options, context.seed)
        return runner.Plan(compute, options, finalize=finalize, row_cost=candidates + 2.0, chunk_size=CHUNK_SIZE,
                           batch_size=BATCH_SIZE)

    with eval_mode(baseline) if baseline is not None else contextlib.nullcontext():
        return runner.run(PROBE, model, data, prepare, **execution)
