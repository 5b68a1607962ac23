"""`python -m probe.merge OUT.nc SHARD_0.nc SHARD_1.nc ...`: fold the shards of one run into its result."""
from __future__ import annotations

import argparse
from collections.abc import Sequence

from probe import results, runner
from probe.commands import common
from probe.merge import merge


def main(argv: Sequence[str] | None = None) -> int:
    parser = common.Parser(prog="python -m probe.merge", description=__doc__,
                           example="python -m probe.merge margins.nc margins-0.nc margins-1.nc")
    parser.add_argument("out", help="the result file to write (.nc)")
    parser.add_argument("shards", nargs="+", help="the shard files (--shard I/N runs of one run)")

    def body(args: argparse.Namespace) -> None:
        runner.check_output(args.out)
        ds = merge([results.load(path) for path in args.shards])
        results.save(ds, args.out)
        print(f"merged {len(args.shards)} shards ({ds.sizes[runner.DIM]} samples) into {args.out}")

    return common.execute(parser, body, argv)
