"""SparseFool figures: example grid, sparsity histogram, λ and δ sweeps, transfer matrix.

Inputs are `probe='sparsefool'` results (`probe.sparsefool.run`) and the sweep / transfer
datasets written by `analyses/sparsefool_sweeps.py`.  Rates are those of `probe.sparsefool.summary`
(samples with non-finite logits left out).
"""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from probe.plot import style
from probe.sparsefool import summary


def overview(ds, ax=None):
    """Default plot: the example grid when the result holds perturbations, else the histogram."""
    return examples(ds, ax=ax) if "perturbation" in ds else histogram(ds, ax=ax)


def _rgb(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → (N, H, W, 3) for display (grey for one channel)."""
    images = np.clip(images, 0.0, 1.0)
    if images.shape[1] == 1:
        images = np.repeat(images, 3, axis=1)
    return images[:, :3].transpose(0, 2, 3, 1)


def examples(ds, ax=None, n: int = 6):
    """Rows of clean / adversarial / perturbation images of the first `n` fooled samples, one montage.

    The perturbation (summed over channels) is drawn in a diverging map scaled to its L∞;
    titles give the clean and adversarial predictions and the share of perturbed pixels.
    """
    if "perturbation" not in ds:
        from probe.errors import ParameterError
        raise ParameterError("this result has no perturbations (run with --save-perturbations)")
    chosen = ds.isel(sample=np.flatnonzero(ds["fooled"].values)[:n])
    if chosen.sizes["sample"] == 0:
        chosen = ds.isel(sample=slice(0, n))
    rows = chosen.sizes["sample"]
    if ax is None:
        _, ax = style.new_axes(width=style.ONE_COLUMN, aspect=rows / 3.0 * 1.15)
    clean = chosen["image"].values
    delta = chosen["perturbation"].values
    signed = delta.sum(axis=1)
    scale = np.abs(signed).reshape(rows, -1).max(axis=1).clip(min=1e-12)[:, None, None]
    cmap = colormaps["RdBu_r"]
    panels = [_rgb(clean), _rgb(clean + delta), cmap(0.5 + 0.5 * signed / scale)[..., :3]]
    h, w = clean.shape[2:]
    gap = max(1, h // 10)
    montage = np.ones((rows * (h + gap) - gap, 3 * (w + gap) - gap, 3))
    for i in range(rows):
        for j, panel in enumerate(panels):
            montage[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = panel[i]
    ax.imshow(montage, interpolation="nearest")
    ax.set_xticks([(w + gap) * j + w / 2 for j in range(3)], ["clean", "adversarial", "perturbation"])
    ax.set_yticks([(h + gap) * i + h / 2 for i in range(rows)],
                  [f"#{s}: {a}→{b}\n{p:.2f}% px" for s, a, b, p in zip(
                      chosen["sample"].values, chosen["prediction"].values, chosen["adv_label"].values,
                      chosen["perturbed_pixel_fraction"].values)])
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return ax


def histogram(ds, ax=None, label: str | None = None, bins: int = 30):
    """Distribution of the perturbed-pixel percentage over the fooled images, median marked."""
    if ax is None:
        _, ax = style.new_axes()
    share = ds["perturbed_pixel_fraction"].values[ds["fooled"].values.astype(bool)]
    ax.hist(share, bins=bins, color=style.color(0), alpha=0.8, label=label)
    if len(share):
        median = float(np.median(share))
        ax.axvline(median, color="k", ls="--", lw=0.8)
        ax.text(median, ax.get_ylim()[1] * 0.95, f" median {median:.2f}%", va="top", fontsize=7)
    ax.set_xlabel("perturbed pixels (%)")
    ax.set_ylabel("images")
    ax.set_title(f"SparseFool: fooling rate {summary(ds)['fooling_rate']:.1f}% ({ds.sizes['sample']} images)")
    return ax


def _sweep(ds, dim: str, xlabel: str, ax, iterations: bool):
    if ax is None:
        _, ax = style.new_axes()
    x = ds[dim].values
    sparsity = ds["median_pixel_percent"].values
    ax.plot(x, sparsity, marker="o", ms=3, color=style.color(0), label="median perturbed pixels")
    if iterations:
        for xi, yi, it in zip(x, sparsity, ds["mean_iterations"].values):
            ax.annotate(f"{it:.1f} it.", (xi, yi), textcoords="offset points", xytext=(4, -9), fontsize=6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("median perturbed pixels (%)")
    twin = ax.twinx()
    twin.grid(False)
    twin.spines["right"].set_visible(True)
    twin.plot(x, ds["fooling_rate"].values, marker="s", ms=3, ls="--", color=style.color(1), label="fooling rate")
    twin.set_ylabel("fooling rate (%)")
    twin.set_ylim(0, 105)
    handles, labels = ax.get_legend_handles_labels()
    more_h, more_l = twin.get_legend_handles_labels()
    ax.legend(handles + more_h, labels + more_l, loc="lower left", bbox_to_anchor=(0, 1.02), ncol=2, frameon=False)
    return ax


def lambda_sweep(ds, ax=None):
    """Median perturbed pixels (annotated with mean iterations) and fooling rate against λ."""
    return _sweep(ds, "lam", "λ (boundary point x + λ r)", ax, iterations=True)


def delta_sweep(ds, ax=None):
    """Median perturbed pixels and fooling rate against the perceptibility bound δ."""
    return _sweep(ds, "delta", "δ (0–255 scale)", ax, iterations=False)


def transfer(ds, ax=None):
    """Heat map: % of SparseFool examples crafted on the source model that fool the target model."""
    if ax is None:
        _, ax = style.new_axes(aspect=0.9)
    matrix = ds["transfer_rate"].values
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=100)
    names = [str(v) for v in ds["source"].values]
    ax.set_xticks(range(len(ds["target"])), [str(v) for v in ds["target"].values], rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7,
                color="white" if value < 50 else "black")
    ax.set_xlabel("target model")
    ax.set_ylabel("source model")
    ax.grid(False)
    ax.figure.colorbar(image, ax=ax, label="fooling rate (%)")
    return ax
