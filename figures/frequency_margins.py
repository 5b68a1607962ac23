"""Thesis Figs. 4.3, 4.7 and 4.11: margins per DCT band of standard, DCT-flipped, low-pass and
L2-adversarial LeNets, one panel per model (box 25–75 %, whiskers 5–95 %, median; non-converged
at the top), on one shared log axis; and the energy spectrum of the PGD perturbations per epoch.

Reads what `python -m analyses.margins_frequency --out DIR` wrote: one margins result per model
(`probe='margins'`, labelled by its `model_label` attribute) and, when present, `pgd_energy.nc`.
Writes `frequency_margins.pdf` (and `pgd_energy.pdf`):

    python -m figures.frequency_margins DIR [--out DIR] [--format pdf|png|svg]
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from figures import common
from probe import results
from probe.margins import plot as margin_plots
from probe.plot import style

COMMAND = "python -m analyses.margins_frequency --out DIR"


ORDER = ("standard", "flip", "low", "adversarial")   # the thesis' order of the models


def _rank(label: str) -> int:
    return next((i for i, word in enumerate(ORDER) if word in label.lower()), len(ORDER))


@style.styled
def draw(folder: Path) -> dict:
    """{'frequency_margins': one panel per model (and 'pgd_energy' when the spectrum was saved)}."""
    found = common.probe_results(folder, "margins")
    sweeps = dict(sorted(found.items(), key=lambda item: _rank(item[0])))
    if not sweeps:
        raise SystemExit(f"{folder}: no margins results (written by `{COMMAND}`)")
    figure, axes = style.panels(len(sweeps), style.TWO_COLUMN, aspect=0.62)
    for panel, (label, ds) in zip(axes, sweeps.items()):
        margin_plots.bands(ds, ax=panel, log=True)
        accuracy = ds.attrs.get("test_accuracy")
        panel.set_title(label + (f" (test accuracy {float(accuracy):.1f} %)" if accuracy is not None else ""))
    common.same_scale(axes)
    common.shared_legend(figure, axes)
    samples = next(iter(sweeps.values())).sizes["sample"]
    figure.suptitle(f"Margins per DCT band, {samples} test images per model")
    drawn = {"frequency_margins": figure}
    if (Path(folder) / "pgd_energy.nc").exists():
        drawn["pgd_energy"] = margin_plots.spectrum(results.load(Path(folder) / "pgd_energy.nc"), over="epoch").figure
    return drawn


def render(folder: Path, out: Path | None = None, formats: Sequence[str] = common.ANALYSIS_FORMATS) -> list[Path]:
    """Save the figures of `folder` into `out` (default: the same folder)."""
    return common.render(draw, folder, out, formats)


if __name__ == "__main__":
    raise SystemExit(common.main(draw, __doc__))
