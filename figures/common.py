"""What every figure script shares: finding results in a folder, saving the figures, the command line."""
from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import xarray as xr

from probe import plot, results

Draw = Callable[[Path], dict]   # results folder → {figure name: matplotlib Figure}
ANALYSIS_FORMATS = ("pdf", "png")   # what the analyses write: the PDF for print, the PNG the reproduction page shows


def probe_results(folder: Path, probe: str, label: str = "model_label") -> dict[str, xr.Dataset]:
    """Every result of `probe` in `folder` (`*.nc`, sorted by file name), labelled by its `label`
    attribute (else the file's stem)."""
    found = {}
    for path in sorted(Path(folder).glob("*.nc")):
        ds = results.load(path)
        if ds.attrs.get("probe") == probe:
            found[str(ds.attrs.get(label, path.stem))] = ds
    return found


def need(path: Path, command: str) -> Path:
    """`path` if it exists, else a clear exit naming the command that writes it."""
    if not Path(path).exists():
        raise SystemExit(f"{path}: not found (written by `{command}`)")
    return Path(path)


def shared_legend(figure, axes) -> None:
    """One legend for a grid of panels drawn alike: every entry of the panels' legends once, below them."""
    entries: dict[str, object] = {}
    for ax in axes:
        legend = ax.get_legend()
        if legend is not None:
            for handle, text in zip(legend.legend_handles, legend.get_texts()):
                entries.setdefault(text.get_text(), handle)
            legend.remove()
    figure.legend(list(entries.values()), list(entries), loc="outside lower center", ncol=min(len(entries), 4))


def same_scale(axes) -> None:
    """Give every panel the y range that holds all of them."""
    low, high = min(ax.get_ylim()[0] for ax in axes), max(ax.get_ylim()[1] for ax in axes)
    for ax in axes:
        ax.set_ylim(low, high)


def save(figure, stem: Path, formats: Sequence[str] = ANALYSIS_FORMATS) -> list[Path]:
    """Save `figure` as STEM.FMT in every format (closed after the last)."""
    return [plot.save(figure, Path(f"{stem}.{fmt}"), close=i == len(formats) - 1) for i, fmt in enumerate(formats)]


def render(draw: Draw, folder: Path, out: Path | None = None,
           formats: Sequence[str] = ANALYSIS_FORMATS) -> list[Path]:
    """Draw the figures of `folder` and save each as OUT/NAME.FMT in every format (OUT: the results
    folder by default)."""
    out = Path(out) if out is not None else Path(folder)
    return [path for name, figure in draw(Path(folder)).items() for path in save(figure, out / name, formats)]


def main(draw: Draw, doc: str, argv=None) -> int:
    """The command line of a figure script: `python -m figures.NAME RESULTS_DIR [--out DIR] [--format pdf]`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the folder the matching analysis wrote its results to")
    parser.add_argument("-o", "--out", type=Path, help="where the figures go (default: the results folder)")
    parser.add_argument("--format", default="pdf", choices=[suffix.lstrip(".") for suffix in plot.FORMATS],
                        help=f"file format (default: %(default)s; PNG at {plot.style.DPI} dpi)")
    args = parser.parse_args(argv)
    for path in render(draw, args.folder, args.out, (args.format,)):
        print(path)
    return 0
