"""What every command line shares: options, one-line errors, early checks, loading, progress, tables.

User errors (`ProbeError`, and bad options) print one line `error: ...` and exit with status 2;
anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import datetime
import inspect
import shutil
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import numpy as np
import torch
from torch import nn

from probe import data as datasets
from probe import execution, memory, models, progress, ranges, runner, stats
from probe.devices import resolve_device  # noqa: F401  (re-exported for the commands)
from probe.errors import ParameterError, ProbeError
from probe.tables import ci, estimate, format_table, interval  # noqa: F401  (re-exported for the commands)

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from probe.plot import Results

PLOT_SUFFIXES = (".png", ".pdf", ".svg")
CONFIRM_ABOVE = 2000   # samples: a run over more without --n asks first (on a terminal)
TARGET_WIDTH = 0.1     # default --target-width: an interval 10 % of its number wide (about ± 5 %)
OVER_OTHER_DRAWS = ("flatness", "trace")   # intervals over directions or probe vectors, not over the samples
DEFAULT_COLUMNS = 100  # progress-bar width when the terminal reports none (or zero)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one `error: ...` line and exit status 2; `example`, a
    command line, is shown at the end of `--help`."""

    def __init__(self, *args: Any, example: str | None = None, **kwargs: Any) -> None:
        if example is not None:
            kwargs.update(epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def seed(text: str) -> int:
    """argparse type: a seed, an integer in [0, 2**63) (`probe.ranges.SEED`)."""
    try:
        value = int(text)
        ranges.check(seed=(value, ranges.SEED))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got '{text}'") from None
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def memory_size(text: str) -> str:
    """argparse type: a memory size as `probe.memory.parse_size` reads it (kept as written)."""
    try:
        memory.parse_size(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def confidence_level(text: str) -> float:
    """argparse type: a confidence level strictly between 0 and 1."""
    try:
        return stats.check_confidence(float(text))
    except (ValueError, ParameterError):
        raise argparse.ArgumentTypeError(f"expected a confidence level between 0 and 1, got '{text}'") from None


def positive_fraction(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got '{text}'") from None
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def make_parser(prog: str, description: str, *, example: str, checkpoint: bool = True, samples: bool = True,
                split: bool = True) -> Parser:
    """A parser with the shared options, and `example` at the end of its help."""
    parser = Parser(prog=prog, description=description, example=example)
    if checkpoint:
        parser.add_argument("checkpoint", help="model checkpoint (probe format, TorchScript, or a state dict with "
                                               "--factory)")
        parser.add_argument("--factory", help="'package.module:function' building the model for a bare state dict "
                                               "(e.g. torchvision.models:resnet50)")
        parser.add_argument("--factory-arg", action="append", default=[], metavar="KEY=VALUE",
                            help="keyword argument of --factory, e.g. num_classes=10 (repeatable)")
        parser.add_argument("--trust-checkpoint", action="store_true",
                            help="allow checkpoints that hold pickled Python objects or TorchScript code (can run "
                                 "arbitrary code)")
        parser.add_argument("--normalize", metavar="NAME|MEAN,STD",
                            help="the model expects normalised input: imagenet, cifar10, cifar100, or the C means "
                                 "then the C standard deviations (e.g. 0.5,0.25); probes still work in [0, 1] pixels")
        parser.add_argument("--output", metavar="KEY",
                            help="the entry of a model's dict (or attribute of its output object) holding the "
                                 "logits (default: logits)")
    parser.add_argument("--data", default="fashion-mnist-sample", help="dataset name or path (default: %(default)s)")
    parser.add_argument("--trust-data", action="store_true",
                        help="allow pickled data files (CIFAR format) that hold more than plain data (can run "
                             "arbitrary code)")
    parser.add_argument("--data-root",
                        help="folder holding named datasets (else $PROBE_DATA_ROOT, /usr/share/datasets)")
    parser.add_argument("--classes", type=Path, metavar="FILE",
                        help="class names, one per line in label order (default: the dataset's own, if any)")
    if split:
        parser.add_argument("--split", default="test", choices=datasets.SPLITS,
                            help="train, test, or all for a file or folder holding one unsplit set "
                                 "(default: %(default)s)")
    parser.add_argument("--data-corruption", metavar="NAME", help="with a *-C folder as --data: the corruption to read")
    parser.add_argument("--data-severity", type=int, metavar="S", help="with a *-C folder as --data: its severity 1..5")
    parser.add_argument("--image-size", type=positive_int, metavar="S",
                        help="resize and centre-crop image-folder images to S×S")
    if samples:
        parser.add_argument("--n", "--num-samples", dest="n", type=positive_int, default=None,
                            help="number of samples (seeded subset; default: all)")
    parser.add_argument("--seed", type=seed, default=execution.DEFAULTS["seed"])
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="cap on the working batch (default: the probe's own)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps "
                                                         "(under torchrun: each rank's own CUDA device)")
    parser.add_argument("--max-memory", type=memory_size, metavar="SIZE",
                        help="memory the working batch may use, e.g. 2G (default: 80%% of the free CUDA memory, "
                             "2G on CPU)")
    parser.add_argument("--out", type=Path, help="result file (.nc; default runs/<probe>-<model>-<date>.nc)")
    parser.add_argument("--plot", type=Path, help="figure file (.png, .pdf, .svg)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    parser.add_argument("--confidence", type=confidence_level, default=stats.CONFIDENCE,
                        help="level of the confidence intervals printed with every number (default: %(default)s)")
    parser.add_argument("--target-width", type=positive_fraction, default=TARGET_WIDTH, metavar="W",
                        help="after the table, the samples that would make the widest interval narrower than W times "
                             "its number (default: %(default)s)")
    return parser


def library_defaults(parser: argparse.ArgumentParser, run: Callable[..., object]) -> None:
    """Every option of `parser` declared without a default takes the library's: the default of
    the keyword of the same name of the probe's `run`, else of the execution field
    (`probe.execution.DEFAULTS`), so that a command and its library cannot disagree.  A tuple
    default of an option of several values becomes a list, as parsed values are."""
    own = {name: parameter.default for name, parameter in inspect.signature(run).parameters.items()
           if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is not inspect.Parameter.empty}
    for action in parser._actions:
        if action.default is not None or action.dest not in {**execution.DEFAULTS, **own}:
            continue
        default = own.get(action.dest, execution.DEFAULTS.get(action.dest))
        if isinstance(default, tuple) and action.nargs in ("+", "*"):
            default = list(default)
        action.default = default


SHARED = frozenset({"checkpoint", "factory", "factory_arg", "trust_checkpoint", "normalize", "output", "classes",
                    "data", "trust_data", "data_root", "split", "data_corruption", "data_severity", "image_size", "n",
                    "seed", "batch_size", "device", "max_memory", "out", "plot", "quiet", "resume", "shard",
                    "confidence", "target_width"})


def own_options(args: argparse.Namespace) -> dict:
    """The probe's own options: every parsed option that is not a shared one."""
    return {key: value for key, value in vars(args).items() if key not in SHARED}


def check_checkpoint_out(args: argparse.Namespace) -> None:
    """A command that writes a checkpoint: `--out NET.pt` is required and writable (checked before any work)."""
    if args.out is None:
        raise ParameterError("--out CHECKPOINT.pt is required")
    runner.check_output(args.out, (".pt", ".pth"))


def check_outputs(args: argparse.Namespace) -> None:
    """Unwritable or misnamed --out / --plot fail before anything is computed."""
    runner.check_output(getattr(args, "out", None))
    runner.check_output(getattr(args, "plot", None), PLOT_SUFFIXES)


def default_out(args: argparse.Namespace, name: str) -> bool:
    """Without --out, a probe writes `runs/<probe>-<model>-<date>.nc` (said when it finishes), so
    that no computation is discarded; --resume needs the --out of the run it continues.
    Returns whether the default was taken."""
    if args.out is not None:
        return False
    if getattr(args, "resume", False):
        raise ParameterError("--resume needs --out: the result file of the run to continue")
    model = f"-{Path(args.checkpoint).stem}" if getattr(args, "checkpoint", None) else ""
    stem = f"{name}{model}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    args.out = Path("runs") / f"{stem}.nc"
    copy = 1
    while args.out.exists() or Path(f"{args.out}.parts").exists():
        copy += 1
        args.out = Path("runs") / f"{stem}-{copy}.nc"
    return True


def confirm_whole_dataset(args: argparse.Namespace, name: str, size: int) -> None:
    """A run over more than `CONFIRM_ABOVE` samples without --n asks first on a terminal; elsewhere
    it goes ahead with a note (the estimate of its duration follows after the second batch)."""
    if getattr(args, "n", None) is not None or size <= CONFIRM_ABOVE or not hasattr(args, "n"):
        return
    question = f"{name}: no --n given, so all {size:,} samples will be measured"
    if sys.stdin.isatty() and sys.stderr.isatty() and not args.quiet:
        answer = input(f"{question}; go on? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise ParameterError("stopped before any work; choose a seeded subset with --n N (e.g. --n 500)")
    else:
        print(f"note: {question} (--n N measures a seeded subset)", file=sys.stderr)


def load_data(args: argparse.Namespace, split: str | None = None) -> Dataset:
    """The dataset named by --data (and --split, --data-root, --data-corruption, ..., --classes)."""
    return datasets.load(args.data, split=split or args.split, root=args.data_root,
                         corruption=args.data_corruption, severity=args.data_severity, image_size=args.image_size,
                         trust=args.trust_data, classes=getattr(args, "classes", None))


def key_values(pairs: Sequence[str], option: str) -> dict[str, Any]:
    """`KEY=VALUE` strings → keyword arguments (ints, floats, true/false, else strings)."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ParameterError(f"{option} must be KEY=VALUE, got '{pair}'")
        for cast in (int, float):
            try:
                kwargs[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            kwargs[key] = {"true": True, "false": False}.get(value.lower(), value)
    return kwargs


def load_model(args: argparse.Namespace, device: torch.device, path: str | Path | None = None,
               classifier: bool = True) -> nn.Module:
    """The checkpoint named on the command line (or `path`), on `device`, in eval mode; a
    classifier (`classifier=True`) with --normalize inside it and --output read from it."""
    model = models.load(path or args.checkpoint, trust=args.trust_checkpoint, factory=args.factory,
                        map_location=device, factory_args=key_values(args.factory_arg, "--factory-arg"))
    if not classifier:
        return model
    if getattr(args, "normalize", None):
        own = models.normalization_of(model)
        if own is not None and (any(own[0]) or any(s != 1 for s in own[1])):
            raise ParameterError(f"{path or args.checkpoint} already normalises its input (mean "
                                 f"{','.join(f'{v:g}' for v in own[0])}, std {','.join(f'{v:g}' for v in own[1])}); "
                                 f"drop --normalize")
        model = models.normalized(model, args.normalize).to(device)
    if getattr(args, "output", None):
        model = models.classifier(model, output=args.output)
    return model


def terminal_columns() -> int:
    """Width of the terminal, or `DEFAULT_COLUMNS` when it reports none or zero."""
    columns = shutil.get_terminal_size((0, 0)).columns
    return columns if columns > 0 else DEFAULT_COLUMNS


def progress_bar(total: float, desc: str, quiet: bool = False, unit: str = "sample",
                 detail: str = "") -> progress.Sink:
    """The progress of a command on stderr (`probe.progress`): a bar on a terminal, plain lines in
    a log, nothing with --quiet.  The bar's width is fixed from `terminal_columns`, so a
    terminal that reports zero width still shows it."""
    if quiet:
        return progress.Callback(None)
    return progress.Progress(desc, total, unit, detail=detail, columns=terminal_columns())


def summary_table(numbers: dict, confidence: float = stats.CONFIDENCE) -> str:
    """A probe's `summary(ds)` as a table: each number with its interval and n, then the counts."""
    rows = [[key, estimate(numbers, key) if f"{key}_low" in numbers else value,
             numbers["samples"] if f"{key}_low" in numbers else ""]
            for key, value in numbers.items() if not key.endswith(("_low", "_high")) and key != "samples"]
    return format_table(["quantity", f"value [{ci(confidence)}]", "n"], rows)


def sample_size_note(numbers: dict, target_width: float = TARGET_WIDTH) -> str:
    """The samples that would bring the widest interval of a summary (relative to its number)
    under `target_width`, from the observed width (intervals shrink as 1/√n)."""
    widths = {key: (numbers[f"{key}_high"] - numbers[f"{key}_low"]) / abs(numbers[key]) for key in numbers
              if f"{key}_low" in numbers and key not in OVER_OTHER_DRAWS and np.isfinite(numbers[key])
              and numbers[key] != 0}
    if not widths:
        return ""
    key = max(widths, key=widths.__getitem__)
    if not np.isfinite(widths[key]):
        return f"sample size: the interval of {key} is open (it reaches the samples that did not converge)"
    n = stats.samples_needed(numbers["samples"], widths[key], target_width)
    if n <= numbers["samples"]:
        return f"sample size: every interval is narrower than {target_width:g} × its number"
    return (f"sample size: n ≈ {n} would bring the widest interval ({key}, {widths[key]:.2g} × its number wide at "
            f"n = {numbers['samples']}) under {target_width:g} × (--target-width)")


def non_finite_note(numbers: dict, consequence: str) -> list[str]:
    """The report line on samples (and noisy or corrupted cells) with non-finite logits, if any."""
    samples, cells = numbers.get("non_finite", 0), numbers.get("non_finite_cells", 0)
    if not samples and not cells:
        return []
    where = f"{samples} samples" + (f" and {cells} perturbed cells" if cells else "")
    return [f"non-finite logits on {where} ({consequence})"]


def save_plot(ds: Results, path: Path | None, quiet: bool, **options: Any) -> None:
    """Render the default plot of a result (or of several results of one probe) to `path` (when given)."""
    if path is None:
        return
    import matplotlib
    matplotlib.use("Agg")  # a command never opens windows
    from probe import plot
    plot.save(plot.plot_result(ds, **options), path)
    if not quiet:
        print(f"figure: {path}")


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: TextIO | None = None, line: str | None = None) -> None:
    """Warnings of a command are one `warning: ...` line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def execute(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], None],
            argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run `body(args)`; a `ProbeError` becomes `error: ...` and exit status 2."""
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            body(args)
    except ProbeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        out = getattr(args, "out", None)
        kept = runner.finished_chunks(out) if out is not None else 0
        where = (f"; {kept} finished chunk{'s' if kept != 1 else ''} kept beside {out} (continue with --resume)"
                 if kept else "; nothing was saved")
        print(f"interrupted{where}", file=sys.stderr)
        return 130
    return 0
