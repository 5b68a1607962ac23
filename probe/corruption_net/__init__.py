"""Pretraining corruption networks to reproduce their input (`python -m probe.corruption_net` is its command).

AdA and DeepAugment need an image-to-image network `c_φ` with `c_φ(x) ≈ x` (the published method;
the published EDSR / CAE weights cannot be downloaded here).  `pretrain` fits one with Adam on
`MSE + ssim_weight · (1 − SSIM)` under a cosine learning-rate decay, the SSIM taken on the output
clipped to [0, 1] as it is used (on the raw output, shifted negative outputs raise SSIM faster
than the MSE term stops them: two of four seeds of a small EDSR collapsed to SSIM 0.04);
`reconstruction_quality` measures PSNR and SSIM of the clipped reconstructions on a dataset.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from probe import ranges
from probe.data import dataset_size, get_batch
from probe.params import eval_mode
from probe.ssim import ssim
from probe.train import learning_rate

TARGET_SSIM = {"edsr": 0.95, "cae": 0.85}   # what a usable corruption network reaches on held-out images
LEARNING_RATE = {"edsr": 1e-2, "cae": 2e-3}  # Adam peaks that train each quickly (the CAE diverges at 1e-2)


@torch.no_grad()
def reconstruction_quality(net: nn.Module, dataset: Dataset, *, batch_size: int = 256,
                           device: torch.device | str = "cpu") -> dict[str, float]:
    """Mean PSNR (dB, peak 1) and mean SSIM of `clip(net(x))` against `x` over the dataset, in eval mode."""
    psnr, similarity = [], []
    size = dataset_size(dataset)
    with eval_mode(net):
        for start in range(0, size, batch_size):
            x, _ = get_batch(dataset, np.arange(start, min(start + batch_size, size)))
            x = x.to(device)
            out = net(x).clamp(0.0, 1.0)
            mse = (out - x).pow(2).flatten(1).mean(1).clamp_min(1e-12)
            psnr.append(-10.0 * torch.log10(mse))
            similarity.append(ssim(out, x))
    return {"psnr": float(torch.cat(psnr).mean()), "ssim": float(torch.cat(similarity).mean())}


def pretrain(net: nn.Module, train_set: Dataset, *, epochs: int = 5, batch_size: int = 64, lr: float = 2e-3,
             ssim_weight: float = 1.0, seed: int = 0, device: torch.device | str = "cpu",
             progress: Callable[[int], None] | None = None,
             log: Callable[[str], None] | None = None) -> list[float]:
    """Train `net` in place to reconstruct the training images; returns the mean loss of every epoch.

    Batches are drawn in a seeded order; `progress(k)` is called with the images of every step,
    `log(line)` once per epoch.
    """
    ranges.check(epochs=(epochs, ranges.integer(1)), batch_size=(batch_size, ranges.integer(1)),
                 lr=(lr, ranges.POSITIVE), ssim_weight=(ssim_weight, ranges.NON_NEGATIVE), seed=(seed, ranges.SEED))
    device = torch.device(device)
    net.to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    size = dataset_size(train_set)
    steps_per_epoch = math.ceil(size / batch_size)
    history = []
    for epoch in range(epochs):
        start, total = time.perf_counter(), 0.0
        order = torch.randperm(size, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).numpy()
        for step in range(steps_per_epoch):
            x, _ = get_batch(train_set, order[step * batch_size:(step + 1) * batch_size])
            x = x.to(device)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate("cosine", lr, (epoch * steps_per_epoch + step) / (epochs * steps_per_epoch))
            out = net(x)
            loss = F.mse_loss(out, x) + ssim_weight * (1.0 - ssim(out.clamp(0.0, 1.0), x).mean())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(x)
            if progress is not None:
                progress(len(x))
        history.append(total / size)
        if log is not None:
            log(f"epoch {epoch + 1:3d}/{epochs}  loss {history[-1]:.4f}  ({time.perf_counter() - start:.1f}s)")
    net.eval()
    return history
