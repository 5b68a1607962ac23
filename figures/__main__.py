"""`python -m figures RESULT.nc -o FIG.pdf`: render a result with its default plot."""
from __future__ import annotations

import argparse
import sys

import figures
from probe import results
from probe.errors import ProbeError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m figures", description=__doc__)
    parser.add_argument("result", help="a result file (.nc) written by a probe")
    parser.add_argument("-o", "--out", required=True, help="figure file (.png, .pdf, .svg)")
    args = parser.parse_args(argv)
    try:
        ds = results.load(args.result)
        figures.save(figures.plot_result(ds), args.out)
    except ProbeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
