"""The corruption probe: accuracy over (corruption, severity), mCE, optional BN adaptation.

`python -m probe.corruptions CHECKPOINT --data SPEC [--params cifar|imagenet|auto]
[--corruptions ...] [--severities 1-5] [--corrupted-dir DIR] [--bn-adapt N:n]
[--reference alexnet|none|auto|RESULT.nc] --out c.nc [--plot c.png] [--resume]`.

Per chunk of samples the probe records, for every cell, whether each sample is classified
correctly (`correct`), and on the clean images (`clean_correct`).  Corrupted images are
generated on the fly (`probe.corruptions.corrupt`) or read from a released `-C` folder.
Generation is seeded per block of `SEED_BLOCK` consecutive selected samples from (seed,
the block's first dataset index, corruption, severity), and chunks are whole blocks, so the
result does not depend on the batch size, the chunking or an interruption.  With
`--bn-adapt N:n`, every consecutive group of n images (clean ones too) is classified with
BatchNorm statistics adapted to it (`bn_adapt`); chunks are whole groups.
"""
from __future__ import annotations

import argparse
import math
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import cli, results
from probe.corruptions import mce as mce_lib
from probe.corruptions.bn_adapt import adapted_logits, batchnorm_layers, parse_bn_adapt
from probe.corruptions.params import resolve_family
from probe.corruptions.registry import ALL_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, corrupt
from probe.corruptions.released import CorruptedFolder
from probe.data import get_batch, image_shape
from probe.errors import DataError, ParameterError
from probe.runner import run_chunked

PROBE = "corruptions"
SEED_BLOCK = 64
PER_SAMPLE = ("correct", "clean_correct", "label")
SUMMARY = ("accuracy", "clean_accuracy", "corruption_accuracy", "mce", "ce", "relative_ce", "imagenet_mce",
           "relative_mce", "reference_corruption")
GROUPS = {"benchmark": CORRUPTIONS, "extra": EXTRA_CORRUPTIONS, "all": ALL_CORRUPTIONS}


# ----------------------------------------------------------------------------- options

def parse_severities(spec: str) -> list[int]:
    """'1-5', '1,3,5' or '2' → sorted distinct severities in 1..5."""
    chosen: set[int] = set()
    try:
        for part in str(spec).split(","):
            low, sep, high = part.strip().partition("-")
            chosen.update(range(int(low), int(high) + 1) if sep else [int(low)])
    except ValueError:
        raise ParameterError(f"--severities must look like 1-5, 1,3,5 or 2; got '{spec}'") from None
    if not chosen or not chosen <= {1, 2, 3, 4, 5}:
        raise ParameterError(f"--severities must lie in 1..5, got '{spec}'")
    return sorted(chosen)


def parse_corruptions(names: Sequence[str] | None, available: Sequence[str] | None = None) -> list[str]:
    """Corruption names (or the groups 'benchmark', 'extra', 'all'); default: the 15 benchmark ones
    (those on disk, with a released folder)."""
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
        raise ParameterError(f"unknown or unavailable corruption(s) {', '.join(unknown)} (available: {', '.join(pool)})")
    return chosen


def cell_seed(seed: int, first_index: int, corruption: str, severity: int) -> int:
    """The generator seed of one block of samples in one (corruption, severity) cell."""
    entropy = [int(seed) & 0xFFFFFFFF, int(first_index), zlib.crc32(corruption.encode()), int(severity)]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)


def chunk_size(batch_size: int, adapt_batch: int | None) -> int:
    """A multiple of `SEED_BLOCK` (and of the adaptation batch n) near `batch_size`."""
    unit = SEED_BLOCK if adapt_batch is None else math.lcm(SEED_BLOCK, adapt_batch)
    return unit * max(1, round(batch_size / unit))


# ----------------------------------------------------------------------------- the computation

