"""`python -m probe.plot A.nc [B.nc ...] [--label NAME ...] [--variable V] -o FIG.pdf` (or
`python -m probe plot ...`): the default figure of a result, or of several results of one probe
drawn together for comparison (labels from `--label`, else from each result's provenance)."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from probe import results
from probe.commands import common
from probe.errors import DataError, ParameterError

if TYPE_CHECKING:
    from probe.plot import Results


def main(argv: Sequence[str] | None = None) -> int:
    parser = common.Parser(prog="python -m probe.plot", description=__doc__,
                           example="python -m probe.plot standard.nc adversarial.nc --label standard "
                                   "--label adversarial -o margins.pdf")
    parser.add_argument("results", nargs="+", help="result files (.nc) written by one probe")
    parser.add_argument("--label", action="append", default=None,
                        help="legend label of each result, in order (repeat once per result)")
    parser.add_argument("--variable", help="the variable to draw, where the plot offers a choice "
                                           "(e.g. margin_refined for margins)")
    parser.add_argument("-o", "--out", required=True, type=Path, help="figure file (.png, .pdf, .svg)")

    def body(args: argparse.Namespace) -> None:
        if args.label is not None and len(args.label) != len(args.results):
            raise ParameterError(f"--label given {len(args.label)} times for {len(args.results)} results")
        loaded = [results.load(path) for path in args.results]
        for path, ds in zip(args.results, loaded):
            if "probe_version" not in ds.attrs:
                raise DataError(f"{path} is not a probe result (it lacks the provenance attributes every probe "
                                "result carries)")
        probes = sorted({str(ds.attrs.get("probe")) for ds in loaded})
        if len(probes) > 1:
            raise ParameterError(f"results of different probes cannot share a figure ({', '.join(probes)})")
        drawn: Results
        if args.label is not None:
            drawn = dict(zip(args.label, loaded))
            if len(drawn) < len(loaded):
                raise ParameterError("--label values must differ")
        else:
            drawn = loaded[0] if len(loaded) == 1 else loaded
        options = {} if args.variable is None else {"variable": args.variable}
        common.save_plot(drawn, args.out, quiet=True, **options)
        print(args.out)

    return common.execute(parser, body, argv)
