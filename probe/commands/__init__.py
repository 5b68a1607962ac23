"""The command layer: `python -m probe <command> ...` and `python -m probe.<probe> ...`.

Every probe command has the same shape: the shared options (`common.make_parser`), the
probe's own options (its command module's `add_options(parser)`, whose names are the
keyword arguments of the probe's `run`), then `run(...)`, a summary table and `--plot`.
A command module may also define `prepare(args, options, device) -> options` for options that
need loading (a second checkpoint, a folder), `load_data(args)` when its data are optional,
`progress(args, data) -> (total, unit)` when its progress is not counted in samples, and
`report(ds, confidence) -> str` for its summary (numbers with intervals at `--confidence`).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from probe import distributed, registry
from probe.commands import common

OTHER_COMMANDS: dict[str, tuple[str, str]] = {   # name → (module, one-line purpose)
    "train": ("probe.commands.train",
              "train a classifier (standard, adversarial, PRIME, AugMix, Lp noise, ESP, DeepAugment, AdA)"),
    "report": ("probe.commands.report", "the sanity report of a model: every probe, verdicts, figures, one HTML page"),
    "compare": ("probe.commands.compare",
                "paired comparison of two results on the same samples (McNemar, Wilcoxon, Holm)"),
    "plot": ("probe.commands.plot", "the default figure of a result, or several results of one probe compared"),
    "merge": ("probe.commands.merge", "fold the shards of a job-array run into one result"),
    "corruption_net": ("probe.commands.corruption_net", "pretrain a corruption network (EDSR, CAE) for AdA"),
}


def build_parser(name: str) -> argparse.ArgumentParser:
    """The argument parser of probe `name`: the shared options and the probe's own."""
    entry = registry.entry(name)
    parser = common.make_parser(f"python -m probe.{name}", entry.description, example=entry.example,
                                checkpoint=entry.uses_model, samples=entry.uses_model)
    if entry.chunked:
        parser.add_argument("--resume", action="store_true",
                            help="continue an interrupted run of the same probe, options, model and data from --out")
        parser.add_argument("--shard", metavar="I/N",
                            help="compute only shard I of N into --out (job arrays; fold with python -m probe.merge)")
    importlib.import_module(entry.command).add_options(parser)
    common.library_defaults(parser, entry.load().run)
    return parser


def probe_main(name: str, argv: Sequence[str] | None = None) -> int:
    """The command line of probe `name` (`python -m probe.<name>`)."""
    entry = registry.entry(name)
    command = importlib.import_module(entry.command)
    return common.execute(build_parser(name), lambda args: _run(entry, command, args), argv)


def _run(entry: registry.ProbeEntry, command: ModuleType, args: argparse.Namespace) -> None:
    defaulted = common.default_out(args, entry.name)
    common.check_outputs(args)
    device = distributed.start(common.resolve_device(args.device))
    args.quiet = args.quiet or distributed.world()[0] != 0   # one rank prints
    options = common.own_options(args)
    if hasattr(command, "prepare"):
        options = command.prepare(args, options, device)
    model = common.load_model(args, device) if entry.uses_model else None
    if hasattr(command, "load_data"):
        data = command.load_data(args)
    else:
        data = common.load_data(args) if entry.uses_model else None
    if entry.uses_model and data is not None:
        common.confirm_whole_dataset(args, entry.name, len(data))
    if hasattr(command, "progress"):
        total, unit = command.progress(args, data)
    else:
        total, unit = ((getattr(args, "n", None) or len(data)) if data is not None else 0), "sample"
    bar = common.progress_bar(total, entry.name, args.quiet, unit)
    keywords = dict(seed=args.seed, device=device, out=args.out, **options)
    if entry.uses_model:
        keywords.update(n=args.n, batch_size=args.batch_size, progress=bar, max_memory=args.max_memory)
    if entry.chunked:
        keywords.update(resume=args.resume, shard=args.shard)
    try:
        ds = entry.load().run(model, data, **keywords)
    finally:
        bar.close()
    where = f"{args.out}" + (" (the default; choose with --out)" if defaulted else "")
    if not args.quiet:
        numbers = entry.load().summary(ds, args.confidence)
        report = (command.report(ds, args.confidence) if hasattr(command, "report")
                  else common.summary_table(numbers, args.confidence))
        note = common.sample_size_note(numbers, args.target_width)
        print(report + (f"\n{note}" if note else "") + f"\nresult: {where}")
    elif defaulted and distributed.world()[0] == 0:
        print(f"result: {where}", file=sys.stderr)
    if distributed.world()[0] == 0:
        common.save_plot(ds, args.plot, args.quiet)


def overview() -> str:
    """`python -m probe --help`: every command with its purpose (the probes from the registry)."""
    rows = [(name, entry.description) for name, entry in registry.PROBES.items()]
    rows += [(name, purpose) for name, (_, purpose) in OTHER_COMMANDS.items()]
    width = max(len(name) for name, _ in rows)
    lines = [f"  {name:<{width}}  {purpose}" for name, purpose in rows]
    return "\n".join(["usage: python -m probe COMMAND [options]   (or python -m probe.COMMAND)", "",
                      "diagnostics of trained image classifiers; commands:", *lines, "",
                      "python -m probe COMMAND --help shows a command's options and an example;",
                      "python -m probe --version prints the version."])


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m probe <command> ...`; alone or with `--help`, the list of commands."""
    import probe
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(overview())
        return 0
    if argv[0] == "--version":
        print(f"probe {probe.__version__}")
        return 0
    if argv[0] in registry.PROBES:
        return probe_main(argv[0], argv[1:])
    if argv[0] in OTHER_COMMANDS:
        return importlib.import_module(OTHER_COMMANDS[argv[0]][0]).main(argv[1:])
    print(f"error: unknown command '{argv[0]}' (python -m probe --help lists them)", file=sys.stderr)
    return 2