class CorruptionProbe:
    """Per-sample correctness over clean images and every (corruption, severity) cell."""

    def __init__(self, model: nn.Module, dataset, corruptions: Sequence[str], severities: Sequence[int], *,
                 params: str = "auto", seed: int = 0, device: torch.device | str = "cpu",
                 source: CorruptedFolder | None = None, bn_adapt: tuple[float, int] | None = None) -> None:
        self.model, self.dataset = model.eval(), dataset
        self.corruptions, self.severities = list(corruptions), list(severities)
        self.params, self.seed, self.device, self.source = params, int(seed), torch.device(device), source
        self.bn_adapt = bn_adapt
        self.generator_device = self.device if self.device.type == "cuda" else torch.device("cpu")
        if bn_adapt is not None and not batchnorm_layers(model):
            raise ParameterError("--bn-adapt: the model has no BatchNorm layers with running statistics")

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted classes, with BN adaptation per group of n images when asked."""
        x = x.to(self.device)
        if self.bn_adapt is None:
            return self.model(x).argmax(1)
        return adapted_logits(self.model, x, *self.bn_adapt).argmax(1)

    def corrupted(self, x: torch.Tensor, y: torch.Tensor, indices: np.ndarray, corruption: str, severity: int) -> torch.Tensor:
        """The chunk's images in one cell: generated block by block, or read from disk."""
        if self.source is not None:
            images, labels = get_batch(self.source.block(corruption, severity), indices)
            if not torch.equal(labels.cpu(), y.cpu()):
                raise DataError(f"{self.source.folder}: labels of {corruption} severity {severity} differ from the "
                                f"clean labels; --corrupted-dir must be the -C version of --data/--split")
            return images.to(self.device)
        parts = []
        for start in range(0, len(x), SEED_BLOCK):
            generator = torch.Generator(device=self.generator_device)
            generator.manual_seed(cell_seed(self.seed, indices[start], corruption, severity))
            parts.append(corrupt(x[start:start + SEED_BLOCK], corruption, severity, params=self.params, generator=generator))
        return torch.cat(parts)

    def __call__(self, indices: np.ndarray) -> xr.Dataset:
        x, y = get_batch(self.dataset, indices)
        x, y_device = x.to(self.device), y.to(self.device)
        correct = np.zeros((len(self.corruptions), len(self.severities), len(indices)), dtype=bool)
        for i, corruption in enumerate(self.corruptions):
            for j, severity in enumerate(self.severities):
                images = self.corrupted(x, y, indices, corruption, severity)
                correct[i, j] = (self.predict(images) == y_device).cpu().numpy()
        clean = (self.predict(x) == y_device).cpu().numpy()
        return xr.Dataset(
            {"correct": (("corruption", "severity", "sample"), correct,
                         {"long_name": "classified correctly on the corrupted image"}),
             "clean_correct": ("sample", clean, {"long_name": "classified correctly on the clean image"}),
             "label": ("sample", y.numpy().astype(np.int64), {"long_name": "true class"})},
            coords={"corruption": self.corruptions, "severity": self.severities, "sample": np.asarray(indices)})

    def examples(self, indices: np.ndarray) -> xr.Dataset:
        """The clean image and every corrupted version of the first sample of `indices`, exactly as
        the probe saw it (its seed block regenerated), as 8-bit images."""
        block = np.asarray(indices[:SEED_BLOCK], dtype=np.int64)
        x, y = get_batch(self.dataset, block)
        x = x.to(self.device)
        cells = torch.stack([torch.stack([self.corrupted(x, y, block, c, s)[0] for s in self.severities])
                             for c in self.corruptions])
        index = int(block[0])

        def to_uint8(t: torch.Tensor) -> np.ndarray:
            return (t.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        dims = ("channel", "row", "col")
        return xr.Dataset({"example": (("corruption", "severity") + dims, to_uint8(cells),
                                       {"long_name": f"corrupted images of sample {index}", "units": "1/255"}),
                           "example_clean": (dims, to_uint8(x[0]), {"long_name": f"clean image of sample {index}",
                                                                    "units": "1/255"})},
                          coords={"corruption": self.corruptions, "severity": self.severities},
                          attrs={"example_sample": int(index)})


# ----------------------------------------------------------------------------- summaries

def summarize(ds: xr.Dataset, reference: str | Path | None = "auto", family: str = "cifar") -> xr.Dataset:
    """Add accuracy per cell, clean accuracy, CIFAR-style mCE and, with a reference, ImageNet-style
    and relative mCE.  `reference`: 'alexnet', 'none', 'auto' (AlexNet for ImageNet parameters)
    or a path to another result of this probe."""
    ds = ds.drop_vars([name for name in SUMMARY if name in ds.variables])
    ds.attrs = {k: v for k, v in ds.attrs.items() if k != "reference"}
    accuracy = 100.0 * ds["correct"].mean("sample")
    ds["accuracy"] = accuracy.assign_attrs(long_name="accuracy on corrupted images", units="%")
    ds["clean_accuracy"] = xr.DataArray(100.0 * float(ds["clean_correct"].mean()),
                                        attrs={"long_name": "accuracy on clean images", "units": "%"})
    benchmark = [c for c in ds["corruption"].values.tolist() if c in CORRUPTIONS] or ds["corruption"].values.tolist()
    corruption_accuracy = float(accuracy.sel(corruption=benchmark).mean())
    ds["corruption_accuracy"] = xr.DataArray(corruption_accuracy, attrs={
        "long_name": "mean accuracy over the benchmark cells", "units": "%"})
    ds["mce"] = xr.DataArray(mce_lib.cifar_mce(accuracy.sel(corruption=benchmark).values), attrs={
        "long_name": "CIFAR-style mCE: 100 − mean accuracy over the benchmark cells", "units": "%"})
    ds.attrs["mce_corruptions"] = benchmark
    reference_errors = _reference(reference, family, ds)
    if reference_errors is not None:
        name, errors_ref, clean_ref = reference_errors
        errors = {c: 100.0 - accuracy.sel(corruption=c).values for c in benchmark if c in errors_ref}
        ce = mce_lib.corruption_errors(errors, errors_ref)
        relative = mce_lib.relative_corruption_errors(errors, 100.0 - float(ds["clean_accuracy"]), errors_ref, clean_ref)
        coord = {"reference_corruption": list(ce)}
        ds["ce"] = xr.DataArray(list(ce.values()), dims="reference_corruption", coords=coord,
                                attrs={"long_name": f"corruption error normalised by {name}", "units": "%"})
        ds["relative_ce"] = xr.DataArray(list(relative.values()), dims="reference_corruption", coords=coord,
                                         attrs={"long_name": f"relative corruption error normalised by {name}", "units": "%"})
        ds["imagenet_mce"] = xr.DataArray(mce_lib.mean_ce(ce), attrs={
            "long_name": f"mCE normalised by {name}", "units": "%"})
        ds["relative_mce"] = xr.DataArray(mce_lib.mean_ce(relative), attrs={
            "long_name": f"relative mCE normalised by {name}", "units": "%"})
        ds.attrs["reference"] = name
    return ds


def _reference(reference: str | Path | None, family: str, ds: xr.Dataset):
    """(name, per-corruption reference errors in %, reference clean error in %) or None."""
    spec = "none" if reference is None else str(reference)
    if spec == "auto":
        if family != "imagenet" or list(ds["severity"].values) != [1, 2, 3, 4, 5]:
            return None
        spec = "alexnet"
    if spec == "none":
        return None
    if spec == "alexnet":
        if list(ds["severity"].values) != [1, 2, 3, 4, 5]:
            raise ParameterError("--reference alexnet needs all five severities (the table holds means over 1..5)")
        errors, clean = mce_lib.alexnet_reference()
        return "AlexNet", errors, clean
    other = results.load(spec)
    if other.attrs.get("probe") != PROBE or "accuracy" not in other:
        raise DataError(f"--reference {spec}: not a result of the corruption probe")
    missing = set(ds["severity"].values.tolist()) - set(other["severity"].values.tolist())
    if missing:
        raise ParameterError(f"--reference {spec}: lacks severities {sorted(missing)}")
    other_errors = 100.0 - other["accuracy"].sel(severity=ds["severity"].values)
    errors = {c: other_errors.sel(corruption=c).values for c in other["corruption"].values.tolist()}
    return str(other.attrs.get("model", spec)), errors, 100.0 - float(other["clean_accuracy"])


# ----------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser("python -m probe.corruptions",
                             "Accuracy under common corruptions (generated or from a -C folder), mCE, BN adaptation.")
    parser.add_argument("--params", default="auto", choices=("auto", "cifar", "imagenet"),
                        help="corruption parameter table (auto: by image size)")
    parser.add_argument("--corruptions", nargs="+", metavar="NAME",
                        help="corruption names, or the groups benchmark (default), extra, all")
    parser.add_argument("--severities", default="1-5", help="e.g. 1-5 (default), 1,3,5 or 2")
    parser.add_argument("--corrupted-dir", type=Path, help="released CIFAR-10-C / ImageNet-C style folder to read instead of generating")
    parser.add_argument("--bn-adapt", metavar="N:n", help="test-time BN adaptation: source prior N, batch size n (e.g. 0:128)")
    parser.add_argument("--reference", default="auto",
                        help="errors normalising the ImageNet-style mCE: alexnet, none, auto (AlexNet with ImageNet "
                             "parameters) or a result file of this probe")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from --out")
    return parser


