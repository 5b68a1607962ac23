"""`python -m probe.compare A.nc B.nc [--plot FIG.png] [--out DELTA.nc] [--confidence 0.95]`: the paired
comparison of two results of one probe on the same samples (see `probe.compare`)."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from probe import results, stats
from probe.commands import common
from probe.compare import compare, rows
from probe.errors import ParameterError


def report(delta: xr.Dataset) -> str:
    """Per quantity and cell: a, b, a − b with its interval, p and Holm-adjusted p."""
    table = []
    for name, cell, k in rows(delta):
        a, b, difference, low, high, p, holm = (float(delta[f"{name}_{suffix}"].values.reshape(-1)[k]) for suffix in
                                                ("a", "b", "difference", "difference_low", "difference_high", "p",
                                                 "p_holm"))
        table.append([name, cell, a, b, stats.Estimate(difference, low, high, delta.attrs["samples"]), f"{p:.3g}",
                      f"{holm:.3g}"])
    confidence = float(delta.attrs["confidence"])
    header = (f"{delta.attrs['probe']}: a = {delta.attrs['model_a']} vs b = {delta.attrs['model_b']} on the same "
              f"{delta.attrs['samples']} samples (shares in %, differences in percentage points; values: medians)")
    return "\n".join([header, common.format_table(
        ["quantity", "cell", "a", "b", f"a − b [{common.ci(confidence)}]", "p", "p (Holm)"], table)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = common.Parser(prog="python -m probe.compare", description=__doc__,
                           example="python -m probe.compare standard.nc adversarial.nc --plot difference.png")
    parser.add_argument("a", type=Path, help="first result (.nc)")
    parser.add_argument("b", type=Path, help="second result (.nc), same probe, data and samples")
    parser.add_argument("--confidence", type=common.confidence_level, default=stats.CONFIDENCE,
                        help="level of the intervals (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="write the comparison (.nc)")
    parser.add_argument("--plot", type=Path, help="figure of the differences with their intervals (.png, .pdf, .svg)")

    def body(args: argparse.Namespace) -> None:
        common.check_outputs(args)
        for path in (args.a, args.b):
            if not path.is_file():
                raise ParameterError(f"no such result file: {path}")
        delta = compare(results.load(args.a), results.load(args.b), args.confidence)
        print(report(delta))
        if args.out is not None:
            results.save(delta, args.out)
            print(f"result: {args.out}")
        if args.plot is not None:
            import matplotlib
            matplotlib.use("Agg")  # a command never opens windows
            from probe import plot
            from probe.plot.compare import differences
            plot.save(differences(delta), args.plot)
            print(f"figure: {args.plot}")

    return common.execute(parser, body, argv)


__all__ = ["main", "report"]
