"""Issue 27, low-pass invariance by experiment: margins per DCT band of LeNets trained on low-passed
Fashion-MNIST (baseline, conv1 initialised without high frequencies, stronger weight decay, a fixed
low-pass input layer), side by side (box 25–75 %, whiskers 5–95 %, median with its 95 % interval;
non-converged at the top), above the share of the first linear stage's response energy in each
band at initialisation (dashed) and after training (solid); the removed bands are shaded.

Reads what `python -m analyses.low_pass_invariance --out DIR` wrote: one margins result per variant
(`probe='margins'`, attributes `variant` and `model_label`) and `summary.nc`
(`band_energy_share(variant, stage, subspace)`, attribute `low_pass`).  Writes
`low_pass_invariance.pdf` and `.png`:

    python -m figures.low_pass_invariance DIR [--out DIR] [--format pdf|png|svg]
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from figures import common
from probe import results
from probe.plot import margins as margin_plots
from probe.plot import style

COMMAND = "python -m analyses.low_pass_invariance --out DIR"
FLOOR = 1e-12     # energy shares below this (the control's float64 rounding) are drawn on it


@style.styled
def draw(folder: Path) -> dict:
    """{'low_pass_invariance': margins per band (top) and first-layer energy share per band (bottom)}."""
    table = results.load(common.need(Path(folder) / "summary.nc", COMMAND))
    found = {str(ds.attrs.get("variant")): ds for ds in common.probe_results(folder, "margins").values()}
    variants = [str(v) for v in table["variant"].values if str(v) in found]
    if not variants:
        raise SystemExit(f"{folder}: no margins results of the variants in summary.nc (written by `{COMMAND}`)")
    band = int(table.attrs["low_pass"])
    starts = table["band_start"].values
    figure, (top, bottom) = style.panels(2, style.TWO_COLUMN, aspect=0.36, columns=1)
    margin_plots.bands({found[v].attrs.get("model_label", v): found[v] for v in variants}, ax=top, log=True)
    removed = np.nonzero(starts >= band)[0]
    spans = [ax.axvspan(removed[0] - 0.5, removed[-1] + 0.5, color="0.9", zorder=0, lw=0,
                        label="bands removed by the low-pass") for ax in (top, bottom) if removed.size]
    legend = top.get_legend()   # beside the panel, like the one below (above it, it would cover the title)
    labels = [t.get_text() for t in legend.get_texts()] + [span.get_label() for span in spans[:1]]
    top.legend([*legend.legend_handles, *spans[:1]], labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
               frameon=False)
    top.set_title(f"Margins on low-passed ({band}×{band}) test images, {found[variants[0]].sizes['sample']} per model")
    for i, variant in enumerate(variants):
        share = table["band_energy_share"].sel(variant=variant)
        for stage, dashes in (("init", (3, 2)), ("trained", ())):
            bottom.plot(np.arange(len(starts)), np.maximum(share.sel(stage=stage).values, FLOOR), color=style.color(i),
                        dashes=dashes, marker="o" if stage == "trained" else None,
                        label=f"{table['model_label'].sel(variant=variant).item()}, {stage}")
    bottom.set_yscale("log")
    bottom.set_xticks(np.arange(len(starts)), [str(int(s)) for s in starts])
    bottom.set_xlim(-0.6, len(starts) - 0.4)
    bottom.set_xlabel("DCT band (low → high frequency)")
    bottom.set_ylabel("share of first-layer energy")
    bottom.set_title(f"Response energy of the first linear stage per band (shares below {FLOOR:g} drawn at {FLOOR:g})")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return {"low_pass_invariance": figure}


def render(folder: Path, out: Path | None = None, formats: Sequence[str] = common.ANALYSIS_FORMATS) -> list[Path]:
    """Save the figure of `folder` into `out` (default: the same folder) in every format."""
    return common.render(draw, folder, out, formats)


if __name__ == "__main__":
    raise SystemExit(common.main(draw, __doc__))
