"""Frequency margins of several models (thesis Figs. 4.3/4.7/4.11 style) and the PGD energy spectrum.

Reads what `python -m analyses.margins_frequency --out DIR` wrote: one margins result per
model (`probe='margins'`, labelled by its `model_label` attribute) and `pgd_energy.nc`.

    python -m figures.frequency_margins DIR [-o DIR/margins.pdf]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from probe import plot, results
from probe.plot import margins as margin_plots


def render(folder: Path, out: Path | None = None) -> list[Path]:
    """Draw the margin curves of every model in `folder` (and the energy spectrum when present)."""
    sweeps = {}
    for path in sorted(folder.glob("*.nc")):
        ds = results.load(path)
        if ds.attrs.get("probe") == "margins":
            sweeps[str(ds.attrs.get("model_label", path.stem))] = ds
    if not sweeps:
        raise SystemExit(f"{folder}: no margins results (run python -m analyses.margins_frequency --out {folder})")
    samples = next(iter(sweeps.values())).sizes["sample"]
    ax = margin_plots.bands(sweeps, log=True, points=False)
    ax.set_title(f"Fashion-MNIST LeNets, {samples} test images")
    out = out or folder / "margins.png"
    written = [plot.save(ax, out)]
    if (folder / "pgd_energy.nc").exists():
        spectrum = margin_plots.spectrum(results.load(folder / "pgd_energy.nc"), over="epoch")
        written.append(plot.save(spectrum, out.with_name("pgd_energy" + out.suffix)))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the --out folder of analyses.margins_frequency")
    parser.add_argument("-o", "--out", type=Path, help="figure file (default: FOLDER/margins.png)")
    args = parser.parse_args()
    for path in render(args.folder, args.out):
        print(path)


if __name__ == "__main__":
    main()
