"""`python -m probe.plot RESULT.nc -o FIG.pdf` (or `python -m probe plot ...`): a result's default plot."""
from __future__ import annotations

from typing import Sequence

from probe import results
from probe.commands import common


def main(argv: Sequence[str] | None = None) -> int:
    parser = common.Parser(prog="python -m probe.plot", description=__doc__)
    parser.add_argument("result", help="a result file (.nc) written by a probe")
    parser.add_argument("-o", "--out", required=True, help="figure file (.png, .pdf, .svg)")

    def body(args) -> None:
        common.save_plot(results.load(args.result), args.out, quiet=True)
        print(args.out)

    return common.execute(parser, body, argv)
