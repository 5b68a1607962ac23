"""AdA's headline comparison (Calian et al., ICLR 2022, Tables 1–2 and Fig. 1b) on our models: for
every augmentation (standard, AugMix, DeepAugment, AdA, AdA + AugMix), the clean and common-corruption
accuracy, the robust accuracy under AdA's adversarial corruptions and under L2 / L∞ PGD, each with its
95 % interval, all on the same test images.

Reads what `python -m analyses.ada_training --out DIR` wrote: `corruptions_MODEL.nc` (the
common-corruption probe), `adversarial_corruptions_MODEL.nc` (AdA at one relative radius ν) and
`pgd_accuracy.nc` (each image's PGD outcome per model and attack).  Writes `ada_training.pdf`:

    python -m figures.ada_training DIR [--out DIR] [--format pdf|png|svg]
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from figures import common
from probe import results, stats, tables
from probe.adversarial_corruptions import radius_tag
from probe.adversarial_corruptions import summary as ada_summary
from probe.corruptions import summary as corruption_summary
from probe.plot import style

COMMAND = "python -m analyses.ada_training --out DIR"
MODELS = ("standard", "augmix", "deepaugment", "ada", "ada+augmix")   # the order of analyses.ada_training


def _points(ax: Axes, series: dict[str, list[stats.Estimate]], models: list[str], title: str, first_color: int) -> None:
    """One marker per model and series with its interval as an error bar, series side by side, in the
    shared palette's colours from `first_color` on (no colour means two things in one figure); the
    title ends with the number of images."""
    x = np.arange(len(models))
    step = 0.7 / max(len(series), 1)
    for i, (label, found) in enumerate(series.items()):
        value = np.array([e.value for e in found])
        spread = np.array([[e.value - e.low for e in found], [e.high - e.value for e in found]])
        ax.errorbar(x + (i - (len(series) - 1) / 2) * step, value, yerr=spread, fmt="o", ms=3, capsize=2,
                    color=style.color(first_color + i), label=label)
    ax.set_xticks(x, models, rotation=30, ha="right")
    ax.set_title(f"{title} (n = {next(iter(series.values()))[0].n})")
    ax.set_xlabel("training augmentation")
    ax.set_ylabel("accuracy (%)")


@style.styled
def draw(folder: Path) -> dict:
    """{'ada_training': accuracies with their 95 % intervals, three panels}."""
    folder = Path(folder)
    pgd = results.load(common.need(folder / "pgd_accuracy.nc", COMMAND))
    models = [m for m in MODELS if m in pgd["model"].values and (folder / f"corruptions_{m}.nc").exists()
              and (folder / f"adversarial_corruptions_{m}.nc").exists()]
    if not models:
        raise SystemExit(f"{folder}: no model with all three results (written by `{COMMAND}`)")
    common_found = {m: corruption_summary(results.load(folder / f"corruptions_{m}.nc")) for m in models}
    adversarial = {m: results.load(folder / f"adversarial_corruptions_{m}.nc") for m in models}
    nu = float(adversarial[models[0]]["nu"].values[0])
    figure, axes = style.panels(3, style.TWO_COLUMN, aspect=1.0, columns=3)
    _points(axes[0], {label: [tables.estimate(common_found[m], f"{key}_accuracy") for m in models]
                      for key, label in (("clean", "clean"), ("corruption", "common corruptions (mean)"))},
            models, "common corruptions", 0)
    key = f"robust_accuracy_nu_{radius_tag(nu)}"
    _points(axes[1], {f"AdA, ν = {nu:g}": [tables.estimate(ada_summary(adversarial[m]), key) for m in models]},
            models, "AdA adversarial corruptions", 2)
    _points(axes[2], {f"PGD {attack}": [stats.percent(pgd["correct"].sel(model=m, attack=attack).values)
                                        for m in models] for attack in pgd["attack"].values}, models, "PGD", 3)
    handles, labels = zip(*[entry for ax in axes for entry in zip(*ax.get_legend_handles_labels())])
    figure.legend(handles, labels, loc="outside lower center", ncol=4)
    return {"ada_training": figure}


if __name__ == "__main__":
    raise SystemExit(common.main(draw, __doc__))