def run(args: argparse.Namespace) -> xr.Dataset:
    device, model, dataset, indices = cli.setup(args)
    severities = parse_severities(args.severities)
    bn_adapt = parse_bn_adapt(args.bn_adapt) if args.bn_adapt else None
    source = CorruptedFolder(args.corrupted_dir, expected_length=len(dataset)) if args.corrupted_dir else None
    corruptions = parse_corruptions(args.corruptions, source.corruptions() if source else None)
    if source is not None:
        for corruption in corruptions:
            lacking = set(severities) - set(source.severities(corruption))
            if lacking:
                raise DataError(f"{source.folder}: {corruption} lacks severities {sorted(lacking)}")
    family = resolve_family(image_shape(dataset)[1:], args.params)
    probe = CorruptionProbe(model, dataset, corruptions, severities, params=args.params, seed=args.seed,
                            device=device, source=source, bn_adapt=bn_adapt)
    parameters = {k: v for k, v in vars(args).items() if k not in ("out", "plot", "quiet", "resume")}
    parameters.update(corruptions=corruptions, severities=severities, params_family=family,
                      seed_block=SEED_BLOCK)
    attrs = results.provenance(PROBE, parameters, model=model, data=args.data, split=args.split,
                               seed=args.seed, device=device)
    bar = cli.progress_bar(len(indices), "corruptions", args.quiet)
    try:
        ds = run_chunked(probe, indices, attrs, chunk_size=chunk_size(args.batch_size, bn_adapt and bn_adapt[1]),
                         out=args.out, resume=args.resume, progress=bar.update)
    finally:
        bar.close()
    ds = summarize(ds, args.reference, family)
    examples = probe.examples(indices)
    ds = ds.assign(examples.data_vars)
    ds.attrs.update(examples.attrs)
    if args.out:
        results.save(ds, args.out)
    if not args.quiet:
        print(summary_table(ds))
    cli.save_outputs(ds, args)
    return ds


def summary_table(ds: xr.Dataset) -> str:
    """Accuracy per corruption and severity, then the scalar summaries."""
    severities = ds["severity"].values.tolist()
    rows = [[c] + [float(ds["accuracy"].sel(corruption=c, severity=s)) for s in severities]
            + [float(ds["accuracy"].sel(corruption=c).mean())] for c in ds["corruption"].values.tolist()]
    table = cli.format_table(["corruption"] + [f"s{s}" for s in severities] + ["mean"], rows)
    lines = [table, f"clean accuracy {float(ds['clean_accuracy']):.2f}%   corruption accuracy "
                    f"{float(ds['corruption_accuracy']):.2f}%   mCE (CIFAR) {float(ds['mce']):.2f}%"]
    if "imagenet_mce" in ds:
        lines.append(f"mCE / {ds.attrs['reference']} {float(ds['imagenet_mce']):.2f}%   "
                     f"relative mCE {float(ds['relative_mce']):.2f}%")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_command(build_parser(), run, argv)
