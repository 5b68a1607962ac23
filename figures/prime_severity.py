"""PRIME's per-severity curves (Modas et al., ECCV 2022): accuracy on the common corruptions against
severity (clean at 0) of the standard, AugMix and PRIME LeNets on generated Fashion-MNIST-C, without
and with test-time BN adaptation, beside the published CIFAR-10 curves (ResNet-18: PRIME 92.8 →
85.6 %; the RobustBench standard model 86.9 → 56.5 %) for the shape of the decline.

Reads what `python -m analyses.corruption_training --out DIR` wrote: `standard.nc`, `augmix.nc`,
`prime.nc` and the BN-adapted `*_bn.nc` (corruption results).  Writes `prime_severity.pdf`:

    python -m figures.prime_severity DIR [--out DIR] [--format pdf|png|svg]
"""
from __future__ import annotations

from pathlib import Path

from figures import common
from probe import results
from probe.corruptions import plot as corruption_plots
from probe.plot import style

COMMAND = "python -m analyses.corruption_training --out DIR"
MODELS = ("standard", "augmix", "prime")
PUBLISHED = {"PRIME (CIFAR-10)": (92.8, 91.6, 90.4, 88.6, 85.6), "standard (CIFAR-10)": (86.9, 81.3, 74.9, 67.6, 56.5)}


@style.styled
def draw(folder: Path) -> dict:
    """{'prime_severity': ours without and with BN adaptation, and the published curves}."""
    folder = Path(folder)
    groups = {title: {name: results.load(folder / f"{name}{suffix}.nc") for name in MODELS
                      if (folder / f"{name}{suffix}.nc").exists()}
              for title, suffix in (("Fashion-MNIST-C", ""), ("Fashion-MNIST-C, BN adapted", "_bn"))}
    groups = {title: found for title, found in groups.items() if found}
    if not groups:
        raise SystemExit(f"{folder}: no corruption results (written by `{COMMAND}`)")
    figure, axes = style.panels(len(groups) + 1, style.TWO_COLUMN, aspect=0.85)
    for panel, (title, found) in zip(axes, groups.items()):
        corruption_plots.severity_curves(found, ax=panel)
        panel.set_title(title)
    published = axes[-1]
    for i, (name, values) in enumerate(PUBLISHED.items()):
        published.plot(range(1, 6), values, marker="o", color=style.color(i + len(MODELS)), label=name)
    published.set_xticks(range(0, 6))
    published.set_xlabel("severity")
    published.set_ylabel("accuracy, mean over corruptions (%)")
    published.set_title("published, CIFAR-10-C (ResNet-18)")
    published.legend(loc="lower left")
    low = min(panel.get_ylim()[0] for panel in axes)
    for panel in axes:
        panel.set_ylim(low, 100)
    return {"prime_severity": figure}


if __name__ == "__main__":
    raise SystemExit(common.main(draw, __doc__))
