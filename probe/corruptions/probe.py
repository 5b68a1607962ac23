"""The corruption probe: accuracy over (corruption, severity) cells, with optional BN adaptation.

    ds = probe.corruptions.run(model, data, n=1000, corruptions="benchmark", severities="1-5")
    probe.corruptions.summary(ds)    # clean_accuracy, corruption_accuracy, mce, ...

For every cell and sample the probe records whether the corrupted image is classified
correctly (`correct`) and whether its logits were finite (`finite`: a sample with non-finite
logits is never read as a class and is left out of the cell's accuracy); `clean_correct` and
`clean_finite` do the same on the clean image.  Corrupted images are generated on the fly
(`probe.corruptions.corrupt`) or read from a released `-C` folder (`corrupted_dir`).

Generation is seeded per block of `SEED_BLOCK` consecutive selected samples from (seed, the
block's first dataset index, corruption, severity).  Chunks hold `CHUNK_SIZE` samples, or
the least common multiple with the BN-adaptation batch n so that no adaptation group
straddles two chunks: whole seed blocks either way, so a result depends neither on the
batch size (which only caps the forward passes) nor on an interruption.  With `bn_adapt`
(N, n), every consecutive group of n images (clean ones too) is classified with BatchNorm
statistics adapted to it (`bn_adapt.adapted_logits`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import runner, seeding
from probe.corruptions.bn_adapt import adapted_logits, batchnorm_layers, parse_bn_adapt
from probe.corruptions.frost_photos import frost_source
from probe.corruptions.params import resolve_family
from probe.corruptions.registry import ALL_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, corrupt
from probe.corruptions.released import CorruptedFolder
from probe.corruptions.summaries import PROBE, check_reference, summarize
from probe.data import get_batch
from probe.errors import DataError, ParameterError
from probe.execution import Execution, Unpack, check
from probe.logits import batched_logits, classify
from probe.results import variable

SEED_BLOCK = 64     # samples that share one generator per cell
CHUNK_SIZE = 128    # samples per stored chunk (a multiple of SEED_BLOCK)
BATCH_SIZE = 128    # default cap on the images of one forward pass
GROUPS = {"benchmark": CORRUPTIONS, "extra": EXTRA_CORRUPTIONS, "all": ALL_CORRUPTIONS}


# ----------------------------------------------------------------------------- options

def parse_severities(spec: str | int | Sequence[int]) -> list[int]:
    """'1-5', '1,3,5', '2', 2 or [1, 3] → sorted distinct severities in 1..5."""
    parts = [spec] if isinstance(spec, (str, int)) else list(spec)
    chosen: set[int] = set()
    try:
        for part in ",".join(str(p) for p in parts).split(","):
            low, sep, high = part.strip().partition("-")
            chosen.update(range(int(low), int(high) + 1) if sep else [int(low)])
    except ValueError:
        raise ParameterError(f"severities must look like 1-5, 1,3,5 or 2; got '{spec}'") from None
    if not chosen or not chosen <= {1, 2, 3, 4, 5}:
        raise ParameterError(f"severities must lie in 1..5, got '{spec}'")
    return sorted(chosen)


def parse_corruptions(names: str | Sequence[str] | None, available: Sequence[str] | None = None) -> list[str]:
    """Corruption names (or the groups 'benchmark', 'extra', 'all'); default: the 15 benchmark
    ones (with a released folder: those of them on disk, else all on disk)."""
    names = [names] if isinstance(names, str) else list(names or [])
    chosen: list[str] = []
    for name in names or ["benchmark"]:
        for item in GROUPS.get(name, (name,)):
            if item not in chosen:
                chosen.append(item)
    pool = list(available) if available is not None else list(ALL_CORRUPTIONS)
    if available is not None and not names:
        chosen = [c for c in chosen if c in pool] or pool
    unknown = [c for c in chosen if c not in pool]
    if unknown:
        raise ParameterError(f"unknown or unavailable corruption(s) {', '.join(unknown)} "
                             f"(available: {', '.join(pool)})")
    return chosen


def chunk_size(adapt_batch: int | None = None) -> int:
    """Samples per chunk: `CHUNK_SIZE`, or its lcm with the BN-adaptation batch n."""
    return CHUNK_SIZE if adapt_batch is None else math.lcm(CHUNK_SIZE, int(adapt_batch))


def cell_generator(seed: int, first_index: int, corruption: str, severity: int,
                   device: torch.device | str | None = None) -> torch.Generator:
    """The generator of one seed block (first dataset index `first_index`) in one cell (seeded with the
    top 63 bits of the mixed state, as in version 0.1, so generated corruptions are unchanged)."""
    state = seeding.derive_state(int(seed) & 0xFFFFFFFF, int(first_index), corruption, int(severity))
    return torch.Generator(device=seeding.generator_device(device)).manual_seed(state >> 1)


# ----------------------------------------------------------------------------- the computation

class CorruptionProbe:
    """The per-chunk computation: correctness and finiteness on clean images and in every cell."""

    def __init__(self, model: nn.Module, corruptions: Sequence[str], severities: Sequence[int], *,
                 params: str = "auto", seed: int = 0, source: CorruptedFolder | None = None,
                 bn_adapt: tuple[float, int] | None = None) -> None:
        self.model = model
        self.corruptions, self.severities = list(corruptions), list(severities)
        self.params, self.seed, self.source, self.bn_adapt = params, int(seed), source, bn_adapt
        if bn_adapt is not None and not batchnorm_layers(model):
            raise ParameterError("bn_adapt: the model has no BatchNorm layers with running statistics")

    @torch.no_grad()
    def classify(self, x: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted classes (-1 where the logits are not finite) and the finite mask; with BN
        adaptation each group of n images is one forward pass, else `batch_size` images are."""
        if self.bn_adapt is None:
            return classify(batched_logits(self.model, x, batch_size))
        return classify(adapted_logits(self.model, x, *self.bn_adapt))

    def corrupted(self, x: torch.Tensor, y: torch.Tensor, indices: np.ndarray, corruption: str,
                  severity: int) -> torch.Tensor:
        """The images `x` (dataset indices `indices`, whole seed blocks from a block start) in one
        cell: generated block by block, or read from the released folder."""
        if self.source is not None:
            images, labels = get_batch(self.source.block(corruption, severity), indices)
            if not torch.equal(labels, y.cpu()):
                raise DataError(f"{self.source.folder}: labels of {corruption} severity {severity} differ from the "
                                f"clean labels; corrupted_dir must be the -C version of the data")
            return images.to(x.device)
        parts = []
        for start in range(0, len(x), SEED_BLOCK):
            generator = cell_generator(self.seed, indices[start], corruption, severity, device=x.device)
            parts.append(corrupt(x[start:start + SEED_BLOCK], corruption, severity, params=self.params,
                                 generator=generator))
        return torch.cat(parts)

    def __call__(self, chunk: runner.Chunk) -> xr.Dataset:
        shape = (len(self.corruptions), len(self.severities), len(chunk.indices))
        correct, finite = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
        for i, corruption in enumerate(self.corruptions):
            for j, severity in enumerate(self.severities):
                images = self.corrupted(chunk.x, chunk.y, chunk.indices, corruption, severity)
                prediction, ok = self.classify(images, chunk.batch_size)
                correct[i, j], finite[i, j] = (prediction == chunk.y).cpu().numpy(), ok.cpu().numpy()
        prediction, clean_finite = self.classify(chunk.x, chunk.batch_size)
        cells = ("corruption", "severity", "sample")
        result = xr.Dataset({
            "correct": variable(cells, correct, "classified correctly on the corrupted image"),
            "finite": variable(cells, finite, "logits finite on the corrupted image"),
            "clean_correct": variable("sample", (prediction == chunk.y).cpu().numpy(),
                                      "classified correctly on the clean image"),
            "clean_finite": variable("sample", clean_finite.cpu().numpy(), "logits finite on the clean image"),
            "label": variable("sample", chunk.y.cpu().numpy().astype(np.int64), "true class"),
        }, coords={"corruption": self.corruptions, "severity": self.severities, "sample": chunk.indices})
        if chunk.number == 0:   # the run's first sample: its images in every cell, for the figures
            result = result.assign(self.examples(chunk.x, chunk.y, chunk.indices).data_vars)
            result.attrs["example_sample"] = int(chunk.indices[0])
        return result

    def examples(self, x: torch.Tensor, y: torch.Tensor, indices: np.ndarray) -> xr.Dataset:
        """The clean image and every corrupted version of the first sample of `indices` (a seed
        block start), exactly as the probe saw it, as 8-bit images."""
        block = np.asarray(indices[:SEED_BLOCK], dtype=np.int64)
        x, y = x[:len(block)], y[:len(block)]
        cells = torch.stack([torch.stack([self.corrupted(x, y, block, c, s)[0] for s in self.severities])
                             for c in self.corruptions])
        index = int(block[0])

        def to_uint8(t: torch.Tensor) -> np.ndarray:
            return (t.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        dims = ("channel", "row", "col")
        return xr.Dataset({
            "example": variable(("corruption", "severity") + dims, to_uint8(cells),
                                f"corrupted images of sample {index}", "1/255"),
            "example_clean": variable(dims, to_uint8(x[0]), f"clean image of sample {index}", "1/255"),
        }, coords={"corruption": self.corruptions, "severity": self.severities})


# ----------------------------------------------------------------------------- the probe

def _source(corrupted_dir: str | Path | CorruptedFolder | None, length: int) -> CorruptedFolder | None:
    """The released folder, checked against the clean test set's length."""
    if corrupted_dir is None:
        return None
    folder = corrupted_dir.folder if isinstance(corrupted_dir, CorruptedFolder) else corrupted_dir
    return CorruptedFolder(folder, expected_length=length)


def run(model: nn.Module, data: Any, *, corruptions: str | Sequence[str] | None = None,
        severities: str | int | Sequence[int] = "1-5", params: str = "auto",
        corrupted_dir: str | Path | CorruptedFolder | None = None,
        bn_adapt: str | tuple[float, int] | None = None, reference: str | Path | None = "auto",
        **execution: Unpack[Execution]) -> xr.Dataset:
    """Accuracy of the selected samples under every (corruption, severity) cell, and on clean images.

    `corruptions`: names or the groups 'benchmark' (default), 'extra', 'all'; `severities`:
    '1-5', '1,3', or a list of ints; `params`: the parameter table 'cifar', 'imagenet' or 'auto'
    (by image size); `corrupted_dir`: a released CIFAR-10-C / ImageNet-C folder (or a
    `CorruptedFolder`) read instead of generating; `bn_adapt`: 'N:n' or (N, n), test-time BN
    adaptation with prior N on groups of n images; `reference`: the mCE normaliser, 'alexnet',
    'none', 'auto' (AlexNet for ImageNet parameters at all five severities) or another result
    file of this probe.  `batch_size` caps the images of one forward pass.  The attribute
    `param_frost_source` records what generated frost: 'photos' (the installed frost
    photographs), 'synthetic' (the texture used without them) or 'none' (frost not generated).
    The shared options (`n`, `seed`, `device`, `out`, ...) are documented in
    `probe.execution.Execution`.
    """
    execution = check(run, execution)
    model = runner.classifier(model)
    levels = parse_severities(severities)
    adapt = parse_bn_adapt(bn_adapt) if bn_adapt is not None else None
    normaliser = "none" if reference is None else str(reference)
    check_reference(normaliser, levels)

    def prepare(context: runner.Context) -> runner.Plan:
        family = resolve_family(context.shape[1:], params)
        source = _source(corrupted_dir, len(context.dataset))
        chosen = parse_corruptions(corruptions, source.corruptions() if source else None)
        if source is not None:
            for corruption in chosen:
                lacking = set(levels) - set(source.severities(corruption))
                if lacking:
                    raise DataError(f"{source.folder}: {corruption} lacks severities {sorted(lacking)}")
        probe = CorruptionProbe(model, chosen, levels, params=params, seed=context.seed, source=source,
                                bn_adapt=adapt)
        options = {"corruptions": chosen, "severities": levels, "params": params, "params_family": family,
                   "corrupted_dir": str(source.folder) if source else None,
                   "bn_adapt": f"{adapt[0]:.17g}:{adapt[1]}" if adapt else None, "reference": normaliser,
                   "frost_source": frost_source() if "frost" in chosen and source is None else None}
        return runner.Plan(probe, options, finalize=finalize, chunk_size=chunk_size(adapt and adapt[1]),
                           batch_size=BATCH_SIZE)

    return runner.run(PROBE, model, data, prepare, **execution)


def finalize(ds: xr.Dataset) -> xr.Dataset:
    """Add the accuracies and mCE variants (a pure function of the result and its recorded
    `reference` and parameter family, so that `probe.merge` can apply it to shards)."""
    return summarize(ds, ds.attrs.get("param_reference", "auto"), ds.attrs.get("param_params_family"))
