"""What every command line shares: options, device choice, loading, progress, errors.

A probe module defines `add_arguments(parser)` for its own options and `main(argv)`,
which calls `run_command(parser, body, argv)`.  User errors (`ProbeError`) print one line
`error: ...` and exit with status 2; anything else keeps its traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from probe import data as datasets
from probe import models
from probe.errors import ProbeError, ShapeError


def make_parser(prog: str, description: str, checkpoint: bool = True) -> argparse.ArgumentParser:
    """A parser with the shared options (DESIGN.md, "Command lines")."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    if checkpoint:
        parser.add_argument("checkpoint", help="model checkpoint (probe format, TorchScript, or a state dict with --factory)")
        parser.add_argument("--factory", help="'package.module:function' building the model for a bare state dict")
        parser.add_argument("--trust-checkpoint", action="store_true",
                            help="allow checkpoints that hold pickled Python objects (can run arbitrary code)")
    parser.add_argument("--data", default="fashion-mnist-sample", help="dataset name or path (default: %(default)s)")
    parser.add_argument("--data-root", help="folder holding named datasets (else $PROBE_DATA_ROOT, /usr/share/datasets)")
    parser.add_argument("--split", default="test", choices=datasets.SPLITS)
    parser.add_argument("--n", type=int, default=None, help="number of samples (seeded subset; default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps")
    parser.add_argument("--out", type=Path, help="result file (.nc)")
    parser.add_argument("--plot", type=Path, help="figure file (.png, .pdf, .svg)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    return parser


def resolve_device(spec: str = "auto") -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; anything else must be available."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ProbeError(f"unknown device '{spec}'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ProbeError("--device cuda requested but CUDA is not available")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ProbeError("--device mps requested but MPS is not available")
    return device


def load_data(args: argparse.Namespace, split: str | None = None):
    return datasets.load(args.data, split=split or args.split, root=args.data_root)


def load_model(args: argparse.Namespace, device: torch.device) -> nn.Module:
    return models.load(args.checkpoint, trust=args.trust_checkpoint, factory=args.factory, map_location=device)


def check_compatible(model: nn.Module, dataset, device: torch.device) -> None:
    """Fail with a clear `ShapeError` when the model cannot take the dataset's images."""
    x, _ = datasets.get_batch(dataset, [0])
    expected = getattr(model, "probe_info", {}).get("arch_kwargs", {})
    if "in_channels" in expected and expected["in_channels"] != x.shape[1]:
        raise ShapeError(f"the model expects {expected['in_channels']}-channel images but the data has {x.shape[1]} channels")
    if "image_size" in expected and list(expected["image_size"]) != list(x.shape[2:]):
        size = "×".join(map(str, expected["image_size"]))
        raise ShapeError(f"the model expects {size} images but the data has {x.shape[2]}×{x.shape[3]} images")
    try:
        with torch.no_grad():
            logits = model(x.to(device))
    except RuntimeError as exc:
        raise ShapeError(f"the model does not accept images of shape {tuple(x.shape[1:])}: {str(exc).splitlines()[0]}") from None
    if logits.ndim != 2:
        raise ShapeError(f"the model must return logits of shape (N, K), got {tuple(logits.shape)}")


def setup(args: argparse.Namespace, with_model: bool = True):
    """Device, model (eval mode, checked against the data), dataset and the sample indices."""
    device = resolve_device(args.device)
    dataset = load_data(args)
    model = None
    if with_model:
        model = load_model(args, device).eval()
        check_compatible(model, dataset, device)
    indices = datasets.subset_indices(len(dataset), args.n, args.seed)
    return device, model, dataset, indices


def progress_bar(total: int, desc: str, quiet: bool = False) -> tqdm:
    """A tqdm bar on stderr, silent with --quiet or when stderr is not a terminal."""
    return tqdm(total=total, desc=desc, unit="sample", disable=quiet or not sys.stderr.isatty(),
                dynamic_ncols=True, leave=False)


def format_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def save_outputs(ds, args: argparse.Namespace) -> None:
    """Save the figure for `--plot` (the result itself is saved by the runner)."""
    if args.plot:
        import figures  # imported lazily: probe does not depend on figures otherwise
        figures.save(figures.plot_result(ds), args.plot)
        if not args.quiet:
            print(f"figure: {args.plot}")


def run_command(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], None],
                argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run `body(args)`; a `ProbeError` becomes `error: ...` and exit status 2."""
    args = parser.parse_args(argv)
    try:
        body(args)
    except ProbeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted" + (f"; finished chunks are in {args.out} (use --resume)" if getattr(args, "out", None) else ""),
              file=sys.stderr)
        return 130
    return 0
