"""An example probe, built in the test suite as `docs/ADDING_A_PROBE.md` walks through it: the
input-gradient norm of the loss, per sample.

    ds = example_probe.run(model, data, n=64)     # (sample): gradient_norm, finite, label
    example_probe.summary(ds)                     # median norm with its order-statistic interval

The norm ‖∇ₓ L(f(x), y)‖ of the cross-entropy's gradient with respect to the input pixels (in
[0, 1], before the model's normalisation) measures how steeply the loss rises around each test
image — the first-order term that gradient attacks follow (Goodfellow, Shlens & Szegedy 2015,
"Explaining and harnessing adversarial examples", ICLR, Sec. 3), and the quantity input-gradient
regularisation penalises (Ross & Doshi-Velez 2018, "Improving the adversarial robustness and
interpretability of deep neural networks by regularizing their input gradients", AAAI, Sec. 3).
A sample whose logits are not finite gets `finite = False` and the norm +inf.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import xarray as xr
from torch import nn

from probe import runner, stats
from probe.errors import ParameterError
from probe.execution import Execution, Unpack, check
from probe.logits import finite_rows
from probe.results import variable

PROBE = "gradient_norm"
NORMS = ("2", "inf")    # ‖·‖₂ over all pixels, or the largest |∂L/∂x_i|
CHUNK_SIZE = 256
BATCH_SIZE = 128


def gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) norms of the per-sample input gradients of the cross-entropy, and (N,) finite logits.
    The batch loss is the sum of the samples' losses, so each sample's gradient is its own."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x).float()
        finite = finite_rows(logits)
        loss = F.cross_entropy(logits.nan_to_num(), y, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, x)
    flat = gradient.flatten(1).double()
    values = flat.norm(dim=1) if norm == "2" else flat.abs().amax(dim=1)
    return torch.where(finite, values, torch.full_like(values, float("inf"))), finite


def _compute(model: nn.Module, norm: str) -> runner.Compute:
    def compute(chunk: runner.Chunk) -> xr.Dataset:
        parts = [gradient_norms(model, chunk.x[i:i + chunk.batch_size], chunk.y[i:i + chunk.batch_size], norm)
                 for i in range(0, len(chunk.x), chunk.batch_size)]
        values, finite = (torch.cat(p).cpu().numpy() for p in zip(*parts))
        return xr.Dataset({
            "gradient_norm": variable("sample", values, f"L{norm} norm of the input gradient of the cross-entropy "
                                                        "(+inf: logits not finite)", "nats per pixel unit"),
            "finite": variable("sample", finite, "all logits finite"),
            "label": variable("sample", chunk.y.cpu().numpy(), "true class"),
        }, coords={"sample": chunk.indices})
    return compute


def run(model: nn.Module, data, *, norm: str = "2", **execution: Unpack[Execution]) -> xr.Dataset:
    """Per-sample norm (`norm` '2' or 'inf') of the input gradient of the cross-entropy.

    The shared options (`n`, `seed`, `device`, `out`, ...) are documented in
    `probe.execution.Execution`."""
    execution = check(run, execution)
    if norm not in NORMS:
        raise ParameterError(f"norm must be one of {', '.join(NORMS)}, got '{norm}'")
    model = runner.classifier(model)
    plan = runner.Plan(_compute(model, norm), options={"norm": norm}, row_cost=2.0, chunk_size=CHUNK_SIZE,
                       batch_size=BATCH_SIZE)
    return runner.run(PROBE, model, data, plan, **execution)


def summary(ds: xr.Dataset, confidence: float = stats.CONFIDENCE) -> dict[str, float | int]:
    """The median gradient norm with its order-statistic interval at `confidence`, the samples and
    the samples whose logits are not finite (their norm +inf counts in the median)."""
    return {"samples": int(ds.sizes["sample"]),
            **stats.entries("median_gradient_norm", stats.median(ds["gradient_norm"].values, confidence)),
            "non_finite": int((~ds["finite"].values.astype(bool)).sum())}


__all__ = ["NORMS", "gradient_norms", "run", "summary"]
