"""`python -m probe.report CHECKPOINT --data SPEC [--split test] [--n N] [--budget quick|standard|thorough]
[--baseline OTHER.pt] --out DIR [--resume] [--force]`: the sanity report of a model (`probe.report`).

Writes every result (`*.nc`), every figure (`*.png`), `report.html` and `summary.json` into
DIR, with a progress bar per stage, and prints the verdict table.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from probe import report as sanity
from probe.commands import common
from probe.errors import ParameterError
from probe.progress import Sink
from probe.report.budgets import NAMES as BUDGETS
from probe.report.checks import Check, number


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser("python -m probe.report", "The sanity report of a model: every probe, checks with "
                                "verdicts, one self-contained HTML page.",
                                example="python -m probe.report lenet.pt --data fashion-mnist --out report/")
    parser._option_string_actions["--out"].help = "report folder (required): results, figures, report.html, " \
                                                  "summary.json"
    parser.add_argument("--budget", default="quick", choices=list(BUDGETS),
                        help="samples and options of every stage (default %(default)s: under a minute for a "
                             "LeNet on a laptop CPU)")
    parser.add_argument("--baseline", metavar="CHECKPOINT",
                        help="a second checkpoint reported side by side (and transferred from in the masking "
                             "probe); read with --factory, --trust-checkpoint")
    parser.add_argument("--stages", nargs="+", choices=sanity.stage_names(), metavar="STAGE",
                        help=f"only these stages (default: all of {', '.join(sanity.stage_names())})")
    parser.add_argument("--corruption-net", metavar="CHECKPOINT",
                        help="corruption network of the adversarial-corruptions stage (when that probe exists)")
    parser.add_argument("--resume", action="store_true",
                        help="reuse the finished results in --out (only those of the same probe, options, model "
                             "and data)")
    parser.add_argument("--force", action="store_true",
                        help="write into a folder that holds another model's report (its files are replaced "
                             "stage by stage)")
    return parser


def verdict_table(report: sanity.Report) -> str:
    """The checks as a text table (the baseline's verdicts beside them when there is one)."""
    headers = ["section", "check", "measured", "verdict"] + (["baseline", "verdict"] if report.baseline else [])
    rows = []
    for check in report.model.checks:
        row = [check.section, check.name, _measured(check), check.verdict.upper()]
        if report.baseline:
            other = next((c for c in report.baseline.checks if c.name == check.name), None)
            row += [_measured(other), other.verdict.upper() if other else "-"]
        rows.append(row)
    return common.format_table(headers, rows)


def _measured(check: Check | None) -> str:
    if check is None or check.measured is None:
        return "-" if check is None or check.stage != "identity" else check.note.split(":")[0]
    return f"{number(check.measured)} {check.units}".strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()

    def body(args: argparse.Namespace) -> None:
        if args.out is None:
            raise ParameterError("the report needs --out DIR (a folder for its results, figures and report.html)")
        if args.plot is not None:
            raise ParameterError("the report draws its own figures into --out; --plot is not used")
        device = common.resolve_device(args.device)
        model = common.load_model(args, device)
        baseline = common.load_model(args, device, path=args.baseline) if args.baseline else None
        network = (common.load_model(args, device, path=args.corruption_net, classifier=False)
                   if args.corruption_net else None)
        data = common.load_data(args)

        def progress(stage: str, total: int, unit: str) -> Sink:
            return common.progress_bar(total, stage, args.quiet, unit)

        report = sanity.run(model, data, n=args.n, seed=args.seed, device=device, budget=args.budget,
                            baseline=baseline, out=args.out, resume=args.resume, progress=progress,
                            batch_size=args.batch_size, stages=args.stages, corruption_net=network,
                            max_memory=args.max_memory, force=args.force,
                            command=shlex.join(["python", "-m", "probe.report",
                                                *(sys.argv[1:] if argv is None else argv)]))
        if not args.quiet:
            print(verdict_table(report))
            for check in report.model.checks:
                if check.verdict == "fail" and check.measured is None:
                    print(f"{check.name}: {check.note}")
            print(f"overall verdict: {report.verdict.upper()} (budget {report.budget}, "
                  f"{report.elapsed_seconds:.1f} s)\nreport: {args.out / 'report.html'}")

    return common.execute(parser, body, argv)
