"""AdA Fig. 1b (Calian et al., ICLR 2022): the SSIM between clean images and their adversarial
corruptions at every relative radius ν (violins before the SSIM guard, medians after it, the
guard's threshold), beside the robust accuracy against ν; one row per model.

Reads every adversarial-corruption result in DIR (`probe='adversarial_corruptions'`, e.g. written by
`python -m probe.adversarial_corruptions CKPT --corruption-net NET.pt --radius 0 0.0075 0.015 0.03
--n 500 --out DIR/ac.nc`), labelled by its `model_label` attribute or file name.  Writes `ada_ssim.pdf`:

    python -m figures.ada_ssim DIR [--out DIR] [--format pdf|png|svg]
"""
from __future__ import annotations

from pathlib import Path

from figures import common
from probe.adversarial_corruptions import plot as ada_plots
from probe.plot import style

COMMAND = "python -m probe.adversarial_corruptions CKPT --corruption-net NET.pt --out DIR/ac.nc"


@style.styled
def draw(folder: Path) -> dict:
    """{'ada_ssim': SSIM distributions and robust accuracy against ν, one row per result}."""
    found = common.probe_results(folder, "adversarial_corruptions")
    if not found:
        raise SystemExit(f"{folder}: no adversarial-corruption results (written by `{COMMAND}`)")
    figure, axes = style.panels(2 * len(found), style.TWO_COLUMN, aspect=0.6, columns=2)
    for row, (label, ds) in enumerate(found.items()):
        ada_plots.ssim_distributions(ds, ax=axes[2 * row])
        ada_plots.robust_accuracy(ds, ax=axes[2 * row + 1])
        if len(found) > 1:
            axes[2 * row].set_title(label)
    return {"ada_ssim": figure}


if __name__ == "__main__":
    raise SystemExit(common.main(draw, __doc__))
