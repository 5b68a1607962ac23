"""Dataset-level SparseFool: `run(model, data, n) -> xarray.Dataset` and `python -m probe.sparsefool`.

For every selected image: whether SparseFool fooled the model, how many pixels (a pixel counts
when any channel changes) and coordinates it changed, the L1 / L2 / L∞ size of the change, the
labels, outer iterations, time per sample and the failure flags.  Values of samples that were
not fooled are `+inf` (with `fooled = False` beside them).  Optionally the clean images and the
perturbations themselves (for figures, transfer and attribution analyses).
"""
from __future__ import annotations

import argparse
import time
from typing import Callable, Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import cli, results
from probe.attacks.sparsefool import sparsefool
from probe.data import get_batch, subset_indices
from probe.errors import ParameterError
from probe.runner import run_chunked

PROBE = "sparsefool"
FLAGS = {
    "deepfool_failed": "a DeepFool step found no boundary (or a zero normal); stopped",
    "wrong_side": "the image was past its linearised boundary; stopped",
    "unreachable": "at some step the bounds did not reach the linearised boundary",
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _compute(model: nn.Module, data, device: torch.device, attack: dict, save_perturbations: bool):
    """The per-chunk computation handed to `run_chunked` (depends only on the indices)."""

    def compute(indices: np.ndarray) -> xr.Dataset:
        x, y = get_batch(data, indices)
        x = x.to(device)
        _sync(device)
        start = time.perf_counter()
        res = sparsefool(model, x, **attack)
        _sync(device)
        seconds = (time.perf_counter() - start) / len(indices)
        fooled = res.fooled.cpu().numpy()
        flat = res.perturbation.flatten(1)
        pixels = x.shape[2] * x.shape[3]
        inf = np.inf

        def metric(values: torch.Tensor) -> np.ndarray:
            return np.where(fooled, values.double().cpu().numpy(), inf)

        def var(values, long_name: str, units: str | None = None):
            return ("sample", values, {"long_name": long_name, **({"units": units} if units else {})})

        count = metric(res.perturbed_pixels)
        variables = {
            "fooled": var(fooled, "SparseFool changed the prediction (fresh forward pass on the final image)"),
            "label": var(res.label.cpu().numpy(), "prediction on the clean image"),
            "true_label": var(y.numpy(), "dataset label"),
            "adv_label": var(res.adv_label.cpu().numpy(), "prediction on the perturbed image"),
            "iterations": var(res.iterations.cpu().numpy(), "outer SparseFool iterations", "iterations"),
            "perturbed_pixels": var(count, "perturbed pixels (any channel changed)", "pixels"),
            "perturbed_pixel_fraction": var(100.0 * count / pixels, "perturbed pixels, share of the image", "%"),
            "perturbed_coordinates": var(metric(res.perturbed_coordinates), "perturbed coordinates (pixel × channel)",
                                         "coordinates"),
            "l1": var(metric(flat.abs().sum(1)), "L1 norm of the perturbation", "pixel intensity [0, 1]"),
            "l2": var(metric(flat.norm(dim=1)), "L2 norm of the perturbation", "pixel intensity [0, 1]"),
            "linf": var(metric(flat.abs().amax(1)), "L∞ norm of the perturbation", "pixel intensity [0, 1]"),
            "time": var(np.full(len(indices), seconds), "attack time per sample (batched)", "s"),
            **{name: var(getattr(res, name).cpu().numpy(), text) for name, text in FLAGS.items()},
        }
        if save_perturbations:
            dims = ("sample", "channel", "row", "col")
            variables["image"] = (dims, x.cpu().numpy().astype(np.float32), {"long_name": "clean image",
                                                                             "units": "pixel intensity [0, 1]"})
            variables["perturbation"] = (dims, res.perturbation.cpu().numpy().astype(np.float32),
                                         {"long_name": "perturbation x_adv − x", "units": "pixel intensity [0, 1]"})
        return xr.Dataset(variables, coords={"sample": np.asarray(indices, dtype=np.int64)})

    return compute


def run(model: nn.Module, data, n: int | None = None, *, lam: float = 3.0, max_iter: int = 20,
        epsilon: float = 0.02, delta: float | None = None, candidates: int = 10, seed: int = 0,
        batch_size: int = 128, device: torch.device | str | None = None, save_perturbations: bool = False,
        data_spec: str | None = None, split: str | None = None, out=None, resume: bool = False,
        progress: Callable[[int], None] | None = None) -> xr.Dataset:
    """SparseFool on `n` seeded samples of `data` (all if None); one row per dataset index.

    `delta` is the perceptibility bound on the [0, 1] pixel scale (the CLI takes 0–255).
    `save_perturbations` also stores the clean images and the perturbations.  With `out`, the
    result is saved after every chunk of `batch_size` samples and `resume` continues it.
    """
    device = torch.device(device) if device is not None else next(model.parameters(), torch.empty(0)).device
    model = model.to(device).eval()
    indices = subset_indices(len(data), n, seed)
    attack = {"lam": lam, "max_iter": max_iter, "epsilon": epsilon, "delta": delta, "candidates": candidates}
    parameters = dict(attack, n=n, batch_size=batch_size, save_perturbations=save_perturbations,
                      delta=delta if delta is not None else "none")
    attrs = results.provenance(PROBE, parameters, model=model, data=data_spec, split=split, seed=seed, device=device)
    return run_chunked(_compute(model, data, device, attack, save_perturbations), indices, attrs,
                       chunk_size=batch_size, out=out, resume=resume, progress=progress)


def summary(ds: xr.Dataset) -> dict[str, float]:
    """Fooling rate (%), median perturbed-pixel % over fooled images, mean time per sample (s), and more."""
    fooled = ds["fooled"].values.astype(bool)
    share = ds["perturbed_pixel_fraction"].values[fooled]
    return {
        "samples": int(len(fooled)),
        "fooling rate (%)": float(100.0 * fooled.mean()),
        "median perturbed pixels (%)": float(np.median(share)) if len(share) else float("inf"),
        "median perturbed coordinates": float(np.median(ds["perturbed_coordinates"].values[fooled]))
        if len(share) else float("inf"),
        "median L2": float(np.median(ds["l2"].values[fooled])) if len(share) else float("inf"),
        "mean iterations": float(ds["iterations"].values.mean()),
        "mean time per sample (s)": float(ds["time"].values.mean()),
        **{f"{name} (n)": int(ds[name].values.sum()) for name in FLAGS},
    }


# ----------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser("python -m probe.sparsefool",
                             "SparseFool: how few pixels change the model's decision (sparse adversarial perturbations).")
    parser.add_argument("--lam", type=float, default=3.0, help="λ ≥ 1: boundary point x_i + λ r (default %(default)s)")
    parser.add_argument("--delta", type=float, help="perceptibility bound ±δ per pixel on the 0–255 scale (e.g. 25)")
    parser.add_argument("--max-iter", type=int, default=20, help="outer iterations (default %(default)s)")
    parser.add_argument("--epsilon", type=float, default=0.02, help="final overshoot (default %(default)s)")
    parser.add_argument("--candidates", type=int, default=10, help="DeepFool candidate classes (default %(default)s)")
    parser.add_argument("--save-perturbations", action="store_true",
                        help="also store the clean images and perturbations (needed for the example grid)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from --out")
    return parser


def main_body(args: argparse.Namespace) -> None:
    if args.delta is not None and not 0 < args.delta <= 255:
        raise ParameterError(f"--delta must be in (0, 255], got {args.delta}")
    device, model, dataset, indices = cli.setup(args)
    bar = cli.progress_bar(len(indices), "sparsefool", args.quiet)
    ds = run(model, dataset, args.n, lam=args.lam, max_iter=args.max_iter, epsilon=args.epsilon,
             delta=None if args.delta is None else args.delta / 255.0, candidates=args.candidates, seed=args.seed,
             batch_size=args.batch_size, device=device, save_perturbations=args.save_perturbations,
             data_spec=args.data, split=args.split, out=args.out, resume=args.resume, progress=bar.update)
    bar.close()
    if not args.quiet:
        print(cli.format_table(["quantity", "value"], list(summary(ds).items())))
        if args.out:
            print(f"result: {args.out}")
    cli.save_outputs(ds, args)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.run_command(build_parser(), main_body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
