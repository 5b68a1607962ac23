"""`python -m probe.plot RESULT.nc -o FIG.pdf` (or `python -m probe plot ...`): a result's default plot."""
from __future__ import annotations

from typing import Sequence

from probe import results
from probe.commands import common
from probe.errors import DataError


def main(argv: Sequence[str] | None = None) -> int:
    parser = common.Parser(prog="python -m probe.plot", description=__doc__)
    parser.add_argument("result", help="a result file (.nc) written by a probe")
    parser.add_argument("-o", "--out", required=True, help="figure file (.png, .pdf, .svg)")

    def body(args) -> None:
        ds = results.load(args.result)
        if "probe_version" not in ds.attrs:
            raise DataError(f"{args.result} is not a probe result (it lacks the provenance attributes every probe "
                            "result carries)")
        common.save_plot(ds, args.out, quiet=True)
        print(args.out)

    return common.execute(parser, body, argv)
